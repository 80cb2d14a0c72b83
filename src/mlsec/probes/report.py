"""Probe results: numbers as attributes, a plain-language verdict, HTML for notebooks and JSON export.

Every number is reported next to the queries and wall time it cost. Results of this Python session are
kept (small, without arrays' copies of user data beyond the few examples shown) so `%mlsec checklist` can
list them through `session_results()`.
"""
from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

def esc(text: object) -> str:
    """HTML-escaped text with secrets masked (column names, labels or errors could carry a token)."""
    from ..secrets import mask_text

    return html.escape(mask_text(str(text)))


STATUSES = ("pass", "warn", "fail", "skipped", "error", "cancelled")
_BADGE = {
    "pass": ("#1a7f37", "pass"),
    "warn": ("#9a6700", "warn"),
    "fail": ("#cf222e", "fail"),
    "skipped": ("#6e7781", "skipped"),
    "error": ("#6e7781", "error"),
    "cancelled": ("#6e7781", "cancelled"),
}


def _jsonable(v: Any) -> Any:
    """numpy scalars/arrays and tuples -> plain JSON values; NaN -> None."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None  # type: ignore
    if np is not None:
        if isinstance(v, np.ndarray):
            return [_jsonable(x) for x in v.tolist()]
        if isinstance(v, np.generic):
            v = v.item()
    if isinstance(v, float):
        return None if v != v or v in (float("inf"), float("-inf")) else round(v, 6)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, str):
        from ..secrets import mask_text

        return mask_text(v)
    if isinstance(v, (int, bool)) or v is None:
        return v
    return mask_text(str(v))


@dataclass
class ProbeResult:
    """One probe's outcome. Metric values are also readable as attributes: `result.robust_accuracy`."""

    name: str
    title: str
    category: str
    status: str
    summary: str
    advice: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # arrays for plots; not exported
    queries: int = 0
    seconds: float = 0.0
    budget: dict[str, Any] = field(default_factory=dict)
    seed: Optional[int] = None
    stopped: Optional[str] = None
    upper_bound: bool = False

    def __getattr__(self, key: str) -> Any:
        metrics = self.__dict__.get("metrics")
        if metrics is not None and key in metrics:
            return metrics[key]
        raise AttributeError(f"{type(self).__name__} {self.__dict__.get('name')!r} has no attribute or metric {key!r}")

    def __getitem__(self, key: str) -> Any:
        """Mapping-style access for consumers such as `%mlsec checklist` (name, status, text, ...)."""
        if key == "text":
            return self.text
        if key in ("name", "title", "category", "status", "summary", "advice", "queries", "seconds", "stopped"):
            return getattr(self, key)
        return self.metrics[key]

    @property
    def text(self) -> str:
        return self.summary

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(
            {
                "name": self.name,
                "title": self.title,
                "category": self.category,
                "status": self.status,
                "summary": self.summary,
                "advice": self.advice,
                "metrics": self.metrics,
                "queries": self.queries,
                "seconds": self.seconds,
                "budget": self.budget,
                "seed": self.seed,
                "stopped": self.stopped,
                "upper_bound": self.upper_bound,
            }
        )

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _repr_html_(self) -> str:
        return results_table_html([self])


def _badge(status: str) -> str:
    colour, label = _BADGE.get(status, ("#6e7781", status))
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;padding:1px 6px;'
        f'font-size:90%;font-weight:600">{html.escape(label)}</span>'
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v[:8]) + (", …" if len(v) > 8 else "") + "]"
    return str(v)


HEADLINE_KEYS = (
    "clean_accuracy",
    "robust_accuracy",
    "success_rate",
    "median_distance",
    "auc",
    "advantage",
    "agreement",
    "accuracy_drop",
    "flagged",
    "recall_of_flipped",
    "detection_rate",
    "robust_accuracy_gain",
    "auc_gain",
    "agreement_gain",
)


