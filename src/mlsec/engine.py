"""The one analysis engine: `analyze(document, config) -> Report`. Every front end calls it.

Per document, in cell order:
  transform IPython syntax (syntax.py) -> learn imports/aliases (context.py, every cell, cheap)
  -> prefilter (does the cell contain any trigger text?) -> libcst parse once -> one walk that
  collects calls, assignments, strings and dict items -> rules -> positions only if something fired.
Specials (shell/magic lines) and text (outputs, metadata, non-Python magic bodies) go to the text
hooks. Then: bandit bridge, merge, suppressions, config filters, masking, sort.
Per-cell results are cached in memory by (cell text, rule set, the part of the context the cell can
read): re-linting one edited cell of a long notebook re-analyses that cell and the later cells that
use what it changed, not every later cell. That is what the magic and the server rely on.
"""
from __future__ import annotations

import re
import shlex
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from . import secrets as _secrets
from .config import Config
from .context import Context, Origin
from .findings import Category, Confidence, Finding, Severity, Stage
from .source import Cell, Document
from .syntax import CellCode, Special, transform

SYNTAX_RULE_ID = "MLS001"
IGNORE_TAG = "mlsec-ignore"
_IGNORE_COMMENT = re.compile(r"#\s*mlsec:\s*ignore(?:\[(?P<ids>[^\]]*)\])?", re.I)
_NOSEC = re.compile(r"#\s*nosec\b", re.I)
MAX_CELL_LINES = 20_000  # longer cells are analysed by the text rules only

DOWNLOAD_CALLS = (
    "huggingface_hub.hf_hub_download",
    "huggingface_hub.snapshot_download",
    "huggingface_hub.cached_download",
    "requests.get",
    "requests.request",
    "requests.Session().get",
    "httpx.get",
    "httpx.Client().get",
    "urllib.request.urlopen",
    "urllib.request.urlretrieve",
    "urllib.urlretrieve",
    "wget.download",
    "gdown.download",
    "torch.hub.download_url_to_file",
    "torch.hub.load_state_dict_from_url",
    "keras.utils.get_file",
    "fsspec.open",
    "kagglehub.model_download",
    "kagglehub.dataset_download",
)


