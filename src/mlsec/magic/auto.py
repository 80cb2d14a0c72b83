"""Automatic mode (`%mlsec on`): lint every cell before it runs; guard mode stops risky cells.

How a cell is checked and, in guard mode, stopped, using only IPython's public extension points:

1. `pre_run_cell(info)` lints `info.raw_cell` (as typed) after the session history and shows the
   findings, so they appear above the cell's output. When guard mode is on and a finding reaches the
   guard level, it leaves a stop order for this execution.
2. An AST transformer (`shell.ast_transformers`, registered while a guard level is set) runs next,
   before any of the cell's code. It raises `CellBlocked` (an `InputRejected`) when there is a stop
   order. IPython's contract for `InputRejected` is: show the error, do not run the cell, keep the
   transformer registered. The execution ends as an error, so "Run all" stops there too. Without a
   stop order it returns the tree untouched: mlsec never changes what a cell computes.
3. `post_run_cell` drops any stop order left over (a cell that did not compile) and remembers which
   cells were stopped, so that their imports do not count as context.

Never in the way: a check that raises or takes longer than `Session.timeout` reports mlsec's error
once, switches automatic mode off for the session and lets the cell run.
"""
from __future__ import annotations

import ast
import threading
import time
from typing import Any

from IPython.core.error import InputRejected

GUARD_OVERRIDE = "lower the guard (`%mlsec guard critical`) or turn it off (`%mlsec guard off`)"
BLOCK_OVERRIDE = "drop `--block` from the `%%mlsec` line (or raise it: `--block critical`)"


class CellBlocked(InputRejected):
    """mlsec stopped a cell before it ran; the message says why and how to run it anyway."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [f"\x1b[1;31mCellBlocked\x1b[0m: {line}" if i == 0 else line
                for i, line in enumerate(self.message.splitlines())]


class CellFailed(Exception):
    """The body of a `%%mlsec` cell raised; its own traceback is shown above. This keeps the
    execution an error (so "Run all" stops) without printing that traceback twice."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[2m{self}\x1b[0m"]


class CheckTimeout(BaseException):
    """A check ran out of time. A BaseException so that no `except Exception` inside the engine
    (which turns a rule's bug into a finding and goes on) can swallow it."""


def blocking(findings: list[Any], level: Any) -> list[Any]:
    from ..engine import SYNTAX_RULE_ID

    if level is None:
        return []
    return [f for f in findings if f.severity >= level and f.rule_id != SYNTAX_RULE_ID]


def block_message(stop: list[Any], level: Any, where: str, override: str = GUARD_OVERRIDE) -> str:
    """Why the cell did not run, the findings that stopped it, and the two ways to run it anyway."""
    ids = sorted({f.rule_id for f in stop})
    head = (
        f"mlsec stopped this cell before it ran: {len(stop)} finding{'s' if len(stop) != 1 else ''} "
        f"at {level.label} or above ({where})."
    )
    lines = [head]
    for f in sorted(stop, key=lambda f: (-int(f.severity), f.line))[:10]:
        lines.append(f"  {f.severity.label.upper()} {f.rule_id} line {f.line}: {f.message}")
    lines.append(f"To run it anyway: add `# mlsec: ignore[{','.join(ids)}]` to the flagged line, or {override}.")
    from ..secrets import mask_text

    return mask_text("\n".join(lines))