def results_table_html(results: Iterable[ProbeResult]) -> str:
    rows = []
    for r in results:
        nums = ", ".join(
            f"{esc(k.replace('_', ' '))} {esc(_fmt(r.metrics[k]))}" for k in HEADLINE_KEYS if k in r.metrics
        )
        if r.upper_bound:
            nums += " <i>(upper bound)</i>"
        cost = f"{r.queries:,} queries, {r.seconds:.2f} s" + (f"<br><i>{esc(r.stopped)}</i>" if r.stopped else "")
        rows.append(
            "<tr>"
            f"<td style='text-align:left'>{_badge(r.status)}</td>"
            f"<td style='text-align:left'><b>{esc(r.title)}</b><br><small>{esc(r.category)}</small></td>"
            f"<td style='text-align:left'>{esc(r.summary)}<br><small>{nums}</small></td>"
            f"<td style='text-align:left'><small>{esc(r.advice)}</small></td>"
            f"<td style='text-align:right;white-space:nowrap'><small>{cost}</small></td>"
            "</tr>"
        )
    return (
        "<table class='mlsec-probes' style='border-collapse:collapse'>"
        "<thead><tr><th>verdict</th><th style='text-align:left'>probe</th><th style='text-align:left'>finding</th>"
        "<th style='text-align:left'>what to do next</th><th>cost</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def curve_svg(points: list[tuple[float, float]], width: int = 260, height: int = 150, label: str = "") -> str:
    """A tiny dependency-free SVG line plot of robust accuracy against epsilon."""
    if not points:
        return ""
    xs = [p[0] for p in points]
    xmax = max(xs) or 1.0
    pad = 28

    def sx(x: float) -> float:
        return pad + (width - pad - 8) * x / xmax

    def sy(y: float) -> float:
        return height - pad + -(height - pad - 8) * y

    poly = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    dots = "".join(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2.5' fill='#0969da'/>" for x, y in points)
    ticks = "".join(
        f"<text x='{sx(x):.1f}' y='{height - pad + 12}' font-size='9' text-anchor='middle'>{x:g}</text>" for x in xs
    )
    return (
        f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' role='img'>"
        f"<title>{html.escape(label)}</title>"
        f"<line x1='{pad}' y1='{sy(0)}' x2='{width - 8}' y2='{sy(0)}' stroke='#888'/>"
        f"<line x1='{pad}' y1='{sy(0)}' x2='{pad}' y2='{sy(1)}' stroke='#888'/>"
        f"<text x='2' y='{sy(1) + 4}' font-size='9'>1.0</text><text x='2' y='{sy(0)}' font-size='9'>0</text>"
        f"<polyline fill='none' stroke='#0969da' stroke-width='1.5' points='{poly}'/>{dots}{ticks}"
        f"<text x='{width / 2}' y='{height - 2}' font-size='10' text-anchor='middle'>ε (fraction of range) — {html.escape(label)}</text>"
        "</svg>"
    )


class ProbeReport:
    """What `mlsec.probe(...)` returns: a list of ProbeResults plus context.

    `report.pgd_linf.robust_accuracy`, `report["membership_inference"].auc`, `report.to_json()`,
    `report.to_html()`, and rich display in notebooks.
    """

    def __init__(
        self,
        results: list[ProbeResult],
        model: str = "",
        data: str = "",
        seed: Optional[int] = None,
        seconds: float = 0.0,
        image_shape: Optional[tuple[int, ...]] = None,
    ) -> None:
        self.results = list(results)
        self.image_shape = image_shape
        self.model = model
        self.data = data
        self.seed = seed
        self.seconds = seconds
        self.created = time.strftime("%Y-%m-%d %H:%M:%S")

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, key: Any) -> ProbeResult:
        if isinstance(key, int):
            return self.results[key]
        for r in self.results:
            if r.name == key:
                return r
        raise KeyError(f"no probe {key!r} in this report; have {[r.name for r in self.results]}")

    def __getattr__(self, key: str) -> ProbeResult:
        for r in self.__dict__.get("results", []):
            if r.name == key:
                return r
        raise AttributeError(f"ProbeReport has no probe or attribute {key!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {r.name for r in self.results})

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.results]

    @property
    def status(self) -> str:
        st = {r.status for r in self.results}
        for s in ("fail", "warn", "error", "cancelled", "pass"):
            if s in st:
                return s
        return "skipped"

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "mlsec.probes",
            "model": self.model,
            "data": self.data,
            "seed": self.seed,
            "created": self.created,
            "seconds": round(self.seconds, 4),
            "queries": self.queries,
            "status": self.status,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, path: Optional[str] = None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def _repr_html_(self, svg: bool = True) -> str:
        curves = []
        for r in self.results if svg else []:
            c = r.details.get("curve")
            if c:
                curves.append(curve_svg([(float(e), float(a)) for e, a in c], label=r.title))
        head = (
            f"<div class='mlsec-probe-report'><p><b>mlsec probes</b> — {esc(self.model)}; "
            f"{esc(self.data)}; seed {self.seed}; {self.queries:,} queries in {self.seconds:.2f} s. "
            f"Overall: {_badge(self.status)}</p>"
        )
        return head + results_table_html(self.results) + ("<div>" + "".join(curves) + "</div>" if curves else "") + "</div>"

    def figures_html(self) -> str:
        """Matplotlib figures (robust accuracy vs ε, adversarial examples, membership scores) as inline PNGs."""
        from .plots import report_figures_html

        return report_figures_html(self, self.image_shape)

    def figures(self) -> list[Any]:
        """The report's matplotlib Figures (for saving or showing outside the panel)."""
        from . import plots

        figs = [plots.robustness_figure(self.results)]
        figs += [plots.membership_figure(r) for r in self.results if r.name.startswith("membership")]
        figs += [plots.examples_figure(r, self.image_shape) for r in self.results if r.category == "evasion"]
        return [f for f in figs if f is not None]

    def to_html(self, path: Optional[str] = None, figures: bool = True) -> str:
        body = self._repr_html_(svg=not figures) + (self.figures_html() if figures else "")
        text = (
            "<!doctype html><html><head><meta charset='utf-8'><title>mlsec probe report</title>"
            "<style>body{font-family:sans-serif}td,th{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top}</style>"
            f"</head><body>{body}</body></html>"
        )
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def __repr__(self) -> str:
        lines = [f"ProbeReport({self.model}; {len(self.results)} probes; {self.queries} queries; {self.seconds:.2f} s)"]
        for r in self.results:
            lines.append(f"  [{r.status:>9}] {r.name}: {_jsonable(r.summary)}")
        return "\n".join(lines)


# session registry for %mlsec checklist --------------------------------------------------------------
_SESSION: list[ProbeResult] = []
_LOCK = threading.Lock()
_MAX_SESSION = 500


def record(result: ProbeResult) -> ProbeResult:
    with _LOCK:
        _SESSION.append(result)
        del _SESSION[:-_MAX_SESSION]
    return result


def session_results() -> list[ProbeResult]:
    """Probe results run in this Python session, oldest first.

    Each item has `.name`, `.title`, `.status` ("pass" / "warn" / "fail" / "skipped" / "error" / "cancelled"),
    `.text` (a one-line verdict), `.advice`, `.metrics`, and `.to_dict()`; `item["status"]` works too.
    """
    with _LOCK:
        return list(_SESSION)


def clear_session_results() -> None:
    with _LOCK:
        _SESSION.clear()
