"""ipywidgets panel for the probes (`mlsec.probe_panel()`, `%mlsec probe`).

It lists models and arrays found in the user's namespace, lets the user pick probes and budgets, runs
them in a background thread (the kernel stays responsive, cancel works), and shows a results table,
plots, a plain-language verdict per probe and JSON/HTML export. Tests drive it programmatically:
set widget values, call `panel.run()` (the click handler), then `panel.wait()`.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
import threading
import time
import traceback
from typing import Any, Optional

from .budget import Budget, CancelToken
from .report import esc

_NONE = "—"
_X_HINT = re.compile(r"^x", re.I)
_Y_HINT = re.compile(r"^(y|labels?|targets?)", re.I)


def _user_namespace(depth: int = 2) -> dict[str, Any]:
    ipy_mod = sys.modules.get("IPython")
    if ipy_mod is not None:
        ip = ipy_mod.get_ipython()
        if ip is not None and hasattr(ip, "user_ns"):
            return ip.user_ns
    frame = inspect.currentframe()
    for _ in range(depth):
        frame = frame.f_back if frame is not None else None
    return frame.f_globals if frame is not None else {}


def _module_of(obj: Any) -> str:
    return type(obj).__module__ or ""


def is_model(obj: Any) -> bool:
    """Objects the probes can attack: fitted sklearn-style estimators, torch modules, keras models."""
    if isinstance(obj, type) or inspect.ismodule(obj):
        return False
    mro = type(obj).__mro__
    if any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in mro):
        return True
    if any(c.__module__.startswith(("keras", "tf_keras")) and c.__name__ in ("Model", "Sequential", "Functional") for c in mro):
        return True
    try:
        return hasattr(obj, "predict") and hasattr(obj, "classes_")
    except Exception:
        return False


def _shape(obj: Any) -> Optional[tuple[int, ...]]:
    mod = _module_of(obj)
    if not (mod.startswith("numpy") or mod.startswith("pandas") or mod.startswith("torch")):
        return None
    shape = getattr(obj, "shape", None)
    if shape is None or isinstance(shape, property):
        return None
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        return None


def scan_namespace(ns: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(model names, X-like names, y-like names) from a namespace, private names skipped."""
    models, xs, ys = [], [], []
    for name, obj in list(ns.items()):
        if name.startswith("_"):
            continue
        try:
            if is_model(obj):
                models.append(name)
                continue
            shp = _shape(obj)
        except Exception:
            continue
        if shp is None or len(shp) == 0 or shp[0] < 2:
            continue
        (xs if len(shp) >= 2 else ys).append(name)
    return sorted(models), sorted(xs), sorted(ys)


def _guess(names: list[str], hint: re.Pattern[str], split: str) -> str:
    """Pick e.g. X_train / X_test by name; '—' when nothing fits."""
    keys = ("train", "tr") if split == "train" else ("test", "te", "val", "valid", "holdout")
    for n in names:
        low = n.lower()
        if hint.search(n) and any(low.endswith(k) or f"_{k}" in low for k in keys):
            return n
    return _NONE


