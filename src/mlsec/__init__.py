"""mlsec: security for ML notebooks.

`import mlsec` stays light: the analyzer (libcst, bandit, nbformat), the probes (numpy, scikit-learn,
torch) and the notebook UI load on first use.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "lint",
    "analyze",
    "Finding",
    "Severity",
    "Config",
    "Report",
    "probe",
    "probe_panel",
    "scan_artifact",
    "load_ipython_extension",
    "unload_ipython_extension",
    "__version__",
]

_LAZY = {
    "lint": ("mlsec.api", "lint"),
    "analyze": ("mlsec.engine", "analyze"),
    "Report": ("mlsec.engine", "Report"),
    "Finding": ("mlsec.findings", "Finding"),
    "Severity": ("mlsec.findings", "Severity"),
    "Config": ("mlsec.config", "Config"),
    "probe": ("mlsec.probes", "probe"),
    "probe_panel": ("mlsec.probes.panel", "probe_panel"),
    "scan_artifact": ("mlsec.artifacts", "scan_artifact"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mlsec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext mlsec`: registers `%mlsec` / `%%mlsec`; nothing heavy is imported here."""
    from .magic import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magic import unload_ipython_extension as _unload

    _unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "lab/labextension", "dest": "jupyter-mlsec"}]  # built there by labextension/


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlsec.lab"}]
