"""Putting things on screen from the magic: one MIME bundle, HTML for notebooks, plain text for terminals.

A front end picks the richest type it can show (JupyterLab: text/html; terminal IPython: text/plain),
so every output is published once with both. Plain text is masked like the HTML.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..secrets import mask_text


def show(html: str, text: str) -> None:
    from IPython.display import display

    display({"text/html": html, "text/plain": mask_text(text)}, raw=True)


def notice(text: str, level: str = "info") -> None:
    from ..render.html import message_box

    show(message_box(text, level=level), text)


def _where(f: Any, cell_format: str, with_file: bool) -> str:
    if f.cell_index is None:
        return f"{f.file + ':' if f.file else ''}{f.line}:{f.col + 1}"
    prefix = f"{f.file} " if with_file and f.file and not f.file.startswith("<") else ""
    return f"{prefix}{cell_format.format(n=f.cell_index + 1)}, line {f.line}"


def text_report(report: Any, *, title: str = "", cell_format: str = "cell {n}", max_rows: int = 500) -> str:
    """Terminal version of the findings table: one block per finding with its code frame."""
    from ..render.html import summary_line

    findings = sorted(report.findings, key=lambda f: (-int(f.severity), *f.sort_key()))
    lines = [f"mlsec{' · ' + title if title else ''} · {summary_line(report)}"]
    with_file = len({f.file for f in findings}) > 1 or (report.files or 0) > 1
    if not findings:
        lines.append("No findings.")
    for f in findings[:max_rows]:
        lines.append(f"{f.severity.label.upper():8} {f.rule_id:7} {_where(f, cell_format, with_file)}: {f.message}")
        for n in f.notes:
            lines.append(f"{'':17}note: {n}")
        if f.snippet:
            for k, ln in enumerate(f.snippet.splitlines()):
                lines.append(f"{'':17}{f.line + k:>4} | {ln}")
        if f.fix_hint:
            lines.append(f"{'':17}fix: {f.fix_hint}")
    if len(findings) > max_rows:
        lines.append(f"... {len(findings) - max_rows} more (see _mlsec.findings)")
    for e in getattr(report, "errors", []) or []:
        lines.append(f"not analysed: {e.path}: {e.message}")
    return mask_text("\n".join(lines))


def text_compact(findings: Iterable[Any], title: str = "") -> str:
    findings = sorted(findings, key=lambda f: (-int(f.severity), f.line, f.col))
    head = f"mlsec{' · ' + title if title else ''}"
    rows = [head]
    for f in findings:
        fix = f" — {f.fix_hint}" if f.fix_hint else ""
        rows.append(f"  {f.severity.label.upper():8} {f.rule_id} line {f.line}: {f.message}{fix}")
    return mask_text("\n".join(rows))


def show_report(report: Any, *, title: str = "", cell_format: str = "cell {n}", note: str | None = None) -> None:
    from ..render.html import render

    text = text_report(report, title=title, cell_format=cell_format)
    if note:
        text = text.replace("\n", f"\n{note}\n", 1) if "\n" in text else f"{text}\n{note}"
    show(render(report, title=title, cell_format=cell_format, note=note), text)


def show_compact(findings: list[Any], title: str = "") -> None:
    from ..render.html import render_compact

    show(render_compact(findings, title=title), text_compact(findings, title))