def run_bounded(fn: Any, timeout: float) -> Any:
    """Run `fn()` for at most `timeout` seconds, so a pathological cell cannot hang the kernel.

    On the main thread (where IPython runs cells) a one-shot SIGALRM timer interrupts the check: no
    thread hand-off, so it costs microseconds. Elsewhere, or when the program's own real-time timer is
    armed, the check runs in a helper thread that is waited for at most `timeout` seconds."""
    import signal

    if (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    ):
        def on_alarm(signum: int, frame: Any) -> None:
            raise CheckTimeout(f"the check took longer than {timeout:g} s")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                return fn()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    t = threading.Thread(target=work, name="mlsec-check", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise CheckTimeout(f"the check took longer than {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class GuardTransformer(ast.NodeTransformer):
    """Stops the execution that `pre_run_cell` marked; otherwise returns the tree as it is."""

    def __init__(self, auto: "AutoMode"):
        self.auto = auto

    def visit(self, node: ast.AST) -> ast.AST:
        try:
            order = self.auto.take_stop_order()
        except Exception:  # never unregister ourselves through an unexpected error
            order = None
        if order is not None:
            raise CellBlocked(order)
        return node


class AutoMode:
    """The hooks of automatic mode for one session; `install()` / `uninstall()` are idempotent."""

    def __init__(self, session: Any):
        self.session = session
        self.shell = session.shell
        self.transformer = GuardTransformer(self)
        self._stop: tuple[int, str] | None = None
        self.installed = False

    # -- wiring ----------------------------------------------------------------------------------
    def install(self) -> None:
        if self.installed:
            return
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self.installed = True
        self.sync_guard()

    def sync_guard(self) -> None:
        """The transformer is registered only while a guard level is set: in warn-only mode IPython
        then does exactly what it does without mlsec after our check."""
        wanted = self.installed and self.session.guard is not None
        present = self.transformer in self.shell.ast_transformers
        if wanted and not present:
            self.shell.ast_transformers.append(self.transformer)
        elif not wanted:
            while self.transformer in self.shell.ast_transformers:
                self.shell.ast_transformers.remove(self.transformer)

    def uninstall(self) -> None:
        for event, cb in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            try:
                self.shell.events.unregister(event, cb)
            except ValueError:
                pass
        while self.transformer in self.shell.ast_transformers:
            self.shell.ast_transformers.remove(self.transformer)
        self._stop = None
        self.installed = False

    def take_stop_order(self) -> str | None:
        order, self._stop = self._stop, None
        if order is None:
            return None
        count, message = order
        return message if count == self.shell.execution_count else None

    # -- hooks -----------------------------------------------------------------------------------
    def pre_run_cell(self, info: Any = None) -> None:
        self._stop = None
        try:
            self._check(info)
        except (Exception, CheckTimeout) as exc:
            self.fail(exc)

    def post_run_cell(self, result: Any = None) -> None:
        self._stop = None
        try:
            err = getattr(result, "error_before_exec", None)
            count = getattr(result, "execution_count", None)
            if isinstance(err, CellBlocked) and count is not None:
                self.session.blocked.add(count)
        except Exception as exc:
            self.fail(exc)

    def _check(self, info: Any) -> None:
        from .session import is_own_command

        s = self.session
        raw = getattr(info, "raw_cell", None)
        if not isinstance(raw, str) or not raw.strip() or s.nested or is_own_command(raw):
            return
        count = self.shell.execution_count
        t0 = time.perf_counter()
        report = run_bounded(lambda: s.lint_cell(raw, count), s.timeout)
        s.timings.append(time.perf_counter() - t0)
        from ..engine import SYNTAX_RULE_ID

        shown = [f for f in report.findings if f.rule_id != SYNTAX_RULE_ID]
        s.last_findings = shown
        if not shown:
            return
        from .display import show_compact

        stop = blocking(shown, s.guard)
        n = len(shown)
        title = f"{n} finding{'s' if n != 1 else ''} in this cell"
        if stop:
            title += " · guard: cell stopped"
        show_compact(shown, title=title)
        if stop:
            self._stop = (count, block_message(stop, s.guard, f"`%mlsec guard {s.guard.label}`"))

    # -- failure containment -------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        """mlsec's own error: say it once, switch automatic mode off, let the cell run."""
        from ..secrets import mask_text

        s = self.session
        what = "took too long" if isinstance(exc, CheckTimeout) else "hit an internal error"
        detail = mask_text(f"{type(exc).__name__}: {exc}")[:500]
        s.failed = detail
        self.uninstall()
        if s.auto is self:
            s.auto = None
        text = (
            f"mlsec: automatic mode {what} ({detail}) and is now off for this session. "
            "Your cell runs normally. `%mlsec status` shows this again; `%mlsec on` turns checking back on."
        )
        try:
            from .display import notice

            notice(text, level="error")
        except Exception:
            import sys

            print(text, file=sys.stderr)