@dataclass
class FileError:
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class Report:
    """Findings and errors of one analysis run (one document or a whole scan)."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    files: int = 0
    cells: int = 0
    duration: float = 0.0
    sources: dict[str, Document] = field(default_factory=dict, repr=False)  # kept for renderers

    def extend(self, other: "Report") -> None:
        self.findings.extend(other.findings)
        self.errors.extend(other.errors)
        self.files += other.files
        self.cells += other.cells
        self.sources.update(other.sources)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.severity.label] = out.get(f.severity.label, 0) + 1
        return out

    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    # Rendering lives in render/; these are thin conveniences for the notebook and the API.
    def to_json(self, **kw: Any) -> str:
        from .render import json as rjson

        return rjson.render(self, **kw)

    def to_sarif(self, **kw: Any) -> str:
        from .render import sarif

        return sarif.render(self, **kw)

    def to_text(self, **kw: Any) -> str:
        from .render import text

        return text.render(self, **kw)

    def to_dataframe(self):  # pandas only if installed
        import pandas as pd

        return pd.DataFrame([f.to_dict() for f in self.findings])

    def _repr_html_(self) -> str:
        from .render import html

        return html.render(self)


# ---------------------------------------------------------------------------------------------
# Rule context: what a rule's hooks get


class RuleContext:
    def __init__(self, cell: Cell, code: CellCode, context: Context, out: list[Finding]):
        self.cell = cell
        self.code = code
        self.context = context
        self._out = out
        self._pending: list[tuple[Finding, Any]] = []  # findings waiting for a node position
        self._pending_fixes: list[Finding] = []  # findings whose fix edits name nodes (rules/fixes.py)
        self._module = None
        self.lines = cell.source.splitlines()
        self.assigns: list[Any] = []  # this cell's assignments in source order, set by _walk

    # -- facts ----------------------------------------------------------------------------------
    def local_values(self, name: str) -> list[Any]:
        """Values assigned to the plain name `name` in this cell, in source order (one level of data flow)."""
        return [a.value for a in self.assigns if a.target == name]

    def resolve(self, node: Any) -> str | None:
        from .rules.base import dotted_name

        d = dotted_name(node)
        return self.context.resolve_dotted(d) if d else None

    def origin(self, node: Any, depth: int = 0) -> Origin | None:
        """If the value of `node` comes from a download (a name, a path literal, `open(that)`)."""
        import libcst as cst

        from .rules.base import dotted_name, string_value

        if node is None or depth > 4 or not self.context.downloaded:
            return None
        d = dotted_name(node)
        if d:
            head = d.split(".")[0]
            return self.context.downloaded.get(head)
        s = string_value(node)
        if s is not None:
            return _path_origin(self.context, s)
        if isinstance(node, cst.Call):
            for a in node.args:
                o = self.origin(a.value, depth + 1)
                if o:
                    return o
            return self.origin(node.func, depth + 1) if isinstance(node.func, cst.Attribute) else None
        if isinstance(node, cst.Attribute):
            return self.origin(node.value, depth + 1)
        if isinstance(node, cst.Subscript):
            return self.origin(node.value, depth + 1)
        if isinstance(node, cst.FormattedString):
            for p in node.parts:
                if isinstance(p, cst.FormattedStringExpression):
                    o = self.origin(p.expression, depth + 1)
                    if o:
                        return o
        return None

    # -- reporting --------------------------------------------------------------------------------
    def report(
        self,
        rule: Any,
        node: Any = None,
        *,
        span: tuple[int, int, int, int] | None = None,
        message: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        notes: Iterable[str] = (),
        fix: dict[str, Any] | None = None,
        in_output: bool = False,
    ) -> Finding:
        f = Finding(
            rule_id=rule.id,
            name=rule.name,
            message=message or rule.message,
            severity=severity if severity is not None else rule.severity,
            confidence=confidence if confidence is not None else rule.confidence,
            category=rule.category,
            cwe=rule.cwe,
            fix_hint=rule.fix_hint,
            stage=rule.stage,
            in_output=in_output,
            notes=list(notes),
            fix=fix,
        )
        if span is not None:
            f.line, f.col, f.end_line, f.end_col = span
        elif node is not None:
            self._pending.append((f, node))
        if fix is not None and fix.get("anchored"):
            self._pending_fixes.append(f)
        self._out.append(f)
        return f

    def report_special(self, rule: Any, special: Special, start: int = 0, end: int | None = None, **kw: Any) -> Finding:
        """Report on `special.text[start:end]` (offsets into the command text)."""
        text = special.text
        end = len(text) if end is None else end
        first_line = self.lines[special.line - 1] if 0 < special.line <= len(self.lines) else ""
        # the text usually starts at special.col on its first line; continued lines fall back to the line
        if first_line[special.col : special.col + min(len(text), 20)] == text[: min(len(text), 20)] and end <= len(
            first_line
        ) - special.col:
            span = (special.line, special.col + start, special.line, special.col + end)
        else:
            loc = first_line.find(text[start:end]) if text[start:end] else -1
            if loc >= 0:
                span = (special.line, loc, special.line, loc + (end - start))
            else:
                span = (special.line, special.col, special.end_line, len(self.lines[special.end_line - 1]) if special.end_line <= len(self.lines) else 0)
        return self.report(rule, span=span, **kw)

    def resolve_positions(self, module: Any) -> None:
        if not self._pending and not self._pending_fixes:
            return
        nodes = [n for _, n in self._pending]
        spans = _text_spans(module, self.code.python, nodes)
        if self._pending_fixes:
            from .rules.fixes import anchor_nodes, anchor_spans

            anchor_spans(module, self.code.python, self._pending, self._pending_fixes, spans)
            nodes += [n for f in self._pending_fixes for n in anchor_nodes(f.fix)]
        if len(spans) < len({id(n) for n in nodes}):
            from libcst.metadata import MetadataWrapper, PositionProvider

            wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
            try:  # the provider alone: wrapper.resolve() also walks the whole tree for batchable providers (none here)
                positions = PositionProvider()._gen(wrapper)
            except Exception:  # libcst changed its provider internals: the public path
                positions = wrapper.resolve(PositionProvider)
            for node in nodes:
                pos = positions.get(node)
                if pos is not None and id(node) not in spans:
                    spans[id(node)] = (pos.start.line, pos.start.column, pos.end.line, pos.end.column)
        for f, node in self._pending:
            span = spans.get(id(node))
            if span is not None:
                f.line, f.col, f.end_line, f.end_col = span
        if self._pending_fixes:
            from .rules.fixes import resolve_anchors

            for f in self._pending_fixes:
                f.fix = resolve_anchors(f.fix, spans)
        self._pending.clear()
        self._pending_fixes.clear()


def _text_spans(module: Any, text: str, nodes: list[Any]) -> dict[int, tuple[int, int, int, int]]:
    """Positions of nodes whose source text occurs exactly once in the cell: found by search instead
    of libcst's PositionProvider, which generates code for the whole tree (most of a cell's analysis
    time when a rule fires). Single-line nodes only; spans match the provider's (parentheses, an
    argument's trailing comma and a statement's semicolon excluded): 387,708 nodes of the 1,137-notebook
    corpus gave the same spans both ways. Anything not found exactly once is left to the provider."""
    import libcst as cst

    out: dict[int, tuple[int, int, int, int]] = {}
    for node in nodes:
        if id(node) in out:
            continue
        changes: dict[str, Any] = {}
        if getattr(node, "lpar", None):
            changes["lpar"], changes["rpar"] = [], []
        if isinstance(node, (cst.Arg, cst.DictElement, cst.Element, cst.StarredDictElement)):
            changes["comma"] = cst.MaybeSentinel.DEFAULT
        if isinstance(node, cst.Arg):
            changes["whitespace_after_arg"] = cst.SimpleWhitespace("")
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr)):
            changes["semicolon"] = cst.MaybeSentinel.DEFAULT
        try:
            code = module.code_for_node(node.with_changes(**changes) if changes else node)
        except Exception:
            continue
        if "\n" in code:  # a node's continuation lines may take their indentation from the enclosing block
            continue
        start = text.find(code) if code.strip() else -1
        if start < 0 or text.find(code, start + 1) >= 0:
            continue
        end = start + len(code)
        line, end_line = text.count("\n", 0, start) + 1, text.count("\n", 0, end) + 1
        out[id(node)] = (line, start - text.rfind("\n", 0, start) - 1, end_line, end - text.rfind("\n", 0, end) - 1)
    return out


def _path_origin(context: Context, path: str) -> Origin | None:
    if path in context.downloaded:
        return context.downloaded[path]
    base = path.rsplit("/", 1)[-1]
    if base and base in context.downloaded:
        return context.downloaded[base]
    return None


# ---------------------------------------------------------------------------------------------
# Rule set


class RuleSet:
    """The enabled rules of a config, grouped by hook, with the prefilter built from their triggers."""

    def __init__(self, config: Config):
        from .rules.base import all_rules

        self.config = config
        self.rules = [
            r() for r in all_rules() if config.rule_enabled(r.id, r.category, r.default_enabled)
        ]
        self.by_hook: dict[str, list[Any]] = {}
        for r in self.rules:
            for h in r.hooks():
                self.by_hook.setdefault(h, []).append(r)
        ast_rules = [
            r for r in self.rules if r.hooks() & {"check_call", "check_assign", "check_string", "check_dict_item"}
        ]
        trig = sorted({t for r in ast_rules for t in r.triggers})
        from .prefilter import Prefilter

        self.prefilter = Prefilter(trig) if trig else None
        self.modules = tuple(sorted({m for r in ast_rules for m in r.modules}))
        self.fingerprint = ",".join(r.id for r in self.rules) + "|" + config.fingerprint()
        self._alias_cache: dict[tuple[str, ...], re.Pattern[str]] = {}
        self._interest: dict[str, bool] = {}

    def alias_trigger(self, context: Context, fingerprint: str = "") -> re.Pattern[str] | None:
        """Local names bound to modules the rules care about (`from pickle import loads as l` -> `l`)."""
        interest = self._interest
        names = []
        # Imported names only: objects (`model = torch.nn.Linear(...)`) are reached through method
        # names that the text triggers already catch (`.extractall`, `.launch(share=`...).
        for table in (context.aliases,):
            for n, q in table.items():
                if not q:
                    continue
                hit = interest.get(q)
                if hit is None:
                    hit = any(q == m or q.startswith(m + ".") or q.startswith(m + "(") for m in self.modules)
                    interest[q] = hit
                if hit:
                    names.append(n)
        if not names:
            return None
        key = tuple(sorted(set(names)))
        pattern = self._alias_cache.get(key)
        if pattern is None:
            pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in key) + r")\b")
            if len(self._alias_cache) > 4096:
                self._alias_cache.clear()
            self._alias_cache[key] = pattern
        return pattern


_RULESETS: "OrderedDict[str, RuleSet]" = OrderedDict()


def ruleset_for(config: Config) -> RuleSet:
    key = config.fingerprint()
    rs = _RULESETS.get(key)
    if rs is None:
        rs = RuleSet(config)
        _RULESETS[key] = rs
        while len(_RULESETS) > 8:
            _RULESETS.popitem(last=False)
    return rs


# ---------------------------------------------------------------------------------------------
# Cell analysis


class _CellEntry:
    """What the cell cache knows of one cell text: its identifiers, and for each scope of context it was
    analysed in (`Context.scope_key`), its findings and its changes to the context."""

    __slots__ = ("names", "variants")

    def __init__(self, names: frozenset[str]):
        self.names = names
        self.variants: dict[tuple, tuple[list[Finding], Any]] = {}


# (cell source, rule-set fingerprint) -> entry; bounded by entries and by the bytes of the cell texts
_CELL_CACHE: "OrderedDict[tuple[str, str], _CellEntry]" = OrderedDict()
_CELL_CACHE_MAX = 50_000
_CELL_CACHE_MAX_BYTES = 64 * 1024 * 1024
_CELL_CACHE_BYTES = 0
_VARIANTS_MAX = 8
# (document path, rule set) -> per code cell: (source, tags, findings or None if ignored, context after, index)
_PREFIXES: "OrderedDict[tuple[str, str], list[tuple[str, tuple[str, ...], list[Finding] | None, Context, int | None]]]" = (
    OrderedDict())
_PREFIXES_MAX = 32
_NAME_RE = re.compile(r"[^\W\d]\w*")


_NO_CHILDREN_FIELDS = frozenset(
    {"lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer", "comma", "semicolon", "equal",
     "colon", "dot", "newline", "indent", "operator", "default_indent", "default_newline", "encoding",
     "has_trailing_newline", "value_str", "prefix", "quote", "start", "end", "string", "asynchronous"}
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_IS_NODE: dict[type, bool] = {}


def iter_nodes(root: Any) -> Iterable[Any]:
    """Every node below root in source order, skipping whitespace and punctuation.

    libcst's visitor machinery rebuilds child lists as it goes (it is shared with transformers);
    reading dataclass fields directly is several times faster, and this walk is on the hot path.
    """
    import libcst as cst

    base = cst.CSTNode
    stack = [root]
    pop, push = stack.pop, stack.append
    fields_of = _CHILD_FIELDS
    is_node = _IS_NODE  # type -> bool; isinstance() on libcst's ABCs is slow
    while stack:
        node = pop()
        yield node
        tp = type(node)
        names = fields_of.get(tp)
        if names is None:
            names = tuple(
                f for f in tp.__dataclass_fields__ if f not in _NO_CHILDREN_FIELDS and not f.startswith("whitespace")
            )
            fields_of[tp] = names
        for name in reversed(names):
            v = getattr(node, name)
            vt = type(v)
            if vt is list or vt is tuple:
                for x in reversed(v):
                    xt = type(x)
                    hit = is_node.get(xt)
                    if hit is None:
                        hit = is_node[xt] = issubclass(xt, base)
                    if hit:
                        push(x)
            else:
                hit = is_node.get(vt)
                if hit is None:
                    hit = is_node[vt] = issubclass(vt, base)
                if hit:
                    push(v)


def _walk(module: Any, ctx: RuleContext, rs: RuleSet) -> None:
    """One pass over the tree: collect what the hooks need, learn downloads, dispatch."""
    import libcst as cst

    from .rules.base import Assign, Call, StringLit, code_of, dotted_name, string_value

    calls: list[Call] = []
    assigns: list[Assign] = []
    strings: list[StringLit] = []
    dict_items: list[tuple[str, Any, Any]] = []
    want_strings = "check_string" in rs.by_hook
    want_dicts = "check_dict_item" in rs.by_hook
    context = ctx.context

    def on_call(node: cst.Call) -> None:
        d = dotted_name(node.func)
        q = context.resolve_dotted(d) if d else None
        args, kwargs = [], {}
        for a in node.args:
            if a.keyword is not None:
                kwargs[a.keyword.value] = a
            elif not a.star:
                args.append(a)
        calls.append(Call(node, d, q, args, kwargs))

    def on_assign(stmt: cst.CSTNode, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if value is None:
            return
        if isinstance(target, (cst.Tuple, cst.List)):
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
                for t, v in zip(target.elements, value.elements):
                    on_assign(stmt, t.value, v.value)
            return
        d = dotted_name(target)
        if d is not None:
            text = d
            resolved = context.resolve_dotted(d) if "." in d else None
        elif isinstance(target, cst.Subscript):
            try:
                text = code_of(target)
            except Exception:
                return
            resolved = None
            base = dotted_name(target.value)
            if base:
                rb = context.resolve_dotted(base)
                if rb and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
                    key = string_value(target.slice[0].slice.value)
                    resolved = f"{rb}[{key!r}]" if key is not None else None
        else:
            return
        assigns.append(Assign(stmt, text, target, value, resolved))

    # strings that IPython's rewrite put into `get_ipython().system("...")` & co: the specials carry them
    ipython_args: set[int] = set()
    for node in iter_nodes(module):
        tp = type(node)
        if tp is cst.Call:
            on_call(node)
            if want_strings and _is_ipython_rewrite(node):
                ipython_args.update(id(a.value) for a in node.args)
        elif tp is cst.Assign:
            for t in node.targets:
                on_assign(node, t.target, node.value)
        elif tp is cst.AnnAssign:
            on_assign(node, node.target, node.value)
        elif want_strings and tp is cst.SimpleString:
            v = string_value(node)
            if v is not None and id(node) not in ipython_args:
                strings.append(StringLit(node, v))
        elif want_strings and tp is cst.ConcatenatedString:
            v = string_value(node)
            if v is not None and id(node) not in ipython_args:
                strings.append(StringLit(node, v))
        elif want_strings and tp is cst.FormattedString and id(node) not in ipython_args:
            parts = [p.value if isinstance(p, cst.FormattedStringText) else "{}" for p in node.parts]
            strings.append(StringLit(node, "".join(parts), is_fstring=True))
        elif want_dicts and tp is cst.Dict:
            for el in node.elements:
                if isinstance(el, cst.DictElement):
                    k = string_value(el.key)
                    if k is not None:
                        dict_items.append((k, el.value, el))

    # downloads: `p = hf_hub_download(...)`, `urlretrieve(url, "x.pkl")`
    for a in assigns:
        if isinstance(a.value, cst.Call):
            fd = dotted_name(a.value.func)
            q = context.resolve_dotted(fd) if fd else None
            if q and _is_download(q) and "." not in a.target and "[" not in a.target:
                context.downloaded[a.target] = Origin(q.replace("()", ""), ctx.cell.index, 0)
    for c in calls:
        if c.qualname and (c.qualname.endswith("urlretrieve") or c.qualname == "torch.hub.download_url_to_file"):
            target = string_value(c.arg(1, "filename") or c.arg(1, "dst"))
            if target:
                context.downloaded[target] = Origin(c.qualname, ctx.cell.index, 0)
                context.downloaded.setdefault(target.rsplit("/", 1)[-1], context.downloaded[target])
        elif c.qualname in ("wget.download", "gdown.download"):
            target = string_value(c.arg(1, "out") or c.arg(1, "output"))
            if target:
                context.downloaded[target] = Origin(c.qualname, ctx.cell.index, 0)

    ctx.assigns = assigns
    for r in rs.by_hook.get("check_call", ()):
        for c in calls:
            r.check_call(c, ctx)
    for r in rs.by_hook.get("check_assign", ()):
        for a in assigns:
            r.check_assign(a, ctx)
    for r in rs.by_hook.get("check_string", ()):
        for s in strings:
            r.check_string(s, ctx)
    for r in rs.by_hook.get("check_dict_item", ()):
        for k, v, n in dict_items:
            r.check_dict_item(k, v, n, ctx)


def _is_ipython_rewrite(node: Any) -> bool:
    """`get_ipython().system(...)`, `.getoutput`, `.run_line_magic`, `.run_cell_magic`: a shell or magic line."""
    import libcst as cst

    f = node.func
    return (
        isinstance(f, cst.Attribute)
        and f.attr.value in ("system", "getoutput", "run_line_magic", "run_cell_magic")
        and isinstance(f.value, cst.Call)
        and isinstance(f.value.func, cst.Name)
        and f.value.func.value == "get_ipython"
    )


_DOWNLOAD_BY_LAST = {}
for _d in DOWNLOAD_CALLS:
    _DOWNLOAD_BY_LAST.setdefault(_d.rsplit(".", 1)[-1], set()).add(_d.split(".")[0])


def _is_download(q: str) -> bool:
    """A download function, also when reached through a submodule (`huggingface_hub.file_download.x`)."""
    if q in DOWNLOAD_CALLS:
        return True
    heads = _DOWNLOAD_BY_LAST.get(q.rsplit(".", 1)[-1])
    return bool(heads) and q.split(".")[0] in heads


def _learn_shell_downloads(code: CellCode, context: Context, cell_index: int | None) -> None:
    for s in code.specials:
        if s.kind != "shell":
            continue
        for cmd in split_commands(s.text):
            if not cmd:
                continue
            prog = cmd[0].rsplit("/", 1)[-1]
            if prog not in ("wget", "curl", "aria2c", "gdown"):
                continue
            out = None
            urls = [w for w in cmd[1:] if "://" in w]
            for i, w in enumerate(cmd):
                if w in ("-O", "-o", "--output", "--output-document") and i + 1 < len(cmd):
                    if not (prog == "curl" and w == "-O"):
                        out = cmd[i + 1]
                elif w.startswith("--output-document=") or w.startswith("--output="):
                    out = w.split("=", 1)[1]
            names = [out] if out else [u.split("?")[0].rstrip("/").rsplit("/", 1)[-1] for u in urls]
            for n in names:
                if n and n != "-":
                    context.downloaded[n] = Origin(prog, cell_index, s.line)
                    context.downloaded.setdefault(n.rsplit("/", 1)[-1], context.downloaded[n])


def split_commands(text: str) -> list[list[str]]:
    """Shell words of each command in `a && b; c | d` (best effort, never raises)."""
    try:
        lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        words = list(lex)
    except ValueError:
        words = text.split()
    cmds: list[list[str]] = [[]]
    for w in words:
        if w and set(w) <= set(";&|"):
            cmds.append([])
        else:
            cmds[-1].append(w)
    return [c for c in cmds if c]


def analyze_cell(
    cell: Cell, context: Context, rs: RuleSet, *, use_cache: bool = True, slot: Any = None
) -> tuple[list[Finding], Context]:
    """Findings of one cell (positions relative to the cell) and the context after it. `slot` names
    where the cell lives (document path, cell id): an edited cell then re-parses only what changed."""
    if not cell.is_code:
        return [], context
    entry = scope = None
    if use_cache:
        ekey = (cell.source, rs.fingerprint)
        entry = _CELL_CACHE.get(ekey)
        names = entry.names if entry is not None else frozenset(_NAME_RE.findall(cell.source))
        scope = context.scope_key(names, cell.source)
        if entry is not None:
            _CELL_CACHE.move_to_end(ekey)
            hit = entry.variants.get(scope) or entry.variants.get((scope, cell.index))
            if hit is not None:
                return [replace(f, notes=list(f.notes)) for f in hit[0]], context.apply(hit[1], cell.index)
    out: list[Finding] = []
    after = context.fork()
    try:
        code = transform(cell.source)
    except Exception as exc:  # IPython's tokenizer gave up: treat the text as Python
        code = CellCode(python=cell.source)
        del exc
    after.learn_from_text(code.python)
    _learn_shell_downloads(code, after, cell.index)
    ctx = RuleContext(cell, code, after, out)
    for r in rs.by_hook.get("check_special", ()):
        for s in code.specials:
            r.check_special(s, ctx)
    if code.texts:
        from .rules.base import TextItem

        for t in code.texts:
            for r in rs.by_hook.get("check_text", ()):
                r.check_text(TextItem(t.text, "text", t.line), ctx)
    py = code.python
    n_lines = py.count("\n")
    prefilter = rs.prefilter
    alias_re = rs.alias_trigger(after)
    wanted = bool((prefilter and prefilter.wants(py)) or (alias_re and alias_re.search(py)))
    if wanted and n_lines > MAX_CELL_LINES:
        out.append(_syntax_finding(SyntaxError("too long"), cell))
        out[-1].message = f"cell has {n_lines} lines, over the {MAX_CELL_LINES}-line limit: only its shell lines and text were checked"
    elif wanted and py.strip() and _too_deeply_nested(py):  # libcst's native parser segfaults on these
        out.append(_syntax_finding(SyntaxError(f"brackets nested more than {MAX_NESTING} deep"), cell))
    elif wanted and py.strip():
        from .parsing import parse_cell

        try:
            module = parse_cell(py, slot)
        except Exception as exc:  # ParserSyntaxError, and RecursionError on pathological input
            out.append(_syntax_finding(exc, cell))
        else:
            _walk(module, ctx, rs)
            ctx.resolve_positions(module)
    elif py.strip() and n_lines <= MAX_CELL_LINES and not _too_deeply_nested(py):
        # No rule wants this cell, but a cell that does not parse still gets its one diagnostic;
        # the stdlib parser is an order of magnitude cheaper than libcst for that yes/no question.
        from .parsing import parse_ast

        try:
            parse_ast(py, keep=False)
        except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
            out.append(_syntax_finding(exc, cell))
        except (RecursionError, MemoryError):
            out.append(_syntax_finding(SyntaxError("too deeply nested to parse"), cell))
    _fix_positions(out, cell)
    if use_cache:
        delta = after.delta_from(context, cell.index)
        if out and delta is not None and delta.downloaded[0]:
            scope = (scope, cell.index)  # its findings' notes may name this cell's own download by number
        _remember(ekey, entry, names, scope, out, delta)
    return out, after


def _remember(ekey: tuple[str, str], entry: "_CellEntry | None", names: frozenset[str], scope: tuple,
              out: list[Finding], delta: Any) -> None:
    global _CELL_CACHE_BYTES
    if entry is None:
        entry = _CELL_CACHE[ekey] = _CellEntry(names)
        _CELL_CACHE_BYTES += len(ekey[0])
        while len(_CELL_CACHE) > _CELL_CACHE_MAX or (_CELL_CACHE_BYTES > _CELL_CACHE_MAX_BYTES and len(_CELL_CACHE) > 1):
            old, _ = _CELL_CACHE.popitem(last=False)
            _CELL_CACHE_BYTES -= len(old[0])
    entry.variants[scope] = ([replace(f, notes=list(f.notes)) for f in out], delta)
    if len(entry.variants) > _VARIANTS_MAX:  # the same cell text under many different contexts
        entry.variants.pop(next(iter(entry.variants)))


MAX_NESTING = 200  # CPython's own limit; libcst 1.x crashes the process (segfault) at about 1,500
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")


def _too_deeply_nested(py: str) -> bool:
    if py.count("(") + py.count("[") + py.count("{") <= MAX_NESTING:
        return False
    depth = 0
    for ch in _NOT_BRACKET.sub("", py):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif depth:
            depth -= 1
    return False


def _syntax_finding(exc: Exception, cell: Cell) -> Finding:
    line = getattr(exc, "raw_line", None) or getattr(exc, "lineno", None) or 1
    col = getattr(exc, "raw_column", None) or 0
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "ParserSyntaxError":
        msg = getattr(exc, "message", msg)
    elif isinstance(exc, SyntaxError) and exc.msg:
        msg = exc.msg
        col = max((exc.offset or 1) - 1, 0) if exc.lineno else col
    return Finding(
        rule_id=SYNTAX_RULE_ID,
        name="syntax-error",
        message=f"cell does not parse, so it was not analysed: {msg}",
        severity=Severity.INFO,
        confidence=Confidence.HIGH,
        category=Category.SYNTAX,
        fix_hint="Fix the syntax error (or mark IPython syntax with % or !) so that mlsec can check this cell.",
        line=int(line),
        col=int(col),
        end_line=int(line),
        end_col=int(col),
    )


def _fix_positions(findings: list[Finding], cell: Cell) -> None:
    lines = cell.source.splitlines() or [""]
    for f in findings:
        if f.in_output:
            continue
        f.line = min(max(f.line, 1), len(lines))
        f.end_line = min(max(f.end_line, f.line), len(lines))
        f.col = min(max(f.col, 0), len(lines[f.line - 1]))
        f.end_col = min(max(f.end_col, 0), len(lines[f.end_line - 1]))
        if f.end_line == f.line and f.end_col < f.col:
            f.end_col = f.col


# ---------------------------------------------------------------------------------------------
# Documents


def analyze(
    document: Document, config: Config | None = None, *, use_cache: bool = True, context: Context | None = None
) -> Report:
    """Analyse one document. Never raises for bad input: problems become errors or MLS001 findings.

    `context`: what earlier code taught (imports, aliases), for a document that continues a session."""
    config = config or Config()
    t0 = time.perf_counter()
    rs = ruleset_for(config)
    report = Report(files=1, sources={document.path: document})
    if not document.is_python:
        report.errors.append(
            FileError(document.path, f"notebook kernel language is {document.language!r}, not Python; code not analysed")
        )
    findings: list[Finding] = []
    # The code cells' results of this document's last analysis: while the cells from the top are
    # unchanged, their findings and the context after them are taken as they are (no cache lookups).
    prefix_key = (document.path, rs.fingerprint) if use_cache and context is None and document.is_python else None
    previous = _PREFIXES.get(prefix_key) if prefix_key is not None else None
    chain: list[tuple[str, tuple[str, ...], list[Finding] | None, Context, int | None]] = []
    context = context.fork() if context is not None else Context()
    for cell in document.cells:
        if not cell.is_code:
            continue
        report.cells += 1
        n = len(chain)
        if (previous is not None and n < len(previous) and previous[n][0] == cell.source
                and previous[n][1] == cell.tags and previous[n][4] == cell.index):  # notes name cell numbers
            _, _, kept, context, _ = previous[n]
            chain.append(previous[n])
            if kept is None:
                continue
            cell_findings = [replace(f, notes=list(f.notes)) for f in kept]
        else:
            previous = None
            if IGNORE_TAG in cell.tags:
                chain.append((cell.source, cell.tags, None, context, cell.index))
                continue
            if document.is_python:
                try:
                    slot = (document.path, cell.id or cell.index) if use_cache else None
                    cell_findings, context = analyze_cell(cell, context, rs, use_cache=use_cache, slot=slot)
                except RecursionError:
                    cell_findings = [_syntax_finding(SyntaxError("nesting too deep to analyse"), cell)]
                except Exception as exc:  # a bug in a rule must not lose the rest of the scan
                    cell_findings = [_internal_error(exc, cell)]
            else:
                cell_findings = []
            if prefix_key is not None:
                chain.append((cell.source, cell.tags, [replace(f, notes=list(f.notes)) for f in cell_findings], context,
                              cell.index))
        cell_findings.extend(_text_findings(cell, rs))
        for f in cell_findings:
            f.file = document.path
            f.cell_index = cell.index
            f.cell_id = cell.id
        findings.extend(cell_findings)
    if prefix_key is not None:
        _PREFIXES[prefix_key] = chain
        _PREFIXES.move_to_end(prefix_key)
        while len(_PREFIXES) > _PREFIXES_MAX:
            _PREFIXES.popitem(last=False)
    if document.metadata_text:
        meta_cell = Cell(source="", index=None)
        for f in _text_findings(meta_cell, rs, metadata=document.metadata_text):
            f.file = document.path
            f.notes.append("in notebook metadata")
            findings.append(f)
    if config.bandit and document.is_python:
        from . import bandit_bridge

        try:
            bandit_findings = bandit_bridge.run(document, config)
        except Exception as exc:  # bandit failing must not lose native findings
            report.errors.append(FileError(document.path, f"bandit bridge failed: {exc}"))
            bandit_findings = []
        findings = bandit_bridge.merge(findings, bandit_findings)
    findings = [f for f in findings if _kept(f, document, config)]
    _finish(findings, document)
    findings.sort(key=Finding.sort_key)
    report.findings = findings
    report.duration = time.perf_counter() - t0
    return report


def _internal_error(exc: Exception, cell: Cell) -> Finding:
    return Finding(
        rule_id=SYNTAX_RULE_ID,
        name="internal-error",
        message=f"mlsec could not analyse this cell ({type(exc).__name__}: {exc}); please report it",
        severity=Severity.INFO,
        category=Category.SYNTAX,
    )


def _text_findings(cell: Cell, rs: RuleSet, metadata: str | None = None) -> list[Finding]:
    """Outputs (and notebook metadata) go to the text rules; findings are flagged `in_output`."""
    hooks = rs.by_hook.get("check_text", ())
    if not hooks:
        return []
    from .rules.base import TextItem

    out: list[Finding] = []
    items = []
    if metadata is not None:
        items.append(TextItem(metadata, "metadata"))
    else:
        items.extend(TextItem(o.text, "output") for o in cell.outputs if o.text)
    if not items:
        return []
    ctx = RuleContext(cell, CellCode(python=""), Context(), out)
    for item in items:
        for r in hooks:
            r.check_text(item, ctx)
    for f in out:
        f.in_output = True
    return out


def _kept(f: Finding, document: Document, config: Config) -> bool:
    if f.rule_id != SYNTAX_RULE_ID:
        ids = f.ids
        if not any(config.rule_enabled(i, f.category) for i in ids):
            return False
        if any(config.ignored_for_path(document.path, i, f.category) for i in ids):
            return False
    if f.severity < config.min_severity and f.rule_id != SYNTAX_RULE_ID:
        return False
    return not _suppressed(f, document)


def _cell_of(f: Finding, document: Document) -> Cell | None:
    if f.cell_index is None:
        return document.cells[0] if document.cells and document.kind != "notebook" else None
    if 0 <= f.cell_index < len(document.cells) and document.cells[f.cell_index].index == f.cell_index:
        return document.cells[f.cell_index]
    for c in document.cells:
        if c.index == f.cell_index:
            return c
    return None


def _suppressed(f: Finding, document: Document) -> bool:
    if f.in_output:
        return False
    cell = _cell_of(f, document)
    if cell is None:
        return False
    lines = cell.source.splitlines()
    for ln in {f.line, f.end_line}:
        if 0 < ln <= len(lines) and "mlsec" in lines[ln - 1]:
            m = _IGNORE_COMMENT.search(lines[ln - 1])
            if m:
                ids = m.group("ids")
                if not ids:
                    return True
                wanted = {i.strip().upper() for i in ids.split(",") if i.strip()}
                if wanted & {i.upper() for i in f.ids} or "ALL" in wanted:
                    return True
    return False


def _finish(findings: list[Finding], document: Document) -> None:
    """Snippets for code frames (masked), messages masked, secret spans masked."""
    secret_spans: dict[tuple[int | None, bool], list[tuple[int, int, int, int]]] = {}
    for f in findings:
        if f.category == Category.SECRETS and not f.in_output:
            secret_spans.setdefault((f.cell_index, False), []).append((f.line, f.col, f.end_line, f.end_col))
    for f in findings:
        f.message = _secrets.mask_text(f.message)
        if f.in_output:
            continue
        cell = _cell_of(f, document)
        if cell is None:
            continue
        lines = cell.source.splitlines()
        start, end = f.line, min(f.end_line, f.line + 2)
        chunk = []
        for ln in range(start, end + 1):
            if not 0 < ln <= len(lines):
                continue
            text = lines[ln - 1]
            # every secret span touching this line (multi-line literals too), merged, masked right to left
            pieces = sorted(
                (sc if sl == ln else 0, ec if el == ln else len(text))
                for sl, sc, el, ec in secret_spans.get((f.cell_index, False), ())
                if sl <= ln <= el
            )
            merged: list[list[int]] = []
            for a, b in pieces:
                if b <= a:
                    continue
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            for a, b in reversed(merged):
                text = text[:a] + _mask_literal(text[a:b]) + text[b:]
            chunk.append(_secrets.mask_text(text))
        f.snippet = "\n".join(chunk)


def _mask_literal(val: str) -> str:
    q = val[:1] if val[:1] in "'\"" else ""
    if q and len(val) >= 2 and val.endswith(q):
        return q + _secrets.mask(val[1:-1]) + q
    return _secrets.mask(val)
