"""Helpers for the probe tests: torch requirement, parameter hashes, a tiny MLP trainer."""
from __future__ import annotations

import hashlib
import os
import pickle

import pytest


def require_torch():
    """Import torch; skip without it, but fail when MLSEC_REQUIRE_TORCH=1 (CI sets it)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if os.environ.get("MLSEC_REQUIRE_TORCH") == "1":
            pytest.fail(f"torch is required (MLSEC_REQUIRE_TORCH=1) but cannot be imported: {exc}")
        pytest.skip("torch not installed")
    return torch


def torch_state_hash(model) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def pickle_hash(obj) -> str:
    return hashlib.sha256(pickle.dumps(obj)).hexdigest()


def train_mlp(torch, Xtr, ytr, epochs=80, hidden=128, seed=0, weight_decay=0.0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(Xtr.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, int(ytr.max()) + 1))
        opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=weight_decay)
        Xt, yt = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
        for _ in range(epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt), yt).backward()
            opt.step()
    net.eval()
    return net


def require_optional(name: str):
    """Import an optional library (keras, lightgbm); skip without it, fail when MLSEC_REQUIRE_OPTIONAL=1."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if os.environ.get("MLSEC_REQUIRE_OPTIONAL") == "1":
            pytest.fail(f"{name} is required (MLSEC_REQUIRE_OPTIONAL=1) but cannot be imported: {exc}")
        pytest.skip(f"{name} not installed")
