"""Suite-wide fixtures."""
from __future__ import annotations

import gc
import sys

import pytest


@pytest.fixture(autouse=True, scope="session")
def _close_widgets_before_exit():
    """Widgets made by the panel/magic tests would otherwise be closed by `__del__` during interpreter
    shutdown, when their comm can no longer be unregistered (tracebacks printed after pytest's summary)."""
    yield
    widgets = sys.modules.get("ipywidgets")
    if widgets is None:
        return
    for obj in gc.get_objects():
        if isinstance(obj, widgets.Widget):
            try:
                obj.close()
            except Exception:
                pass
            try:
                obj.comm = None  # makes __del__ a no-op
            except Exception:
                pass
