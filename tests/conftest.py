"""Suite-wide fixtures."""
from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def _close_widgets_before_exit():
    """Widgets made by the panel/magic tests would otherwise be closed by `__del__` during interpreter
    shutdown, when ipykernel can no longer import its comm manager (noise, not a failure)."""
    yield
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        try:
            widgets.Widget.close_all()
        except Exception:
            pass
