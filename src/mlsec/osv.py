"""Optional online check of package versions against OSV (https://osv.dev), merged with the offline table.

Off by default: asking OSV sends each package name and version to a third party (api.osv.dev, run by
Google), so only an explicit `--osv` or `[tool.mlsec] osv = true` calls this. Only the standard library is
used (urllib, json). Answers are cached on disk for 24 hours (`$XDG_CACHE_HOME/mlsec/osv`, else
`~/.cache/mlsec/osv`). Any failure (no network, timeout, HTTP error, bad JSON) gives a message and the
offline table's results: the check never raises. OSV data is CC-BY 4.0 (PyPA advisories) or per source.
Rules such as MLS606 never call this: linting does no network I/O.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import http.client
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .components import (
    Advisory,
    AdvisoryDataError,
    AdvisoryTable,
    Vulnerable,
    installed_packages,
    load_table,
    normalize,
)
from .findings import Severity

DEFAULT_URL = "https://api.osv.dev"
URL_ENV = "MLSEC_OSV_URL"  # another OSV-compatible server (tests use a local one)
BATCH_LIMIT = 1000  # OSV's limit on queries per querybatch request
CACHE_TTL = 24 * 3600.0
MAX_PAGES = 50  # next_page_token rounds per batch before giving up on the rest
OFFLINE = "offline table"
ONLINE = "osv"
ATTRIBUTION = "data: osv.dev (PyPA and GitHub advisory databases, CC-BY 4.0)"

Opener = Callable[..., Any]  # urllib.request.urlopen(request, timeout=...)


class OsvError(Exception):
    """OSV could not be asked or its answer could not be read; the message says why."""


@dataclass
class OsvReport:
    """What `query` found: the merged vulnerable list plus what happened online."""

    vulnerable: list[Vulnerable]
    checked: int
    online: bool = False  # OSV answered (or the cache did) for every package
    message: str = ""  # why OSV was not (fully) used; empty when it was
    osv_ids: int = 0  # distinct OSV records that matched
    cached: int = 0  # answers taken from the disk cache
    requests: int = 0  # HTTP requests made
    notes: list[str] = field(default_factory=list)


def base_url() -> str:
    return (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def default_cache_dir() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "mlsec", "osv")


# ---------------------------------------------------------------------------------------------
# The check


def query(
    packages: Iterable[tuple[str, str]] | dict[str, str],
    *,
    timeout: float = 10.0,
    opener: Opener | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    url: str | None = None,
    table: AdvisoryTable | None = None,
    workers: int = 4,
    budget: float = 60.0,
) -> OsvReport:
    """(name, version) pairs -> offline matches merged with OSV's, most severe first. Never raises.

    `timeout` is per request; `budget` bounds the whole online part (details not fetched by then are
    listed by id). `opener` replaces `urllib.request.urlopen` (same signature)."""
    items = list(packages.items() if isinstance(packages, dict) else packages)
    pairs = sorted({(normalize(n), str(v)) for n, v in items if n and v})
    notes: list[str] = []
    try:
        table = table or load_table()
        offline = table.check(pairs)
    except AdvisoryDataError as exc:
        offline = []
        notes.append(str(exc))
    report = OsvReport(vulnerable=offline, checked=len(pairs), notes=notes)
    if not pairs:
        report.online = True
        return report
    client = _Client(url or base_url(), timeout, opener, cache_dir if cache_dir else default_cache_dir(),
                     use_cache, time.monotonic() + max(budget, 0.0))
    try:
        ids = client.ids_for(pairs)
    except OsvError as exc:
        report.message = f"OSV not reachable: {exc}; offline table used"
        report.cached, report.requests = client.cached, client.requests
        return report
    wanted = sorted({i for found in ids.values() for i in found})
    records, missing = client.records(wanted, workers)
    online: dict[tuple[str, str], list[Advisory]] = {}
    for (name, version), found in ids.items():
        advs = []
        for vid in found:
            rec = records.get(vid)
            adv = to_advisory(rec, name) if rec is not None else None
            if adv is None:
                reason = missing.get(vid, "no record for this package")
                adv = Advisory(id=vid, package=name, summary=f"(details not fetched: {reason})",
                               ref=f"https://osv.dev/vulnerability/{urllib.parse.quote(vid)}")
                adv = _mark(adv, ONLINE)
            advs.append(adv)
        if advs:
            online[(name, version)] = advs
    report.vulnerable = merge(offline, online)
    report.osv_ids = len(wanted)
    report.online = not missing
    report.cached, report.requests = client.cached, client.requests
    if missing:
        first = next(iter(missing.values()))
        report.message = (f"OSV: details of {len(missing)} of {len(wanted)} advisories not fetched ({first}); "
                          "they are listed by id")
    return report


def check_installed(**kwargs: Any) -> OsvReport:
    """`query` over every installed distribution (metadata only, nothing imported)."""
    return query(installed_packages(), **kwargs)


# ---------------------------------------------------------------------------------------------
# Merging


def merge(offline: list[Vulnerable], online: dict[tuple[str, str], list[Advisory]]) -> list[Vulnerable]:
    """Offline matches plus OSV's, one advisory per vulnerability: records that share an id or alias
    (PYSEC-x and its GHSA twin, or the offline copy) become one, listed under the offline id when the
    table has it, with the source "offline table + osv"."""
    by_key: dict[tuple[str, str], list[Advisory]] = {}
    for v in offline:
        by_key.setdefault((normalize(v.package), v.version), []).extend(_mark(a, OFFLINE) for a in v.advisories)
    for key, advs in online.items():
        by_key.setdefault(key, []).extend(advs)
    out = []
    for (name, version), advs in by_key.items():
        merged: list[Advisory] = []
        for a in advs:
            keys = {a.id, *a.aliases}
            twin = next((m for m in merged if keys & {m.id, *m.aliases}), None)
            if twin is None:
                merged.append(a)
                continue
            i = merged.index(twin)
            merged[i] = _combine(twin, a)
        out.append(Vulnerable(name, version, merged))
    out.sort(key=lambda v: (-int(v.severity), v.package))
    return out


def _mark(a: Advisory, source: str) -> Advisory:
    return dataclasses.replace(a, source=source, _compiled=None)


def _combine(first: Advisory, other: Advisory) -> Advisory:
    aliases = [x for x in (*first.aliases, other.id, *other.aliases) if x != first.id]
    sources = [s for s in (first.source, other.source) if s]
    return dataclasses.replace(
        first,
        aliases=tuple(dict.fromkeys(aliases)),
        summary=first.summary or other.summary,
        fixed=tuple(dict.fromkeys((*first.fixed, *other.fixed))),
        cvss=first.cvss if first.cvss is not None else other.cvss,
        rating=first.rating if first.rating is not None else other.rating,
        ref=first.ref or other.ref,
        source=" + ".join(dict.fromkeys(" + ".join(sources).split(" + "))),
        _compiled=None,
    )


# ---------------------------------------------------------------------------------------------
# OSV records -> Advisory


def to_advisory(record: dict[str, Any], package: str) -> Advisory | None:
    """An OSV record as the Advisory the offline table uses; None when it says nothing about `package`
    on PyPI. Ranges become PEP 440 specifiers, so `upgrade_to` works as for offline records."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    specs: list[str] = []
    versions: list[str] = []
    fixed: list[str] = []
    hit = False
    for aff in record.get("affected") or ():
        pkg = aff.get("package") if isinstance(aff, dict) else None
        if not isinstance(pkg, dict) or normalize(str(pkg.get("name", ""))) != package:
            continue
        if str(pkg.get("ecosystem", "")).split(":")[0] != "PyPI":
            continue
        hit = True
        versions.extend(str(v) for v in aff.get("versions") or () if isinstance(v, (str, int, float)))
        for rng in aff.get("ranges") or ():
            if isinstance(rng, dict) and rng.get("type") in ("ECOSYSTEM", "SEMVER"):
                events = [e for e in rng.get("events") or () if isinstance(e, dict)]
                specs.extend(events_to_specs(events))
                fixed.extend(str(e["fixed"]) for e in events if e.get("fixed"))
    if not hit:
        return None
    from .cvss import cvss3_base_score

    scores = [cvss3_base_score(str(s.get("score", ""))) for s in record.get("severity") or ()
              if isinstance(s, dict) and s.get("type") == "CVSS_V3"]
    scores = [s for s in scores if s is not None]
    refs = [r.get("url") for r in record.get("references") or () if isinstance(r, dict) and r.get("url")]
    advisory_refs = [r.get("url") for r in record.get("references") or ()
                     if isinstance(r, dict) and r.get("type") == "ADVISORY" and r.get("url")]
    db = record.get("database_specific") if isinstance(record.get("database_specific"), dict) else {}
    return Advisory(
        id=record["id"],
        package=package,
        summary=_summary(record),
        specs=tuple(dict.fromkeys(specs)),
        versions=tuple(dict.fromkeys(versions)),
        fixed=tuple(dict.fromkeys(fixed)),
        aliases=tuple(str(a) for a in record.get("aliases") or () if isinstance(a, str)),
        ref=str((advisory_refs or refs or [f"https://osv.dev/vulnerability/{record['id']}"])[0]),
        cvss=max(scores) if scores else None,
        rating=_rating(db.get("severity")),
        source=ONLINE,
    )


