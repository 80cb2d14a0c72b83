"""Latency of the JupyterLab extension, end to end (a bench, not a timed test).

Targets:
  1. the server's lint of a 300-cell notebook, warm          <= 200 ms   (HTTP round trip)
  2. a 300-cell notebook opens with all its diagnostics      <= 3 s      (after the notebook is shown)
  3. edit -> underline after typing stops, debounce 300 ms   <= 500 ms

Starts JupyterLab (tests/lab/lab_harness.py: MLSEC_LAB_PYTHON=<venv with the wheel>, or MLSEC_LAB_DEV=1
for the tree's build) and Debian's chromium. Times are taken inside the page (performance.now():
the last keydown, the first cell in the DOM, a MutationObserver seeing the underline) or around the
HTTP call. With windowing "none" the peer is JupyterLab itself: the same notebook opened with mlsec's
labextension disabled, its time to render every cell and to go idle measured in the same run.
The open is also timed in frames: the first frame after the notebook was shown, after every cell
was rendered, and after the last diagnostic was applied (a change made inside a long task only
reaches the screen with the frame after it).
Writes bench/out/lab_latency.json.

    python bench/lab_latency.py [--cells 300] [--repeat 5] [--modes defer,full,none]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "lab"))
sys.path.insert(0, str(HERE))

import lab_harness as H  # noqa: E402
from lab_notebook import cells as make_cells  # noqa: E402

OBSERVER = """
() => {
  window.__mlsec = { shown: null, marks: [], longTasks: [] };
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) window.__mlsec.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no long-task timing in this browser */ }
  // when a change reached the screen: the first task after the next frame's rendering (a DOM change
  // inside a long task is only painted when that task and the style and layout after it are done)
  const painted = set => requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => set(performance.now());
    ch.port2.postMessage(0);
  });
  window.__mlsec.painted = {};
  const seen = new WeakSet();
  // which cell a mark is in, and its text: a mark CodeMirror redraws later is the same mark
  const markKey = m => (m.closest('.jp-Cell')?.getAttribute('data-windowed-list-index') ?? '?') + '|' + m.textContent;
  window.__mlsecMarkKey = markKey;
  const obs = new MutationObserver(() => {
    const t = performance.now();
    if (window.__mlsec.shown === null && document.querySelector('.jp-NotebookPanel .jp-Cell .cm-content')) {
      window.__mlsec.shown = t;
      painted(p => { window.__mlsec.painted.shown = p; });
    }
    if (window.__mlsec.allCells === undefined && window.__mlsecCells &&
        document.querySelectorAll('.jp-NotebookPanel .jp-Cell .cm-content').length >= window.__mlsecCells) {
      window.__mlsec.allCells = t;  // every cell's editor exists (windowing "none" only)
      painted(p => { window.__mlsec.painted.allCells = p; });
    }
    if (window.__mlsec.countAt === undefined && window.__mlsecExpected &&
        Number(document.querySelector('.mlsec-status')?.dataset.count) >= window.__mlsecExpected) {
      window.__mlsec.countAt = t;  // the status bar shows the full count
      painted(p => { window.__mlsec.painted.countAt = p; });
    }
    for (const m of document.querySelectorAll('.cm-lintRange.mlsec-mark')) {
      if (!seen.has(m)) {
        seen.add(m);
        const rec = [t, m.textContent, markKey(m), null];
        window.__mlsec.marks.push(rec);
        painted(p => { rec[3] = p; });
      }
    }
  });
  obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true,
                          attributeFilter: ['class', 'data-count'] });
  window.__mlsec.peer = [];
  window.addEventListener('keydown', () => {
    const key = window.__mlsec.lastKey = performance.now();
    if (window.__mlsecPeer) {
      // the peer for an edit: the same debounce, then a plain JupyterLab API request and its JSON,
      // through the same busy page (what any debounced request costs at that moment)
      clearTimeout(window.__mlsec.peerTimer);
      window.__mlsec.peerTimer = setTimeout(() => {
        fetch(window.__mlsecPeer, { credentials: 'same-origin' }).then(r => r.json()).then(() => {
          window.__mlsec.peer.push([key, performance.now() - key]);
        });
      }, 300);
    }
  }, true);
}
"""


def post_lint(lab: H.LabServer, payload: dict) -> tuple[float, dict]:
    data = json.dumps(payload).encode()
    req = urllib.request.Request(
        f"{lab.base}/mlsec/lint",
        data=data,
        method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        body = json.loads(r.read())
    return (time.perf_counter() - t0) * 1000, body


def bench_server(lab: H.LabServer, sources: list[str], repeat: int) -> dict:
    payload = {"path": "bench.ipynb", "cells": [{"id": f"c{i}", "source": s} for i, s in enumerate(sources)]}
    cold, body = post_lint(lab, payload)
    warm = [post_lint(lab, payload)[0] for _ in range(repeat)]
    total = sum(len(c) for c in body["cells"])
    edits = {}
    for label, idx, extra in [
        ("edit: expression line, mid notebook", len(sources) // 2, "\npk.loads(payload)"),
        ("edit: new name bound to a call, last cell", len(sources) - 1, "\nblob = pk.loads(payload)"),
        ("edit: new name bound to a call, mid notebook", len(sources) // 2 + 1, "\nblob = pk.loads(payload)"),
    ]:
        changed = json.loads(json.dumps(payload))
        changed["cells"][idx]["source"] += extra
        edits[label] = round(post_lint(lab, changed)[0], 1)
        post_lint(lab, payload)  # back to the original (warm again)
    return {
        "cells": len(sources),
        "findings": total,
        "cold_ms": round(cold, 1),
        "warm_ms_median": round(statistics.median(warm), 1),
        "warm_ms_all": [round(w, 1) for w in warm],
        **{k: v for k, v in edits.items()},
    }


def open_observed(lab: H.LabServer, browser, name: str, mode: str, globals_js: str):
    """A new page opening `name` in windowing `mode`, with the observer (and `globals_js`) installed first."""
    lab.api(
        "lab/api/settings/@jupyterlab/notebook-extension:tracker",
        {"raw": json.dumps({"windowingMode": mode})},
        method="PUT",
    )
    page = browser.new_page()
    page.add_init_script(f"{globals_js} ({OBSERVER})()")
    page.goto(lab.url(name))
    return page


def bench_open(lab: H.LabServer, browser, name: str, expected: int, mode: str, n_cells: int = 0) -> dict:
    page = open_observed(
        lab, browser, name, mode, f"window.__mlsecCells = {int(n_cells)}; window.__mlsecExpected = {int(expected)};"
    )
    try:
        page.wait_for_function("() => window.__mlsec.countAt !== undefined", timeout=120_000)
        idle = wait_idle(page)
        # all diagnostics applied: the status bar shows the full count (timed in the page by the observer,
        # not when this process gets to ask), and every mark on the cells on screen is drawn: for each
        # mark in the page now, when its text was first seen marked (CodeMirror redraws some later) and
        # the frame that first showed it
        t = page.evaluate(
            """() => {
              const m = window.__mlsec, first = new Map();
              for (const rec of m.marks) if (!first.has(rec[2])) first.set(rec[2], rec);
              const now = [...document.querySelectorAll('.cm-lintRange.mlsec-mark')].map(el => first.get(window.__mlsecMarkKey(el)));
              const latest = i => Math.max(0, ...now.map(rec => (rec && rec[i]) ?? 0));
              return {
                countAt: m.countAt, firstMark: m.marks.length ? m.marks[0][0] : null, lastMark: latest(0),
                shown: m.shown, allCells: m.allCells ?? null, painted: m.painted, lastMarkPainted: latest(3),
              };
            }"""
        )
        count_at, first_marks, shown, all_cells = t["countAt"], t["firstMark"], t["shown"], t["allCells"]
        t_done = max(count_at, t["lastMark"])
        painted = t["painted"]
        p_done = max(painted["countAt"], t["lastMarkPainted"]) if painted.get("countAt") is not None else None
        rendered = page.evaluate("() => document.querySelectorAll('.cm-lintRange.mlsec-mark').length")
        page.screenshot(path=str(H.ARTIFACTS / f"bench-open-{mode}.png"))
        return {
            "mode": mode,
            "shown_to_all_applied_ms": round(t_done - shown, 1) if shown is not None else None,
            "shown_to_full_count_ms": round(count_at - shown, 1) if shown is not None else None,
            "shown_to_first_underline_ms": round(first_marks - shown, 1) if first_marks and shown else None,
            "page_start_to_shown_ms": round(shown, 1) if shown is not None else None,
            "marks_in_dom": rendered,
            # when JupyterLab itself had every cell's editor in the page (windowing "none"), and how long
            # after that the diagnostics were all applied: the part of the open time that is mlsec's
            "shown_to_all_cells_rendered_ms": round(all_cells - shown, 1) if all_cells and shown else None,
            "all_cells_rendered_to_all_applied_ms": round(t_done - all_cells, 1) if all_cells else None,
            "shown_to_page_idle_ms": round(idle - shown, 1) if idle is not None and shown is not None else None,
            **painted_times(painted.get("shown"), painted.get("allCells"), p_done),
        }
    finally:
        page.close()


def painted_times(shown: float | None, all_cells: float | None, done: float | None = None) -> dict:
    """Times between frames: the first showing the notebook, the first after every cell was rendered
    (windowing "none") and the first showing every diagnostic."""
    out = {}
    if shown is not None and all_cells is not None:
        out["painted_shown_to_all_cells_rendered_ms"] = round(all_cells - shown, 1)
    if shown is not None and done is not None:
        out["painted_shown_to_all_applied_ms"] = round(done - shown, 1)
        if all_cells is not None:
            out["painted_all_cells_rendered_to_all_applied_ms"] = round(done - all_cells, 1)
    return out


def wait_idle(page, quiet_ms: int = 3000, limit_ms: int = 60_000) -> float | None:
    """performance.now() at the end of the page's last long task, once none has run for `quiet_ms`."""
    t0 = time.time()
    while (time.time() - t0) * 1000 < limit_ms:
        now, end = page.evaluate(
            "() => [performance.now(), Math.max(0, ...window.__mlsec.longTasks.map(([s, d]) => s + d))]"
        )
        if now - end >= quiet_ms:
            return end
        page.wait_for_timeout(250)
    return None


