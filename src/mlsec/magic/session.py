"""What the magic remembers per IPython shell, and the two ways it lints: a cell in context, a notebook.

The session's history is IPython's raw input history (`In`, as typed, with `%`/`!` syntax intact),
minus cells mlsec stopped: those never ran, so their imports are not context. A cell is linted as
the last cell of a document made of that history, so `import pickle as pk` three cells up still
makes `pk.loads` a finding; the engine's per-cell cache keeps the earlier cells cheap.
"""
from __future__ import annotations

import importlib.util
import os
import re
import time
import weakref
from collections import deque
from dataclasses import replace
from typing import Any

SESSION_PATH = "<session>"
HISTORY_CELL = "In [{n}]"
_OWN_CELL_MAGIC = re.compile(r"\A[ \t]*%%mlsec\b[^\n]*")
_OWN_LINE = re.compile(r"^[ \t]*%mlsec\b.*$")

_SESSIONS: "weakref.WeakKeyDictionary[Any, Session]" = weakref.WeakKeyDictionary()


def session_for(shell: Any) -> "Session":
    s = _SESSIONS.get(shell)
    if s is None:
        s = Session(shell)
        _SESSIONS[shell] = s
    return s


def drop_session(shell: Any) -> "Session | None":
    return _SESSIONS.pop(shell, None)


def bandit_available() -> bool:
    return importlib.util.find_spec("bandit") is not None and importlib.util.find_spec("mlsec.bandit_bridge") is not None


