"""Batch scanning: find the files, serve unchanged ones from the cache, analyse the rest in worker processes.

`scan(paths)` is what `mlsec scan` and the corpus test call. Order of work:

1. discovery: walk the paths for `.ipynb` and `.py` files, pruning tool and environment folders and
   the project's `exclude` globs (each path gets the config of the nearest `[tool.mlsec]` above it);
2. cache: hash each file's bytes and load the stored result when the key matches (no libcst, bandit
   or nbformat import, no notebook parsing);
3. analysis of the misses, serially for small scans, else in a ProcessPoolExecutor whose workers
   import the engine once; each worker writes its cache entries;
4. assembly in discovery order, so output is the same for any `-j`.

A file that cannot be read or is not a notebook becomes an error entry and the scan goes on.
"""
from __future__ import annotations

import os
import sys
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .config import Config, ConfigError, find_config_file, load_config, project_root, with_overrides
from .engine import FileError, Report
from .findings import Finding, Severity

# Folders never walked into (a path named on the command line is still scanned).
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr",
        ".venv", "venv", ".virtualenv", "site-packages", "dist-packages", "__pypackages__",
        "node_modules", ".ipynb_checkpoints", "__pycache__",
        ".tox", ".nox", ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".mlsec_cache",
        ".hypothesis", ".cache",
    }
)
EXTENSIONS = (".ipynb", ".py")
SERIAL_MAX_FILES = 4  # fewer cache misses than this run in-process
SERIAL_MAX_BYTES = 512 * 1024  # ... and so do misses whose total size is below this
FILE_TIME_LIMIT = 300.0  # seconds per file in a worker; libcst is quadratic on some generated code
DIR_NOTEBOOK = "is a directory, not a notebook file; the files inside it are scanned as a folder"


@dataclass
class Target:
    path: str  # as reported: the argument joined with the walked part
    config: int  # index into the scan's configs
    explicit: bool = False  # named on the command line


@dataclass
class ScanReport(Report):
    """A Report plus what a batch scan knows: cache use, baselined findings, which errors are failures."""

    cached: int = 0  # files whose result came from the cache
    analysed: int = 0  # files analysed in this run
    jobs: int = 1  # worker processes used (1: in-process)
    baselined: int = 0  # findings hidden by a baseline (set by the CLI)
    failed: list[str] = field(default_factory=list)  # paths that could not be scanned at all
    fail_on: dict[str, Severity] = field(default_factory=dict, repr=False)  # file -> its config's fail-on
    notes: list[str] = field(default_factory=list)  # messages for the user that are not per-file errors
    config_sources: list[str] = field(default_factory=list)  # the pyproject.toml files used ("defaults")

    def failing(self, default: Severity = Severity.LOW) -> list[Finding]:
        """Findings at or above the fail-on level of the config that covers their file."""
        return [f for f in self.findings if f.severity >= self.fail_on.get(f.file, default)]