class ProbePanel:
    """The widget and its controller. `panel.widget` is the ipywidgets box; the panel displays itself."""

    def __init__(self, namespace: Optional[dict[str, Any]] = None, run_in_thread: bool = True) -> None:
        import ipywidgets as w

        from . import PROBES, QUICK

        self.namespace = namespace if namespace is not None else _user_namespace(2)
        self.run_in_thread = run_in_thread
        self.report: Any = None
        self.error: Optional[str] = None
        self.cancel_token = CancelToken()
        self._thread: Optional[threading.Thread] = None
        self._done = threading.Event()
        self._done.set()
        self._last_progress = 0.0

        lay = w.Layout(width="250px")
        self.model = w.Dropdown(description="model", layout=lay)
        self.X_train = w.Dropdown(description="X train", layout=lay)
        self.y_train = w.Dropdown(description="y train", layout=lay)
        self.X_test = w.Dropdown(description="X test", layout=lay)
        self.y_test = w.Dropdown(description="y test", layout=lay)
        self.refresh_button = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="90px"))
        self.refresh_button.on_click(lambda _b: self.refresh())

        self.eps = w.BoundedFloatText(value=0.1, min=0.0, max=1.0, step=0.01, description="ε", layout=w.Layout(width="140px"))
        self.norm = w.Dropdown(options=[("L∞", "inf"), ("L2", "l2")], value="inf", description="norm", layout=w.Layout(width="140px"))
        self.seed = w.IntText(value=0, description="seed", layout=w.Layout(width="140px"))

        self.checks: dict[str, Any] = {}
        self.samples: dict[str, Any] = {}
        self.seconds: dict[str, Any] = {}
        rows = []
        for name, (title, category, _runner, budget) in PROBES.items():
            cb = w.Checkbox(value=name in QUICK, description=f"{title}", indent=False, layout=w.Layout(width="260px"))
            ns = w.IntText(value=budget.max_samples or 0, description="samples", layout=w.Layout(width="150px"))
            sec = w.FloatText(value=budget.max_seconds or 0.0, description="seconds", layout=w.Layout(width="150px"))
            self.checks[name], self.samples[name], self.seconds[name] = cb, ns, sec
            rows.append(w.HBox([cb, w.HTML(f"<small>{esc(category)}</small>", layout=w.Layout(width="80px")), ns, sec]))

        self.run_button = w.Button(description="Run probes", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", button_style="warning", icon="stop", disabled=True)
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="300px"))
        self.status = w.HTML("Pick a model and data, then run.")
        self.results = w.HTML()
        self.plots = w.HTML()
        self.verdicts = w.HTML()
        self.export_name = w.Text(value="mlsec_probe_report", description="file", layout=w.Layout(width="260px"))
        self.export_json_button = w.Button(description="Export JSON", icon="download")
        self.export_html_button = w.Button(description="Export HTML", icon="download")
        self.export_json_button.on_click(lambda _b: self.export("json"))
        self.export_html_button.on_click(lambda _b: self.export("html"))
        self.export_status = w.HTML()

        self.widget = w.VBox(
            [
                w.HTML("<b>mlsec adversarial probes</b> — your model is never modified; probes run on copies or read-only."),
                w.HBox([self.model, self.refresh_button]),
                w.HBox([self.X_train, self.y_train]),
                w.HBox([self.X_test, self.y_test]),
                w.HBox([self.eps, self.norm, self.seed]),
                w.VBox(rows),
                w.HBox([self.run_button, self.cancel_button, self.progress]),
                self.status,
                self.results,
                self.verdicts,
                self.plots,
                w.HBox([self.export_name, self.export_json_button, self.export_html_button]),
                self.export_status,
            ]
        )
        self.refresh()

    # namespace -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        models, xs, ys = scan_namespace(self.namespace)
        keep = {d: d.value for d in (self.model, self.X_train, self.y_train, self.X_test, self.y_test)}
        self.model.options = models or [_NONE]
        for dd, names, hint, split in (
            (self.X_train, xs, _X_HINT, "train"),
            (self.X_test, xs, _X_HINT, "test"),
            (self.y_train, ys, _Y_HINT, "train"),
            (self.y_test, ys, _Y_HINT, "test"),
        ):
            dd.options = [_NONE] + names
            prev = keep[dd]
            dd.value = prev if prev in dd.options and prev != _NONE else _guess(names, hint, split)
        self.model.value = keep[self.model] if keep[self.model] in self.model.options else self.model.options[0]

    def _get(self, dd: Any) -> Any:
        if dd.value in (None, _NONE) or (dd is self.model and dd.value not in self.namespace):
            return None
        if dd.value not in self.namespace:
            raise ValueError(f"{dd.value!r} is no longer defined; press refresh")
        return self.namespace[dd.value]

    def selected_probes(self) -> list[str]:
        return [n for n, cb in self.checks.items() if cb.value]

    def budgets(self) -> dict[str, Budget]:
        from . import PROBES

        out = {}
        for n in self.selected_probes():
            base = PROBES[n][3]
            samples = int(self.samples[n].value)
            secs = float(self.seconds[n].value)
            out[n] = base.with_(max_samples=samples if samples > 0 else None, max_seconds=secs if secs > 0 else None)
            if samples <= 0:
                out[n] = Budget(None, base.max_queries, base.max_iter, out[n].max_seconds)
        return out

    # running ---------------------------------------------------------------------------------------
    def run(self) -> None:
        """Same as pressing 'Run probes'."""
        self._on_run(None)

    def _on_run(self, _button: Any) -> None:
        if not self._done.is_set():
            self.status.value = "Probes are already running; cancel first."
            return
        try:
            model = self._get(self.model)
            X, y = self._get(self.X_test), self._get(self.y_test)
            Xtr, ytr = self._get(self.X_train), self._get(self.y_train)
            if model is None:
                raise ValueError("choose a model")
            if X is None or y is None:
                if Xtr is None or ytr is None:
                    raise ValueError("choose X and y (test data, and training data for membership/poisoning probes)")
                X, y, Xtr, ytr = Xtr, ytr, None, None
            names = self.selected_probes()
            if not names:
                raise ValueError("tick at least one probe")
        except Exception as exc:
            self.error = str(exc)
            self.status.value = f"<span style='color:#cf222e'>{esc(str(exc))}</span>"
            return
        kwargs = dict(
            X_train=Xtr,
            y_train=ytr,
            probes=names,
            eps=float(self.eps.value),
            norm=self.norm.value,
            seed=int(self.seed.value),
            budgets=self.budgets(),
        )
        self.cancel_token = CancelToken()
        self.error = None
        self.report = None
        self._done.clear()
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        self.progress.value = 0.0
        self.progress.bar_style = ""
        self.status.value = f"Running {len(names)} probes…"
        self.results.value = self.plots.value = self.verdicts.value = ""
        if self.run_in_thread:
            self._thread = threading.Thread(target=self._work, args=(model, X, y, kwargs), name="mlsec-probes", daemon=True)
            self._thread.start()
        else:
            self._work(model, X, y, kwargs)

    def _on_cancel(self, _button: Any) -> None:
        self.cancel_token.cancel()
        self.status.value = "Cancelling…"

    def cancel(self) -> None:
        self._on_cancel(None)

    def _progress(self, fraction: float, message: str) -> None:
        now = time.perf_counter()
        if fraction < 1.0 and now - self._last_progress < 0.1:  # throttle widget traffic
            return
        self._last_progress = now
        self.progress.value = fraction
        self.status.value = f"{esc(message)} — {fraction:.0%}"

    def _work(self, model: Any, X: Any, y: Any, kwargs: dict[str, Any]) -> None:
        from . import probe

        try:
            report = probe(model, X, y, cancel=self.cancel_token, progress=self._progress, **kwargs)
            self.report = report
            self._render(report)
            cancelled = self.cancel_token.cancelled
            self.progress.value = 1.0
            self.progress.bar_style = "warning" if cancelled else "success"
            self.status.value = (
                f"{'Cancelled' if cancelled else 'Done'}: {len(report)} probes, {report.queries:,} queries, {report.seconds:.2f} s."
            )
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.progress.bar_style = "danger"
            self.status.value = f"<span style='color:#cf222e'>Could not run the probes: {esc(self.error)}</span>"
            self._traceback = traceback.format_exc()
        finally:
            self.run_button.disabled = False
            self.cancel_button.disabled = True
            self._done.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the current run finishes (for tests and scripts); True when it did."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    # output ------------------------------------------------------------------------------------------
    def _render(self, report: Any) -> None:
        from .report import _badge, results_table_html

        self.results.value = results_table_html(report.results)
        items = []
        for r in report.results:
            items.append(
                f"<li>{_badge(r.status)} <b>{esc(r.title)}</b>: {esc(r.summary)}"
                + (f"<br><i>Next:</i> {esc(r.advice)}" if r.advice else "")
                + "</li>"
            )
        self.verdicts.value = "<p><b>Verdicts</b></p><ul>" + "".join(items) + "</ul>"
        try:
            self.plots.value = report.figures_html()
        except Exception as exc:  # plotting must not hide the numbers
            self.plots.value = f"<i>plots unavailable: {esc(str(exc))}</i>"

    def export(self, fmt: str = "json", path: Optional[str] = None) -> Optional[str]:
        """Write the last report as JSON or HTML; returns the path."""
        if self.report is None:
            self.export_status.value = "Nothing to export yet: run the probes first."
            return None
        base = path or (self.export_name.value or "mlsec_probe_report")
        if not base.endswith("." + fmt):
            base += "." + fmt
        if fmt == "json":
            self.report.to_json(base)
        else:
            self.report.to_html(base)
        full = os.path.abspath(base)
        self.export_status.value = f"Saved {esc(full)}"
        return full

    # display -----------------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def probe_panel(namespace: Optional[dict[str, Any]] = None, run_in_thread: bool = True) -> ProbePanel:
    """Build the probe panel over `namespace` (default: IPython's user namespace, else the caller's globals)."""
    ns = namespace if namespace is not None else _user_namespace(2)
    return ProbePanel(ns, run_in_thread=run_in_thread)
