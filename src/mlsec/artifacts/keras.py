"""Keras model configs: Lambda layers (code that runs on load) and objects from modules outside Keras.

`.keras` files are zips holding `config.json` (see archives.scan_zip); HDF5 `.h5` files keep the same JSON
in the root's `model_config` attribute, read with h5py when it is installed (it reads attributes, runs
nothing). Without h5py the file's bytes are searched for the Lambda layer's JSON text instead, and the
findings say so. Keras itself is never imported.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from typing import IO, TYPE_CHECKING, Any

from .limits import CHUNK, Budget, OverBudget

if TYPE_CHECKING:  # pragma: no cover
    from . import Collector

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_MODULES = ("keras", "tf_keras", "tensorflow", "keras_nlp", "keras_hub", "keras_cv", "keras_core")
MAX_DEPTH = 200
_LAMBDA_TEXT = re.compile(rb'"class_name"\s*:\s*"Lambda"')
_NAME_TEXT = re.compile(rb'"name"\s*:\s*"([^"\\]{1,200})"')


def scan_config_text(text: bytes | str, out: "Collector", where: str) -> None:
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        out.not_checked(f"{where}: the Keras config is not valid JSON ({str(exc)[:80]})")
        return
    scan_config(config, out, where)


def scan_config(config: Any, out: "Collector", where: str) -> None:
    lambdas: set[str] = set()
    customs: set[str] = set()
    stack: list[tuple[Any, int]] = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            out.not_checked(f"{where}: the config nests deeper than {MAX_DEPTH} levels; the rest was not read")
            continue
        if isinstance(node, list):
            stack.extend((v, depth + 1) for v in reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        cls = node.get("class_name")
        cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
        if cls == "Lambda":
            name = str(cfg.get("name") or "?")
            if name not in lambdas:
                lambdas.add(name)
                out.lambda_layer(name, _function_of(cfg), where)
            # the function's own module/class entries are part of the Lambda, not custom objects
            stack.extend((v, depth + 1) for k, v in cfg.items() if k not in ("function", "function_type"))
            continue
        custom = _custom_object(node)
        if custom and custom not in customs:
            customs.add(custom)
            out.custom_object(custom, where, _danger(node))
        stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))


def _function_of(cfg: dict[str, Any]) -> str:
    fn = cfg.get("function")
    kind = cfg.get("function_type")
    if isinstance(fn, dict):  # Keras 3: {"class_name": "__lambda__", "config": {"code": ...}} or a named function
        if fn.get("class_name") == "__lambda__":
            return "a lambda stored as marshalled bytecode"
        module, name = fn.get("module"), fn.get("config")
        if isinstance(module, str) and isinstance(name, str):
            return f"the function {module}.{name}"
    if kind == "lambda" or isinstance(fn, (list, tuple)):
        return "a lambda stored as marshalled bytecode"
    if kind == "function" and isinstance(fn, str):
        module = cfg.get("module")
        return f"the function {module + '.' if isinstance(module, str) else ''}{fn}"
    return "a Python function"


def _function_ref(node: dict[str, Any]) -> tuple[str, str] | None:
    """(module, name) of a Keras 3 function reference: {"module": m, "class_name": "function", "config": name}."""
    module, name = node.get("module"), node.get("config")
    if node.get("class_name") == "function" and isinstance(module, str) and isinstance(name, str):
        return module, name
    return None


def _danger(node: dict[str, Any]):
    """The severity of a function reference that names a dangerous callable (builtins.exec...), else None."""
    ref = _function_ref(node)
    if ref is None:
        return None
    from .pickles import classify

    kind, severity, _ = classify(*ref)
    return severity if kind == "dangerous" else None


def _custom_object(node: dict[str, Any]) -> str | None:
    """`module.Class` for a Keras 3 object whose module is not Keras (custom layers, losses...), or
    `module.function` for a function reference outside Keras (a builtin only when it is a dangerous one)."""
    cls = node.get("class_name")
    module = node.get("module")
    if not isinstance(cls, str) or not cls:
        return None
    ref = _function_ref(node)
    if ref is not None and (not ref[0].startswith(KERAS_MODULES) and ref[0] != "builtins" or _danger(node)):
        return f"{ref[0]}.{ref[1]}"
    if isinstance(module, str) and module and not module.startswith(KERAS_MODULES) and module != "builtins":
        return f"{module}.{cls}"
    reg = node.get("registered_name")
    if isinstance(reg, str) and ">" in reg:
        package = reg.split(">", 1)[0]
        if package and not package.lower().startswith(KERAS_MODULES):
            return reg.replace(">", ".")
    return None


# ---------------------------------------------------------------------------------------------
# HDF5


H5_TIMEOUT = 30.0  # seconds h5py may take to read a file's attributes
# Runs in a child process: libhdf5 can loop forever in C on a corrupt or crafted file, where no Python
# signal can stop it. The child imports h5py only (isolated mode, the parent's sys.path), reads two
# attributes and prints them as JSON.
_H5_CHILD = r"""
import io, json, sys
sys.path[:] = json.loads(sys.argv[1])
import h5py
src = sys.argv[2]
out = {}
with h5py.File(io.BytesIO(sys.stdin.buffer.read()) if src == "-" else src, "r") as f:
    for key in ("model_config", "training_config"):
        v = f.attrs.get(key)
        if v is None:
            continue
        if not isinstance(v, (bytes, str)):
            v = v.tobytes() if hasattr(v, "tobytes") else str(v)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[key] = v
