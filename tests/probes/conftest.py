"""Shared data and small models for the probe tests (digits; tiny torch models trained here)."""
from __future__ import annotations

import numpy as np
import pytest

from probe_helpers import require_torch, train_mlp


@pytest.fixture(scope="session", autouse=True)
def _single_threaded():
    """Fit the test models single-threaded: on the shared 2-core machine threaded BLAS / torch spin
    and made model training 10-30x slower. The probes limit threads themselves while running."""
    from threadpoolctl import threadpool_limits

    torch = None
    try:
        import torch
    except ImportError:
        pass
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    if torch is not None:
        torch.set_num_threads(old)


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[::2], y[::2], X[1::2], y[1::2]


@pytest.fixture(scope="session")
def digits_lr(digits):
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, _, _ = digits
    return LogisticRegression(max_iter=2000).fit(Xtr, ytr)


@pytest.fixture(scope="session")
def digits_mlp(digits):
    torch = require_torch()
    Xtr, ytr, _, _ = digits
    return train_mlp(torch, Xtr, ytr)
