"""Model-file scanning (mlsec.artifacts): malicious pickles, checkpoints, joblib, numpy, Keras, bad input.

Malicious files are built without running them: `pickle.dumps` of an object whose `__reduce__` names
`os.system` only writes the name, and some streams are written opcode by opcode. An autouse fixture makes
every unpickling entry point (and os.system) raise, so a test fails if anything is ever loaded.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import sys
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import joblib  # imported before the guard: joblib subclasses pickle.Unpickler at import time
import numpy as np
import pytest

from mlsec import cli
from mlsec.artifacts import ARTIFACT_EXTENSIONS, is_artifact, scan_artifact
from mlsec.rules.artifacts import is_artifact_rule
from mlsec.rules.base import all_rules

_SYSTEM = os.system  # the guard below replaces os.system; pickles still name posix.system / nt.system
SYSTEM = f"{_SYSTEM.__module__}.system"


class Evil:
    """Pickles as a call to os.system; dumping it runs nothing."""

    def __reduce__(self):
        return (_SYSTEM, ("echo mlsec-test-payload",))


class Thing:
    """A user class: unpickling it imports this test module."""

    def __init__(self):
        self.x = 1


@pytest.fixture(autouse=True)
def nothing_is_loaded(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mlsec unpickled, unmarshalled or executed something")

    class RefusingUnpickler:  # a class, so libraries imported during a test can still subclass it
        def __init__(self, *args, **kwargs):
            refuse()

    import _pickle

    for mod in (pickle, _pickle):
        monkeypatch.setattr(mod, "load", refuse)
        monkeypatch.setattr(mod, "loads", refuse)
        monkeypatch.setattr(mod, "Unpickler", RefusingUnpickler)
    # (marshal.loads is left alone: the import system itself loads .pyc files with it)
    monkeypatch.setattr(os, "system", refuse)
    yield


def findings(path, data=None):
    return [(f.rule_id, f.severity.label, f.message) for f in scan_artifact(path, data)]


def ids(path, data=None):
    return sorted(f.rule_id for f in scan_artifact(path, data))


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def short_str(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


EVIL = pickle.dumps(Evil(), protocol=2)

# torch-style tensor pickle, written by hand: OrderedDict of one rebuilt tensor over a FloatStorage
TORCH_DATA_PKL = (
    b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x06\x00\x00\x00weightq\x02"
    b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05"
    b"X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x06tq\x08QK\x00K\x02K\x03\x86q\tK\x03K\x01\x86q\n"
    b"\x89h\x00)Rq\x0btq\x0cRq\rs."
)


# ---------------------------------------------------------------------------------------------
# Pickles


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_in_every_protocol_is_critical(tmp_path, protocol):
    p = write(tmp_path / "model.pkl", pickle.dumps(Evil(), protocol=protocol))
    fs = scan_artifact(p)
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", "critical")]
    f = fs[0]
    assert f"`{SYSTEM}`" in f.message and "shell command" in f.message
    assert f.file == str(p) and f.cell_index is None and f.line == 1
    assert any("at byte" in n for n in f.notes) and f.fix_hint


def test_stack_global_resolved_through_the_memo_and_counted_once(tmp_path):
    # builtins.eval imported twice: once from fresh strings, once from memoized ones (BINGET)
    data = (b"\x80\x04" + short_str("builtins") + b"\x94" + short_str("eval") + b"\x94\x93\x94"
            + b"h\x00h\x01\x93" + short_str("1+1") + b"\x85R0" + b"N.")
    p = write(tmp_path / "m.pkl", data)
    fs = scan_artifact(p)
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", "critical")]
    assert "`builtins.eval`" in fs[0].message and "imported 2 times" in fs[0].notes[0]


def test_a_name_built_at_load_time_is_dangerous(tmp_path):
    # STACK_GLOBAL over values that are not plain strings (results of calls) cannot be resolved statically
    data = b"\x80\x04" + b"ccodecs\ndecode\n" + short_str("x") + b"\x85R" + short_str("y") + b"\x93N."
    fs = scan_artifact(write(tmp_path / "m.pkl", data))
    assert ("MLS801", "high") in [(f.rule_id, f.severity.label) for f in fs]
    assert any("named only while loading" in f.message for f in fs)


def test_pickle_inside_bytes_given_to_pickle_loads_is_checked_too(tmp_path):
    inner = pickle.dumps(Evil(), protocol=4)
    proto3 = b"\x80\x03cpickle\nloads\nC" + bytes([len(inner)]) + inner + b"\x85R."
    text = inner.decode("latin-1").encode("utf-8")  # protocol 2 writes bytes as _codecs.encode(text, "latin1")
    proto2 = (b"\x80\x02cpickle\nloads\nc_codecs\nencode\nX" + struct.pack("<I", len(text)) + text
              + b"X\x06\x00\x00\x00latin1\x86R\x85R.")
    for name, data in (("p3.pkl", proto3), ("p2.pkl", proto2)):
        fs = scan_artifact(write(tmp_path / name, data))
        got = sorted((f.rule_id, f.severity.label, "nested pickle" in f.message) for f in fs)
        assert got == [("MLS801", "critical", True), ("MLS801", "high", False)], (name, fs)
    # a legitimate blob of data after pickle.loads is only the loader finding
    data = b"\x80\x03cpickle\nloads\nC\x05hello\x85R."
    assert [(f.rule_id, f.severity.label) for f in scan_artifact(write(tmp_path / "d.pkl", data))] == [("MLS801", "high")]


@pytest.mark.parametrize("module,name,severity", [
    ("subprocess", "Popen", "critical"), ("builtins", "exec", "critical"), ("runpy", "run_path", "critical"),
    ("builtins", "getattr", "high"), ("socket", "create_connection", "high"), ("webbrowser", "open", "high"),
    ("pickle", "loads", "high"), ("shutil", "rmtree", "high"), ("torch.hub", "load", "high"),
    ("nt", "system", "critical"), ("os", "remove", "high"),
])
def test_dangerous_globals(tmp_path, module, name, severity):
    data = b"c" + f"{module}\n{name}\n".encode() + b"(tR."
    fs = scan_artifact(write(tmp_path / "m.pkl", data))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", severity)], fs
    assert f"`{module}.{name}`" in fs[0].message


def test_user_class_is_an_unknown_import(tmp_path):
    fs = scan_artifact(write(tmp_path / "m.pkl", pickle.dumps(Thing(), protocol=4)))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS802", "medium")]
    assert f"`{Thing.__module__}.Thing`" in fs[0].message and "unpickling runs its code" in fs[0].message


def test_plain_data_numpy_and_sklearn_pickles_are_clean(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).random((30, 3))
    y = (X[:, 0] > 0.5).astype(int)
    objects = {
        "data.pkl": {"a": [1, 2.5, "x", None, True], "s": {1, 2}, "f": frozenset({3}), "c": complex(1, 2),
                     "o": OrderedDict(k=1), "b": b"bytes", "sl": slice(1, 5)},
        "array.pkl": np.arange(12.0).reshape(3, 4),
        "scaler.pkl": StandardScaler().fit(X),
        "logreg.pkl": LogisticRegression().fit(X, y),
    }
    for name, obj in objects.items():
        for protocol in (2, 4, 5):
            p = write(tmp_path / f"{protocol}-{name}", pickle.dumps(obj, protocol=protocol))
            assert findings(p) == [], (name, protocol)


def test_joblib_files_with_raw_array_data_are_parsed_past_the_arrays(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(1).random((60, 4))
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, (X[:, 1] > 0.5).astype(int))
    for compress in (0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)):
        p = tmp_path / f"forest-{compress!s:.6}.joblib"
        joblib.dump(forest, p, compress=compress)
        assert findings(p) == [], compress
    # a payload placed after arrays of several dtypes and shapes is still found
    p = tmp_path / "after.joblib"
    joblib.dump({"ints": np.arange(1000), "text": np.array(["a", "bcd"]),
                 "fortran": np.asfortranarray(np.ones((3, 4), dtype=np.float32)), "zero_d": np.array(5),
                 "objects": np.array([1, "x", None], dtype=object), "payload": Evil()}, p)
    fs = scan_artifact(p)
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", "critical")]


def test_a_crafted_joblib_array_state_cannot_hide_opcodes(tmp_path):
    """allow_mmap before dtype: skipping 'array bytes' at the dtype's BUILD would hide the STACK_GLOBAL."""
    def u(text: str) -> bytes:
        return b"X" + struct.pack("<I", len(text)) + text.encode()

    dtype = (b"cnumpy\ndtype\n" + u("i1") + b"\x89\x88\x87R(K\x03" + u("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t")
    data = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(" + u("subclass") + b"cnumpy\nndarray\n"
            + u("shape") + b"K\x01\x85" + u("order") + u("C") + u("allow_mmap") + b"\x88" + u("dtype") + dtype
            + u("os") + u("system") + b"b\x93" + b"0u" + b"b.")
    fs = scan_artifact(write(tmp_path / "crafted.joblib", data))
    assert "MLS801" in [f.rule_id for f in fs], fs


@pytest.mark.parametrize("kind", ["zlib", "gzip", "bz2", "lzma"])
def test_compressed_joblib_payload(tmp_path, kind):
    compress = {"zlib": zlib.compress, "gzip": gzip.compress, "bz2": bz2.compress, "lzma": lzma.compress}[kind]
    p = write(tmp_path / "model.joblib", compress(pickle.dumps(Evil(), protocol=4)))
    fs = scan_artifact(p)
    assert [f.rule_id for f in fs] == ["MLS801"]
    assert any(f"{kind}-compressed" in n for n in fs[0].notes)


def test_torch_zip_checkpoint(tmp_path):
    clean = zip_bytes({"archive/data.pkl": TORCH_DATA_PKL, "archive/version": b"3\n",
                       "archive/data/0": struct.pack("<6f", *range(6))}, zipfile.ZIP_STORED)
    assert findings(write(tmp_path / "clean.pt", clean)) == []
    bad = zip_bytes({"archive/data.pkl": EVIL, "archive/version": b"3\n"}, zipfile.ZIP_STORED)
    fs = scan_artifact(write(tmp_path / "pytorch_model.bin", bad))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", "critical")]
    assert "(archive/data.pkl)" in fs[0].message and "in archive/data.pkl" in fs[0].notes[0]


def test_legacy_torch_save_holds_several_pickles_then_raw_storage(tmp_path):
    data = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps({"little_endian": True}, protocol=2) + TORCH_DATA_PKL + pickle.dumps(["0"], protocol=2)
            + struct.pack("<q", 6) + struct.pack("<6f", *range(6)))
    assert findings(write(tmp_path / "legacy.pth", data)) == []
    first = len(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
    assert ids(write(tmp_path / "legacy_bad.pth", data[:first] + EVIL + data[first:])) == ["MLS801"]
    # a later pickle in protocol 0 (legacy torch.load reads four pickles in a row, any protocol)
    proto0 = pickle.dumps(Evil(), protocol=0)
    assert ids(write(tmp_path / "legacy_p0.pth", data[:first] + proto0 + data[first:])) == ["MLS801"]


def test_numpy_object_arrays(tmp_path):
    np.save(tmp_path / "numbers.npy", np.arange(10))
    assert findings(tmp_path / "numbers.npy") == []
    np.save(tmp_path / "objects.npy", np.array([Evil()], dtype=object), allow_pickle=True)
    fs = scan_artifact(tmp_path / "objects.npy")
    assert [f.rule_id for f in fs] == ["MLS801"] and any("object array" in n for n in fs[0].notes)
    np.savez(tmp_path / "bundle.npz", weights=np.ones(3), extra=np.array([Evil()], dtype=object))
    fs = scan_artifact(tmp_path / "bundle.npz")
    assert [f.rule_id for f in fs] == ["MLS801"] and "(extra.npy)" in fs[0].message
    np.savez(tmp_path / "plain.npz", a=np.ones(3), b=np.array(["x"]))
    assert findings(tmp_path / "plain.npz") == []


# ---------------------------------------------------------------------------------------------
# Keras


def keras_config(*layers: dict) -> bytes:
    return json.dumps({"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 3]}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2}},
        *layers,
    ]}, "registered_name": None}).encode()


