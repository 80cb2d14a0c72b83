"""Adversarial probes on in-memory models.

    report = mlsec.probe(model, X_test, y_test, X_train=X_train, y_train=y_train)
    report                       # HTML table in a notebook
    report.robustness_curve_linf.robust_accuracy
    report.to_json("probes.json")

Each probe is also callable on its own, e.g. `mlsec.probes.evasion.pgd(model, X, y, eps=0.05)`.
Every probe has a budget (samples, queries, iterations, seconds), can be cancelled, is seeded, and reports
the queries and wall time it used. The user's model is never modified.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

from . import art_bridge, defences, evasion, exploratory, poisoning
from .budget import Budget, CancelToken, ProbeCancelled
from .report import ProbeReport, ProbeResult, clear_session_results, session_results
from .target import Target, as_target

__all__ = [
    "probe",
    "plan",
    "PROBES",
    "QUICK",
    "Budget",
    "CancelToken",
    "ProbeCancelled",
    "ProbeReport",
    "ProbeResult",
    "Target",
    "as_target",
    "session_results",
    "clear_session_results",
    "evasion",
    "poisoning",
    "exploratory",
    "defences",
    "art_bridge",
]

# name -> (title, needs, runner(target, budget, common kwargs, options) -> ProbeResult, quick budget)
# needs: "gradient", "train", "refit", "proba"; quick budgets keep the default report within seconds.
_Runner = Callable[..., ProbeResult]


def _r_fgsm(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return evasion.fgsm(t, eps=o["eps"], norm=o["norm"], **kw)


def _r_pgd(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return evasion.pgd(t, eps=o["eps"], norm=o["norm"], steps=o.get("steps", 20), **kw)


def _r_curve(t: Target, o: dict, **kw: Any) -> ProbeResult:
    if not t.adapter.has_gradient and kw.get("budget") is not None and kw["budget"].max_samples is not None:
        kw["budget"] = kw["budget"].with_(max_samples=min(kw["budget"].max_samples, o.get("decision_samples", 30)))
    return evasion.robustness_curve(t, eps=o.get("curve", evasion.DEFAULT_CURVE), norm=o["norm"], steps=o.get("steps", 20), reference_eps=o["eps"], iterations=o.get("iterations", 5), **kw)


def _r_hsj(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return evasion.hop_skip_jump(t, norm=o["norm"], eps=o["eps"], iterations=o.get("iterations", 5), init_evals=o.get("init_evals", 50), max_evals=o.get("max_evals", 400), **kw)


def _r_few(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return evasion.few_pixel(t, k=1, **kw)


def _r_few2(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return evasion.few_pixel(t, k=2, max_candidates=o.get("max_candidates", 2048), **kw)


def _r_flip(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return poisoning.label_flip(t, **kw)


def _r_susp(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return poisoning.suspicious_points(t, **kw)


def _r_mia(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return exploratory.membership_inference(t, **kw)


def _r_extr(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return exploratory.extraction(t, n_queries=o.get("n_queries", 600), **kw)


def _r_leak(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return exploratory.confidence_leakage(t, **kw)


def _r_squeeze(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return defences.feature_squeezing(t, eps=o["eps"], norm=o["norm"], **kw)


def _r_ft(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return defences.adversarial_finetune(t, eps=o["eps"], epochs=o.get("epochs", 10), **kw)


def _r_art(t: Target, o: dict, **kw: Any) -> ProbeResult:
    return art_bridge.art_evasion(t, attack=o.get("art_attack", "SquareAttack"), eps=o["eps"], norm=o["norm"], attack_kwargs=o.get("art_kwargs", {"max_iter": 100}), **kw)


PROBES: dict[str, tuple[str, str, _Runner, Budget]] = {
    "robustness_curve": ("Robust accuracy vs ε", "evasion", _r_curve, Budget(max_samples=200, max_seconds=20)),
    "fgsm": ("FGSM", "evasion", _r_fgsm, Budget(max_samples=200)),
    "pgd": ("PGD", "evasion", _r_pgd, Budget(max_samples=200)),
    "hop_skip_jump": ("HopSkipJump (decision-based)", "evasion", _r_hsj, Budget(max_samples=40, max_seconds=15)),
    "few_pixel": ("1-pixel / 1-feature search", "evasion", _r_few, Budget(max_samples=50, max_seconds=10)),
    "few_pixel_k2": ("2-pixel / 2-feature random search", "evasion", _r_few2, Budget(max_samples=30, max_seconds=10)),
    "membership_inference": ("Membership inference", "exploratory", _r_mia, Budget(max_samples=2000)),
    "extraction": ("Model extraction", "exploratory", _r_extr, Budget(max_samples=1000, max_seconds=20)),
    "confidence_leakage": ("Confidence leakage", "exploratory", _r_leak, Budget(max_samples=1000, max_seconds=20)),
    "label_flip": ("Label-flip sensitivity", "poisoning", _r_flip, Budget(max_samples=3000, max_seconds=20)),
    "suspicious_points": ("Suspicious training points", "poisoning", _r_susp, Budget(max_samples=20000, max_seconds=20)),
    "feature_squeezing": ("Feature-squeezing detection", "defence", _r_squeeze, Budget(max_samples=100, max_seconds=15)),
    "adversarial_finetune": ("Adversarial fine-tune gain", "defence", _r_ft, Budget(max_samples=200, max_seconds=30)),
    "art_square_attack": ("ART Square Attack (optional extra)", "evasion", _r_art, Budget(max_samples=50, max_seconds=30)),
}

QUICK = (
    "robustness_curve",
    "few_pixel",
    "membership_inference",
    "extraction",
    "confidence_leakage",
    "label_flip",
    "suspicious_points",
    "feature_squeezing",
    "adversarial_finetune",
)
FULL = tuple(n for n in PROBES if not n.startswith("art_"))  # ART stays opt-in


def plan(target: Target, probes: Any = "quick") -> list[str]:
    """Probe names to run: "quick" (default set), "all", or an explicit list (unknown names raise)."""
    if probes in (None, "quick"):
        names = list(QUICK)
    elif probes in ("all", "full"):
        names = list(FULL)
    else:
        names = [probes] if isinstance(probes, str) else list(probes)
        unknown = [n for n in names if n not in PROBES]
        if unknown:
            raise ValueError(f"unknown probe(s) {unknown}; choose from {list(PROBES)}")
    return names


def probe(
    model: Any,
    X: Any = None,
    y: Any = None,
    *,
    X_train: Any = None,
    y_train: Any = None,
    probes: Any = "quick",
    eps: float = evasion.DEFAULT_EPS,
    norm: Any = "inf",
    seed: int = 0,
    budgets: Optional[dict[str, Any]] = None,
    max_seconds: Optional[float] = None,
    options: Optional[dict[str, Any]] = None,
    cancel: Optional[CancelToken] = None,
    progress: Optional[Callable[[float, str], None]] = None,
    kind: Optional[str] = None,
    image_shape: Optional[Sequence[int]] = None,
    integer: Any = "auto",
    categorical: Any = None,
    immutable: Any = None,
    ranges: Any = None,
    classes: Any = None,
    class_names: Any = None,
    max_rows: Optional[int] = 50_000,
) -> ProbeReport:
    """Run a set of probes on (model, X, y) and return a ProbeReport.

    X, y: evaluation (held-out) data; X_train, y_train enable membership inference, poisoning and fine-tune
    probes. X / X_train above max_rows rows are sampled down (seeded) first. eps is a fraction of each feature's range. budgets: {probe name: Budget or dict} overrides the
    quick defaults. max_seconds caps the whole run. cancel: a CancelToken; progress(fraction, message).
    """
    t_start = time.perf_counter()
    nm = evasion.norm_name(norm)
    target = as_target(
        model, X, y, X_train=X_train, y_train=y_train, kind=kind, image_shape=image_shape, integer=integer,
        categorical=categorical, immutable=immutable, ranges=ranges, classes=classes, class_names=class_names,
        max_rows=max_rows, seed=seed,
    )
    names = plan(target, probes)
    opts = {"eps": float(eps), "norm": nm, **(options or {})}
    results: list[ProbeResult] = []
    for i, name in enumerate(names):
        title, _, runner, default_budget = PROBES[name]
        b = default_budget
        if budgets and name in budgets:
            b = budgets[name] if isinstance(budgets[name], Budget) else Budget(**{**default_budget.to_dict(), **budgets[name]})
        if max_seconds is not None:
            left = max_seconds - (time.perf_counter() - t_start)
            b = b.with_(max_seconds=max(0.0, min(left, b.max_seconds if b.max_seconds is not None else left)))

        def sub_progress(f: float, msg: str, _i: int = i) -> None:
            if progress is not None:
                progress((_i + f) / len(names), msg)

        if cancel is not None and cancel.cancelled:
            res = ProbeResult(name, title, PROBES[name][1], "cancelled", f"{title} was not run: cancelled.", budget=b.to_dict(), seed=seed)
        else:
            res = runner(target, opts, budget=b, seed=seed, cancel=cancel, progress=sub_progress)
        results.append(res)
    if progress is not None:
        progress(1.0, "done")
    return ProbeReport(
        results,
        model=target.adapter.describe(),
        data=target.describe_data(),
        seed=seed,
        seconds=time.perf_counter() - t_start,
        image_shape=target.info.image_shape,
    )
