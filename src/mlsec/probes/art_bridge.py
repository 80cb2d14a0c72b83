"""Optional bridge to ART (`pip install jupyter-mlsec[art]`) for attacks mlsec does not implement itself,
such as the score-based Square Attack.

ART's own wrappers refuse Pipelines, trees, label-only callables and DataFrames; here ART sees mlsec's
adapter instead (any model kind, batched, query-counted, cancellable), in range units: the attack works on
u = (x - low) / range in [0, 1], so eps means what it means everywhere else in mlsec. ART is imported only
when this probe runs. Tabular constraints are applied to ART's output afterwards, and the robust accuracy
reported is the model's accuracy on those valid rows.
"""
from __future__ import annotations

import inspect
from typing import Any, Optional

import numpy as np

from .budget import Tracker
from .evasion import DEFAULT_EPS, _examples, _has_structure, _nrm_label, _verdict_evasion, norm_name
from .target import ProbeSkipped, Target, probe_call, select_rows


def _art() -> Any:
    try:
        import art.attacks.evasion as evasion_mod
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork as BlackBoxClassifier
    except ImportError as exc:
        raise ProbeSkipped(f"ART is not installed ({exc}); `pip install jupyter-mlsec[art]` adds it.") from exc
    return evasion_mod, BlackBoxClassifier


def _art_probe(t: Target, tr: Tracker, rng: np.random.Generator, attack: str, eps: float, norm: str, attack_kwargs: dict[str, Any]) -> dict[str, Any]:
    evasion_mod, BlackBoxClassifier = _art()
    cls = getattr(evasion_mod, attack, None)
    if cls is None or not inspect.isclass(cls):
        raise ValueError(f"art.attacks.evasion has no attack {attack!r}")
    rows = select_rows(len(t.X), tr.budget.max_samples, rng)
    x0, y = t.X[rows], t.y[rows]
    c = t.constraints
    shape = t.info.sample_shape
    lo = c.lower.reshape(shape)
    sc = c.scale.reshape(shape)
    dtype = x0.dtype

    # ART's image attacks want (N, C, H, W): flat rows are shown as 1 x H x W images (or 1 x 1 x d)
    disp = t.info.image_shape if t.is_image else None
    if len(shape) == 3:
        art_shape = shape
    elif len(shape) == 2:
        art_shape = (1,) + shape
    elif disp is not None and len(disp) == 2:
        art_shape = (1,) + tuple(disp)
    else:
        art_shape = (1, 1, int(np.prod(shape)))

    def predict(u: np.ndarray) -> np.ndarray:
        tr.check()
        u = np.asarray(u, dtype=np.float64).reshape((-1,) + shape)
        return t.adapter.scores((lo + u * sc).astype(dtype))

    # the neural-network flavour of ART's black-box wrapper: score-based attacks (Square) accept only that
    clf = BlackBoxClassifier(predict, input_shape=art_shape, nb_classes=t.adapter.n_classes, clip_values=(0.0, 1.0))
    params = inspect.signature(cls.__init__).parameters
    kw: dict[str, Any] = {}
    if "eps" in params:
        kw["eps"] = eps
    if "norm" in params:
        kw["norm"] = np.inf if norm == "inf" else 2
    if "verbose" in params:
        kw["verbose"] = False
    if "batch_size" in params:
        kw["batch_size"] = max(1, len(x0))
    kw.update(attack_kwargs)
    np.random.seed(int(rng.integers(0, 2**31 - 1)))  # ART draws from numpy's global RNG; restored afterwards
    u0 = ((x0.astype(np.float64) - lo) / sc).astype(np.float32).reshape((-1,) + art_shape)
    clean_lab = t.adapter.predict_labels(x0)
    u_adv = cls(clf, **kw).generate(u0, y=np.eye(t.adapter.n_classes)[y])
    x_adv = (lo + np.asarray(u_adv, dtype=np.float64).reshape((-1,) + shape) * sc).astype(dtype)
    if _has_structure(c):
        x_adv = c.project(x_adv, x0, rounding="nearest").astype(dtype)
    lab = t.adapter.predict_labels(x_adv)
    clean = float(np.mean(clean_lab == y))
    robust = float(np.mean(lab == y))
    flipped = (clean_lab == y) & (lab != y)
    status, summary, advice = _verdict_evasion(clean, robust, f"ART {attack}", eps, norm)
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {"attack": attack, "eps": eps, "norm": norm, "n_samples": int(len(rows)), "clean_accuracy": clean, "robust_accuracy": robust},
        "details": {"rows": rows, "x_adv": x_adv, "examples": _examples(t, rows, x0, x_adv, y, flipped)},
    }


def art_evasion(
    model: Any,
    X: Any = None,
    y: Any = None,
    attack: str = "SquareAttack",
    eps: float = DEFAULT_EPS,
    norm: Any = "inf",
    attack_kwargs: Optional[dict[str, Any]] = None,
    *,
    budget: Any = None,
    seed: int = 0,
    cancel: Any = None,
    progress: Any = None,
    **data_kw: Any,
):
    """Run an ART evasion attack (default: Square Attack, score-based) on any model mlsec can adapt."""
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _art_probe(t, tr, rng, attack, eps, nm, dict(attack_kwargs or {}))

    name = "art_" + "".join("_" + ch.lower() if ch.isupper() else ch for ch in attack).lstrip("_")
    return probe_call(name, f"ART {attack} ({_nrm_label(nm)})", "evasion", fn, model, X, y, budget=budget, seed=seed, cancel=cancel, progress=progress, data_kw=data_kw)
