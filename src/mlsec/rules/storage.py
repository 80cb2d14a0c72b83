"""Data-storage misuse: where notebooks put data and models, and who else can read or replace them."""
from __future__ import annotations

import dataclasses
import re

from ..findings import Category, Confidence, Severity, Stage
from . import fixes
from .base import (
    MISSING,
    Call,
    Invalid,
    Rule,
    Valid,
    dotted_name,
    is_false,
    is_true,
    literal,
    register,
    string_value,
)

# ---------------------------------------------------------------------------------------------
# Helpers shared with transport.py


def leading_text(node, ctx=None, depth: int = 0) -> str | None:
    """Static text of a string expression, placeholders as `{}`: `f"/tmp/{n}.csv"` -> `/tmp/{}.csv`.

    Covers literals, f-strings, `"a" + x`, `"a/%s" % x`, `"a/{}".format(x)` and, with `ctx`, names
    the notebook bound to a URL literal earlier (`url = "http://..."`). None when the text is unknown.
    """
    import libcst as cst

    if node is None or depth > 6:
        return None
    s = string_value(node)
    if s is not None:
        return s
    if isinstance(node, cst.FormattedString):
        return "".join(p.value if isinstance(p, cst.FormattedStringText) else "{}" for p in node.parts)
    if isinstance(node, cst.ConcatenatedString):
        left = leading_text(node.left, ctx, depth + 1)
        if left is None:
            return None
        right = leading_text(node.right, ctx, depth + 1)
        return left + (right if right is not None else "{}")
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Modulo)):
        left = leading_text(node.left, ctx, depth + 1)
        if left is None:
            return None
        if isinstance(node.operator, cst.Modulo):
            return left
        right = leading_text(node.right, ctx, depth + 1)
        return left + (right if right is not None else "{}")
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        return leading_text(node.func.value, ctx, depth + 1)
    if ctx is not None and isinstance(node, cst.Name):
        return getattr(ctx.context, "urls", {}).get(node.value)
    return None


def resolved(call: Call, ctx) -> Call:
    """The call with its callee resolved through one chained call: `tarfile.open(p).extractall()`
    -> `tarfile.open().extractall`, `Path(p).chmod()` -> `pathlib.Path().chmod`."""
    import libcst as cst

    if call.qualname is not None:
        return call
    func = call.node.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
        inner = ctx.resolve(func.value.func)
        if inner:
            written = f"{dotted_name(func.value.func)}().{func.attr.value}"
            return dataclasses.replace(call, dotted=written, qualname=f"{inner}().{func.attr.value}")
    return call


def all_args(call: Call):
    """Positional then keyword argument values (not *args / **kwargs)."""
    for a in call.args:
        yield a.value
    for a in call.kwargs.values():
        yield a.value


# ---------------------------------------------------------------------------------------------
# MLS301: hard-coded shared temp paths

_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_RISKY_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt", ".h5", ".keras", ".npy", ".npz",
                   ".dill", ".sav", ".model", ".py", ".sh", ".so")
# Calls whose string arguments are text, patterns or prefixes, not paths that get opened.
_NOT_PATH_CALLS = frozenset({
    "print", "startswith", "endswith", "replace", "split", "rsplit", "strip", "lstrip", "rstrip", "find", "rfind",
    "index", "rindex", "count", "partition", "rpartition", "removeprefix", "removesuffix", "format", "write",
    "writelines", "debug", "info", "warning", "warn", "error", "exception", "critical", "log", "echo", "secho",
    "display", "Markdown", "HTML", "markdown", "assertEqual", "assertIn", "match", "fullmatch", "search", "sub",
    "findall", "relpath", "relative_to", "is_relative_to",
})


_TMP_ENV = ("TMPDIR", "TEMP", "TMP")


def shared_tmp_path(text: str | None) -> str | None:
    """The shared temp directory `text` starts with (`/tmp`, `/tmp/x`; not `/tmpdata`), else None."""
    if not text:
        return None
    for root in _SHARED_TMP:
        if text == root or text.startswith(root + "/"):
            return root
    return None


