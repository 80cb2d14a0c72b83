"""Poisoning probes: how much flipped labels hurt, and which training rows look planted or mislabelled.

`label_flip` refits a clone (never the user's estimator) with k % of labels flipped. `suspicious_points`
turns "anomaly detection and filtration" of training data into a number and a list of row indices:
kNN label disagreement (strong for flipped labels) plus a per-class spectral-signature outlier score
(a hint only: on its own it is weak, see the notes).
"""
from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import numpy as np

from .budget import Budget, BudgetExhausted, Tracker
from .target import ProbeSkipped, Target, probe_call, select_rows


def _need_train(t: Target, what: str) -> tuple[np.ndarray, np.ndarray]:
    if t.X_train is None or t.y_train is None:
        raise ProbeSkipped(f"{what} needs the training data: pass X_train and y_train.")
    return t.X_train, t.y_train


def flip_labels(y: np.ndarray, rate: float, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Copy of y with round(rate * n) labels moved to a different random class, and the flipped row indices."""
    y2 = y.copy()
    k = int(round(rate * len(y)))
    idx = np.sort(rng.choice(len(y), size=k, replace=False)) if k else np.zeros(0, dtype=int)
    if k:
        shift = rng.integers(1, max(2, n_classes), size=k)
        y2[idx] = (y[idx] + shift) % max(2, n_classes)
    return y2, idx


def _label_flip(t: Target, tr: Tracker, rng: np.random.Generator, rates: Sequence[float]) -> dict[str, Any]:
    Xtr, ytr = _need_train(t, "Label-flip sensitivity")
    if not t.adapter.refittable:
        raise ProbeSkipped(f"Label-flip sensitivity refits a copy of the model; {t.adapter.describe()} cannot be refitted cheaply by mlsec.")
    rows = select_rows(len(Xtr), tr.budget.max_samples, rng)
    Xs, ys = Xtr[rows], ytr[rows]
    points = []
    stopped = None
    rates = sorted({0.0, *[float(r) for r in rates]})
    for i, rate in enumerate(rates):
        try:
            tr.check()
        except BudgetExhausted as exc:
            stopped = f"stopped before {rate:.0%}: {exc}"
            break
        t0, q0 = time.perf_counter(), tr.queries
        y_flip, _ = flip_labels(ys, rate, t.adapter.n_classes, rng)
        clone = t.adapter.refit_clone(Xs, y_flip, seed=int(rng.integers(0, 2**31 - 1)))
        clone.tracker = tr
        acc = float(np.mean(clone.predict_labels(t.X) == t.y))
        points.append({"rate": rate, "accuracy": acc, "queries": tr.queries - q0, "seconds": round(time.perf_counter() - t0, 4)})
        tr.progress((i + 1) / len(rates))
    if len(points) < 2:
        raise BudgetExhausted(stopped or "no refit finished")
    base = points[0]["accuracy"]
    ref = min(points[1:], key=lambda p: abs(p["rate"] - 0.1))
    drop = base - ref["accuracy"]
    status = "pass" if drop < 0.02 else ("warn" if drop < 0.05 else "fail")
    summary = (
        f"Flipping {ref['rate']:.0%} of {len(rows)} training labels moves test accuracy of a refitted copy from {base:.3f} "
        f"to {ref['accuracy']:.3f} ({-drop:+.3f}); at {points[-1]['rate']:.0%}: {points[-1]['accuracy']:.3f}."
    )
    advice = (
        "Training labels matter a lot here: track label provenance, audit labels from untrusted sources, and run the suspicious-points check before training."
        if status != "pass"
        else "The model tolerates this much label noise; keep provenance checks for targeted poisoning, which this probe does not cover."
    )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "stopped": stopped,
        "metrics": {"n_train": int(len(rows)), "clean_refit_accuracy": base, "flip_rate": ref["rate"], "accuracy_drop": drop, "curve": points},
        "details": {"curve_flip": [(p["rate"], p["accuracy"]) for p in points]},
    }


def label_flip(model: Any, X: Any = None, y: Any = None, rates: Sequence[float] = (0.05, 0.1, 0.2, 0.4), *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Refit a clone with 0-40 % of training labels flipped; report test accuracy per rate (X, y: test data)."""

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _label_flip(t, tr, rng, rates)

    b = budget if budget is not None else Budget(max_samples=5000, max_seconds=30)
    return probe_call("label_flip", "Label-flip sensitivity", "poisoning", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})


