#!/usr/bin/env python3
"""Build `src/mlsec/data/advisories.json`, the offline advisory table the supply-chain rules match against.

Input: the shared ML advisory table (`ml-advisories.json`, OSV records from the Python Packaging Advisory
Database, CC-BY 4.0). Output: only what matching a `pkg==ver` pin and explaining it needs (id, aliases,
package, PEP 440 specs / explicit versions, fixed versions, summary, first reference) plus the CVSS v3
base score computed from the record's vector, one advisory per line. Records that cannot be matched
offline (no version range) are dropped and counted in the header.

    python scripts/build_advisories.py [SOURCE_JSON] [OUTPUT_JSON]
"""
from __future__ import annotations

import json
import math
import os
import re
import sys

DEFAULT_SOURCE = "/work/shared/advisories/ml-advisories.json"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(__file__), "..", "src", "mlsec", "data", "advisories.json")
ATTRIBUTION = (
    "Python Packaging Advisory Database contributors (pypa/advisory-database), "
    "via westonsteimel/advisory-database-pypa"
)

# CVSS v3.x base-score weights (FIRST CVSS v3.1 specification, section 7.4)
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_U = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_C = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def _roundup(x: float) -> float:
    """CVSS 3.1 Roundup: smallest one-decimal number >= x, robust to float noise."""
    i = round(x * 100000)
    if i % 10000 == 0:
        return i / 100000.0
    return (math.floor(i / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """Base score of a `CVSS:3.x/AV:../AC:../...` vector, or None when it is not a complete v3 vector."""
    if not vector.startswith("CVSS:3."):
        return None
    m = dict(part.split(":", 1) for part in vector.split("/")[1:] if ":" in part)
    try:
        scope_changed = m["S"] == "C"
        iss = 1 - (1 - _CIA[m["C"]]) * (1 - _CIA[m["I"]]) * (1 - _CIA[m["A"]])
        if scope_changed:
            impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
        else:
            impact = 6.42 * iss
        pr = (_PR_C if scope_changed else _PR_U)[m["PR"]]
        exploitability = 8.22 * _AV[m["AV"]] * _AC[m["AC"]] * pr * _UI[m["UI"]]
    except KeyError:
        return None
    if impact <= 0:
        return 0.0
    if scope_changed:
        return _roundup(min(1.08 * (impact + exploitability), 10))
    return _roundup(min(impact + exploitability, 10))


def compact(record: dict) -> dict | None:
    """The fields matching needs, or None when the record has no version range to match."""
    specs: list[str] = []
    versions: list[str] = []
    for entry in record.get("affected") or []:
        specs.extend(entry.get("spec") or [])
        versions.extend(entry.get("versions") or [])
    if not specs and not versions:
        return None
    out: dict = {
        "id": record["id"],
        "aliases": list(record.get("aliases") or []),
        "package": record["package"],
        "spec": specs,
    }
    if versions:
        out["versions"] = versions
    out["fixed"] = list(record.get("fixed") or [])
    out["summary"] = re.sub(r"\s+", " ", record.get("summary") or "").strip()
    refs = record.get("references") or []
    if refs:
        out["ref"] = refs[0]
    scores = [cvss3_base_score(s.get("score", "")) for s in record.get("severity") or [] if s.get("type") == "CVSS_V3"]
    scores = [s for s in scores if s is not None]
    if scores:
        out["cvss"] = max(scores)
    return out


def build(source: dict) -> tuple[dict, list[dict]]:
    kept, dropped = [], []
    for rec in source.get("advisories") or []:
        c = compact(rec)
        if c is None:
            dropped.append(rec["id"])
        else:
            kept.append(c)
    header = {
        "about": "Offline advisory table for mlsec's pinned-version check (rule MLS606). "
        "Regenerate with scripts/build_advisories.py.",
        "license": "CC-BY-4.0",
        "attribution": ATTRIBUTION,
        "changes": "Changed from the source: trimmed to the fields needed for version matching (id, aliases, "
        "package, PEP 440 specs and explicit versions, fixed versions, summary, first reference); CVSS v3 "
        "base scores computed from the vectors; records without a version range dropped; the source's own "
        "trimming (package selection, shortened summaries, withdrawn records removed) applies too.",
        "source": source.get("source", ""),
        "source_commit": source.get("source_commit", ""),
        "source_generated": source.get("generated", ""),
        "dropped_without_range": sorted(dropped),
        "count": len(kept),
    }
    return header, kept


def dumps(header: dict, advisories: list[dict]) -> str:
    """Header fields, then one advisory per line (compact JSON, readable diffs)."""
    lines = ["{"]
    for k, v in header.items():
        lines.append(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append(' "advisories": [')
    body = [json.dumps(a, ensure_ascii=False, separators=(",", ":")) for a in advisories]
    lines.append(",\n".join(body))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    src = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    dst = argv[2] if len(argv) > 2 else DEFAULT_OUTPUT
    with open(src, encoding="utf-8") as fh:
        source = json.load(fh)
    header, advisories = build(source)
    text = dumps(header, advisories)
    json.loads(text)  # never write a file the loader cannot read
    with open(dst, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {len(advisories)} advisories ({len(header['dropped_without_range'])} without a range dropped), "
          f"{len(text.encode()) / 1e6:.2f} MB -> {os.path.normpath(dst)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
