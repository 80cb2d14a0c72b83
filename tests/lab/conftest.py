"""Fixtures for the JupyterLab extension's tests: a jupyter_server with mlsec's server extension on.

pytest-jupyter's fixtures (jp_fetch, jp_serverapp, jp_root_dir, ...) are imported here rather than
through `pytest_plugins`, which pytest only allows in the top-level conftest.
"""
from __future__ import annotations

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403  (fixtures and the tornado async runner)

SMALL_BODY_LIMIT = 64 * 1024


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"mlsec": True},
            "tornado_settings": {"mlsec_max_body_bytes": SMALL_BODY_LIMIT},
        }
    }


@pytest.fixture
def body_limit() -> int:
    return SMALL_BODY_LIMIT
