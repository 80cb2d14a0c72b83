"""Rules for model files (pickles, PyTorch checkpoints, joblib, numpy, Keras), checked by `mlsec.artifacts`.

These rules read bytes, never code: the engine has no hook to give them, so they carry no VALID / INVALID
code examples. Their examples are model files built in tests/test_artifacts.py, which also checks that
every artifact rule below is exercised. `mlsec rules` lists and explains them like any other rule.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..findings import Category, Confidence, Severity, Stage
from .base import Rule, register


class ArtifactRule(Rule):
    """A rule over model files: metadata only; `mlsec.artifacts` reports its findings."""

    applies_to: ClassVar[str] = "model files"
    category = Category.DESERIALIZATION
    stage = Stage.OPERATION
    cwe = 502

    @classmethod
    def meta(cls) -> dict[str, Any]:
        return {**super().meta(), "applies_to": cls.applies_to}


def is_artifact_rule(rule: type[Rule]) -> bool:
    return isinstance(rule, type) and issubclass(rule, ArtifactRule)


@register
class PickleDangerousImport(ArtifactRule):
    id = "MLS801"
    name = "pickle-dangerous-import"
    severity = Severity.CRITICAL
    message = "pickle in a model file imports `{name}`: loading it runs that code"
    fix_hint = ("Do not load this file. Ask for the model as safetensors, skops or ONNX, or rebuild it from "
                "a trusted training run.")
    explanation = """
**Why**: a pickle names the functions the unpickler must import and call to rebuild its objects. A model
file whose pickle imports `os.system`, `subprocess.Popen`, `builtins.eval`, `runpy`, `socket` or a nested
`pickle.loads` runs that call the moment `pickle.load`, `torch.load(weights_only=False)` or `joblib.load`
opens it. mlsec reads the pickle's opcodes (`GLOBAL`, `INST`, `STACK_GLOBAL` resolved through the memo)
without unpickling anything, in `.pkl`/`.joblib`/`.pt`/`.bin`/`.ckpt` files, PyTorch zip checkpoints
(`archive/data.pkl`), compressed joblib files and numpy object arrays. Commands and code execution are
critical; file, network and introspection helpers are high.

**Example**: `mlsec scan models/` on a checkpoint whose `data.pkl` holds `GLOBAL 'posix system'`
reports `imports posix.system (runs a shell command)` with the byte offset of the opcode.

**Fix**: do not load the file. Use formats that hold no code (safetensors, ONNX, skops with an explicit
`trusted` list) and `torch.load(path, weights_only=True)`.
"""


@register
class PickleUnknownImport(ArtifactRule):
    id = "MLS802"
    name = "pickle-unknown-import"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    message = "pickle in a model file imports `{name}`: unpickling runs its code"
    fix_hint = ("Check that the module is code you trust and have installed from a known source; prefer "
                "a weights-only format (safetensors, skops, ONNX).")
    explanation = """
**Why**: besides the plain-data helpers numpy, PyTorch, scikit-learn, pandas, xgboost and lightgbm use to
rebuild arrays, tensors and estimators, any other import in a pickle is code that runs while the file
loads: the class's `__reduce__` target, `__setstate__` or the function itself. A custom class
(`__main__.MyModel`) is often harmless, but the loader has to trust whatever that name resolves to in the
loading environment.

**Example**: a joblib file whose pickle imports `mypackage.preprocess.make_features` reports
`imports mypackage.preprocess.make_features: unpickling runs its code`.

**Fix**: load only files from a pipeline you control, pin and review the imported module, or move to a
format without code (safetensors for tensors, skops for scikit-learn with an explicit `trusted` list).
"""


@register
class KerasLambdaLayer(ArtifactRule):
    id = "MLS803"
    name = "keras-lambda-layer"
    severity = Severity.HIGH
    message = "Keras model has a Lambda layer `{name}`: its Python code runs when the model loads"
    fix_hint = ("Load with `keras.models.load_model(path, safe_mode=True)` (the default) and replace the "
                "Lambda layer with a registered custom layer whose code you ship yourself.")
    explanation = """
