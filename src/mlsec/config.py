"""What to report: rule selection, severity floor, bandit on/off, excludes. `[tool.mlsec]` loads here.

The nearest `pyproject.toml` above a scanned path that has a `[tool.mlsec]` table is the project's
config (a pyproject without that table is passed over, as ruff does); its folder is the project root,
which anchors `exclude` / `per-path-ignores` globs and holds `.mlsec_cache/`.
"""
from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .findings import Category, Severity

CONFIG_FILE = "pyproject.toml"


class ConfigError(Exception):
    """A `[tool.mlsec]` table or a command-line option mlsec cannot use; the message names the key."""


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
    osv: bool = False  # `%mlsec env` also asks osv.dev (sends package names and versions); never used by rules
    root: str | None = None  # folder holding the pyproject.toml this came from

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("root", None)
        d.pop("fail_on", None)
        d.pop("osv", None)
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

    def is_excluded(self, path: str, is_dir: bool = False) -> bool:
        """Does an `exclude` glob match `path`? Globs with a `/` match the path relative to the project
        root (`tests/**`, `notebooks/scratch/*.ipynb`); globs without one match any path component
        (`scratch`, `*_test.py`)."""
        if not self.exclude:
            return False
        rel = _relative(path, self.root)
        parts = rel.split("/")
        for pat in self.exclude:
            pat = pat.strip().replace("\\", "/")
            while pat.startswith("./"):
                pat = pat[2:]
            if not pat:
                continue
            if "/" not in pat.rstrip("/"):
                name = pat.rstrip("/")
                if any(fnmatch.fnmatchcase(part, name) for part in parts):
                    return True
                continue
            pat = pat.rstrip("/") if not pat.endswith("/**") else pat
            if rel.startswith("../") or os.path.isabs(rel):
                pat = "*/" + pat.lstrip("/")
            if fnmatch.fnmatchcase(rel, pat):
                return True
            if pat.endswith("/**") and fnmatch.fnmatchcase(rel, pat[:-3]):
                return True  # the folder itself: prune it instead of walking it
            if is_dir and fnmatch.fnmatchcase(rel + "/", pat):
                return True
        return False

    def ignored_for_path(self, path: str, rule_id: str, category: Category | str | None) -> bool:
        """`per-path-ignores` globs match the path relative to the project root (as `exclude` does), and,
        for paths given some other way, the path as written or any tail of it."""
        if not self.per_path_ignores:
            return False
        rel = _relative(path, self.root) if self.root and not path.startswith("<") else path
        for glob, ids in self.per_path_ignores.items():
            glob = glob.replace("\\", "/")
            while glob.startswith("./"):
                glob = glob[2:]
            if any(
                fnmatch.fnmatch(p, glob) or fnmatch.fnmatch(p, "*/" + glob.lstrip("/")) for p in (rel, path)
            ) or ("/" not in glob and fnmatch.fnmatch(os.path.basename(path), glob)):
                if self._matches(rule_id, category, ids):
                    return True
        return False


# ---------------------------------------------------------------------------------------------
# Loading [tool.mlsec]

_LIST_KEYS = ("select", "ignore", "enable", "exclude")
_KEYS = (*_LIST_KEYS, "min_severity", "bandit", "per_path_ignores", "fail_on", "osv")


def find_config_file(start: str) -> str | None:
    """The nearest pyproject.toml at or above `start` (a file or a folder) with a `[tool.mlsec]` table."""
    here = os.path.abspath(start)
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        candidate = os.path.join(here, CONFIG_FILE)
        if os.path.isfile(candidate) and _has_mlsec_table(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def project_root(start: str) -> str:
    """Where `.mlsec_cache/` goes: the config's folder, else the nearest folder with a pyproject.toml or
    `.git`, else the working folder (so that scanning a read-only tree writes nothing into it)."""
    cfg = find_config_file(start)
    if cfg:
        return os.path.dirname(cfg)
    here = os.path.abspath(start)
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        if os.path.isfile(os.path.join(here, CONFIG_FILE)) or os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return os.getcwd()
        here = parent


def load_config(start: str | None = None, path: str | None = None) -> Config:
    """Config from `path` (a pyproject.toml) or from the nearest one above `start`; defaults if none."""
    if path is None:
        path = find_config_file(start or os.getcwd())
        if path is None:
            return Config()
    table = _read_table(path)
    cfg = config_from_table(table, source=path)
    cfg.root = os.path.dirname(os.path.abspath(path))
    return cfg


def config_from_table(table: dict[str, Any], source: str = "[tool.mlsec]") -> Config:
    """Validate a `[tool.mlsec]` table (dashes or underscores in keys) into a Config."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.mlsec] must be a table")
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = str(raw_key).replace("-", "_")
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f"; did you mean {close[0].replace('_', '-')!r}?" if close else ""
            raise ConfigError(f"{source}: unknown key {raw_key!r} in [tool.mlsec]{hint}")
        where = f"{source}: [tool.mlsec] {raw_key}"
        if key in _LIST_KEYS:
            values[key] = _str_list(value, where)
        elif key in ("min_severity", "fail_on"):
            try:
                values[key] = Severity.parse(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        elif key in ("bandit", "osv"):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: must be true or false, not {value!r}")
            values[key] = value
        elif key == "per_path_ignores":
            if not isinstance(value, dict):
                raise ConfigError(f'{where}: must be a table of glob = ["RULE", ...]')
            values[key] = {str(g): _str_list(ids, f"{where}.{g!r}") for g, ids in value.items()}
    return Config(**values)


def with_overrides(config: Config, **options: Any) -> Config:
    """Command-line options over a loaded config: `select`, scalars and None-means-unset values replace;
    `ignore`, `enable` and `exclude` add to the config's lists."""
    changes: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in ("ignore", "enable", "exclude"):
            changes[key] = [*getattr(config, key), *[v for v in value if v not in getattr(config, key)]]
        elif key in ("min_severity", "fail_on"):
            try:
                changes[key] = Severity.parse(value)
            except ValueError as exc:
                raise ConfigError(f"--{key.replace('_', '-')}: {exc}") from None
        else:
            changes[key] = value
    return replace(config, **changes)


def split_ids(values: list[str] | None) -> list[str] | None:
    """`--select MLS1,secrets --select B3` -> ["MLS1", "secrets", "B3"]; None stays None (not given)."""
    if values is None:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _relative(path: str, root: str | None) -> str:
    """`path` as a forward-slash path relative to `root` (or to the working folder)."""
    base = root or os.getcwd()
    try:
        rel = os.path.relpath(os.path.abspath(path), base)
    except ValueError:  # another drive on Windows
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings, not {value!r}")
    return list(value)


def _read_table(path: str) -> dict[str, Any]:
    data = _read_toml(path)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    return tool.get("mlsec", {})


def _read_toml(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _has_mlsec_table(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError:
        return False
    if b"tool.mlsec" not in text and b"mlsec" not in text:
        return False
    try:
        return isinstance((_read_toml(path).get("tool") or {}).get("mlsec"), dict)
    except ConfigError:
        return True  # a broken pyproject that mentions mlsec: load_config reports the TOML error
