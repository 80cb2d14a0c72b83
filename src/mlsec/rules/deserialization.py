"""Unsafe deserialization and remote code: loading a file or a model can run its author's code."""
from __future__ import annotations

import functools

from ..findings import Category, Confidence, Severity, Stage
from . import fixes
from .base import Call, Invalid, Rule, Valid, is_false, is_true, literal, MISSING, register, string_value

_PICKLE_FAMILY = (
    "pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._load", "pickle._loads", "pickle._Unpickler",
    "dill.load", "dill.loads", "dill.Unpickler",
    "cloudpickle.load", "cloudpickle.loads",
    "joblib.load",
    "pandas.read_pickle",
    "shelve.open", "shelve.Shelf", "shelve.DbfilenameShelf",
    "marshal.load", "marshal.loads",
    "jsonpickle.decode", "jsonpickle.loads", "jsonpickle.unpickler.decode",
    "numpy.core.multiarray._reconstruct",
    "torch.package.PackageImporter",
    "pickletools.dis",
)


def _downloaded(rule: Rule, call: Call, ctx, severity: Severity) -> tuple[Severity, list[str]]:
    """Raise severity one step when the loaded path or bytes come from a download."""
    target = call.arg(0) if call.args else next((a.value for a in call.kwargs.values()), None)
    origin = ctx.origin(target)
    if origin is None:
        return severity, []
    return severity.bump(), [origin.describe() + "; severity raised"]


