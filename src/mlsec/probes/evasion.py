"""Evasion probes: FGSM / PGD (white-box), HopSkipJump (decision-based), exhaustive few-pixel / few-feature.

Perturbation sizes are fractions of the feature range (images: the global pixel range; tabular data: each
column's range), so one epsilon means the same thing for any scaling. On [0, 1] images this is the usual
absolute epsilon, and FGSM/PGD match the textbook (and ART's) update exactly. Tabular constraints hold in
every adversarial row: ranges, immutable and categorical columns stay valid, integer columns stay integers
(rounded toward the original so the epsilon bound still holds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .adapters import ModelAdapter
from .budget import Budget, BudgetExhausted, Tracker
from .data import Constraints
from .target import ProbeSkipped, Target, probe_call, select_rows

DEFAULT_EPS = 0.1
DEFAULT_CURVE = (0.02, 0.05, 0.1, 0.2, 0.3)
_DATA_KW = ("X_train", "y_train", "kind", "image_shape", "integer", "categorical", "immutable", "ranges", "classes", "class_names", "max_rows")


def norm_name(norm: Any) -> str:
    if norm in (np.inf, "inf", "linf", "Linf", "L-inf", "l_inf"):
        return "inf"
    if norm in (2, "2", "l2", "L2"):
        return "l2"
    raise ValueError(f"norm must be 'inf' or 'l2', not {norm!r}")


def _nrm_label(norm: str) -> str:
    return "L∞" if norm == "inf" else "L2"


def _split_kw(kw: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kw) - set(_DATA_KW)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    return kw


def _has_structure(cons: Constraints) -> bool:
    return bool(cons.integer.any() or cons.immutable.any() or cons.categorical)


# ---------------------------------------------------------------------------------------------------
# white-box cores (numpy in, numpy out; also used by the defences and the benchmark)
@dataclass
class AttackArrays:
    x_adv: np.ndarray
    labels_adv: np.ndarray
    iterations: int
    stopped: Optional[str] = None


def _flat_consts(cons: Constraints, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        cons.scale.astype(dtype),
        cons.lower.astype(dtype),
        cons.upper.astype(dtype),
        cons.continuous_mask.astype(dtype),
    )


def _project_ball(x: np.ndarray, xf: np.ndarray, s: np.ndarray, eps: float, norm: str) -> np.ndarray:
    delta = (x - xf) / s
    if norm == "inf":
        delta = np.clip(delta, -eps, eps)
    else:
        n = np.sqrt((delta.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
        delta = delta * np.minimum(1.0, eps / (n + 1e-12)).astype(x.dtype)
    return xf + delta * s


def pgd_arrays(
    adapter: ModelAdapter,
    x0: np.ndarray,
    y: np.ndarray,
    cons: Constraints,
    eps: float,
    norm: str = "inf",
    steps: int = 20,
    step_size: Optional[float] = None,
    random_start: bool = False,
    return_best: bool = True,
    rng: Optional[np.random.Generator] = None,
    tracker: Optional[Tracker] = None,
) -> AttackArrays:
    """PGD with cross-entropy loss; steps=1, step_size=eps, random_start=False is exactly FGSM.

    Update (in units of the feature range s): x <- clip(P_eps(x + a*s*sign(g))) for L∞,
    x <- clip(P_eps(x + a*s*g/||g||)) for L2, g the loss gradient in range units (dL/dx * s).
    return_best keeps, for a sample whose last iterate is not adversarial, an earlier iterate that was.
    """
    norm = norm_name(norm)
    n = len(x0)
    shape = x0.shape
    dtype = x0.dtype if x0.dtype in (np.float32, np.float64) else np.float64
    xf = x0.reshape(n, -1).astype(dtype)
    s, lo, hi, m = _flat_consts(cons, dtype)
    alpha = float(step_size) if step_size is not None else (eps if steps == 1 else 2.5 * eps / steps)
    x = xf.copy()
    if random_start and eps > 0:
        rng = rng or np.random.default_rng(0)
        if norm == "inf":
            x = x + rng.uniform(-eps, eps, size=x.shape).astype(dtype) * s * m
        else:
            d = rng.normal(size=x.shape) * m
            d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
            r = rng.uniform(0, 1, size=(n, 1)) ** (1.0 / max(1, int(m.sum())))
            x = x + (d * r * eps).astype(dtype) * s
        x = np.clip(x, lo, hi)
    ever = np.zeros(n, dtype=bool)
    best = x.copy() if return_best else None
    done = 0
    stopped = None
    for t in range(steps):
        if tracker is not None:
            try:
                tracker.check()
            except BudgetExhausted as exc:
                stopped = f"stopped after {t} of {steps} steps: {exc}"
                break
        g, lab = adapter.loss_gradient(x.reshape(shape), y, with_labels=True)
        if return_best:
            newly = (lab != y) & ~ever
            best[newly] = x[newly]
            ever |= newly
        g = g.reshape(n, -1) * m * s
        if norm == "inf":
            x = x + alpha * s * np.sign(g)
        else:
            gn = np.sqrt((g.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
            x = x + alpha * s * (g / (gn + 1e-12)).astype(dtype)
        x = _project_ball(x, xf, s, eps, norm)
        x = np.clip(x, lo, hi)
        done = t + 1
        if tracker is not None:
            tracker.progress(done / max(1, steps))
    if _has_structure(cons):
        x = cons.project(x, xf, rounding="toward").astype(dtype)
    lab = adapter.predict_labels(x.reshape(shape))
    if return_best and ever.any():
        back = ever & (lab == y)
        if back.any():
            cand = best[back]
            if _has_structure(cons):
                cand = cons.project(cand, xf[back], rounding="toward").astype(dtype)
            lab_b = adapter.predict_labels(cand.reshape((-1,) + shape[1:]))
            use = lab_b != y[back]
            rows = np.where(back)[0][use]
            x[rows] = cand[use]
            lab[rows] = lab_b[use]
    return AttackArrays(x.reshape(shape), lab, done, stopped)


def fgsm_arrays(adapter: ModelAdapter, x0: np.ndarray, y: np.ndarray, cons: Constraints, eps: float, norm: str = "inf", tracker: Optional[Tracker] = None) -> AttackArrays:
    """One signed (L∞) or normalised (L2) gradient step of size eps."""
    return pgd_arrays(adapter, x0, y, cons, eps, norm, steps=1, step_size=eps, random_start=False, return_best=False, tracker=tracker)


# ---------------------------------------------------------------------------------------------------
# shared reporting helpers
def _distance(x_adv: np.ndarray, x0: np.ndarray, s: np.ndarray, norm: str) -> np.ndarray:
    d = (x_adv.reshape(len(x_adv), -1).astype(np.float64) - x0.reshape(len(x0), -1)) / s
    return np.abs(d).max(axis=1) if norm == "inf" else np.sqrt((d**2).sum(axis=1))


def _verdict_evasion(clean: float, robust: float, what: str, eps: float, norm: str, upper: bool = False) -> tuple[str, str, str]:
    ratio = robust / clean if clean > 0 else 1.0
    status = "pass" if ratio >= 0.9 else ("warn" if ratio >= 0.5 else "fail")
    flipped = 1 - ratio
    bound = " at least" if upper else ""
    summary = (
        f"{what} at ε = {eps:g} ({_nrm_label(norm)}, fraction of feature range) flips{bound} {flipped:.0%} of correctly "
        f"classified samples: accuracy {clean:.3f} → {robust:.3f}{' (upper bound)' if upper else ''}."
    )
    if status == "fail":
        advice = (
            "Small input changes fool this model. If attackers can shape inputs: train with adversarial examples "
            "(see the fine-tune probe), detect or squeeze inputs, rate-limit and monitor queries; check a larger budget before trusting any pass."
        )
    elif status == "warn":
        advice = "Partly robust at this ε. Consider adversarial training or input checks, and re-run with more iterations/samples."
    else:
        advice = "Robust at this ε under this attack and budget; re-run with larger ε or a stronger attack before relying on it."
    return status, summary, advice


def _examples(target: Target, rows: np.ndarray, x0: np.ndarray, x_adv: np.ndarray, y: np.ndarray, changed: np.ndarray, limit: int = 8) -> list[dict[str, Any]]:
    """A few originals next to adversarial versions with labels and confidences (for plots and the panel)."""
    pick = np.where(changed)[0][:limit]
    if len(pick) == 0:
        return []
    ad = target.adapter
    both = np.concatenate([x0[pick], x_adv[pick]])
    sc = ad.scores(both)
    p0, p1 = sc[: len(pick)], sc[len(pick) :]
    out = []
    for k, i in enumerate(pick):
        a, b = int(p0[k].argmax()), int(p1[k].argmax())
        ex: dict[str, Any] = {
            "row": target.eval_row(int(rows[i])),
            "true": target.class_name(int(y[i])),
            "before": target.class_name(a),
            "before_conf": float(p0[k][a]) if ad.has_proba else None,
            "after": target.class_name(b),
            "after_conf": float(p1[k][b]) if ad.has_proba else None,
            "original": x0[i],
            "adversarial": x_adv[i],
        }
        if not target.is_image:
            diff = np.where(np.abs(x_adv[i].reshape(-1) - x0[i].reshape(-1)) > 1e-9)[0]
            names = target.constraints.names
            ex["changes"] = [
                ((names[j] if names else f"x{j}"), float(x0[i].reshape(-1)[j]), float(x_adv[i].reshape(-1)[j])) for j in diff[:6]
            ]
        out.append(ex)
    return out


def _eval_clean(target: Target, x0: np.ndarray) -> np.ndarray:
    return target.adapter.predict_labels(x0)


def _need_gradient(target: Target, what: str) -> None:
    if not target.adapter.has_gradient:
        raise ProbeSkipped(
            f"{what} needs loss gradients; {target.adapter.describe()} has none. The decision-based attack "
            "(hop_skip_jump) and the few-feature search cover it."
        )


# ---------------------------------------------------------------------------------------------------
# public probes
def _gradient_probe(target: Target, tracker: Tracker, rng: np.random.Generator, eps: float, norm: str, steps: int, step_size: Optional[float], random_start: bool, return_best: bool, label: str) -> dict[str, Any]:
    _need_gradient(target, label)
    rows = select_rows(len(target.X), tracker.budget.max_samples, rng)
    if tracker.budget.max_iter is not None:
        steps = max(1, min(steps, tracker.budget.max_iter))
    x0, y = target.X[rows], target.y[rows]
    clean_lab = _eval_clean(target, x0)
    q0 = tracker.queries
    res = pgd_arrays(target.adapter, x0, y, target.constraints, eps, norm, steps, step_size, random_start, return_best, rng, tracker)
    clean = float(np.mean(clean_lab == y))
    robust = float(np.mean(res.labels_adv == y))
    correct = clean_lab == y
    flipped = correct & (res.labels_adv != y)
    dist = _distance(res.x_adv, x0, target.constraints.scale, norm)
    status, summary, advice = _verdict_evasion(clean, robust, label, eps, norm)
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "stopped": res.stopped,
        "metrics": {
            "eps": eps,
            "norm": norm,
            "steps": res.iterations,
            "n_samples": int(len(rows)),
            "clean_accuracy": clean,
            "robust_accuracy": robust,
            "success_rate": float(flipped.sum() / max(1, correct.sum())),
            "mean_perturbation": float(dist[flipped].mean()) if flipped.any() else 0.0,
            "attack_queries": tracker.queries - q0,
        },
        "details": {
            "rows": rows,
            "x_adv": res.x_adv,
            "labels_adv": res.labels_adv,
            "examples": _examples(target, rows, x0, res.x_adv, y, flipped),
        },
    }


def fgsm(model: Any, X: Any = None, y: Any = None, eps: float = DEFAULT_EPS, norm: Any = "inf", *, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Fast Gradient Sign Method: one gradient step of size eps (fraction of the feature range)."""
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _gradient_probe(t, tr, rng, eps, nm, 1, eps, False, False, "FGSM")

    return probe_call(f"fgsm_{'linf' if nm == 'inf' else 'l2'}", f"FGSM ({_nrm_label(nm)})", "evasion", fn, model, X, y, budget=budget, seed=seed, cancel=cancel, progress=progress, data_kw=_split_kw(data_kw))