LAMBDA_V3 = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": {
    "name": "exfil", "function": {"class_name": "__lambda__", "config": {
        "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA", "defaults": None, "closure": None}}}}
LAMBDA_V2 = {"class_name": "Lambda", "config": {"name": "double", "function": ["4wEAAAAAAAAA", None, None],
                                                "function_type": "lambda"}}
CUSTOM = {"module": "evil_pkg.layers", "class_name": "Backdoor", "registered_name": "Backdoor",
          "config": {"name": "bd"}}


def keras_zip(config: bytes) -> bytes:
    return zip_bytes({"metadata.json": b'{"keras_version": "3.5.0"}', "config.json": config,
                      "model.weights.h5": b"\x89HDF\r\n\x1a\n"})


def test_keras_zip_lambda_layer_and_custom_object(tmp_path):
    assert findings(write(tmp_path / "plain.keras", keras_zip(keras_config()))) == []
    fs = scan_artifact(write(tmp_path / "lambda.keras", keras_zip(keras_config(LAMBDA_V3))))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS803", "high")]
    assert "`exfil`" in fs[0].message and "marshalled bytecode" in fs[0].message and "config.json" in fs[0].notes[0]
    fs = scan_artifact(write(tmp_path / "custom.keras", keras_zip(keras_config(CUSTOM))))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS804", "low")]
    assert "`evil_pkg.layers.Backdoor`" in fs[0].message


