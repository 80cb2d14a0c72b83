"""Never harm the user's work: weights, modes, requires_grad, RNG state and estimators unchanged;
defences run on copies; `import mlsec` stays light; large X is batched."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

import mlsec
from mlsec.probes import defences

from probe_helpers import pickle_hash, require_torch, torch_state_hash


def _bn_net(torch, Xtr, ytr):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(64, 10)
        )
        opt = torch.optim.Adam(net.parameters(), 1e-2)
        Xt, yt = torch.tensor(Xtr), torch.tensor(ytr)
        for _ in range(40):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt), yt).backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
    return net


def test_torch_model_state_modes_flags_and_rng_untouched(digits):
    torch = require_torch()
    Xtr, ytr, Xte, yte = digits
    net = _bn_net(torch, Xtr, ytr)
    net.train()  # the user left it in training mode, with BatchNorm and Dropout
    net[0].weight.requires_grad_(False)  # and froze one tensor
    net[4].eval()  # one submodule in a different mode
    before = torch_state_hash(net)
    modes = [m.training for m in net.modules()]
    flags = [p.requires_grad for p in net.parameters()]
    np.random.seed(123)
    torch.manual_seed(321)
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    threads = torch.get_num_threads()

    report = mlsec.probe(
        net, Xte, yte, X_train=Xtr, y_train=ytr, probes="all",
        budgets={"hop_skip_jump": {"max_samples": 10}, "robustness_curve": {"max_samples": 60}, "adversarial_finetune": {"max_samples": 60}},
        options={"epochs": 2},
    )
    assert {r.status for r in report} <= {"pass", "warn", "fail", "skipped"}, [(r.name, r.summary) for r in report if r.status == "error"]
    assert report.adversarial_finetune.status in ("pass", "warn")

    assert torch_state_hash(net) == before  # weights and BatchNorm running statistics
    assert [m.training for m in net.modules()] == modes
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads


def test_sklearn_estimators_are_cloned_not_refitted(digits, digits_lr):
    Xtr, ytr, Xte, yte = digits
    before = pickle_hash(digits_lr)
    state = np.random.get_state()[1].copy()
    report = mlsec.probe(digits_lr, Xte, yte, X_train=Xtr, y_train=ytr)
    assert pickle_hash(digits_lr) == before
    assert np.array_equal(np.random.get_state()[1], state)
    assert report.label_flip.status != "error" and report.adversarial_finetune.status != "error"


def test_adversarial_finetune_gain_on_a_copy(digits, digits_mlp):
    require_torch()
    Xtr, ytr, Xte, yte = digits
    before = torch_state_hash(digits_mlp)
    res = defences.adversarial_finetune(digits_mlp, Xte, yte, X_train=Xtr, y_train=ytr, eps=0.1, epochs=8, budget={"max_samples": 150})
    assert torch_state_hash(digits_mlp) == before
    assert res.robust_accuracy_gain > 0.1, res.summary
    assert res.robust_accuracy_after > res.robust_accuracy_before
    assert "not changed" in res.summary


def test_feature_squeezing_detects_gradient_examples(digits, digits_mlp):
    _, _, Xte, yte = digits
    res = defences.feature_squeezing(digits_mlp, Xte, yte, eps=0.1)
    assert res.status in ("pass", "warn"), res.summary
    assert res.auc > 0.75 and res.detection_rate > 0.4, res.summary
    assert res.false_positive_rate <= 0.1


def test_large_inputs_are_batched(digits_lr):
    from mlsec.probes import as_target

    X = np.random.default_rng(0).random((60_000, 64)).astype(np.float32)
    t = as_target(digits_lr, X, digits_lr.predict(X))
    assert t.adapter.batch_size * 64 <= (1 << 22)
    calls = []
    orig = t.adapter._labels_batch
    t.adapter._labels_batch = lambda x: (calls.append(len(x)), orig(x))[1]
    lab = t.adapter.predict_labels(t.X)
    assert len(calls) > 1 and max(calls) <= t.adapter.batch_size and np.array_equal(lab, t.y)


def test_import_mlsec_stays_light():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mlsec"], capture_output=True, text=True, check=True)
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not loaded & {"numpy", "torch", "sklearn", "scipy", "pandas", "matplotlib", "ipywidgets", "art"}, loaded