def bench_open_without_mlsec(lab: H.LabServer, browser, name: str, mode: str, n_cells: int) -> dict:
    """The peer for the open test: the same notebook with mlsec's labextension disabled (page_config),
    so JupyterLab's own time to render every cell and to go idle is measured in the same run."""
    assert lab.home is not None
    config = lab.home / "config" / "labconfig" / "page_config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"disabledExtensions": {"jupyter-mlsec": True}}))
    page = open_observed(lab, browser, name, mode, f"window.__mlsecCells = {int(n_cells)};")
    try:
        page.wait_for_function("() => window.__mlsec.allCells !== undefined", timeout=120_000)
        assert page.locator(".mlsec-status").count() == 0, "mlsec's labextension was not disabled"
        shown, all_cells = page.evaluate("() => [window.__mlsec.shown, window.__mlsec.allCells]")
        idle = wait_idle(page)
        p_shown, p_all_cells = page.evaluate("() => [window.__mlsec.painted.shown, window.__mlsec.painted.allCells]")
        return {
            "mode": mode,
            "shown_to_all_cells_rendered_ms": round(all_cells - shown, 1),
            "shown_to_page_idle_ms": round(idle - shown, 1) if idle is not None else None,
            **painted_times(p_shown, p_all_cells),
        }
    finally:
        page.close()
        config.unlink()


