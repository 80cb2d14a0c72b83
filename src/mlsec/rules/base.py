"""The rule base class, the examples every rule carries, and helpers for reading libcst nodes.

A rule is a small class with metadata (id, category, severity, CWE, lifecycle stage, message, fix
hint, explanation) and embedded VALID / INVALID examples that the test-suite runs. It implements one
or more hooks; the engine walks each parsed cell once and dispatches:

- `check_call(call, ctx)`      every call, with its callee resolved through the notebook's imports
- `check_assign(assign, ctx)`  `name = value`, `obj.attr = value`, `x["k"] = value` (targets as text)
- `check_string(string, ctx)`  every string literal (already evaluated, positions kept)
- `check_dict_item(key, value, node, ctx)` every `{"key": value}` entry with a literal key
- `check_special(special, ctx)` shell and magic lines (`!wget ...`, `%pip install ...`, `%%bash` bodies)
- `check_text(text, ctx)`      text with no code: cell outputs, notebook metadata, `%%html` bodies

A rule never sees files or output formats: it reports nodes or spans inside the cell.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from ..findings import Category, Confidence, Severity, Stage

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

    from ..engine import RuleContext
    from ..syntax import Special


@dataclass(frozen=True)
class Valid:
    """Code that must produce no finding of this rule."""

    code: str
    note: str = ""


@dataclass(frozen=True)
class Invalid:
    """Code that must produce a finding of this rule (on `line`, at `severity`, when given)."""

    code: str
    line: int | None = None
    severity: str | None = None
    count: int = 1
    in_output: bool = False
    expected_replacement: str | None = None  # the cell after applying the rule's fix
    note: str = ""


@dataclass
class TextItem:
    """Text with no code: an output, notebook metadata, or a non-Python cell-magic body."""

    text: str
    kind: str  # "output", "metadata", "text"
    first_line: int = 1  # line of text[0] in the cell (outputs: 1)


class Rule:
    id: ClassVar[str] = "MLS000"
    name: ClassVar[str] = ""
    category: ClassVar[Category] = Category.DESERIALIZATION
    severity: ClassVar[Severity] = Severity.MEDIUM
    confidence: ClassVar[Confidence] = Confidence.HIGH
    cwe: ClassVar[int | None] = None
    stage: ClassVar[Stage] = Stage.TRAINING
    message: ClassVar[str] = ""
    fix_hint: ClassVar[str] = ""
    explanation: ClassVar[str] = ""  # markdown: why it is dangerous, an example, the fix
    default_enabled: ClassVar[bool] = True
    # Regular-expression fragments; a cell whose Python text matches none of them is not parsed
    # for this rule. Specials and text are always offered to check_special / check_text.
    triggers: ClassVar[tuple[str, ...]] = ()
    # Qualified-name prefixes this rule cares about: local aliases bound to these become triggers
    # (`from pickle import loads as l` makes `l` a trigger word).
    modules: ClassVar[tuple[str, ...]] = ()
    bandit_ids: ClassVar[tuple[str, ...]] = ()  # bandit tests that report the same problem
    # Whether some findings carry a machine-applicable fix (rules/fixes.py): "safe" (same behaviour for
    # correct programs, applied by `mlsec fix`), "unsafe" (may change behaviour: `--unsafe-fixes`), or
    # "sometimes" (safe for some findings, unsafe for others). None: no automatic fix.
    fixable: ClassVar[str | None] = None
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    # hooks (override what the rule needs)
    def check_call(self, call: "Call", ctx: "RuleContext") -> None: ...
    def check_assign(self, assign: "Assign", ctx: "RuleContext") -> None: ...
    def check_string(self, string: "StringLit", ctx: "RuleContext") -> None: ...
    def check_dict_item(self, key: str, value: "cst.BaseExpression", node: "cst.CSTNode", ctx: "RuleContext") -> None: ...
    def check_special(self, special: "Special", ctx: "RuleContext") -> None: ...
    def check_text(self, text: TextItem, ctx: "RuleContext") -> None: ...

    @classmethod
    def hooks(cls) -> set[str]:
        names = ("check_call", "check_assign", "check_string", "check_dict_item", "check_special", "check_text")
        return {n for n in names if getattr(cls, n) is not getattr(Rule, n)}

    @classmethod
    def meta(cls) -> dict[str, Any]:
        return {
            "id": cls.id,
            "name": cls.name,
            "category": cls.category.value,
            "severity": cls.severity.label,
            "confidence": cls.confidence.label,
            "cwe": cls.cwe,
            "stage": cls.stage.value,
            "message": cls.message,
            "fix_hint": cls.fix_hint,
            "explanation": cls.explanation.strip(),
            "default_enabled": cls.default_enabled,
            "bandit_ids": list(cls.bandit_ids),
            "fixable": cls.fixable,
        }


# ---------------------------------------------------------------------------------------------
# What rules see


@dataclass
class Call:
    node: "cst.Call"
    dotted: str | None  # callee as written: `jb.load`, `sess.get`; None for `f()()` and the like
    qualname: str | None  # resolved: `joblib.load`, `requests.Session().get`, `builtins.eval`
    args: list["cst.Arg"]
    kwargs: dict[str, "cst.Arg"]

    @property
    def name(self) -> str:
        """Last name of the callee (`load` for `jb.load`)."""
        if self.dotted:
            return self.dotted.rsplit(".", 1)[-1]
        return ""

    def is_(self, *qualnames: str) -> bool:
        """Match resolved names; `a.*` matches below a, `*.b` matches any callee ending in .b."""
        q = self.qualname
        if q is None:
            return False
        m = _MATCHERS.get(qualnames)
        if m is None:
            m = _matcher(qualnames)
        exact, prefixes, suffixes, bare = m
        return q in exact or (bool(prefixes) and q.startswith(prefixes)) or (
            bool(suffixes) and (q.endswith(suffixes) or q in bare))

    def arg(self, position: int | None = None, keyword: str | None = None) -> "cst.BaseExpression | None":
        if keyword is not None and keyword in self.kwargs:
            return self.kwargs[keyword].value
        if position is not None and position < len(self.args):
            return self.args[position].value
        return None

    def has_star_args(self) -> bool:
        return any(a.star for a in self.node.args)


# is_() runs for every rule on every call of a cell: its patterns, compiled once per pattern tuple
_MATCHERS: dict[tuple[str, ...], tuple[frozenset[str], tuple[str, ...], tuple[str, ...], frozenset[str]]] = {}


def _matcher(patterns: tuple[str, ...]):
    exact = frozenset(p for p in patterns if not p.endswith(".*") and not p.startswith("*."))
    prefixes = tuple(p[:-1] for p in patterns if p.endswith(".*"))
    suffix_pats = [p for p in patterns if p.startswith("*.") and not p.endswith(".*")]
    m = (exact, prefixes, tuple(p[1:] for p in suffix_pats), frozenset(p[2:] for p in suffix_pats))
    if len(_MATCHERS) > 4096:  # patterns come from rule code; this only bounds a rule that builds them
        _MATCHERS.clear()
    _MATCHERS[patterns] = m
    return m


@dataclass
class Assign:
    node: "cst.CSTNode"  # the whole statement (Assign / AnnAssign / AugAssign)
    target: str  # `password`, `openai.api_key`, `os.environ["X"]`, `cfg["token"]`, `self.token`
    target_node: "cst.CSTNode"
    value: "cst.BaseExpression"
    resolved_target: str | None = None  # `openai.api_key` resolved through imports


@dataclass
class StringLit:
    node: "cst.CSTNode"
    value: str  # evaluated; f-strings: the literal parts joined, placeholders as '{}'
    is_fstring: bool = False


# ---------------------------------------------------------------------------------------------
# Reading literals


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover
        return "MISSING"


MISSING: Any = _Missing()


def literal(node: "cst.BaseExpression | None") -> Any:
    """Python value of a simple literal node, else MISSING. Never evaluates anything."""
    import libcst as cst

    if node is None:
        return MISSING
    if isinstance(node, cst.Name):
        return {"True": True, "False": False, "None": None}.get(node.value, MISSING)
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            try:
                return int(node.value.replace("_", "").lstrip("0") or "0")
            except ValueError:
                return MISSING
    if isinstance(node, cst.Float):
        try:
            return float(node.value.replace("_", ""))
        except ValueError:
            return MISSING
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        return string_value(node)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        v = literal(node.expression)
        return -v if isinstance(v, (int, float)) else MISSING
    if isinstance(node, (cst.Tuple, cst.List)):
        vals = [literal(e.value) for e in node.elements]
        return MISSING if any(v is MISSING for v in vals) else tuple(vals)
    return MISSING


_STRING_VALUES: dict[str, str | None] = {}  # literal text -> value (libcst evaluates with ast.literal_eval)


def string_value(node: "cst.BaseExpression | None") -> str | None:
    """The value of a plain string literal (not an f-string), else None."""
    import libcst as cst

    tp = type(node)
    if tp is cst.SimpleString:
        raw = node.value
        try:
            return _STRING_VALUES[raw]
        except KeyError:
            pass
        try:
            v = node.evaluated_value
        except Exception:  # odd escapes
            v = None
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        if len(_STRING_VALUES) > 50_000:
            _STRING_VALUES.clear()
        if len(raw) <= 4096:
            _STRING_VALUES[raw] = v
        return v
    if tp is cst.ConcatenatedString:
        left, right = string_value(node.left), string_value(node.right)
        if left is None or right is None:
            return None
        return left + right
    return None


def is_true(node: "cst.BaseExpression | None") -> bool:
    return literal(node) is True


def is_false(node: "cst.BaseExpression | None") -> bool:
    return literal(node) is False


def is_dynamic_string(node: "cst.BaseExpression | None") -> bool:
    """A string built at run time: f-string with placeholders, `%` or `+` with non-literals, `.format()`."""
    import libcst as cst

    if node is None:
        return False
    if isinstance(node, cst.FormattedString):
        return any(isinstance(p, cst.FormattedStringExpression) for p in node.parts)
    if isinstance(node, cst.ConcatenatedString):
        return is_dynamic_string(node.left) or is_dynamic_string(node.right)
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Modulo):
            return isinstance(node.left, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString))
        if isinstance(node.operator, cst.Add):
            parts = [node.left, node.right]
            has_str = any(
                isinstance(p, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) or is_dynamic_string(p)
                for p in parts
            )
            non_literal = any(literal(p) is MISSING and not is_dynamic_string(p) for p in parts)
            return has_str and (non_literal or any(is_dynamic_string(p) for p in parts))
        return False
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        return isinstance(node.func.value, (cst.SimpleString, cst.ConcatenatedString))
    return False


def dotted_name(node: "cst.BaseExpression | None") -> str | None:
    """`a.b.c` for Name/Attribute chains, else None."""
    import libcst as cst

    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def code_of(node: "cst.CSTNode") -> str:
    import libcst as cst

    return cst.Module(body=[]).code_for_node(node)


# ---------------------------------------------------------------------------------------------
# Registry


_REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: make a rule known to the engine, `mlsec rules` and the test-suite."""
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise ValueError(f"duplicate rule id {cls.id}: {cls.__name__} and {_REGISTRY[cls.id].__name__}")
    if not re.fullmatch(r"MLS\d{3}", cls.id):
        raise ValueError(f"rule id {cls.id!r} must be MLS followed by three digits")
    _REGISTRY[cls.id] = cls
    return cls


def all_rules() -> list[type[Rule]]:
    from . import load_all

    load_all()
    return sorted(_REGISTRY.values(), key=lambda r: r.id)


def get_rule(rule_id: str) -> type[Rule] | None:
    from . import load_all

    load_all()
    return _REGISTRY.get(rule_id.upper())


def iter_examples(rules: Iterable[type[Rule]]) -> Iterable[tuple[type[Rule], Valid | Invalid]]:
    for r in rules:
        for ex in r.VALID:
            yield r, ex
        for ex in r.INVALID:
            yield r, ex

