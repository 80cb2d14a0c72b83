"""What earlier cells tell later ones: import aliases, shadowed names, object types, downloads.

A notebook is one program in cell order. Instead of libcst's QualifiedNameProvider (slow: it builds
full scopes for every cell) mlsec keeps its own table, filled by a line scanner that runs on every
cell (cheap) so that even cells no rule looks at still contribute their imports.
"""
from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import Any

BUILTIN_NAMES = frozenset(dir(builtins))

# Module spellings that mean the same thing to a rule.
CANONICAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("cPickle", "pickle"),
    ("_pickle", "pickle"),
    ("six.moves.cPickle", "pickle"),
    ("pickle5", "pickle"),
    ("tensorflow.keras", "keras"),
    ("tensorflow.python.keras", "keras"),
    ("tf_keras", "keras"),
    ("torch.serialization.load", "torch.load"),
    ("torch.serialization.save", "torch.save"),
    ("pandas.io.pickle", "pandas"),
    ("sklearn.externals.joblib", "joblib"),
    ("urllib2", "urllib.request"),
    ("ruamel.yaml", "ruamel.yaml"),
    ("huggingface_hub.file_download", "huggingface_hub"),
)

_IMPORT_RE = re.compile(r"^[ \t]*import[ \t]+(?P<names>[^#;\n]+)", re.M)
_FROM_RE = re.compile(
    r"^[ \t]*from[ \t]+(?P<mod>[\w.]+)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^#;\n]+)", re.M
)
_DEF_RE = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)", re.M)
_ASSIGN_CALL_RE = re.compile(
    r"^[ \t]*(?P<name>[A-Za-z_]\w*)[ \t]*(?::[^=\n]+)?=[ \t]*(?P<callee>[A-Za-z_][\w.]*)[ \t]*\(", re.M
)
_ASSIGN_NAME_RE = re.compile(r"^[ \t]*(?P<name>[A-Za-z_]\w*)[ \t]*(?::[^=\n]+)?=(?!=)[ \t]*(?P<value>[^\n]*)", re.M)
_URL_LITERAL_RE = re.compile(r"""[fFrR]{0,2}(?P<q>["'])(?P<s>[A-Za-z][\w+.-]*://[^"'\\]*)(?P=q)[ \t]*(?:#.*)?$""")
_WITH_AS_RE = re.compile(r"\bwith[ \t]+(?P<callee>[A-Za-z_][\w.]*)[ \t]*\([^\n]*?\)[ \t]+as[ \t]+(?P<name>\w+)")


def canonical(qualname: str) -> str:
    for old, new in CANONICAL_PREFIXES:
        if qualname == old or qualname.startswith(old + "."):
            return new + qualname[len(old):]
    return qualname


@dataclass
class Origin:
    """Where a value came from, e.g. a download: shown in the finding's notes."""

    how: str  # "hf_hub_download", "wget", "requests.get"...
    cell_index: int | None
    line: int

    def describe(self) -> str:
        where = f"cell {self.cell_index + 1}" if self.cell_index is not None else f"line {self.line}"
        return f"comes from a download ({self.how}, {where})"


_NOTHING: frozenset = frozenset()
_THIS_CELL: Any = type("_ThisCell", (), {"__repr__": lambda self: "THIS_CELL"})()


@dataclass(frozen=True)
class ContextDelta:
    """A cell's changes to each table of the context: (entries set, keys removed)."""

    aliases: tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]
    instances: tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]
    downloaded: tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]
    urls: tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]