def bench_edit(
    lab: H.LabServer,
    browser,
    name: str,
    repeat: int,
    cell_indices: list[int],
    line: str,
    breakdown: list,
    settle: bool = True,
    peer: bool = False,
) -> list[float]:
    """ms from the last keydown to the new underline in the DOM; `breakdown` gets the linter's timings
    and, with `peer`, the same debounce followed by a plain JupyterLab API request (GET api/status)"""
    page = browser.new_page()
    times = []
    try:
        peer_js = f"window.__mlsecPeer = {json.dumps(lab.base + '/api/status')};" if peer else ""
        page.add_init_script(f"{peer_js} ({OBSERVER})()")
        page.goto(lab.url(name))
        H.wait_for_lab(page)
        page.wait_for_function("() => Number(document.querySelector('.mlsec-status')?.dataset.count) > 0", timeout=120_000)
        if settle:
            # JupyterLab keeps creating the editors of off-screen cells in idle time after opening
            # (defer / contentVisibility); typing during that competes with it. Wait until it is done.
            page.evaluate(
                """async () => {
                  const nb = window.jupyterapp.shell.currentWidget.content;
                  const all = Promise.all(nb.widgets.map(w => w.ready));
                  await Promise.race([all, new Promise(r => setTimeout(r, 90000))]);
                  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                }"""
            )
        page.wait_for_timeout(1000)
        for n in range(repeat):
            idx = cell_indices[n % len(cell_indices)]
            H.scroll_to_cell(page, idx)
            target = H.cell(page, idx).locator(".cm-content")
            target.scroll_into_view_if_needed()
            target.click()
            page.keyboard.press("Control+End")
            text = line.format(n=n)
            before = page.evaluate("() => window.__mlsec.marks.length")
            page.keyboard.type("\n" + text, delay=15)
            page.wait_for_function(
                "([before, text]) => window.__mlsec.marks.slice(before).some(m => text.includes(m[1]) && m[1].length > 4)",
                arg=[before, text],
                timeout=30_000,
            )
            t = page.evaluate(
                "([before, text]) => { const m = window.__mlsec.marks.slice(before).find(m => text.includes(m[1]) && m[1].length > 4);"
                " return m[0] - window.__mlsec.lastKey; }",
                [before, text],
            )
            times.append(round(t, 1))
            page.wait_for_timeout(100)
            part = json.loads(page.evaluate("() => document.querySelector('.mlsec-status').dataset.timings || '{}'"))
            if peer:
                page.wait_for_function("() => window.__mlsec.peer.some(([k]) => k === window.__mlsec.lastKey)", timeout=30_000)
                part["peer"] = round(page.evaluate(
                    "() => window.__mlsec.peer.find(([k]) => k === window.__mlsec.lastKey)[1]"
                ), 1)
            breakdown.append(part)
            page.keyboard.press("Escape")
            page.wait_for_timeout(400)
        page.screenshot(path=str(H.ARTIFACTS / "bench-edit.png"))
    finally:
        page.close()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--modes", default="", help="windowing modes for the open test (default: all this JupyterLab has)")
    args = ap.parse_args()
    H.check_prerequisites()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="mlsec-bench-"))
    sources = make_cells(args.cells)
    cold_nb = H.notebook(sources, root / "cold.ipynb")
    results: dict = {"cells": args.cells}
    lab = H.LabServer(root=root, debounce=300).start()
    try:
        with sync_playwright() as pw:
            browser = H.launch_browser(pw)
            schema = lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker")["schema"]
            prop = schema["properties"]["windowingMode"]
            modes = args.modes.split(",") if args.modes else (prop.get("enum") or [o["const"] for o in prop["oneOf"]])

            def every_cell(mode: str) -> int:
                # "every cell rendered" is a step of the open only when JupyterLab renders them all up
                # front; in the other modes it renders the rest in idle time or never
                return args.cells if mode == "none" else 0
            # 2a. cold open: the server has never seen these cells (one response carries every
            # diagnostic, so the first count in the status bar means all are applied)
            results["open_cold"] = bench_open(lab, browser, cold_nb.name, 1, modes[0], every_cell(modes[0]))
            # 1. server lint, warm (the same cells, now cached)
            results["server"] = bench_server(lab, sources, args.repeat)
            expected_total = results["server"]["findings"]
            # 2b. warm opens in every windowing mode (count must reach the full total)
            before = lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker")["raw"]
            results["open_warm"] = []
            for mode in modes:
                H.notebook(sources, root / f"open-{mode}.ipynb")
                results["open_warm"].append(
                    bench_open(lab, browser, f"open-{mode}.ipynb", expected_total, mode, every_cell(mode))
                )
            if "none" in modes:
                # the peer: JupyterLab alone opening the same notebook with every cell rendered
                H.notebook(sources, root / "open-none-without-mlsec.ipynb")
                results["open_none_without_mlsec"] = bench_open_without_mlsec(
                    lab, browser, "open-none-without-mlsec.ipynb", "none", args.cells
                )
            # 3. typing, in JupyterLab's default windowing mode: a vulnerable expression line, and a line
            # binding a new name, mid notebook and at the end
            lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker", {"raw": before}, method="PUT")
            mid, last = args.cells // 2, args.cells - 1
            results["edit_breakdown"] = {}
            for key, nb_name, where, line, settle in [
                ("edit_expression_mid_ms", "edit.ipynb", [mid, mid + 2, mid + 4], "pk.loads(payload_{n})", True),
                ("edit_new_name_last_cell_ms", "edit2.ipynb", [last], "blob_{n} = pk.loads(payload)", True),
                ("edit_new_name_mid_ms", "edit3.ipynb", [mid + 1, mid + 3], "blob_{n} = pk.loads(payload)", True),
                ("edit_expression_mid_while_lab_renders_ms", "edit4.ipynb", [mid, mid + 2], "pk.loads(p_{n})", False),
            ]:
                H.notebook(sources, root / nb_name)
                parts: list = []
                results[key] = bench_edit(lab, browser, nb_name, args.repeat, where, line, parts, settle, peer=not settle)
                results["edit_breakdown"][key] = parts
            browser.close()
    finally:
        lab.stop()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "lab_latency.json").write_text(json.dumps(results, indent=1))
    s = results["server"]
    print(f"server lint, {s['cells']} cells, {s['findings']} findings: cold {s['cold_ms']} ms (first contact after the"
          f" cold open), warm median {s['warm_ms_median']} ms (target <= 200)")
    for k in [k for k in s if k.startswith("edit:")]:
        print(f"  {k}: {s[k]} ms")
    c = results["open_cold"]
    print(f"open, cold server cache ({c['mode']}): shown -> all applied {c['shown_to_all_applied_ms']} ms")
    for o in results["open_warm"]:
        print(f"open, warm ({o['mode']}): shown -> all applied {o['shown_to_all_applied_ms']} ms (target <= 3000),"
              f" first underline {o['shown_to_first_underline_ms']} ms")
        if o.get("shown_to_all_cells_rendered_ms") is not None:
            print(f"    JupyterLab: shown -> every cell rendered {o['shown_to_all_cells_rendered_ms']} ms;"
                  f" then all diagnostics applied {o['all_cells_rendered_to_all_applied_ms']} ms later;"
                  f" page idle (no long task for 3 s) {o['shown_to_page_idle_ms']} ms after shown")
        if o.get("painted_shown_to_all_applied_ms") is not None:
            line = f"    on screen (frames): shown -> all applied {o['painted_shown_to_all_applied_ms']} ms"
            if o.get("painted_shown_to_all_cells_rendered_ms") is not None:
                line += (f"; shown -> every cell {o['painted_shown_to_all_cells_rendered_ms']} ms, all applied"
                         f" {o['painted_all_cells_rendered_to_all_applied_ms']} ms after that frame")
            print(line)
    peer = results.get("open_none_without_mlsec")
    if peer:
        print(f"open, JupyterLab without mlsec (none): shown -> every cell rendered {peer['shown_to_all_cells_rendered_ms']}"
              f" ms (on screen {peer.get('painted_shown_to_all_cells_rendered_ms')} ms),"
              f" page idle {peer['shown_to_page_idle_ms']} ms after shown")
    for key in results["edit_breakdown"]:
        v = results[key]
        print(f"{key}: median {statistics.median(v)} ms, max {max(v)} ms, all {v} (target <= 500)")
        parts = results["edit_breakdown"][key]
        if parts:
            med = {p: statistics.median(x.get(p, 0) for x in parts) for p in ("collect", "roundtrip", "server", "apply")}
            print(f"    after the 300 ms debounce, median: {med}")
            peers = [x["peer"] for x in parts if "peer" in x]
            if peers:
                print(f"    peer, the same debounce then GET api/status in the same page: median"
                      f" {statistics.median(peers)} ms, all {peers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
