"""Terminal text, laid out like ruff: `path:cell 3:2:5: MLS101 [high] message`, a code frame, the fix.

Code frames come from `Finding.snippet` (the engine masked secrets in it already; it is masked again
here, a renderer being the last place a secret could leak). The underline is placed on the masked
text: when masking changed the length of a line, columns after the change are shifted to match.
`summary()` is separate so that the CLI can print it on its own (for example to stderr).
"""
from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from ..findings import Category, Finding, Severity
from ..secrets import mask_text

SEVERITY_STYLES = {
    Severity.CRITICAL: "1;35",
    Severity.HIGH: "1;31",
    Severity.MEDIUM: "1;33",
    Severity.LOW: "1;34",
    Severity.INFO: "2",
}
_BOLD, _DIM, _GUTTER, _HINT, _ERROR = "1", "2", "34", "36", "1;31"
MAX_FRAME_WIDTH = 200  # long lines (minified JSON, base64) are cut in frames


def use_color(stream: TextIO | None = None) -> bool:
    """Colour when writing to a terminal, unless NO_COLOR is set; FORCE_COLOR forces it."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _paint(text: str, style: str, color: bool) -> str:
    return f"\033[{style}m{text}\033[0m" if color and style and text else text


def render(
    report: Any,
    color: bool | None = None,
    *,
    source: bool = True,
    fixes: bool = True,
    notes: bool = True,
    summary: bool = True,
) -> str:
    """The whole report as text: findings with code frames, file errors, then the summary."""
    if color is None:
        color = use_color()
    blocks: list[str] = [
        render_finding(f, color=color, source=source, fixes=fixes, notes=notes, report=report).rstrip("\n")
        for f in report.findings
    ]
    errors = [
        f"{_paint(e.path, _BOLD, color)}: {_paint('error', _ERROR, color)}: {mask_text(e.message)}" for e in report.errors
    ]
    if errors:
        blocks.append("\n".join(errors))
    if summary:
        blocks.append(_summary(report, color=color))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def location(f: Finding) -> str:
    """`path:cell 3:2:5`, `path:2:5`, `path:cell 3:1:1 (in output)`, `path:metadata`."""
    if f.cell_index is None and f.in_output and any("metadata" in n for n in f.notes):
        return f"{f.file}:metadata"
    return f"{f.file}:{f.location_label()}" if f.file else f.location_label()


def header(f: Finding, color: bool = False) -> str:
    sev = _paint(f"[{f.severity.label}]", SEVERITY_STYLES.get(f.severity, ""), color)
    ids = _paint(f.rule_id, _BOLD, color)
    extra = [b for b in f.bandit_ids if b != f.rule_id]
    also = _paint(f" (bandit {', '.join(extra)})", _DIM, color) if extra else ""
    loc = location(f)
    if f.in_output and "(in output)" not in loc and not loc.endswith(":metadata"):
        loc += " (in output)"
    return f"{_paint(loc, _BOLD, color)}: {ids} {sev} {mask_text(f.message)}{also}"


def render_finding(
    f: Finding,
    color: bool = False,
    *,
    source: bool = True,
    fixes: bool = True,
    notes: bool = True,
    report: Any = None,
) -> str:
    lines = [header(f, color)]
    frame = code_frame(f, color=color, original=_original_lines(f, report)) if source else []
    gutter_w = len(str(f.line + max(len(f.snippet.split("\n")) - 1, 0))) if f.snippet else 1
    pad = " " * gutter_w
    bar = _paint("|", _GUTTER, color)
    lines.extend(frame)
    tail = []
    if notes:
        tail.extend(f"{pad} = {_paint('note', _BOLD, color)}: {mask_text(n)}" for n in f.notes)
    if fixes and f.fix_hint:
        tail.append(f"{pad} = {_paint('fix', _HINT, color)}: {mask_text(f.fix_hint)}")
    if tail:
        if frame:
            lines.append(f"{pad} {bar}")
        lines.extend(tail)
    return "\n".join(lines) + "\n"


def _original_lines(f: Finding, report: Any) -> list[str] | None:
    """The unmasked cell lines, only to line the underline up with the masked frame."""
    if report is None or f.in_output:
        return None
    doc = (getattr(report, "sources", None) or {}).get(f.file)
    if doc is None:
        return None
    cell = None
    if f.cell_index is None:
        cell = doc.cells[0] if doc.cells and doc.kind != "notebook" else None
    else:
        cell = next((c for c in doc.cells if c.index == f.cell_index), None)
    if cell is None:
        return None
    lines = cell.source.splitlines()
    return lines[f.line - 1 : f.line - 1 + len(f.snippet.split("\n"))]


def _shift(col: int, original: str | None, masked: str) -> int:
    """Column `col` of the original line, moved to the masked line (masking changes lengths)."""
    if original is None or original == masked:
        return min(col, len(masked))
    p = 0
    limit = min(len(original), len(masked))
    while p < limit and original[p] == masked[p]:
        p += 1
    s = 0
    while s < limit - p and original[-1 - s] == masked[-1 - s]:
        s += 1
    if col <= p:
        return col
    if col >= len(original) - s:
        return col - len(original) + len(masked)
    return min(max(col, p), len(masked) - s)


def code_frame(f: Finding, color: bool = False, original: list[str] | None = None) -> list[str]:
    """Numbered snippet lines with `^^^` under the finding's span (nothing for output findings)."""
    if not f.snippet or f.in_output:
        return []
    snippet = [mask_text(s) for s in f.snippet.split("\n")]
    last = f.line + len(snippet) - 1
    width = len(str(last))
    bar = _paint("|", _GUTTER, color)
    style = SEVERITY_STYLES.get(f.severity, "")
    out = [f"{' ' * width} {bar}"]
    for k, text in enumerate(snippet):
        ln = f.line + k
        orig = original[k] if original is not None and k < len(original) else None
        if orig is not None and len(orig) > len(text) + 200:
            orig = None  # not the same line any more
        shown = text if len(text) <= MAX_FRAME_WIDTH else text[:MAX_FRAME_WIDTH] + "…"
        out.append(f"{_paint(str(ln).rjust(width), _GUTTER, color)} {bar} {shown}")
        if ln > f.end_line:
            continue
        if ln == f.line:
            start = _shift(f.col, orig, text)
        else:
            start = len(text) - len(text.lstrip())
        end = _shift(f.end_col, orig, text) if ln == f.end_line else len(text)
        start = min(start, MAX_FRAME_WIDTH)
        end = min(max(end, start + 1), MAX_FRAME_WIDTH + 1)
        lead = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        marks = _paint("^" * (end - start), style, color)
        out.append(f"{' ' * width} {bar} {lead}{marks}")
    if f.end_line > last:
        out.append(f"{' ' * width} {bar} {_paint('…', _DIM, color)}")
    return out