@dataclass
class Context:
    """Facts known before a cell runs. Copy-on-write per cell via `fork()`."""

    aliases: dict[str, str] = field(default_factory=dict)  # local name -> qualified name ('' = user-defined)
    instances: dict[str, str] = field(default_factory=dict)  # local name -> 'requests.Session()'
    downloaded: dict[str, Origin] = field(default_factory=dict)  # variable name or literal path -> origin
    urls: dict[str, str] = field(default_factory=dict)  # name -> URL literal it holds (`url = "http://..."`)
    # memo of imported(): changes only when an import does
    _imported: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def fork(self) -> "Context":
        """A copy to change."""
        c = Context(dict(self.aliases), dict(self.instances), dict(self.downloaded), dict(self.urls))
        c._imported = self._imported
        return c

    def imported(self) -> frozenset[str]:
        """Every library name imported so far (`flask.Flask`, `pickle`...): what whole-notebook questions
        such as "was gradio imported?" read."""
        if self._imported is None:
            self._imported = frozenset(q for q in self.aliases.values() if q)
        return self._imported

    # -- what one cell depends on ------------------------------------------------------------------
    def scope_key(self, names: frozenset[str], source: str) -> tuple:
        """The part of this context a cell with these identifiers and this text can read: the entries
        under names it mentions (or, for downloaded file paths, text it contains) and the set of imported
        libraries. A cell's findings and its changes to the context are a function of its text and of
        this key, so a cache keyed on it survives edits elsewhere (a new variable in cell 3 does not make
        cell 80 stale)."""
        a, i, u, d = self.aliases, self.instances, self.urls, self.downloaded
        return (
            self.imported(),
            frozenset((k, a[k]) for k in a.keys() & names) if a else _NOTHING,
            frozenset((k, i[k]) for k in i.keys() & names) if i else _NOTHING,
            frozenset((k, u[k]) for k in u.keys() & names) if u else _NOTHING,
            frozenset((k, o.how, o.cell_index, o.line) for k, o in d.items()
                      if k in names or (not k.isidentifier() and k in source)) if d else _NOTHING,
        )

    def delta_from(self, before: "Context", cell_index: int | None) -> "ContextDelta | None":
        """What a cell changed, to replay on another context with the same `scope_key` (None: nothing)."""
        changes = []
        for mine, theirs in ((self.aliases, before.aliases), (self.instances, before.instances),
                             (self.downloaded, before.downloaded), (self.urls, before.urls)):
            set_ = tuple((k, v) for k, v in mine.items() if k not in theirs or theirs[k] != v)
            gone = tuple(k for k in theirs if k not in mine)
            changes.append((set_, gone))
        if not any(s or g for s, g in changes):
            return None
        # a download this cell made names the cell; a cached replay may be at another index
        s, g = changes[2]
        changes[2] = (tuple((k, Origin(o.how, _THIS_CELL, o.line) if o.cell_index == cell_index else o)
                            for k, o in s), g)
        return ContextDelta(*changes)

    def apply(self, delta: "ContextDelta | None", cell_index: int | None) -> "Context":
        """This context with a cell's changes replayed (self when there are none: contexts handed on by
        the engine are never changed in place)."""
        if delta is None:
            return self
        c = self.fork()
        for table, (set_, gone) in ((c.aliases, delta.aliases), (c.instances, delta.instances),
                                    (c.downloaded, delta.downloaded), (c.urls, delta.urls)):
            for k in gone:
                table.pop(k, None)
            for k, v in set_:
                if table is c.downloaded and v.cell_index is _THIS_CELL:
                    v = Origin(v.how, cell_index, v.line)
                table[k] = v
        if delta.aliases[0] or delta.aliases[1]:
            c._imported = None
        return c

    # -- resolution ------------------------------------------------------------------------------
    def resolve_dotted(self, dotted: str) -> str | None:
        """`jb.load` -> `joblib.load`; `eval` -> `builtins.eval` unless shadowed; unknown -> None."""
        head, _, rest = dotted.partition(".")
        if head in self.instances:
            base = self.instances[head]
        elif head in self.aliases:
            base = self.aliases[head]
            if base == "":
                return None  # defined in the notebook: not the library's function
        elif head in BUILTIN_NAMES:
            base = "builtins." + head
        else:
            return None
        return canonical(base + ("." + rest if rest else ""))

    # -- learning from a cell ----------------------------------------------------------------------
    def learn_from_text(self, python: str) -> None:
        """Cheap scan for imports, definitions and `x = Something(...)` in a cell's Python text."""
        self._imported = None
        if "import" in python:
            for m in _FROM_RE.finditer(python):
                mod = m.group("mod")
                if mod.startswith("."):
                    continue
                for name, alias in _split_names(m.group("names")):
                    if name == "*":
                        continue
                    self.aliases[alias or name] = canonical(f"{mod}.{name}")
                    self.instances.pop(alias or name, None)
            for m in _IMPORT_RE.finditer(python):
                for name, alias in _split_names(m.group("names")):
                    if alias:
                        self.aliases[alias] = canonical(name)
                    else:
                        head = name.split(".")[0]
                        self.aliases[head] = canonical(head)
                    self.instances.pop(alias or name.split(".")[0], None)
        if "def" in python or "class" in python:
            for m in _DEF_RE.finditer(python):
                self.aliases[m.group("name")] = ""
                self.instances.pop(m.group("name"), None)
        if "=" in python:
            for m in _ASSIGN_NAME_RE.finditer(python):
                name, value = m.group("name"), m.group("value").strip()
                u = _URL_LITERAL_RE.match(value)
                if u:
                    self.urls[name] = u.group("s")
                else:
                    self.urls.pop(name, None)
                dotted = re.fullmatch(r"[A-Za-z_][\w.]*", value) is not None
                if dotted and value.split(".")[0] in self.aliases and self.resolve_dotted(value):
                    self.aliases[name] = self.resolve_dotted(value) or ""  # p = pickle
                elif name in self.aliases or name in BUILTIN_NAMES:
                    # rebinding an imported or builtin name: it no longer means the library's object
                    self.aliases[name] = ""
                self.instances.pop(name, None)
            for m in _ASSIGN_CALL_RE.finditer(python):
                q = self.resolve_dotted(m.group("callee"))
                if q:
                    self.instances[m.group("name")] = q + "()"
        if "with" in python:
            for m in _WITH_AS_RE.finditer(python):
                q = self.resolve_dotted(m.group("callee"))
                if q:
                    self.instances[m.group("name")] = q + "()"


def _split_names(names: str) -> list[tuple[str, str | None]]:
    names = names.strip().strip("()").replace("\\\n", " ").replace("\n", " ")
    out = []
    for part in names.split(","):
        part = part.strip()
        if not part:
            continue
        bits = part.split()
        if len(bits) == 3 and bits[1] == "as":
            out.append((bits[0], bits[2]))
        elif len(bits) >= 1 and re.fullmatch(r"[\w.*]+", bits[0]):
            out.append((bits[0], None))
    return out
