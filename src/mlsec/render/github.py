"""GitHub Actions annotations: one `::error file=...,line=...::message` workflow command per finding.

Severity maps to error (critical, high), warning (medium) and notice (low, info). Lines point at the
file as stored, like SARIF: for a notebook, the line of the raw .ipynb that holds the cell's source
line, and the message starts with `cell 3, line 2:` so the reader can find it in JupyterLab.
Escaping follows the Actions toolkit (`@actions/core` command.ts): in the message `%`, CR and LF
become `%25`, `%0D`, `%0A`; in property values `:` and `,` also become `%3A` and `%2C`.
"""
from __future__ import annotations

from typing import Any

from ..findings import Finding
from ..secrets import mask_text
from . import GITHUB_LEVELS, document_of, file_region


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **properties: Any) -> str:
    """`::level key=value,...::message` with both parts escaped."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"


def annotation(f: Finding, report: Any = None) -> str:
    region = file_region(f, document_of(report, f.file) if report is not None else None)
    extra = [b for b in f.bandit_ids if b != f.rule_id]
    title = f.rule_id + (f" (bandit {', '.join(extra)})" if extra else "") + f" [{f.severity.label}]"
    where = ""
    if f.cell_index is not None:
        where = f"cell {f.cell_index + 1}, " + ("output" if f.in_output else f"line {f.line}") + ": "
    elif f.in_output and f.file.endswith(".ipynb"):
        where = "notebook metadata: "
    message = where + mask_text(f.message)
    if f.fix_hint:
        message += "\nFix: " + mask_text(f.fix_hint)
    for note in f.notes:
        message += "\nNote: " + mask_text(note)
    props: dict[str, Any] = {"file": f.file.replace("\\", "/"), "line": region.start_line}
    if region.end_line is not None:
        props["endLine"] = region.end_line
    if region.start_col is not None:
        props["col"] = region.start_col
    if region.end_col is not None and region.end_line == region.start_line:
        props["endColumn"] = region.end_col
    props["title"] = title
    return command(GITHUB_LEVELS[f.severity.label], message, **props)


def render(report: Any, **_: Any) -> str:
    lines = [annotation(f, report) for f in report.findings]
    lines.extend(
        command("error", mask_text(e.message), file=e.path.replace("\\", "/"), title="mlsec") for e in report.errors
    )
    return "\n".join(lines) + "\n" if lines else ""
