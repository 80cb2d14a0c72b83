"""`mlsec` on the command line: `scan` files and folders, list and explain `rules`, check `deps`.

Exit codes of `mlsec scan`:
  0  no finding at or above the fail-on level (default: low)
  1  findings at or above the fail-on level
  2  usage or config error, a path that does not exist, an output or baseline that cannot be written,
     or a file that could not be scanned at all (unreadable, binary, invalid notebook JSON). Such a
     file is reported and the rest is scanned; 2 wins over 1 because the result is incomplete.
     Notebooks for another kernel language and folders named like notebooks are reported but do not
     change the exit code (their outputs are still checked for leaked secrets).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Sequence, TextIO

FORMATS = ("text", "json", "sarif", "github")
SEVERITIES = ("info", "low", "medium", "high", "critical")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("mlsec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mlsec scan . | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_CLEAN


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="mlsec",
        description="Security linting for ML notebooks and Python files.",
        epilog="Run `mlsec scan --help` for scanning options and exit codes.",
    )
    p.add_argument("--version", action="version", version=f"mlsec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser(
        "scan",
        help="scan .ipynb, .py and model files (folders are searched recursively)",
        description="Scan notebooks, Python files and model files (.pkl, .pt, .joblib, .keras, .h5...; read as "
                    "bytes, never loaded). Options override [tool.mlsec] in the nearest pyproject.toml.",
        epilog=(
            "exit codes: 0 clean; 1 findings at or above --fail-on; 2 usage/config error, missing path, "
            "or a file that could not be scanned (the rest is still scanned and reported)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .)")
    out = s.add_argument_group("output")
    out.add_argument("--format", "-f", choices=FORMATS, default="text", help="report format (default: text)")
    out.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour in text output (auto: only on a terminal and when NO_COLOR is unset)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary on stderr")
    sel = s.add_argument_group("what to report (override [tool.mlsec])")
    sel.add_argument("--select", action="append", metavar="IDS",
                     help="only these rules: ids, id prefixes (MLS1), bandit ids (B301) or categories; "
                          "comma-separated, repeatable; replaces the config's select")
    sel.add_argument("--ignore", action="append", metavar="IDS", help="skip these rules (added to the config's)")
    sel.add_argument("--enable", action="append", metavar="IDS",
                     help="turn on rules that are off by default (added to the config's)")
    sel.add_argument("--min-severity", choices=SEVERITIES, help="hide findings below this severity")
    sel.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 when a finding is at or above this (default: low)")
    sel.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    sel.add_argument("--bandit", dest="bandit", action="store_true", default=None, help="also run bandit's checks")
    sel.add_argument("--no-bandit", dest="bandit", action="store_false", help="native rules only (faster)")
    sel.add_argument("--exclude", action="append", metavar="GLOB",
                     help="skip paths matching GLOB (relative to the project root; added to the config's)")
    sel.add_argument("--config", metavar="PYPROJECT", help="use this pyproject.toml instead of searching for one")
    base = s.add_argument_group("baseline")
    base.add_argument("--baseline", metavar="FILE", help="report only findings that are not in this baseline")
    base.add_argument("--write-baseline", metavar="FILE", help="write the current findings to FILE and exit 0")
    run = s.add_argument_group("performance")
    run.add_argument("-j", "--jobs", type=_nonnegative_int, default=None, metavar="N",
                     help="worker processes (default: one per CPU, in-process for small scans)")
    run.add_argument("--file-timeout", type=float, default=300.0, metavar="SECONDS",
                     help="give up on a file a worker spends longer on (default: 300; 0: no limit)")
    run.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    run.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: .mlsec_cache in the project root)")
    s.set_defaults(func=cmd_scan)

    r = sub.add_parser("rules", help="list rules, or explain one: mlsec rules MLS101")
    r.add_argument("rule_id", nargs="?", metavar="ID", help="a rule id (MLS101) or a bandit id (B301)")
    r.add_argument("--format", "-f", choices=("text", "json"), default="text")
    r.set_defaults(func=cmd_rules)
    e = sub.add_parser("explain", help="explain a rule: why, example, fix")
    e.add_argument("rule_id", metavar="ID")
    e.add_argument("--format", "-f", choices=("text", "json"), default="text")
    e.set_defaults(func=cmd_rules)
    from .fix import add_parser as add_fix_parser

    add_fix_parser(sub)
    from .deps import add_parser as add_deps_parser

    add_deps_parser(sub)
    return p


def _nonnegative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (automatic) or more")
    return n


def _error(message: str) -> int:
    print(f"mlsec: error: {message}", file=sys.stderr)
    return EXIT_ERROR


# ---------------------------------------------------------------------------------------------
# scan


def cmd_scan(args: argparse.Namespace) -> int:
    from .baseline import Baseline, BaselineError
    from .baseline import write as write_baseline
    from .config import ConfigError, split_ids
    from .scan import scan

    if args.baseline and args.write_baseline:
        return _error("--baseline and --write-baseline cannot be used together")
    if args.config and not os.path.isfile(args.config):
        return _error(f"--config {args.config}: no such file")
    overrides: dict[str, Any] = {
        "select": split_ids(args.select),
        "ignore": split_ids(args.ignore),
        "enable": split_ids(args.enable),
        "exclude": split_ids(args.exclude),
        "min_severity": args.min_severity,
        "fail_on": args.fail_on,
        "bandit": args.bandit,
    }
    baseline = None
    if args.baseline:
        try:
            baseline = Baseline.load(args.baseline)
        except BaselineError as exc:
            return _error(str(exc))

    progress = Progress(sys.stderr, enabled=not args.quiet and _isatty(sys.stderr))
    try:
        report = scan(
            args.paths or ["."],
            overrides=overrides,
            config_file=args.config,
            jobs=args.jobs or None,
            use_cache=not args.no_cache,
            cache_dir=args.cache_dir,
            progress=progress,
            file_timeout=args.file_timeout or None,
        )
    except ConfigError as exc:
        progress.close()
        return _error(str(exc))
    progress.close()

    if args.write_baseline:
        try:
            n = write_baseline(args.write_baseline, report.findings)
        except BaselineError as exc:
            return _error(str(exc))
        _print_errors(report, sys.stderr)
        if not args.quiet:
            print(f"mlsec: wrote {n} finding(s) to baseline {args.write_baseline}", file=sys.stderr)
        return EXIT_ERROR if report.failed else EXIT_CLEAN

    if baseline is not None:
        report.findings, report.baselined = baseline.filter(report.findings)

    to_file = bool(args.output) and args.output != "-"
    color = _use_color(args.color, None if to_file else sys.stdout)
    try:
        body = render(report, args.format, color=color)
    except Exception as exc:  # a renderer bug must not hide the exit status
        print(f"mlsec: error: could not render {args.format} report: {type(exc).__name__}: {exc}", file=sys.stderr)
        _print_errors(report, sys.stderr)
        return EXIT_ERROR
    if to_file:
        try:
            _write_atomic(args.output, body)
        except OSError as exc:
            return _error(f"cannot write {args.output}: {exc.strerror or exc}")
    else:
        sys.stdout.write(body)
        sys.stdout.flush()
    # Text carries its errors and summary; machine formats carry the errors, and people get both on stderr.
    if args.format != "text":
        _print_errors(report, sys.stderr)
    if not args.quiet and (args.format != "text" or to_file):
        print(summarize(report, color=_use_color(args.color, sys.stderr)), file=sys.stderr)
    if not args.quiet:
        for note in report.notes:
            print(f"mlsec: note: {note}", file=sys.stderr)
    return exit_code(report, exit_zero=args.exit_zero)


def exit_code(report: Any, exit_zero: bool = False) -> int:
    if report.failed:
        return EXIT_ERROR
    if not exit_zero and report.failing():
        return EXIT_FINDINGS
    return EXIT_CLEAN


def render(report: Any, fmt: str, color: bool = False) -> str:
    """The report in one of the renderers' formats (render/*.py own the layouts); text ends with the summary."""
    if fmt == "text":
        from .render import text

        body = text.render(report, color=color, summary=False)
        return (body.rstrip("\n") + "\n\n" if body.strip() else "") + summarize(report, color=color) + "\n"
    from . import render as renderers

    return renderers.render(report, fmt)


