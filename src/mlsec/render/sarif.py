"""SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, VS Code's SARIF viewer).

One run; `tool.driver.rules` lists every native rule (with its explanation as help) plus each
bandit test seen in the results. Result regions point at the file as stored: for a notebook, the
line of the raw .ipynb JSON that holds the cell's source line (see `render.file_region`), columns
in Unicode code points (`run.columnKind`). Every notebook result also carries
`properties.cellIndex` (0-based over all cells) and `properties.cellLine` (1-based in the cell
source; 0 for findings in outputs), which the raw position alone cannot give back.
"""
from __future__ import annotations

import json as _json
import os
import re
from typing import Any
from urllib.parse import quote

from ..findings import Finding
from . import SARIF_LEVELS, document_of, file_region, rule_info

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/mlsec/jupyter-mlsec"
FINGERPRINT_KEY = "mlsecFingerprint/v1"
# GitHub sorts security alerts by this (critical > 9.0, high 7.0-8.9, medium 4.0-6.9, low < 4.0)
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
PRECISION = {"high": "high", "medium": "medium", "low": "low"}


def render(report: Any, indent: int | None = 2) -> str:
    return _json.dumps(to_sarif(report), indent=indent, ensure_ascii=False) + "\n"


def to_sarif(report: Any) -> dict[str, Any]:
    from .. import __version__

    rules, index = _rules(report.findings)
    artifacts: list[dict[str, Any]] = []
    artifact_index: dict[str, int] = {}

    def artifact(path: str) -> int:
        if path not in artifact_index:
            artifact_index[path] = len(artifacts)
            entry: dict[str, Any] = {"location": {"uri": to_uri(path)}, "roles": ["analysisTarget"]}
            if path.endswith(".ipynb"):
                entry["mimeType"] = "application/x-ipynb+json"
                entry["sourceLanguage"] = "python"
            elif path.endswith(".py"):
                entry["sourceLanguage"] = "python"
            artifacts.append(entry)
        return artifact_index[path]

    results = [_result(f, report, index, artifact) for f in report.findings]
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": to_uri(e.path), "index": artifact(e.path)}}}],
        }
        for e in report.errors
    ]
    failed = getattr(report, "failed", None) or []
    invocation: dict[str, Any] = {"executionSuccessful": not failed}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "mlsec",
                "fullName": "mlsec: security linter for ML notebooks",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "artifacts": artifacts,
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def to_uri(path: str) -> str:
    """A relative path stays relative (code scanning resolves it against the repository root)."""
    p = path.replace("\\", "/")
    if os.path.isabs(path) or re.match(r"^[A-Za-z]:/", p):
        from pathlib import Path

        try:
            return Path(path).resolve().as_uri()
        except ValueError:
            pass
    if p.startswith("./"):
        p = p[2:]
    return quote(p, safe="/-._~")


# ---------------------------------------------------------------------------------------------
# Rules


def _template(message: str) -> str:
    """A rule's message template with its `{fields}` shown as `<fields>`."""
    return re.sub(r"\{(\w+)(?:![rsa])?(?::[^}]*)?\}", r"<\1>", message)


def _plain(markdown: str) -> str:
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", markdown)
    return text.strip()


def _why(explanation: str) -> str:
    m = re.search(r"\*\*Why\*\*:?\s*(.+?)(?:\n\s*\n|\Z)", explanation, re.S)
    text = m.group(1) if m else explanation.strip().split("\n\n")[0]
    return " ".join(text.split())


def _help_markdown(explanation: str, fix_hint: str) -> str:
    if fix_hint and "**Fix**" not in explanation:
        return f"{explanation}\n\n**Fix**: {fix_hint}"
    return explanation


def _tags(category: str, cwe: int | None, stage: str | None = None) -> list[str]:
    tags = ["security", category]
    if cwe:
        tags.append(f"external/cwe/cwe-{cwe}")
    if stage:
        tags.append(f"stage/{stage.replace(' ', '-')}")
    return tags


def _native_rule(meta: dict[str, Any]) -> dict[str, Any]:
    explanation = meta["explanation"] or meta["message"]
    help_text = _plain(explanation) + (f"\n\nFix: {meta['fix_hint']}" if meta["fix_hint"] else "")
    props: dict[str, Any] = {
        "tags": _tags(meta["category"], meta["cwe"], meta["stage"]),
        "category": meta["category"],
        "security-severity": SECURITY_SEVERITY[meta["severity"]],
        "precision": PRECISION.get(meta["confidence"], "medium"),
        "severity": meta["severity"],
        "stage": meta["stage"],
    }
    if meta["cwe"]:
        props["cwe"] = f"CWE-{meta['cwe']}"
    if meta["bandit_ids"]:
        props["banditIds"] = list(meta["bandit_ids"])
    return {
        "id": meta["id"],
        "name": meta["name"],
        "shortDescription": {"text": _template(meta["message"])},
        "fullDescription": {"text": _why(explanation)},
        "help": {"text": help_text, "markdown": _help_markdown(explanation, meta["fix_hint"])},
        "defaultConfiguration": {"level": SARIF_LEVELS[meta["severity"]], "enabled": bool(meta["default_enabled"])},
        "properties": props,
    }