@register
class PickleLoad(Rule):
    id = "MLS101"
    name = "pickle-load"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.TRAINING
    message = "`{name}` unpickles data, which runs any code the file's author put in it"
    fix_hint = "Load only files you created; for models use safetensors, skops, ONNX or the framework's weights-only loader."
    explanation = """
**Why**: pickle (and dill, cloudpickle, joblib, shelve, `pandas.read_pickle`, jsonpickle, marshal) rebuilds
objects by calling functions named inside the file. A crafted file calls `os.system` while it loads; no
inspection happens first. Model files shared on hubs and in tickets are the usual carrier.

**Example**
```python
import joblib as jb
model = jb.load("downloaded_model.pkl")   # runs the file's code
```

**Fix**: keep pickles to files your own pipeline wrote and verified (hash), and exchange models as
safetensors (`safetensors.torch.load_file`), skops (`skops.io.load(path, trusted=[...])`) or ONNX.
Scan third-party model files with `mlsec` before loading them.
"""
    triggers = (r"pickle", r"dill", r"joblib", r"shelve", r"marshal", r"read_pickle", r"Unpickler", r"jsonpickle",
                r"PackageImporter")
    modules = ("pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle", "pandas.read_pickle")
    bandit_ids = ("B301", "B302", "B403")
    VALID = [
        Valid("import pickle\npickle.dumps({'a': 1})"),
        Valid("import json\njson.load(open('x.json'))"),
        Valid("def load(p):\n    return p\nload('x.pkl')", note="a user function called load"),
        Valid("import joblib\njoblib.dump(model, 'm.joblib')"),
    ]
    INVALID = [
        Invalid("import pickle\nwith open('m.pkl', 'rb') as f:\n    m = pickle.load(f)", line=3),
        Invalid("import joblib as jb\nm = jb.load('model.joblib')", line=2),
        Invalid("from pickle import loads as l\nl(b)", line=2),
        Invalid("import cPickle\ncPickle.loads(data)", line=2),
        Invalid("import _pickle\n_pickle.load(f)"),
        Invalid("import dill, cloudpickle\ndill.load(f)\ncloudpickle.loads(b)", count=2),
        Invalid("import pandas as pd\ndf = pd.read_pickle('train.pkl')", line=2),
        Invalid("import shelve\ndb = shelve.open('cache')"),
        Invalid("import marshal\nmarshal.loads(code)"),
        Invalid("import jsonpickle\nobj = jsonpickle.decode(s)"),
        Invalid("import pickle\nu = pickle.Unpickler(f)"),
        Invalid("import pickle, requests\nr = requests.get(url)\nm = pickle.loads(r.content)", line=3,
                severity="critical", note="bytes from a download"),
        Invalid("!wget -O model.pkl https://example.com/model.pkl\nimport joblib\njoblib.load('model.pkl')", line=3,
                severity="critical"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not call.is_(*_PICKLE_FAMILY):
            return
        if call.qualname == "pickletools.dis":
            return
        sev, notes = _downloaded(self, call, ctx, self.severity)
        ctx.report(self, call.node, message=self.message.format(name=call.qualname), severity=sev, notes=notes)


@register
class NumpyAllowPickle(Rule):
    id = "MLS102"
    name = "numpy-allow-pickle"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.DATA_PREPARATION
    message = "`numpy.load(..., allow_pickle=True)` unpickles object arrays, which can run code"
    fix_hint = "Save plain numeric arrays and load them with the default `allow_pickle=False`."
    explanation = """
**Why**: `.npy`/`.npz` files can hold object arrays, stored as pickles. With `allow_pickle=True`,
`numpy.load` unpickles them and a crafted file runs code.

**Example**: `np.load("features.npy", allow_pickle=True)`

**Fix**: store numeric arrays (`np.save(path, arr.astype(np.float32))`) and load with the default
`allow_pickle=False`; for mixed data use Parquet or JSON.
"""
    triggers = (r"allow_pickle",)
    fixable = "unsafe"  # files that do hold object arrays stop loading
    VALID = [Valid("import numpy as np\nnp.load('a.npy')"), Valid("import numpy as np\nnp.load('a.npy', allow_pickle=False)")]
    INVALID = [
        Invalid("import numpy as np\nx = np.load('a.npy', allow_pickle=True)", line=2,
                expected_replacement="import numpy as np\nx = np.load('a.npy', allow_pickle=False)"),
        Invalid("from numpy import load\nload('a.npz', allow_pickle=True)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("numpy.load") and is_true(call.arg(None, "allow_pickle")):
            sev, notes = _downloaded(self, call, ctx, self.severity)
            fix = fixes.fix([fixes.replace(call.kwargs["allow_pickle"].value, "False")], safe=False,
                            title="Set allow_pickle=False")
            ctx.report(self, call.node, severity=sev, notes=notes, fix=fix)


@functools.lru_cache(maxsize=1)
def installed_torch_version() -> tuple[int, int] | None:
    """The torch version installed here, read from package metadata (torch itself is never imported)."""
    try:
        from importlib.metadata import version

        parts = version("torch").split("+")[0].split(".")
        return int(parts[0]), int(parts[1])
    except Exception:
        return None


@register
class TorchLoad(Rule):
    id = "MLS103"
    name = "torch-load-unsafe"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.TRAINING
    message = "`torch.load` with `weights_only=False` unpickles the checkpoint, which can run code"
    fix_hint = "Pass `weights_only=True` (and save `state_dict()`s), or use safetensors."
    explanation = """
**Why**: a PyTorch checkpoint is a zip of pickles. `torch.load(..., weights_only=False)` unpickles with the
full pickle machinery, so a crafted checkpoint runs code. Since torch 2.6 the default is
`weights_only=True`; older versions default to the unsafe mode, and code written for them often
passes `weights_only=False` explicitly.

**Example**: `model = torch.load("checkpoint.pt", weights_only=False)`

**Fix**: `torch.load(path, weights_only=True)` with a `state_dict` checkpoint, or
`safetensors.torch.load_file(path)`.
"""
    triggers = (r"\.load\b", r"\bload\(")
    modules = ("torch.load",)
    bandit_ids = ("B614",)
    fixable = "unsafe"  # full-model checkpoints (pickled modules) stop loading with weights_only=True
    VALID = [
        Valid("import torch\ntorch.load('m.pt', weights_only=True)"),
        Valid("import torch\ntorch.save(model.state_dict(), 'm.pt')"),
    ]
    INVALID = [
        Invalid("import torch\nstate = torch.load('ckpt.pt', weights_only=False)", line=2, severity="high",
                expected_replacement="import torch\nstate = torch.load('ckpt.pt', weights_only=True)"),
        Invalid("import torch as t\nt.load('ckpt.pt')", line=2,
                expected_replacement="import torch as t\nt.load('ckpt.pt', weights_only=True)"),
        Invalid("from torch import load\nload('x.pt', map_location='cpu')"),
        Invalid("import torch\nsd = torch.load(\n    'ckpt.pt',\n    map_location='cpu',\n)", line=2,
                expected_replacement="import torch\nsd = torch.load(\n    'ckpt.pt',\n    map_location='cpu', weights_only=True,\n)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not call.is_("torch.load"):
            return
        wo = call.arg(None, "weights_only")
        if is_true(wo):
            return
        fix = None
        if "pickle_module" not in call.kwargs and len(call.args) < 3:  # torch refuses weights_only with a pickle_module
            fix = fixes.fix([fixes.set_keyword(call.node, "weights_only", "True")], safe=False,
                            title="Pass weights_only=True")
        if wo is not None and is_false(wo):
            sev, notes = _downloaded(self, call, ctx, Severity.HIGH)
            ctx.report(self, call.node, severity=sev, notes=notes, fix=fix)
            return
        if wo is not None:  # a variable: cannot tell
            ctx.report(self, call.node, severity=Severity.MEDIUM, confidence=Confidence.LOW,
                       message="`torch.load` with a non-literal `weights_only`: make sure it is True for files you did not create")
            return
        ver = installed_torch_version()
        if ver is not None and ver >= (2, 6):
            sev, msg = Severity.LOW, (
                f"`torch.load` without `weights_only`: safe with the installed torch {ver[0]}.{ver[1]} "
                "(default weights_only=True since 2.6) but unsafe on torch < 2.6; pass `weights_only=True`")
        else:
            where = f"the installed torch {ver[0]}.{ver[1]}" if ver else "torch < 2.6 (torch is not installed here)"
            sev, msg = Severity.MEDIUM, (
                f"`torch.load` without `weights_only` unpickles the checkpoint on {where}; pass `weights_only=True`")
        sev, notes = _downloaded(self, call, ctx, sev)
        ctx.report(self, call.node, severity=sev, message=msg, notes=notes, fix=fix)


@register
class TorchHubLoad(Rule):
    id = "MLS104"
    name = "torch-hub-load"
    category = Category.DESERIALIZATION
    severity = Severity.MEDIUM
    cwe = 94
    stage = Stage.TRAINING
    message = "`torch.hub.load` downloads a repository and runs its `hubconf.py`"
    fix_hint = "Pin a trusted repository at a commit (`owner/repo:<sha>`), or vendor the model code and load weights only."
    explanation = """
**Why**: `torch.hub.load("owner/repo", ...)` clones a GitHub repository and imports its `hubconf.py`:
whatever code is on that branch today runs in your kernel. An unpinned branch can change under you.

**Example**: `torch.hub.load("someone/yolo", "model", trust_repo=True)`

**Fix**: pin the reference to a commit (`"owner/repo:3f2c1e0"`) of a repository you trust, or copy the
model definition into your project and load a weights-only checkpoint.
"""
    triggers = (r"hub\.load",)
    modules = ("torch.hub.load",)
    VALID = [Valid("import torch\ntorch.hub.list('pytorch/vision')")]
    INVALID = [
        Invalid("import torch\nm = torch.hub.load('ultralytics/yolov5', 'yolov5s')", line=2),
        Invalid("import torch\nm = torch.hub.load('a/b', 'm', trust_repo=True)", severity="high"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not call.is_("torch.hub.load"):
            return
        repo = string_value(call.arg(0, "repo_or_dir"))
        source = string_value(call.arg(None, "source"))
        if source == "local":
            return
        pinned = bool(repo and ":" in repo and len(repo.split(":", 1)[1]) >= 7 and all(
            c in "0123456789abcdef" for c in repo.split(":", 1)[1].lower()))
        sev = Severity.LOW if pinned else self.severity
        if is_true(call.arg(None, "trust_repo")) and not pinned:
            sev = Severity.HIGH
        ctx.report(self, call.node, severity=sev)


@register
class KerasUnsafeLoad(Rule):
    id = "MLS105"
    name = "keras-unsafe-load"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.TRAINING
    message = "Keras model loading with `safe_mode=False` (or from YAML) lets `Lambda` layers run arbitrary code"
    fix_hint = "Keep `safe_mode=True` (the default) and rebuild custom layers in code; load weights with `load_weights`."
    explanation = """
**Why**: Keras `Lambda` layers store Python bytecode. `load_model(..., safe_mode=False)` deserializes
it, so a crafted `.keras`/`.h5` file runs code. `model_from_yaml` used an unsafe YAML loader and was
removed for that reason.

**Example**: `keras.models.load_model("model.keras", safe_mode=False)`

**Fix**: leave `safe_mode` at its default `True`, register custom objects explicitly, or rebuild the
architecture in code and call `model.load_weights(path)`.
"""
    triggers = (r"safe_mode", r"model_from_yaml")
    modules = ("keras.models.model_from_yaml", "keras.model_from_yaml")
    fixable = "unsafe"  # models with Lambda layers stop loading
    VALID = [Valid("import keras\nkeras.models.load_model('m.keras')")]
    INVALID = [
        Invalid("import tensorflow as tf\nm = tf.keras.models.load_model('m.keras', safe_mode=False)", line=2,
                expected_replacement="import tensorflow as tf\nm = tf.keras.models.load_model('m.keras')"),
        Invalid("from keras.models import load_model\nload_model('m.h5', safe_mode=False)"),
        Invalid("from tensorflow.keras.models import model_from_yaml\nmodel_from_yaml(text)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("keras.models.model_from_yaml", "keras.model_from_yaml"):
            ctx.report(self, call.node)
        elif call.name in ("load_model", "load") and call.is_("keras.*") and is_false(call.arg(None, "safe_mode")):
            sev, notes = _downloaded(self, call, ctx, self.severity)
            edit = fixes.remove_keyword(call.node, "safe_mode") or fixes.replace(call.kwargs["safe_mode"].value, "True")
            ctx.report(self, call.node, severity=sev, notes=notes,
                       fix=fixes.fix([edit], safe=False, title="Remove safe_mode=False"))


_SAFE_YAML_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")


@register
class YamlLoad(Rule):
    id = "MLS106"
    name = "yaml-unsafe-load"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.DATA_PREPARATION
    message = "`{name}` can construct arbitrary Python objects from YAML tags"
    fix_hint = "Use `yaml.safe_load` (or `Loader=yaml.SafeLoader`)."
    explanation = """
**Why**: PyYAML's `Loader`, `UnsafeLoader` and `FullLoader` honour `!!python/object` tags, which build
objects and call functions named in the document. A config file from a repository or a model card
becomes code.

**Example**: `cfg = yaml.load(open("config.yaml"), Loader=yaml.Loader)`

**Fix**: `yaml.safe_load(f)` (or `yaml.load(f, Loader=yaml.SafeLoader)`).
"""
    triggers = (r"yaml",)
    modules = ("yaml",)
    bandit_ids = ("B506",)
    # `yaml.load(x)` -> `yaml.safe_load(x)` is safe (PyYAML 6 rejects the call without a Loader; on 5.x it
    # used FullLoader, which plain documents do not need); replacing an explicit unsafe Loader or
    # `full_load` / `unsafe_load` may reject documents with Python tags: unsafe.
    fixable = "sometimes"
    VALID = [
        Valid("import yaml\nyaml.safe_load(f)"),
        Valid("import yaml\nyaml.load(f, Loader=yaml.SafeLoader)"),
        Valid("import yaml\nyaml.load(f, yaml.CSafeLoader)"),
        Valid("import yaml\nyaml.safe_dump(x)"),
    ]
    INVALID = [
        Invalid("import yaml\ncfg = yaml.load(open('c.yaml'))", line=2,
                expected_replacement="import yaml\ncfg = yaml.safe_load(open('c.yaml'))"),
        Invalid("import yaml\nyaml.load(f, Loader=yaml.Loader)",
                expected_replacement="import yaml\nyaml.load(f, Loader=yaml.SafeLoader)"),
        Invalid("import yaml\nyaml.unsafe_load(f)", expected_replacement="import yaml\nyaml.safe_load(f)"),
        Invalid("import yaml\nyaml.full_load(f)", severity="medium"),
        Invalid("import yaml\nlist(yaml.load_all(f, Loader=yaml.FullLoader))", severity="medium",
                expected_replacement="import yaml\nlist(yaml.load_all(f, Loader=yaml.SafeLoader))"),
        Invalid("from yaml import load, Loader\nload(s, Loader)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("yaml.unsafe_load", "yaml.unsafe_load_all"):
            ctx.report(self, call.node, message=self.message.format(name=call.qualname),
                       fix=self._safe_function(call, ctx, safe=False))
            return
        if call.is_("yaml.full_load", "yaml.full_load_all"):
            ctx.report(self, call.node, severity=Severity.MEDIUM,
                       message=self.message.format(name=call.qualname) + " (FullLoader: fewer tags, still unsafe on old PyYAML)",
                       fix=self._safe_function(call, ctx, safe=False))
            return
        if not call.is_("yaml.load", "yaml.load_all"):
            return
        loader = call.arg(1, "Loader")
        name = ctx.resolve(loader) if loader is not None else None
        if name and name.rsplit(".", 1)[-1] in _SAFE_YAML_LOADERS:
            return
        fix = self._safe_loader(loader, name, ctx) if loader is not None else None
        if loader is None and not fixes.has_double_star(call.node):
            fix = self._safe_function(call, ctx, safe=True)
        if name and name.rsplit(".", 1)[-1] == "FullLoader":
            ctx.report(self, call.node, severity=Severity.MEDIUM, message=self.message.format(name=call.qualname) + " with FullLoader",
                       fix=fix)
            return
        if loader is not None and name is None and not call.is_("yaml.load", "yaml.load_all"):
            return
        ctx.report(self, call.node, message=self.message.format(name=call.qualname), fix=fix)

    @staticmethod
    def _safe_function(call: Call, ctx, *, safe: bool):
        """`yaml.load(x)` / `yaml.full_load(x)` / `yaml.unsafe_load(x)` -> `yaml.safe_load(x)` (`_all` kept).
        Only through the module (`yaml.` or an alias): a bare `load` would need a new import."""
        import libcst as cst

        func = call.node.func
        if not isinstance(func, cst.Attribute) or ctx.resolve(func.value) != "yaml":
            return None
        new = "safe_load_all" if func.attr.value.endswith("_all") else "safe_load"
        if call.args[1:] or set(call.kwargs) - {"stream"}:
            return None  # safe_load takes the stream only
        return fixes.fix([fixes.replace(func.attr, new)], safe=safe, title=f"Use yaml.{new}")

    @staticmethod
    def _safe_loader(loader, name: str | None, ctx):
        """`Loader=yaml.Loader` (or FullLoader, UnsafeLoader) -> `Loader=yaml.SafeLoader`; C loaders -> CSafeLoader."""
        import libcst as cst

        if not name or not name.startswith("yaml.") or not isinstance(loader, cst.Attribute):
            return None
        if ctx.resolve(loader.value) != "yaml":
            return None
        new = "CSafeLoader" if name.rsplit(".", 1)[-1].startswith("C") else "SafeLoader"
        return fixes.fix([fixes.replace(loader.attr, new)], safe=False, title=f"Use yaml.{new}")


@register
class TrustRemoteCode(Rule):
    id = "MLS107"
    name = "trust-remote-code"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 94
    stage = Stage.TRAINING
    message = "`trust_remote_code=True` runs Python code from the model repository"
    fix_hint = "Use a model supported natively by transformers, or pin `revision=` to a commit you have reviewed."
    explanation = """
**Why**: with `trust_remote_code=True`, transformers downloads `modeling_*.py` / `tokenization_*.py`
from the Hub repository and imports it. Anyone who can push to that repository runs code in your
kernel; without a pinned `revision`, a later push changes what runs.

**Example**: `AutoModel.from_pretrained("someone/model", trust_remote_code=True)`

**Fix**: prefer architectures that transformers ships; otherwise read the remote code and pin
`revision="<commit sha>"` so it cannot change.
"""
    triggers = (r"trust_remote_code",)
    fixable = "unsafe"  # models whose architecture lives in the repository stop loading
    VALID = [
        Valid("from transformers import AutoModel\nAutoModel.from_pretrained('bert-base-uncased')"),
        Valid("AutoModel.from_pretrained('x', trust_remote_code=False)"),
    ]
    INVALID = [
        Invalid("from transformers import AutoModel\nm = AutoModel.from_pretrained('org/m', trust_remote_code=True)", line=2,
                expected_replacement="from transformers import AutoModel\nm = AutoModel.from_pretrained('org/m')"),
        Invalid("from transformers import AutoModel\nm = AutoModel.from_pretrained(\n    'org/m',  # the model\n"
                "    trust_remote_code=True,\n)", line=2,
                expected_replacement="from transformers import AutoModel\nm = AutoModel.from_pretrained(\n    'org/m',  # the model\n"
                "    trust_remote_code=False,\n)", note="a comment in the way: the value is set instead"),
        Invalid("from transformers import pipeline\np = pipeline('text-generation', model='x', trust_remote_code=True)"),
        Invalid("from datasets import load_dataset\nds = load_dataset('x', trust_remote_code=True)"),
        Invalid(
            "from transformers import AutoModel\nAutoModel.from_pretrained('o/m', trust_remote_code=True,"
            " revision='0123456789abcdef0123456789abcdef01234567')",
            severity="medium", note="pinned revision lowers the severity",
        ),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not is_true(call.arg(None, "trust_remote_code")):
            return
        rev = string_value(call.arg(None, "revision"))
        pinned = bool(rev and len(rev) >= 7 and all(c in "0123456789abcdef" for c in rev.lower()))
        edit = fixes.remove_keyword(call.node, "trust_remote_code") or fixes.replace(
            call.kwargs["trust_remote_code"].value, "False")
        ctx.report(self, call.node, severity=Severity.MEDIUM if pinned else self.severity,
                   notes=["revision pinned to a commit"] if pinned else [],
                   fix=fixes.fix([edit], safe=False, title="Remove trust_remote_code=True"))


_HF_LOADERS = ("from_pretrained", "hf_hub_download", "snapshot_download", "load_dataset", "pipeline")


@register
class UnpinnedHubRevision(Rule):
    id = "MLS108"
    name = "hf-unpinned-revision"
    category = Category.SUPPLY_CHAIN
    severity = Severity.LOW
    confidence = Confidence.MEDIUM
    cwe = 494
    stage = Stage.TRAINING
    default_enabled = False
    message = "Hugging Face download without a pinned `revision`: the files can change under you"
    fix_hint = "Pass `revision=\"<commit sha>\"` for models and datasets you depend on."
    explanation = """
**Why**: without `revision`, `from_pretrained` and `hf_hub_download` fetch the repository's current
`main`. A compromised or careless push changes the weights (or remote code) you load. Off by default:
on real notebooks this is most of bandit's B615 noise; turn it on for production pipelines
(`enable = ["MLS108"]`).

**Example**: `AutoModel.from_pretrained("org/model")`

**Fix**: `AutoModel.from_pretrained("org/model", revision="a1b2c3d...")`.
"""
    triggers = (r"from_pretrained", r"hf_hub_download", r"snapshot_download", r"load_dataset")
    bandit_ids = ("B615",)
    VALID = [Valid("from transformers import AutoModel\nAutoModel.from_pretrained('o/m', revision='0123456789abcdef0123456789abcdef01234567')")]
    INVALID = [
        Invalid("from transformers import AutoModel\nAutoModel.from_pretrained('org/model')", line=2),
        Invalid("from huggingface_hub import hf_hub_download\nhf_hub_download('org/m', 'f.bin', revision='main')"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.name not in _HF_LOADERS:
            return
        if call.name == "pipeline" and not call.is_("transformers.pipeline"):
            return
        if call.name in ("hf_hub_download", "snapshot_download") and not call.is_("huggingface_hub.*"):
            return
        if call.name == "load_dataset" and not call.is_("datasets.load_dataset"):
            return
        first = string_value(call.arg(0, "pretrained_model_name_or_path") or call.arg(0, "repo_id") or call.arg(None, "model"))
        if first is None or "/" not in first or first.startswith((".", "/", "~")):
            return  # local paths and names we cannot read
        rev = call.arg(None, "revision")
        if rev is None or literal(rev) is MISSING:
            if rev is not None:
                return
        else:
            v = string_value(rev) or ""
            if len(v) >= 7 and all(c in "0123456789abcdef" for c in v.lower()):
                return
        ctx.report(self, call.node)


@register
class MlflowLoadModel(Rule):
    id = "MLS109"
    name = "mlflow-load-model"
    category = Category.DESERIALIZATION
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    cwe = 502
    stage = Stage.OPERATION
    message = "`{name}` deserializes a model with pickle or cloudpickle (most flavors)"
    fix_hint = "Load only from a registry you control, with access limited to trusted writers; prefer ONNX or safetensors flavors."
    explanation = """
**Why**: most MLflow flavors (`sklearn`, `pyfunc`, `pytorch`...) store models as pickles or
cloudpickles. Loading a run's artifact that someone else could write runs their code.

**Example**: `mlflow.pyfunc.load_model("runs:/abc/model")`

**Fix**: load from a tracking server whose write access you control; prefer the `onnx` flavor or
weights-only formats for models that cross a trust boundary.
"""
    triggers = (r"mlflow",)
    modules = ("mlflow",)
    VALID = [Valid("import mlflow\nmlflow.log_metric('acc', 0.9)")]
    INVALID = [
        Invalid("import mlflow\nm = mlflow.pyfunc.load_model('runs:/1/model')", line=2),
        Invalid("import mlflow.sklearn\nmlflow.sklearn.load_model(uri)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("mlflow.*") and call.name == "load_model" and not call.is_("mlflow.onnx.load_model"):
            ctx.report(self, call.node, message=self.message.format(name=call.qualname))


@register
class SkopsTrusted(Rule):
    id = "MLS110"
    name = "skops-trust-all"
    category = Category.DESERIALIZATION
    severity = Severity.HIGH
    cwe = 502
    stage = Stage.OPERATION
    message = "`skops.io.load(..., trusted=True)` trusts every type in the file, like pickle"
    fix_hint = "Call `skops.io.get_untrusted_types(file=...)`, review them, and pass that explicit list as `trusted=`."
    explanation = """
**Why**: skops exists to load scikit-learn models without pickle's code execution; it refuses
unknown types unless told to trust them. `trusted=True` (older skops) trusts all of them and turns
the loader back into pickle.

**Example**: `skops.io.load("model.skops", trusted=True)`

**Fix**: `types = skops.io.get_untrusted_types(file=path)`, review, then `load(path, trusted=types)`.
"""
    triggers = (r"skops", r"trusted")
    modules = ("skops",)
    VALID = [Valid("import skops.io as sio\nsio.load('m.skops', trusted=['sklearn.tree.DecisionTreeClassifier'])")]
    INVALID = [Invalid("import skops.io as sio\nm = sio.load('m.skops', trusted=True)", line=2)]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("skops.io.load", "skops.io.loads") and is_true(call.arg(None, "trusted")):
            ctx.report(self, call.node)


@register
class EvalExec(Rule):
    id = "MLS111"
    name = "eval-exec"
    category = Category.INJECTION
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM
    cwe = 95
    stage = Stage.OPERATION
    message = "`{name}` on a non-literal string runs whatever that string holds"
    fix_hint = "Parse data with `json.loads` or `ast.literal_eval`; dispatch on names with a dict instead of building code."
    explanation = """
**Why**: `eval`/`exec` (and `compile`) run text as Python. When the text comes from a file, a model's
output (LLM tool calls), a request or a DataFrame cell, whoever controls that text controls the kernel.

**Example**: `eval(response["arguments"])`

**Fix**: `json.loads` for data, `ast.literal_eval` for Python literals, a dict of allowed functions for
dispatch.
"""
    triggers = (r"(?<![.\w])eval\(", r"(?<![.\w])exec\(")
    bandit_ids = ("B307", "B102")
    VALID = [
        Valid("eval('1 + 1')"),
        Valid("def eval(x):\n    return x\neval(data)", note="a user function named eval"),
        Valid("model.eval()"),
        Valid("import ast\nast.literal_eval(s)"),
    ]
    INVALID = [
        Invalid("x = eval(user_input)", line=1),
        Invalid("exec(open('script.py').read())"),
        Invalid("code = f'print({n})'\nexec(code)", line=2),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not call.is_("builtins.eval", "builtins.exec"):
            return
        arg = call.arg(0)
        if arg is None or string_value(arg) is not None:
            return
        sev, notes = _downloaded(self, call, ctx, self.severity)
        ctx.report(self, call.node, message=self.message.format(name=call.qualname.split(".")[-1]),
                   severity=sev, notes=notes)
