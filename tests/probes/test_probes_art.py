"""The optional ART bridge runs ART's Square Attack on models ART cannot wrap itself (a Pipeline with a forest)."""
from __future__ import annotations

import subprocess
import sys

from probe_helpers import require_optional


def test_square_attack_through_the_adapter_on_a_pipeline(digits):
    require_optional("art")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlsec.probes.art_bridge import art_evasion

    Xtr, ytr, Xte, yte = digits
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=20, random_state=0)).fit(Xtr, ytr)
    a = art_evasion(pipe, Xte, yte, attack_kwargs={"max_iter": 30}, budget={"max_samples": 25})
    assert a.status in ("pass", "warn", "fail"), a.summary
    assert a.robust_accuracy < a.clean_accuracy and a.queries > 25
    b = art_evasion(pipe, Xte, yte, attack_kwargs={"max_iter": 30}, budget={"max_samples": 25})
    assert b.robust_accuracy == a.robust_accuracy  # seeded
    diff = abs(a.details["x_adv"] - Xte[a.details["rows"]]).max()
    assert 0 < diff <= 0.1 + 1e-6


def test_art_is_not_imported_by_the_core_probes():
    code = (
        "import sys, numpy as np, mlsec\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X = np.random.default_rng(0).random((80, 5)); y = (X[:, 0] > 0.5).astype(int)\n"
        "r = mlsec.probe(LogisticRegression().fit(X, y), X, y, X_train=X, y_train=y)\n"
        "print(len(r), 'art' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["9", "False", "False"], out.stdout + out.stderr