def summarize(report: Any, color: bool = False) -> str:
    """Counts by severity and category, errors, baselined findings and time (the text renderer's summary)."""
    from .render import text

    line = text.summary(report, color=color)
    cached, jobs = getattr(report, "cached", 0), getattr(report, "jobs", 1)
    if cached or jobs > 1:
        bits = [f"{cached} of {report.files} files from the cache"] if cached else []
        bits += [f"{jobs} worker processes"] if jobs > 1 else []
        line += "\n  " + ", ".join(bits)
    return line


def _print_errors(report: Any, stream: TextIO) -> None:
    for e in report.errors:
        print(f"{e.path}: error: {e.message}", file=stream)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _use_color(mode: str, stream: Any) -> bool:
    """--color always/never win; auto means a terminal, no NO_COLOR (any value) and TERM not dumb."""
    if mode == "always":
        return True
    if mode == "never" or stream is None:
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(stream) and os.environ.get("TERM") != "dumb"


class Progress:
    """A one-line progress bar on stderr, drawn only if the scan is still going after `delay` seconds."""

    def __init__(self, stream: TextIO, enabled: bool, delay: float = 1.0, width: int = 30):
        self.stream = stream
        self.enabled = enabled
        self.delay = delay
        self.width = width
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.perf_counter()
        if now - self.start < self.delay or (now - self.last_draw < 0.1 and done < total):
            return
        self.last_draw = now
        filled = int(self.width * done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} files {now - self.start:5.1f} s")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()
            self.drawn = False


