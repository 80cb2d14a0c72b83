"""Renderers: one module per output format, all over the same `engine.Report` and `Finding`.

text (terminal, ruff-like code frames), json (stable schema), sarif (2.1.0 for code scanning),
github (workflow-command annotations), html (notebooks). Positions inside the tool are cell
coordinates; `file_region` converts them, at this edge only, to positions in the file as stored
(lines of the raw .ipynb JSON), which is what code-scanning UIs and annotations point at.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..findings import Finding
    from ..source import Document

FORMATS = ("text", "json", "sarif", "github", "html")

# Severity -> level in SARIF and in GitHub workflow commands.
SARIF_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
GITHUB_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "notice", "info": "notice"}


def render(report: Any, fmt: str, **kw: Any) -> str:
    """`render(report, "sarif")`: the report in one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    module = importlib.import_module(f"{__name__}.{fmt}")
    return module.render(report, **kw)


@dataclass
class FileRegion:
    """A finding's place in the file as stored: 1-based lines and columns, end column exclusive.

    Columns are counted in Unicode code points of the raw file (None when not known, e.g. for a
    finding in a cell output, which points at the cell's `outputs` key)."""

    start_line: int
    start_col: int | None = None
    end_line: int | None = None
    end_col: int | None = None


def file_region(finding: "Finding", document: "Document | None") -> FileRegion:
    """Where `finding` is in the stored file: raw .ipynb lines for notebooks, lines for .py files."""
    f = finding
    raw = _raw_text(f.file, document)
    if raw is None:
        # a .py file, a single cell, or cells sent by the server/magic: cell lines are file lines
        if f.in_output:
            return FileRegion(max(f.line, 1))
        return FileRegion(max(f.line, 1), f.col + 1, max(f.end_line, f.line, 1), max(f.end_col, 0) + 1)
    from ..nbpositions import positions

    pos = positions(raw)
    if f.cell_index is None:  # notebook metadata
        return FileRegion(pos.metadata_line or 1)
    if f.in_output:
        return FileRegion(pos.outputs_line(f.cell_index))
    line, col = pos.position(f.cell_index, f.line, f.col)
    end_line, end_col = pos.position(f.cell_index, max(f.end_line, f.line), f.end_col)
    if (end_line, end_col) < (line, col):
        end_line, end_col = line, col
    return FileRegion(line, col + 1, end_line, end_col + 1)


_RAW_CACHE: dict[str, str | None] = {}


def _raw_text(path: str, document: "Document | None") -> str | None:
    """The .ipynb JSON text of a notebook finding (from the Document, else read from disk once)."""
    if document is not None:
        if document.kind != "notebook":
            return None
        if document.raw_text is not None:
            return document.raw_text
    if not path.endswith(".ipynb"):
        return None
    if path not in _RAW_CACHE:
        from ..source import SourceError, decode, read_bytes

        try:
            _RAW_CACHE[path] = decode(read_bytes(path))
        except SourceError:
            _RAW_CACHE[path] = None
        if len(_RAW_CACHE) > 256:
            _RAW_CACHE.pop(next(iter(_RAW_CACHE)))
    return _RAW_CACHE[path]


def document_of(report: Any, path: str) -> "Document | None":
    sources = getattr(report, "sources", None) or {}
    return sources.get(path)


def rule_info(rule_id: str) -> dict[str, Any] | None:
    """Metadata of a native rule (`Rule.meta()`), or None for bandit ids and mlsec's MLS001."""
    if not rule_id.startswith("MLS"):
        return None
    from ..rules.base import get_rule

    rule = get_rule(rule_id)
    return rule.meta() if rule is not None else None
