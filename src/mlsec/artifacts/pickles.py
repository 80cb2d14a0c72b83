"""What a pickle imports, read from its opcodes with `pickletools.genops` (parsing only: nothing is unpickled).

`GLOBAL` and `INST` carry `module name` in their argument; `STACK_GLOBAL` (protocol 4+) takes the two
strings pushed before it, directly or through the memo (`PUT`/`BINPUT`/`LONG_BINPUT`/`MEMOIZE` then
`GET`...), as picklescan resolves them. A name that cannot be resolved that way is built at load time and
is treated as dangerous. Files may hold several pickles back to back (legacy `torch.save`) and joblib
writes raw numpy array bytes inside its pickle stream, right after each `NumpyArrayWrapper`'s BUILD:
those bytes are skipped using the wrapper's shape and dtype as read from the opcodes.
"""
from __future__ import annotations

import pickletools
import re
import warnings
from collections import deque
from dataclasses import dataclass, field

from ..findings import Severity
from .limits import BoundedReader, OverBudget

MAX_STREAMS = 64  # pickles read back to back from one file
# first opcodes of protocol 0/1 pickles: MARK, GLOBAL, EMPTY_DICT/LIST/TUPLE, INT/BININT..., NONE, strings
PROTO01_STARTS = frozenset(bytes([b]) for b in b"(c}])NIJKLMFGSUVXTtdlpi")
_BYTES_HELPERS = frozenset({("_codecs", "encode"), ("codecs", "encode"), ("builtins", "bytes"), ("__builtin__", "bytes")})
MAX_NESTED = 16  # pickles inside bytes handed to pickle.loads & co, per pickle
NESTED_LOADERS = frozenset({
    ("pickle", "loads"), ("_pickle", "loads"), ("cPickle", "loads"), ("dill", "loads"), ("dill._dill", "loads"),
    ("cloudpickle", "loads"), ("torch.storage", "_load_from_bytes"), ("torch", "load"),
    ("torch.serialization", "load"),
})
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                         "SHORT_BINSTRING"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_INT_OPS = frozenset({"BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4"})
_NEUTRAL_OPS = frozenset({"PROTO", "FRAME"})
_BYTES_OPS = frozenset({"SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"})
_SPECIAL_OPS = _STRING_OPS | _BYTES_OPS | _PUT_OPS | _GET_OPS | _INT_OPS | _NEUTRAL_OPS | {
    "MEMOIZE", "GLOBAL", "INST", "STACK_GLOBAL", "BUILD", "REDUCE"}
_PLAIN_OPS = frozenset(op.name for op in pickletools.opcodes) - _SPECIAL_OPS


class _Unknown:
    def __repr__(self) -> str:  # pragma: no cover
        return "?"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class _Global:
    """An imported object on the stack (memoized and fetched again by later GETs)."""

    module: str
    name: str


@dataclass(frozen=True)
class _Dtype:
    """A numpy dtype built from its code ('f8'), memoized and fetched again for later joblib arrays."""

    code: str
UNRESOLVED = "<built at load time>"


@dataclass
class Import:
    module: str
    name: str
    offset: int  # first byte offset of the opcode that imports it
    count: int = 1
    opcode: str = "GLOBAL"

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class PickleScan:
    imports: dict[tuple[str, str], Import] = field(default_factory=dict)
    problem: str | None = None  # why the scan stopped early
    problem_offset: int | None = None
    opcodes: int = 0
    streams: int = 0
    # bytes handed to pickle.loads & co inside this pickle: (offset, blob), scanned in turn by the caller
    nested: list[tuple[int, bytes]] = field(default_factory=list)
    nested_pending: bool = False

    def add(self, module: str, name: str, offset: int, opcode: str) -> None:
        key = (module, name)
        if key in NESTED_LOADERS:
            self.nested_pending = True
        elif key not in _BYTES_HELPERS:  # protocol 2 writes bytes as _codecs.encode(text, "latin1")
            self.nested_pending = False
        if key in self.imports:
            self.imports[key].count += 1
        else:
            self.imports[key] = Import(module, name, offset, 1, opcode)

    def blob(self, offset: int, data: bytes) -> None:
        """Bytes pushed after a nested loader was imported: kept when they look like a pickle or a zip."""
        self.nested_pending = False
        if len(self.nested) < MAX_NESTED and len(data) > 4 and (
            data[:1] == b"\x80" and 0 < data[1] <= 5 or data[:4] == b"PK\x03\x04"
        ):
            self.nested.append((offset, data))