@dataclass
class FileResult:
    """What one file contributes; built in a worker or from a cache entry."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    cells: int = 0
    failed: bool = False  # could not be scanned (unreadable, not a notebook, internal error)
    cached: bool = False

    def to_entry(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
            "cells": self.cells,
            "failed": self.failed,
        }

    @classmethod
    def from_entry(cls, entry: dict[str, Any], path: str) -> "FileResult":
        findings = [Finding.from_dict(d) for d in entry["findings"]]
        for f in findings:
            f.file = path
        errors = [FileError(path, str(e.get("message", ""))) for e in entry["errors"] if isinstance(e, dict)]
        return cls(findings, errors, int(entry.get("cells") or 0), bool(entry.get("failed")), cached=True)


# ---------------------------------------------------------------------------------------------
# Discovery


def discover(
    paths: Iterable[str], configs: "ConfigSet", errors: list[FileError], failed: list[str], notes: list[str]
) -> list[Target]:
    """Files to scan, in a stable order: arguments as given, each walked in sorted order. Paths that do
    not exist go to `errors` and `failed`; odd but harmless things (a folder named x.ipynb) to `errors`."""
    targets: list[Target] = []
    seen: set[str] = set()

    def add(path: str, cfg_index: int, explicit: bool) -> None:
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        targets.append(Target(path, cfg_index, explicit))

    for arg in paths:
        path = os.path.normpath(arg) if arg not in ("", ".") else "."
        try:
            st = os.stat(path)
        except FileNotFoundError:
            errors.append(FileError(arg, "no such file or directory"))
            failed.append(arg)
            continue
        except OSError as exc:
            errors.append(FileError(arg, f"cannot read: {exc.strerror or exc}"))
            failed.append(arg)
            continue
        idx = configs.index_for(path)
        cfg = configs.configs[idx]
        if stat.S_ISDIR(st.st_mode):
            if path.endswith(".ipynb"):
                errors.append(FileError(path, DIR_NOTEBOOK))
            for file in _walk(path, cfg, errors, failed):
                add(file, idx, False)
        elif stat.S_ISREG(st.st_mode):
            if not _scannable_name(path):
                notes.append(f"{path}: skipped, not a .py or .ipynb file, a model file (.pkl, .pt, .keras...) "
                             "nor a script without an extension")
                continue
            if cfg.is_excluded(path):
                notes.append(f"{path}: skipped, it matches an `exclude` glob of {configs.sources[idx]}")
                continue
            add(path, idx, True)
        else:
            errors.append(FileError(arg, "not a regular file (a device, socket or pipe); skipped"))
            failed.append(arg)
    return targets


def _scannable_name(path: str) -> bool:
    """A file named on the command line: notebooks, Python files, and extension-less scripts (pre-commit
    passes `bin/train` when its shebang says python)."""
    from .artifacts import is_artifact

    name = os.path.basename(path)
    return name.endswith((*EXTENSIONS, ".pyw")) or "." not in name.lstrip(".") or is_artifact(name)


def _walk(top: str, cfg: Config, errors: list[FileError], failed: list[str]) -> list[str]:
    from .artifacts import ARTIFACT_EXTENSIONS

    wanted = (*EXTENSIONS, *ARTIFACT_EXTENSIONS)
    found: list[str] = []
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(FileError(folder, f"cannot list folder: {exc.strerror or exc}"))
            failed.append(folder)
            continue
        subdirs = []
        for entry in entries:
            path = entry.path if folder != "." else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                if _skip_dir(entry) or cfg.is_excluded(path, is_dir=True):
                    continue
                if entry.name.endswith(".ipynb"):
                    errors.append(FileError(path, DIR_NOTEBOOK))
                subdirs.append(path)
            elif is_file and entry.name.lower().endswith(wanted):
                if not cfg.is_excluded(path):
                    found.append(path)
        stack.extend(reversed(subdirs))
    found.sort(key=_path_sort_key)
    return found


def _path_sort_key(path: str) -> tuple[str, ...]:
    return tuple(path.split(os.sep))


def _skip_dir(entry: os.DirEntry) -> bool:
    name = entry.name
    if name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
        return True  # a virtualenv under any name
    if name in ("build", "dist"):
        return _looks_like_artifacts(entry.path, name)
    return False


def _looks_like_artifacts(path: str, name: str) -> bool:
    """`build/` from setuptools or CMake, `dist/` holding wheels and sdists. A source folder that happens to be
    called build (a build step of a pipeline, say) is scanned."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    if name == "build":
        return any(
            n in ("lib", "CMakeCache.txt", "bdist") or n.startswith(("lib.", "bdist.", "temp.", "scripts-"))
            for n in names
        )
    return any(n.endswith((".whl", ".tar.gz", ".egg", ".zip")) for n in names) and not any(
        n.endswith(EXTENSIONS) for n in names
    )


# ---------------------------------------------------------------------------------------------
# Configs: one per project met on the command line