**Why**: a Keras `Lambda` layer stores its function in the model config: for a lambda, as marshalled
Python bytecode (base64 in `config.json` of a `.keras` file or in the `model_config` attribute of an
HDF5 `.h5`). `load_model(..., safe_mode=False)`, older Keras and `tf.keras` HDF5 loading rebuild that
function and run it: a model file can carry arbitrary code this way (CVE-2024-3660 is the safe_mode
bypass). mlsec reads the config text (h5py reads the attributes, in a child process with a time limit;
without h5py the file's bytes are searched) and never imports Keras.

**Example**: `model.keras` whose `config.json` holds `{"class_name": "Lambda", "config": {"name":
"exfil", "function": {...}}}` reports `Lambda layer exfil`.

**Fix**: keep `safe_mode=True`; ship custom computations as a subclassed layer registered with
`keras.saving.register_keras_serializable` in your own code, not inside the model file.
"""


@register
class KerasCustomObject(ArtifactRule):
    id = "MLS804"
    name = "keras-custom-object"
    severity = Severity.LOW
    confidence = Confidence.MEDIUM
    message = "Keras model config refers to `{name}` outside Keras: loading imports that module"
    fix_hint = "Make sure the named module is your own, installed code; Keras imports it to rebuild the object."
    explanation = """
**Why**: Keras 3 configs name each object's `module` and `registered_name`. For objects outside Keras
(custom layers, losses, activations) `load_model` imports the named module and calls the class's
`from_config`, so the model file decides which installed code runs. A function reference
(`{"module": "builtins", "class_name": "function", "config": "exec"}`) that names a dangerous callable is
reported at that callable's severity (high or critical) instead of low.

**Example**: `{"module": "evil_pkg.layers", "class_name": "Backdoor", "registered_name": "Backdoor"}`
reports `refers to evil_pkg.layers.Backdoor`.

**Fix**: check that the module is one you wrote or trust, and pass `custom_objects` explicitly.
"""


@register
class SuspiciousArchive(ArtifactRule):
    id = "MLS805"
    name = "model-archive-suspicious"
    severity = Severity.MEDIUM
    message = "model archive {name}"
    fix_hint = "Do not extract or load the archive; get the model again from its publisher."
    explanation = """
**Why**: model files in zip form (PyTorch checkpoints, `.keras`, `.npz`) are opened by loaders that trust
their member names and sizes. A member named `../../.bashrc` or `/etc/cron.d/x` writes outside the target
folder when the archive is extracted; a member that expands a thousand times (a zip bomb) exhausts memory
or disk on load. Neither happens in files written by PyTorch, Keras or numpy.

**Example**: a `.pt` zip holding `archive/../../evil.pkl` reports `has a member whose name leaves the
archive folder`.

**Fix**: do not extract or load it; ask for the model again from a trusted source.
"""


@register
class ArtifactNotChecked(ArtifactRule):
    id = "MLS806"
    name = "model-file-not-fully-checked"
    severity = Severity.INFO
    confidence = Confidence.MEDIUM
    message = "model file not fully checked: {name}"
    fix_hint = "Treat the file as untrusted: do not load it unless you know where it came from."
    explanation = """
**Why**: a truncated or corrupt pickle, an unreadable zip, a file over mlsec's read limit (512 MiB read per
file) or a Keras HDF5 file checked without h5py cannot be vouched for: the part mlsec could not read may
hold the payload. Any import found before the problem is still reported by MLS801/MLS802.

**Example**: a `.pkl` cut short reports `pickle ends early at byte 812 (truncated or not a pickle)`.

**Fix**: get the file again, install h5py for HDF5 models, and do not load files mlsec could not read.
"""
