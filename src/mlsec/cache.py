"""On-disk cache of per-file scan results, so that re-scanning an unchanged project costs a hash and a read.

An entry is keyed by everything that decides a file's findings: the file's path as reported and the hash of
its bytes, mlsec's version and analysis code (`code_fingerprint`), bandit's version when it runs, and the
config (`Config.fingerprint()`). Entries are small JSON files under `.mlsec_cache/v1/` written atomically
(temp file + rename); an entry that cannot be read or does not look right is a miss and is rewritten.
Reading the cache imports nothing heavy: no libcst, bandit or nbformat, and no notebook is parsed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

CACHE_DIR_NAME = ".mlsec_cache"
FORMAT = "v1"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Parts of the package that do not change what a scan finds.
_NOT_ANALYSIS = {"render", "lab", "probes", "magic", "labextension", "cli.py", "magic.py", "cache.py", "baseline.py"}
_DATA_SUFFIXES = (".py", ".json")  # rule data (data/advisories.json) changes findings too


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def code_fingerprint(bandit: bool) -> str:
    """mlsec's version plus size and mtime of every analysis module and rule data file (an editable
    install changes under us), plus bandit's version when bandit runs."""
    from . import __version__

    h = hashlib.blake2b(digest_size=10)
    h.update(__version__.encode())
    for dirpath, dirnames, filenames in os.walk(_PACKAGE_DIR):
        rel_dir = os.path.relpath(dirpath, _PACKAGE_DIR)
        dirnames[:] = sorted(d for d in dirnames if d not in _NOT_ANALYSIS and not d.startswith(("_", ".")))
        for name in sorted(filenames):
            if not name.endswith(_DATA_SUFFIXES) or (rel_dir == "." and name in _NOT_ANALYSIS):
                continue
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            h.update(f"{rel_dir}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    if bandit:
        h.update(b"bandit=" + _bandit_version().encode())
    return h.hexdigest()


def _bandit_version() -> str:
    try:
        from importlib.metadata import version

        return version("bandit")
    except Exception:  # not installed: the bridge reports that itself
        return "none"


class Cache:
    """One cache folder; `salt` is what every key shares (code fingerprint + config fingerprint)."""

    def __init__(self, directory: str, salt: str):
        self.directory = directory
        self.salt = salt
        self.base = os.path.join(directory, FORMAT)
        self.writable = True
        self.write_error: str | None = None

    def key(self, path: str, digest: str) -> str:
        basis = f"{self.salt}\x1f{path}\x1f{digest}"
        return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.base, key[:2], key + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result, or None when missing, unreadable, corrupt or for another key."""
        try:
            with open(self._entry_path(key), "rb") as fh:
                entry = json.loads(fh.read())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("key") != key
            or not isinstance(entry.get("findings"), list)
            or not isinstance(entry.get("errors"), list)
        ):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Write atomically; a cache that cannot be written is switched off for the run, not an error."""
        if not self.writable:
            return
        target = self._entry_path(key)
        try:
            self._ensure_root()
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(target))
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({**entry, "key": key}, fh, ensure_ascii=False, separators=(",", ":"))
                os.replace(tmp, target)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as exc:
            self.writable = False
            self.write_error = f"cache not written ({self.directory}: {exc.strerror or exc})"

    def _ensure_root(self) -> None:
        if os.path.isdir(self.base):
            return
        os.makedirs(self.base, exist_ok=True)
        # Keep the cache out of version control and backups, as pytest and ruff do.
        for name, text in (
            (".gitignore", "# created by mlsec\n*\n"),
            ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# mlsec cache, see https://bford.info/cachedir/\n"),
        ):
            path = os.path.join(self.directory, name)
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)

    def clear(self) -> int:
        """Remove every entry; returns how many were removed."""
        removed = 0
        if not os.path.isdir(self.base):
            return 0
        for dirpath, _dirs, files in os.walk(self.base, topdown=False):
            for name in files:
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        return removed
