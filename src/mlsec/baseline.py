"""Baselines: accept today's findings so that CI fails only on new ones.

A baseline file lists `Finding.fingerprint()`s (rule, message, masked snippet and file; not cell or line
numbers, so findings survive cells moving). The file path in a fingerprint is taken relative to the
baseline file's folder, so a baseline written from the repo root still matches when mlsec runs from a
sub-folder or from a CI checkout at another absolute path. Matching counts duplicates: two identical
findings in the baseline hide two, a third is new.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace
from typing import Iterable

from .findings import Finding

BASELINE_VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be read or written; the message is for the user."""


def fingerprint(finding: Finding, anchor: str) -> str:
    """The finding's fingerprint with its file relative to `anchor` (the baseline's folder)."""
    path = finding.file
    if path and not path.startswith("<"):
        try:
            path = os.path.relpath(os.path.abspath(path), anchor)
        except ValueError:  # another drive
            path = os.path.abspath(path)
    return replace(finding, file=path.replace(os.sep, "/")).fingerprint()


def write(path: str, findings: Iterable[Finding]) -> int:
    """Write the baseline atomically; returns how many findings it holds."""
    anchor = os.path.dirname(os.path.abspath(path))
    entries = [
        {
            "fingerprint": fingerprint(f, anchor),
            "rule_id": f.rule_id,
            "file": os.path.relpath(os.path.abspath(f.file), anchor).replace(os.sep, "/") if f.file else "",
            "message": f.message,  # already masked by the engine
        }
        for f in findings
    ]
    entries.sort(key=lambda e: (e["file"], e["rule_id"], e["fingerprint"]))
    doc = {"tool": "mlsec", "version": BASELINE_VERSION, "findings": entries}
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
    return len(entries)


class Baseline:
    def __init__(self, path: str, fingerprints: Counter):
        self.path = path
        self.anchor = os.path.dirname(os.path.abspath(path))
        self.fingerprints = fingerprints

    @classmethod
    def load(cls, path: str) -> "Baseline":
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            raise BaselineError(f"baseline {path} does not exist (create it with --write-baseline {path})") from None
        except OSError as exc:
            raise BaselineError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("tool") != "mlsec":
            raise BaselineError(f"{path} is not an mlsec baseline (no \"tool\": \"mlsec\")")
        entries = doc.get("findings")
        if not isinstance(entries, list):
            raise BaselineError(f"baseline {path} has no \"findings\" list")
        prints = Counter(
            e["fingerprint"] for e in entries if isinstance(e, dict) and isinstance(e.get("fingerprint"), str)
        )
        return cls(path, prints)

    def filter(self, findings: list[Finding]) -> tuple[list[Finding], int]:
        """(findings not in the baseline, how many were hidden)."""
        left = Counter(self.fingerprints)
        new: list[Finding] = []
        hidden = 0
        for f in findings:
            fp = fingerprint(f, self.anchor)
            if left[fp] > 0:
                left[fp] -= 1
                hidden += 1
            else:
                new.append(f)
        return new, hidden