class ConfigSet:
    """Configs by the pyproject.toml they came from; every scanned path maps to one of them."""

    def __init__(self, overrides: dict[str, Any] | None = None, config_file: str | None = None,
                 config: Config | None = None):
        self.overrides = overrides or {}
        self.config_file = config_file
        self.fixed = config
        self.configs: list[Config] = []
        self.sources: list[str] = []
        self._by_file: dict[str | None, int] = {}
        self._by_dir: dict[str, str | None] = {}  # pre-commit passes hundreds of files from a few folders

    def index_for(self, path: str) -> int:
        if self.fixed is not None:
            source = "<given config>"
        elif self.config_file is not None:
            source = self.config_file
        else:
            folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
            if folder not in self._by_dir:
                self._by_dir[folder] = find_config_file(folder)
            source = self._by_dir[folder]
        if source in self._by_file:
            return self._by_file[source]
        if self.fixed is not None:
            cfg = self.fixed
        else:
            cfg = load_config(path=source) if source else Config()
            cfg = with_overrides(cfg, **self.overrides)
        if cfg.root is None:
            cfg.root = os.path.abspath(project_root(path) if source is None and self.fixed is None else os.getcwd())
        self._by_file[source] = len(self.configs)
        self.configs.append(cfg)
        self.sources.append(source or "defaults")
        return self._by_file[source]


# ---------------------------------------------------------------------------------------------
# Analysis of one file (in a worker or in-process)


def analyse_file(path: str, config: Config, data: bytes | None = None) -> FileResult:
    """Load and analyse one file. Never raises: problems become error entries."""
    from .artifacts import is_artifact
    from .source import SourceError, load_path

    if is_artifact(path):  # a model file: bytes only, never loaded
        from .artifacts import analyse

        try:
            return FileResult(analyse(path, config, data))
        except Exception as exc:  # a bug in mlsec must not end the scan
            return FileResult(errors=[FileError(path, f"internal error, please report it: {type(exc).__name__}: "
                                                      f"{exc}")], failed=True)

    try:
        if data is None:
            data = _read(path)
        doc = load_path(path, data)
    except SourceError as exc:
        return FileResult(errors=[FileError(path, str(exc))], failed=True)
    from .engine import analyze

    try:
        # use_cache=False: a batch scan sees each cell once (the on-disk cache is per file); the
        # in-memory cell cache is for the magic and the server, which lint the same notebook again
        report = analyze(doc, config, use_cache=False)
    except Exception as exc:  # a bug in mlsec must not end the scan
        return FileResult(errors=[FileError(path, f"internal error, please report it: {type(exc).__name__}: {exc}")],
                          failed=True)
    return FileResult(report.findings, report.errors, report.cells)


def _read(path: str) -> bytes:
    from .source import read_bytes

    return read_bytes(path)


def _load(path: str) -> tuple[bytes | None, str]:
    """A file's bytes and the digest its cache entry is keyed by. Model files over
    `artifacts.HASH_LIMIT` are not read here (the scanner streams them; the digest is size and mtime)."""
    from .artifacts import is_artifact

    if is_artifact(path):
        from .artifacts import read_for_scan

        return read_for_scan(path)
    from .cache import content_hash

    data = _read(path)
    return data, content_hash(data)


_WORKER_CACHES: dict[tuple[str, str], Any] = {}


