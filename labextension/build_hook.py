"""hatch-jupyter-builder build function: build the labextension for wheels/sdists, not for editable installs.

`pip install -e .` must work without Node.js or a network round-trip to npm, so an editable install
skips the frontend unless MLSEC_BUILD_LABEXTENSION=1. Wheels always run `jlpm build:prod`, which
starts by deleting the previous output, so a stale build is never packed.
"""
from __future__ import annotations

import os
import sys


def build(target_name: str, version: str, **kwargs: object) -> None:
    from hatch_jupyter_builder import npm_builder

    if version == "editable" and os.environ.get("MLSEC_BUILD_LABEXTENSION") != "1":
        print(
            "jupyter-mlsec: editable install, JupyterLab extension not built "
            "(set MLSEC_BUILD_LABEXTENSION=1, or run `jlpm install && jlpm build` in labextension/)",
            file=sys.stderr,
        )
        return
    npm_builder(target_name, version, **kwargs)  # type: ignore[arg-type]