def _observed_rule(f: Finding) -> dict[str, Any]:
    """A descriptor for an id that is not a native rule: a bandit test or mlsec's MLS001."""
    if f.source == "bandit" or f.rule_id.startswith("B"):
        from ..bandit_bridge import doc_url, fix_hint_of

        short = re.sub(r":\s*'.*'\s*$", "", f.message) or f.rule_id  # B105-B107 quote the literal
        url = doc_url(f.rule_id, f.name.replace("-", "_") or None)
        rule: dict[str, Any] = {
            "id": f.rule_id,
            "name": f.name or f.rule_id,
            "shortDescription": {"text": short},
            "fullDescription": {"text": f"bandit {f.rule_id} ({f.name}): {short}"},
            "helpUri": url,
            "help": {
                "text": f"{short}\n\nFix: {fix_hint_of(f.rule_id)}\n\nbandit's documentation: {url}",
                "markdown": f"{short}\n\n**Fix**: {fix_hint_of(f.rule_id)}\n\n[bandit's documentation of {f.rule_id}]({url})",
            },
        }
    else:
        rule = {
            "id": f.rule_id,
            "name": f.name or f.rule_id,
            "shortDescription": {"text": f.name.replace("-", " ") if f.name else f.rule_id},
            "fullDescription": {"text": f.fix_hint or f.message},
            "help": {"text": f.fix_hint or f.message},
        }
    rule["defaultConfiguration"] = {"level": SARIF_LEVELS[f.severity.label]}
    props: dict[str, Any] = {
        "tags": _tags(f.category.value, f.cwe),
        "category": f.category.value,
        "security-severity": SECURITY_SEVERITY[f.severity.label],
        "precision": PRECISION.get(f.confidence.label, "medium"),
    }
    if f.cwe:
        props["cwe"] = f"CWE-{f.cwe}"
    rule["properties"] = props
    return rule


def _rules(findings: list[Finding]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    from ..rules.base import all_rules

    rules = [_native_rule(r.meta()) for r in all_rules()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    for f in findings:
        if f.rule_id not in index:
            meta = rule_info(f.rule_id)
            rules.append(_native_rule(meta) if meta else _observed_rule(f))
            index[f.rule_id] = len(rules) - 1
    return rules, index


# ---------------------------------------------------------------------------------------------
# Results


def _result(f: Finding, report: Any, index: dict[str, int], artifact: Any) -> dict[str, Any]:
    doc = document_of(report, f.file)
    region = file_region(f, doc)
    reg: dict[str, Any] = {"startLine": region.start_line}
    if region.start_col is not None:
        reg["startColumn"] = region.start_col
    if region.end_line is not None:
        reg["endLine"] = region.end_line
    if region.end_col is not None:
        reg["endColumn"] = region.end_col
    message = f.message
    props: dict[str, Any] = {
        "severity": f.severity.label,
        "confidence": f.confidence.label,
        "category": f.category.value,
        "source": f.source,
        "ids": f.ids,
        "inOutput": f.in_output,
    }
    is_notebook = f.cell_index is not None or (doc is not None and doc.kind == "notebook") or f.file.endswith(".ipynb")
    if f.cell_index is not None:
        props["cellIndex"] = f.cell_index
        props["cellLine"] = 0 if f.in_output else f.line
        if not f.in_output:
            props["cellColumn"] = f.col + 1
        if f.cell_id:
            props["cellId"] = f.cell_id
        message = f"{message} (cell {f.cell_index + 1}{', in its output' if f.in_output else f', line {f.line}'})"
    elif is_notebook and f.in_output:
        props["notebookMetadata"] = True
        message = f"{message} (notebook metadata)"
    if f.bandit_ids:
        props["banditIds"] = list(f.bandit_ids)
    if f.notes:
        props["notes"] = list(f.notes)
    if f.stage is not None:
        props["stage"] = f.stage.value
    if f.cwe:
        props["cwe"] = f"CWE-{f.cwe}"
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": to_uri(f.file), "index": artifact(f.file)},
            "region": reg,
        }
    }
    if f.cell_index is not None:
        location["logicalLocations"] = [{"name": f"cell {f.cell_index + 1}", "kind": "module"}]
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index[f.rule_id],
        "level": SARIF_LEVELS[f.severity.label],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint()},
        "properties": props,
    }
    if f.fix_hint:
        result["message"]["markdown"] = f"{_md_escape(message)}\n\nFix: {_md_escape(f.fix_hint)}"
    return result


def _md_escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")

