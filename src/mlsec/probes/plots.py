"""Matplotlib figures for probe results (robust accuracy vs ε, adversarial examples, membership scores).

Figures are built with `matplotlib.figure.Figure` (no pyplot), so they can be drawn from the panel's
background thread without touching the notebook's plotting state.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Iterable, Optional

import numpy as np

from .report import ProbeReport, ProbeResult


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=90, layout="constrained")


def to_png_base64(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def img_tag(fig: Any, alt: str) -> str:
    return f"<img alt='{alt}' src='data:image/png;base64,{to_png_base64(fig)}'/>"


def robustness_figure(results: Iterable[ProbeResult]) -> Optional[Any]:
    curves = [(r, r.details.get("curve")) for r in results if r.details.get("curve")]
    if not curves:
        return None
    fig = _figure(4.2, 3.0)
    ax = fig.add_subplot()
    for r, c in curves:
        e, a = zip(*c)
        ax.plot(e, a, marker="o", label=r.title + (" (upper bound)" if r.upper_bound else ""))
    ax.set_xlabel("ε (fraction of feature range)")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Robust accuracy vs ε", fontsize=10)
    return fig


def examples_figure(result: ProbeResult, image_shape: Optional[tuple[int, ...]], limit: int = 6) -> Optional[Any]:
    """Originals next to adversarial versions, titled like 'bird 0.81 -> deer 0.89'."""
    ex = result.details.get("examples") or []
    if not ex or image_shape is None:
        return None
    ex = ex[:limit]
    fig = _figure(1.6 * len(ex), 3.6)
    for k, e in enumerate(ex):
        for row, (img, lab, conf) in enumerate(((e["original"], e["before"], e["before_conf"]), (e["adversarial"], e["after"], e["after_conf"]))):
            ax = fig.add_subplot(2, len(ex), row * len(ex) + k + 1)
            arr = np.asarray(img, dtype=np.float64).reshape(image_shape)
            if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
                arr = np.moveaxis(arr, 0, -1)
            if arr.ndim == 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            lo, hi = float(np.min(e["original"])), float(np.max(e["original"]))
            if arr.ndim == 3:
                arr = (arr - arr.min()) / (np.ptp(arr) + 1e-12)
                ax.imshow(arr)
            else:
                ax.imshow(arr, cmap="gray", vmin=min(lo, arr.min()), vmax=max(hi, arr.max()))
            ax.set_xticks([])
            ax.set_yticks([])
            c = f" {conf:.2f}" if conf is not None else ""
            ax.set_title(f"{lab}{c}", fontsize=8, color="black" if row == 0 else "#cf222e")
        fig.axes[-2].set_xlabel("")
    fig.suptitle(f"{result.title}: original (top) → adversarial (bottom)", fontsize=9)
    return fig


def membership_figure(result: ProbeResult) -> Optional[Any]:
    a, b = result.details.get("scores_in"), result.details.get("scores_out")
    if a is None or b is None:
        return None
    fig = _figure(4.2, 3.0)
    ax = fig.add_subplot()
    both = np.concatenate([a, b])
    bins = np.linspace(float(np.min(both)), float(np.max(both)) + 1e-9, 30)
    ax.hist(a, bins=bins, alpha=0.6, label="training rows (members)")
    ax.hist(b, bins=bins, alpha=0.6, label="held-out rows")
    ax.set_xlabel("membership score (−loss)" if "loss" in str(result.metrics.get("score", "")) else "membership score")
    ax.set_ylabel("rows")
    ax.legend(fontsize=7)
    ax.set_title(f"Membership scores (AUC {result.metrics.get('auc', float('nan')):.3f})", fontsize=10)
    return fig


def tabular_examples_html(result: ProbeResult, limit: int = 5) -> str:
    from .report import esc

    ex = [e for e in (result.details.get("examples") or []) if e.get("changes")][:limit]
    if not ex:
        return ""
    rows = []
    for e in ex:
        ch = "; ".join(f"{esc(str(n))}: {a:.4g} → {b:.4g}" for n, a, b in e["changes"])
        conf0 = f" {e['before_conf']:.2f}" if e.get("before_conf") is not None else ""
        conf1 = f" {e['after_conf']:.2f}" if e.get("after_conf") is not None else ""
        rows.append(f"<tr><td>{e['row']}</td><td>{esc(e['before'])}{conf0} → {esc(e['after'])}{conf1}</td><td>{ch}</td></tr>")
    return (
        f"<p><b>{esc(result.title)}</b>: example rows</p><table><tr><th>row</th><th>prediction</th><th>changed features</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def report_figures_html(report: ProbeReport, image_shape: Optional[tuple[int, ...]]) -> str:
    """All figures of a report as inline PNGs (plus tabular example tables)."""
    parts = []
    fig = robustness_figure(report.results)
    if fig is not None:
        parts.append(img_tag(fig, "robust accuracy vs epsilon"))
    for r in report.results:
        if r.name.startswith("membership"):
            f = membership_figure(r)
            if f is not None:
                parts.append(img_tag(f, "membership score histogram"))
    for r in report.results:
        if r.category != "evasion" or not r.details.get("examples"):
            continue
        if image_shape is not None:
            f = examples_figure(r, image_shape)
            if f is not None:
                parts.append("<div>" + img_tag(f, f"{r.title} examples") + "</div>")
        else:
            parts.append(tabular_examples_html(r))
    return "".join(parts)