def scan_pickles(reader: BoundedReader) -> PickleScan:
    """Walk every pickle in `reader` (back to back). Keeps what it found before any parse error."""
    with warnings.catch_warnings():  # protocol-0 strings with odd escapes make pickletools warn
        warnings.simplefilter("ignore", DeprecationWarning)
        return _scan_pickles(reader)


def _scan_pickles(reader: BoundedReader) -> PickleScan:
    result = PickleScan()
    memo: dict[int, object] = {}
    outer_memo: dict[int, object] | None = None
    nested_next = False
    joblib = _JoblibArrays()
    while result.streams < MAX_STREAMS:
        start = reader.tell()
        try:
            head = reader.peek1()
        except OverBudget as exc:
            result.problem, result.problem_offset = str(exc), start
            return result
        if not head:
            break
        if result.streams and head != b"\x80" and head not in PROTO01_STARTS and not joblib.inside:
            break  # trailing data after the pickles (legacy torch storages): not a pickle
        if outer_memo is not None:
            memo, outer_memo = outer_memo, None  # back in the outer pickle after a nested one
        elif not joblib.inside:
            memo = {}
        recent: deque = deque(maxlen=8)
        push = recent.append
        ops_here = 0
        try:
            for op, arg, pos in pickletools.genops(reader):
                ops_here += 1
                name = op.name
                if name in _PLAIN_OPS:  # most opcodes: data that only matters as "not a string"
                    push(UNKNOWN)
                    if joblib.state_done and joblib.active:
                        joblib.plain_op(name)
                    continue
                offset = pos if pos is not None else reader.tell()
                if name in _STRING_OPS:
                    value = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                    recent.append(value)
                    joblib.string(value)
                    if result.nested_pending and value[:1] in ("\x80", "P"):  # protocol 2 bytes: latin-1 text
                        try:
                            result.blob(offset, value.encode("latin-1"))
                        except UnicodeEncodeError:
                            pass
                elif name in _BYTES_OPS:
                    if result.nested_pending:
                        result.blob(offset, bytes(arg))
                    recent.append(UNKNOWN)
                elif name in _GET_OPS:
                    value = memo.get(arg, UNKNOWN)
                    recent.append(value)
                    if isinstance(value, str):
                        joblib.string(value)
                    elif isinstance(value, _Global):
                        joblib.imported(value.module, value.name)
                    elif isinstance(value, _Dtype):
                        joblib.dtype_again(value.code)
                    else:
                        joblib.other_value()
                elif name in _PUT_OPS:
                    memo[arg] = recent[-1] if recent else UNKNOWN
                elif name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else UNKNOWN
                elif name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    result.add(module, attr, offset, name)
                    joblib.imported(module, attr)
                    recent.append(_Global(module, attr))
                elif name == "STACK_GLOBAL":
                    mod = recent[-2] if len(recent) >= 2 else UNKNOWN
                    attr = recent[-1] if recent else UNKNOWN
                    if isinstance(mod, str) and isinstance(attr, str):
                        result.add(mod, attr, offset, name)
                        joblib.imported(mod, attr)
                        recent.append(_Global(mod, attr))
                    else:
                        result.add(mod if isinstance(mod, str) else UNRESOLVED,
                                   attr if isinstance(attr, str) else UNRESOLVED, offset, name)
                        recent.append(UNKNOWN)
                elif name in _INT_OPS:
                    if joblib.active:
                        joblib.integer(arg)
                    recent.append(UNKNOWN)
                elif name == "BUILD":
                    recent.append(UNKNOWN)
                    skip = joblib.build()
                    if skip is _OBJECT_ARRAY:  # a nested pickle with its own memo follows, then this one goes on
                        nested_next = True
                    elif skip is not None:
                        pad = 0
                        if joblib.pending_alignment:
                            pad_byte = reader.read(1)
                            pad = pad_byte[0] if pad_byte else 0
                        reader.skip(pad + skip)
                elif name == "REDUCE" and joblib.dtype_pending:
                    recent.append(_Dtype(joblib.dtype_pending))
                    joblib.dtype_pending = None
                elif name == "PROTO" and nested_next:
                    nested_next = False
                    outer_memo, memo = memo, {}
                elif name not in _NEUTRAL_OPS:
                    recent.append(UNKNOWN)
        except OverBudget as exc:
            result.opcodes += ops_here
            result.problem, result.problem_offset = str(exc), reader.tell()
            return result
        except Exception as exc:  # genops raises ValueError for bad or truncated input; anything else alike
            result.opcodes += ops_here
            if result.streams == 0 or ops_here > 2 or joblib.inside:
                result.problem = _describe(exc)
                result.problem_offset = reader.tell()
            return result
        result.opcodes += ops_here
        result.streams += 1
    return result


