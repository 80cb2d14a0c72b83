"""Bandit's own tests, run in process over a notebook's cells, mapped back to cells and merged.

mlsec covers what bandit covers for ML notebooks; this bridge runs bandit itself so that nothing
bandit would say is lost, and reports it in cell coordinates (`nbqa bandit` keeps the line numbers
of its temporary script, which users cannot map back to cells).

How it runs (no temporary files, no subprocess):
- One `BanditManager(BanditConfig())` per process, made on first use: its test set (stevedore
  plugins plus the blacklist) is the expensive part to build.
- Per document, one visitor walks the code cells' ASTs in cell order. Bandit's import table lives
  on the visitor, so `import pickle` in cell 1 resolves `pickle.loads(x)` in cell 3 exactly as if
  the cells were one program, while every result already carries its cell and its line in that
  cell (no second parse of a concatenated program, no line map to invert). A cell that does not
  parse (`ast.parse` on the same IPython-free text the engine analyses, `syntax.transform`) is
  skipped like blank lines; the others are still checked.
- The visitor is bandit's `BanditNodeVisitor` with its per-node bookkeeping trimmed: nodes no
  test looks at are walked without building a context, and bandit's per-node `LOG.debug` calls
  and score sums (unused here) are gone. `tests/test_bandit_bridge.py` checks that it reports
  exactly what the stock visitor reports on one concatenated program.
- Results are cached per cell, keyed by the cell's Python text, the imports known before it and
  the active tests, so re-linting one edited cell (the magic, the server) re-runs bandit on
  nothing else.
- `# nosec` and `# nosec B301` comments are honoured by bandit itself (per cell).

Mapping: rule_id is the bandit id (`B301`), `source="bandit"`, `bandit_ids=[id]`, severity,
confidence and CWE are bandit's, the category comes from `CATEGORIES`. Bandit's B105-B107
messages quote the literal they flagged; it is masked here. B105-B107 hits whose literal is a
placeholder by `mlsec.secrets.is_placeholder` (`"<TOKEN>"`, `"your-api-key"`) are dropped.

Merge: a bandit result on the same cell line as a native finding whose rule lists that bandit id
(`Rule.bandit_ids`) becomes part of that finding (`source="native+bandit"`, both ids).

Off by default (noise for notebooks; measured over the 1,137 notebooks of shared/corpus, where
bandit reported 1,948 results, 1,746 of them from these tests; of the other 202, the 96 B105/B106
hits on placeholders are dropped as said above). `enable = ["B311"]`, or an exact id in `select`,
turns one back on:
- B615 huggingface_unsafe_download (1,090): every `from_pretrained`/`load_dataset` without a
  pinned commit; mlsec's MLS108 says the same and is off by default for the same reason.
- B101 assert_used (236): asserts in notebooks are sanity checks; nobody runs a notebook with -O.
- B113 request_without_timeout (162): a hung request hangs the user's own kernel; no security impact.
- B311 random (131): ML code uses `random` for shuffling, sampling and augmentation, not for keys.
- B608 hardcoded_sql_expressions (58): f-string SQL over the notebook's own parameters (project
  ids, table names), mostly BigQuery tutorials; there is no untrusted input in the loop.
- B603 subprocess_without_shell_equals_true (24), B607 start_process_with_partial_path (19),
  B404 import_subprocess (18): notebooks call CLIs (`gcloud`, `git`) by name, by design.
- B110 try_except_pass (5), B112 try_except_continue (3): code quality, not security.
"""
from __future__ import annotations

import ast
import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable

from . import secrets as _secrets
from .findings import Category, Confidence, Finding, Severity

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .source import Cell, Document

DEFAULT_OFF: frozenset[str] = frozenset(
    {"B101", "B110", "B112", "B113", "B311", "B404", "B603", "B607", "B608", "B615"}
)

