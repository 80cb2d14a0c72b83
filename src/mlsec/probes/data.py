"""Inputs as numpy (from numpy, pandas or torch) plus the tabular constraints that attacks must keep.

Attacks work on a numeric copy of the data. `DataInfo` remembers how to turn a perturbed copy back into
what the model expects (a DataFrame with the same columns and category values, or the original shape),
and `Constraints` says which values a perturbed row may take: per-feature ranges from the data, integer
and categorical columns, and columns the user marks immutable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np


@dataclass
class DataInfo:
    """How the user's X looked, so perturbed arrays can be handed back in the same form."""

    source: str  # "numpy" | "pandas" | "torch"
    kind: str  # "image" | "tabular"
    sample_shape: tuple[int, ...]
    columns: Optional[list[Any]] = None
    dtypes: Optional[list[Any]] = None
    # column index -> original category values (code i stands for values[i])
    category_values: dict[int, list[Any]] = field(default_factory=dict)
    dtype: Any = np.float64
    display_shape: Optional[tuple[int, ...]] = None  # user's image_shape for flat image rows

    @property
    def n_features(self) -> int:
        return int(np.prod(self.sample_shape))

    @property
    def image_shape(self) -> Optional[tuple[int, ...]]:
        """(H, W) or (C, H, W) / (H, W, C) for plotting; None for tabular data."""
        if self.kind != "image":
            return None
        if self.display_shape is not None:
            return tuple(self.display_shape)
        if len(self.sample_shape) >= 2:
            return self.sample_shape
        side = int(round(np.sqrt(self.sample_shape[0])))
        return (side, side)

    def to_model_input(self, x: np.ndarray) -> Any:
        """Internal numeric array (n, *sample_shape) -> what the model was trained on."""
        if self.source != "pandas":
            return x
        import pandas as pd

        x2 = x.reshape(len(x), -1)
        data: dict[Any, Any] = {}
        for j, col in enumerate(self.columns or range(x2.shape[1])):
            v = x2[:, j]
            if j in self.category_values:
                vals = self.category_values[j]
                codes = np.clip(np.rint(v).astype(int), 0, len(vals) - 1)
                data[col] = pd.Series(np.asarray(vals, dtype=object)[codes]).astype(self.dtypes[j])
            elif self.dtypes is not None and np.issubdtype(np.dtype(self.dtypes[j]), np.integer):
                data[col] = np.rint(v).astype(self.dtypes[j])
            else:
                data[col] = v
        return pd.DataFrame(data)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_pandas(x: Any) -> bool:
    return type(x).__module__.startswith("pandas")


def as_numpy(x: Any) -> np.ndarray:
    """Any array-like (numpy, pandas, torch, list) -> numpy, never copying the user's buffer in place."""
    if _is_torch(x):
        return x.detach().cpu().numpy()
    if _is_pandas(x):
        return x.to_numpy()
    return np.asarray(x)


def _float_dtype(a: np.ndarray) -> Any:
    return np.float32 if a.dtype == np.float32 else np.float64


def prepare_X(
    X: Any,
    kind: Optional[str] = None,
    image_shape: Optional[Sequence[int]] = None,
) -> tuple[np.ndarray, DataInfo]:
    """Numeric float copy of X (n, *sample_shape) and the DataInfo to convert back.

    kind: "image" or "tabular"; guessed when None (ndim >= 3, or a flat square >= 7x7 that is not a DataFrame).
    """
    if X is None:
        raise ValueError("X is required")
    if _is_pandas(X):
        import pandas as pd

        df = X.to_frame() if isinstance(X, pd.Series) else X
        cols = list(df.columns)
        dtypes = list(df.dtypes)
        cat_values: dict[int, list[Any]] = {}
        arrays = []
        for j, col in enumerate(cols):
            s = df[col]
            if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                values = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(pd.unique(s.dropna()), key=str)
                lookup = {v: i for i, v in enumerate(values)}
                arrays.append(np.array([lookup.get(v, -1) for v in s], dtype=np.float64))
                cat_values[j] = values
            else:
                arrays.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
        arr = np.stack(arrays, axis=1) if arrays else np.zeros((len(df), 0))
        info = DataInfo("pandas", kind or "tabular", (arr.shape[1],), cols, dtypes, cat_values, np.float64)
        return arr, info
    source = "torch" if _is_torch(X) else "numpy"
    arr = as_numpy(X)
    if arr.dtype == object:
        raise ValueError("X holds Python objects; pass numbers (or a DataFrame with category columns)")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    arr = arr.astype(_float_dtype(arr), copy=True)
    sample_shape = tuple(arr.shape[1:])
    if kind is None:
        if arr.ndim >= 3 or image_shape is not None:
            kind = "image"
        else:
            d = sample_shape[0]
            side = int(round(np.sqrt(d)))
            kind = "image" if d >= 49 and side * side == d else "tabular"
    info = DataInfo(source, kind, sample_shape, dtype=arr.dtype)
    if image_shape is not None and arr.ndim == 2:
        info.display_shape = tuple(int(v) for v in image_shape)
    return arr, info


