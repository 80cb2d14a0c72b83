"""libcst parse of an edited cell that re-parses only the top-level statements that changed.

libcst's parser is the largest cost of analysing a cell (about ten times `ast.parse`). While someone types
in a 30-line cell, one statement changes and the other 29 are the same text as a second ago. So the
engine keeps the last tree of each recently parsed cell (by notebook path and cell); the next version
of that cell is cut where its top-level statements start (found by the C parser), the pieces whose text
is unchanged come from the old tree, the others are parsed alone, and the pieces are joined into one
`Module`: the same tree a whole parse gives (tests compare them with `deep_equals` over the corpus).
Wherever the pieces could disagree with a whole parse (indentation detected differently, a piece that
does not parse alone), the whole cell is parsed instead.
"""
from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from typing import Any

MIN_STATEMENTS = 6  # below this, splitting costs more than it saves
_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
# slot (document path, cell id or index) -> (python, module, pieces or None): the last parse of each
# recently edited cell, so that the next version re-parses only the statements that changed
_SLOTS: "OrderedDict[Any, tuple[str, Any, list[str] | None]]" = OrderedDict()
_SLOTS_MAX = 128  # a 30-line cell's tree is about 50 KiB
_LOCK = threading.Lock()


def parse_cell(python: str, slot: Any = None) -> Any:
    """`libcst.parse_module(python)`; with a `slot` naming where the cell lives, the statements that
    are the same text as in the slot's previous version are reused from its tree. Raises what libcst
    raises for a cell that does not parse."""
    import libcst as cst

    if slot is None:
        return cst.parse_module(python)
    with _LOCK:
        prev = _SLOTS.get(slot)
    module = pieces = None
    if prev is not None and prev[0] != python:
        pieces = split_statements(python)
        if pieces is not None:
            module = _reparse(prev, pieces)
    if module is None:
        module = cst.parse_module(python)
    with _LOCK:
        _SLOTS[slot] = (python, module, pieces)
        _SLOTS.move_to_end(slot)
        while len(_SLOTS) > _SLOTS_MAX:
            _SLOTS.popitem(last=False)
    return module


def _reparse(prev: tuple[str, Any, list[str] | None], pieces: list[str]) -> Any | None:
    """The new version's tree from the previous tree's pieces and fresh parses of the changed ones."""
    import libcst as cst

    old_python, old_module, old_pieces = prev
    if old_pieces is None:
        old_pieces = split_statements(old_python)
    if old_pieces is None or len(old_pieces) != len(old_module.body):
        return None
    known = dict(zip(old_pieces, piece_modules(old_module)))
    try:
        modules = [known.get(p) or cst.parse_module(p) for p in pieces]
    except Exception:  # a piece libcst reads differently alone: let the whole parse decide
        return None
    return join_modules(modules)


def piece_modules(module: Any) -> list[Any]:
    """The inverse of `join_modules`: one Module per top-level statement, as parsing that statement's
    piece alone gives (its trailing comment lines, the next statement's leading lines, as footer)."""
    import libcst as cst

    body = module.body
    out = []
    for i, stmt in enumerate(body):
        footer = body[i + 1].leading_lines if i + 1 < len(body) else module.footer
        out.append(cst.Module(
            body=[stmt if i == 0 else stmt.with_changes(leading_lines=())],
            header=module.header if i == 0 else (), footer=footer, encoding=module.encoding,
            default_indent=module.default_indent, default_newline=module.default_newline,
            has_trailing_newline=module.has_trailing_newline if i + 1 == len(body) else True,
        ))
    return out


_AST_MEMO: "OrderedDict[str, ast.Module]" = OrderedDict()  # the engine and the bandit bridge parse the same text
_AST_MEMO_MAX = 16


def parse_ast(python: str, *, keep: bool = True) -> ast.Module:
    """`ast.parse` (top-level `await` allowed, as in IPython) without the SyntaxWarnings and
    DeprecationWarnings that user code such as `"\\d"` makes the compiler print: they would show up
    in the user's kernel and in scan output as if mlsec had a problem. The last few trees are kept:
    an edited cell is parsed by the statement splitter and then by the bandit bridge (`keep=False`: a
    yes/no syntax check, nothing to keep)."""
    import warnings

    if keep:
        with _LOCK:
            tree = _AST_MEMO.get(python)
        if tree is not None:
            return tree
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = compile(python, "<cell>", "exec", _FLAGS)
    if not keep:
        return tree
    with _LOCK:
        _AST_MEMO[python] = tree
        while len(_AST_MEMO) > _AST_MEMO_MAX:
            _AST_MEMO.popitem(last=False)
    return tree


def split_statements(python: str) -> list[str] | None:
    """The cell's text cut at the first line of each top-level statement (decorators included); the
    pieces add up to the text. None when there is nothing to gain or the C parser rejects the cell."""
    if python.count("\n") < MIN_STATEMENTS:
        return None
    try:
        tree = parse_ast(python)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    body = tree.body
    if len(body) < MIN_STATEMENTS:
        return None
    starts = []
    for stmt in body:
        decorators = getattr(stmt, "decorator_list", None)
        line = min([stmt.lineno, *(d.lineno for d in decorators)]) if decorators else stmt.lineno
        starts.append(line)
    lines = python.splitlines(keepends=True)
    if any(not ln.endswith("\n") for ln in lines[:-1]) or len(set(starts)) != len(starts):
        return None  # `\r` line ends or `a = 1; b = 2` on one line: not worth the care
    cuts = [0, *(s - 1 for s in starts[1:]), len(lines)]
    pieces = ["".join(lines[a:b]) for a, b in zip(cuts, cuts[1:])]
    if any(not p.strip() for p in pieces):
        return None
    return pieces


def join_modules(modules: list[Any]) -> Any | None:
    """One Module from consecutive pieces: a piece's trailing comment lines (its module footer) and the
    next piece's header become the leading lines of the next statement, as in a whole parse. None if
    the pieces disagree on indentation or newlines (a whole parse would read them differently)."""
    import libcst as cst

    first = modules[0]
    indent, newline = _indent_of(modules), first.default_newline
    if indent is None or any(m.default_newline != newline for m in modules):
        return None
    body: list[Any] = []
    carried: list[Any] = []
    for i, m in enumerate(modules):
        if not m.body:
            return None
        lead = carried + (list(m.header) if i else [])
        stmts = list(m.body)
        if lead:
            stmts[0] = stmts[0].with_changes(leading_lines=[*lead, *stmts[0].leading_lines])
        body.extend(stmts)
        carried = list(m.footer)
    return cst.Module(
        body=body, header=first.header, footer=carried, encoding=first.encoding,
        default_indent=indent, default_newline=newline, has_trailing_newline=modules[-1].has_trailing_newline,
    )


def _indent_of(modules: list[Any]) -> str | None:
    """The indentation every piece detected (libcst records a block's indent only where it differs from
    the module's); None if they differ, as in a two-space cell whose block-less pieces say four."""
    indents = {m.default_indent for m in modules}
    return indents.pop() if len(indents) == 1 else None