_D, _SE, _ST, _T, _E, _SC, _I = (
    Category.DESERIALIZATION,
    Category.SECRETS,
    Category.STORAGE,
    Category.TRANSPORT,
    Category.EXPOSURE,
    Category.SUPPLY_CHAIN,
    Category.INJECTION,
)
# Every test of bandit 1.9.4; unknown future ids fall back to `_category_of`'s prefix rule.
CATEGORIES: dict[str, Category] = {
    # code execution, shell, templates, XML parsing, and the code-quality checks
    "B101": _I, "B102": _I, "B110": _I, "B112": _I, "B307": _I, "B308": _I, "B601": _I, "B602": _I,
    "B603": _I, "B604": _I, "B605": _I, "B606": _I, "B607": _I, "B608": _I, "B609": _I, "B610": _I,
    "B611": _I, "B613": _I, "B701": _I, "B702": _I, "B703": _I, "B704": _I, "B404": _I,
    **{f"B{n}": _I for n in range(313, 321)},
    **{f"B{n}": _I for n in range(405, 412)},
    # secrets and what makes them guessable
    "B105": _SE, "B106": _SE, "B107": _SE, "B311": _SE,
    # files, temp paths, archives, hashes and ciphers protecting stored data
    "B103": _ST, "B108": _ST, "B202": _ST, "B303": _ST, "B304": _ST, "B305": _ST, "B306": _ST,
    "B324": _ST, "B413": _ST, "B505": _ST,
    # network transport
    "B113": _T, "B310": _T, "B312": _T, "B321": _T, "B323": _T, "B401": _T, "B402": _T, "B412": _T,
    "B415": _T, "B501": _T, "B502": _T, "B503": _T, "B504": _T, "B506": _D, "B507": _T, "B508": _T,
    "B509": _T,
    # services reachable by others
    "B104": _E, "B201": _E, "B612": _E,
    # loading data that runs code
    "B301": _D, "B302": _D, "B403": _D, "B614": _D,
    # what gets downloaded and run
    "B615": _SC,
}

FIX_HINTS: dict[str, str] = {
    "B101": "Raise an exception for checks that must hold: `assert` is removed under `python -O`.",
    "B102": "Do not exec text built at run time; import the code or call the function directly.",
    "B103": "Give files owner-only permissions (0o600 for files, 0o700 for folders).",
    "B104": "Bind to 127.0.0.1 unless others must reach the service, and then put authentication in front.",
    "B105": "Read the secret from the environment or a secret store (`os.environ`, `getpass`), not the notebook.",
    "B110": "Handle or log the exception instead of ignoring it silently.",
    "B113": "Pass `timeout=` to requests calls.",
    "B201": "Never run Flask with `debug=True` where others can reach it: its debugger runs code.",
    "B202": "Extract with `filter='data'` (Python 3.12+) or check every member's path before extracting.",
    "B301": "Load only files you created; exchange data as JSON/Parquet and models as safetensors, skops or ONNX.",
    "B303": "Use SHA-256 or better; for non-security checksums pass `usedforsecurity=False`.",
    "B304": "Use AES-GCM or ChaCha20-Poly1305 from `cryptography`.",
    "B306": "Use `tempfile.mkstemp()` or `tempfile.TemporaryDirectory()`.",
    "B307": "Parse data with `json.loads` or `ast.literal_eval`; never eval text.",
    "B310": "Check that the URL scheme is http(s) before opening it.",
    "B311": "Use the `secrets` module for tokens, passwords and keys.",
    "B312": "Use SSH or another encrypted protocol instead of telnet.",
    "B313": "Parse untrusted XML with `defusedxml`.",
    "B321": "Use SFTP or FTPS instead of plain FTP.",
    "B323": "Keep certificate verification on (use the default SSL context).",
    "B501": "Keep certificate verification on (`verify=True`, the default); pass a CA bundle if needed.",
    "B502": "Use TLS 1.2 or newer (`ssl.PROTOCOL_TLS_CLIENT`).",
    "B505": "Use RSA/DSA keys of at least 2048 bits and EC keys of at least 224 bits.",
    "B506": "Use `yaml.safe_load` (or `Loader=yaml.SafeLoader`).",
    "B507": "Use paramiko's `RejectPolicy` and known host keys.",
    "B601": "Pass a list of arguments without a shell; never build commands from untrusted text.",
    "B608": "Use query parameters (placeholders) instead of building SQL from strings.",
    "B612": "Do not accept logging configuration over the network.",
    "B613": "Remove bidirectional control characters from the source.",
    "B614": "Pass `weights_only=True` to `torch.load`, or store weights as safetensors.",
    "B615": "Pin `revision=` to a commit hash.",
    "B701": "Turn autoescaping on (`autoescape=True` or `select_autoescape()`).",
}
for _alias, _to in {
    "B106": "B105", "B107": "B105", "B112": "B110", "B302": "B301", "B403": "B301", "B324": "B303",
    "B305": "B304", "B413": "B304", "B401": "B312", "B402": "B321", "B412": "B323", "B415": "B312",
    "B503": "B502", "B504": "B502", "B508": "B312", "B509": "B312", "B308": "B701", "B702": "B701",
    "B703": "B701", "B704": "B701", "B610": "B608", "B611": "B608",
}.items():
    FIX_HINTS[_alias] = FIX_HINTS[_to]
