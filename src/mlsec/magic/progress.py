"""A progress bar for `%mlsec scan`: an ipywidgets IntProgress in a kernel, a text line otherwise."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterator


def widgets_usable(shell: Any) -> bool:
    """A widget needs a kernel with comms (ipykernel) and ipywidgets installed."""
    if getattr(shell, "kernel", None) is None:
        return False
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


@contextlib.contextmanager
def progress_bar(shell: Any, label: str, min_interval: float = 0.1) -> Iterator[Callable[[int, int], None]]:
    """Yields `update(done, total)`; the bar turns green (widget) or ends its line (text) afterwards."""
    bar = None
    if widgets_usable(shell):
        try:
            import ipywidgets as w
            from IPython.display import display

            bar = w.IntProgress(value=0, min=0, max=1, description=label, bar_style="info")
            display(bar)
        except Exception:  # an old or broken ipywidgets: fall back to text
            bar = None
    last = [0.0, -1]

    def update(done: int, total: int) -> None:
        if bar is not None:
            bar.max = max(total, 1)
            bar.value = done
            bar.description = f"{label} {done}/{total}"
            return
        now = time.monotonic()
        if done == total or now - last[0] >= min_interval:
            last[0], last[1] = now, done
            sys.stdout.write(f"\r{label}: {done}/{total} files")
            sys.stdout.flush()

    try:
        yield update
    finally:
        if bar is not None:
            bar.bar_style = "success"
        elif last[1] >= 0:
            sys.stdout.write("\n")
            sys.stdout.flush()