def events_to_specs(events: list[dict[str, Any]]) -> list[str]:
    """OSV range events (introduced / fixed / last_affected, in version order) -> specifier strings."""
    out: list[str] = []
    start: str | None = None
    for e in events:
        if "introduced" in e:
            start = str(e["introduced"])
        elif ("fixed" in e or "last_affected" in e) and start is not None:
            end = f"<{e['fixed']}" if "fixed" in e else f"<={e['last_affected']}"
            out.append(end if start in ("0", "") else f">={start},{end}")
            start = None
    if start is not None:
        out.append("*" if start in ("0", "") else f">={start}")
    return out


def _summary(record: dict[str, Any]) -> str:
    text = record.get("summary") or ""
    if not text:
        details = str(record.get("details") or "").strip()
        text = re.split(r"(?<=[.!?])\s", details, maxsplit=1)[0] if details else ""
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197].rstrip() + "..."


def _rating(value: Any) -> Severity | None:
    """GitHub's `database_specific.severity` (LOW / MODERATE / HIGH / CRITICAL) for records without a
    CVSS v3 vector."""
    return {"LOW": Severity.LOW, "MODERATE": Severity.MEDIUM, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH,
            "CRITICAL": Severity.CRITICAL}.get(str(value or "").upper())


# ---------------------------------------------------------------------------------------------
# HTTP and the cache


