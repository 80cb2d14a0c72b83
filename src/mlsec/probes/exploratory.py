"""Exploratory probes: what the model's outputs give away.

- membership inference: can a loss (or confidence) threshold tell training rows from held-out rows? (AUC)
- model extraction: how well does a surrogate fitted on N victim queries agree with the victim?
- confidence leakage: how much more the probability outputs reveal than the labels alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .budget import Budget, Tracker
from .target import ProbeSkipped, Target, probe_call, select_rows


def auc_score(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of scores (higher = positive) via the Mann-Whitney statistic, ties counted half."""
    from scipy.stats import rankdata

    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def max_advantage(pos: np.ndarray, neg: np.ndarray) -> float:
    """max over thresholds of TPR - FPR (the membership advantage of the best threshold attack)."""
    th = np.unique(np.concatenate([pos, neg]))
    if len(th) > 512:
        th = np.quantile(th, np.linspace(0, 1, 512))
    tpr = (pos[None, :] >= th[:, None]).mean(axis=1)
    fpr = (neg[None, :] >= th[:, None]).mean(axis=1)
    return float(np.max(tpr - fpr)) if len(th) else 0.0


def _membership_scores(t: Target, x: np.ndarray, y: np.ndarray, use_proba: bool) -> np.ndarray:
    if use_proba:
        return -t.adapter.per_sample_loss(x, y)  # higher = more likely a member
    return (t.adapter.predict_labels(x) == y).astype(np.float64)


