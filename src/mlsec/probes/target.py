"""A model plus its data, prepared once and shared by every probe of a run.

`as_target` turns user objects (estimator / nn.Module / keras / callable; numpy / pandas / torch data)
into numeric arrays, class indices, an adapter and tabular constraints, and is the one entry point every
probe uses, so a probe called on its own behaves exactly as it does inside `mlsec.probe`.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .adapters import ModelAdapter, make_adapter
from .budget import Budget, BudgetExhausted, CancelToken, ProbeCancelled, Tracker, as_budget, limited_threads, preserved_random_state
from .data import Constraints, DataInfo, encode_labels, n_rows, prepare_X, take
from .report import ProbeResult, record


class ProbeSkipped(Exception):
    """A probe does not apply (no training data, model cannot be refitted...): reported as 'skipped'."""


@dataclass
class Target:
    adapter: ModelAdapter
    X: np.ndarray
    y: np.ndarray
    info: DataInfo
    constraints: Constraints
    X_train: Optional[np.ndarray] = None
    y_train: Optional[np.ndarray] = None
    class_names: Optional[list[str]] = None
    raw_model: Any = None
    eval_rows: Optional[np.ndarray] = None  # original row numbers of X when it was sampled down
    train_rows: Optional[np.ndarray] = None
    n_rows_given: tuple[int, int] = (0, 0)

    def eval_row(self, i: int) -> int:
        return int(self.eval_rows[i]) if self.eval_rows is not None else int(i)

    def train_row(self, i: int) -> int:
        return int(self.train_rows[i]) if self.train_rows is not None else int(i)

    @property
    def is_image(self) -> bool:
        return self.info.kind == "image"

    def class_name(self, i: int) -> str:
        if self.class_names is not None and 0 <= i < len(self.class_names):
            return str(self.class_names[i])
        if 0 <= i < len(self.adapter.classes):
            return str(self.adapter.classes[i])
        return "?"

    def describe_data(self) -> str:
        shape = "x".join(str(s) for s in self.info.sample_shape)
        extra = f", {len(self.X_train)} training rows" if self.X_train is not None else ""
        if self.eval_rows is not None or self.train_rows is not None:
            extra += f" (sampled from {self.n_rows_given[0]} / {self.n_rows_given[1]} rows given)"
        return f"{len(self.X)} {self.info.kind} rows of {shape} from {self.info.source}{extra}"


def as_target(
    model: Any,
    X: Any = None,
    y: Any = None,
    *,
    X_train: Any = None,
    y_train: Any = None,
    kind: Optional[str] = None,
    image_shape: Any = None,
    integer: Any = "auto",
    categorical: Any = None,
    immutable: Any = None,
    ranges: Any = None,
    classes: Any = None,
    class_names: Any = None,
    max_rows: Optional[int] = 50_000,
    seed: int = 0,
) -> Target:
    """Prepare model and data once. Passing a Target returns it unchanged.

    X and X_train larger than max_rows are sampled down (seeded) before any copy is made, so a huge
    array never gets duplicated; reported row numbers still refer to the user's arrays.
    """
    if isinstance(model, Target):
        return model
    if X is None or y is None:
        raise ValueError("probes need X and y (the evaluation data and its true labels)")
    given = (n_rows(X), n_rows(X_train) if X_train is not None else 0)
    rng = np.random.default_rng(seed)
    eval_rows = train_rows = None
    if max_rows is not None and given[0] > max_rows:
        eval_rows = np.sort(rng.choice(given[0], size=max_rows, replace=False))
        X, y = take(X, eval_rows), take(y, eval_rows)
    if X_train is not None and max_rows is not None and given[1] > max_rows:
        train_rows = np.sort(rng.choice(given[1], size=max_rows, replace=False))
        X_train = take(X_train, train_rows)
        y_train = take(y_train, train_rows) if y_train is not None else None
    Xa, info = prepare_X(X, kind=kind, image_shape=image_shape)
    if len(Xa) == 0:
        raise ValueError("X is empty")
    Xt = None
    if X_train is not None:
        Xt, info_t = prepare_X(X_train, kind=info.kind, image_shape=image_shape)
        if info_t.sample_shape != info.sample_shape:
            raise ValueError(f"X_train rows have shape {info_t.sample_shape}, X rows {info.sample_shape}")
        if info.category_values and info_t.category_values != info.category_values:
            # re-encode both with the union of categories so codes agree
            Xa, info, Xt = _shared_categories(X, X_train, kind=info.kind)
    adapter = make_adapter(model, info, X_sample=Xa, y=y, classes=None if classes is None else np.asarray(classes))
    y_idx, _ = encode_labels(y, adapter.classes)
    if len(y_idx) != len(Xa):
        raise ValueError(f"X has {len(Xa)} rows but y has {len(y_idx)}")
    yt = None
    if Xt is not None:
        if y_train is None:
            raise ValueError("X_train given without y_train")
        yt, _ = encode_labels(y_train, adapter.classes)
        if len(yt) != len(Xt):
            raise ValueError(f"X_train has {len(Xt)} rows but y_train has {len(yt)}")
    both = Xa if Xt is None else np.concatenate([Xt, Xa])
    cons = Constraints.from_data(both, info, integer=integer, categorical=categorical, immutable=immutable, ranges=ranges)
    names = list(class_names) if class_names is not None else None
    return Target(adapter, Xa, y_idx, info, cons, Xt, yt, names, model, eval_rows, train_rows, given)


def _shared_categories(X: Any, X_train: Any, kind: str) -> tuple[np.ndarray, DataInfo, np.ndarray]:
    import pandas as pd

    both = pd.concat([X_train, X], axis=0, ignore_index=True)
    arr, info = prepare_X(both, kind=kind)
    n_tr = len(X_train)
    return arr[n_tr:], info, arr[:n_tr]


def select_rows(n: int, max_samples: Optional[int], rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows a probe works on: all, or a seeded random subset kept in original order."""
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(max_samples), replace=False))


