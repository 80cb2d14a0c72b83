"""Defence probes: would feature squeezing catch the attacks found, and how much would a short adversarial
fine-tune (on a copy) raise robust accuracy?"""
from __future__ import annotations

import copy
import time
from typing import Any, Optional

import numpy as np

from .adapters import SklearnLinearAdapter, TorchAdapter, make_adapter, torch_threads
from .budget import Budget, Tracker
from .evasion import DEFAULT_EPS, fgsm_arrays, hsj_arrays, norm_name, pgd_arrays
from .exploratory import auc_score
from .target import ProbeSkipped, Target, probe_call, select_rows


def squeeze_bits(x: np.ndarray, lower: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Bit-depth reduction in units of each feature's range (Xu et al. 2018)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    levels = 2**bits - 1
    u = np.clip((flat - lower) / scale, 0, 1)
    return (lower + np.round(u * levels) / levels * scale).reshape(x.shape).astype(x.dtype)


def squeeze_median(x: np.ndarray, image_shape: tuple[int, ...], size: int = 2) -> np.ndarray:
    from scipy.ndimage import median_filter

    imgs = x.reshape((len(x),) + tuple(image_shape))
    footprint = (1,) + (size, size) + (1,) * (imgs.ndim - 3)
    if imgs.ndim == 4 and imgs.shape[1] in (1, 3, 4):  # channels first
        footprint = (1, 1, size, size)
    return median_filter(imgs, size=footprint, mode="reflect").reshape(x.shape)


def _adversarial_set(t: Target, tr: Tracker, rng: np.random.Generator, eps: float, norm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Originals, successful adversarial versions and labels, from the strongest cheap attack available."""
    rows = select_rows(len(t.X), tr.budget.max_samples, rng)
    x0, y = t.X[rows], t.y[rows]
    ok = t.adapter.predict_labels(x0) == y
    x0, y = x0[ok], y[ok]
    if t.adapter.has_gradient:
        res = pgd_arrays(t.adapter, x0, y, t.constraints, eps, norm, 20, None, False, True, rng, tr)
        x_adv, lab, how = res.x_adv, res.labels_adv, f"PGD-20 at ε = {eps:g}"
    else:
        hs = hsj_arrays(t.adapter, x0[:20], y[:20], t.constraints, norm, iterations=4, init_evals=30, max_evals=200, rng=rng, tracker=tr, pool=(t.X, None))
        x0, y = x0[:20], y[:20]
        x_adv, lab, how = hs.x_adv, np.where(hs.found, -1, y), "HopSkipJump (4 iterations)"
    succ = lab != y
    return x0, x_adv, succ, how


def _squeeze_scores(t: Target, x: np.ndarray, squeezers: list) -> np.ndarray:
    base = t.adapter.scores(x)
    best = np.zeros(len(x))
    for sq in squeezers:
        best = np.maximum(best, np.abs(base - t.adapter.scores(sq(x))).sum(axis=1))
    return best


def _squeezing(t: Target, tr: Tracker, rng: np.random.Generator, eps: float, norm: str, bits: Optional[int], fpr: float) -> dict[str, Any]:
    x0, x_adv, succ, how = _adversarial_set(t, tr, rng, eps, norm)
    if succ.sum() < 2:
        raise ProbeSkipped(f"{how} found fewer than 2 adversarial examples, so there is nothing to detect.")
    tr.progress(0.6)
    c = t.constraints
    shape = t.info.image_shape
    colour = t.is_image and shape is not None and len(shape) == 3 and min(shape[0], shape[-1]) > 1
    # Xu et al. use 1-bit for MNIST and 5-bit for CIFAR; on 8x8 digits 2-bit measured best (AUC 0.94 vs FGSM/PGD)
    b = bits if bits is not None else (2 if t.is_image and not colour else 5)
    squeezers = [lambda x: squeeze_bits(x, c.lower, c.scale, b)]
    names = [f"{b}-bit depth"]
    if t.is_image and shape is not None and min(shape[-2:]) >= 16:
        squeezers.append(lambda x: squeeze_median(x, shape, 2))
        names.append("2x2 median filter")
    s_clean = _squeeze_scores(t, x0, squeezers)
    s_adv = _squeeze_scores(t, x_adv[succ], squeezers)
    threshold = float(np.quantile(s_clean, 1 - fpr))
    detect = float(np.mean(s_adv > threshold))
    false_pos = float(np.mean(s_clean > threshold))
    auc = auc_score(s_adv, s_clean)
    status = "pass" if detect >= 0.8 else "warn"
    summary = (
        f"Feature squeezing ({' + '.join(names)}) flags {detect:.0%} of {int(succ.sum())} adversarial examples from {how} "
        f"at a {false_pos:.0%} false-positive rate on clean inputs (AUC {auc:.3f})."
    )
    advice = (
        "Squeezing is a cheap detector for these attacks; an adaptive attacker can evade it, so pair it with robust training."
        if status == "pass"
        else "Squeezing misses many of these examples; prefer adversarial training and query monitoring over this detector."
    )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {"detection_rate": detect, "false_positive_rate": false_pos, "auc": auc, "threshold": threshold, "n_adversarial": int(succ.sum()), "attack": how, "squeezers": names},
        "details": {"scores_clean": s_clean, "scores_adversarial": s_adv},
    }


def feature_squeezing(model: Any, X: Any = None, y: Any = None, eps: float = DEFAULT_EPS, norm: Any = "inf", bits: Optional[int] = None, fpr: float = 0.05, *, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Detection rate of feature squeezing against the evasion examples found (threshold at `fpr` on clean inputs)."""
    nm = norm_name(norm)

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _squeezing(t, tr, rng, eps, nm, bits, fpr)

    b = budget if budget is not None else Budget(max_samples=200)
    return probe_call("feature_squeezing", "Feature-squeezing detection", "defence", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw=data_kw)


# ---------------------------------------------------------------------------------------------------
def _finetune_torch(t: Target, tr: Tracker, rng: np.random.Generator, eps: float, epochs: int, lr: float, seed: int) -> TorchAdapter:
    import torch

    ad: TorchAdapter = t.adapter  # type: ignore[assignment]
    twin = copy.deepcopy(ad.model)  # the user's model is never touched
    twin.train()
    for p in twin.parameters():
        p.requires_grad_(True)
    c = t.constraints
    dev, dt = ad.device, ad.dtype
    shape = (1,) + t.info.sample_shape
    s = torch.as_tensor(c.scale, dtype=dt, device=dev).reshape(shape)
    lo = torch.as_tensor(c.lower, dtype=dt, device=dev).reshape(shape)
    hi = torch.as_tensor(c.upper, dtype=dt, device=dev).reshape(shape)
    m = torch.as_tensor(c.continuous_mask.astype(np.float64), dtype=dt, device=dev).reshape(shape)
    keep = select_rows(len(t.X_train), 20_000, rng)  # a short fine-tune needs no more rows
    X = torch.as_tensor(np.ascontiguousarray(t.X_train[keep]), dtype=dt, device=dev)
    Y = torch.as_tensor(t.y_train[keep], device=dev)
    opt = torch.optim.Adam([p for p in twin.parameters() if p.is_floating_point()], lr=lr)
    bs = 64
    with torch_threads(ad.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for ep in range(epochs):
            tr.check()
            perm = rng.permutation(len(X))
            for b0 in range(0, len(X), bs):
                idx = torch.as_tensor(perm[b0 : b0 + bs], device=dev)
                xb, yb = X[idx], Y[idx]
                xg = xb.clone().requires_grad_(True)
                loss = torch.nn.functional.nll_loss(ad._log_probs(twin(xg)), yb)
                (g,) = torch.autograd.grad(loss, xg)
                x_adv = torch.minimum(torch.maximum(xb + eps * s * torch.sign(g) * m, lo), hi).detach()
                opt.zero_grad()
                loss = 0.5 * torch.nn.functional.nll_loss(ad._log_probs(twin(xb)), yb) + 0.5 * torch.nn.functional.nll_loss(ad._log_probs(twin(x_adv)), yb)
                loss.backward()
                opt.step()
                tr.add_queries(2 * len(idx))
            tr.progress(0.2 + 0.6 * (ep + 1) / epochs)
    twin.eval()
    return TorchAdapter(twin, t.info, ad.classes, ad.output, dev, dt)


def _finetune_linear(t: Target, tr: Tracker, rng: np.random.Generator, eps: float, rounds: int, seed: int) -> Any:
    ad = t.adapter
    cur = ad
    Xa, ya = t.X_train, t.y_train
    for r in range(rounds):
        tr.check()
        adv = fgsm_arrays(cur, t.X_train, t.y_train, t.constraints, eps, "inf", tracker=None)
        Xa = np.concatenate([Xa, adv.x_adv])
        ya = np.concatenate([ya, t.y_train])
        from sklearn.base import clone

        est = clone(ad.model)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        est.fit(ad.info.to_model_input(Xa.reshape(len(Xa), -1)), ad.classes[ya])
        cur = make_adapter(est, ad.info, X_sample=t.X, classes=ad.classes)
        if not cur.has_gradient:
            raise ProbeSkipped("the refitted copy is no longer linear; cannot evaluate it with gradients")
        tr.progress(0.2 + 0.6 * (r + 1) / rounds)
    return cur


def _finetune(t: Target, tr: Tracker, rng: np.random.Generator, eps: float, epochs: int, lr: float) -> dict[str, Any]:
    if t.X_train is None or t.y_train is None:
        raise ProbeSkipped("The adversarial fine-tune needs training rows (X_train, y_train).")
    ad = t.adapter
    seed = int(rng.integers(0, 2**31 - 1))
    if isinstance(ad, TorchAdapter):
        how = f"{epochs} epochs of FGSM adversarial training on a copy"
        make = lambda: _finetune_torch(t, tr, rng, eps, epochs, lr, seed)  # noqa: E731
    elif isinstance(ad, SklearnLinearAdapter):
        how = "a refit of a clone on training rows plus their FGSM versions (2 rounds)"
        make = lambda: _finetune_linear(t, tr, rng, eps, 2, seed)  # noqa: E731
    else:
        raise ProbeSkipped(f"A cheap adversarial fine-tune is available for torch models and linear scikit-learn models, not for {ad.describe()}.")
    rows = select_rows(len(t.X), tr.budget.max_samples, rng)
    x0, y = t.X[rows], t.y[rows]
    t0 = time.perf_counter()
    before = pgd_arrays(ad, x0, y, t.constraints, eps, "inf", 10, None, False, True, rng, None)
    clean_before = float(np.mean(ad.predict_labels(x0) == y))
    tr.progress(0.2)
    twin = make()
    twin.tracker = tr
    after = pgd_arrays(twin, x0, y, t.constraints, eps, "inf", 10, None, False, True, rng, None)
    clean_after = float(np.mean(twin.predict_labels(x0) == y))
    rb, ra = float(np.mean(before.labels_adv == y)), float(np.mean(after.labels_adv == y))
    gain = ra - rb
    status = "pass" if gain < 0.05 else "warn"
    summary = (
        f"{how[0].upper() + how[1:]} moves PGD-10 robust accuracy at ε = {eps:g} from {rb:.3f} to {ra:.3f} "
        f"({gain:+.3f}); clean accuracy {clean_before:.3f} → {clean_after:.3f}. Your model was not changed."
    )
    advice = (
        "Cheap robustness is on the table: add adversarial examples to training (PGD adversarial training for stronger guarantees) and re-run these probes."
        if status == "warn"
        else "A short adversarial fine-tune adds little here; the model is already about as robust as this cheap defence makes it."
    )
    return {
        "status": status,
        "summary": summary,
        "advice": advice,
        "metrics": {
            "eps": eps,
            "robust_accuracy_before": rb,
            "robust_accuracy_after": ra,
            "robust_accuracy_gain": gain,
            "clean_accuracy_before": clean_before,
            "clean_accuracy_after": clean_after,
            "method": how,
            "finetune_seconds": round(time.perf_counter() - t0, 4),
        },
    }


def adversarial_finetune(model: Any, X: Any = None, y: Any = None, eps: float = DEFAULT_EPS, epochs: int = 10, lr: float = 1e-3, *, X_train: Any = None, y_train: Any = None, budget: Any = None, seed: int = 0, cancel: Any = None, progress: Any = None, **data_kw: Any):
    """Robust-accuracy gain of a short FGSM adversarial fine-tune on a copy (torch) or an augmented refit of a clone (linear sklearn)."""

    def fn(t: Target, tr: Tracker, rng: np.random.Generator) -> dict[str, Any]:
        return _finetune(t, tr, rng, eps, int(epochs), float(lr))

    b = budget if budget is not None else Budget(max_samples=200, max_seconds=60)
    return probe_call("adversarial_finetune", "Adversarial fine-tune gain", "defence", fn, model, X, y, budget=b, seed=seed, cancel=cancel, progress=progress, data_kw={"X_train": X_train, "y_train": y_train, **data_kw})
