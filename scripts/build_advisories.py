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
import os
import re
import sys

from mlsec.cvss import cvss3_base_score  # shared with the online OSV check

DEFAULT_SOURCE = "/work/shared/advisories/ml-advisories.json"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(__file__), "..", "src", "mlsec", "data", "advisories.json")
ATTRIBUTION = (
    "Python Packaging Advisory Database contributors (pypa/advisory-database), "
    "via westonsteimel/advisory-database-pypa"
)

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
