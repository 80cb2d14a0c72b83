"""`%mlsec` and `%%mlsec`: the commands. Each one is a thin call into the engine, a renderer or a probe.

This module is imported by `%load_ext mlsec`, so it imports IPython's magic machinery only; the
engine, rules, renderers and probes load when a command first needs them.
"""
from __future__ import annotations

import os
import shlex
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

USAGE = """\
%mlsec                     lint this notebook (the saved file, or this session's input history)
%mlsec --history           lint this session's input history even when there is a notebook file
%%mlsec [--block [LEVEL]]  lint this cell (with earlier cells as context), show findings, run it;
                           --block: do not run it when a finding is at LEVEL (default high) or above
%mlsec on | off | status   automatic mode: every cell is checked before it runs
%mlsec guard LEVEL | off   in automatic mode, stop cells with findings at LEVEL or above
                           (LEVEL: critical, high, medium, low, info)
%mlsec scan PATH ...       scan files and folders (.py, .ipynb) with a progress bar
%mlsec rules               the rules, with their explanations
%mlsec explain ID          one rule's explanation (e.g. %mlsec explain MLS101)
%mlsec checklist           the secure-ML checklist for this notebook and this session's probes
%mlsec env [--osv]         installed packages checked against known vulnerabilities (offline table);
                           --osv also asks osv.dev (sends package names and versions; off by default)
%mlsec probe               the adversarial probe panel
The last report is in `_mlsec` (.findings, .to_json(), .to_sarif(), .to_dataframe())."""


def _severity(value: str) -> Any:
    from ..findings import Severity

    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@magics_class
