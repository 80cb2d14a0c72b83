"""JSON report with a stable schema: {version, tool, summary, findings, errors, notes}.

`findings` are `Finding.to_dict()` as they are (cell coordinates, masked snippet); `parse()` reads
a report back (baselines, tooling, tests). `version` changes only when a key changes meaning or
goes away; new keys may be added within a version.
"""
from __future__ import annotations

import json as _json
from typing import Any

from ..findings import Category, Finding, Severity

SCHEMA_VERSION = "1"


def to_dict(report: Any) -> dict[str, Any]:
    from .. import __version__

    by_severity = {s.label: 0 for s in sorted(Severity, reverse=True)}
    by_category = {c.value: 0 for c in Category}
    for f in report.findings:
        by_severity[f.severity.label] += 1
        by_category[f.category.value] += 1
    return {
        "version": SCHEMA_VERSION,
        "tool": {"name": "mlsec", "version": __version__},
        "summary": {
            "findings": len(report.findings),
            "errors": len(report.errors),
            "files": getattr(report, "files", 0),
            "cells": getattr(report, "cells", 0),
            "duration_s": round(float(getattr(report, "duration", 0.0) or 0.0), 4),
            "by_severity": by_severity,
            "by_category": by_category,
            "baselined": int(getattr(report, "baselined", 0) or 0),
        },
        "findings": [f.to_dict() for f in report.findings],
        "errors": [e.to_dict() for e in report.errors],
        "notes": list(getattr(report, "notes", []) or []),
    }


def render(report: Any, indent: int | None = 2) -> str:
    return _json.dumps(to_dict(report), indent=indent, ensure_ascii=False) + "\n"


def parse(text: str) -> Any:
    """A Report from `render()`'s output (findings and errors; no sources)."""
    from ..engine import FileError, Report

    data = _json.loads(text)
    if not isinstance(data, dict) or "findings" not in data:
        raise ValueError("not an mlsec JSON report (no 'findings')")
    version = str(data.get("version", ""))
    if version.split(".")[0] != SCHEMA_VERSION:
        raise ValueError(f"mlsec JSON report version {version!r} is not supported (expected {SCHEMA_VERSION})")
    summary = data.get("summary") or {}
    return Report(
        findings=[Finding.from_dict(d) for d in data["findings"]],
        errors=[FileError(e["path"], e["message"]) for e in data.get("errors", [])],
        files=int(summary.get("files", 0)),
        cells=int(summary.get("cells", 0)),
        duration=float(summary.get("duration_s", 0.0)),
    )
