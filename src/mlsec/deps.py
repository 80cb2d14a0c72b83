"""`mlsec deps`: package versions checked against known vulnerabilities, from the command line.

What `%mlsec env` does in a kernel: the distributions installed for the Python running mlsec (the default),
or the exact pins (`name==version`) in requirements files. Always the offline advisory table; `--osv` (or
`[tool.mlsec] osv = true`) also asks osv.dev, which sends the package names and versions to a third party.
Exit codes: 0 nothing vulnerable; 1 vulnerable packages; 2 usage or config error, an unreadable file, or no
advisory table. OSV being unreachable is a warning only (the offline results stand).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;,]+)\s*(?:;.*)?$")


def add_parser(sub: Any) -> None:
    """`mlsec deps` (registered by cli.build_parser)."""
    p = sub.add_parser(
        "deps",
        help="check installed packages (or requirements pins) against known vulnerabilities",
        description=(
            "Check package versions against mlsec's offline advisory table: the packages installed for this "
            "Python (default), or the exact pins (name==version) in requirements files. --osv also asks "
            "osv.dev (this sends the package names and versions to osv.dev; off by default)."
        ),
        epilog="exit codes: 0 nothing vulnerable; 1 vulnerable packages; 2 usage/config error or unreadable file.",
    )
    p.add_argument("paths", nargs="*", metavar="REQUIREMENTS",
                   help="requirements files (only exact pins are checked); default: the installed packages")
    p.add_argument("--installed", action="store_true", help="also check the installed packages when files are given")
    p.add_argument("--osv", dest="osv", action="store_true", default=None,
                   help="also ask osv.dev (sends package names and versions; results cached 24 h)")
    p.add_argument("--no-osv", dest="osv", action="store_false", help="offline table only, whatever the config says")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per OSV request (default: 10)")
    p.add_argument("--format", "-f", choices=("text", "json"), default="text")
    p.add_argument("--config", metavar="PYPROJECT", help="use this pyproject.toml instead of searching for one")
    p.set_defaults(func=cmd_deps)


_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^-\s]))(\S+)$")


def read_pins(path: str, warnings: list[str] | None = None,
              _seen: set[str] | None = None) -> tuple[list[tuple[str, str]], int]:
    """(exact pins, number of requirement lines that are not exact pins) in a requirements file.

    `-r other.txt` includes are followed (relative to the including file, each file once); an include
    that is a URL is not fetched and one that cannot be read is skipped, each with a line in `warnings`.
    Other option lines (`-c`, `--index-url`, `-e`) are skipped. The top-level file must be readable
    (OSError otherwise)."""
    seen = set() if _seen is None else _seen
    seen.add(os.path.realpath(path))
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    pins: list[tuple[str, str]] = []
    other = 0
    for number, line in _logical_lines(text):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        line = re.sub(r"\s--hash[= ]\S+", "", line).strip()
        if not line:
            continue
        if line.startswith("-"):
            include = _INCLUDE.match(line)
            if include:
                pins_in, other_in = _read_include(path, number, include.group(1), warnings, seen)
                pins += pins_in
                other += other_in
            continue
        m = _PIN.match(line)
        if m and "*" not in m.group(2):
            pins.append((m.group(1), m.group(2)))
        else:
            other += 1
    return pins, other


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each line, with backslash continuations joined."""
    out: list[tuple[int, str]] = []
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        if raw.endswith("\\"):
            parts.append(raw[:-1])
            continue
        parts.append(raw)
        out.append((start, " ".join(parts)))
        parts = []
    if parts:
        out.append((start, " ".join(parts)))
    return out


def _read_include(parent: str, number: int, target: str, warnings: list[str] | None,
                  seen: set[str]) -> tuple[list[tuple[str, str]], int]:
    where = f"{parent}:{number}: -r {target}"
    if re.match(r"^[a-z][a-z0-9+.-]*://", target, re.I):
        if warnings is not None:
            warnings.append(f"{where}: a URL, not fetched")
        return [], 0
    path = os.path.join(os.path.dirname(parent), os.path.expanduser(target))
    if os.path.realpath(path) in seen:
        return [], 0  # already read (or an include cycle)
    try:
        return read_pins(path, warnings, seen)
    except OSError as exc:
        if warnings is not None:
            warnings.append(f"{where}: cannot read: {exc.strerror or exc}")
        return [], 0


def cmd_deps(args: argparse.Namespace) -> int:
    from . import components
    from .cli import EXIT_CLEAN, EXIT_FINDINGS, _error
    from .config import ConfigError, load_config

    if args.config and not os.path.isfile(args.config):
        return _error(f"--config {args.config}: no such file")
    use_osv = args.osv
    if use_osv is None:
        try:
            cfg = load_config(args.paths[0] if args.paths else os.getcwd(), path=args.config)
        except ConfigError as exc:
            return _error(str(exc))
        use_osv = bool(getattr(cfg, "osv", False))
    packages: dict[str, str] = {}
    what = []
    unpinned = 0
    warnings: list[str] = []
    for path in args.paths:
        try:
            pins, other = read_pins(path, warnings)
        except OSError as exc:
            return _error(f"{path}: cannot read: {exc.strerror or exc}")
        unpinned += other
        for name, version in pins:
            packages.setdefault(components.normalize(name), version)
        what.append(path)
    if args.installed or not args.paths:
        for name, version in components.installed_packages().items():
            packages.setdefault(name, version)
        what.append("installed")
    try:
        table = components.load_table()
    except components.AdvisoryDataError as exc:
        return _error(str(exc))
    message = ""
    if use_osv:
        from . import osv

        result = osv.query(packages, table=table, timeout=args.timeout)
        vulnerable, message = result.vulnerable, result.message
        online = message or f"OSV: {result.osv_ids} matching records ({result.cached} cached answers); {osv.ATTRIBUTION}"
    else:
        vulnerable = table.check(packages)
        online = "OSV not asked (--osv)"
    for warning in warnings:
        print(f"mlsec: warning: {warning}", file=sys.stderr)
    if message:
        print(f"mlsec: warning: {message}", file=sys.stderr)
    source = f"offline advisory table: {len(table)} advisories ({os.path.basename(table.source)}) · {online}"
    if args.format == "json":
        print(json.dumps({
            "checked": len(packages), "from": what, "not_exact_pins": unpinned, "source": source,
            "osv": {"used": bool(use_osv), "message": message},
            "vulnerable": [v.to_dict() for v in vulnerable],
        }, indent=2))
    else:
        print(f"mlsec deps · {len(packages)} packages checked ({', '.join(what)}) · "
              f"{len(vulnerable)} with known advisories")
        print(source)
        if unpinned:
            print(f"{unpinned} requirement lines are not exact pins (name==version) and were not checked")
        for v in vulnerable:
            ids = ", ".join(a.id + (" [osv]" if a.source == "osv" else "") for a in v.advisories[:5]) + (
                " ..." if len(v.advisories) > 5 else "")
            print(f"  {v.severity.label.upper():8} {v.package} {v.version}: {len(v.advisories)} advisories ({ids}); "
                  f"upgrade to {v.upgrade_to or 'n/a (no fixed version listed)'}")
    return EXIT_FINDINGS if vulnerable else EXIT_CLEAN
