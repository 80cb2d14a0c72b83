"""Poisoning and exploratory probes: label flips, suspicious rows, membership inference, extraction, leakage."""
from __future__ import annotations

import numpy as np
import pytest

from mlsec.probes import exploratory, poisoning

from probe_helpers import pickle_hash


@pytest.fixture(scope="module")
def overfit_rf(digits):
    from sklearn.ensemble import RandomForestClassifier

    Xtr, ytr, _, _ = digits
    return RandomForestClassifier(n_estimators=50, random_state=0).fit(Xtr, ytr)


def test_membership_auc_high_on_overfit_and_near_half_on_regularised(digits, overfit_rf):
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, Xte, yte = digits
    hi = exploratory.membership_inference(overfit_rf, Xte, yte, X_train=Xtr, y_train=ytr)
    assert hi.auc > 0.7 and hi.status == "fail", hi.summary
    reg = LogisticRegression(C=0.01, max_iter=500).fit(Xtr, ytr)
    lo = exploratory.membership_inference(reg, Xte, yte, X_train=Xtr, y_train=ytr)
    assert abs(lo.auc - 0.5) < 0.08 and lo.status == "pass", lo.summary
    assert len(hi.details["scores_in"]) == len(hi.details["scores_out"]) == hi.n_members
    # label-only models fall back to correctness scores
    labels_only = exploratory.membership_inference(lambda x: overfit_rf.predict(x), Xte, yte, X_train=Xtr, y_train=ytr)
    assert "labels only" in labels_only.summary and labels_only.auc > 0.5


def test_membership_needs_training_data(digits, digits_lr):
    _, _, Xte, yte = digits
    res = exploratory.membership_inference(digits_lr, Xte, yte)
    assert res.status == "skipped" and "X_train" in res.summary


def test_extraction_agreement_high_on_a_simple_model(digits, digits_lr):
    Xtr, ytr, Xte, yte = digits
    res = exploratory.extraction(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr, n_queries=600)
    assert res.agreement > 0.9 and res.n_queries == 600
    assert res.status == "fail" and res.queries >= 600


def test_confidence_leakage_compares_probabilities_with_labels(digits, overfit_rf):
    Xtr, ytr, Xte, yte = digits
    res = exploratory.confidence_leakage(overfit_rf, Xte, yte, X_train=Xtr, y_train=ytr)
    assert res.membership_auc_probabilities > res.membership_auc_labels + 0.1
    assert res.auc_gain == pytest.approx(res.membership_auc_probabilities - res.membership_auc_labels)
    assert res.status in ("warn", "fail")
    labels_only = exploratory.confidence_leakage(lambda x: overfit_rf.predict(x), Xte, yte, X_train=Xtr, y_train=ytr)
    assert labels_only.status == "skipped"


def test_knn_check_finds_most_flipped_labels(digits, digits_lr):
    Xtr, ytr, Xte, yte = digits
    y_bad, flipped = poisoning.flip_labels(ytr, 0.1, 10, np.random.default_rng(1))
    res = poisoning.suspicious_points(digits_lr, Xte, yte, X_train=Xtr, y_train=y_bad)
    found = set(res.details["flagged_rows"].tolist())
    recall = len(found & set(flipped.tolist())) / len(flipped)
    precision = len(found & set(flipped.tolist())) / max(1, len(found))
    assert recall > 0.85 and precision > 0.6, (recall, precision)
    assert res.status == "fail" and res.rows_to_inspect[:5]
    clean = poisoning.suspicious_points(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr)
    assert clean.flagged < res.flagged / 3 and clean.status == "pass"


def test_label_flip_refits_a_clone_and_accuracy_falls(digits, digits_lr):
    Xtr, ytr, Xte, yte = digits
    before = pickle_hash(digits_lr)
    res = poisoning.label_flip(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr, rates=(0.1, 0.4))
    assert pickle_hash(digits_lr) == before
    accs = [p["accuracy"] for p in res.curve]
    assert accs[-1] < accs[0] - 0.03
    assert all(p["seconds"] > 0 for p in res.curve)
    again = poisoning.label_flip(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr, rates=(0.1, 0.4))
    assert [p["accuracy"] for p in again.curve] == accs  # seeded
    assert poisoning.label_flip(lambda x: digits_lr.predict(x), Xte, yte, X_train=Xtr, y_train=ytr).status == "skipped"
