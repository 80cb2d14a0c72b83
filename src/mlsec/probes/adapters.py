"""Model adapters chosen by capability (labels, probabilities, loss gradient), not by class name.

Every probe talks to a `ModelAdapter`: it batches inputs (so a large X never fills memory), counts
queries for the budget, and never changes the model. Torch models run on their own device in eval mode
with `requires_grad` switched off for the parameters while probing, and both are restored afterwards.
scikit-learn linear models (also inside Pipelines whose preprocessing is affine, e.g. scalers) get an
exact analytic gradient; everything else is attacked through labels or probabilities only.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterator, Optional

import numpy as np

from .budget import Tracker
from .data import DataInfo, as_numpy, iter_batches


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def map_labels(pred: np.ndarray, classes: np.ndarray, index: dict) -> np.ndarray:
    """Predicted label values -> indices into classes (-1 for unknown), vectorised when possible."""
    try:
        order = np.argsort(classes)
        pos = np.searchsorted(classes, pred, sorter=order)
        pos = np.clip(pos, 0, len(classes) - 1)
        idx = order[pos]
        return np.where(classes[idx] == pred, idx, -1).astype(np.int64)
    except (TypeError, ValueError):
        return np.array([index.get(v.item() if hasattr(v, "item") else v, -1) for v in pred], dtype=np.int64)


def _looks_like_proba(p: np.ndarray) -> bool:
    return p.ndim == 2 and p.shape[1] >= 2 and bool(np.all(p >= -1e-6)) and bool(np.allclose(p.sum(axis=1), 1.0, atol=1e-3))


class ModelAdapter:
    """Common interface. Subclasses fill `_proba_batch` / `_labels_batch` / `_grad_batch`."""

    kind = "model"
    has_proba = False
    has_gradient = False
    refittable = False

    def __init__(self, model: Any, info: DataInfo, classes: np.ndarray) -> None:
        self.model = model
        self.info = info
        self.classes = np.asarray(classes)
        self.tracker: Optional[Tracker] = None
        self.batch_size = max(1, min(4096, (1 << 22) // max(1, info.n_features)))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        return f"{type(self.model).__name__} ({self.kind}; " + ", ".join(
            c for c, ok in (("labels", True), ("probabilities", self.has_proba), ("gradients", self.has_gradient)) if ok
        ) + ")"

    @contextlib.contextmanager
    def tracking(self, tracker: Optional[Tracker]) -> Iterator["ModelAdapter"]:
        old, self.tracker = self.tracker, tracker
        try:
            yield self
        finally:
            self.tracker = old

    def _count(self, n: int) -> None:
        if self.tracker is not None:
            self.tracker.check_cancel()
            self.tracker.add_queries(n)

    # public API ---------------------------------------------------------------------------------
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not self.has_proba:
            raise TypeError(f"{self.describe()} gives no probabilities")
        out = []
        for sl in iter_batches(len(x), self.batch_size):
            self._count(sl.stop - sl.start)
            out.append(self._proba_batch(x[sl]))
        return np.concatenate(out) if out else np.zeros((0, self.n_classes))

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        """Class indices 0..K-1."""
        out = []
        for sl in iter_batches(len(x), self.batch_size):
            self._count(sl.stop - sl.start)
            out.append(self._labels_batch(x[sl]))
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Probabilities when available, else one-hot labels."""
        if self.has_proba:
            return self.predict_proba(x)
        lab = self.predict_labels(x)
        return np.eye(self.n_classes)[lab]

    def loss_gradient(self, x: np.ndarray, y: np.ndarray, with_labels: bool = False) -> Any:
        """d(cross-entropy)/dx per sample, same shape as x (and the predicted labels at x, from the same pass)."""
        if not self.has_gradient:
            raise TypeError(f"{self.describe()} gives no gradients")
        grads, labels = [], []
        for sl in iter_batches(len(x), self.batch_size):
            self._count(sl.stop - sl.start)
            g, lab = self._grad_batch(x[sl], y[sl])
            grads.append(g)
            labels.append(lab)
        g = np.concatenate(grads) if grads else np.zeros_like(x)
        if with_labels:
            return g, (np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64))
        return g

    def per_sample_loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = self.predict_proba(x)
        return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))

    # hooks ------------------------------------------------------------------------------------
    def _labels_batch(self, x: np.ndarray) -> np.ndarray:
        return self._proba_batch(x).argmax(axis=1)

    def _proba_batch(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise TypeError("no probabilities")

    def _grad_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise TypeError("no gradients")

    def refit_clone(self, X: np.ndarray, y_idx: np.ndarray, seed: int = 0) -> "ModelAdapter":
        raise TypeError(f"{type(self.model).__name__} cannot be refitted cheaply by mlsec")

    def model_input(self, x: np.ndarray) -> Any:
        return self.info.to_model_input(x)


# scikit-learn API (also XGBoost / LightGBM / CatBoost sklearn wrappers) ----------------------------
class SklearnAdapter(ModelAdapter):
    kind = "sklearn"
    refittable = True

    def __init__(self, model: Any, info: DataInfo, classes: np.ndarray) -> None:
        super().__init__(model, info, classes)
        self.has_proba = hasattr(model, "predict_proba")
        model_classes = getattr(model, "classes_", None)
        self._model_classes = np.asarray(model_classes) if model_classes is not None else self.classes
        self._index = {(c.item() if hasattr(c, "item") else c): i for i, c in enumerate(self.classes)}
        # column k of predict_proba -> index in self.classes
        self._proba_cols = np.array([self._index.get(c.item() if hasattr(c, "item") else c, -1) for c in self._model_classes])

    def _flat(self, x: np.ndarray) -> Any:
        return self.model_input(x.reshape(len(x), -1))

    def _proba_batch(self, x: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.model.predict_proba(self._flat(x)), dtype=np.float64)
        if raw.shape[1] == self.n_classes and np.all(self._proba_cols == np.arange(self.n_classes)):
            return raw
        out = np.zeros((len(x), self.n_classes))
        for k, j in enumerate(self._proba_cols):
            if j >= 0:
                out[:, j] = raw[:, k]
        return out

    def _labels_batch(self, x: np.ndarray) -> np.ndarray:
        return map_labels(as_numpy(self.model.predict(self._flat(x))).reshape(-1), self.classes, self._index)

    def refit_clone(self, X: np.ndarray, y_idx: np.ndarray, seed: int = 0) -> "ModelAdapter":
        """Fit a clone (never the user's estimator) on (X, labels); random_state set to seed for reproducibility."""
        from sklearn.base import clone

        est = clone(self.model)
        params = est.get_params()
        seeds = {k: seed for k in params if k == "random_state" or k.endswith("__random_state")}
        if seeds:
            est.set_params(**seeds)
        est.fit(self._flat(X), self.classes[y_idx])
        new = make_adapter(est, self.info, classes=self.classes)
        return new


class SklearnLinearAdapter(SklearnAdapter):
    """Linear classifier (optionally after affine preprocessing): exact cross-entropy gradient on its logits."""

    kind = "sklearn-linear"
    has_gradient = True

    def __init__(self, model: Any, info: DataInfo, classes: np.ndarray, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__(model, info, classes)
        self.W = W  # (K, d) over the model's own class order mapped to self.classes
        self.b = b

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.reshape(len(x), -1), dtype=np.float64) @ self.W.T + self.b

    def _labels_batch(self, x: np.ndarray) -> np.ndarray:
        # equal to model.predict (checked when the adapter was built), without sklearn's per-call validation
        return self.logits(x).argmax(axis=1)

    def _grad_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = x.reshape(len(x), -1).astype(np.float64)
        z = flat @ self.W.T + self.b
        p = _softmax(z)
        labels = z.argmax(axis=1)
        p[np.arange(len(y)), y] -= 1.0
        return (p @ self.W).reshape(x.shape).astype(x.dtype, copy=False), labels


def _linear_parts(model: Any, X_sample: np.ndarray, info: DataInfo, classes: np.ndarray) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(W, b) such that softmax(x @ W.T + b) reproduces the model's decision scores, or None."""
    final, pre = model, None
    if hasattr(model, "steps") and hasattr(model, "named_steps"):
        final = model.steps[-1][1]
        pre = model[:-1] if len(model.steps) > 1 else None
    coef = getattr(final, "coef_", None)
    intercept = getattr(final, "intercept_", None)
    if coef is None or intercept is None or not hasattr(final, "decision_function"):
        return None
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    if info.source == "pandas" and info.category_values:
        return None
    d = info.n_features
    if pre is not None:
        # affine preprocessing: T(x) = x @ A + c, recovered from d+1 evaluations and then verified
        basis = np.vstack([np.zeros(d), np.eye(d)])
        try:
            tb = np.asarray(pre.transform(info.to_model_input(basis)), dtype=np.float64)
        except Exception:
            return None
        if hasattr(tb, "toarray"):
            return None
        c = tb[0]
        A = tb[1:] - c
    else:
        A, c = np.eye(d), np.zeros(d)
    if A.shape[1] != coef.shape[1]:
        return None
    W_model = coef @ A.T  # (k, d)
    b_model = c @ coef.T + intercept
    model_classes = np.asarray(getattr(final, "classes_", classes))
    if W_model.shape[0] == 1 and len(model_classes) == 2:
        W_model = np.vstack([np.zeros(d), W_model[0]])
        b_model = np.array([0.0, b_model[0]])
    if W_model.shape[0] != len(model_classes):
        return None
    index = {(c_.item() if hasattr(c_, "item") else c_): i for i, c_ in enumerate(classes)}
    W = np.zeros((len(classes), d))
    b = np.full(len(classes), -1e9)
    for k, cls in enumerate(model_classes):
        j = index.get(cls.item() if hasattr(cls, "item") else cls)
        if j is None:
            return None
        W[j], b[j] = W_model[k], b_model[k]
    # verify against the real model on a sample (guards against clipping or non-affine steps)
    sample = X_sample.reshape(len(X_sample), -1)[:64].astype(np.float64)
    if len(sample):
        rng = np.random.default_rng(0)
        sample = np.vstack([sample, sample + rng.normal(scale=0.05, size=sample.shape) * (np.ptp(sample, axis=0) + 1e-12)])
        seen = info.to_model_input(sample)  # integer dtype columns are rounded on the way in
        if hasattr(seen, "to_numpy"):
            sample = seen.to_numpy(dtype=np.float64)
        try:
            ref = np.asarray(model.decision_function(seen), dtype=np.float64)
        except Exception:
            return None
        ours = sample @ W_model.T + b_model
        if ref.ndim == 1:
            ours = ours[:, 1] - ours[:, 0]
        if not np.allclose(ref, ours, rtol=1e-5, atol=1e-6 * (1 + np.abs(ref).max())):
            return None
    return W, b


# PyTorch ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def torch_probe_mode(model: Any) -> Iterator[None]:
    """Eval mode and frozen parameters while probing; every module's mode and flag restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.training = mode


@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Temporarily cap torch's intra-op threads (restored afterwards); None leaves them alone."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    if old <= n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _torch_thread_cap(model: Any) -> Optional[int]:
    """Small models run single-threaded: on a busy 2-core machine thread hand-offs cost more than they
    save (measured 25x slower PGD on a 64-128-10 MLP). MLSEC_TORCH_THREADS overrides (0 = leave alone)."""
    import os

    env = os.environ.get("MLSEC_TORCH_THREADS")
    if env is not None and env.strip().isdigit():
        return int(env) or None
    n_params = sum(p.numel() for p in model.parameters())
    return 1 if n_params < 2_000_000 else None


class TorchAdapter(ModelAdapter):
    kind = "torch"
    has_proba = True
    has_gradient = True
    refittable = False

    def __init__(self, model: Any, info: DataInfo, classes: np.ndarray, output: str, device: Any, dtype: Any) -> None:
        super().__init__(model, info, classes)
        self.output = output  # "logits" | "probs" | "binary_logit"
        self.device = device
        self.dtype = dtype
        self.threads = _torch_thread_cap(model) if getattr(device, "type", "cpu") == "cpu" else None
        self.batch_size = max(1, min(1024, (1 << 21) // max(1, info.n_features)))

    def _tensor(self, x: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)

    def _log_probs(self, out: Any) -> Any:
        import torch

        if self.output == "binary_logit":
            z = out.reshape(-1, 1)
            return torch.cat([torch.nn.functional.logsigmoid(-z), torch.nn.functional.logsigmoid(z)], dim=1)
        if self.output == "probs":
            return torch.log(out.clamp_min(1e-12))
        return torch.log_softmax(out, dim=1)

    def _proba_batch(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch_threads(self.threads), torch_probe_mode(self.model), torch.no_grad():
            lp = self._log_probs(self.model(self._tensor(x)))
        return lp.exp().double().cpu().numpy()

    def _grad_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch_threads(self.threads), torch_probe_mode(self.model), torch.enable_grad():
            xt = self._tensor(x).requires_grad_(True)
            lp = self._log_probs(self.model(xt))
            loss = torch.nn.functional.nll_loss(lp, torch.as_tensor(y, device=self.device), reduction="sum")
            (g,) = torch.autograd.grad(loss, xt)
        return g.detach().cpu().numpy().astype(x.dtype, copy=False), lp.argmax(dim=1).cpu().numpy()

    def copy_model(self) -> Any:
        return copy.deepcopy(self.model)


def _torch_output_kind(out: np.ndarray) -> str:
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        return "binary_logit"
    return "probs" if _looks_like_proba(out) else "logits"


# Keras (any backend) -----------------------------------------------------------------------------------
class KerasAdapter(ModelAdapter):
    kind = "keras"
    has_proba = True

    def __init__(self, model: Any, info: DataInfo, classes: np.ndarray, output: str) -> None:
        super().__init__(model, info, classes)
        self.output = output
        import keras

        self.backend = keras.backend.backend()
        self.has_gradient = self.backend in ("torch", "tensorflow")
        self.batch_size = max(1, min(1024, (1 << 21) // max(1, info.n_features)))

    def _raw(self, x: np.ndarray) -> np.ndarray:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(self.model(x.astype(np.float32), training=False)), dtype=np.float64)

    def _proba_batch(self, x: np.ndarray) -> np.ndarray:
        out = self._raw(x)
        if self.output == "binary_logit" or (out.ndim == 2 and out.shape[1] == 1):
            z = out.reshape(-1)
            p1 = z if self.output == "binary_prob" else 1 / (1 + np.exp(-z))
            return np.stack([1 - p1, p1], axis=1)
        return out if self.output == "probs" else _softmax(out)

    def _grad_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        onehot = np.eye(self.n_classes)[y]
        if self.backend == "torch":
            import torch

            xt = torch.as_tensor(x.astype(np.float32)).requires_grad_(True)
            out = self.model(xt, training=False)
            lp = self._torch_logp(out)
            loss = -(lp * torch.as_tensor(onehot, dtype=lp.dtype, device=lp.device)).sum()
            (g,) = torch.autograd.grad(loss, xt)
            return g.detach().cpu().numpy().astype(x.dtype), lp.argmax(dim=1).detach().cpu().numpy()
        import tensorflow as tf  # pragma: no cover - exercised only with a TF backend

        xt = tf.convert_to_tensor(x.astype(np.float32))
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = self.model(xt, training=False)
            if self.output == "probs":
                lp = tf.math.log(tf.clip_by_value(out, 1e-12, 1.0))
            else:
                lp = tf.nn.log_softmax(out, axis=1)
            loss = -tf.reduce_sum(lp * onehot)
        return tape.gradient(loss, xt).numpy().astype(x.dtype), np.asarray(lp).argmax(axis=1)

    def _torch_logp(self, out: Any) -> Any:
        import torch

        if self.output in ("binary_logit", "binary_prob"):
            z = out.reshape(-1, 1)
            if self.output == "binary_prob":
                z = torch.logit(z.clamp(1e-7, 1 - 1e-7))
            return torch.cat([torch.nn.functional.logsigmoid(-z), torch.nn.functional.logsigmoid(z)], dim=1)
        if self.output == "probs":
            return torch.log(out.clamp_min(1e-12))
        return torch.log_softmax(out, dim=1)


# plain callables ---------------------------------------------------------------------------------------
class CallableAdapter(ModelAdapter):
    kind = "callable"

    def __init__(self, model: Callable[..., Any], info: DataInfo, classes: np.ndarray, returns: str) -> None:
        super().__init__(model, info, classes)
        self.returns = returns  # "proba" | "labels"
        self.has_proba = returns == "proba"
        self._index = {(c.item() if hasattr(c, "item") else c): i for i, c in enumerate(self.classes)}

    def _call(self, x: np.ndarray) -> np.ndarray:
        return as_numpy(self.model(self.model_input(x)))

    def _proba_batch(self, x: np.ndarray) -> np.ndarray:
        return self._call(x).astype(np.float64)

    def _labels_batch(self, x: np.ndarray) -> np.ndarray:
        out = self._call(x)
        if self.returns == "proba":
            return out.argmax(axis=1)
        return map_labels(out.reshape(-1), self.classes, self._index)


# factory ---------------------------------------------------------------------------------------------
def _is_torch_module(model: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(model).__mro__)


def _is_keras_model(model: Any) -> bool:
    return any(c.__module__.startswith(("keras", "tf_keras", "tensorflow.python.keras")) for c in type(model).__mro__)


def _is_regressor(model: Any) -> bool:
    if getattr(model, "_estimator_type", None) == "regressor":
        return True
    try:
        tags = model.__sklearn_tags__()
        return getattr(tags, "estimator_type", None) == "regressor"
    except Exception:
        return False


def make_adapter(
    model: Any,
    info: DataInfo,
    X_sample: Optional[np.ndarray] = None,
    y: Optional[np.ndarray] = None,
    classes: Optional[np.ndarray] = None,
) -> ModelAdapter:
    """Pick an adapter by what the model can do. `X_sample` (internal numeric rows) lets us check outputs."""
    if isinstance(model, ModelAdapter):
        return model
    sample = X_sample[:8] if X_sample is not None else None
    # keras first: with the torch backend a keras Model is also an nn.Module
    if _is_keras_model(model) and hasattr(model, "predict"):
        import keras

        if sample is None:
            raise ValueError("a keras model needs X to find its output shape")
        out = np.asarray(keras.ops.convert_to_numpy(model(sample.astype(np.float32), training=False)), dtype=np.float64)
        if out.ndim == 1 or out.shape[1] == 1:
            kind = "binary_prob" if np.all((out >= 0) & (out <= 1)) else "binary_logit"
            k = 2
        else:
            kind = "probs" if _looks_like_proba(out) else "logits"
            k = out.shape[1]
        cls = np.arange(k) if classes is None else np.asarray(classes)
        return KerasAdapter(model, info, cls, kind)
    if _is_torch_module(model):
        import torch

        params = list(model.parameters())
        device = params[0].device if params else torch.device("cpu")
        dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
        if sample is None:
            raise ValueError("a torch model needs X to find its output shape")
        with torch_probe_mode(model), torch.no_grad():
            out = model(torch.as_tensor(np.ascontiguousarray(sample), dtype=dtype, device=device)).double().cpu().numpy()
        kind = _torch_output_kind(out)
        k = 2 if kind == "binary_logit" else out.shape[1]
        cls = np.arange(k) if classes is None else np.asarray(classes)
        return TorchAdapter(model, info, cls, kind, device, dtype)
    if hasattr(model, "predict") and (hasattr(model, "fit") or hasattr(model, "classes_")):
        if _is_regressor(model):
            raise TypeError(f"{type(model).__name__} is a regressor; the probes cover classifiers (labels or probabilities)")
        cls = classes
        if cls is None:
            cls = getattr(model, "classes_", None)
        if cls is None and y is not None:
            cls = np.unique(as_numpy(y))
        if cls is None:
            raise ValueError(f"cannot tell the classes of {type(model).__name__}; pass y or classes=")
        cls = np.asarray(cls)
        if info.source == "pandas" and not info.category_values and not hasattr(model, "feature_names_in_"):
            import dataclasses

            info = dataclasses.replace(info, source="numpy")  # fitted on arrays: feed arrays
        if X_sample is not None:
            parts = _linear_parts(model, X_sample, info, cls)
            if parts is not None:
                return SklearnLinearAdapter(model, info, cls, *parts)
        return SklearnAdapter(model, info, cls)
    if callable(model):
        if sample is None:
            raise ValueError("a callable model needs X to tell labels from probabilities")
        out = as_numpy(model(info.to_model_input(sample)))
        if out.ndim == 2 and out.shape[1] >= 2 and np.issubdtype(out.dtype, np.floating):
            if not _looks_like_proba(out.astype(np.float64)):
                raise ValueError("the callable returns a 2-D array that is not probabilities (rows must sum to 1)")
            cls = np.arange(out.shape[1]) if classes is None else np.asarray(classes)
            return CallableAdapter(model, info, cls, "proba")
        cls = classes
        if cls is None:
            vals = [out.reshape(-1)]
            if y is not None:
                vals.append(as_numpy(y).reshape(-1))
            cls = np.unique(np.concatenate(vals))
        return CallableAdapter(model, info, np.asarray(cls), "labels")
    raise TypeError(
        f"mlsec cannot probe a {type(model).__name__}: pass a scikit-learn style estimator, a torch nn.Module, "
        "a keras Model, or a callable returning labels or probabilities"
    )
