"""Report object (HTML, JSON, attributes), session_results for %mlsec checklist, the ipywidgets panel
driven programmatically, and the keras adapter."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import mlsec
from mlsec.probes import CancelToken, ProbeReport, clear_session_results, session_results
from mlsec.probes.panel import probe_panel, scan_namespace

from probe_helpers import require_optional, require_torch


def test_quick_report_renders_exports_and_holds_numbers(digits, digits_mlp):
    Xtr, ytr, Xte, yte = digits
    seen = []
    t0 = time.perf_counter()
    report = mlsec.probe(digits_mlp, Xte, yte, X_train=Xtr, y_train=ytr, progress=lambda f, m: seen.append(f))
    elapsed = time.perf_counter() - t0
    assert isinstance(report, ProbeReport) and elapsed < 30
    assert report.names[:2] == ["robustness_curve_linf", "few_pixel_k1"]
    curve = report.robustness_curve_linf
    assert 0 <= curve.robust_accuracy < curve.clean_accuracy and curve.queries > 0 and curve.seconds > 0
    assert report["membership_inference"].auc == report.membership_inference.metrics["auc"]
    html = report._repr_html_()
    assert "<table" in html and "Robust accuracy vs" in html and "<svg" in html and "queries" in html
    data = json.loads(report.to_json())
    assert data["results"][0]["metrics"]["robust_accuracy"] == pytest.approx(curve.robust_accuracy, abs=1e-6)
    assert all({"name", "status", "summary", "queries", "seconds"} <= set(r) for r in data["results"])
    assert "x_adv" not in report.to_json()  # arrays stay out of the export
    assert seen and seen[-1] == 1.0 and all(b >= a - 1e-9 for a, b in zip(seen, seen[1:]))
    assert "data:image/png;base64" in report.to_html()
    # the examples say what changed: "7 0.98 -> 3 0.61"
    ex = report.few_pixel_k1.details["examples"][0]
    assert ex["before"] != ex["after"] and 0 < ex["before_conf"] <= 1 and 0 < ex["after_conf"] <= 1


def test_session_results_feed_the_checklist(digits, digits_lr):
    _, _, Xte, yte = digits
    clear_session_results()
    mlsec.probe(digits_lr, Xte, yte, probes=["fgsm", "membership_inference"])
    items = session_results()
    assert [i.name for i in items] == ["fgsm_linf", "membership_inference"]
    assert items[0].status in ("pass", "warn", "fail") and items[1].status == "skipped"
    assert items[0]["status"] == items[0].status and items[0]["text"] == items[0].text and items[0].text
    assert json.loads(items[0].to_json())["name"] == "fgsm_linf"


def test_unknown_probe_names_and_cancel_before_start(digits, digits_lr):
    _, _, Xte, yte = digits
    with pytest.raises(ValueError, match="unknown probe"):
        mlsec.probe(digits_lr, Xte, yte, probes=["nope"])
    token = CancelToken()
    token.cancel()
    report = mlsec.probe(digits_lr, Xte, yte, probes=["fgsm", "pgd"], cancel=token)
    assert {r.status for r in report} == {"cancelled"}


def test_panel_finds_objects_and_runs_in_the_background(digits, digits_lr, tmp_path):
    Xtr, ytr, Xte, yte = digits
    ns = {"clf": digits_lr, "X_train": Xtr, "y_train": ytr, "X_test": Xte, "y_test": yte, "_hidden": Xte, "n": 3, "text": "hi"}
    models, xs, ys = scan_namespace(ns)
    assert models == ["clf"] and xs == ["X_test", "X_train"] and ys == ["y_test", "y_train"]
    panel = probe_panel(ns)
    assert (panel.model.value, panel.X_train.value, panel.y_train.value, panel.X_test.value, panel.y_test.value) == ("clf", "X_train", "y_train", "X_test", "y_test")
    for name, cb in panel.checks.items():
        cb.value = name in ("fgsm", "few_pixel", "membership_inference", "extraction")
    panel.samples["few_pixel"].value = 20
    panel.eps.value = 0.05
    panel.run_button.click()
    assert panel.wait(120), "panel run did not finish"
    assert panel.error is None, panel.error
    assert [r.name for r in panel.report] == ["fgsm_linf", "few_pixel_k1", "membership_inference", "extraction"]
    assert panel.report.fgsm_linf.eps == 0.05 and panel.report.few_pixel_k1.n_samples == 20
    assert "<table" in panel.results.value and "Verdicts" in panel.verdicts.value
    assert panel.plots.value.count("<img") >= 2  # robustness curve / examples and the membership histogram
    assert panel.progress.value == 1.0 and not panel.run_button.disabled and panel.cancel_button.disabled
    out = panel.export("json", str(tmp_path / "r"))
    assert json.load(open(out))["results"][0]["name"] == "fgsm_linf"
    assert os.path.exists(panel.export("html", str(tmp_path / "r")))


def test_panel_cancel_stops_a_long_run(digits):
    from sklearn.ensemble import RandomForestClassifier

    Xtr, ytr, Xte, yte = digits
    rf = RandomForestClassifier(n_estimators=60, random_state=0).fit(Xtr, ytr)
    panel = probe_panel({"rf": rf, "X_test": Xte, "y_test": yte})
    for name, cb in panel.checks.items():
        cb.value = name in ("hop_skip_jump", "few_pixel_k2", "extraction")
    panel.samples["hop_skip_jump"].value = 400
    panel.seconds["hop_skip_jump"].value = 0
    t0 = time.perf_counter()
    panel.run()
    time.sleep(1.0)
    assert panel.running
    panel.cancel_button.click()
    assert panel.wait(30)
    assert time.perf_counter() - t0 < 30
    assert [r.status for r in panel.report] == ["cancelled", "cancelled", "cancelled"]
    assert "Cancelled" in panel.status.value


def test_panel_reports_bad_choices_without_raising(digits_lr):
    panel = probe_panel({"clf": digits_lr})
    panel.run()
    assert panel.wait(5) and "choose X and y" in panel.status.value


def test_keras_models_are_probed_through_their_backend(digits):
    require_torch()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require_optional("keras")
    from mlsec.probes import as_target, evasion

    Xtr, ytr, Xte, yte = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(Xtr, ytr, epochs=15, batch_size=64, verbose=0)
    t = as_target(model, Xte[:100], yte[:100])
    assert t.adapter.kind == "keras" and t.adapter.has_proba
    weights = [w.copy() for w in model.get_weights()]
    res = evasion.pgd(t, eps=0.1)
    assert res.status != "error", res.summary
    if t.adapter.has_gradient:
        assert res.robust_accuracy < res.clean_accuracy - 0.1
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_secrets_in_column_names_are_masked_in_every_export():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    X = pd.DataFrame(np.random.default_rng(0).random((120, 3)), columns=["a", token, "c"])
    y = (X["a"] > 0.5).astype(int)
    report = mlsec.probe(LogisticRegression().fit(X, y), X, y, probes=["few_pixel"], immutable=[token])
    assert report.few_pixel_k1.status in ("pass", "warn", "fail")
    for text in (report.to_json(), report.to_html(), repr(report)):
        assert token not in text