def _init_worker(bandit: bool) -> None:
    """Runs once per worker: ignore Ctrl-C (the parent handles it) and import the engine and rules now."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from . import engine  # noqa: F401
    from .rules.base import all_rules

    all_rules()
    import libcst  # noqa: F401

    if bandit:
        try:
            from . import bandit_bridge  # noqa: F401
        except ImportError:
            pass


def _worker_task(path: str, config: Config, cache_dir: str | None, salt: str | None,
                 time_limit: float | None = None) -> FileResult:
    """Read, hash, analyse and cache one file (the parent already knows it was a miss). With a time
    limit, SIGALRM's default action ends the worker even inside native parser code; the parent then
    names the file (see `_parallel`)."""
    import signal

    from .source import SourceError

    try:
        data, digest = _load(path)
    except SourceError as exc:
        return FileResult(errors=[FileError(path, str(exc))], failed=True)
    alarm = time_limit and hasattr(signal, "alarm")
    if alarm:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(time_limit + 0.999)))
    try:
        result = analyse_file(path, config, data)
    finally:
        if alarm:
            signal.alarm(0)
    if cache_dir is not None and salt is not None:
        from .cache import Cache, content_hash

        cache = _WORKER_CACHES.get((cache_dir, salt))
        if cache is None:
            cache = _WORKER_CACHES[(cache_dir, salt)] = Cache(cache_dir, salt)
        cache.put(cache.key(path, digest), result.to_entry())
    return result


# ---------------------------------------------------------------------------------------------
# The scan


def default_jobs(n_files: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_files))


def scan(
    paths: Iterable[str],
    config: Config | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    config_file: str | None = None,
    jobs: int | None = None,
    use_cache: bool = True,
    cache_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    file_timeout: float | None = FILE_TIME_LIMIT,
) -> ScanReport:
    """Scan files and folders. `config` fixes one config for every path; otherwise each path gets the
    nearest `[tool.mlsec]` (or `config_file`) with `overrides` (Config field names) applied.
    `file_timeout` bounds the seconds one file may take in a worker process (None: no limit; in-process
    analysis of small scans is not bounded).
    Raises ConfigError for a config mlsec cannot use; everything about files becomes error entries."""
    t0 = time.perf_counter()
    configs = ConfigSet(overrides, config_file, config)
    report = ScanReport()
    paths = list(paths)
    targets = discover(paths, configs, report.errors, report.failed, report.notes)
    results: list[FileResult | None] = [None] * len(targets)

    caches: dict[int, Any] = {}
    if use_cache:
        from .cache import CACHE_DIR_NAME, Cache, code_fingerprint

        fingerprints: dict[bool, str] = {}
        for i, cfg in enumerate(configs.configs):
            if cfg.bandit not in fingerprints:
                fingerprints[cfg.bandit] = code_fingerprint(cfg.bandit)
            directory = cache_dir or os.path.join(cfg.root or os.getcwd(), CACHE_DIR_NAME)
            caches[i] = Cache(directory, fingerprints[cfg.bandit] + "|" + cfg.fingerprint())

    misses: list[int] = []
    miss_bytes = 0
    pending_data: dict[int, bytes] = {}
    from .cache import content_hash
    from .source import SourceError

    for i, t in enumerate(targets):
        cache = caches.get(t.config)
        if cache is None:
            misses.append(i)
            try:
                miss_bytes += os.path.getsize(t.path)
            except OSError:
                pass
            continue
        try:
            data, digest = _load(t.path)
        except SourceError as exc:
            results[i] = FileResult(errors=[FileError(t.path, str(exc))], failed=True)
            continue
        entry = cache.get(cache.key(t.path, digest))
        if entry is not None:
            try:
                results[i] = FileResult.from_entry(entry, t.path)
                continue
            except (KeyError, TypeError, ValueError):
                pass  # an entry from another version of Finding: analyse again
        misses.append(i)
        if data is None:  # a large model file, streamed later
            miss_bytes += _size(t.path)
            continue
        miss_bytes += len(data)
        if miss_bytes <= SERIAL_MAX_BYTES:
            pending_data[i] = data  # small scans reuse the bytes instead of reading twice

    total = len(targets)
    done = total - len(misses)
    if progress and total:
        progress(done, total)

    n_jobs = jobs if jobs is not None and jobs > 0 else default_jobs(len(misses))
    serial = n_jobs <= 1 or len(misses) < SERIAL_MAX_FILES or (jobs is None and miss_bytes <= SERIAL_MAX_BYTES)
    if misses and serial:
        report.jobs = 1
        for i in misses:
            t = targets[i]
            cfg = configs.configs[t.config]
            cache = caches.get(t.config)
            results[i] = _serial_task(t.path, cfg, cache, pending_data.pop(i, None))
            done += 1
            if progress:
                progress(done, total)
    elif misses:
        report.jobs = min(n_jobs, len(misses))
        for i, res in _parallel(targets, misses, configs, caches, report.jobs, report.notes, file_timeout):
            results[i] = res
            done += 1
            if progress:
                progress(done, total)

    for i, t in enumerate(targets):
        res = results[i]
        if res is None:  # cannot happen unless a worker vanished twice; say so rather than lose the file
            res = FileResult(errors=[FileError(t.path, "not analysed: the worker process died")], failed=True)
        report.findings.extend(res.findings)
        report.errors.extend(res.errors)
        report.cells += res.cells
        report.files += 1
        if res.cached:
            report.cached += 1
        else:
            report.analysed += 1
        if res.failed:
            report.failed.append(t.path)
        report.fail_on[t.path] = configs.configs[t.config].fail_on
    for c in caches.values():
        if c.write_error and c.write_error not in report.notes:
            report.notes.append(c.write_error)
    report.config_sources = list(configs.sources)
    report.duration = time.perf_counter() - t0
    return report


def _serial_task(path: str, cfg: Config, cache: Any, data: bytes | None) -> FileResult:
    from .source import SourceError

    if data is None:
        try:
            data, digest = _load(path)
        except SourceError as exc:
            return FileResult(errors=[FileError(path, str(exc))], failed=True)
    else:
        from .cache import content_hash

        digest = content_hash(data)
    result = analyse_file(path, cfg, data)
    if cache is not None:
        cache.put(cache.key(path, digest), result.to_entry())
    return result


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _parallel(targets: list[Target], misses: list[int], configs: ConfigSet, caches: dict[int, Any], jobs: int,
              notes: list[str], time_limit: float | None = None):
    """Yield (index, FileResult) as workers finish. Largest files first for balance. If a worker dies
    (a crash in a parser, the OOM killer), the unfinished files are retried one by one in a fresh
    one-worker pool so that the file that kills it is named and the others are still scanned. Where
    worker processes cannot run at all, the files are analysed in this process."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    def size(i: int) -> int:
        try:
            return os.path.getsize(targets[i].path)
        except OSError:
            return 0

    order = sorted(misses, key=size, reverse=True)
    bandit = any(c.bandit for c in configs.configs)

    def submit(pool: ProcessPoolExecutor, i: int):
        t = targets[i]
        cache = caches.get(t.config)
        return pool.submit(
            _worker_task, t.path, configs.configs[t.config], cache.directory if cache else None,
            cache.salt if cache else None, time_limit,
        )

    def in_process(indices: list[int], why: str):
        notes.append(f"worker processes unavailable ({why}); files analysed in this process")
        for i in indices:
            t = targets[i]
            yield i, _serial_task(t.path, configs.configs[t.config], caches.get(t.config), None)

    context = _mp_context()
    try:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                   initargs=(bandit,))
    except (OSError, RuntimeError, NotImplementedError, ImportError) as exc:  # no /dev/shm, no fork...
        yield from in_process(order, str(exc))
        return
    unfinished: list[int] = []
    any_ok = False
    try:
        futures = {submit(pool, i): i for i in order}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except BrokenProcessPool:
                unfinished.append(i)
                continue
            except Exception as exc:  # pickling trouble and the like: this file only
                res = FileResult(errors=[FileError(targets[i].path, f"internal error: {exc}")], failed=True)
            any_ok = True
            yield i, res
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_workers(pool)
        raise
    else:
        pool.shutdown(wait=True)
    if unfinished and not any_ok and not _pool_works(context, bandit):
        yield from in_process(sorted(unfinished), "a worker could not start")
        return
    for i in sorted(unfinished):
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                 initargs=(bandit,)) as solo:
            try:
                yield i, submit(solo, i).result()
            except BrokenProcessPool:
                limit = f" or ran over the {time_limit:g} s limit" if time_limit else ""
                yield i, FileResult(
                    errors=[FileError(targets[i].path, f"the analysis process crashed{limit} on this file; skipped")],
                    failed=True,
                )


def _ping() -> str:
    return "ok"


def _pool_works(context: Any, bandit: bool) -> bool:
    """Can a worker start and answer at all? Tells a broken pool from a file that crashes its worker."""
    from concurrent.futures import ProcessPoolExecutor

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_init_worker,
                                 initargs=(bandit,)) as probe:
            return probe.submit(_ping).result(timeout=300) == "ok"
    except Exception:
        return False


def _mp_context() -> Any:
    """fork (cheap: workers share the imported engine) unless other threads run in this process, as in a
    Jupyter kernel (`%mlsec scan`), where forking can copy a held lock into the child: then spawn."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    # IPython replaces __main__ with a module object that has no __spec__, and spawn reads it
    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        try:
            main.__spec__ = None
        except Exception:
            pass
    return multiprocessing.get_context("spawn")


def _kill_workers(pool: Any) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except Exception:
            pass