for _n in [*range(314, 321), *range(405, 412)]:
    FIX_HINTS[f"B{_n}"] = FIX_HINTS["B313"]
for _n in range(602, 610):
    FIX_HINTS[f"B{_n}"] = FIX_HINTS["B601"]

_PASSWORD_IDS = frozenset({"B105", "B106", "B107"})
_QUOTED_TAIL = re.compile(r"(?P<head>:\s*)'(?P<value>.*)'\s*$", re.S)
_BIDI = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f")


def category_of(test_id: str) -> Category:
    if test_id in CATEGORIES:
        return CATEGORIES[test_id]
    if test_id.startswith("B5"):
        return Category.TRANSPORT
    return Category.INJECTION


def fix_hint_of(test_id: str) -> str:
    return FIX_HINTS.get(test_id) or f"See bandit's documentation of {test_id}: {doc_url(test_id)}"


def doc_url(test_id: str, name: str | None = None) -> str:
    """Bandit's documentation page of a test (same scheme as `bandit.core.docs_utils`)."""
    try:
        from importlib.metadata import version

        base = f"https://bandit.readthedocs.io/en/{version('bandit')}/"
    except Exception:
        base = "https://bandit.readthedocs.io/en/latest/"
    tid = test_id.upper()
    if name is None:
        name = test_names().get(tid)
    if not name:
        return base
    if tid.startswith("B3"):
        n = name.replace("_", "-")
        if tid in ("B304", "B305"):
            return f"{base}blacklists/blacklist_calls.html#b304-b305-ciphers-and-modes"
        if tid in {f"B{i}" for i in range(313, 321)}:
            return f"{base}blacklists/blacklist_calls.html#b313-b320-{n}"
        return f"{base}blacklists/blacklist_calls.html#{tid.lower()}-{n}"
    if tid.startswith("B4"):
        return f"{base}blacklists/blacklist_imports.html#{tid.lower()}-{name.replace('_', '-')}"
    return f"{base}plugins/{tid.lower()}_{name.replace('-', '_')}.html"


# ---------------------------------------------------------------------------------------------
# The bandit side: manager, test sets, visitor (all built on first use; bandit is heavy)

_MANAGER: Any = None
_NAMES: dict[str, str] | None = None
_RUNNERS: "OrderedDict[frozenset[str], _Runner]" = OrderedDict()
_CELL_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_CELL_CACHE_MAX = 4096
_LOCK = threading.RLock()  # the server may lint from several threads


def _manager() -> Any:
    global _MANAGER
    if _MANAGER is not None:
        return _MANAGER
    with _LOCK:
        return _make_manager()


def _make_manager() -> Any:
    global _MANAGER
    if _MANAGER is None:
        import logging

        # Bandit logs a debug line per AST node and warnings such as "nosec encountered" to the
        # root handlers; in a notebook those would land in the user's cell output.
        logging.getLogger("bandit").setLevel(logging.CRITICAL)
        import warnings

        with warnings.catch_warnings():  # stevedore's deprecation notices while bandit loads its plugins
            warnings.simplefilter("ignore", DeprecationWarning)
            from bandit.core import config as b_config
            from bandit.core import manager as b_manager

            _MANAGER = b_manager.BanditManager(b_config.BanditConfig(), "file")
    return _MANAGER


