"""Data shipped with mlsec: the offline advisory table and the version matching it needs.

`advisories.json` is built by `scripts/build_advisories.py` from the Python Packaging Advisory Database
(CC-BY 4.0, see ADVISORIES_LICENSE.md). It is read on first use only, so `import mlsec` stays light.
Versions are compared with `packaging` when it is installed (imported lazily) and with a small PEP 440
implementation otherwise; both include pre-releases, as the advisory README asks.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

ADVISORIES_PATH = os.path.join(os.path.dirname(__file__), "advisories.json")


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    package: str
    spec: tuple[str, ...]
    versions: tuple[str, ...]
    fixed: tuple[str, ...]
    summary: str
    ref: str
    cvss: float | None

    @property
    def cve(self) -> str | None:
        return next((a for a in self.aliases if a.startswith("CVE-")), None)

    @property
    def label(self) -> str:
        """`PYSEC-2025-41 (CVE-2025-32434)`."""
        cve = self.cve
        return f"{self.id} ({cve})" if cve and cve != self.id else self.id


def normalize_name(name: str) -> str:
    """PEP 503: lower case, runs of `-`, `_`, `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, tuple[Advisory, ...]]:
    with open(ADVISORIES_PATH, encoding="utf-8") as fh:
        raw = json.load(fh)
    by_pkg: dict[str, list[Advisory]] = {}
    for a in raw.get("advisories", []):
        adv = Advisory(
            id=a["id"],
            aliases=tuple(a.get("aliases") or ()),
            package=a["package"],
            spec=tuple(a.get("spec") or ()),
            versions=tuple(a.get("versions") or ()),
            fixed=tuple(a.get("fixed") or ()),
            summary=a.get("summary", ""),
            ref=a.get("ref", ""),
            cvss=a.get("cvss"),
        )
        by_pkg.setdefault(normalize_name(adv.package), []).append(adv)
    return {k: tuple(v) for k, v in by_pkg.items()}


def known_packages() -> frozenset[str]:
    return frozenset(_table())


def affected(package: str, version: str) -> list[Advisory]:
    """Advisories whose ranges include `package==version` (an unparsable version matches nothing)."""
    advs = _table().get(normalize_name(package), ())
    if not advs or parse_version(version) is None:
        return []
    out = []
    for adv in advs:
        if version in adv.versions or any(spec_contains(s, version) for s in adv.spec):
            out.append(adv)
    return out


def first_safe_version(advisories: Iterable[Advisory], version: str) -> str | None:
    """The lowest listed fixed version above `version` that none of the fixed `advisories` affects.

    Advisories without any fixed version cannot be escaped by upgrading; they are left out here and
    the caller says so separately.
    """
    advs = [a for a in advisories if a.fixed]
    candidates = sorted(
        {f for a in advs for f in a.fixed if compare(f, version) > 0},
        key=functools.cmp_to_key(compare),
    )
    for cand in candidates:
        if not any(cand in a.versions or any(spec_contains(s, cand) for s in a.spec) for a in advs):
            return cand
    return None


# ---------------------------------------------------------------------------------------------
# Version comparison: packaging when available, else the fallback below


def _packaging() -> Any:
    try:
        from packaging import specifiers, version

        return specifiers, version
    except ImportError:
        return None


def parse_version(v: str) -> Any:
    """A comparable version, or None for strings that are not PEP 440 versions."""
    p = _packaging()
    if p is not None:
        try:
            return p[1].Version(v)
        except p[1].InvalidVersion:
            return None
    return fallback_key(v)


def compare(a: str, b: str) -> int:
    va, vb = parse_version(a), parse_version(b)
    if va is None or vb is None:
        return (a > b) - (a < b)
    return (va > vb) - (va < vb)


def spec_contains(spec: str, version: str) -> bool:
    """Whether `version` satisfies the specifier set `spec` (`"*"` = every version), pre-releases included."""
    if spec.strip() == "*":
        return True
    p = _packaging()
    if p is not None:
        try:
            return p[0].SpecifierSet(spec, prereleases=True).contains(version, prereleases=True)
        except (p[0].InvalidSpecifier, p[1].InvalidVersion):
            return False
    return fallback_contains(spec, version)


# -- fallback: a small PEP 440 implementation (public versions; local labels are ignored) ----------

_VERSION_RE = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>\d+)!)?
    (?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.X | re.I,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def fallback_key(v: str) -> tuple | None:
    """A tuple that sorts like PEP 440 versions do (the order packaging's `Version` uses)."""
    m = _VERSION_RE.match(v)
    if not m:
        return None
    release = [int(x) for x in m.group("release").split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    has_pre = m.group("pre_l") is not None
    has_post = m.group("post_n1") is not None or m.group("post_l") is not None
    has_dev = m.group("dev_l") is not None
    if has_pre:
        pre = (1, _PRE_RANK[m.group("pre_l").lower()], int(m.group("pre_n") or 0))
    elif has_dev and not has_post:
        pre = (0, 0, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (2, 0, 0)
    post = (1, int(m.group("post_n1") or m.group("post_n2") or 0)) if has_post else (0, 0)
    dev = (0, int(m.group("dev_n") or 0)) if has_dev else (1, 0)
    return (int(m.group("epoch") or 0), tuple(release), pre, post, dev)


def _release_prefix(v: str) -> list[int] | None:
    m = _VERSION_RE.match(v)
    return [int(x) for x in m.group("release").split(".")] if m else None


def _one(op: str, target: str, version: str) -> bool:
    if op == "===":
        return version.strip() == target.strip()
    if op in ("==", "!=") and target.endswith(".*"):
        want, have = _release_prefix(target[:-2]), _release_prefix(version)
        if want is None or have is None:
            return False
        hit = (have + [0] * len(want))[: len(want)] == want
        return hit if op == "==" else not hit
    kv, kt = fallback_key(version), fallback_key(target)
    if kv is None or kt is None:
        return False
    if op == "~=":
        rel = _release_prefix(target) or []
        upper = rel[:-1] if len(rel) > 1 else rel
        return kv >= kt and _one("==", ".".join(map(str, upper)) + ".*", version)
    if op == "<":
        # PEP 440: `<V` excludes pre-releases of V itself unless V is a pre-release
        return kv < kt and not (not _is_pre(kt) and _is_pre(kv) and kv[:2] == kt[:2])
    if op == ">":
        # PEP 440: `>V` excludes post-releases of V unless V is a post-release
        return kv > kt and not (kt[3][0] == 0 and kv[3][0] == 1 and kv[:2] == kt[:2])
    return {"==": kv == kt, "!=": kv != kt, "<=": kv <= kt, ">=": kv >= kt}.get(op, False)


def _is_pre(key: tuple) -> bool:
    return key[2][0] != 2 or key[4][0] == 0  # a, b, rc or dev


_SPEC_RE = re.compile(r"^\s*(===|~=|==|!=|<=|>=|<|>)\s*(\S+)\s*$")


def fallback_contains(spec: str, version: str) -> bool:
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _SPEC_RE.match(part)
        if not m or not _one(m.group(1), m.group(2), version):
            return False
    return True