ProbeFn = Callable[[Target, Tracker, np.random.Generator], dict]


def run_probe(
    name: str,
    title: str,
    category: str,
    fn: ProbeFn,
    target: Target,
    budget: Budget,
    seed: int = 0,
    cancel: Optional[CancelToken] = None,
    progress: Any = None,
) -> ProbeResult:
    """Run one probe under its budget; never raises for probe failures (they become status 'error')."""
    tracker = Tracker(budget, cancel, progress, label=title)
    rng = np.random.default_rng(seed)
    out: dict[str, Any]
    try:
        with preserved_random_state(), limited_threads(), target.adapter.tracking(tracker):
            out = fn(target, tracker, rng)
    except ProbeCancelled:
        out = {"status": "cancelled", "summary": f"{title} was cancelled after {tracker.seconds:.1f} s."}
    except ProbeSkipped as exc:
        out = {"status": "skipped", "summary": str(exc)}
    except BudgetExhausted as exc:
        out = {"status": "skipped", "summary": f"{title} ran out of budget before producing a result ({exc})."}
    except MemoryError:
        out = {"status": "error", "summary": f"{title} ran out of memory; lower max_samples."}
    except Exception as exc:  # a probe failure must not take down the caller or the kernel
        out = {
            "status": "error",
            "summary": f"{title} failed: {type(exc).__name__}: {exc}",
            "details": {"traceback": traceback.format_exc(limit=8)},
        }
    tracker.progress(1.0, f"{title} done")
    result = ProbeResult(
        name=name,
        title=title,
        category=category,
        status=out.get("status", "pass"),
        summary=out.get("summary", ""),
        advice=out.get("advice", ""),
        metrics=out.get("metrics", {}),
        details=out.get("details", {}),
        queries=tracker.queries,
        seconds=round(tracker.seconds, 4),
        budget=budget.to_dict(),
        seed=seed,
        stopped=out.get("stopped", tracker.stopped_reason),
        upper_bound=bool(out.get("upper_bound", False)),
    )
    return record(result)


def probe_call(
    name: str,
    title: str,
    category: str,
    fn: ProbeFn,
    model: Any,
    X: Any,
    y: Any,
    *,
    budget: Any = None,
    seed: int = 0,
    cancel: Optional[CancelToken] = None,
    progress: Any = None,
    default_budget: Optional[Budget] = None,
    data_kw: Optional[dict[str, Any]] = None,
) -> ProbeResult:
    """Shared front for public probe functions: prepare the target (reporting bad input as an error result)."""
    b = as_budget(budget) if budget is not None else (default_budget or Budget())
    t0 = time.perf_counter()
    try:
        target = as_target(model, X, y, **(data_kw or {}))
    except Exception as exc:
        return record(
            ProbeResult(name, title, category, "error", f"{title} could not start: {exc}", seconds=time.perf_counter() - t0, budget=b.to_dict(), seed=seed)
        )
    return run_probe(name, title, category, fn, target, b, seed=seed, cancel=cancel, progress=progress)