def require(name: str, env: str = "MLSEC_REQUIRE_OPTIONAL"):
    """Import an optional library; skip without it, fail when CI's MLSEC_REQUIRE_* variable says it must run."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if os.environ.get(env) == "1":
            pytest.fail(f"{name} is required ({env}=1) but cannot be imported: {exc}")
        pytest.skip(f"{name} not installed")


def test_real_torch_checkpoints(tmp_path):
    torch = require("torch", "MLSEC_REQUIRE_TORCH")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    torch.save(net.state_dict(), tmp_path / "state.pt")
    torch.save(net.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(net, tmp_path / "full_model.pth")
    torch.save({"epoch": 3, "optimizer": torch.optim.SGD(net.parameters(), lr=0.1).state_dict(),
                "model": net.state_dict()}, tmp_path / "training.ckpt")
    for name in ("state.pt", "legacy.pt", "full_model.pth", "training.ckpt"):
        assert findings(tmp_path / name) == [], name
    torch.save({"model": net.state_dict(), "hook": Evil()}, tmp_path / "evil.pt")
    torch.save({"model": net.state_dict(), "hook": Evil()}, tmp_path / "evil_legacy.pt",
               _use_new_zipfile_serialization=False)
    for name in ("evil.pt", "evil_legacy.pt"):
        assert [(r, s) for r, s, _ in findings(tmp_path / name)] == [("MLS801", "critical")], name


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' torch backend and numpy 2
def test_real_keras_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
    keras = require("keras")
    inp = keras.Input((3,))
    out = keras.layers.Lambda(lambda t: t * 2, name="times_two")(keras.layers.Dense(2)(inp))
    keras.Model(inp, out).save(tmp_path / "lambda.keras")
    plain = keras.Input((3,))
    keras.Model(plain, keras.layers.Dense(2)(plain)).save(tmp_path / "plain.keras")
    fs = scan_artifact(tmp_path / "lambda.keras")
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS803", "high")] and "`times_two`" in fs[0].message
    assert findings(tmp_path / "plain.keras") == []


def test_keras_function_references(tmp_path):
    def dense(activation):
        return {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "activation": activation}}

    builtin = {"module": "builtins", "class_name": "function", "config": "abs", "registered_name": "function"}
    exec_ = {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}
    custom = {"module": "mypkg.acts", "class_name": "function", "config": "swishy", "registered_name": "function"}
    assert findings(write(tmp_path / "abs.keras", keras_zip(keras_config(dense(builtin))))) == []
    fs = scan_artifact(write(tmp_path / "exec.keras", keras_zip(keras_config(dense(exec_)))))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS804", "critical")]
    assert "`builtins.exec`" in fs[0].message and "dangerous callable" in fs[0].message
    fs = scan_artifact(write(tmp_path / "custom.keras", keras_zip(keras_config(dense(custom)))))
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS804", "low")] and "`mypkg.acts.swishy`" in fs[0].message


def h5py_or_skip() -> None:
    """h5py comes with keras (CI installs it); without it skip, unless MLSEC_REQUIRE_OPTIONAL=1 says fail."""
    try:
        import h5py  # noqa: F401
    except ImportError as exc:
        if os.environ.get("MLSEC_REQUIRE_OPTIONAL") == "1":
            pytest.fail(f"h5py is required (MLSEC_REQUIRE_OPTIONAL=1) but cannot be imported: {exc}")
        pytest.skip("h5py is not installed (the byte-search fallback is tested without it)")


def fake_h5(path: Path, config: bytes) -> Path:
    """HDF5 magic and the config text as HDF5 stores a small attribute: enough for the byte search."""
    return write(path, b"\x89HDF\r\n\x1a\n" + b"\x00" * 200 + config + b"\x00" * 200)


def test_keras_h5_byte_search_needs_no_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py raises ImportError
    fs = scan_artifact(fake_h5(tmp_path / "lambda.h5", keras_config(LAMBDA_V2)))
    assert sorted(f.rule_id for f in fs) == ["MLS803", "MLS806"]
    lam = next(f for f in fs if f.rule_id == "MLS803")
    assert "`double`" in lam.message and any("h5py is not installed" in n for n in lam.notes)
    assert "byte search only" in next(f for f in fs if f.rule_id == "MLS806").message


def test_keras_h5_reader_that_hangs_is_stopped(tmp_path, monkeypatch):
    """libhdf5 can loop forever on a crafted file: h5py runs in a child process with a time limit."""
    import mlsec.artifacts.keras as keras_mod

    monkeypatch.setattr(keras_mod, "h5py_available", lambda: True)
    monkeypatch.setattr(keras_mod, "_H5_CHILD", "import time; time.sleep(30)")
    monkeypatch.setattr(keras_mod, "H5_TIMEOUT", 0.5)
    fs = scan_artifact(fake_h5(tmp_path / "stuck.h5", keras_config(LAMBDA_V2)))
    assert sorted(f.rule_id for f in fs) == ["MLS803", "MLS806"]
    assert "did not finish" in next(f for f in fs if f.rule_id == "MLS806").message


def h5_with_config(path: Path, config: bytes) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = config.decode()
        f.attrs["keras_version"] = "2.15.0"
        f.create_dataset("model_weights/dense/kernel", data=np.ones((3, 2)))
    return path


def test_keras_h5_lambda_with_h5py_and_by_byte_search_without_it(tmp_path, monkeypatch):
    h5py_or_skip()
    lam = h5_with_config(tmp_path / "lambda.h5", keras_config(LAMBDA_V2))
    plain = h5_with_config(tmp_path / "plain.h5", keras_config())
    fs = scan_artifact(lam)
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS803", "high")]
    assert "`double`" in fs[0].message and "model_config" in fs[0].notes[0]
    assert findings(plain) == []

    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    fs = scan_artifact(lam)
    assert sorted(f.rule_id for f in fs) == ["MLS803", "MLS806"]
    lam_f = next(f for f in fs if f.rule_id == "MLS803")
    assert "`double`" in lam_f.message and any("h5py is not installed" in n for n in lam_f.notes)
    assert [f.rule_id for f in scan_artifact(plain)] == ["MLS806"]  # says the check was a byte search only


# ---------------------------------------------------------------------------------------------
# Bad input: reported, never a crash


def test_truncated_pickle_keeps_what_was_found(tmp_path):
    fs = scan_artifact(write(tmp_path / "cut.pkl", EVIL[:-6]))
    assert sorted(f.rule_id for f in fs) == ["MLS801", "MLS806"]
    assert any("ends early" in f.message for f in fs)
    assert ids(write(tmp_path / "empty.pkl", b"")) == ["MLS806"]
    assert ids(write(tmp_path / "text.pkl", b"hello, not a pickle")) == ["MLS806"]


def test_huge_length_claims_do_not_allocate(tmp_path):
    # BINBYTES8 claiming 2**62 bytes, and BINUNICODE8 the same: parse errors, not MemoryError
    for op in (b"\x8e", b"\x8d"):
        p = write(tmp_path / "claim.pkl", b"\x80\x04" + op + struct.pack("<Q", 1 << 62) + b"abc")
        assert [(r, s) for r, s, _ in findings(p)] == [("MLS806", "info")]


def test_read_budget(tmp_path, monkeypatch):
    import mlsec.artifacts.limits as limits

    monkeypatch.setattr(limits, "MAX_READ_BYTES", 4096)
    data = pickle.dumps(list(range(5000)), protocol=2) + EVIL
    fs = scan_artifact(write(tmp_path / "big.pkl", data))
    assert [f.rule_id for f in fs] == ["MLS806"] and "read limit" in fs[0].message


def test_bad_zip_traversal_and_zip_bomb(tmp_path):
    assert ids(write(tmp_path / "broken.pt", b"PK\x03\x04" + b"\x00" * 40)) == ["MLS806"]
    fs = scan_artifact(write(tmp_path / "escape.pt", zip_bytes({"archive/../../evil.pkl": EVIL,
                                                                  "archive/data.pkl": TORCH_DATA_PKL})))
    assert sorted((f.rule_id, f.severity.label) for f in fs) == [("MLS801", "critical"), ("MLS805", "medium")]
    assert any("leaves the archive folder" in f.message for f in fs)
    corrupt = bytearray(zip_bytes({"archive/data.pkl": bytes(range(256)) * 50}))
    at = corrupt.find(b"data.pkl") + len("data.pkl") + 5  # inside the deflated data
    corrupt[at:at + 3] = b"\xff\xff\xff"
    fs = scan_artifact(write(tmp_path / "corrupt.pt", bytes(corrupt)))
    assert [f.rule_id for f in fs] == ["MLS806"] and "archive/data.pkl" in fs[0].message
    bomb = zip_bytes({"archive/data.pkl": b"\x00" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    fs = scan_artifact(write(tmp_path / "bomb.pt", bomb))
    assert [f.rule_id for f in fs] == ["MLS805"] and "zip bomb" in fs[0].message


def test_unknown_binary_with_an_ambiguous_extension_is_left_alone(tmp_path):
    assert findings(write(tmp_path / "vectors.bin", os.urandom(256).replace(b"\x80", b"\x00"))) == []
    assert findings(write(tmp_path / "weights.h5", b"\x00" * 64)) == []


def test_extensions_and_data_argument():
    assert is_artifact("m/model.PT") and is_artifact("x.joblib") and not is_artifact("x.py")
    assert ".keras" in ARTIFACT_EXTENSIONS and ".ipynb" not in ARTIFACT_EXTENSIONS
    assert [r for r, _, _ in findings("in-memory.pkl", EVIL)] == ["MLS801"]


# ---------------------------------------------------------------------------------------------
# Rules and the CLI


def test_artifact_rules_are_listed_and_explained(capsys):
    code = cli.main(["rules", "--format", "json"])
    rules = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 0
    mine = {r.id for r in all_rules() if is_artifact_rule(r)}
    assert mine == {"MLS801", "MLS802", "MLS803", "MLS804", "MLS805", "MLS806"}
    for rid in mine:
        assert rules[rid]["applies_to"] == "model files" and rules[rid]["explanation"]
        assert rules[rid]["severity"] and rules[rid]["message"]
    code = cli.main(["rules", "MLS803"])
    assert code == 0 and "Lambda" in capsys.readouterr().out


def test_scan_a_folder_with_models_and_a_notebook(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proj = tmp_path / "proj"
    write(proj / "models" / "evil.pkl", EVIL)
    write(proj / "models" / "clean.pt", zip_bytes({"archive/data.pkl": TORCH_DATA_PKL}))
    write(proj / "models" / "lambda.keras", keras_zip(keras_config(LAMBDA_V3)))
    write(proj / "models" / "cut.joblib", EVIL[:-6])
    npy = io.BytesIO()
    np.save(npy, np.ones(2))
    write(proj / "models" / "escape.npz", zip_bytes({"../x.npy": npy.getvalue()}))
    write(proj / "models" / "user.pkl", pickle.dumps(Thing(), protocol=4))
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import joblib\nm = joblib.load('models/evil.pkl')\n"}]}
    write(proj / "train.ipynb", json.dumps(nb).encode())

    def scan(*extra):
        code = cli.main(["scan", "proj", "--no-bandit", "--format", "json", *extra])
        return code, json.loads(capsys.readouterr().out)

    code, doc = scan()
    assert code == 1 and doc["errors"] == []
    got = {(os.path.basename(f["file"]), f["rule_id"]) for f in doc["findings"]}
    assert got == {("evil.pkl", "MLS801"), ("lambda.keras", "MLS803"), ("cut.joblib", "MLS801"),
                   ("cut.joblib", "MLS806"), ("escape.npz", "MLS805"), ("user.pkl", "MLS802"),
                   ("train.ipynb", "MLS101")}
    assert doc["summary"]["files"] == 7
    model = next(f for f in doc["findings"] if f["rule_id"] == "MLS801" and f["file"].endswith("evil.pkl"))
    assert model["cell_index"] is None and model["severity"] == "critical"

    again_code, again = scan()  # from the cache: same findings
    assert again_code == 1 and again["findings"] == doc["findings"]
    _, ignored = scan("--ignore", "MLS802,MLS806", "--no-cache")
    assert {f["rule_id"] for f in ignored["findings"]} == {"MLS801", "MLS803", "MLS805", "MLS101"}

    code = cli.main(["scan", "proj/models/evil.pkl", "--no-bandit", "--no-cache"])
    out = capsys.readouterr().out
    assert code == 1 and f"evil.pkl:1:1: MLS801 [critical] pickle imports `{SYSTEM}`" in out and "at byte" in out

    code = cli.main(["scan", "proj", "--no-bandit", "--no-cache", "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    results = sarif["runs"][0]["results"]
    evil = next(r for r in results if r["ruleId"] == "MLS801"
                and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("evil.pkl"))
    assert evil["locations"][0]["physicalLocation"]["region"]["startLine"] == 1 and evil["level"] == "error"
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"MLS801", "MLS803", "MLS805"} <= rule_ids


def test_demo_model_file_is_a_harmless_fake():
    demo = Path(__file__).resolve().parents[1] / "demo_notebooks" / "models" / "suspicious_model.pkl"
    data = demo.read_bytes()
    assert len(data) < 200 and b"echo" in data
    fs = scan_artifact(demo)
    assert [(f.rule_id, f.severity.label) for f in fs] == [("MLS801", "critical")]
    assert "`os.system`" in fs[0].message


def test_the_guard_itself_refuses_to_unpickle():
    with pytest.raises(AssertionError, match="unpickled"):
        pickle.loads(EVIL)
    with pytest.raises(AssertionError):
        pickle.Unpickler(io.BytesIO(EVIL)).load()
    with pytest.raises(AssertionError):
        os.system("echo never")


def test_lint_api_reads_model_files_with_the_config(tmp_path):
    import mlsec

    p = write(tmp_path / "m.pkl", EVIL)
    report = mlsec.lint(str(p))
    assert [f.rule_id for f in report.findings] == ["MLS801"] and report.errors == [] and report.files == 1
    assert mlsec.lint(str(p), ignore=["MLS8"]).findings == []
    assert mlsec.lint(str(p), min_severity="critical").findings[0].severity.label == "critical"


def test_mutated_files_never_raise(tmp_path):
    """Flipped, inserted and deleted bytes in every container kind: findings or MLS806, never an exception."""
    import random

    npy = io.BytesIO()
    np.save(npy, np.array([Evil()], dtype=object), allow_pickle=True)
    joblib_file = tmp_path / "m.joblib"
    joblib.dump({"x": np.arange(50), "payload": Evil()}, joblib_file)
    seeds = {
        "a.pkl": pickle.dumps({"a": [1, 2], "e": Evil()}, protocol=4),
        "b.pkl": pickle.dumps({"a": OrderedDict(x=1)}, protocol=0),
        "c.pt": zip_bytes({"archive/data.pkl": TORCH_DATA_PKL, "archive/version": b"3\n"}),
        "d.joblib": zlib.compress(EVIL),
        "e.joblib": joblib_file.read_bytes(),
        "f.npy": npy.getvalue(),
        "g.keras": keras_zip(keras_config(LAMBDA_V3, CUSTOM)),
    }
    rng = random.Random(1234)
    for name, data in seeds.items():
        for _ in range(60):
            d = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                i = rng.randrange(len(d)) if d else 0
                r = rng.random()
                if r < 0.5 and d:
                    d[i] = rng.randrange(256)
                elif r < 0.75:
                    d[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                else:
                    del d[i:i + rng.randint(1, 16)]
            if rng.random() < 0.2:
                d = d[:rng.randrange(len(d) + 1)]
            for f in scan_artifact(name, bytes(d)):
                assert f.rule_id in {"MLS801", "MLS802", "MLS803", "MLS804", "MLS805", "MLS806"}
                assert "please report" not in f.message, (name, f.message)
