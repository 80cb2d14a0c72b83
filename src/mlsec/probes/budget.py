"""Budgets, cancellation, progress and state guards shared by every probe.

Each probe runs under a `Tracker`: it counts model queries, watches the clock, checks a cancel flag and
reports progress, so a probe can stop cleanly (with partial results) instead of hanging a kernel.
"""
from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterator, Optional


class ProbeCancelled(Exception):
    """Raised inside a probe when the user pressed cancel (or `CancelToken.cancel()` was called)."""


class BudgetExhausted(Exception):
    """Raised inside a probe when its query or time budget is used up; probes catch it and report partial work."""


@dataclass(frozen=True)
class Budget:
    """Upper limits for one probe. `None` means no limit for that dimension."""

    max_samples: Optional[int] = 200
    max_queries: Optional[int] = None
    max_iter: Optional[int] = None
    max_seconds: Optional[float] = None

    def with_(self, **changes: Any) -> "Budget":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_budget(budget: Any = None, **overrides: Any) -> Budget:
    """Accept a Budget, a dict, or None, then apply keyword overrides that are not None."""
    if budget is None:
        b = Budget()
    elif isinstance(budget, Budget):
        b = budget
    elif isinstance(budget, dict):
        b = Budget(**budget)
    else:
        raise TypeError(f"budget must be a Budget or dict, not {type(budget).__name__}")
    return b.with_(**overrides)


class CancelToken:
    """A thread-safe cancel flag shared between a UI (or caller) and a running probe."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def reset(self) -> None:
        self._event.clear()


ProgressFn = Callable[[float, str], None]


class Tracker:
    """Counts queries and time for one probe and enforces its budget.

    `check()` is called between batches / iterations: it raises ProbeCancelled or BudgetExhausted.
    """

    def __init__(
        self,
        budget: Budget | None = None,
        cancel: CancelToken | None = None,
        progress: ProgressFn | None = None,
        label: str = "",
    ) -> None:
        self.budget = budget or Budget()
        self.cancel = cancel
        self.progress_fn = progress
        self.label = label
        self.queries = 0
        self.start = time.perf_counter()
        self.stopped_reason: str | None = None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def add_queries(self, n: int) -> None:
        self.queries += int(n)

    def queries_left(self) -> Optional[int]:
        if self.budget.max_queries is None:
            return None
        return max(0, self.budget.max_queries - self.queries)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise ProbeCancelled(self.label or "probe")

    def check(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise ProbeCancelled(self.label or "probe")
        b = self.budget
        if b.max_seconds is not None and self.seconds > b.max_seconds:
            self.stopped_reason = f"time budget of {b.max_seconds:g} s reached"
            raise BudgetExhausted(self.stopped_reason)
        if b.max_queries is not None and self.queries >= b.max_queries:
            self.stopped_reason = f"query budget of {b.max_queries} reached"
            raise BudgetExhausted(self.stopped_reason)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress; never goes backwards (sub-steps may restart their own count)."""
        self._progress = max(getattr(self, "_progress", 0.0), min(1.0, max(0.0, float(fraction))))
        if self.progress_fn is not None:
            try:
                self.progress_fn(self._progress, message or self.label)
            except Exception:  # a broken progress widget must never kill a probe
                pass


@contextlib.contextmanager
def limited_threads() -> Iterator[None]:
    """Run BLAS/OpenMP single-threaded while probing (restored afterwards).

    Probe workloads are many small matrix products; on a busy 2-core machine threaded BLAS spins and was
    measured 10-35x slower (a LogisticRegression refit: 14.8 s vs 0.42 s). MLSEC_PROBE_THREADS=N sets
    another limit, 0 leaves the libraries alone.
    """
    import os

    env = os.environ.get("MLSEC_PROBE_THREADS", "1").strip()
    limit = int(env) if env.isdigit() else 1
    if limit <= 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=limit):
        yield


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore Python's, numpy's global and torch's CPU random state afterwards (torch only if already imported)."""
    py_state = random.getstate()
    np_mod = sys.modules.get("numpy")
    np_state = np_mod.random.get_state() if np_mod is not None else None
    torch_mod = sys.modules.get("torch")
    torch_state = torch_mod.random.get_rng_state() if torch_mod is not None else None
    try:
        yield
    finally:
        random.setstate(py_state)
        if np_state is not None:
            np_mod.random.set_state(np_state)
        if torch_state is not None:
            torch_mod.random.set_rng_state(torch_state)