# ---------------------------------------------------------------------------------------------
# rules / explain


def cmd_rules(args: argparse.Namespace) -> int:
    import json

    from .rules.base import all_rules, get_rule

    if args.rule_id:
        wanted = args.rule_id.strip().upper()
        rule = get_rule(wanted)
        rules = [rule] if rule is not None else [r for r in all_rules() if wanted in r.bandit_ids]
        bandit = _bandit_test(wanted) if rule is None else None
        if not rules and bandit is None:
            known = ", ".join(r.id for r in all_rules())
            return _error(f"unknown rule {args.rule_id!r}; known rules: {known} and bandit's B101-B7xx tests")
        if args.format == "json":
            print(json.dumps([r.meta() for r in rules] + ([bandit] if bandit else []), indent=2))
            return EXIT_CLEAN
        parts = []
        if bandit is not None:
            state = "off by default (turn on with --enable " + wanted + ")" if bandit["default_off"] else "on by default"
            parts.append(
                f"{wanted} {bandit['name']} (bandit test, run by mlsec when bandit is on)\n"
                f"{bandit['category']}; {state}\nFix: {bandit['fix_hint']}\nDocs: {bandit['url']}"
            )
            if rules:
                parts.append("mlsec rules that report the same problem (their findings absorb bandit's):")
        parts.extend(explain_text(r) for r in rules)
        print("\n\n".join(parts))
        return EXIT_CLEAN
    rules = all_rules()
    if args.format == "json":
        print(json.dumps([r.meta() for r in rules], indent=2))
        return EXIT_CLEAN
    rows = [("ID", "NAME", "CATEGORY", "SEVERITY", "DEFAULT", "FIX", "BANDIT")]
    for r in rules:
        rows.append((r.id, r.name, r.category.value, r.severity.label, "on" if r.default_enabled else "off",
                     getattr(r, "fixable", None) or "-", ",".join(r.bandit_ids) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"\n{len(rules)} rules; `mlsec rules ID` explains one. Rules marked off run with --enable ID.")
    return EXIT_CLEAN


def _bandit_test(test_id: str) -> dict[str, Any] | None:
    """Facts about one of bandit's tests, or None if this bandit has no such test (or is not installed)."""
    import re

    if not re.fullmatch(r"B\d{3}", test_id):
        return None
    try:
        from . import bandit_bridge

        name = bandit_bridge.test_names().get(test_id)
    except Exception:  # bandit missing or broken: explain what mlsec knows
        return None
    if name is None:
        return None
    return {
        "id": test_id,
        "name": name,
        "category": bandit_bridge.category_of(test_id).value,
        "default_off": test_id in bandit_bridge.DEFAULT_OFF,
        "fix_hint": bandit_bridge.fix_hint_of(test_id),
        "url": bandit_bridge.doc_url(test_id, name),
    }


def explain_text(rule: Any) -> str:
    m = rule.meta()
    head = f"{m['id']} {m['name']}"
    facts = [m["category"], f"severity {m['severity']}", f"confidence {m['confidence']}"]
    if m["cwe"]:
        facts.append(f"CWE-{m['cwe']}")
    facts.append(f"stage: {m['stage']}")
    facts.append("on by default" if m["default_enabled"] else "off by default (turn on with --enable " + m["id"] + ")")
    lines = [head, "=" * len(head), "; ".join(facts)]
    if m["bandit_ids"]:
        lines.append("bandit tests covering the same problem: " + ", ".join(m["bandit_ids"]))
    if m.get("fixable"):
        how = "mlsec fix" if m["fixable"] == "safe" else "mlsec fix --unsafe-fixes"
        lines.append(f"automatic fix: {m['fixable']} (`{how}`)")
    lines += ["", m["message"], "", m["explanation"], "", "Fix: " + m["fix_hint"]]
    return "\n".join(lines).rstrip()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