def pgd(
    model: Any,
    X: Any = None,
    y: Any = None,
    eps: float = DEFAULT_EPS,
    norm: Any = "inf",
    steps: int = 20,
    step_size: Optional[float] = None,
    random_start: bool = False,
    return_best: bool = True,
    *,
    budget: Any = None,
    seed: int = 0,
    cancel: Any = None,
    progress: Any = None,
    **data_kw: Any,
):
    """Projected Gradient Descent (Madry et al.), L∞ or L2, default step 2.5·eps/steps."""
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _gradient_probe(t, tr, rng, eps, nm, steps, step_size, random_start, return_best, f"PGD-{steps}")

    return probe_call(f"pgd_{'linf' if nm == 'inf' else 'l2'}", f"PGD ({_nrm_label(nm)})", "evasion", fn, model, X, y, budget=budget, seed=seed, cancel=cancel, progress=progress, data_kw=_split_kw(data_kw))


def _curve_probe(target: Target, tracker: Tracker, rng: np.random.Generator, eps_list: Sequence[float], norm: str, steps: int, reference_eps: float, hsj_kw: dict[str, Any]) -> dict[str, Any]:
    rows = select_rows(len(target.X), tracker.budget.max_samples, rng)
    x0, y = target.X[rows], target.y[rows]
    clean_lab = _eval_clean(target, x0)
    clean = float(np.mean(clean_lab == y))
    eps_list = sorted(float(e) for e in eps_list)
    points: list[dict[str, Any]] = [{"eps": 0.0, "robust_accuracy": clean, "queries": tracker.queries, "seconds": round(tracker.seconds, 4)}]
    upper = False
    stopped = None
    ref_res: Optional[AttackArrays] = None
    examples: list[dict[str, Any]] = []
    if target.adapter.has_gradient:
        method = f"PGD-{steps}"
        if tracker.budget.max_iter is not None:
            steps = max(1, min(steps, tracker.budget.max_iter))
        for k, e in enumerate(eps_list):
            q, t0 = tracker.queries, tracker.seconds
            try:
                tracker.check()
            except BudgetExhausted as exc:
                stopped = f"curve stopped before ε = {e:g}: {exc}"
                break
            res = pgd_arrays(target.adapter, x0, y, target.constraints, e, norm, steps, None, False, True, rng, None)
            if abs(e - reference_eps) < 1e-12 or (ref_res is None and e >= reference_eps):
                ref_res = res
            points.append({"eps": e, "robust_accuracy": float(np.mean(res.labels_adv == y)), "queries": tracker.queries - q, "seconds": round(tracker.seconds - t0, 4)})
            tracker.progress((k + 1) / len(eps_list))
    else:
        method = "HopSkipJump"
        upper = True
        q, t0 = tracker.queries, tracker.seconds
        correct = clean_lab == y
        dist = np.full(len(rows), np.inf)
        if correct.any():
            hs = hsj_arrays(target.adapter, x0[correct], y[correct], target.constraints, norm=norm, rng=rng, tracker=tracker, pool=(target.X, None), **hsj_kw)
            dist[np.where(correct)[0]] = hs.distance
            stopped = hs.stopped
            x_adv = x0.copy()
            x_adv[np.where(correct)[0]] = hs.x_adv
            examples = _examples(target, rows, x0, x_adv, y, correct & np.isfinite(dist))
        for e in eps_list:
            points.append({"eps": e, "robust_accuracy": float(np.mean(correct & (dist > e))), "queries": tracker.queries - q, "seconds": round(tracker.seconds - t0, 4)})
    ref = min(points, key=lambda p: abs(p["eps"] - reference_eps))
    if ref_res is not None:
        examples = _examples(target, rows, x0, ref_res.x_adv, y, (clean_lab == y) & (ref_res.labels_adv != y))
    status, summary, advice = _verdict_evasion(clean, ref["robust_accuracy"], method, ref["eps"], norm, upper)
    summary = "Robust accuracy falls from {:.3f} (ε = 0) to {:.3f} (ε = {:g}). ".format(clean, points[-1]["robust_accuracy"], points[-1]["eps"]) + summary
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "upper_bound": upper,
        "stopped": stopped,
        "metrics": {
            "method": method,
            "norm": norm,
            "n_samples": int(len(rows)),
            "clean_accuracy": clean,
            "eps": ref["eps"],
            "robust_accuracy": ref["robust_accuracy"],
            "curve": points,
        },
        "details": {"curve": [(p["eps"], p["robust_accuracy"]) for p in points], "examples": examples},
    }