def test_names() -> dict[str, str]:
    """Every bandit test id this bandit has -> its name (`B301` -> `pickle`)."""
    global _NAMES
    if _NAMES is None:
        _manager()
        from bandit.core import extension_loader

        ext = extension_loader.MANAGER
        names = {tid: p.plugin.__name__ for tid, p in ext.plugins_by_id.items()}
        names.update({tid: b["name"].replace("-", "_") for tid, b in ext.blacklist_by_id.items()})
        _NAMES = names
    return dict(_NAMES)


def active_ids(config: "Config") -> frozenset[str]:
    """The bandit tests worth running under `config`: all but the default-off ones not turned on."""
    out = set()
    for tid in test_names():
        if tid in DEFAULT_OFF and not config.rule_enabled(tid, category_of(tid), default_enabled=False):
            continue
        out.add(tid)
    return frozenset(out)


class _Blacklist:
    """Bandit's blacklist test with its own filtered data (bandit keeps it on a module global)."""

    __name__ = "blacklist"
    _test_id = "B001"

    def __init__(self, func: Any, data: dict[str, list[dict[str, Any]]]):
        self._func = func
        self._config = data
        self._checks = list(data)

    def __call__(self, context: Any, config: Any) -> Any:
        return self._func(context, config)


class _TestSet:
    """The subset of bandit's test set that `active` allows, in bandit's order."""

    def __init__(self, manager: Any, active: frozenset[str]):
        from bandit.core import blacklisting, extension_loader

        ext = extension_loader.MANAGER
        self.tests: dict[str, list[Any]] = {}
        for check, tests in manager.b_ts.tests.items():
            kept = [t for t in tests if getattr(t, "_test_id", None) in active]
            if kept:
                self.tests[check] = kept
        data = {}
        for node, entries in ext.blacklist.items():
            values = [e for e in entries if e["id"] in active]
            if values:
                data[node] = values
        if data:
            bl = _Blacklist(blacklisting.blacklist, data)
            for check in data:
                self.tests.setdefault(check, []).append(bl)

    def get_tests(self, checktype: str) -> list[Any]:
        return self.tests.get(checktype) or []


@dataclass(frozen=True)
class _Hit:
    """One bandit result in cell coordinates (cacheable: no file, no cell index)."""

    test_id: str
    name: str
    text: str
    severity: str
    confidence: str
    cwe: int
    line: int
    col: int
    end_line: int
    end_col: int


class _Runner:
    """A test set for one set of active ids, and the visitor class that uses it."""

    def __init__(self, active: frozenset[str]):
        self.active = active
        self.key = hashlib.blake2b(",".join(sorted(active)).encode(), digest_size=8).hexdigest()
        self.manager = _manager()
        self.testset = _TestSet(self.manager, active)
        self.visitor_cls = _visitor_class()

    def visitor(self) -> Any:
        v = self.visitor_cls("./notebook.py", None, self.manager.b_ma, self.testset, False, {}, self.manager.metrics)
        v.tester = v.Tester(self.testset, False, {}, self.manager.metrics)
        v.active_types = set(self.testset.tests) | v.VISITED
        v.runner_key = self.key  # results depend on the active tests: part of every cache key
        return v


_VISITOR_CLS: Any = None


