"""Fixes rules attach to findings: small edits anchored on libcst nodes.

A rule builds the edits from the nodes it already holds (`set_keyword(call.node, "weights_only",
"True")`); the engine resolves the anchors to cell positions together with the finding's own span
(`RuleContext.resolve_positions`), so a fix costs nothing unless a rule fires. The resolved fix is the
format every front end reads (JupyterLab quick fixes, `mlsec fix`):

    {"safe": bool, "title": str, "edits": [{"replacement": str, "line": 1-based, "col": 0-based,
                                             "end_line": ..., "end_col": ...}, ...]}

Positions are in the cell's coordinates (the engine's Python text keeps the cell's lines and columns
outside `%magic` / `!shell` lines, which no fix touches). `safe` follows ruff: a safe fix keeps the
behaviour of a correct program; an unsafe one may change it (a checkpoint that stops loading, a
server no longer reachable from other machines) and is applied only on request.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

_SIDES = ("start", "end")


def edit(start: Any, end: Any, replacement: str, *, start_side: str = "start", end_side: str = "end") -> dict[str, Any]:
    """Replace the text from `start_side` of node `start` to `end_side` of node `end`."""
    assert start_side in _SIDES and end_side in _SIDES
    return {"replacement": replacement, "start": (start, start_side), "end": (end, end_side)}


def replace(node: Any, text: str) -> dict[str, Any]:
    return edit(node, node, text)


def insert_after(node: Any, text: str) -> dict[str, Any]:
    return edit(node, node, text, start_side="end", end_side="end")


def fix(edits: Iterable[dict[str, Any]] | None, *, safe: bool, title: str) -> dict[str, Any] | None:
    """The fix a rule passes to `ctx.report(..., fix=...)`; None when there is nothing to edit."""
    edits = [e for e in (edits or ()) if e is not None]
    if not edits:
        return None
    return {"anchored": True, "safe": bool(safe), "title": title, "edits": edits}


# ---------------------------------------------------------------------------------------------
# Engine side


def anchor_nodes(fix: dict[str, Any] | None) -> list[Any]:
    if not fix or not fix.get("anchored"):
        return []
    return [e[k][0] for e in fix.get("edits", ()) for k in ("start", "end")]


def anchor_spans(module: Any, text: str, pending: list[tuple[Any, Any]], pending_fixes: list[Any],
                 spans: dict[int, tuple[int, int, int, int]]) -> None:
    """Add the positions of fix anchors to `spans` without libcst's PositionProvider where possible.

    An anchor (`True` in `verify=True`) rarely occurs once in a whole cell, but usually once in the
    text of the node its finding reports, whose position is known: search there first, then the cell.
    """
    from ..engine import _text_spans, iter_nodes

    parents = {id(f): node for f, node in pending}
    starts: list[int] | None = None
    rest: list[Any] = []
    for f in pending_fixes:
        anchors = [n for n in anchor_nodes(f.fix) if id(n) not in spans]
        parent = parents.get(id(f))
        ps = spans.get(id(parent)) if parent is not None else None
        if anchors and ps is not None:
            inside = {id(n) for n in iter_nodes(parent)}
            rest.extend(n for n in anchors if id(n) not in inside)  # a neighbour of the reported node
            anchors = [n for n in anchors if id(n) in inside]
            if starts is None:
                starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
            if ps[2] <= len(starts):
                a, b = starts[ps[0] - 1] + ps[1], starts[ps[2] - 1] + ps[3]
                for key, (line, col, end_line, end_col) in _text_spans(module, text[a:b], anchors).items():
                    spans[key] = (ps[0] + line - 1, col + (ps[1] if line == 1 else 0),
                                  ps[0] + end_line - 1, end_col + (ps[1] if end_line == 1 else 0))
        rest.extend(n for n in anchors if id(n) not in spans)
    if rest:
        spans.update(_text_spans(module, text, rest))


def resolve_anchors(fix: dict[str, Any] | None, spans: dict[int, tuple[int, int, int, int]]) -> dict[str, Any] | None:
    """The fix with node anchors turned into cell positions; None if a node has no position."""
    if not fix or not fix.get("anchored"):
        return fix
    out = []
    for e in fix["edits"]:
        (sn, ss), (en, es) = e["start"], e["end"]
        s, t = spans.get(id(sn)), spans.get(id(en))
        if s is None or t is None:
            return None
        line, col = (s[0], s[1]) if ss == "start" else (s[2], s[3])
        end_line, end_col = (t[0], t[1]) if es == "start" else (t[2], t[3])
        if (end_line, end_col) < (line, col):
            return None
        out.append({"replacement": e["replacement"], "line": line, "col": col, "end_line": end_line, "end_col": end_col})
    return {"safe": fix["safe"], "title": fix["title"], "edits": out}


# ---------------------------------------------------------------------------------------------
# Building edits from a call


def keyword_arg(call_node: "cst.Call", name: str) -> "cst.Arg | None":
    for a in call_node.args:
        if a.keyword is not None and a.keyword.value == name:
            return a
    return None


def has_double_star(call_node: "cst.Call") -> bool:
    return any(a.star == "**" for a in call_node.args)


def set_keyword(call_node: "cst.Call", name: str, value_code: str) -> dict[str, Any] | None:
    """`name=value_code` in the call: the existing keyword's value replaced, or the keyword appended.

    None when the call passes `**kwargs` and has no such keyword (it may already be in there).
    """
    arg = keyword_arg(call_node, name)
    if arg is not None:
        return replace(arg.value, value_code)
    if has_double_star(call_node):
        return None
    if call_node.args:
        return insert_after(call_node.args[-1], f", {name}={value_code}")
    return edit(call_node.func, call_node, f"({name}={value_code})", start_side="end")


def remove_keyword(call_node: "cst.Call", name: str) -> dict[str, Any] | None:
    """Delete `name=...` with the comma that joins it to its neighbour. None when a comment sits in
    the text that would go (the caller then sets a value instead)."""
    import libcst as cst

    args = list(call_node.args)
    arg = keyword_arg(call_node, name)
    if arg is None:
        return None
    i = next(k for k, a in enumerate(args) if a is arg)
    if i > 0:  # the argument's own trailing comment would otherwise end up on the line before
        e, between = edit(args[i - 1], arg, "", start_side="end"), [args[i - 1], arg]
    elif i + 1 < len(args):
        e, between = edit(arg, args[i + 1], "", end_side="start"), [arg]
    else:
        e, between = edit(call_node.func, call_node, "()", start_side="end"), [arg]
    module = cst.Module(body=[])
    for a in between:  # the comma and whitespace after an argument carry its trailing comment
        try:
            text = module.code_for_node(a.with_changes(value=cst.Name("x")))
        except Exception:
            return None
        if "#" in text:
            return None
    if i == 0 and len(args) == 1:
        try:
            if "#" in module.code_for_node(call_node.with_changes(func=cst.Name("f"))):
                return None
        except Exception:
            return None
    return e


def same_quotes(node: "cst.BaseExpression", value: str) -> str:
    """A string literal for `value` written with the quotes (and prefix) of the literal `node`."""
    import libcst as cst

    if isinstance(node, cst.SimpleString):
        prefix = node.prefix
        quote = node.quote
        if "\\" not in value and quote[0] not in value and "b" not in prefix.lower() and "f" not in prefix.lower():
            return f"{prefix}{quote}{value}{quote}"
    return repr(value)
