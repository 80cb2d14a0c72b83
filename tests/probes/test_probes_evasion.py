"""FGSM / PGD against independent reference computations; attacks lower robust accuracy; budgets, seeds, cancel."""
from __future__ import annotations

import time

import numpy as np
import pytest

from mlsec.probes import CancelToken, evasion

from probe_helpers import require_torch


def _torch_ref_pgd(torch, net, X, y, eps, steps, alpha, norm):
    x0 = torch.tensor(X)
    yt = torch.tensor(y)
    xa = x0.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(net(xa), yt, reduction="sum")  # per-sample gradients
        (g,) = torch.autograd.grad(loss, xa)
        xa = xa.detach()
        if norm == "inf":
            xa = xa + alpha * g.sign()
            xa = torch.min(torch.max(xa, x0 - eps), x0 + eps)
        else:
            xa = xa + alpha * g / (g.flatten(1).norm(dim=1, keepdim=True) + 1e-12)
            d = xa - x0
            d = d * torch.clamp(eps / (d.flatten(1).norm(dim=1, keepdim=True) + 1e-12), max=1.0)
            xa = x0 + d
        xa = xa.clamp(0.0, 1.0)
    return xa.numpy()


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), ("l2", 0.8)])
def test_torch_fgsm_equals_autograd_reference(digits_mlp, digits, norm, eps):
    torch = require_torch()
    _, _, Xte, yte = digits
    X, y = Xte[:120], yte[:120]
    res = evasion.fgsm(digits_mlp, X, y, eps=eps, norm=norm)
    assert res.status in ("pass", "warn", "fail"), res.summary
    ref = _torch_ref_pgd(torch, digits_mlp, X, y, eps, 1, eps, norm)
    np.testing.assert_allclose(res.details["x_adv"], ref, atol=1e-5)
    assert res.queries >= len(X) and res.seconds > 0


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), ("l2", 0.8)])
def test_torch_pgd_equals_autograd_reference(digits_mlp, digits, norm, eps):
    torch = require_torch()
    _, _, Xte, yte = digits
    X, y = Xte[:120], yte[:120]
    res = evasion.pgd(digits_mlp, X, y, eps=eps, norm=norm, steps=10, step_size=eps / 4, return_best=False)
    ref = _torch_ref_pgd(torch, digits_mlp, X, y, eps, 10, eps / 4, norm)
    np.testing.assert_allclose(res.details["x_adv"], ref, atol=1e-5)
    # robust accuracy is what the model says on those examples
    pred = digits_mlp(torch.tensor(ref)).argmax(1).numpy()
    assert res.robust_accuracy == pytest.approx(float(np.mean(pred == y)))
    assert res.robust_accuracy < res.clean_accuracy - 0.2


def test_sklearn_linear_fgsm_pgd_equal_analytic_gradient(digits_lr, digits):
    _, _, Xte, yte = digits
    X, y = Xte[:150].astype(np.float64), yte[:150]
    W = digits_lr.coef_

    def grad(x):
        p = digits_lr.predict_proba(x)
        p[np.arange(len(y)), y] -= 1.0
        return p @ W  # d CE / dx for multinomial logistic regression

    eps = 0.1
    ref = np.clip(X + eps * np.sign(grad(X)), 0, 1)
    res = evasion.fgsm(digits_lr, X, y, eps=eps)
    np.testing.assert_allclose(res.details["x_adv"], ref, atol=1e-9)

    alpha, xa = 0.03, X.copy()
    for _ in range(10):
        xa = np.clip(np.clip(xa + alpha * np.sign(grad(xa)), X - eps, X + eps), 0, 1)
    res = evasion.pgd(digits_lr, X, y, eps=eps, steps=10, step_size=alpha, return_best=False)
    np.testing.assert_allclose(res.details["x_adv"], xa, atol=1e-9)
    assert res.robust_accuracy < res.clean_accuracy


def test_pipeline_with_scaler_gets_exact_gradient(digits):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xte, yte = digits
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)
    res = evasion.pgd(pipe, Xte[:100], yte[:100], eps=0.1)
    assert res.status != "error", res.summary
    from mlsec.probes import as_target

    assert as_target(pipe, Xte[:100], yte[:100]).adapter.has_gradient
    assert res.robust_accuracy < res.clean_accuracy - 0.1


def test_return_best_never_weaker_and_random_start_is_seeded(digits_mlp, digits):
    _, _, Xte, yte = digits
    X, y = Xte[:100], yte[:100]
    plain = evasion.pgd(digits_mlp, X, y, eps=0.05, steps=10, return_best=False)
    best = evasion.pgd(digits_mlp, X, y, eps=0.05, steps=10, return_best=True)
    assert best.robust_accuracy <= plain.robust_accuracy
    a = evasion.pgd(digits_mlp, X, y, eps=0.05, steps=5, random_start=True, seed=3)
    b = evasion.pgd(digits_mlp, X, y, eps=0.05, steps=5, random_start=True, seed=3)
    c = evasion.pgd(digits_mlp, X, y, eps=0.05, steps=5, random_start=True, seed=4)
    np.testing.assert_array_equal(a.details["x_adv"], b.details["x_adv"])
    assert not np.array_equal(a.details["x_adv"], c.details["x_adv"])


