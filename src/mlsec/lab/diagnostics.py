"""Findings -> the JSON the labextension draws: offsets in UTF-16 code units, as CodeMirror counts.

Findings carry 1-based lines and 0-based columns in code points of the cell source (lines as
`str.splitlines` cuts them, like the engine). CodeMirror 6 positions are UTF-16 offsets into a
document whose line breaks are one position each (`\\r\\n` included), so an emoji before a finding
shifts it by one and a CRLF line break counts once.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import secrets as _secrets
from ..findings import Finding


@lru_cache(maxsize=8192)
def _masked(text: str) -> str:
    """Messages repeat across cells and lints; mask each distinct one once."""
    return _secrets.mask_text(text)


class Utf16Map:
    """Map (line, code-point column) of one source text to CodeMirror offsets and UTF-16 columns."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True) or [""]
        self._starts: list[int] = []  # UTF-16 offset of each line start
        pos = 0
        for chunk in self.lines:
            self._starts.append(pos)
            pos += _u16len(chunk) - (1 if chunk.endswith("\r\n") else 0)
        self.length = pos

    def _content(self, line: int) -> str:
        return self.lines[line - 1].rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

    def column(self, line: int, col: int) -> int:
        """UTF-16 column of code-point column `col` on 1-based `line` (clamped into the line)."""
        line = min(max(line, 1), len(self.lines))
        content = self._content(line)
        return _u16len(content[: max(0, min(col, len(content)))])

    def offset(self, line: int, col: int) -> int:
        line = min(max(line, 1), len(self.lines))
        return self._starts[line - 1] + self.column(line, col)


def _u16len(s: str) -> int:
    # code points above the BMP take two UTF-16 code units (a surrogate pair); lone surrogates one
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def to_diagnostic(f: Finding, umap: Utf16Map | None) -> dict[str, Any]:
    """One finding as the frontend's diagnostic; `umap` is None for findings outside the code."""
    from ..rules.base import get_rule

    d: dict[str, Any] = {
        "explainable": get_rule(f.rule_id) is not None,  # bandit-only ids have no mlsec explanation
        "rule": f.rule_id,
        "name": f.name,
        "severity": f.severity.label,
        "category": f.category.value,
        "message": _masked(f.message),
        "fixHint": _masked(f.fix_hint),
        "snippet": f.snippet,  # masked by the engine
        "inOutput": f.in_output,
        "line": f.line,
        "endLine": f.end_line,
        "ids": f.ids,
        "source": f.source,
        "notes": [_masked(n) for n in f.notes],
        "cwe": f.cwe,
    }
    if umap is not None and not f.in_output:
        start = umap.offset(f.line, f.col)
        end = max(start, umap.offset(f.end_line, f.end_col))
        d.update(
            {
                "from": start,
                "to": end,
                "col": umap.column(f.line, f.col),
                "endCol": umap.column(f.end_line, f.end_col),
            }
        )
        fix = _fix(f, umap)
        if fix is not None:
            d["fix"] = fix
    else:
        d.update({"from": 0, "to": 0, "col": f.col, "endCol": f.end_col})
    return d


def _fix(f: Finding, umap: Utf16Map) -> dict[str, Any] | None:
    """A rule's machine-applicable edit as CodeMirror changes.

    `fix` is `{"replacement": str, "safe": bool}` replacing the finding's span, or it names its own
    span (`line`, `col`, `end_line`, `end_col`), or it lists several `edits` of that shape; a `title`
    or `description` labels the action. Anything else is not offered rather than guessed at.
    """
    from ..fix import fix_spans  # the one reader of the fix format (`mlsec fix` uses it too)

    fix = f.fix
    spans = fix_spans(f)
    if not spans or not isinstance(fix, dict):
        return None
    changes = []
    for line, col, end_line, end_col, replacement in spans:
        start = umap.offset(line, col)
        changes.append({"from": start, "to": max(start, umap.offset(end_line, end_col)), "insert": replacement})
    changes.sort(key=lambda c: c["from"])
    for a, b in zip(changes, changes[1:]):
        if b["from"] < a["to"]:
            return None  # overlapping edits cannot be applied as one transaction
    title = fix.get("title") or fix.get("description")
    if not isinstance(title, str) or not title.strip():
        rep = changes[0]["insert"].strip().splitlines()[0] if changes[0]["insert"].strip() else ""
        title = f"Replace with {rep[:60]}" if rep else "Remove"
    return {"title": _masked(title), "safe": bool(fix.get("safe", False)), "changes": changes}