def _describe(exc: Exception) -> str:
    text = str(exc)
    if "exhausted before seeing STOP" in text or "but only" in text or "not enough data" in text:
        return "the pickle ends early (truncated file)"
    return f"the pickle cannot be parsed ({text[:120]})"


# ---------------------------------------------------------------------------------------------
# joblib's raw array data


_OBJECT_ARRAY = object()
_STATE_TAIL_OPS = frozenset({"NEWTRUE", "NEWFALSE", "SETITEMS", "SETITEM", "MARK", "FRAME", "NONE"})
_ITEMSIZE = re.compile(r"^[<>|=]?([a-zA-Z])(\d*)")
_KIND_SIZES = {"b": 1, "?": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
               "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "M": 8, "m": 8, "O": 8}


class _JoblibArrays:
    """Follows joblib's NumpyArrayWrapper state (shape, dtype, alignment) through the opcode stream.

    The raw bytes after a wrapper are skipped only when its state looks exactly as joblib writes it: the
    keys in joblib's order, the shape as literal ints, a dtype whose code was read, and nothing but plain
    values between `allow_mmap` and the BUILD. Anything else is parsed as opcodes (and, if it is array
    data after all, reported as not fully checked), so a crafted state cannot make mlsec skip opcodes."""

    KEYS = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")

    def __init__(self) -> None:
        self.active = False  # a wrapper's state is being read
        self.inside = False  # a wrapper was seen in this file: streams continue after nested pickles
        self.key: str | None = None
        self.keys: list[str] = []
        self.shape: list[int] = []
        self.shape_unknown = False
        self.dtype_code: str | None = None
        self.alignment = False
        self.pending_alignment = False
        self.state_done = False
        self.expect_dtype = False
        self.dtype_pending: str | None = None

    def dtype_again(self, code: str) -> None:
        if self.active and self.key == "dtype" and self.dtype_code is None:
            self.dtype_code = code

    def imported(self, module: str, name: str) -> None:
        if name == "NumpyArrayWrapper" and module.startswith("joblib"):
            self.active, self.inside = True, True
            self.shape, self.dtype_code, self.alignment, self.state_done, self.key = [], None, False, False, None
            self.keys, self.shape_unknown = [], False
        elif name == "dtype" and module.split(".")[0] == "numpy":
            self.expect_dtype = True  # the next string is the dtype's code ('f8'), wherever the dtype is built
        if self.state_done:
            self.active = False  # an import between allow_mmap and the BUILD: not joblib's layout

    def string(self, value: str) -> None:
        if self.expect_dtype:
            self.expect_dtype, self.dtype_pending = False, value
            if self.active and self.key == "dtype" and self.dtype_code is None:
                self.dtype_code = value
            return
        if not self.active:
            return
        if value in self.KEYS and value != self.key:  # ('numpy', 'dtype') STACK_GLOBAL repeats the key text
            self.key = value
            self.keys.append(value)
            if value == "numpy_array_alignment_bytes":
                self.alignment = True
            if value in ("allow_mmap", "numpy_array_alignment_bytes"):
                order_ok = tuple(self.keys) in (self.KEYS[:5], self.KEYS)
                self.state_done = order_ok
                if not order_ok:
                    self.active = False

    def other_value(self) -> None:
        """A value fetched from the memo that is not a string: a shape given that way cannot be read."""
        if self.active and self.key == "shape" and not self.shape:
            self.shape_unknown = True

    def plain_op(self, name: str) -> None:
        """After allow_mmap only plain values may come before the wrapper's BUILD."""
        if name not in _STATE_TAIL_OPS:
            self.active = False

    def integer(self, value: object) -> None:
        if self.active and self.key == "shape" and isinstance(value, int):
            self.shape.append(value)

    def build(self):
        """At a BUILD: bytes of raw array data that follow, _OBJECT_ARRAY, or None (not a wrapper's BUILD)."""
        if not (self.active and self.state_done):
            return None
        self.active = self.expect_dtype = False
        self.pending_alignment = self.alignment
        if self.shape_unknown or any(d < 0 for d in self.shape):
            return None
        code = self.dtype_code or ""
        m = _ITEMSIZE.match(code)
        if not m:
            return None
        kind, digits = m.group(1), m.group(2)
        if kind == "O":
            return _OBJECT_ARRAY
        if kind == "U":
            size = 4 * int(digits or 1)
        elif kind in ("S", "V", "a") or digits:
            size = int(digits or 1)
        else:
            size = _KIND_SIZES.get(kind, 0)
        count = 1
        for d in self.shape:
            count *= d
        return size * count


# ---------------------------------------------------------------------------------------------
# What an import means


_CODE = "runs code"
_SHELL = "runs a shell command"
_FILES = "reads or writes files"
_NET = "opens network connections"
_INTRO = "reaches arbitrary attributes or modules"
_NESTED = "unpickles more data"

# module -> {name: (severity, why)}; "*" matches every name of the module (and its submodules)
_DANGEROUS: dict[str, dict[str, tuple[Severity, str]]] = {
    "builtins": {
        "eval": (Severity.CRITICAL, _CODE), "exec": (Severity.CRITICAL, _CODE),
        "execfile": (Severity.CRITICAL, _CODE), "compile": (Severity.CRITICAL, _CODE),
        "__import__": (Severity.CRITICAL, _INTRO), "breakpoint": (Severity.HIGH, _CODE),
        "open": (Severity.HIGH, _FILES), "input": (Severity.HIGH, _CODE),
        "getattr": (Severity.HIGH, _INTRO), "setattr": (Severity.HIGH, _INTRO),
        "delattr": (Severity.HIGH, _INTRO), "globals": (Severity.HIGH, _INTRO),
        "locals": (Severity.HIGH, _INTRO), "vars": (Severity.HIGH, _INTRO), "apply": (Severity.CRITICAL, _CODE),
    },
    "os": {"*": (Severity.HIGH, "reaches the operating system")},
    "subprocess": {"*": (Severity.CRITICAL, _SHELL)},
    "_posixsubprocess": {"*": (Severity.CRITICAL, _SHELL)},
    "commands": {"*": (Severity.CRITICAL, _SHELL)},
    "pty": {"*": (Severity.CRITICAL, _SHELL)},
    "runpy": {"*": (Severity.CRITICAL, _CODE)},
    "code": {"*": (Severity.CRITICAL, _CODE)},
    "codeop": {"*": (Severity.CRITICAL, _CODE)},
    "timeit": {"*": (Severity.CRITICAL, _CODE)},
    "cProfile": {"run": (Severity.CRITICAL, _CODE), "runctx": (Severity.CRITICAL, _CODE)},
    "profile": {"run": (Severity.CRITICAL, _CODE), "runctx": (Severity.CRITICAL, _CODE)},
    "pdb": {"*": (Severity.CRITICAL, _CODE)},
    "bdb": {"*": (Severity.CRITICAL, _CODE)},
    "trace": {"*": (Severity.HIGH, _CODE)},
    "sys": {"*": (Severity.HIGH, _INTRO)},
    "importlib": {"*": (Severity.HIGH, _INTRO)},
    "pkgutil": {"*": (Severity.HIGH, _INTRO)},
    "types": {"CodeType": (Severity.CRITICAL, _CODE), "FunctionType": (Severity.CRITICAL, _CODE)},
    "marshal": {"*": (Severity.CRITICAL, _CODE)},
    "ctypes": {"*": (Severity.HIGH, "calls native code")},
    "socket": {"*": (Severity.HIGH, _NET)},
    "webbrowser": {"*": (Severity.HIGH, _NET)},
    "http.client": {"*": (Severity.HIGH, _NET)},
    "httplib": {"*": (Severity.HIGH, _NET)},
    "urllib.request": {"*": (Severity.HIGH, _NET)},
    "urllib2": {"*": (Severity.HIGH, _NET)},
    "requests": {"*": (Severity.HIGH, _NET)},
    "aiohttp": {"*": (Severity.HIGH, _NET)},
    "smtplib": {"*": (Severity.HIGH, _NET)},
    "ftplib": {"*": (Severity.HIGH, _NET)},
    "shutil": {"*": (Severity.HIGH, _FILES)},
    "tempfile": {"*": (Severity.HIGH, _FILES)},
    "multiprocessing": {"*": (Severity.HIGH, _SHELL)},
    "asyncio.subprocess": {"*": (Severity.CRITICAL, _SHELL)},
    "asyncio.unix_events": {"*": (Severity.CRITICAL, _SHELL)},
    "pydoc": {"pipepager": (Severity.CRITICAL, _SHELL), "tempfilepager": (Severity.CRITICAL, _SHELL)},
    "pip": {"*": (Severity.CRITICAL, "installs packages")},
    "operator": {"attrgetter": (Severity.HIGH, _INTRO), "methodcaller": (Severity.HIGH, _INTRO)},
    "pickle": {"*": (Severity.HIGH, _NESTED)},
    "_pickle": {"*": (Severity.HIGH, _NESTED)},
    "cPickle": {"*": (Severity.HIGH, _NESTED)},
    "dill": {"*": (Severity.HIGH, "rebuilds functions, classes or code from the file")},
    "dill._dill": {"_create_code": (Severity.CRITICAL, _CODE), "_create_function": (Severity.CRITICAL, _CODE),
                   "loads": (Severity.HIGH, _NESTED), "load": (Severity.HIGH, _NESTED)},
    "cloudpickle": {"*": (Severity.HIGH, "rebuilds functions, classes or code from the file")},
    "shelve": {"*": (Severity.HIGH, _NESTED)},
    "joblib": {"load": (Severity.HIGH, _NESTED)},
    "numpy": {"load": (Severity.HIGH, _NESTED)},
    "numpy.testing._private.utils": {"runstring": (Severity.CRITICAL, _CODE)},
    "pandas": {"read_pickle": (Severity.HIGH, _NESTED)},
    "pandas.io.pickle": {"read_pickle": (Severity.HIGH, _NESTED)},
    "torch": {"load": (Severity.HIGH, _NESTED)},
    "torch.serialization": {"load": (Severity.HIGH, _NESTED)},
    "torch.hub": {"*": (Severity.HIGH, "downloads and runs code")},
    "torch.jit": {"load": (Severity.HIGH, _CODE)},
    "torch.package": {"*": (Severity.HIGH, _CODE)},
    "torch._C": {"*": (Severity.HIGH, "calls PyTorch's native internals")},
    "torch._dynamo": {"*": (Severity.HIGH, _CODE)},
    "torch._inductor": {"*": (Severity.HIGH, _CODE)},
}
_DANGEROUS["__builtin__"] = _DANGEROUS["builtins"]
_DANGEROUS["__builtins__"] = _DANGEROUS["builtins"]
for _m in ("posix", "nt"):
    _DANGEROUS[_m] = _DANGEROUS["os"]
_RUNS_COMMANDS = re.compile(r"^(system|popen\d?|exec\w*|spawn\w*|posix_spawnp?|fork\w*|startfile|kill\w*)$")

_BUILTINS_SAFE = frozenset({
    "set", "frozenset", "slice", "complex", "range", "bytearray", "bytes", "dict", "list", "tuple", "int", "float",
    "str", "bool", "object", "NoneType", "Ellipsis", "NotImplemented", "type(None)",
})
_SAFE_EXACT = frozenset({
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "copyreg._reconstructor", "copy_reg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
    "_codecs.encode", "codecs.encode",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "decimal.Decimal", "fractions.Fraction", "uuid.UUID", "re._compile",
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath", "pathlib.Path",
    "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer", "numpy.ma.core._mareconstruct",
    "torch.Size", "torch.device", "torch.dtype", "torch.layout", "torch.memory_format",
    "joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle_compat.NDArrayWrapper",
    "sklearn.utils._bunch.Bunch",
})
# Libraries whose classes and pickle helpers rebuild plain data; their other functions are not assumed safe.
_LIBRARIES = ("numpy", "scipy", "sklearn", "xgboost", "lightgbm", "catboost", "pandas", "torch", "collections",
              "datetime", "transformers", "tokenizers", "statsmodels")
_HELPER = re.compile(r"unpickle|reconstruct|rebuild|^_?new_|frombuffer|^scalar$|ctor|^_?restore|^_?from_state")
_NUMPY_TYPES = re.compile(r"^(u?int\d*|float\d*|complex\d*|bool_?|str_|bytes_|object_|void|datetime64|timedelta64|"
                          r"u?byte|u?short|u?intc|u?longlong|u?intp|half|single|double|longdouble|c?longdouble|"
                          r"csingle|cdouble|clongdouble)$")
_TORCH_DTYPES = re.compile(r"^(u?int\d+|float\d+|bfloat16|half|double|bool|complex\d+|(c)?float8\w*|qu?int\w+|"
                           r"(strided|sparse_\w+|_mkldnn)|(contiguous|channels_last\w*|preserve)_format)$")


def classify(module: str, name: str) -> tuple[str, Severity | None, str]:
    """("dangerous", severity, why), ("unknown", MEDIUM, "") or ("safe", None, "") for an imported global."""
    if module == UNRESOLVED or name == UNRESOLVED:
        return "dangerous", Severity.HIGH, "is named only while loading, so it cannot be checked statically"
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        table = _DANGEROUS.get(".".join(parts[:i]))
        if table is None:
            continue
        hit = table.get(name) or table.get("*")
        if hit:
            sev, why = hit
            if parts[0] in ("os", "posix", "nt") and _RUNS_COMMANDS.match(name):
                sev, why = Severity.CRITICAL, _SHELL
            return "dangerous", sev, why
    qual = f"{module}.{name}"
    if module in ("builtins", "__builtin__") and name in _BUILTINS_SAFE:
        return "safe", None, ""
    if qual in _SAFE_EXACT:
        return "safe", None, ""
    if parts[0] in _LIBRARIES:
        if name[:1].isupper() or _HELPER.search(name):
            return "safe", None, ""
        if parts[0] == "numpy" and _NUMPY_TYPES.match(name):
            return "safe", None, ""
        if module == "torch" and (_TORCH_DTYPES.match(name) or name.endswith("Storage")):
            return "safe", None, ""
        if module == "torch._utils" and name.startswith("_rebuild"):
            return "safe", None, ""
    return "unknown", Severity.MEDIUM, ""