def robustness_curve(
    model: Any,
    X: Any = None,
    y: Any = None,
    eps: Sequence[float] = DEFAULT_CURVE,
    norm: Any = "inf",
    steps: int = 20,
    reference_eps: float = DEFAULT_EPS,
    *,
    iterations: int = 10,
    init_evals: int = 50,
    max_evals: int = 400,
    budget: Any = None,
    seed: int = 0,
    cancel: Any = None,
    progress: Any = None,
    **data_kw: Any,
):
    """Robust accuracy against epsilon: PGD for differentiable models, else HopSkipJump (an upper bound)."""
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _curve_probe(t, tr, rng, eps, nm, steps, reference_eps, {"iterations": iterations, "init_evals": init_evals, "max_evals": max_evals})

    return probe_call(f"robustness_curve_{'linf' if nm == 'inf' else 'l2'}", f"Robust accuracy vs ε ({_nrm_label(nm)})", "evasion", fn, model, X, y, budget=budget, seed=seed, cancel=cancel, progress=progress, data_kw=_split_kw(data_kw))


# ---------------------------------------------------------------------------------------------------
# HopSkipJump (Chen, Jordan & Wainwright 2020), untargeted, all samples stepped together
@dataclass
class HSJArrays:
    x_adv: np.ndarray
    found: np.ndarray
    distance: np.ndarray  # in range units; inf where nothing was found
    iterations: int
    stopped: Optional[str] = None