def _column_indices(spec: Any, info: DataInfo) -> list[int]:
    """Column names or indices (or a boolean mask) -> indices."""
    if spec is None:
        return []
    if isinstance(spec, (str, int, np.integer)):
        spec = [spec]
    spec = list(spec)
    if spec and all(isinstance(s, (bool, np.bool_)) for s in spec):
        return [i for i, s in enumerate(spec) if s]
    out = []
    for s in spec:
        if isinstance(s, (int, np.integer)) and not (info.columns and s in info.columns):
            out.append(int(s))
        elif info.columns is not None and s in info.columns:
            out.append(info.columns.index(s))
        else:
            raise ValueError(f"unknown column {s!r}; known columns: {info.columns}")
    return out


@dataclass
class Constraints:
    """What a perturbed flat row may look like. Arrays are per flat feature."""

    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    immutable: np.ndarray
    categorical: dict[int, np.ndarray]
    names: Optional[list[str]] = None

    @property
    def n_features(self) -> int:
        return len(self.lower)

    @property
    def scale(self) -> np.ndarray:
        """Per-feature range; eps is measured as a fraction of it. Never 0 (constant features use 1)."""
        s = self.upper - self.lower
        return np.where(s > 0, s, 1.0)

    @property
    def continuous_mask(self) -> np.ndarray:
        """Features gradient / boundary attacks may move (not immutable, not categorical)."""
        m = ~self.immutable.copy()
        for j in self.categorical:
            m[j] = False
        return m

    @classmethod
    def from_data(
        cls,
        X: np.ndarray,
        info: DataInfo,
        integer: Any = "auto",
        categorical: Any = None,
        immutable: Any = None,
        ranges: Any = None,
    ) -> "Constraints":
        flat = X.reshape(len(X), -1)
        d = flat.shape[1]
        finite = np.where(np.isfinite(flat), flat, np.nan)
        if info.kind == "image":
            lo = np.full(d, np.nanmin(finite)) if len(flat) else np.zeros(d)
            hi = np.full(d, np.nanmax(finite)) if len(flat) else np.ones(d)
        else:
            lo = np.nanmin(finite, axis=0) if len(flat) else np.zeros(d)
            hi = np.nanmax(finite, axis=0) if len(flat) else np.ones(d)
        lo = np.nan_to_num(lo.astype(np.float64), nan=0.0)
        hi = np.nan_to_num(hi.astype(np.float64), nan=0.0)
        if ranges is not None:
            if isinstance(ranges, tuple) and len(ranges) == 2 and np.isscalar(ranges[0]):
                lo = np.full(d, float(ranges[0]))
                hi = np.full(d, float(ranges[1]))
            elif isinstance(ranges, dict):
                for key, (a, b) in ranges.items():
                    (j,) = _column_indices([key], info)
                    lo[j], hi[j] = float(a), float(b)
            else:
                raise ValueError("ranges must be (low, high) or {column: (low, high)}")
        cat: dict[int, np.ndarray] = {}
        for j in info.category_values:
            cat[j] = np.arange(len(info.category_values[j]), dtype=np.float64)
        if isinstance(categorical, dict):
            for key, values in categorical.items():
                (j,) = _column_indices([key], info)
                cat[j] = np.sort(np.asarray(list(values), dtype=np.float64))
        else:
            for j in _column_indices(categorical, info):
                cat[j] = np.unique(flat[:, j][np.isfinite(flat[:, j])]).astype(np.float64)
        integer_mask = np.zeros(d, dtype=bool)
        if isinstance(integer, str) and integer == "auto":
            if info.kind == "tabular" and len(flat):
                integral = np.all((finite == np.round(finite)) | np.isnan(finite), axis=0)
                integer_mask = integral & (np.nanmax(finite, axis=0) > np.nanmin(finite, axis=0))
                if info.dtypes is not None:
                    for j, dt in enumerate(info.dtypes):
                        try:
                            if np.issubdtype(np.dtype(dt), np.integer):
                                integer_mask[j] = True
                        except TypeError:
                            pass
        elif integer is not None and integer is not False:
            integer_mask[_column_indices(integer, info)] = True
        for j in cat:
            integer_mask[j] = False
        imm = np.zeros(d, dtype=bool)
        imm[_column_indices(immutable, info)] = True
        names = [str(c) for c in info.columns] if info.columns is not None else None
        return cls(lo, hi, integer_mask, imm, cat, names)

    def project(self, x_adv: np.ndarray, x_orig: np.ndarray, rounding: str = "toward") -> np.ndarray:
        """Make rows valid: ranges, immutables, integers, categories.

        rounding "toward" moves integer columns toward the original (so an Lp bound still holds),
        "nearest" rounds, "away" rounds away from the original (keeps a boundary crossing).
        """
        shape = x_adv.shape
        a = x_adv.reshape(len(x_adv), -1).astype(np.float64, copy=True)
        o = x_orig.reshape(len(x_orig), -1).astype(np.float64)
        if self.integer.any():
            j = self.integer
            delta = a[:, j] - o[:, j]
            if rounding == "toward":
                a[:, j] = o[:, j] + np.trunc(delta + np.sign(delta) * 1e-9)
            elif rounding == "away":
                a[:, j] = o[:, j] + np.sign(delta) * np.ceil(np.abs(delta) - 1e-9)
            else:
                a[:, j] = np.rint(a[:, j])
        a = np.clip(a, self.lower, self.upper)
        if self.integer.any():
            j = self.integer
            # ranges of integer columns are integral, but guard against float bounds
            a[:, j] = np.clip(np.rint(a[:, j]), np.ceil(self.lower[j] - 1e-9), np.floor(self.upper[j] + 1e-9))
        for j, allowed in self.categorical.items():
            col = a[:, j]
            idx = np.abs(col[:, None] - allowed[None, :]).argmin(axis=1)
            a[:, j] = allowed[idx]
        if self.immutable.any():
            a[:, self.immutable] = o[:, self.immutable]
        return a.reshape(shape).astype(x_adv.dtype, copy=False)

    def violations(self, x_adv: np.ndarray, x_orig: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Human-readable list of constraint violations (empty when every row is valid)."""
        a = x_adv.reshape(len(x_adv), -1).astype(np.float64)
        o = x_orig.reshape(len(x_orig), -1).astype(np.float64)
        out: list[str] = []
        name = (lambda j: self.names[j]) if self.names else (lambda j: f"feature {j}")
        below = a < self.lower - tol
        above = a > self.upper + tol
        for j in np.where((below | above).any(axis=0))[0][:5]:
            out.append(f"{name(j)} outside [{self.lower[j]:g}, {self.upper[j]:g}]")
        for j in np.where(self.integer)[0]:
            if np.any(np.abs(a[:, j] - np.rint(a[:, j])) > tol):
                out.append(f"{name(j)} is not an integer")
        for j, allowed in self.categorical.items():
            if np.any(np.min(np.abs(a[:, j][:, None] - allowed[None, :]), axis=1) > tol):
                out.append(f"{name(j)} holds a value outside its categories")
        for j in np.where(self.immutable)[0]:
            if np.any(np.abs(a[:, j] - o[:, j]) > tol):
                out.append(f"immutable {name(j)} changed")
        return out

    def candidate_values(self, j: int, X: np.ndarray, n: int = 5) -> np.ndarray:
        """Values a few-feature attack tries for feature j: the range ends, quantiles, or the categories."""
        if j in self.categorical:
            return self.categorical[j]
        col = X.reshape(len(X), -1)[:, j]
        qs = np.quantile(col, np.linspace(0, 1, n)) if len(col) else np.array([self.lower[j], self.upper[j]])
        vals = np.unique(np.concatenate([[self.lower[j], self.upper[j]], qs]))
        if self.integer[j]:
            vals = np.unique(np.rint(vals))
        return vals.astype(np.float64)


def encode_labels(y: Any, classes: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Labels -> class indices 0..K-1 (and the class values). Raises a clear error on unknown labels."""
    yv = as_numpy(y).reshape(-1)
    if classes is None:
        classes = np.unique(yv)
        if np.issubdtype(classes.dtype, np.integer) and len(classes) and classes.min() >= 0:
            classes = np.arange(int(classes.max()) + 1)
    classes = np.asarray(classes)
    lookup = {c.item() if hasattr(c, "item") else c: i for i, c in enumerate(classes)}
    idx = np.empty(len(yv), dtype=np.int64)
    for i, v in enumerate(yv):
        key = v.item() if hasattr(v, "item") else v
        if key not in lookup:
            raise ValueError(f"label {key!r} is not one of the model's classes {list(classes)[:10]}")
        idx[i] = lookup[key]
    return idx, classes


def take(X: Any, idx: np.ndarray) -> Any:
    """Row selection that works for numpy, pandas and torch."""
    if _is_pandas(X):
        return X.iloc[idx]
    if _is_torch(X):
        import torch

        return X[torch.as_tensor(idx, dtype=torch.long, device=X.device)]
    return np.asarray(X)[idx]


def n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def iter_batches(n: int, size: int) -> Iterable[slice]:
    for s in range(0, n, max(1, size)):
        yield slice(s, min(n, s + size))
