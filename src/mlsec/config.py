"""What to report: rule selection, severity floor, bandit on/off, excludes. `[tool.mlsec]` loads here."""
from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass, field

from .findings import Category, Severity


@dataclass
class Config:
    select: list[str] = field(default_factory=list)  # ids, id prefixes (MLS1, B3) or categories; empty = all
    ignore: list[str] = field(default_factory=list)
    enable: list[str] = field(default_factory=list)  # turn on rules that are off by default (MLS108)
    min_severity: Severity = Severity.INFO
    bandit: bool = True
    exclude: list[str] = field(default_factory=list)  # glob patterns of paths to skip
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)  # glob -> ids
    fail_on: Severity = Severity.LOW
    root: str | None = None  # folder holding the pyproject.toml this came from

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("root", None)
        d.pop("fail_on", None)
        return hashlib.blake2b(json.dumps(d, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()

    # -- selection -----------------------------------------------------------------------------
    @staticmethod
    def _matches(rule_id: str, category: Category | str | None, patterns: list[str]) -> bool:
        cat = category.value if isinstance(category, Category) else (category or "")
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            if p.upper() == "ALL" or rule_id.upper().startswith(p.upper()) or p.lower() == cat:
                return True
        return False

    def rule_enabled(self, rule_id: str, category: Category | str | None, default_enabled: bool = True) -> bool:
        explicitly_on = self._matches(rule_id, category, self.enable) or (
            bool(self.select) and any(p.strip().upper() == rule_id.upper() for p in self.select)
        )
        if not default_enabled and not explicitly_on:
            return False
        if self.select and not self._matches(rule_id, category, self.select):
            return False
        if self._matches(rule_id, category, self.ignore):
            return False
        return True

    def ignored_for_path(self, path: str, rule_id: str, category: Category | str | None) -> bool:
        for glob, ids in self.per_path_ignores.items():
            if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, "*/" + glob.lstrip("/")):
                if self._matches(rule_id, category, ids):
                    return True
        return False
