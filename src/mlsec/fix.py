"""`mlsec fix`: apply the fixes rules attach to findings, to .py files and notebooks.

Nothing is run or imported: a file is read as text (a notebook as JSON), the edits are made at the
positions the engine reported (cell coordinates), and the result is analysed again. Edits of one
finding go in together or not at all; findings whose edits overlap an edit already taken wait for the
next pass (each pass re-analyses, so their positions are fresh), up to MAX_PASSES. A cell whose
edited text no longer parses keeps its old text. Notebooks change only in the `source` of the edited
cells; everything else is written back as read (key order, indentation, list-of-lines sources).
A file is written only when its text changes, atomically, keeping its permissions.

Safe fixes are applied by default; unsafe ones (which may change what a correct program does) only
with `unsafe=True` (`--unsafe-fixes`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .findings import Finding

MAX_PASSES = 10


# ---------------------------------------------------------------------------------------------
# Edits of one text


@dataclass(frozen=True)
class Edit:
    start: int  # offsets into the cell source
    end: int
    replacement: str


def fix_spans(f: Finding) -> list[tuple[int, int, int, int, str]] | None:
    """The finding's fix as (line, col, end_line, end_col, replacement) edits, in the three shapes the
    front ends accept (see lab/diagnostics.py `_fix`); None when it has no usable fix."""
    fix = f.fix
    if not isinstance(fix, dict):
        return None
    edits = fix.get("edits") if isinstance(fix.get("edits"), list) else [fix]
    out = []
    for e in edits:
        if not isinstance(e, dict) or not isinstance(e.get("replacement"), str):
            return None
        try:
            line = int(e.get("line", f.line))
            col = int(e.get("col", f.col))
            end_line = int(e.get("end_line", f.end_line if "line" not in e else line))
            end_col = int(e.get("end_col", f.end_col if "line" not in e else col))
        except (TypeError, ValueError):
            return None
        out.append((line, col, end_line, end_col, e["replacement"]))
    return out or None


def is_safe(f: Finding) -> bool:
    return isinstance(f.fix, dict) and bool(f.fix.get("safe", False))


def fix_title(f: Finding) -> str:
    title = f.fix.get("title") if isinstance(f.fix, dict) else None
    return title if isinstance(title, str) and title else "apply the fix"


class _Lines:
    """(line, code-point column) -> offset, with lines cut as `str.splitlines` cuts them (like the engine)."""

    def __init__(self, text: str):
        self.starts: list[int] = []
        self.lengths: list[int] = []
        pos = 0
        for chunk in text.splitlines(keepends=True) or [""]:
            content = chunk.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
            self.starts.append(pos)
            self.lengths.append(len(content))
            pos += len(chunk)
        self.size = pos

    def offset(self, line: int, col: int) -> int | None:
        if not 1 <= line <= len(self.starts) or not 0 <= col <= self.lengths[line - 1]:
            return None
        return self.starts[line - 1] + col


def edits_of(f: Finding, text: str, lines: _Lines | None = None) -> list[Edit] | None:
    spans = fix_spans(f)
    if spans is None:
        return None
    lines = lines or _Lines(text)
    out = []
    for line, col, end_line, end_col, rep in spans:
        a, b = lines.offset(line, col), lines.offset(end_line, end_col)
        if a is None or b is None or b < a:
            return None
        out.append(Edit(a, b, rep))
    return sorted(out, key=lambda e: (e.start, e.end))


def _overlaps(e: Edit, taken: list[Edit]) -> bool:
    for t in taken:
        if e.start < t.end and t.start < e.end:
            return True
        if e.start == e.end == t.start == t.end and e.start == t.start:
            return True  # two insertions at one point: their order would be a guess
        if (e.start == e.end and t.start < e.start < t.end) or (t.start == t.end and e.start < t.start < e.end):
            return True
    return False


@dataclass
class TextResult:
    text: str
    applied: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, why)


def apply_to_text(text: str, findings: Iterable[Finding]) -> TextResult:
    """Apply the findings' fixes to one cell's (or file's) text: non-overlapping groups, bottom-up.
    Identical fixes (two rules, one edit) are applied once and count for both findings."""
    lines = _Lines(text)
    taken: list[Edit] = []
    by_key: dict[tuple, list[Finding]] = {}
    result = TextResult(text)
    for f in sorted(findings, key=lambda f: (f.line, f.col, f.rule_id)):
        edits = edits_of(f, text, lines)
        if edits is None:
            result.skipped.append((f, "its fix does not match the text"))
            continue
        if any(a.end > b.start for a, b in zip(edits, edits[1:])):
            result.skipped.append((f, "its fix has overlapping edits"))
            continue
        key = tuple(edits)
        if key in by_key:
            by_key[key].append(f)
            continue
        if any(_overlaps(e, taken) for e in edits):
            result.skipped.append((f, "its fix overlaps another fix"))
            continue
        taken.extend(edits)
        by_key[key] = [f]
    out = text
    for e in sorted(taken, key=lambda e: (e.start, e.end), reverse=True):
        out = out[: e.start] + e.replacement + out[e.end :]
    result.text = out
    result.applied = [f for fs in by_key.values() for f in fs]
    return result


def parses(source: str) -> bool:
    """Whether a cell (IPython syntax allowed) or file parses; never runs anything."""
    from .parsing import parse_ast
    from .syntax import transform

    try:
        python = transform(source).python
    except Exception:
        python = source
    try:
        parse_ast(python)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Files


@dataclass
class FileFix:
    path: str
    fixed: list[Finding] = field(default_factory=list)  # findings whose fix went in
    left: list[Finding] = field(default_factory=list)  # findings of the fixed text
    not_applied: list[tuple[Finding, str]] = field(default_factory=list)  # applicable fixes that could not go in
    cells: dict[int | None, tuple[str, str]] = field(default_factory=dict)  # cell index -> (old, new) source
    new_bytes: bytes | None = None  # the file to write; None when nothing changed
    error: str | None = None
    kind: str = "python"

    @property
    def changed(self) -> bool:
        return self.new_bytes is not None


def applicable(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and not f.in_output and (unsafe or is_safe(f))


def fix_document(doc: Any, config: Any, unsafe: bool = False) -> tuple[Any, FileFix]:
    """Apply fixes to a loaded Document, in passes; returns the fixed document and what happened."""
    from .engine import analyze

    result = FileFix(doc.path, kind=doc.kind)
    original = {c.index: c.source for c in doc.cells}
    report = analyze(doc, config, use_cache=False)
    last_skips: dict[int, tuple[Finding, str]] = {}
    for _ in range(MAX_PASSES):
        last_skips = {}
        wanted = [f for f in report.findings if applicable(f, unsafe)]
        if not wanted:
            break
        by_cell: dict[int | None, list[Finding]] = {}
        for f in wanted:
            by_cell.setdefault(f.cell_index, []).append(f)
        cells = list(doc.cells)
        progress = False
        for pos, cell in enumerate(cells):
            fs = by_cell.get(cell.index)
            if not fs or not cell.is_code:
                continue
            r = apply_to_text(cell.source, fs)
            for f, why in r.skipped:
                last_skips[id(f)] = (f, why)
            if not r.applied or r.text == cell.source:
                continue
            if not parses(r.text) and parses(cell.source):
                for f in r.applied:
                    last_skips[id(f)] = (f, "the fixed cell would not parse")
                continue
            cells[pos] = dataclasses.replace(cell, source=r.text)
            result.fixed.extend(r.applied)
            progress = True
        if not progress:
            break
        doc = dataclasses.replace(doc, cells=cells)
        report = analyze(doc, config, use_cache=False)
    result.left = report.findings
    left_ids = {(f.rule_id, f.cell_index, f.line, f.col) for f in result.left}
    result.not_applied = [(f, why) for f, why in last_skips.values()
                          if (f.rule_id, f.cell_index, f.line, f.col) in left_ids]
    for c in doc.cells:
        if c.index in original and original[c.index] != c.source:
            result.cells[c.index] = (original[c.index], c.source)
    return doc, result


def fix_file(path: str, config: Any, unsafe: bool = False) -> FileFix:
    """Fix one .py or .ipynb file in memory; `new_bytes` holds what to write. Never raises for bad input."""
    from .source import SourceError, load_path, read_bytes

    try:
        data = read_bytes(path)
        doc = load_path(path, data)
    except SourceError as exc:
        return FileFix(path, error=str(exc))
    notebook = None
    if doc.kind == "notebook":
        try:
            notebook = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # load_path read it: should not happen
            return FileFix(path, error=f"invalid notebook JSON: {exc}")
        if notebook.get("nbformat") != 4:
            return FileFix(path, kind="notebook", error="not fixed: only nbformat 4 notebooks are edited")
    try:
        _, result = fix_document(doc, config, unsafe)
    except Exception as exc:  # a bug in mlsec must not end the run
        return FileFix(path, error=f"internal error, please report it: {type(exc).__name__}: {exc}")
    if not result.cells:
        return result
    if notebook is None:
        (_, new), = result.cells.values()
        bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
        result.new_bytes = bom + new.encode("utf-8", "surrogatepass")
    else:
        text = data.decode("utf-8-sig")
        for index, (_, new) in result.cells.items():
            cell = notebook["cells"][index]
            cell["source"] = new.splitlines(keepends=True) if isinstance(cell.get("source"), list) else new
        result.new_bytes = dump_notebook(notebook, text).encode("utf-8")
        if data.startswith(b"\xef\xbb\xbf"):
            result.new_bytes = b"\xef\xbb\xbf" + result.new_bytes
    if result.new_bytes == data:
        result.new_bytes = None
    return result


def dump_notebook(nb: dict[str, Any], original_text: str) -> str:
    """JSON written the way the notebook was: Jupyter's `indent=1, ensure_ascii=False` unless the file
    shows another indentation or ASCII escapes, and the file's own final newline(s). Key order is kept
    as read. Of the 1,137 corpus notebooks, 1,134 come back byte for byte when nothing is edited
    (the others have hand-edited blank lines or mixed indentation)."""
    m = re.match(r"\{\r?\n([ \t]+)\"", original_text)
    indent: int | str | None = 1
    if m:
        indent = len(m.group(1)) if set(m.group(1)) == {" "} else m.group(1)
    elif re.match(r"\{\s*\"", original_text) and "\n" not in original_text.strip():
        indent = None
    ensure_ascii = original_text.isascii() and "\\u" in original_text
    out = json.dumps(nb, indent=indent, ensure_ascii=ensure_ascii)
    if "\r\n" in original_text:
        out = out.replace("\n", "\r\n")
    return out + original_text[len(original_text.rstrip()):]  # the final newline(s) as they were


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` in one step, keeping the file's permission bits."""
    tmp = f"{path}.mlsec-fix-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def unified_diff(result: FileFix) -> str:
    """`--diff` output: one unified diff for a .py file, one per edited cell for a notebook (`path:cell N`)."""
    import difflib

    parts = []
    for index, (old, new) in sorted(result.cells.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        label = result.path if index is None else f"{result.path}:cell {index + 1}"
        a = old.splitlines(keepends=True)
        b = new.splitlines(keepends=True)
        for seq in (a, b):
            if seq and not seq[-1].endswith(("\n", "\r")):
                seq[-1] += "\n\\ No newline at end of cell\n" if index is not None else "\n\\ No newline at end of file\n"
        parts.append("".join(difflib.unified_diff(a, b, fromfile=label, tofile=label)))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Command line


def add_parser(sub: Any) -> None:
    """`mlsec fix` (registered by cli.build_parser)."""
    import argparse

    from .cli import SEVERITIES

    p = sub.add_parser(
        "fix",
        help="apply automatic fixes to .py and .ipynb files (safe ones unless --unsafe-fixes)",
        description=(
            "Apply the fixes mlsec's rules offer (see the FIX column of `mlsec rules`). Safe fixes keep what a "
            "correct program does; unsafe ones may change it (a checkpoint that stops loading) and need "
            "--unsafe-fixes. Nothing is executed. Notebooks change only in the edited cells' source."
        ),
        epilog=(
            "exit codes: 0 no finding left at or above --fail-on (and, with --diff, nothing to change); "
            "1 findings left at or above --fail-on, or with --diff, fixes that would be applied; "
            "2 usage/config error, missing path, or a file that could not be read or written."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .)")
    p.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes that may change behaviour")
    p.add_argument("--diff", action="store_true", help="print a unified diff of the fixes and write nothing")
    p.add_argument("--select", action="append", metavar="IDS", help="only these rules (as in scan)")
    p.add_argument("--ignore", action="append", metavar="IDS", help="skip these rules (as in scan)")
    p.add_argument("--enable", action="append", metavar="IDS", help="turn on rules that are off by default")
    p.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 when a finding left is at or above this (default: low)")
    p.add_argument("--bandit", dest="bandit", action="store_true", default=None, help="also run bandit's checks")
    p.add_argument("--no-bandit", dest="bandit", action="store_false", help="native rules only (faster)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB")
    p.add_argument("--config", metavar="PYPROJECT", help="use this pyproject.toml instead of searching for one")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-finding lines, only the summary")
    p.set_defaults(func=cmd_fix)


_FIXABLE_SUFFIXES = (".py", ".pyw", ".ipynb")


def cmd_fix(args: Any) -> int:
    import sys

    from .cli import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, _error
    from .config import ConfigError, split_ids
    from .findings import Severity
    from .scan import ConfigSet, discover

    if args.config and not os.path.isfile(args.config):
        return _error(f"--config {args.config}: no such file")
    overrides = {
        "select": split_ids(args.select),
        "ignore": split_ids(args.ignore),
        "enable": split_ids(args.enable),
        "exclude": split_ids(args.exclude),
        "fail_on": args.fail_on,
        "bandit": args.bandit,
    }
    errors: list[Any] = []
    failed: list[str] = []
    notes: list[str] = []
    try:
        configs = ConfigSet(overrides, args.config)
        targets = discover(args.paths or ["."], configs, errors, failed, notes)
    except ConfigError as exc:
        return _error(str(exc))
    out, err = sys.stdout, sys.stderr
    fixed = files_changed = left = need_unsafe = 0
    failing = False
    hard_error = bool(failed)
    for t in targets:
        name = os.path.basename(t.path)
        if not (name.endswith(_FIXABLE_SUFFIXES) or "." not in name.lstrip(".")):
            continue  # model artifacts and other files scan finds: nothing to edit
        cfg = configs.configs[t.config]
        r = fix_file(t.path, cfg, unsafe=args.unsafe_fixes)
        if r.error:
            print(f"{t.path}: error: {r.error}", file=err)
            hard_error = hard_error or not r.error.startswith("not fixed")
            continue
        if r.changed:
            files_changed += 1
            fixed += len(r.fixed)
            if args.diff:
                out.write(unified_diff(r))
            else:
                try:
                    write_atomic(t.path, r.new_bytes)
                except OSError as exc:
                    print(f"{t.path}: error: cannot write: {exc.strerror or exc}", file=err)
                    hard_error = True
                    continue
            if not args.quiet:
                verb = "would fix" if args.diff else "fixed"
                for f in r.fixed:
                    print(f"{t.path}:{f.location_label()}: {verb} {f.rule_id}: {fix_title(f)}", file=err)
        if not args.quiet:
            for f, why in r.not_applied:
                print(f"{t.path}:{f.location_label()}: {f.rule_id} not fixed: {why}", file=err)
        left += len(r.left)
        need_unsafe += sum(1 for f in r.left if f.fix is not None and not f.in_output and not is_safe(f)
                           and not args.unsafe_fixes)
        fail_on = cfg.fail_on if isinstance(cfg.fail_on, Severity) else Severity.parse(cfg.fail_on)
        failing = failing or any(f.severity >= fail_on for f in r.left)
    for e in errors:
        print(f"{e.path}: error: {e.message}", file=err)
    verb = "would fix" if args.diff else "fixed"
    summary = f"mlsec: {verb} {fixed} finding{'s' if fixed != 1 else ''} in {files_changed} file{'s' if files_changed != 1 else ''}, {left} left"
    if need_unsafe:
        summary += f" ({need_unsafe} need --unsafe-fixes)"
    print(summary, file=err)
    if hard_error:
        return EXIT_ERROR
    if failing or (args.diff and files_changed):
        return EXIT_FINDINGS
    return EXIT_CLEAN