class MlsecMagics(Magics):
    @line_cell_magic
    def mlsec(self, line: str = "", cell: str | None = None) -> Any:
        """Security linting for this notebook; `%mlsec help` lists the commands."""
        try:
            args = shlex.split(line, comments=True)
        except ValueError as exc:
            raise UsageError(f"%mlsec: {exc}") from None
        if cell is not None:
            return self._cell(args, cell)
        cmd = args[0].lower() if args and not args[0].startswith("-") else ""
        rest = args[1:] if cmd else args
        handler = {
            "": self._lint,
            "on": self._on,
            "off": self._off,
            "status": self._status,
            "guard": self._guard,
            "scan": self._scan,
            "rules": self._rules,
            "explain": self._explain,
            "checklist": self._checklist,
            "env": self._env,
            "probe": self._probe,
            "help": self._help,
        }.get(cmd)
        if handler is None:
            import difflib

            close = difflib.get_close_matches(cmd, ["on", "off", "status", "guard", "scan", "rules", "explain",
                                                    "checklist", "env", "probe", "help"], n=1)
            hint = f" Did you mean `%mlsec {close[0]}`?" if close else ""
            raise UsageError(f"%mlsec: unknown command {cmd!r}.{hint}\n{USAGE}")
        return handler(rest)

    # -- shared ----------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        from .session import session_for

        return session_for(self.shell)

    def _store(self, report: Any) -> None:
        self.shell.user_ns["_mlsec"] = report

    def _guarded(self, what: str, fn: Any) -> Any:
        """Run a command; mlsec's own failure becomes one clear message, never a kernel crash."""
        try:
            return fn()
        except UsageError:
            raise
        except Exception as exc:
            from ..secrets import mask_text
            from .display import notice

            notice(mask_text(f"mlsec: {what} failed: {type(exc).__name__}: {exc}"), level="error")
            return None

    # -- %mlsec (lint the notebook) --------------------------------------------------------------------
    def _lint(self, args: list[str]) -> None:
        unknown = [a for a in args if a not in ("--history", "--no-bandit")]
        if unknown:
            raise UsageError(f"%mlsec: unknown option {unknown[0]!r}\n{USAGE}")

        def run() -> None:
            from .display import show_report

            report, title, cell_format, note = self.session.lint_notebook(
                history_only="--history" in args, bandit=False if "--no-bandit" in args else None
            )
            self._store(report)
            show_report(report, title=title, cell_format=cell_format, note=note)

        self._guarded("linting the notebook", run)

    # -- %%mlsec ------------------------------------------------------------------------------------
    def _cell(self, args: list[str], cell: str) -> Any:
        from ..findings import Severity

        level = None
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--block":
                level = Severity.HIGH
                if i + 1 < len(args) and not args[i + 1].startswith("-"):
                    level = _severity(args[i + 1])
                    i += 1
            elif a.startswith("--block="):
                level = _severity(a.split("=", 1)[1])
            else:
                raise UsageError(f"%%mlsec: unknown option {a!r} (use --block [LEVEL])")
            i += 1
        s = self.session
        from .auto import BLOCK_OVERRIDE, GUARD_OVERRIDE

        if level is None and s.auto is not None and s.guard is not None:
            level, where, override = s.guard, f"`%mlsec guard {s.guard.label}`", GUARD_OVERRIDE
        else:
            where = f"`%%mlsec --block {level.label}`" if level is not None else ""
            override = BLOCK_OVERRIDE
        from .auto import CellBlocked, CellFailed, CheckTimeout, block_message, blocking, run_bounded

        count = self.shell.execution_count
        report = None
        try:
            cfg, _ = s.config(bandit=False)
            # a blank line for the `%%mlsec` header: line numbers match the cell as shown
            report = run_bounded(lambda: s.lint_cell("\n" + cell, count, config=cfg), s.timeout)
        except (Exception, CheckTimeout) as exc:
            from ..secrets import mask_text
            from .display import notice

            notice(mask_text(f"mlsec could not check this cell ({type(exc).__name__}: {exc}); running it anyway."),
                   level="error")

        if report is not None:
            from ..engine import SYNTAX_RULE_ID

            report.findings = [f for f in report.findings if f.rule_id != SYNTAX_RULE_ID]
            self._store(report)
            from .display import show_compact

            if report.findings:
                n = len(report.findings)
                show_compact(report.findings, title=f"{n} finding{'s' if n != 1 else ''} in this cell")
            else:
                show_compact_ok()
            stop = blocking(report.findings, level)
            if stop:
                s.blocked.add(count)
                raise CellBlocked(block_message(stop, level, where, override))
        s.nested += 1
        try:
            result = self.shell.run_cell(cell, store_history=False)
        finally:
            s.nested -= 1
        err = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if err is not None:
            raise CellFailed(f"(the cell raised {type(err).__name__}; its traceback is above)")
        return None

    # -- automatic mode ---------------------------------------------------------------------------------
    def _on(self, args: list[str]) -> None:
        if args:
            raise UsageError("%mlsec on takes no arguments (use `%mlsec guard LEVEL` for guard mode)")
        self._enable()
        self._status([], brief=True)

    def _enable(self) -> None:
        from .auto import AutoMode

        s = self.session
        if s.auto is None:
            s.auto = AutoMode(s)
            self._guarded("preparing automatic mode", s.warm_up)
        s.auto.install()
        s.failed = None

    def _off(self, args: list[str]) -> None:
        s = self.session
        if s.auto is not None:
            s.auto.uninstall()
            s.auto = None
        from .display import notice

        notice("mlsec automatic mode is off." + (" (The guard is off too.)" if s.guard else ""))
        s.guard = None

    def _guard(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("usage: %mlsec guard LEVEL | off   (LEVEL: critical, high, medium, low, info)")
        s = self.session
        if args[0].lower() in ("off", "none", "no", "false"):
            s.guard = None
            if s.auto is not None:
                s.auto.sync_guard()
            from .display import notice

            notice("mlsec guard is off: findings are shown, cells always run." +
                   (" Automatic mode stays on." if s.auto is not None else ""))
            return
        s.guard = _severity(args[0])
        self._enable()
        s.auto.sync_guard()
        self._status([], brief=True)

    def _status(self, args: list[str], brief: bool = False) -> None:
        s = self.session
        if s.auto is None:
            mode = "off"
        elif s.guard is None:
            mode = "on (warn only: findings are shown, cells always run)"
        else:
            mode = f"on, guard {s.guard.label}: cells with findings at {s.guard.label} or above are stopped"
        lines = [f"mlsec automatic mode: {mode}"]
        if brief:
            if s.auto is not None:
                lines.append("Every cell is checked before it runs, with the imports of earlier cells as context.")
                if s.guard is not None:
                    lines.append("To run a stopped cell: `# mlsec: ignore[RULE]` on its line, or `%mlsec guard off`.")
        else:
            t = sorted(s.timings)
            if t:
                p95 = t[min(len(t) - 1, int(0.95 * len(t)))]
                lines.append(f"cells checked: {len(t)} · median {1000 * t[len(t) // 2]:.1f} ms · p95 {1000 * p95:.1f} ms")
            if s.blocked:
                lines.append("cells stopped: " + ", ".join(f"In [{n}]" for n in sorted(s.blocked)))
            if s.failed:
                lines.append(f"switched off after mlsec's own error: {s.failed}")
            from .notebook_path import find_notebook

            path, how = find_notebook(self.shell, timeout=0.5)
            lines.append(f"notebook file: {path} (from {how})" if path else f"notebook file: none ({how}); "
                         "%mlsec lints the session history")
        from .display import notice

        notice("\n".join(lines), level="warn" if s.failed and not brief else "info")

    # -- scan ---------------------------------------------------------------------------------------------
    def _scan(self, args: list[str]) -> None:
        if not args:
            raise UsageError("usage: %mlsec scan PATH [PATH ...]")
        paths = [os.path.expanduser(p) for p in args]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            from .display import notice

            notice(f"mlsec scan: no such file or folder: {', '.join(missing)}", level="error")
            paths = [p for p in paths if p not in missing]
            if not paths:
                return

        def run() -> None:
            from .display import show_report
            from .progress import progress_bar

            with progress_bar(self.shell, "mlsec scan") as update:
                report = scan_paths(paths, update)
            self._store(report)
            show_report(report, title="scan of " + ", ".join(args))

        self._guarded("the scan", run)

    # -- rules / explain -------------------------------------------------------------------------------
    def _rules(self, args: list[str]) -> None:
        from ..render.html import render_rules
        from ..rules.base import all_rules
        from .display import show

        metas = [r.meta() for r in all_rules()]
        text = "\n".join(
            f"{m['id']}  {m['severity']:8} {m['category']:14} {m['name']}{'' if m['default_enabled'] else ' (off by default)'}"
            for m in metas
        )
        show(render_rules(metas), f"mlsec · {len(metas)} rules\n{text}\n`%mlsec explain ID` shows one in full.")

    def _explain(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("usage: %mlsec explain RULE_ID   (e.g. %mlsec explain MLS101)")
        from ..rules.base import all_rules, get_rule

        rule = get_rule(args[0].strip())
        if rule is None:
            import difflib

            ids = [r.id for r in all_rules()]
            close = difflib.get_close_matches(args[0].upper(), ids, n=3, cutoff=0.5)
            hint = f" Close: {', '.join(close)}." if close else ""
            raise UsageError(f"%mlsec explain: no rule {args[0]!r}.{hint} `%mlsec rules` lists them all.")
        from ..render.html import render_explain
        from .display import show

        m = rule.meta()
        text = (
            f"{m['id']} {m['name']} ({m['severity']}, {m['category']}, stage {m['stage']}"
            f"{', CWE-' + str(m['cwe']) if m['cwe'] else ''})\n{m['message']}\n\n{m['explanation']}\n\nFix: {m['fix_hint']}"
        )
        show(render_explain(m), text)

    # -- checklist / env / probe ---------------------------------------------------------------------------
    def _checklist(self, args: list[str]) -> Any:
        def run() -> Any:
            from ..checklist import build_for_session
            from .display import show

            checklist = build_for_session(self.session)
            show(checklist.to_html(), checklist.to_text())
            self.shell.user_ns["_mlsec_checklist"] = checklist
            return None

        return self._guarded("the checklist", run)

    def _env(self, args: list[str]) -> None:
        unknown = [a for a in args if a not in ("--osv", "--no-osv")]
        if unknown:
            raise UsageError(f"%mlsec env: unknown option {unknown[0]!r} (--osv: also ask osv.dev; --no-osv)")

        def run() -> None:
            from .. import components
            from ..render.html import render_components
            from .display import notice, show

            try:
                table = components.load_table()
            except components.AdvisoryDataError as exc:
                notice(f"mlsec env: {exc}", level="error")
                return
            use_osv = "--osv" in args
            if not use_osv and "--no-osv" not in args:  # [tool.mlsec] osv = true opts in for this project
                use_osv = bool(getattr(self.session.config(bandit=False)[0], "osv", False))
            t0 = time.perf_counter()
            online = ""
            if use_osv:
                from .. import osv

                result = osv.check_installed(table=table)
                vulnerable, checked = result.vulnerable, result.checked
                online = result.message or (f"OSV (osv.dev): {result.osv_ids} matching records, "
                                            f"{result.requests} requests, {result.cached} cached answers; "
                                            f"{osv.ATTRIBUTION}")
                if result.message:
                    notice(f"mlsec env: {result.message}", level="warn")
            else:
                vulnerable, checked = components.check_installed(table)
            took = time.perf_counter() - t0
            source = f"offline advisory table: {len(table)} advisories ({os.path.basename(table.source)}) · {took:.2f} s"
            if online:
                source += f" · {online}"
            lines = [f"mlsec env · {checked} installed packages checked · {len(vulnerable)} with known advisories",
                     source]
            for v in vulnerable:
                ids = ", ".join(a.id + (" [osv]" if a.source == "osv" else "") for a in v.advisories[:5]) + (
                    " ..." if len(v.advisories) > 5 else "")
                lines.append(f"  {v.severity.label.upper():8} {v.package} {v.version}: {len(v.advisories)} advisories "
                             f"({ids}); upgrade to {v.upgrade_to or 'n/a (no fixed version listed)'}")
            self.shell.user_ns["_mlsec_env"] = vulnerable
            show(render_components(vulnerable, checked, source=source), "\n".join(lines))

        self._guarded("the environment check", run)

    def _probe(self, args: list[str]) -> Any:
        if args:
            raise UsageError("%mlsec probe takes no arguments: the panel lists the models and data in this "
                             "notebook; in Python, mlsec.probe(model, X, y) runs probes directly")
        try:
            from ..probes.panel import probe_panel
        except ImportError as exc:
            from .display import notice

            notice(f"mlsec probe: the probe panel is not available ({exc}). "
                   "Install the extras with `pip install jupyter-mlsec[probes]`.", level="error")
            return None
        return self._guarded("the probe panel", lambda: probe_panel(self.shell.user_ns))

    def _help(self, args: list[str]) -> None:
        from ..render.html import STYLE, esc
        from .display import show

        show(f'{STYLE}<div class="mlsec-r"><pre>{esc(USAGE)}</pre></div>', USAGE)


def show_compact_ok() -> None:
    from ..render.html import message_box
    from .display import show

    show(message_box("mlsec · no findings in this cell", level="ok"), "mlsec · no findings in this cell")


def scan_paths(paths: list[str], progress: Any) -> Any:
    """The CLI's batch scan (`mlsec.scan.scan`) when present, else file by file through `api.lint`."""
    try:
        from ..scan import scan
    except ImportError:
        scan = None
    if scan is not None:
        return scan(paths, progress=progress)
    from ..api import lint
    from ..engine import Report

    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
                files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith((".py", ".ipynb")))
        else:
            files.append(p)
    report = Report()
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        report.extend(lint(f))
        progress(i + 1, len(files))
    report.duration = time.perf_counter() - t0
    return report