# ---------------------------------------------------------------------------------------------------
def knn_label_disagreement(X: np.ndarray, y: np.ndarray, k: int = 10, scale: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: share of its k nearest neighbours with another label, and their majority label."""
    from sklearn.neighbors import NearestNeighbors

    flat = X.reshape(len(X), -1).astype(np.float64)
    if scale is not None:
        flat = flat / scale
    k = max(1, min(k, len(flat) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1).fit(flat)
    _, ind = nn.kneighbors(flat)
    neigh = ind[:, 1:]
    labels = y[neigh]
    disagree = (labels != y[:, None]).mean(axis=1)
    n_cls = int(max(y.max(), labels.max())) + 1
    counts = np.zeros((len(y), n_cls), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(y)), k), labels.reshape(-1)), 1)
    return disagree, counts.argmax(axis=1)


def spectral_scores(X: np.ndarray, y: np.ndarray, scale: Optional[np.ndarray] = None) -> np.ndarray:
    """Spectral-signature score (Tran et al. 2018) per row: squared projection on its class's top singular vector,
    divided by the class median, so scores compare across classes. Used as a hint, not a verdict."""
    flat = X.reshape(len(X), -1).astype(np.float64)
    if scale is not None:
        flat = flat / scale
    out = np.zeros(len(flat))
    for c in np.unique(y):
        idx = np.where(y == c)[0]
        if len(idx) < 3:
            continue
        z = flat[idx] - flat[idx].mean(axis=0)
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        sc = (z @ vt[0]) ** 2
        out[idx] = sc / (np.median(sc) + 1e-12)
    return out


def _suspicious(t: Target, tr: Tracker, rng: np.random.Generator, k: int) -> dict[str, Any]:
    Xtr, ytr = _need_train(t, "Suspicious training points")
    rows = select_rows(len(Xtr), tr.budget.max_samples, rng)
    X, y = Xtr[rows], ytr[rows]
    scale = t.constraints.scale
    tr.check()
    disagree, majority = knn_label_disagreement(X, y, k, scale)
    tr.progress(0.6)
    spec = spectral_scores(X, y, scale)
    tr.progress(0.9)
    flagged_knn = np.where((disagree >= 0.6) & (majority != y))[0]
    cut = np.quantile(spec, 0.985) if len(spec) else np.inf
    flagged_spec = np.where(spec > max(cut, 10.0))[0]
    order = flagged_knn[np.argsort(-disagree[flagged_knn], kind="stable")]
    in_order = set(order.tolist())
    inspect = [t.train_row(rows[i]) for i in order] + [t.train_row(rows[i]) for i in flagged_spec[np.argsort(-spec[flagged_spec])] if i not in in_order]
    frac = len(flagged_knn) / max(1, len(rows))
    status = "pass" if frac < 0.03 else ("warn" if frac < 0.08 else "fail")
    summary = (
        f"{len(flagged_knn)} of {len(rows)} training rows ({frac:.1%}) carry a label that at least 60 % of their {k} nearest "
        f"neighbours disagree with; {len(flagged_spec)} more/overlapping rows are spectral outliers within their class (a weaker hint)."
    )
    advice = (
        "Inspect the listed rows (row indices into X_train): relabel or drop confirmed errors, and trace where they came from before retraining."
        if status != "pass"
        else "Few rows look mislabelled. Look at the top of the list anyway; this check does not see clean-label or backdoor poisoning reliably."
    )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {
            "n_checked": int(len(rows)),
            "k": k,
            "flagged": int(len(flagged_knn)),
            "flagged_fraction": frac,
            "spectral_outliers": int(len(flagged_spec)),
            "rows_to_inspect": inspect[:100],
        },
        "details": {
            "rows": np.array([t.train_row(r) for r in rows], dtype=np.int64),
            "knn_disagreement": disagree,
            "suggested_label": majority,
            "spectral_score": spec,
            "flagged_rows": np.array([t.train_row(rows[i]) for i in order], dtype=np.int64),
        },
    }


def suspicious_points(model: Any, X: Any = None, y: Any = None, k: int = 10, *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """kNN label disagreement + spectral-signature score on the training data; returns rows to inspect."""

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _suspicious(t, tr, rng, k)

    b = budget if budget is not None else Budget(max_samples=20000)
    return probe_call("suspicious_points", "Suspicious training points", "poisoning", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})