def hsj_arrays(
    adapter: ModelAdapter,
    x0: np.ndarray,
    y: np.ndarray,
    cons: Constraints,
    norm: str = "l2",
    iterations: int = 10,
    init_evals: int = 100,
    max_evals: int = 1000,
    rng: Optional[np.random.Generator] = None,
    tracker: Optional[Tracker] = None,
    pool: Optional[tuple[np.ndarray, Optional[np.ndarray]]] = None,
    gamma: float = 1.0,
) -> HSJArrays:
    """Minimum-norm decision-based attack on correctly classified x0. Distances are upper bounds."""
    norm = norm_name(norm)
    rng = rng or np.random.default_rng(0)
    n = len(x0)
    sshape = x0.shape[1:]
    s = cons.scale
    m = cons.continuous_mask.astype(np.float64)
    d = max(1, int(m.sum()))
    lo_u, hi_u = cons.lower / s, cons.upper / s
    u0 = x0.reshape(n, -1).astype(np.float64) / s
    theta = gamma / (d * np.sqrt(d)) if norm == "l2" else gamma / (d * d)

    def is_adv(u: np.ndarray, yy: np.ndarray) -> np.ndarray:
        return adapter.predict_labels((u * s).astype(x0.dtype).reshape((-1,) + sshape)) != yy

    def dist(u: np.ndarray, base: np.ndarray) -> np.ndarray:
        diff = u - base
        return np.abs(diff).max(axis=1) if norm == "inf" else np.sqrt((diff**2).sum(axis=1))

    # 1. starting points: nearest data rows the model labels differently, then random noise
    ua = np.zeros_like(u0)
    found = np.zeros(n, dtype=bool)
    if pool is not None and len(pool[0]):
        P = pool[0].reshape(len(pool[0]), -1).astype(np.float64)[:2000] / s
        plab = pool[1] if pool[1] is not None else adapter.predict_labels((P * s).astype(x0.dtype).reshape((-1,) + sshape))
        plab = plab[: len(P)]
        for i in range(n):
            cand = np.where(plab != y[i])[0]
            if len(cand) == 0:
                continue
            cu = np.where(m > 0, P[cand], u0[i])
            order = np.argsort(dist(cu, u0[i][None, :]))[:5]
            ok = is_adv(cu[order], np.full(len(order), y[i]))
            if ok.any():
                ua[i] = cu[order[np.argmax(ok)]]
                found[i] = True
    for _ in range(10):
        todo = np.where(~found)[0]
        if len(todo) == 0:
            break
        r = rng.uniform(lo_u, hi_u, size=(len(todo), u0.shape[1]))
        r = np.where(m > 0, r, u0[todo])
        ok = is_adv(r, y[todo])
        ua[todo[ok]] = r[ok]
        found[todo[ok]] = True

    def binary_search(base: np.ndarray, adv: np.ndarray, yy: np.ndarray) -> np.ndarray:
        if norm == "l2":
            low, high = np.zeros(len(base)), np.ones(len(base))
            thr = np.full(len(base), theta)

            def at(a: np.ndarray) -> np.ndarray:
                return (1 - a)[:, None] * base + a[:, None] * adv
        else:
            high = np.abs(adv - base).max(axis=1)
            low = np.zeros(len(base))
            thr = np.minimum(high * theta, theta)

            def at(a: np.ndarray) -> np.ndarray:
                return base + np.clip(adv - base, -a[:, None], a[:, None])

        for _ in range(40):
            act = (high - low) > thr
            if not act.any():
                break
            mid = (high[act] + low[act]) / 2
            pts = at(np.where(act, (high + low) / 2, high))[act]
            ok = is_adv(pts, yy[act])
            ia = np.where(act)[0]
            high[ia[ok]] = mid[ok]
            low[ia[~ok]] = mid[~ok]
        return at(high)

    idx = np.where(found)[0]
    ub = u0.copy()
    best = np.full(n, np.inf)
    best_u = u0.copy()
    stopped = None
    it_done = 0
    if len(idx):
        ub[idx] = binary_search(u0[idx], ua[idx], y[idx])
        best[idx] = dist(ub[idx], u0[idx])
        best_u[idx] = ub[idx]
        cur = best.copy()
        for t in range(1, iterations + 1):
            try:
                if tracker is not None:
                    tracker.check()
            except BudgetExhausted as exc:
                stopped = f"stopped after {t - 1} of {iterations} iterations: {exc}"
                break
            act = idx[cur[idx] > 0]
            if len(act) == 0:
                break
            delta = np.full(len(act), 0.1) if t == 1 else (np.sqrt(d) * theta * cur[act] if norm == "l2" else d * theta * cur[act])
            delta = np.maximum(delta, 1e-12)
            B = int(min(init_evals * np.sqrt(t), max_evals))
            grads = np.zeros((len(act), u0.shape[1]))
            chunk = max(1, (1 << 21) // max(1, B * u0.shape[1]))
            for c0 in range(0, len(act), chunk):
                sel = act[c0 : c0 + chunk]
                dl = delta[c0 : c0 + chunk]
                if norm == "l2":
                    rv = rng.standard_normal(size=(len(sel), B, u0.shape[1]), dtype=np.float32)
                else:
                    rv = rng.random(size=(len(sel), B, u0.shape[1]), dtype=np.float32) * 2 - 1
                rv *= m.astype(np.float32)
                rv /= np.sqrt((rv**2).sum(axis=2, keepdims=True)) + 1e-12
                base32 = ub[sel].astype(np.float32)[:, None, :]
                dl32 = dl.astype(np.float32)[:, None, None]
                pert = np.clip(base32 + dl32 * rv, lo_u.astype(np.float32), hi_u.astype(np.float32))
                rv = (pert - base32) / dl32
                dec = is_adv(pert.reshape(-1, u0.shape[1]), np.repeat(y[sel], B)).reshape(len(sel), B)
                fval = 2.0 * dec - 1.0
                mean = fval.mean(axis=1)
                g = np.where(
                    (mean == 1.0)[:, None], rv.mean(axis=1), np.where((mean == -1.0)[:, None], -rv.mean(axis=1), ((fval - mean[:, None])[:, :, None] * rv).mean(axis=1))
                )
                g /= np.sqrt((g**2).sum(axis=1, keepdims=True)) + 1e-12
                grads[c0 : c0 + len(sel)] = g
            update = grads if norm == "l2" else np.sign(grads)
            step = 2.0 * cur[act] / np.sqrt(t + 1)
            cand = ub[act].copy()
            pending = np.ones(len(act), dtype=bool)
            for _ in range(25):
                if not pending.any():
                    break
                pi = np.where(pending)[0]
                trial = np.clip(ub[act[pi]] + step[pi, None] * update[pi], lo_u, hi_u)
                ok = is_adv(trial, y[act[pi]])
                cand[pi[ok]] = trial[ok]
                pending[pi[ok]] = False
                step[pi[~ok]] /= 2.0
            moved = ~pending
            if moved.any():
                am = act[moved]
                ub[am] = binary_search(u0[am], cand[moved], y[am])
                cur[am] = dist(ub[am], u0[am])
                better = cur[am] < best[am]
                best[am[better]] = cur[am[better]]
                best_u[am[better]] = ub[am[better]]
            it_done = t
            if tracker is not None:
                tracker.progress(t / iterations)
    x_adv = (best_u * s).astype(x0.dtype)
    ok = np.isfinite(best)
    if _has_structure(cons) and ok.any():
        xf = x0.reshape(n, -1)
        fixed = x_adv.copy()
        pending = ok.copy()
        for mode in ("away", "nearest"):
            pi = np.where(pending)[0]
            if len(pi) == 0:
                break
            proj = cons.project(x_adv[pi], xf[pi], rounding=mode)
            good = is_adv(proj.astype(np.float64) / s, y[pi])
            fixed[pi[good]] = proj[good]
            pending[pi[good]] = False
        ok &= ~pending
        x_adv = np.where(ok[:, None], fixed, xf.astype(x_adv.dtype))
        best = np.where(ok, dist(x_adv.astype(np.float64) / s, u0), np.inf)
    x_adv = np.where(ok[:, None], x_adv, x0.reshape(n, -1)).reshape(x0.shape)
    return HSJArrays(x_adv, ok, np.where(ok, best, np.inf), it_done, stopped)


def hop_skip_jump(
    model: Any,
    X: Any = None,
    y: Any = None,
    norm: Any = "l2",
    eps: float = DEFAULT_EPS,
    iterations: int = 10,
    init_evals: int = 100,
    max_evals: int = 1000,
    *,
    budget: Any = None,
    seed: int = 0,
    cancel: Any = None,
    progress: Any = None,
    **data_kw: Any,
):
    """Decision-based attack needing only labels. Skips samples already misclassified (Foolbox #670).

    It finds a small adversarial perturbation per sample; its size is an upper bound on the true minimum,
    so the robust accuracy it implies at eps is an upper bound too.
    """
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        rows = select_rows(len(t.X), tr.budget.max_samples, rng)
        x0, yy = t.X[rows], t.y[rows]
        clean_lab = _eval_clean(t, x0)
        correct = clean_lab == yy
        its = iterations if tr.budget.max_iter is None else min(iterations, tr.budget.max_iter)
        dist = np.full(len(rows), np.inf)
        x_adv = x0.copy()
        stopped = None
        q0 = tr.queries
        if correct.any():
            hs = hsj_arrays(t.adapter, x0[correct], yy[correct], t.constraints, nm, its, init_evals, max_evals, rng, tr, pool=(t.X, None))
            ci = np.where(correct)[0]
            dist[ci] = hs.distance
            x_adv[ci] = hs.x_adv
            stopped = hs.stopped
        clean = float(correct.mean())
        robust = float(np.mean(correct & (dist > eps)))
        fin = np.isfinite(dist)
        changed = correct & fin & (dist <= eps)
        status, summary, advice = _verdict_evasion(clean, robust, "HopSkipJump (labels only)", eps, nm, upper=True)
        n_att = int(correct.sum())
        summary += f" Median adversarial distance {np.median(dist[correct]) if n_att else float('nan'):.3g} ({_nrm_label(nm)}, upper bound); {int((~correct).sum())} already-misclassified samples skipped."
        return {
            "status": status,
            "summary": summary,
            "advice": advice,
            "upper_bound": True,
            "stopped": stopped,
            "metrics": {
                "eps": eps,
                "norm": nm,
                "iterations": its,
                "n_samples": int(len(rows)),
                "n_attacked": n_att,
                "clean_accuracy": clean,
                "robust_accuracy": robust,
                "median_distance": float(np.median(dist[correct])) if n_att else None,
                "found_rate": float(fin[correct].mean()) if n_att else 0.0,
                "queries_per_sample": (tr.queries - q0) / max(1, n_att),
            },
            "details": {
                "rows": rows,
                "distance": dist,
                "x_adv": x_adv,
                "examples": _examples(t, rows, x0, x_adv, yy, changed | (correct & fin)),
                "curve": [(0.0, clean)] + [(e, float(np.mean(correct & (dist > e)))) for e in DEFAULT_CURVE],
            },
        }

    return probe_call(f"hopskipjump_{'linf' if nm == 'inf' else 'l2'}", f"HopSkipJump ({_nrm_label(nm)}, decision-based)", "evasion", fn, model, X, y, budget=budget, seed=seed, cancel=cancel, progress=progress, data_kw=_split_kw(data_kw))


# ---------------------------------------------------------------------------------------------------
# few-pixel / few-feature search
def _groups_and_values(target: Target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Candidate (flat indices, value vector) pairs: a pixel set to extremes, or a feature set to a candidate value."""
    cons = target.constraints
    shape = target.info.sample_shape
    idx_list: list[np.ndarray] = []
    val_list: list[np.ndarray] = []
    if target.is_image:
        flat_ids = np.arange(int(np.prod(shape))).reshape(shape)
        if len(shape) == 3 and shape[0] in (1, 3, 4):
            pixels = flat_ids.reshape(shape[0], -1).T  # (H*W, C)
        elif len(shape) == 3 and shape[-1] in (1, 3, 4):
            pixels = flat_ids.reshape(-1, shape[-1])
        else:
            pixels = flat_ids.reshape(-1, 1)
        c = pixels.shape[1]
        lo, hi = float(cons.lower.min()), float(cons.upper.max())
        combos = np.array(np.meshgrid(*[[lo, hi]] * c)).reshape(c, -1).T  # (2^c, c)
        for p in pixels:
            if cons.immutable[p].any():
                continue
            for v in combos:
                idx_list.append(p)
                val_list.append(v)
    else:
        for j in range(cons.n_features):
            if cons.immutable[j]:
                continue
            for v in cons.candidate_values(j, target.X if target.X_train is None else np.concatenate([target.X_train, target.X])):
                idx_list.append(np.array([j]))
                val_list.append(np.array([v]))
    return idx_list, val_list


def _few_probe(target: Target, tracker: Tracker, rng: np.random.Generator, k: int, max_candidates: int) -> dict[str, Any]:
    rows = select_rows(len(target.X), tracker.budget.max_samples, rng)
    x0, yy = target.X[rows], target.y[rows]
    n = len(rows)
    D = int(np.prod(target.info.sample_shape))
    clean_lab = _eval_clean(target, x0)
    correct = clean_lab == yy
    idx_list, val_list = _groups_and_values(target)
    P = len(idx_list)
    if P == 0:
        raise ProbeSkipped("no feature may change (all immutable)")
    G = max(len(a) for a in idx_list)
    cidx = np.zeros((P, G), dtype=np.int64)
    cval = np.zeros((P, G))
    for p, (a, v) in enumerate(zip(idx_list, val_list)):
        cidx[p, : len(a)] = a
        cidx[p, len(a) :] = a[0]
        cval[p, : len(v)] = v
        cval[p, len(v) :] = v[0]
    if k == 1:
        exhaustive = P <= max_candidates
        chosen = np.arange(P) if exhaustive else np.sort(rng.choice(P, size=max_candidates, replace=False))
        ci, cv = cidx[chosen], cval[chosen]
    else:
        exhaustive = False
        combos = rng.integers(0, P, size=(max_candidates, k))
        ci = cidx[combos].reshape(max_candidates, k * G)
        cv = cval[combos].reshape(max_candidates, k * G)
    C = len(ci)
    ad = target.adapter
    found = np.zeros(n, dtype=bool)
    x_adv = x0.copy()
    per_chunk = max(1, (1 << 20) // max(1, C * D))
    stopped = None
    todo = np.where(correct)[0]
    for c0 in range(0, len(todo), per_chunk):
        try:
            tracker.check()
        except BudgetExhausted as exc:
            stopped = f"stopped after {c0} of {len(todo)} samples: {exc}"
            todo = todo[:c0]
            break
        sel = todo[c0 : c0 + per_chunk]
        base = x0[sel].reshape(len(sel), -1).astype(np.float64)
        cand = np.repeat(base[:, None, :], C, axis=1)  # (s, C, D)
        r = np.arange(C)[:, None]
        cand[:, r, ci] = cv[None, :, :]
        flat = cand.reshape(-1, D).astype(x0.dtype).reshape((-1,) + target.info.sample_shape)
        if ad.has_proba:
            pr = ad.predict_proba(flat).reshape(len(sel), C, -1)
            lab = pr.argmax(axis=2)
            ptrue = pr[np.arange(len(sel))[:, None], np.arange(C)[None, :], yy[sel][:, None]]
        else:
            lab = ad.predict_labels(flat).reshape(len(sel), C)
            ptrue = np.zeros((len(sel), C))
        succ = lab != yy[sel][:, None]
        for a, i in enumerate(sel):
            if succ[a].any():
                score = np.where(succ[a], ptrue[a], np.inf)
                best = int(np.argmin(score))
                found[i] = True
                x_adv[i] = cand[a, best].reshape(target.info.sample_shape).astype(x0.dtype)
        tracker.progress((c0 + len(sel)) / max(1, len(todo)))
    attacked = np.zeros(n, dtype=bool)
    attacked[todo] = True
    clean = float(correct.mean())
    n_att = int(attacked.sum())
    succ_rate = float(found[attacked].mean()) if n_att else 0.0
    robust = float(np.mean(correct & ~found))
    status = "pass" if succ_rate < 0.05 else ("warn" if succ_rate < 0.25 else "fail")
    search = "exhaustive search" if exhaustive else f"random search over {C} candidates"
    summary = f"Changing {k} {'pixel' if target.is_image else 'feature'}{'s' if k > 1 else ''} ({search}) flips {succ_rate:.0%} of {n_att} correctly classified samples: accuracy {clean:.3f} → {robust:.3f}."
    if status == "pass":
        advice = "Single-feature changes rarely flip the model; keep the check in your pipeline."
    else:
        advice = (
            "A single input value can flip the decision. Check which features are involved (examples) and whether an attacker controls them; "
            "validate ranges, mark uncontrollable columns immutable, or train with augmented data."
        )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "stopped": stopped,
        "metrics": {
            "k": k,
            "exhaustive": exhaustive,
            "candidates_per_sample": C,
            "n_samples": n,
            "n_attacked": n_att,
            "clean_accuracy": clean,
            "robust_accuracy": robust,
            "success_rate": succ_rate,
        },
        "details": {"rows": rows, "x_adv": x_adv, "found": found, "examples": _examples(target, rows, x0, x_adv, yy, found)},
    }


def few_pixel(model: Any, X: Any = None, y: Any = None, k: int = 1, max_candidates: int = 4096, *, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Set k pixels (images) or k features (tabular rows) to extreme / candidate values; k=1 is exhaustive when small.

    For tabular data candidate values are the column's range ends and quantiles (integers rounded, categories
    from their allowed set); immutable columns are never touched.
    """

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _few_probe(t, tr, rng, int(k), int(max_candidates))

    b = budget if budget is not None else Budget(max_samples=100)
    return probe_call(f"few_pixel_k{k}", f"{k}-pixel / {k}-feature search", "evasion", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw=_split_kw(data_kw))


few_feature = few_pixel