def is_own_command(raw_cell: str) -> bool:
    """A cell that is only `%mlsec ...` lines, or a `%%mlsec` cell (the magic checks that one itself)."""
    if _OWN_CELL_MAGIC.match(raw_cell):
        return True
    lines = [ln for ln in raw_cell.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(_OWN_LINE.match(ln) for ln in lines)


def history_source(raw_cell: str) -> str:
    """A history cell as the engine should read it: a `%%mlsec` header becomes a blank line, so the
    body is analysed as the Python it is, on the same line numbers."""
    return _OWN_CELL_MAGIC.sub("", raw_cell, count=1) if _OWN_CELL_MAGIC.match(raw_cell) else raw_cell


class Session:
    """State of `%mlsec` in one shell: automatic mode, guard level, blocked cells, failures, timings."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.auto = None  # an AutoMode while automatic mode is on
        self.guard = None  # Severity at which automatic mode stops a cell; None: warn only
        self.failed: str | None = None  # mlsec's own error that switched automatic mode off
        self.blocked: set[int] = set()  # execution counts of cells mlsec stopped
        self.timeout = 5.0  # seconds one automatic check may take before mlsec gives up on the session
        self.nested = 0  # > 0 while `%%mlsec` runs its body
        self.timings: deque[float] = deque(maxlen=2000)  # seconds per automatic check
        self.last_findings: list[Any] = []
        self._auto_config: tuple[str, Any] | None = None
        self._ctx_state: tuple[list[tuple[int, str]], Any, str] | None = None  # history seen, context after it

    # -- configuration ---------------------------------------------------------------------------
    def config(self, start: str | None = None, *, bandit: bool | None = None) -> tuple[Any, str | None]:
        """The project's `[tool.mlsec]` config (nearest pyproject.toml above `start`), and a note when
        it could not be used. bandit is off when its bridge is not installed."""
        from .. import config as cfgmod

        cfg = cfgmod.Config()
        note = None
        loader = getattr(cfgmod, "load_config", None)
        if loader is not None:
            try:
                cfg = loader(start or os.getcwd())
            except Exception as exc:  # ConfigError and unreadable files: say so, use defaults
                note = f"[tool.mlsec] not used: {exc}"
        if bandit is False or not bandit_available():
            cfg = replace(cfg, bandit=False)
        return cfg, note

    def auto_config(self) -> Any:
        """Config for automatic mode: the project's, without bandit (per-cell speed), cached per cwd."""
        cwd = os.getcwd()
        if self._auto_config is None or self._auto_config[0] != cwd:
            self._auto_config = (cwd, self.config(cwd, bandit=False)[0])
        return self._auto_config[1]

    # -- history ---------------------------------------------------------------------------------
    def history(self, before: int | None = None) -> list[tuple[int, str]]:
        """(execution count, raw source) of the cells that ran before `before`, in order."""
        hm = getattr(self.shell, "history_manager", None)
        raw = list(getattr(hm, "input_hist_raw", None) or [])
        end = len(raw) if before is None else min(before, len(raw))
        out = []
        for n in range(1, end):
            src = raw[n]
            if n in self.blocked or not isinstance(src, str) or not src.strip():
                continue
            out.append((n, history_source(src)))
        return out

    def history_document(self, extra: str | None = None, count: int | None = None) -> Any:
        from ..source import Cell, Document

        count = self.shell.execution_count if count is None else count
        cells = [Cell(source=src, index=n - 1) for n, src in self.history(before=count)]
        if extra is not None:
            cells.append(Cell(source=extra, index=count - 1))
        return Document(path=SESSION_PATH, cells=cells, kind="notebook")

    # -- linting ---------------------------------------------------------------------------------
    def context_before(self, count: int, config: Any) -> Any:
        """The engine's context (imports, aliases, downloads) after the history cells before `count`.

        Kept between checks and extended cell by cell, so checking a cell costs the same after 10 or
        1,000 earlier cells; rebuilt when the history is not a continuation of what was seen (a reset,
        a stopped cell, another config)."""
        from ..context import Context
        from ..engine import analyze_cell, ruleset_for
        from ..source import Cell

        rs = ruleset_for(config)
        hist = self.history(before=count)
        seen, ctx, fp = self._ctx_state if self._ctx_state else ([], None, None)
        if ctx is None or fp != rs.fingerprint or len(seen) > len(hist) or hist[: len(seen)] != seen:
            seen, ctx = [], Context()
        for n, src in hist[len(seen):]:
            try:
                _, ctx = analyze_cell(Cell(source=src, index=n - 1), ctx, rs)
            except Exception:  # as analyze() does: a cell the engine cannot read teaches nothing
                pass
        self._ctx_state = (hist, ctx, rs.fingerprint)
        return ctx

    def warm_up(self) -> None:
        """Pay the one-time costs when automatic mode is turned on (rules, libcst, the context of the
        cells run so far), so that the first checked cell is as quick as the others."""
        import libcst  # noqa: F401  (imported here rather than during the first checked cell)

        from ..engine import ruleset_for

        config = self.auto_config()
        ruleset_for(config)
        self.context_before(self.shell.execution_count, config)

    def lint_cell(self, source: str, count: int | None = None, config: Any = None) -> Any:
        """Report of one cell's findings, analysed after the session's history (imports, aliases)."""
        from ..engine import analyze
        from ..source import Cell, Document

        count = self.shell.execution_count if count is None else count
        config = config if config is not None else self.auto_config()
        context = self.context_before(count, config)
        doc = Document(path=SESSION_PATH, cells=[Cell(source=source, index=count - 1)], kind="notebook")
        return analyze(doc, config, context=context)

    def lint_notebook(self, *, history_only: bool = False, bandit: bool | None = None) -> tuple[Any, str, str, str | None]:
        """(report, title, cell format, note): the notebook file when the kernel knows it, else the history."""
        from .notebook_path import find_notebook

        path, how = (None, "history requested") if history_only else find_notebook(self.shell)
        if path:
            from ..api import lint

            cfg, note = self.config(os.path.dirname(path), bandit=bandit)
            report = lint(path, config=cfg)
            try:
                saved = time.strftime("%H:%M:%S", time.localtime(os.path.getmtime(path)))
                title = f"{os.path.basename(path)} (as last saved, {saved})"
            except OSError:
                title = os.path.basename(path)
            return report, title, "cell {n}", note
        from ..engine import analyze

        cfg, note = self.config(bandit=bandit)
        doc = self.history_document()
        report = analyze(doc, cfg)
        n = len(doc.cells)
        title = f"session history ({n} cell{'s' if n != 1 else ''} run so far; no notebook file: {how})"
        return report, title, HISTORY_CELL, note