class _Client:
    def __init__(self, url: str, timeout: float, opener: Opener | None, cache_dir: str, use_cache: bool,
                 deadline: float):
        self.url = url
        self.timeout = timeout
        self.opener = opener
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.deadline = deadline
        self.cached = 0
        self.requests = 0
        self._lock = threading.Lock()

    # -- querybatch ------------------------------------------------------------------------------
    def ids_for(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Vulnerability ids per (name, version): cached answers, then querybatch for the rest."""
        out: dict[tuple[str, str], list[str]] = {}
        todo = []
        for pair in pairs:
            hit = self._cache_get("q", f"{pair[0]}=={pair[1]}")
            if isinstance(hit, list) and all(isinstance(i, str) for i in hit):
                out[pair] = hit
                self.cached += 1
            else:
                todo.append(pair)
        for start in range(0, len(todo), BATCH_LIMIT):
            chunk = todo[start:start + BATCH_LIMIT]
            found = self._batch(chunk)
            for pair in chunk:
                out[pair] = found[pair]
                self._cache_put("q", f"{pair[0]}=={pair[1]}", found[pair])
        return out

    def _batch(self, chunk: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = {p: [] for p in chunk}
        pending: list[tuple[tuple[str, str], str | None]] = [(p, None) for p in chunk]
        for _ in range(MAX_PAGES):
            if not pending:
                return found
            queries = []
            for (name, version), token in pending:
                q: dict[str, Any] = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
                if token:
                    q["page_token"] = token
                queries.append(q)
            answer = self._request("/v1/querybatch", {"queries": queries})
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(pending):
                raise OsvError(f"unexpected querybatch answer from {self.url} (no 'results' list of "
                               f"{len(pending)} entries)")
            nxt = []
            for (pair, _), res in zip(pending, results):
                res = res if isinstance(res, dict) else {}
                for v in res.get("vulns") or ():
                    if isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"] not in found[pair]:
                        found[pair].append(v["id"])
                token = res.get("next_page_token")
                if isinstance(token, str) and token:
                    nxt.append((pair, token))
            pending = nxt
        raise OsvError(f"more than {MAX_PAGES} pages of results from {self.url}")

    # -- vulns/{id} --------------------------------------------------------------------------------
    def records(self, ids: list[str], workers: int) -> tuple[dict[str, dict], dict[str, str]]:
        """(records by id, {id: why it is missing}). A few requests at a time, within the time budget."""
        records: dict[str, dict] = {}
        missing: dict[str, str] = {}
        todo = []
        for vid in ids:
            hit = self._cache_get("v", vid)
            if isinstance(hit, dict) and hit.get("id") == vid:
                records[vid] = hit
                self.cached += 1
            else:
                todo.append(vid)
        if not todo:
            return records, missing

        def fetch(vid: str) -> dict:
            if time.monotonic() > self.deadline:
                raise OsvError("time budget used up")
            rec = self._request("/v1/vulns/" + urllib.parse.quote(vid, safe=""), None)
            if not isinstance(rec, dict) or rec.get("id") != vid:
                raise OsvError(f"unexpected record for {vid}")
            return rec

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            futures = {pool.submit(fetch, vid): vid for vid in todo}
            for fut in concurrent.futures.as_completed(futures):
                vid = futures[fut]
                try:
                    rec = fut.result()
                except OsvError as exc:
                    missing[vid] = str(exc)
                    continue
                records[vid] = rec
                self._cache_put("v", vid, rec)
        return records, missing

    # -- plumbing ------------------------------------------------------------------------------------
    def _request(self, path: str, body: dict | None) -> Any:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise OsvError("time budget used up")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              "User-Agent": "mlsec-osv-check"})
        opener = self.opener or urllib.request.urlopen  # looked up per call: tests can replace it
        with self._lock:
            self.requests += 1
        try:
            with opener(req, timeout=min(self.timeout, remaining)) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise OsvError(f"HTTP {exc.code} from {self.url + path}") from None
        except urllib.error.URLError as exc:
            raise OsvError(f"{self.url}: {exc.reason}") from None
        except TimeoutError:
            raise OsvError(f"{self.url}: timed out after {min(self.timeout, remaining):g} s") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, bad URL, truncated answer
            raise OsvError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise OsvError(f"{self.url + path}: the answer is not JSON") from None

    def _cache_path(self, kind: str, key: str) -> str:
        digest = hashlib.sha256(f"{self.url}\n{kind}\n{key}".encode()).hexdigest()[:32]
        return os.path.join(self.cache_dir, f"{kind}-{digest}.json")

    def _cache_get(self, kind: str, key: str) -> Any:
        if not self.use_cache:
            return None
        try:
            with open(self._cache_path(kind, key), encoding="utf-8") as fh:
                entry = json.load(fh)
            if entry.get("key") != key or not (0 <= _now() - float(entry["time"]) < CACHE_TTL):
                return None
            return entry["data"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing, expired or corrupt: ask again

    def _cache_put(self, kind: str, key: str, data: Any) -> None:
        if not self.use_cache:
            return
        path = self._cache_path(kind, key)
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"key": key, "time": _now(), "data": data}, fh)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: no cache, same results


def _now() -> float:
    return time.time()
