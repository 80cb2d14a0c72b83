"""The jupyter_server side of mlsec's JupyterLab extension: `POST /mlsec/lint`, `GET /mlsec/rules[/<id>]`.

Enabled by `etc/jupyter/jupyter_server_config.d/jupyter-mlsec.json` (shipped in the wheel); the frontend
is the prebuilt labextension `share/jupyter/labextensions/jupyter-mlsec`. Nothing here imports the
analyzer at import time: the handlers load it in their worker thread.
"""
from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlsec.lab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers under the server's base_url and warm the analyzer in the background."""
    from .handlers import setup_handlers, warm_up

    web_app = serverapp.web_app
    setup_handlers(web_app)
    warm_up()
    serverapp.log.info("mlsec: security linting for notebooks enabled at %smlsec/", web_app.settings["base_url"])


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import shutdown

    shutdown()