@register
class SharedTmpPath(Rule):
    id = "MLS301"
    name = "shared-tmp-path"
    category = Category.STORAGE
    severity = Severity.LOW
    confidence = Confidence.MEDIUM
    cwe = 377
    stage = Stage.DATA_PREPARATION
    message = "hard-coded path `{path}` in a shared temp directory: other users of the machine can read or replace it"
    fix_hint = "Use `tempfile.mkdtemp()` / `tempfile.TemporaryDirectory()` (private, unique) or a project directory."
    explanation = """
**Why**: `/tmp`, `/var/tmp` and `/dev/shm` are shared by every user and process on the machine (JupyterHub
servers, shared GPU boxes, CI runners). A fixed name there can be read by others, pre-created or
symlinked by them before your code writes it, or swapped after you wrote it: a model or pickle saved
to `/tmp/model.pkl` and loaded back later runs whatever another user put there. Paths of models,
pickles and code (`sys.path`) are reported at medium severity.

**Example**
```python
df.to_csv("/tmp/train.csv")
torch.save(model, "/tmp/model.pt")
```

**Fix**: `d = tempfile.mkdtemp()` (mode 0700, unique name) or `with tempfile.TemporaryDirectory() as d:`,
then `os.path.join(d, "train.csv")`; or keep artefacts under the project directory. `tempfile` calls
with `dir="/tmp"` are fine and not reported; neither is `/tmp` in strings that are not paths (prints,
docstrings, comparisons).
"""
    triggers = (r"/tmp\b", r"/var/tmp\b", r"/dev/shm\b")
    bandit_ids = ("B108",)
    VALID = [
        Valid("print('files are cached in /tmp')"),
        Valid('def f():\n    """Writes its output to /tmp/out."""\n    return 1', note="docstring"),
        Valid("import tempfile\nd = tempfile.mkdtemp(dir='/tmp')", note="unique private directory"),
        Valid("if path.startswith('/tmp/'):\n    pass"),
        Valid("p = '/tmpdata/x.csv'"),
        Valid("import logging\nlogging.info('/tmp/x written')"),
        Valid("import os\nos.environ['TMPDIR'] = '/var/tmp'", note="tempfile's base directory"),
    ]
    INVALID = [
        Invalid("import pandas as pd\ndf.to_csv('/tmp/train.csv')", line=2, severity="low"),
        Invalid("OUT = '/tmp/run1'", line=1),
        Invalid("import torch\ntorch.save(model.state_dict(), '/tmp/model.pt')", line=2, severity="medium"),
        Invalid("with open(f'/tmp/{name}.json', 'w') as f:\n    f.write(s)", line=1),
        Invalid("import os\nos.environ['HF_HOME'] = '/var/tmp/hf'"),
        Invalid("cfg = {'local_path': '/dev/shm/cache'}"),
        Invalid("import sys\nsys.path.insert(0, '/tmp/helpers')", severity="medium", note="code imported from /tmp"),
        Invalid("import os\np = os.path.join('/tmp', name)"),
    ]

    def _check(self, node, ctx, *, code: bool = False) -> None:
        import libcst as cst

        if isinstance(node, (cst.List, cst.Tuple)):
            for el in node.elements:
                self._check(el.value, ctx, code=code)
            return
        if not isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.BinaryOperation)):
            return
        text = leading_text(node)
        if shared_tmp_path(text) is None:
            return
        path = text.replace("{}", "…")
        risky = code or text.lower().endswith(_RISKY_SUFFIXES)
        ctx.report(self, node, message=self.message.format(path=path),
                   severity=Severity.MEDIUM if risky else self.severity,
                   notes=["a model, pickle or code file: whoever replaces it runs code in your kernel"] if risky else [])

    def check_call(self, call: Call, ctx) -> None:
        if call.name in _NOT_PATH_CALLS or call.is_("tempfile.*", "logging.*", "builtins.print"):
            return
        code = call.is_("sys.path.insert", "sys.path.append", "site.addsitedir")
        for value in all_args(call):
            self._check(value, ctx, code=code)

    def check_assign(self, assign, ctx) -> None:
        if (assign.resolved_target or "").startswith("os.environ[") and assign.resolved_target[12:-2] in _TMP_ENV:
            return  # TMPDIR=/tmp is the default; tempfile still makes private unique names inside it
        self._check(assign.value, ctx)

    def check_dict_item(self, key, value, node, ctx) -> None:
        self._check(value, ctx)


# ---------------------------------------------------------------------------------------------
# MLS302: tempfile.mktemp