def _visitor_class() -> Any:
    """BanditNodeVisitor minus what a bridge does not need (see the module docstring)."""
    global _VISITOR_CLS
    if _VISITOR_CLS is not None:
        return _VISITOR_CLS
    from bandit.core import context as b_context
    from bandit.core import node_visitor
    from bandit.core import tester as b_tester
    from bandit.core import utils as b_utils

    class Visitor(node_visitor.BanditNodeVisitor):
        # node types bandit's visitor has a visit_ method for: they keep the import table and
        # the namespace up to date even when no test looks at them
        VISITED = frozenset(
            n[len("visit_"):] for n in dir(node_visitor.BanditNodeVisitor) if n.startswith("visit_")
        )
        active_types: set[str] = set()

        def pre_visit(self, node: ast.AST) -> bool:
            ctx = {"imports": self.imports, "import_aliases": self.import_aliases}
            if hasattr(node, "lineno"):
                ctx["lineno"] = node.lineno
            if hasattr(node, "col_offset"):
                ctx["col_offset"] = node.col_offset
            if hasattr(node, "end_col_offset"):
                ctx["end_col_offset"] = node.end_col_offset
            ctx["node"] = node
            ctx["linerange"] = b_utils.linerange(node)
            ctx["filename"] = self.fname
            ctx["file_data"] = self.fdata
            self.context = ctx
            return True

        def visit(self, node: ast.AST) -> None:
            name = node.__class__.__name__
            method = getattr(self, "visit_" + name, None)
            if method is not None:
                method(node)
            else:
                self.tester.run_tests(self.context, name)

        def post_visit(self, node: ast.AST) -> None:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.namespace = b_utils.namespace_path_split(self.namespace)[0]

        def generic_visit(self, node: ast.AST) -> None:
            active = self.active_types
            for _, value in ast.iter_fields(node):
                if isinstance(value, list):
                    last = len(value) - 1
                    for idx, item in enumerate(value):
                        if isinstance(item, ast.AST):
                            item._bandit_sibling = value[idx + 1] if idx < last else None
                            item._bandit_parent = node
                            if item.__class__.__name__ in active:
                                self.pre_visit(item)
                                self.visit(item)
                                self.generic_visit(item)
                                self.post_visit(item)
                            else:
                                self.generic_visit(item)
                elif isinstance(value, ast.AST):
                    value._bandit_sibling = None
                    value._bandit_parent = node
                    if value.__class__.__name__ in active:
                        self.pre_visit(value)
                        self.visit(value)
                        self.generic_visit(value)
                        self.post_visit(value)
                    else:
                        self.generic_visit(value)

        def visit_top(self, item: ast.AST, sibling: ast.AST | None, parent: ast.AST) -> None:
            """One top-level statement, exactly as `generic_visit(module)` visits it."""
            item._bandit_sibling = sibling
            item._bandit_parent = parent
            if item.__class__.__name__ in self.active_types:
                self.pre_visit(item)
                self.visit(item)
                self.generic_visit(item)
                self.post_visit(item)
            else:
                self.generic_visit(item)

        def update_scores(self, scores: Any) -> None:  # scores are bandit's CLI summary; unused
            return None

        def run_file_tests(self, data: bytes) -> None:
            self.context = {
                "file_data": io.BytesIO(data),
                "filename": self.fname,
                "lineno": 0,
                "linerange": [0, 1],
                "col_offset": 0,
            }
            self.tester.run_tests(self.context, "File")

    class Tester(b_tester.BanditTester):
        """`BanditTester.run_tests` without its per-test logging, score sums and copy.copy;
        nosec lookups only when the cell has a nosec comment. Results are filled in the same way."""

        def run_tests(self, raw_context: dict, checktype: str) -> None:
            tests = self.testset.get_tests(checktype)
            if not tests:
                return None
            for test in tests:
                temp_context = raw_context.copy()
                context = b_context.Context(temp_context)
                try:
                    if hasattr(test, "_config"):
                        result = test(context, test._config)
                    else:
                        result = test(context)
                except Exception:  # bandit logs a failing test and goes on; so do we
                    continue
                if result is None:
                    continue
                if self.nosec_lines:
                    skip = self._get_nosecs_from_contexts(temp_context, test_result=result)
                    if skip is not None:
                        test_id = result.test_id or test._test_id
                        if not skip or test_id in skip:
                            continue
                result.fname = temp_context["filename"]
                result.fdata = temp_context["file_data"]
                if result.lineno is None:
                    result.lineno = temp_context["lineno"]
                if result.linerange == []:
                    result.linerange = temp_context["linerange"]
                if result.col_offset == -1:
                    result.col_offset = temp_context["col_offset"]
                result.end_col_offset = temp_context.get("end_col_offset", 0)
                result.test = test.__name__
                if result.test_id == "":
                    result.test_id = test._test_id
                self.results.append(result)
            return None

    Visitor.Tester = Tester
    _VISITOR_CLS = Visitor
    return Visitor


