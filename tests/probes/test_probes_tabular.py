"""Tabular data: constraints (ranges, integer, categorical, immutable) hold in every adversarial row;
DataFrames, Pipelines, tree ensembles and boosted models through their sklearn API."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsec.probes import as_target, evasion

from probe_helpers import require_optional


@pytest.fixture(scope="module")
def risk_data():
    """breast_cancer framed as a risk model, with an integer count column, a categorical code and an immutable column."""
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    df = d.data.iloc[:, :10].copy()
    rng = np.random.default_rng(0)
    df["prior_alerts"] = np.clip(np.round(d.data["worst concave points"] * 20 + rng.integers(0, 3, len(df))), 0, None).astype(int)
    df["channel"] = rng.integers(0, 4, len(df)).astype(float)  # category codes 0..3
    y = d.target.to_numpy()
    idx = rng.permutation(len(df))
    tr, te = idx[:380], idx[380:]
    return df.iloc[tr].reset_index(drop=True), y[tr], df.iloc[te].reset_index(drop=True), y[te]


@pytest.fixture(scope="module")
def raw_lr(risk_data):
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, _, _ = risk_data
    return LogisticRegression(solver="liblinear").fit(Xtr.to_numpy(), ytr)


SPEC = dict(categorical=["channel"], immutable=["mean radius", "mean texture"])


def _assert_valid(target, X_orig, X_adv):
    cons = target.constraints
    assert cons.violations(X_adv, X_orig) == []
    a = np.asarray(X_adv, dtype=float)
    o = np.asarray(X_orig, dtype=float)
    cols = list(target.info.columns)
    j_int, j_cat = cols.index("prior_alerts"), cols.index("channel")
    assert cons.integer[j_int] and not cons.integer[j_cat]
    assert np.all(a[:, j_int] == np.round(a[:, j_int]))
    assert set(np.unique(a[:, j_cat])) <= {0.0, 1.0, 2.0, 3.0}
    for name in SPEC["immutable"]:
        j = cols.index(name)
        np.testing.assert_array_equal(a[:, j], o[:, j])
    assert np.all(a >= cons.lower - 1e-9) and np.all(a <= cons.upper + 1e-9)


def test_constraints_hold_for_every_attack_on_a_linear_pipeline(risk_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xte, yte = risk_data
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)
    t = as_target(pipe, Xte, yte, X_train=Xtr, y_train=ytr, **SPEC)
    assert t.adapter.has_gradient, t.adapter.describe()
    rows = None
    for res in (
        evasion.fgsm(t, eps=0.2),
        evasion.pgd(t, eps=0.2),
        evasion.pgd(t, eps=0.5, norm="l2"),
        evasion.hop_skip_jump(t, iterations=4, init_evals=30),
        evasion.few_pixel(t, k=1),
        evasion.few_pixel(t, k=2, max_candidates=300),
    ):
        assert res.status in ("pass", "warn", "fail"), res.summary
        rows = res.details["rows"]
        _assert_valid(t, t.X[rows], res.details["x_adv"])
    res = evasion.pgd(t, eps=0.3)
    assert res.robust_accuracy < res.clean_accuracy


def test_constraints_hold_for_tree_ensembles_and_dataframes_with_string_categories(risk_data):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    Xtr, ytr, Xte, yte = risk_data
    names = np.array(["web", "branch", "phone", "partner"], dtype=object)
    Xtr2, Xte2 = Xtr.copy(), Xte.copy()
    Xtr2["channel"] = names[Xtr["channel"].astype(int)]
    Xte2["channel"] = names[Xte["channel"].astype(int)]
    ct = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["channel"]), remainder="passthrough")
    models = [
        make_pipeline(ct, RandomForestClassifier(n_estimators=30, random_state=0)).fit(Xtr2, ytr),
        make_pipeline(ct, HistGradientBoostingClassifier(max_iter=30, random_state=0)).fit(Xtr2, ytr),
    ]
    for m in models:
        _check_black_box(m, Xte2, yte, Xtr2, ytr, names)


def test_lightgbm_through_its_sklearn_api(risk_data):
    lightgbm = require_optional("lightgbm")
    Xtr, ytr, Xte, yte = risk_data
    m = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0).fit(Xtr, ytr)
    _check_black_box(m, Xte, yte, Xtr, ytr, None)


def _check_black_box(m, X_te, yte, X_tr, ytr, names):
    t = as_target(m, X_te, yte, X_train=X_tr, y_train=ytr, **SPEC)
    assert not t.adapter.has_gradient
    results = (evasion.hop_skip_jump(t, eps=0.5, iterations=3, init_evals=30, budget={"max_samples": 25}), evasion.few_pixel(t, budget={"max_samples": 40}))
    for res in results:
        assert res.status in ("pass", "warn", "fail"), res.summary
        _assert_valid(t, t.X[res.details["rows"]], res.details["x_adv"])
        # the adversarial rows go back to the model as DataFrames with the original category strings
        back = t.info.to_model_input(res.details["x_adv"])
        assert isinstance(back, pd.DataFrame) and list(back.columns) == list(X_te.columns)
        if names is not None:
            assert set(back["channel"]) <= set(names)
    assert results[0].found_rate > 0.5 and results[1].robust_accuracy < results[1].clean_accuracy, [r.summary for r in results]


def test_integer_columns_round_toward_the_original_so_the_bound_holds(risk_data, raw_lr):
    Xtr, ytr, Xte, yte = risk_data
    t = as_target(raw_lr, Xte.to_numpy(), yte, integer=[10], categorical=[11], immutable=[0, 1])
    res = evasion.pgd(t, eps=0.05)
    xa, xo = res.details["x_adv"], t.X[res.details["rows"]]
    s = t.constraints.scale
    assert np.all(np.abs(xa - xo) / s <= 0.05 + 1e-9)
    assert t.constraints.violations(xa, xo) == []


def test_numpy_and_pandas_inputs_agree(risk_data, raw_lr):
    Xtr, ytr, Xte, yte = risk_data
    a = evasion.fgsm(raw_lr, Xte.to_numpy(), yte, eps=0.1)
    b = evasion.fgsm(raw_lr, Xte, pd.Series(yte), eps=0.1)
    assert a.status != "error" and a.robust_accuracy == b.robust_accuracy
    np.testing.assert_allclose(a.details["x_adv"], b.details["x_adv"])