def _balanced(t: Target, tr: Tracker, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if t.X_train is None or t.y_train is None:
        raise ProbeSkipped("Membership inference needs the training rows (X_train, y_train) and held-out rows (X, y).")
    limit = tr.budget.max_samples
    n = min(len(t.X_train), len(t.X))
    if limit is not None:
        n = min(n, max(2, limit // 2))
    a = np.sort(rng.choice(len(t.X_train), size=n, replace=False))
    b = np.sort(rng.choice(len(t.X), size=n, replace=False))
    return t.X_train[a], t.y_train[a], t.X[b], t.y[b]


def _membership(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
    xi, yi, xo, yo = _balanced(t, tr, rng)
    use_proba = t.adapter.has_proba
    s_in = _membership_scores(t, xi, yi, use_proba)
    tr.progress(0.5)
    s_out = _membership_scores(t, xo, yo, use_proba)
    auc = auc_score(s_in, s_out)
    adv = max_advantage(s_in, s_out)
    status = "pass" if auc < 0.6 else ("warn" if auc < 0.7 else "fail")
    how = "per-sample loss" if use_proba else "correctness (labels only)"
    summary = (
        f"A {how} threshold tells training rows from held-out rows with AUC {auc:.3f} "
        f"(0.5 = no better than chance; best threshold advantage {adv:.3f}) on {len(s_in)} + {len(s_out)} rows."
    )
    advice = {
        "pass": "Little membership signal at this level. Stronger (shadow-model) attacks can still do better; ART offers them as an extra.",
        "warn": "Training rows are somewhat recognisable. Regularise (weight decay, early stopping, fewer epochs), or train with differential privacy if the data is sensitive.",
        "fail": "The model remembers its training rows: anyone with its outputs can tell members. Regularise, reduce overfitting, return labels instead of probabilities, or train with differential privacy.",
    }[status]
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {"auc": auc, "advantage": adv, "score": how, "n_members": int(len(s_in)), "n_nonmembers": int(len(s_out))},
        "details": {"scores_in": s_in, "scores_out": s_out},
    }


def membership_inference(model: Any, X: Any = None, y: Any = None, *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Loss-threshold membership inference (Yeom et al. 2018): AUC on training rows vs held-out X."""
    b = budget if budget is not None else Budget(max_samples=2000)
    return probe_call("membership_inference", "Membership inference", "exploratory", _membership, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})


# ---------------------------------------------------------------------------------------------------
def _query_pool(t: Target, n_queries: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Attacker's queries (training rows when given, else half of X, topped up with noisy copies) and held-out eval rows."""
    if t.X_train is not None:
        pool, evalx = t.X_train, t.X
    else:
        perm = rng.permutation(len(t.X))
        half = len(t.X) // 2
        pool, evalx = t.X[perm[:half]], t.X[perm[half:]]
    if len(pool) == 0:
        raise ProbeSkipped("not enough rows for an extraction test")
    if len(pool) >= n_queries:
        q = pool[np.sort(rng.choice(len(pool), size=n_queries, replace=False))]
    else:
        extra = pool[rng.integers(0, len(pool), size=n_queries - len(pool))].astype(np.float64)
        flat = extra.reshape(len(extra), -1)
        flat = flat + rng.normal(scale=0.05, size=flat.shape) * t.constraints.scale * t.constraints.continuous_mask
        extra = t.constraints.project(flat, extra.reshape(len(extra), -1), rounding="nearest").reshape(extra.shape)
        q = np.concatenate([pool, extra.astype(pool.dtype)])
    return q, evalx


def _surrogates(seed: int) -> list[tuple[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    # one linear and one local family: cheap to fit, and between them close to what an attacker gets
    return [
        ("logistic regression", LogisticRegression(max_iter=300, C=10.0)),
        ("3-nearest-neighbour model", KNeighborsClassifier(n_neighbors=3)),
    ]


def fit_surrogate_agreement(t: Target, Xq: np.ndarray, yq: np.ndarray, Xe: np.ndarray, ye_victim: np.ndarray, seed: int) -> tuple[float, str]:
    """Best agreement with the victim on Xe among a few surrogate families fitted on (Xq, victim labels yq)."""
    s = t.constraints.scale
    fq = Xq.reshape(len(Xq), -1) / s
    fe = Xe.reshape(len(Xe), -1) / s
    best, name = 0.0, ""
    if len(np.unique(yq)) < 2:
        return float(np.mean(ye_victim == yq[0])), "constant"
    for nm, est in _surrogates(seed):
        est.fit(fq, yq)
        agr = float(np.mean(est.predict(fe) == ye_victim))
        if agr > best:
            best, name = agr, nm
    return best, name


def _extraction(t: Target, tr: Tracker, rng: np.random.Generator, n_queries: int) -> dict[str, Any]:
    Xq, Xe_all = _query_pool(t, n_queries, rng)
    Xe = Xe_all[select_rows(len(Xe_all), tr.budget.max_samples, rng)]
    q0 = tr.queries
    yq = t.adapter.predict_labels(Xq)
    q_used = tr.queries - q0
    tr.progress(0.3)
    ye = t.adapter.predict_labels(Xe)
    seed = int(rng.integers(0, 2**31 - 1))
    agreement, family = fit_surrogate_agreement(t, Xq, yq, Xe, ye, seed)
    status = "fail" if agreement >= 0.9 else ("warn" if agreement >= 0.75 else "pass")
    summary = f"A {family} fitted on {q_used} label queries agrees with the model on {agreement:.1%} of {len(Xe)} held-out rows."
    advice = (
        "The model is cheap to copy through its API: rate-limit and monitor queries, return labels rather than scores, "
        "and consider watermarking if the model is valuable."
        if status != "pass"
        else "A cheap surrogate does not copy this model well with this many queries; re-check with more queries before relying on it."
    )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {"agreement": agreement, "surrogate": family, "n_queries": int(q_used), "n_eval": int(len(Xe))},
    }


def extraction(model: Any, X: Any = None, y: Any = None, n_queries: int = 600, *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Fit a surrogate on N victim label queries; report agreement with the victim on held-out rows."""

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _extraction(t, tr, rng, int(n_queries))

    b = budget if budget is not None else Budget(max_samples=1000)
    return probe_call("extraction", "Model extraction", "exploratory", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})


# ---------------------------------------------------------------------------------------------------
def _soft_agreement(t: Target, Xq: np.ndarray, pq: np.ndarray, Xe: np.ndarray, ye: np.ndarray) -> float:
    """Surrogate fitted on log-probabilities (multi-output ridge): agreement with the victim's labels."""
    from sklearn.linear_model import Ridge

    s = t.constraints.scale
    fq = Xq.reshape(len(Xq), -1) / s
    fe = Xe.reshape(len(Xe), -1) / s
    target = np.log(np.clip(pq, 1e-6, 1.0))
    target -= target.mean(axis=1, keepdims=True)
    est = Ridge(alpha=1.0).fit(fq, target)
    return float(np.mean(est.predict(fe).argmax(axis=1) == ye))


def _hard_agreement(t: Target, Xq: np.ndarray, yq: np.ndarray, Xe: np.ndarray, ye: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    s = t.constraints.scale
    if len(np.unique(yq)) < 2:
        return float(np.mean(ye == yq[0]))
    est = LogisticRegression(max_iter=500, C=10.0).fit(Xq.reshape(len(Xq), -1) / s, yq)
    return float(np.mean(est.predict(Xe.reshape(len(Xe), -1) / s) == ye))


def _leakage(t: Target, tr: Tracker, rng: np.random.Generator, n_queries: int) -> dict[str, Any]:
    if not t.adapter.has_proba:
        raise ProbeSkipped("The model returns labels only, so no confidence scores leak beyond them.")
    metrics: dict[str, Any] = {}
    parts = []
    if t.X_train is not None:
        xi, yi, xo, yo = _balanced(t, tr, rng)
        auc_p = auc_score(_membership_scores(t, xi, yi, True), _membership_scores(t, xo, yo, True))
        auc_l = auc_score(_membership_scores(t, xi, yi, False), _membership_scores(t, xo, yo, False))
        metrics.update({"membership_auc_probabilities": auc_p, "membership_auc_labels": auc_l, "auc_gain": auc_p - auc_l})
        parts.append(f"membership AUC {auc_l:.3f} from labels vs {auc_p:.3f} from probabilities")
    tr.progress(0.5)
    Xq, Xe_all = _query_pool(t, n_queries, rng)
    Xe = Xe_all[select_rows(len(Xe_all), tr.budget.max_samples, rng)]
    pq = t.adapter.predict_proba(Xq)
    ye = t.adapter.predict_labels(Xe)
    soft = _soft_agreement(t, Xq, pq, Xe, ye)
    hard = _hard_agreement(t, Xq, pq.argmax(axis=1), Xe, ye)
    metrics.update({"n_queries": int(len(Xq)), "agreement_labels": hard, "agreement_probabilities": soft, "agreement_gain": soft - hard})
    parts.append(f"a copy from {len(Xq)} queries agrees {hard:.1%} when fitted on labels vs {soft:.1%} on probabilities")
    top = np.sort(pq, axis=1)[:, ::-1]
    metrics["mean_top_probability"] = float(top[:, 0].mean())
    gain = max(metrics.get("auc_gain", 0.0), metrics["agreement_gain"])
    status = "pass" if gain < 0.05 else ("warn" if gain < 0.15 else "fail")
    summary = "Probabilities reveal more than labels: " + "; ".join(parts) + "."
    advice = (
        "Expose only the label (or top-k labels with coarsely rounded scores) to untrusted callers; keep full probabilities internal."
        if status != "pass"
        else "Probability outputs add little over labels here; rounding them is still cheap insurance."
    )
    return {"status": status, "summary": summary, "advice": advice, "metrics": metrics}


def confidence_leakage(model: Any, X: Any = None, y: Any = None, n_queries: int = 100, *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Membership AUC and extraction agreement with probabilities vs with labels only: the gain is the leakage."""

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _leakage(t, tr, rng, int(n_queries))

    b = budget if budget is not None else Budget(max_samples=1000)
    return probe_call("confidence_leakage", "Confidence leakage", "exploratory", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})
