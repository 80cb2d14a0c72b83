"""`%load_ext mlsec`: register `%mlsec` / `%%mlsec`. Nothing else happens at load time.

No engine, rules, libcst, bandit or nbformat import here: loading must stay well under 150 ms, and
the first command pays for what it uses. Modules: `magics` (the commands), `session` (per-shell
state, linting a cell in context or the whole notebook), `auto` (automatic and guard mode hooks),
`notebook_path` (finding the notebook file), `display` and `progress` (output).
"""
from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from .magics import MlsecMagics

    ipython.register_magics(MlsecMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the hooks and the magics (`%reload_ext mlsec` goes through here)."""
    from .session import drop_session

    s = drop_session(ipython)
    if s is not None and s.auto is not None:
        s.auto.uninstall()
    mm = getattr(ipython, "magics_manager", None)
    if mm is not None:
        for kind in ("line", "cell"):
            mm.magics.get(kind, {}).pop("mlsec", None)
