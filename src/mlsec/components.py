"""Known-vulnerable components: match package versions against mlsec's offline advisory table.

Used by `%mlsec env` (the kernel's installed packages), the checklist and the CLI. Installed versions
come from `importlib.metadata` (distribution metadata only: nothing is imported). Two table layouts
are read: the compact `mlsec/data/advisories.json` (`spec` / `versions` on each advisory) and the full
`ml-advisories.json` it is built from (`affected: [{spec, versions, events}]`). Matching follows the
table's README: PEP 503 names, any `spec` (PEP 440, pre-releases included, `*` = all) or any listed
version.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .findings import Severity

ENV_VAR = "MLSEC_ADVISORIES"  # path of another table to use instead of the bundled one


class AdvisoryDataError(Exception):
    """The advisory table is missing or unreadable; the message says which file and why."""


def normalize(name: str) -> str:
    """PEP 503 name: `Scikit_Learn` -> `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Advisory:
    id: str
    package: str
    summary: str = ""
    specs: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    ref: str = ""
    cvss: float | None = None
    rating: Severity | None = None  # the source's own level (GitHub's, via OSV) when there is no CVSS score
    source: str = ""  # where it came from: "" / "offline table", "osv" or "offline table + osv" (mlsec.osv)
    _compiled: Any = field(default=None, repr=False, compare=False)

    @property
    def severity(self) -> Severity:
        """From the CVSS base score when the table has one; unscored advisories count as medium."""
        if self.cvss is None:
            return self.rating if self.rating is not None else Severity.MEDIUM
        if self.cvss >= 9.0:
            return Severity.CRITICAL
        if self.cvss >= 7.0:
            return Severity.HIGH
        if self.cvss >= 4.0:
            return Severity.MEDIUM
        return Severity.LOW

    def matches(self, version: str) -> bool:
        if version in self.versions:
            return True
        if not self.specs:
            return False
        parsed = _parse_version(version)
        if parsed is None:
            return False
        if self._compiled is None:
            self._compiled = _compile(self.specs)
        return any(s is True or s.contains(parsed, prereleases=True) for s in self._compiled)


@dataclass
class Vulnerable:
    """One package version and the advisories that affect it."""

    package: str
    version: str
    advisories: list[Advisory]

    @property
    def severity(self) -> Severity:
        return max(a.severity for a in self.advisories)

    @property
    def upgrade_to(self) -> str | None:
        """The lowest listed fixed version above `version` that every affecting advisory accepts."""
        current = _parse_version(self.version)
        candidates: list[Any] = []
        for a in self.advisories:
            for f in a.fixed:
                v = _parse_version(f)
                if v is not None and (current is None or v > current):
                    candidates.append((v, f))
        for v, text in sorted(set(candidates)):
            if not any(a.matches(text) for a in self.advisories):
                return text
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "severity": self.severity.label,
            "upgrade_to": self.upgrade_to,
            "advisories": [
                {"id": a.id, "aliases": list(a.aliases), "summary": a.summary, "fixed": list(a.fixed), "ref": a.ref,
                 "cvss": a.cvss, "source": a.source or "offline table"}
                for a in self.advisories
            ],
        }


class AdvisoryTable:
    def __init__(self, advisories: Iterable[Advisory], source: str = ""):
        self.source = source
        self.by_package: dict[str, list[Advisory]] = {}
        for a in advisories:
            self.by_package.setdefault(normalize(a.package), []).append(a)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_package.values())

    def affecting(self, package: str, version: str) -> list[Advisory]:
        return [a for a in self.by_package.get(normalize(package), ()) if a.matches(version)]

    def check(self, packages: "Iterable[tuple[str, str]] | dict[str, str]") -> list[Vulnerable]:
        """(name, version) pairs -> the vulnerable ones, most severe first."""
        items = packages.items() if isinstance(packages, dict) else packages
        out = []
        for name, version in items:
            found = self.affecting(name, version)
            if found:
                out.append(Vulnerable(normalize(name), version, found))
        out.sort(key=lambda v: (-int(v.severity), v.package))
        return out


# ---------------------------------------------------------------------------------------------
# Loading


_TABLES: dict[str, AdvisoryTable] = {}


def default_path() -> str:
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "advisories.json")


def load_table(path: str | None = None) -> AdvisoryTable:
    """Read (once per path) and index the advisory table. Raises AdvisoryDataError."""
    path = path or default_path()
    table = _TABLES.get(path)
    if table is not None:
        return table
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise AdvisoryDataError(f"advisory table not found at {path}") from None
    except (OSError, ValueError) as exc:
        raise AdvisoryDataError(f"cannot read advisory table {path}: {exc}") from None
    table = AdvisoryTable(parse_table(raw), source=path)
    _TABLES[path] = table
    return table


def parse_table(raw: Any) -> list[Advisory]:
    """Advisories from either layout (or a bare list, or a {package: [advisory, ...]} mapping)."""
    if isinstance(raw, dict) and isinstance(raw.get("advisories"), list):
        records = raw["advisories"]
    elif isinstance(raw, list):
        records = raw
    elif isinstance(raw, dict):
        records = [dict(r, package=r.get("package", pkg)) for pkg, rs in raw.items() if isinstance(rs, list) for r in rs
                   if isinstance(r, dict)]
    else:
        raise AdvisoryDataError("advisory table: expected an object with an 'advisories' list")
    out = []
    for r in records:
        if not isinstance(r, dict) or not r.get("package") or not r.get("id"):
            continue
        specs = list(_strings(r.get("spec") or r.get("specs")))
        versions = list(_strings(r.get("versions")))
        for aff in r.get("affected") or ():
            if isinstance(aff, dict):
                specs.extend(_strings(aff.get("spec")))
                versions.extend(_strings(aff.get("versions")))
        cvss = r.get("cvss")
        out.append(
            Advisory(
                id=str(r["id"]),
                package=str(r["package"]),
                summary=str(r.get("summary") or ""),
                specs=tuple(specs),
                versions=tuple(versions),
                fixed=tuple(_strings(r.get("fixed"))),
                aliases=tuple(_strings(r.get("aliases"))),
                ref=str(r.get("ref") or next(iter(_strings(r.get("references"))), "")),
                cvss=float(cvss) if isinstance(cvss, (int, float)) else None,
            )
        )
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if isinstance(v, (str, int, float)))
    return ()


def _parse_version(text: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


def _compile(specs: Iterable[str]) -> list[Any]:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    out: list[Any] = []
    for s in specs:
        s = s.strip()
        if s in ("*", ""):
            out.append(True)
            continue
        try:
            out.append(SpecifierSet(s, prereleases=True))
        except InvalidSpecifier:
            # a bound that is not PEP 440 (`<=2.6.0-NA`): keep the release number, as the table's README does
            cleaned = re.sub(r"(\d+(?:\.\d+)*)[-+][A-Za-z0-9.]+", r"\1", s)
            try:
                out.append(SpecifierSet(cleaned, prereleases=True))
            except InvalidSpecifier:
                continue
    return out


# ---------------------------------------------------------------------------------------------
# The running environment


def installed_packages() -> dict[str, str]:
    """{normalized name: version} of every distribution on sys.path (metadata only, no imports)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:  # a broken .dist-info must not stop the check
            continue
        if name and version:
            out.setdefault(normalize(name), version)  # first on sys.path wins, as for imports
    return out


def check_installed(table: AdvisoryTable | None = None) -> tuple[list[Vulnerable], int]:
    """(vulnerable installed packages, number of packages checked)."""
    table = table or load_table()
    pkgs = installed_packages()
    return table.check(pkgs), len(pkgs)