def summary(report: Any, color: bool = False) -> str:
    """`Found 5 findings (1 critical, 4 high) in 3 files, 42 code cells, 0.81 s` plus categories."""
    findings = report.findings
    n = len(findings)
    files = getattr(report, "files", 0)
    cells = getattr(report, "cells", 0)
    duration = getattr(report, "duration", 0.0) or 0.0
    where = f"{files} file{'s' if files != 1 else ''}, {cells} code cell{'s' if cells != 1 else ''}, {duration:.2f} s"
    if not n:
        head = f"{_paint('No findings', _BOLD, color)} in {where}."
    else:
        by_sev: dict[Severity, int] = {}
        for f in findings:
            by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
        sev = ", ".join(
            _paint(f"{by_sev[s]} {s.label}", SEVERITY_STYLES.get(s, ""), color)
            for s in sorted(by_sev, reverse=True)
        )
        head = f"{_paint(f'Found {n} finding' + ('s' if n != 1 else ''), _BOLD, color)} ({sev}) in {where}."
    lines = [head]
    if n:
        by_cat: dict[str, int] = {}
        for f in findings:
            key = f.category.value if isinstance(f.category, Category) else str(f.category)
            by_cat[key] = by_cat.get(key, 0) + 1
        cats = ", ".join(f"{v} {k}" for k, v in sorted(by_cat.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"  by category: {cats}")
        sources = {f.source for f in findings}
        if sources - {"native"}:
            both = sum(1 for f in findings if f.source == "native+bandit")
            only = sum(1 for f in findings if f.source == "bandit")
            lines.append(f"  bandit: {only} of its own, {both} also found by mlsec rules")
        fixable = [f for f in findings if isinstance(f.fix, dict) and not f.in_output]
        if fixable:
            safe = sum(1 for f in fixable if f.fix.get("safe"))
            bits = [f"{safe} with `mlsec fix`"] if safe else []
            bits += [f"{len(fixable) - safe} with `mlsec fix --unsafe-fixes`"] if len(fixable) > safe else []
            lines.append("  fixable: " + ", ".join(bits))
    errors = len(report.errors)
    if errors:
        lines.append(_paint(f"  {errors} file error{'s' if errors != 1 else ''} (see above)", _ERROR, color))
    baselined = getattr(report, "baselined", 0)
    if baselined:
        lines.append(f"  {baselined} baselined finding{'s' if baselined != 1 else ''} not shown")
    return "\n".join(lines)


_summary = summary  # `render(summary=...)` shadows the name inside render