@register
class Mktemp(Rule):
    id = "MLS302"
    name = "tempfile-mktemp"
    category = Category.STORAGE
    severity = Severity.MEDIUM
    cwe = 377
    stage = Stage.DATA_PREPARATION
    message = "`tempfile.mktemp` returns a name without creating the file: another process can create it first"
    fix_hint = "Use `tempfile.mkstemp()`, `tempfile.NamedTemporaryFile()` or `tempfile.mkdtemp()`, which create it atomically."
    explanation = """
**Why**: `mktemp()` only picks a name that does not exist *yet*. Between that moment and your `open()`,
another process can create the file or a symlink with that name (to a file you can write, or to data
it wants you to read back). The function has been deprecated since Python 2.3 for this reason.

**Example**: `path = tempfile.mktemp(suffix=".csv"); df.to_csv(path)`

**Fix**: `fd, path = tempfile.mkstemp(suffix=".csv")` (created with mode 0600), or
`with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:`, or a file inside
`tempfile.mkdtemp()`.
"""
    triggers = (r"mktemp",)
    modules = ("tempfile",)
    bandit_ids = ("B306",)
    VALID = [
        Valid("import tempfile\nfd, p = tempfile.mkstemp()"),
        Valid("import tempfile\nd = tempfile.mkdtemp()"),
        Valid("!mktemp -d", note="the mktemp command creates the file"),
    ]
    INVALID = [
        Invalid("import tempfile\npath = tempfile.mktemp(suffix='.csv')", line=2),
        Invalid("from tempfile import mktemp\nf = open(mktemp(), 'w')"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("tempfile.mktemp"):
            ctx.report(self, call.node)


# ---------------------------------------------------------------------------------------------
# MLS303: world-writable / world-readable permissions

_STAT_BITS = {
    "S_ISUID": 0o4000, "S_ISGID": 0o2000, "S_ISVTX": 0o1000,
    "S_IRWXU": 0o700, "S_IRUSR": 0o400, "S_IWUSR": 0o200, "S_IXUSR": 0o100,
    "S_IRWXG": 0o070, "S_IRGRP": 0o040, "S_IWGRP": 0o020, "S_IXGRP": 0o010,
    "S_IRWXO": 0o007, "S_IROTH": 0o004, "S_IWOTH": 0o002, "S_IXOTH": 0o001,
    "S_IREAD": 0o400, "S_IWRITE": 0o200, "S_IEXEC": 0o100,
}
_W_OTH, _R_OTH = 0o002, 0o004


def mode_bits(node, ctx, depth: int = 0) -> tuple[int | None, int]:
    """(exact value or None, bits certainly set) of a mode expression, without evaluating code.

    Understands integer literals, `stat.S_*` constants and `| & + ^ ~` over them; `st.st_mode | S_IWOTH`
    is unknown but certainly world-writable.
    """
    import libcst as cst

    if node is None or depth > 20:
        return None, 0
    v = literal(node)
    if isinstance(v, int) and not isinstance(v, bool):
        return v, v
    if isinstance(node, (cst.Name, cst.Attribute)):
        q = ctx.resolve(node)
        if q and q.startswith("stat.") and q[5:] in _STAT_BITS:
            b = _STAT_BITS[q[5:]]
            return b, b
        return None, 0
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
        e, _ = mode_bits(node.expression, ctx, depth + 1)
        return (~e & 0o7777, ~e & 0o7777) if e is not None else (None, 0)
    if isinstance(node, cst.BinaryOperation):
        le, lm = mode_bits(node.left, ctx, depth + 1)
        re_, rm = mode_bits(node.right, ctx, depth + 1)
        both = le is not None and re_ is not None
        op = node.operator
        if isinstance(op, cst.BitOr):
            return (le | re_ if both else None), lm | rm
        if isinstance(op, cst.BitAnd):
            return (le & re_ if both else None), lm & rm
        if isinstance(op, cst.Add) and both:
            return le + re_, le + re_
        if isinstance(op, cst.BitXor) and both:
            return le ^ re_, le ^ re_
    return None, 0


# callee -> (position of the mode argument, kind)
_MODE_CALLS = {
    "os.chmod": (1, "chmod"), "os.lchmod": (1, "chmod"), "os.fchmod": (1, "chmod"),
    "pathlib.Path().chmod": (0, "chmod"), "pathlib.Path().lchmod": (0, "chmod"),
    "pathlib.PosixPath().chmod": (0, "chmod"),
    "os.mkdir": (1, "create"), "os.makedirs": (1, "create"), "os.open": (2, "create"),
    "pathlib.Path().mkdir": (0, "create"), "pathlib.PosixPath().mkdir": (0, "create"),
    "os.umask": (0, "umask"),
}
_CHMOD_WHO = re.compile(r"^(?P<who>[ugoa]*)(?P<op>[-+=])(?P<perm>[rwxXst]*)$")


def _shell_mode_world_writable(mode: str) -> bool:
    if re.fullmatch(r"[0-7]{3,4}", mode):
        return bool(int(mode, 8) & _W_OTH)
    for clause in mode.split(","):
        m = _CHMOD_WHO.match(clause)
        if m and m.group("op") in "+=" and "w" in m.group("perm") and (
            "o" in m.group("who") or "a" in m.group("who")
        ):
            return True
    return False


@register
class PermissiveMode(Rule):
    id = "MLS303"
    name = "permissive-file-mode"
    category = Category.STORAGE
    severity = Severity.HIGH
    cwe = 732
    stage = Stage.OPERATION
    message = "`{name}` makes {what} world-writable (mode {mode}): any user on the machine can replace it"
    fix_hint = "Use 0o600 for files and 0o700 for directories (0o644 / 0o755 only for what others must read)."
    explanation = """
**Why**: a world-writable file (the `o+w` bit, 0o002) or directory lets every account on the machine
change it: models, datasets, pickles and scripts written with `0o777`/`0o666` can be replaced by
another user of a shared server, and a replaced pickle or script runs in your kernel next time. A
world-readable file (0o004) exposes data and credentials to them (reported at low severity). Modes
are evaluated from literals and `stat.S_*` constants (`stat.S_IRWXU | stat.S_IRWXO` is 0o707).

- `os.chmod` / `Path.chmod` set the mode as given: world-writable is high, world-readable low.
- `os.mkdir` / `os.makedirs` / `os.open` / `Path.mkdir` modes pass through the umask, which usually
  removes `o+w` (0o777 is even their default); an explicit world-writable mode is reported at low
  severity because it states the intent and takes effect as written under `umask 0`. Their
  world-readable modes are normal and not reported.
- `os.umask(m)` without the 0o002 bit makes everything created afterwards world-writable.
- `!chmod 777 ...` / `chmod -R a+w` in shell lines: world-writable modes only.

**Example**: `os.chmod("model.pkl", 0o777)`; `os.umask(0)`; `os.makedirs(out_dir, mode=0o777)`

**Fix**: `os.chmod(path, 0o600)` (or `stat.S_IRUSR | stat.S_IWUSR`), `os.makedirs(d, mode=0o700)`,
`os.umask(0o077)`.
"""
    triggers = (r"chmod", r"umask", r"os\.open", r"S_I", r"0o[0-7]{3,4}", r"\bmode\s*=")
    modules = ("stat",)
    bandit_ids = ("B103",)
    VALID = [
        Valid("import os\nos.chmod('key.pem', 0o600)"),
        Valid("import os, stat\nos.chmod(p, stat.S_IRUSR | stat.S_IWUSR)"),
        Valid("import os\nos.makedirs('out', exist_ok=True)"),
        Valid("import os\nos.makedirs('out', mode=0o755, exist_ok=True)", note="umask-filtered creation mode"),
        Valid("import os\nos.umask(0o022)"),
        Valid("import os, stat\nos.chmod(script, os.stat(script).st_mode | stat.S_IEXEC)"),
        Valid("!chmod +x run.sh && chmod 600 ~/.kaggle/kaggle.json"),
        Valid("def chmod(p, m):\n    pass\nchmod('x', 0o777)", note="a user function"),
    ]
    INVALID = [
        Invalid("import os\nos.chmod('model.pkl', 0o777)", line=2, severity="high"),
        Invalid("import os, stat\nos.chmod(p, stat.S_IRWXU | stat.S_IRWXO)", severity="high"),
        Invalid("import os\nos.chmod('data.csv', 0o644)", severity="low"),
        Invalid("import os, stat\nos.chmod(p, os.stat(p).st_mode | stat.S_IWOTH)", severity="high"),
        Invalid("from pathlib import Path\nPath('out').chmod(0o666)", severity="high"),
        Invalid("import os\nos.makedirs(out_dir, mode=0o777, exist_ok=True)", severity="low"),
        Invalid("import os\nos.mkdir('cache', 0o777)", severity="low"),
        Invalid("import os\nfd = os.open('x.bin', os.O_WRONLY | os.O_CREAT, 0o666)", severity="low"),
        Invalid("import os\nos.umask(0)", severity="medium"),
        Invalid("!chmod -R 777 /content/models", severity="high"),
        Invalid("%%bash\nchmod a+w shared.db", line=2),
    ]

    def check_call(self, call: Call, ctx) -> None:
        call = resolved(call, ctx)
        if call.qualname not in _MODE_CALLS:
            return
        pos, kind = _MODE_CALLS[call.qualname]
        node = call.arg(pos, "mask" if kind == "umask" else "mode")
        if node is None:
            return
        exact, must = mode_bits(node, ctx)
        name = call.qualname.replace("()", "")
        mode = f"0o{exact:03o}" if exact is not None else "with o+w"
        if kind == "umask":
            if exact is not None and not exact & _W_OTH:
                ctx.report(self, call.node, severity=Severity.MEDIUM,
                           message=f"`os.umask(0o{exact:03o})` lets every file and directory created afterwards be "
                                   "world-writable")
            return
        if must & _W_OTH:
            what = "the file" if kind == "chmod" else "what it creates"
            if kind == "chmod":
                ctx.report(self, call.node, message=self.message.format(name=name, what=what, mode=mode))
            else:
                ctx.report(self, call.node, severity=Severity.LOW, confidence=Confidence.MEDIUM,
                           message=self.message.format(name=name, what=what, mode=mode)
                           + " (unless the umask removes o+w)",
                           notes=["the process umask usually removes o+w; it does not under umask 0"])
        elif kind == "chmod" and must & _R_OTH:
            ctx.report(self, call.node, severity=Severity.LOW, confidence=Confidence.MEDIUM,
                       message=f"`{name}` makes the file world-readable (mode {mode}): every user on the machine can "
                               "read it")

    def check_special(self, special, ctx) -> None:
        if special.kind != "shell" or "chmod" not in special.text:
            return
        from ..engine import split_commands

        for cmd in split_commands(special.command):
            words = [w for w in cmd if not re.fullmatch(r"[A-Za-z_]\w*=.*", w)]
            if words and words[0] == "sudo":
                words = words[1:]
            if not words or words[0].rsplit("/", 1)[-1] != "chmod":
                continue
            args = [w for w in words[1:] if not (w.startswith("-") and not _CHMOD_WHO.match(w))]
            if args and _shell_mode_world_writable(args[0]):
                start = special.text.find(args[0])
                ctx.report_special(self, special, max(start, 0), start + len(args[0]) if start >= 0 else None,
                                   message=f"`chmod {args[0]}` makes the files world-writable: any user on the "
                                           "machine can replace them")


# ---------------------------------------------------------------------------------------------
# MLS304: archive extraction without a filter

_SAFE_TAR_FILTERS = ("data", "tar")


@register
class TarExtract(Rule):
    id = "MLS304"
    name = "archive-path-traversal"
    category = Category.STORAGE
    severity = Severity.MEDIUM
    cwe = 22
    stage = Stage.DATA_PREPARATION
    message = "`{name}` without `filter=\"data\"`: a crafted archive can write outside the target directory"
    fix_hint = "Pass `filter=\"data\"` (Python 3.12+, and the 3.8.17 / 3.9.17 / 3.10.12 / 3.11.4 security releases)."
    explanation = """
**Why**: tar members can be named `../../.bashrc` or `/home/you/.ssh/authorized_keys`, or be symlinks
and hard links pointing outside the target. `TarFile.extractall()` / `extract()` before Python 3.14
honour all of that unless a `filter` says otherwise (CVE-2007-4559), so extracting a downloaded
dataset or model archive lets its author overwrite your files, including code that runs later
(`~/.ipython/profile_default/startup/`, site-packages). `shutil.unpack_archive` does the same for tar
formats. Severity is raised when the archive comes from a download; with a `members=` selection it is
lowered (check that the selection rejects absolute paths, `..` and links).

`zipfile.ZipFile.extractall` is **not** reported: zipfile strips absolute paths and `..` components
from member names and never creates links, so members stay inside the target directory (zip bombs
remain possible; check sizes for untrusted archives).

**Example**
```python
with tarfile.open("dataset.tar.gz") as tar:
    tar.extractall("data")
```

**Fix**: `tar.extractall("data", filter="data")` (refuses links out, absolute paths, `..`, device
files and unsafe permissions); `shutil.unpack_archive(path, dest, filter="data")`. On Pythons without
filters, check each member's resolved path is inside the destination before extracting.
"""
    triggers = (r"extractall", r"\.extract\(", r"unpack_archive")
    modules = ("tarfile", "shutil")
    bandit_ids = ("B202",)
    # unsafe: Pythons without extraction filters (before 3.12 and the 2023 security releases) reject the
    # keyword, and the data filter refuses links out of the target and clears group/other write bits
    fixable = "unsafe"
    VALID = [
        Valid("import tarfile\nwith tarfile.open('d.tgz') as tar:\n    tar.extractall('data', filter='data')"),
        Valid("import tarfile\ntar = tarfile.open('d.tgz')\ntar.extractall(path='.', filter=tarfile.data_filter)"),
        Valid("import zipfile\nwith zipfile.ZipFile('d.zip') as z:\n    z.extractall('.')",
              note="zipfile sanitizes member names"),
        Valid("import shutil\nshutil.unpack_archive('d.tar.gz', 'out', filter='data')"),
        Valid("import shutil\nshutil.unpack_archive('d.zip', 'out')", note="zip format"),
        Valid("import tarfile\ntarfile.open('d.tgz').extractall('.', filter='tar')"),
        Valid("import tarfile\nwith tarfile.open(p) as t:\n    t.extractall('.', filter=my_filter)",
              note="a custom filter function"),
    ]
    INVALID = [
        Invalid("import tarfile\nwith tarfile.open(file_path) as t:\n    t.extractall('.')", line=3, severity="medium",
                expected_replacement="import tarfile\nwith tarfile.open(file_path) as t:\n    t.extractall('.', filter=\"data\")"),
        Invalid("import tarfile\ntar = tarfile.open(f'{local_path}/model.tar.gz', 'r:gz')\ntar.extractall(path=local_path)",
                line=3),
        Invalid("import tarfile\ntarfile.open('d.tgz').extractall('out')", line=2),
        Invalid("import tarfile\nwith tarfile.open(p) as tar:\n    for m in tar.getmembers():\n        tar.extract(m, 'out')",
                line=4),
        Invalid("import tarfile\nwith tarfile.open(p) as t:\n    t.extractall(filter='fully_trusted')",
                expected_replacement="import tarfile\nwith tarfile.open(p) as t:\n    t.extractall(filter='data')"),
        Invalid("import shutil\nshutil.unpack_archive('data.tar.gz', 'out')", line=2,
                expected_replacement="import shutil\nshutil.unpack_archive('data.tar.gz', 'out', filter=\"data\")"),
        Invalid("import tarfile\nwith tarfile.open(p) as t:\n    t.extractall('.', members=safe_members(t))",
                severity="low"),
        Invalid("!wget https://example.com/data.tar.gz\nimport tarfile\ntarfile.open('data.tar.gz').extractall()",
                line=3, severity="high", note="archive from a download"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        call = resolved(call, ctx)
        if call.is_("shutil.unpack_archive"):
            fmt = string_value(call.arg(2, "format"))
            fname = string_value(call.arg(0, "filename"))
            if fmt == "zip" or (fmt is None and fname and fname.lower().endswith(".zip")):
                return
            if self._safe_filter(call.arg(None, "filter"), ctx):
                return
            self._report(call, ctx, call.arg(0, "filename"))
            return
        if call.name not in ("extractall", "extract") or not call.is_("tarfile.*"):
            return
        if self._safe_filter(call.arg(None, "filter"), ctx):
            return
        archive = None
        import libcst as cst

        func = call.node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) and func.value.args:
            archive = func.value.args[0].value  # tarfile.open(path).extractall()
        self._report(call, ctx, archive, members=call.arg(1 if call.name == "extractall" else None, "members"))

    @staticmethod
    def _safe_filter(node, ctx) -> bool:
        if node is None:
            return False
        v = string_value(node)
        if v is not None:
            return v in _SAFE_TAR_FILTERS
        if literal(node) is not MISSING:  # None
            return False
        q = ctx.resolve(node)
        if q in ("tarfile.fully_trusted_filter",):
            return False
        return True  # tarfile.data_filter / tar_filter, or the notebook's own filter function

    def _report(self, call: Call, ctx, archive, members=None) -> None:
        name = call.qualname.replace("()", "")
        if call.is_("tarfile.*"):
            name = f"TarFile.{call.name}"
        notes: list[str] = []
        sev = self.severity
        origin = ctx.origin(archive) if archive is not None else None
        if origin is not None:
            sev = Severity.HIGH
            notes.append(origin.describe() + "; severity raised")
        if members is not None and literal(members) is MISSING:
            sev = Severity.LOW
            notes.append("members= selects what to extract: make sure it rejects absolute paths, '..' and links")
        current = call.arg(None, "filter")
        edit = (fixes.replace(current, fixes.same_quotes(current, "data")) if current is not None
                else fixes.set_keyword(call.node, "filter", '"data"'))
        ctx.report(self, call.node, message=self.message.format(name=name), severity=sev, notes=notes,
                   fix=fixes.fix([edit], safe=False, title='Pass filter="data"'))


# ---------------------------------------------------------------------------------------------
# MLS305: saving models and data as pickles

_MODELISH = re.compile(r"model|net$|^net|clf|classifier|regressor|estimator|learner|pipeline|pipe$|encoder|decoder|"
                       r"generator|discriminator|agent|module$", re.I)
_NOT_MODEL = re.compile(r"state|dict|weight|wts|param|ckpt|checkpoint|tensor|embed|optim|_sd$", re.I)


@register
class PickleSave(Rule):
    id = "MLS305"
    name = "pickle-format-save"
    category = Category.STORAGE
    severity = Severity.LOW
    confidence = Confidence.HIGH
    cwe = 502
    stage = Stage.TRAINING
    message = "`{name}` stores {what} as a pickle: whoever loads the file runs any code a tamperer put in it"
    fix_hint = "Save weights with safetensors, scikit-learn models with skops, whole models as ONNX, tables as Parquet."
    explanation = """
**Why**: a pickle is a program that rebuilds objects. Files written with pickle, joblib, dill,
cloudpickle, `DataFrame.to_pickle`, `numpy.save(allow_pickle=True)` or whole-model `torch.save` can
only be loaded by running that program, so anyone who can replace the file on its way (shared disk,
bucket, model hub, e-mail) gets code execution in the loader's kernel, and the people you share it
with must trust you completely. This is low severity at save time; the load is where the damage
happens (MLS101/MLS103).

**Example**
```python
joblib.dump(clf, "model.joblib")
torch.save(model, "model.pt")          # the whole nn.Module, pickled
```

**Fix**
- PyTorch: `torch.save(model.state_dict(), "model.pt")` (loadable with `weights_only=True`) or
  `safetensors.torch.save_file(model.state_dict(), "model.safetensors")`.
- scikit-learn: `skops.io.dump(clf, "model.skops")`, or export to ONNX (`skl2onnx`).
- transformers: `save_pretrained(dir)` (safetensors by default; don't pass `safe_serialization=False`).
- DataFrames and arrays: Parquet / Feather / CSV; `numpy.save` of numeric arrays with `allow_pickle=False`.
"""
    triggers = (r"\bdump\(", r"\.dump\b", r"to_pickle", r"allow_pickle", r"torch\.save\(", r"safe_serialization")
    modules = ("pickle", "dill", "cloudpickle", "joblib", "torch.save", "pandas.to_pickle")
    bandit_ids = ()
    VALID = [
        Valid("import torch\ntorch.save(model.state_dict(), 'model.pt')"),
        Valid("import torch\ntorch.save({'model': model.state_dict(), 'epoch': 3}, 'ckpt.pt')"),
        Valid("import torch\ntorch.save(best_model_wts, 'best.pt')", note="a state dict by name"),
        Valid("import json\njson.dump(cfg, f)"),
        Valid("import pickle\nb = pickle.dumps(obj)", note="bytes in memory, not storage"),
        Valid("import numpy as np\nnp.save('x.npy', arr)"),
        Valid("import yaml\nyaml.dump(cfg, f)"),
        Valid("model.save_pretrained('out')"),
    ]
    INVALID = [
        Invalid("import pickle\nwith open('data.pkl', 'wb') as f:\n    pickle.dump(data, f)", line=3, severity="low"),
        Invalid("import joblib\njoblib.dump(clf, 'model.joblib')", line=2),
        Invalid("import cloudpickle\ncloudpickle.dump(agent, f)"),
        Invalid("import dill as d\nd.dump(obj, f)"),
        Invalid("import pandas as pd\ndf = pd.read_csv('a.csv')\ndf.to_pickle('a.pkl')", line=3),
        Invalid("import numpy as np\nnp.save('feat.npy', feats, allow_pickle=True)"),
        Invalid("import torch\ntorch.save(model, 'model.pt')", line=2),
        Invalid("import torch\ntorch.save(self.model, path)"),
        Invalid("model.save_pretrained('out', safe_serialization=False)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        q = call.qualname
        if call.is_("pickle.dump", "dill.dump", "cloudpickle.dump", "joblib.dump", "pandas.to_pickle"):
            what = "the object" if not call.is_("joblib.dump") else "the model or object"
            hint = "skops or ONNX for scikit-learn models" if call.is_("joblib.dump") else "JSON, Parquet or safetensors"
            ctx.report(self, call.node, message=self.message.format(name=q, what=what) + f"; prefer {hint}")
        elif call.name == "to_pickle" and (q is None or q.startswith("pandas.")):
            ctx.report(self, call.node, message=self.message.format(name="DataFrame.to_pickle", what="the table")
                       + "; prefer Parquet (`to_parquet`) or Feather")
        elif call.is_("numpy.save") and is_true(call.arg(None, "allow_pickle")):
            ctx.report(self, call.node, message=self.message.format(name="numpy.save(allow_pickle=True)",
                                                                    what="object arrays")
                       + "; save numeric arrays with `allow_pickle=False`")
        elif call.is_("torch.save"):
            obj = call.arg(0, "obj")
            d = dotted_name(obj)
            last = d.rsplit(".", 1)[-1] if d else ""
            if last and _MODELISH.search(last) and not _NOT_MODEL.search(last):
                ctx.report(self, call.node, confidence=Confidence.MEDIUM,
                           message=self.message.format(name="torch.save", what=f"the whole model `{d}`")
                           + "; save `state_dict()` or use safetensors")
        elif call.name in ("save_pretrained", "push_to_hub") and is_false(call.arg(None, "safe_serialization")):
            ctx.report(self, call.node, message=self.message.format(name=call.name, what="the weights")
                       + " (pytorch_model.bin) instead of safetensors")


# ---------------------------------------------------------------------------------------------
# MLS306: public cloud storage


def _public_acl(value: str | None) -> str | None:
    """'read' or 'read-write' when a canned/predefined ACL string grants the public access."""
    if not value:
        return None
    v = value.lower().replace("-", "").replace("_", "")
    if v in ("publicreadwrite",):
        return "readable and writable by anyone on the internet"
    if v in ("publicread", "allusers"):
        return "readable by anyone on the internet"
    if v == "authenticatedread":
        return "readable by every cloud account holder, i.e. by anyone"
    return None


_ACL_KWARGS = ("ACL", "acl", "predefined_acl", "predefined_default_object_acl", "CannedACL")


@register
class PublicCloudStorage(Rule):
    id = "MLS306"
    name = "public-cloud-storage"
    category = Category.STORAGE
    severity = Severity.HIGH
    cwe = 732
    stage = Stage.OPERATION
    message = "{what} makes the stored object or bucket {access}"
    fix_hint = "Keep buckets private; share with signed URLs (`generate_presigned_url`, `blob.generate_signed_url`) or IAM."
    explanation = """
**Why**: training data, model weights and evaluation outputs often hold personal data, licensed data
or a model you have not released. A `public-read` ACL (S3, s3fs), `make_public()` / `publicRead`
(Google Cloud Storage) or `public_access="container"` (Azure) makes them downloadable by anyone who
guesses or finds the URL; bucket names are easy to enumerate. `public-read-write` also lets anyone
replace your files, e.g. a model that others load (critical). `authenticated-read` means any AWS
account, which is the same as public.

**Example**
```python
s3.upload_file("model.pkl", "ml-bucket", "model.pkl", ExtraArgs={"ACL": "public-read"})
bucket.blob("train.csv").make_public()
```

**Fix**: leave the ACL private (the default; S3 Block Public Access should stay on) and hand out
time-limited links: `s3.generate_presigned_url("get_object", Params={...}, ExpiresIn=3600)` or
`blob.generate_signed_url(expiration=timedelta(hours=1))`; grant access to named principals with IAM.
"""
    triggers = (r"(?i:public.?read|authenticated.?read)", r"make_public|grant_read|public_access|(?i:allusers)")
    bandit_ids = ()
    VALID = [
        Valid("import boto3\ns3 = boto3.client('s3')\ns3.upload_file('m.pkl', 'b', 'm.pkl', ExtraArgs={'ACL': 'private'})"),
        Valid("import boto3\ns3 = boto3.client('s3')\ns3.put_object(Bucket='b', Key='k', Body=data)"),
        Valid("print('the bucket is public-read')"),
        Valid("url = blob.generate_signed_url(expiration=3600)"),
    ]
    INVALID = [
        Invalid("import boto3\ns3 = boto3.client('s3')\ns3.put_object(Bucket='b', Key='k', Body=b, ACL='public-read')",
                line=3, severity="high"),
        Invalid("import boto3\ns3 = boto3.client('s3')\ns3.upload_file('m.pkl', 'b', 'm.pkl', ExtraArgs={'ACL': 'public-read'})",
                line=3),
        Invalid("import boto3\nboto3.client('s3').create_bucket(Bucket='b', ACL='public-read-write')",
                severity="critical"),
        Invalid("from google.cloud import storage\nclient = storage.Client()\nblob = client.bucket('b').blob('x')\n"
                "blob.make_public()", line=4),
        Invalid("bucket.make_public(recursive=True, future=True)", note="receiver not resolved"),
        Invalid("blob.upload_from_filename('m.pt', predefined_acl='publicRead')"),
        Invalid("import s3fs\nfs = s3fs.S3FileSystem()\nfs.put('m.pt', 's3://b/m.pt', acl='public-read')"),
        Invalid("blob.acl.all().grant_read()"),
        Invalid("container_client.create_container(public_access='container')"),
    ]

    def _report_acl(self, node, value: str, ctx, where: str) -> None:
        access = _public_acl(value)
        if access is None:
            return
        ctx.report(self, node, message=self.message.format(what=f"{where} `{value}`", access=access),
                   severity=Severity.CRITICAL if "writable" in access else self.severity)

    def check_call(self, call: Call, ctx) -> None:
        for kw in _ACL_KWARGS:
            v = string_value(call.arg(None, kw))
            if v is not None:
                self._report_acl(call.node, v, ctx, f"{kw}=")
        pa = call.arg(None, "public_access")
        if pa is not None:
            v = string_value(pa)
            if v is None:
                q = ctx.resolve(pa)
                v = q.rsplit(".", 1)[-1] if q and "PublicAccess" in q else None
            if v and v.lower() in ("container", "blob"):
                ctx.report(self, call.node, message=self.message.format(what=f"public_access=`{v}`",
                                                                        access="readable by anyone on the internet"))
            return
        if call.name == "make_public":
            q = resolved(call, ctx).qualname
            if q is None or q.startswith("google.cloud.") or q.startswith("gcsfs."):
                ctx.report(self, call.node, message=self.message.format(
                    what="`make_public()`", access="readable by anyone on the internet"),
                           confidence=Confidence.HIGH if q else Confidence.MEDIUM)
            return
        import libcst as cst

        func = call.node.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("grant_read", "grant_write", "grant_owner"):
            recv = func.value
            if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Attribute) and recv.func.attr.value in (
                "all", "all_authenticated"
            ):
                access = ("readable" if func.attr.value == "grant_read" else "writable") + " by anyone on the internet"
                ctx.report(self, call.node, message=self.message.format(
                    what=f"`{recv.func.attr.value}().{func.attr.value}()`", access=access),
                    severity=Severity.HIGH if func.attr.value == "grant_read" else Severity.CRITICAL)

    def check_dict_item(self, key, value, node, ctx) -> None:
        if key in _ACL_KWARGS:
            v = string_value(value)
            if v is not None:
                self._report_acl(node, v, ctx, f"'{key}':")


# ---------------------------------------------------------------------------------------------
# MLS307: md5 / sha1

_WEAK_HASHES = ("md4", "md5", "sha", "sha1", "ripemd160")


@register
class WeakHash(Rule):
    id = "MLS307"
    name = "weak-hash"
    category = Category.STORAGE
    severity = Severity.LOW
    confidence = Confidence.MEDIUM
    cwe = 328
    stage = Stage.DATA_PREPARATION
    message = "`{name}` is a broken hash: collisions can be crafted, so it cannot vouch for a file's integrity"
    fix_hint = "Use `hashlib.sha256` for integrity checks; for non-security uses (cache keys) pass `usedforsecurity=False`."
    explanation = """
**Why**: MD5 and SHA-1 collisions can be computed cheaply, so two different files (a clean and a
poisoned dataset, a benign and a malicious pickle) can share a checksum; a checksum in a README or a
manifest then proves nothing. Many notebooks verify downloads or deduplicate data with them. If the
hash is only a cache key or a bucket id, say so with `usedforsecurity=False` (Python 3.9+), which
also keeps the code working on FIPS-mode systems.

**Example**: `hashlib.md5(open("model.bin", "rb").read()).hexdigest() == EXPECTED`

**Fix**: `hashlib.sha256(...)` (or `hashlib.file_digest(f, "sha256")`); for non-security uses
`hashlib.md5(data, usedforsecurity=False)`.
"""
    triggers = (r"md4|md5|sha1|\bsha\b|ripemd|MD5|SHA1|\bSHA\b", r"hashlib")
    modules = ("hashlib", "Crypto.Hash", "Cryptodome.Hash", "cryptography.hazmat.primitives.hashes")
    bandit_ids = ("B324", "B303")
    # `usedforsecurity=False` keeps every digest the same, but it states that the hash vouches for
    # nothing: only the author knows that (an integrity check needs sha256 instead), so unsafe.
    fixable = "unsafe"
    VALID = [
        Valid("import hashlib\nhashlib.sha256(b).hexdigest()"),
        Valid("import hashlib\nkey = hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()"),
        Valid("import hashlib\nh = hashlib.new('sha256')"),
    ]
    INVALID = [
        Invalid("import hashlib\nok = hashlib.md5(data).hexdigest() == EXPECTED", line=2, severity="low"),
        Invalid("import hashlib\nh = hashlib.sha1()", expected_replacement="import hashlib\nh = hashlib.sha1(usedforsecurity=False)"),
        Invalid("import hashlib\nh = hashlib.new('MD5', data)",
                expected_replacement="import hashlib\nh = hashlib.new('MD5', data, usedforsecurity=False)"),
        Invalid("from hashlib import md5\nmd5(b)"),
        Invalid("import hashlib\nwith open(p, 'rb') as f:\n    d = hashlib.file_digest(f, 'sha1')", line=3),
        Invalid("from Crypto.Hash import MD5\nh = MD5.new()"),
        Invalid("from cryptography.hazmat.primitives import hashes\nh = hashes.Hash(hashes.SHA1())"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        name = None
        if call.is_("hashlib.md5", "hashlib.sha1"):
            name = call.qualname
        elif call.is_("hashlib.new"):
            algo = string_value(call.arg(0, "name"))
            if algo and algo.lower() in _WEAK_HASHES:
                name = f"hashlib.new({algo!r})"
        elif call.is_("hashlib.file_digest"):
            algo = string_value(call.arg(1, "digest"))
            if algo and algo.lower() in _WEAK_HASHES:
                name = f"hashlib.file_digest(..., {algo!r})"
            if name:
                ctx.report(self, call.node, message=self.message.format(name=name))
            return
        elif call.is_("Crypto.Hash.*", "Cryptodome.Hash.*") and call.name == "new":
            mod = call.qualname.split(".")[-2]
            if mod.lower() in ("md4", "md5", "sha", "sha1", "ripemd", "ripemd160"):
                name = call.qualname
        elif call.is_("cryptography.hazmat.primitives.hashes.MD5", "cryptography.hazmat.primitives.hashes.SHA1"):
            name = call.qualname.rsplit(".", 1)[-1]
        if name is None or is_false(call.arg(None, "usedforsecurity")):
            return
        fix = None
        if call.is_("hashlib.md5", "hashlib.sha1", "hashlib.new"):
            fix = fixes.fix([fixes.set_keyword(call.node, "usedforsecurity", "False")], safe=False,
                            title="Mark as not for security (usedforsecurity=False)")
        ctx.report(self, call.node, message=self.message.format(name=name), fix=fix)