def _runner(active: frozenset[str]) -> _Runner:
    with _LOCK:
        r = _RUNNERS.get(active)
        if r is None:
            r = _RUNNERS[active] = _Runner(active)
            while len(_RUNNERS) > 4:
                _RUNNERS.popitem(last=False)
        return r


def _nosec_lines(python: str) -> dict[int, set[str]]:
    """Bandit's nosec table for one cell (line -> test ids, empty set = every test)."""
    if "nosec" not in python:
        return {}
    import tokenize

    from bandit.core import manager as b_manager

    out: dict[int, set[str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(python).readline):
            if tok.type == tokenize.COMMENT:
                parsed = b_manager._parse_nosec_comment(tok.string)
                if parsed is not None:
                    out[tok.start[0]] = parsed
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _char_col(line_text: str, byte_col: int) -> int:
    """ast columns are UTF-8 byte offsets; findings use characters."""
    if byte_col <= 0:
        return 0
    if line_text.isascii():
        return min(byte_col, len(line_text))
    return len(line_text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _hits(visitor: Any, tree: ast.Module, python: str, nosec: dict[int, set[str]]) -> list[_Hit]:
    visitor.nosec_lines = nosec
    visitor.tester.nosec_lines = nosec
    start = len(visitor.tester.results)
    visitor.generic_visit(tree)
    if any(ch in python for ch in _BIDI):
        visitor.run_file_tests(python.encode("utf-8"))
    return _take_hits(visitor, start, python.split("\n"))


def _take_hits(visitor: Any, start: int, lines: list[str]) -> list[_Hit]:
    """The visitor's results since `start`, removed from it, in cell coordinates."""
    new = visitor.tester.results[start:]
    del visitor.tester.results[start:]
    out = []
    for r in new:
        line = r.lineno if isinstance(r.lineno, int) else (r.lineno[0] if r.lineno else 1)
        line = max(line, 1)
        rng = [x for x in (r.linerange or []) if isinstance(x, int) and x > 0]
        end_line = max([line, *rng]) if rng else line
        text = lines[line - 1] if line <= len(lines) else ""
        end_text = lines[end_line - 1] if end_line <= len(lines) else ""
        if r.test == "trojansource":  # a File test: 1-based character column
            col = max(int(r.col_offset or 1) - 1, 0)
            end_col = col + 1
        else:
            col = _char_col(text, int(r.col_offset or 0))
            end_col = _char_col(end_text, int(r.end_col_offset or 0)) if r.end_col_offset else len(end_text)
        name = r.test if r.test != "blacklist" else (r.ident or r.test)
        out.append(
            _Hit(
                test_id=r.test_id,
                name=str(name).replace("_", "-"),
                text=r.text,
                severity=str(r.severity),
                confidence=str(r.confidence),
                cwe=int(getattr(r.cwe, "id", 0) or 0),
                line=line,
                col=col,
                end_line=end_line,
                end_col=end_col,
            )
        )
    return out


def _state_key(visitor: Any) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update("\x1f".join(sorted(visitor.imports)).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(f"{k}={v}" for k, v in sorted(visitor.import_aliases.items())).encode())
    return h.hexdigest()


def run(document: "Document", config: "Config") -> list[Finding]:
    """Bandit's results for the document's code cells, as Findings in cell coordinates.

    Per cell, cached by (its Python, the import table before it, the test set). The cache entry also
    holds the import table after the cell and its key, so a run of cached cells neither hashes nor
    copies import tables: the visitor is brought up to date only before a cell that must be visited."""
    from .engine import IGNORE_TAG, MAX_CELL_LINES
    from .syntax import python_of

    active = active_ids(config)
    if not active:
        return []
    runner = _runner(active)
    visitor = runner.visitor()
    state = _state_key(visitor)  # the import table's key before the next cell
    stale: tuple | None = None  # a cached cell's import table, not yet copied into the visitor
    findings: list[Finding] = []
    for cell in document.cells:
        if not cell.is_code:
            continue
        python = python_of(cell.source)
        if not python.strip() or python.count("\n") > MAX_CELL_LINES:
            continue
        key = (python, state, runner.key)
        with _LOCK:
            hit = _CELL_CACHE.get(key)
            if hit is not None:
                _CELL_CACHE.move_to_end(key)
        if hit is not None:
            hits, imports, aliases, state = hit
            stale = (imports, aliases)
        else:
            if stale is not None:
                _restore(visitor, *stale)
                stale = None
            hits = tuple(_run_cell(visitor, python))
            state = _state_key(visitor)
            entry = (hits, frozenset(visitor.imports), tuple(visitor.import_aliases.items()), state)
            with _LOCK:
                _CELL_CACHE[key] = entry
                while len(_CELL_CACHE) > _CELL_CACHE_MAX:
                    _CELL_CACHE.popitem(last=False)
        if IGNORE_TAG in cell.tags:
            continue  # its imports still count for later cells
        for h in hits:
            f = _finding(h, cell)
            if f is not None:
                f.file = document.path
                findings.append(f)
    return findings


def _run_cell(visitor: Any, python: str) -> list[_Hit]:
    from .parsing import parse_ast

    try:
        tree = parse_ast(python)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []  # the engine reports the cell as MLS001; bandit goes on with the next cell
    start = len(visitor.tester.results)
    try:
        by_statement = _by_statement(visitor, tree, python)
        if by_statement is not None:
            return by_statement
        return _hits(visitor, tree, python, _nosec_lines(python))
    except RecursionError:  # nesting deeper than bandit's recursive walk allows
        del visitor.tester.results[start:]
        visitor.namespace = "notebook"
        return []


_STMT_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_STMT_CACHE_MAX = 8192
_STMT_MIN = 4  # statements in a cell before visiting them one by one pays


def _by_statement(visitor: Any, tree: ast.Module, python: str) -> list[_Hit] | None:
    """A cell's results statement by statement, each cached by (its text, where its next sibling starts,
    the import table before it). Bandit's tests look at one statement and the import table (kept on the
    visitor); the next sibling's line is what bandit's `linerange` reads beyond the statement. So an
    edit to one line of a long cell re-runs bandit on one statement. None: visit the cell whole
    (`# nosec` comments, bidi characters, statements sharing a line, short cells)."""
    body = tree.body
    if len(body) < _STMT_MIN or "nosec" in python or any(ch in python for ch in _BIDI):
        return None
    spans = []
    prev_end = 0
    for stmt in body:
        decorators = getattr(stmt, "decorator_list", None)
        first = min([stmt.lineno, *(d.lineno for d in decorators)]) if decorators else stmt.lineno
        last = stmt.end_lineno or stmt.lineno
        if first <= prev_end:
            return None
        spans.append((first, last))
        prev_end = last
    lines = python.split("\n")
    visitor.nosec_lines = {}
    visitor.tester.nosec_lines = {}
    state = _state_key(visitor)
    stale: tuple | None = None
    out: list[_Hit] = []
    for i, (stmt, (first, last)) in enumerate(zip(body, spans)):
        sibling = body[i + 1] if i + 1 < len(body) else None
        text = "\n".join(lines[first - 1:last])
        key = (text, sibling.lineno - first if sibling is not None else None, state, visitor.runner_key)
        with _LOCK:
            hit = _STMT_CACHE.get(key)
            if hit is not None:
                _STMT_CACHE.move_to_end(key)
        if hit is not None:
            rel, after = hit
            if after is not None:
                state, stale = after[0], after[1:]
        else:
            if stale is not None:
                _restore(visitor, *stale)
                stale = None
            start = len(visitor.tester.results)
            visitor.visit_top(stmt, sibling, tree)
            hits = _take_hits(visitor, start, lines)
            rel = tuple(_shift(h, 1 - first) for h in hits)
            after = None
            if "import" in text:  # only imports change the table
                new_state = _state_key(visitor)
                if new_state != state:
                    state = new_state
                    after = (state, frozenset(visitor.imports), tuple(visitor.import_aliases.items()))
            with _LOCK:
                _STMT_CACHE[key] = (rel, after)
                while len(_STMT_CACHE) > _STMT_CACHE_MAX:
                    _STMT_CACHE.popitem(last=False)
        out.extend(_shift(h, first - 1) for h in rel)
    if stale is not None:
        _restore(visitor, *stale)
    return out


def _restore(visitor: Any, imports: frozenset[str], aliases: tuple[tuple[str, str], ...]) -> None:
    visitor.imports.clear()
    visitor.imports.update(imports)
    visitor.import_aliases.clear()
    visitor.import_aliases.update(aliases)


def _shift(h: _Hit, by: int) -> _Hit:
    return h if not by else replace(h, line=h.line + by, end_line=h.end_line + by)


def _finding(h: _Hit, cell: "Cell") -> Finding | None:
    message = h.text
    if h.test_id in _PASSWORD_IDS:
        m = _QUOTED_TAIL.search(message)
        if m:
            if _secrets.is_placeholder(m.group("value")):
                return None
            message = message[: m.start()] + m.group("head") + "'" + _secrets.mask(m.group("value")) + "'"
    lines = cell.source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    n = max(len(lines), 1)
    line = min(max(h.line, 1), n)
    end_line = min(max(h.end_line, line), n)
    col = min(h.col, len(lines[line - 1]) if lines else 0)
    end_col = min(h.end_col, len(lines[end_line - 1]) if lines else 0)
    if end_line == line and end_col < col:
        end_col = col
    try:
        severity = Severity.parse(h.severity)
    except ValueError:
        severity = Severity.LOW
    try:
        confidence = Confidence.parse(h.confidence)
    except KeyError:
        confidence = Confidence.LOW
    return Finding(
        rule_id=h.test_id,
        name=h.name,
        message=_secrets.mask_text(message),
        severity=severity,
        confidence=confidence,
        category=category_of(h.test_id),
        cwe=h.cwe or None,
        fix_hint=fix_hint_of(h.test_id),
        cell_index=cell.index,
        cell_id=cell.id,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        source="bandit",
        bandit_ids=[h.test_id],
    )


# ---------------------------------------------------------------------------------------------
# Merge


def merge(native: Iterable[Finding], bandit: Iterable[Finding]) -> list[Finding]:
    """Native findings plus bandit's; a bandit result that repeats a native one joins it."""
    from .rules.base import get_rule

    out = list(native)
    claims: dict[str, frozenset[str]] = {}
    by_cell: dict[tuple[str, int | None], list[Finding]] = {}
    for f in out:
        if f.in_output:
            continue
        if f.rule_id not in claims:
            rule = get_rule(f.rule_id) if f.rule_id.startswith("MLS") else None
            claims[f.rule_id] = frozenset(rule.bandit_ids) if rule is not None else frozenset()
        if claims[f.rule_id]:
            by_cell.setdefault((f.file, f.cell_index), []).append(f)
    for b in bandit:
        tid = b.rule_id
        best = None
        best_key = None
        for f in by_cell.get((b.file, b.cell_index), ()):
            if tid not in claims[f.rule_id]:
                continue
            if not (f.line <= b.line <= max(f.end_line, f.line) or b.line <= f.line <= max(b.end_line, b.line)):
                continue
            key = (tid in f.bandit_ids, abs(f.line - b.line), abs(f.col - b.col))
            if best_key is None or key < best_key:
                best, best_key = f, key
        if best is None:
            out.append(b)
            continue
        if tid not in best.bandit_ids:
            best.bandit_ids.append(tid)
        best.source = "native+bandit"
        if best.cwe is None and b.cwe is not None:
            best.cwe = b.cwe
    return out