sys.stdout.write(json.dumps(out))
"""


def h5py_available() -> bool:
    if "h5py" in sys.modules:
        return sys.modules["h5py"] is not None
    try:
        return importlib.util.find_spec("h5py") is not None
    except (ImportError, ValueError):
        return False


def scan_h5(path: str, fh: IO[bytes], out: "Collector", budget: Budget, data: bytes | None = None) -> None:
    """Keras HDF5: the root's model_config / training_config attributes, read by h5py in a child process
    with a time limit; without h5py, or when it fails, the file's bytes are searched instead."""
    if not h5py_available():
        _byte_search(fh, out, budget, h5py_missing=True)
        return
    cmd = [sys.executable, "-I", "-c", _H5_CHILD, json.dumps([p for p in sys.path if p]), "-" if data else path]
    try:
        proc = subprocess.run(cmd, input=data or b"", capture_output=True, timeout=H5_TIMEOUT)
    except subprocess.TimeoutExpired:
        out.not_checked(f"h5py did not finish reading the HDF5 file in {H5_TIMEOUT:g} s (corrupt or crafted?); "
                        "searched its bytes instead")
        _byte_search(fh, out, budget, h5py_missing=False)
        return
    except OSError as exc:
        out.not_checked(f"h5py could not be run ({exc}); searched the file's bytes instead")
        _byte_search(fh, out, budget, h5py_missing=False)
        return
    try:
        attrs = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        attrs = None
    if not isinstance(attrs, dict):
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        out.not_checked(f"h5py cannot read the HDF5 file ({last[:120]}); searched its bytes instead")
        _byte_search(fh, out, budget, h5py_missing=False)
        return
    for key, value in attrs.items():
        if isinstance(value, str):
            scan_config_text(value, out, f"HDF5 attribute {key}")


def _byte_search(fh: IO[bytes], out: "Collector", budget: Budget, h5py_missing: bool) -> None:
    """Look for the Lambda layer's JSON in the raw file (attributes are stored as plain bytes)."""
    why = "found by searching the file's bytes (h5py is not installed)" if h5py_missing else (
        "found by searching the file's bytes")
    fh.seek(0)
    tail = b""
    offset = 0
    seen: set[str] = set()
    try:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            budget.take(len(chunk))
            window = tail + chunk
            base = offset - len(tail)
            for m in _LAMBDA_TEXT.finditer(window):
                name_m = _NAME_TEXT.search(window, m.end(), m.end() + 600)
                name = name_m.group(1).decode("utf-8", "replace") if name_m else "?"
                if name not in seen:
                    seen.add(name)
                    out.lambda_layer(name, "a Python function", f"byte {base + m.start()}", notes=[why])
            offset += len(chunk)
            tail = window[-1024:]
    except OverBudget as exc:
        out.not_checked(str(exc))
        return
    if h5py_missing:
        out.not_checked("HDF5 model checked by a byte search only: install h5py to read its model config")