def test_robustness_curve_decreases(digits_mlp, digits):
    _, _, Xte, yte = digits
    res = evasion.robustness_curve(digits_mlp, Xte, yte, eps=(0.05, 0.1, 0.2), budget={"max_samples": 150})
    accs = [p["robust_accuracy"] for p in res.curve]
    assert accs[0] == pytest.approx(res.clean_accuracy)
    assert all(b <= a + 1e-9 for a, b in zip(accs, accs[1:]))
    assert accs[-1] < 0.2
    assert all("queries" in p and "seconds" in p for p in res.curve)
    assert res.details["curve"][0] == (0.0, res.clean_accuracy)


def test_hop_skip_jump_on_tree_model_is_labelled_upper_bound(digits):
    from sklearn.ensemble import RandomForestClassifier

    Xtr, ytr, Xte, yte = digits
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(Xtr, ytr)
    X, y = Xte[:40], yte[:40]
    res = evasion.hop_skip_jump(rf, X, y, norm="l2", eps=1.0, iterations=5, init_evals=40, max_evals=200)
    assert res.status in ("pass", "warn", "fail"), res.summary
    assert res.upper_bound and "upper bound" in res.summary
    assert res.robust_accuracy < res.clean_accuracy
    # already-misclassified rows were skipped, every reported distance belongs to a real adversarial example
    wrong = rf.predict(X) != y
    dist = res.details["distance"]
    assert np.all(np.isinf(dist[wrong]))
    found = np.isfinite(dist)
    assert found.sum() > 0.8 * (~wrong).sum()
    xa = res.details["x_adv"][found]
    assert np.all(rf.predict(xa) != y[found])
    measured = np.sqrt(((xa - X[found]) ** 2).sum(axis=1))
    np.testing.assert_allclose(measured, dist[found], rtol=1e-4, atol=1e-6)


def test_one_pixel_exhaustive_is_fast_and_valid(digits_mlp, digits):
    _, _, Xte, yte = digits
    X, y = Xte[:20], yte[:20]
    t0 = time.perf_counter()
    res = evasion.few_pixel(digits_mlp, X, y, k=1)
    assert time.perf_counter() - t0 < 3.0
    assert res.exhaustive and res.candidates_per_sample == 128
    assert res.success_rate > 0.05
    found = res.details["found"]
    xa = res.details["x_adv"]
    changed = (np.abs(xa - X) > 0).sum(axis=1)
    assert np.all(changed[found] == 1)
    assert set(np.unique(xa[np.abs(xa - X) > 0])) <= {0.0, 1.0}


def test_budget_cancel_and_bad_input_never_raise(digits_mlp, digits):
    _, _, Xte, yte = digits
    token = CancelToken()
    token.cancel()
    res = evasion.pgd(digits_mlp, Xte, yte, cancel=token)
    assert res.status == "cancelled"
    res = evasion.pgd(digits_mlp, Xte, yte, steps=50, budget={"max_samples": 100, "max_seconds": 0.0})
    assert res.stopped and "time budget" in res.stopped
    res = evasion.pgd(digits_mlp, Xte, yte[:10])
    assert res.status == "error" and "rows" in res.summary
    res = evasion.fgsm(object(), Xte, yte)
    assert res.status == "error"
    res = evasion.pgd(digits_mlp, Xte, yte, budget={"max_samples": 50, "max_queries": 120})
    assert res.queries <= 120 + 3 * 50 and res.stopped


def test_callable_models(digits_lr, digits):
    _, _, Xte, yte = digits
    X, y = Xte[:40], yte[:40]
    labels_fn = lambda x: digits_lr.predict(x)  # noqa: E731
    proba_fn = lambda x: digits_lr.predict_proba(x)  # noqa: E731
    r1 = evasion.few_pixel(labels_fn, X, y)
    r2 = evasion.few_pixel(proba_fn, X, y)
    assert r1.status != "error" and r2.status != "error", (r1.summary, r2.summary)
    assert r1.robust_accuracy < r1.clean_accuracy
    r3 = evasion.pgd(labels_fn, X, y)
    assert r3.status == "skipped" and "gradients" in r3.summary
    r4 = evasion.hop_skip_jump(labels_fn, X, y, iterations=3, init_evals=30)
    assert r4.robust_accuracy < r4.clean_accuracy


def test_torch_tensor_inputs_match_numpy(digits_mlp, digits):
    torch = require_torch()
    _, _, Xte, yte = digits
    a = evasion.pgd(digits_mlp, Xte[:80], yte[:80], steps=5)
    b = evasion.pgd(digits_mlp, torch.tensor(Xte[:80]), torch.tensor(yte[:80]), steps=5)
    np.testing.assert_array_equal(a.details["x_adv"], b.details["x_adv"])


def test_large_inputs_are_sampled_down_and_rows_map_back(digits_lr, digits):
    from mlsec.probes import as_target, poisoning

    Xtr, ytr, Xte, yte = digits
    t = as_target(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr, max_rows=300)
    assert len(t.X) == 300 and len(t.X_train) == 300 and "sampled from" in t.describe_data()
    y_bad = ytr.copy()
    y_bad[t.train_rows[:10]] = (y_bad[t.train_rows[:10]] + 1) % 10
    res = poisoning.suspicious_points(digits_lr, Xte, yte, X_train=Xtr, y_train=y_bad, max_rows=300)
    flagged = set(res.details["flagged_rows"].tolist())
    assert flagged <= set(t.train_rows.tolist()) and len(flagged & set(t.train_rows[:10].tolist())) >= 7
