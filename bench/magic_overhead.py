"""What `%mlsec` costs a notebook user: loading the extension, and checking each cell in automatic mode.

    python bench/magic_overhead.py [--runs 7] [--cells 200]

1. `%load_ext mlsec` in fresh processes (the shell is created first and not timed), target <= 150 ms;
   also lists any heavy module (libcst, bandit, nbformat) the load imported, which must be none.
2. Automatic mode's pre-run check of a 30-line cell after 100 earlier cells, target p95 <= 15 ms.
   The 100 earlier cells are run for real (imports, data handling, model code, magics); then a fresh
   30-line cell is checked (new text every time, so it is never a cache hit; each one contains
   trigger words so it is parsed) through the same `pre_run_cell` hook IPython calls, with the
   history kept at 100 cells. The first check after `%mlsec on` (cold cache) is reported apart.
   Also: the same through `run_cell` end to end, on vs off, for cells that really execute.
3. The same check on real notebook cells: 100 code cells of the shared corpus (`../shared/corpus`
   beside the clone, or --corpus) as the history, then corpus cells of 25-35 lines, each checked once.
   Most real cells hold nothing a rule looks for and skip the parser, which this figure shows.
Wall times on a shared machine include waiting for a CPU; the CPU figures (thread CPU time) do not.
Timers are Python's perf_counter; nothing here is a test and nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LOAD_SNIPPET = r"""
import sys, time, json
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
before = set(sys.modules)
t = time.perf_counter()
ip.run_line_magic("load_ext", "mlsec")
dt = time.perf_counter() - t
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("libcst", "bandit", "nbformat", "torch", "sklearn", "numpy", "ipywidgets", "pandas"))
print(json.dumps({"seconds": dt, "heavy": heavy, "mlsec_modules": sorted(m for m in set(sys.modules) - before if m.startswith("mlsec"))}))
"""

EARLIER = [
    "import os\nimport json\nimport numpy as np\nimport pandas as pd",
    "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader",
    "import pickle as pk\nimport joblib as jb\nimport requests",
    "%pip install scikit-learn==1.5.0",
    "DATA_DIR = 'data'\nCONFIG = {'lr': 1e-3, 'epochs': 3}\nprint(CONFIG)",
    "def normalise(x):\n    m = sum(x) / len(x)\n    return [v - m for v in x]\n\nvals = normalise([1, 2, 3, 4])",
    "rows = [{'a': i, 'b': i * i} for i in range(50)]\ntotal = sum(r['b'] for r in rows)\ntotal",
    "class Net:\n    def __init__(self):\n        self.w = [0.0] * 8\n    def forward(self, x):\n        return sum(a * b for a, b in zip(self.w, x))\nnet = Net()",
    "def load_cached(path):\n    with open(path, 'rb') as fh:\n        return pk.load(fh)",
    "def fetch(url):\n    return requests.get(url, timeout=10).content",
    "!echo preparing data",
    "import yaml\ndef read_cfg(p):\n    with open(p) as fh:\n        return yaml.safe_load(fh)",
]

CELL_TEMPLATE = """\
import math
from pathlib import Path

SEED = {n}
checkpoint = Path("models") / "run_{n}.pt"
def build_features(rows):
    out = []
    for r in rows:
        out.append([r["a"] / (1 + r["b"]), math.log1p(r["b"])])
    return out

def train_step(model, batch, lr=0.01):
    grads = [0.0 for _ in model.w]
    for x in batch:
        for i, v in enumerate(x):
            grads[i % len(grads)] += v
    model.w = [w - lr * g for w, g in zip(model.w, grads)]
    return model

def restore(path=checkpoint):
    state = torch.load(path, map_location="cpu")
    return state

def download(url="https://example.org/data_{n}.json"):
    r = requests.get(url, timeout=5)
    return r.json()

feats = build_features(rows[: {k}])
net = train_step(net, feats)
summary = {{"seed": SEED, "weights": len(net.w)}}
"""


def fresh_cell(n: int) -> str:
    cell = CELL_TEMPLATE.format(n=n, k=10 + n % 30)
    assert len(cell.splitlines()) == 30, len(cell.splitlines())
    return cell


def bench_load(runs: int) -> dict:
    times, heavy, mods = [], set(), []
    env = dict(os.environ)
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], capture_output=True, text=True, env=env, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        times.append(rec["seconds"])
        heavy.update(rec["heavy"])
        mods = rec["mlsec_modules"]
    return {"runs": runs, "median_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times),
            "min_ms": 1000 * min(times), "heavy_imports": sorted(heavy), "mlsec_modules_loaded": mods}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def bench_pre_run(n_cells: int, earlier: int = 100) -> dict:
    from IPython.core.interactiveshell import ExecutionInfo, InteractiveShell

    from mlsec.magic.session import session_for

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mlsec")
    ip.user_ns["rows"] = [{"a": i, "b": i * i} for i in range(50)]
    # 100 earlier cells, run for real, mlsec off; modules the template imports are stubbed when absent
    for mod in ("numpy", "pandas", "torch", "joblib", "requests", "yaml"):
        try:
            __import__(mod)
        except ImportError:
            import types

            sys.modules[mod] = types.ModuleType(mod)
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):
        for i in range(earlier):
            src = EARLIER[i % len(EARLIER)]
            if i >= len(EARLIER):
                src = src.replace("vals", f"vals{i}").replace("total", f"total{i}").replace("CONFIG", f"CONFIG{i}")
            if src.startswith("%pip"):
                src = "# (pip line kept as text, not run)\nPINNED = 'scikit-learn==1.5.0'"
            if src.startswith("!"):
                src = "print('preparing data')"
            ip.run_cell(src, store_history=True)
    s = session_for(ip)
    assert len(s.history()) == earlier, len(s.history())
    with redirect_stdout(io.StringIO()):
        ip.run_line_magic("mlsec", "on")
    hook = s.auto.pre_run_cell
    count = ip.execution_count
    # cold: first check after `%mlsec on` analyses the 100 earlier cells once
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        hook(ExecutionInfo(fresh_cell(0), True, False, True, None))
    cold = time.perf_counter() - t0
    times, cpu = [], []
    with redirect_stdout(io.StringIO()):
        for k in range(1, n_cells + 1):
            info = ExecutionInfo(fresh_cell(k), True, False, True, None)
            c = time.thread_time()
            t = time.perf_counter()
            hook(info)
            times.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            s.auto._stop = None
    assert ip.execution_count == count and len(s.history()) == earlier
    findings = len(s.last_findings)

    # end to end: run 60 real cells with mlsec on, then the same with it off
    def run_cells(tag: str) -> list[float]:
        import gc

        gc.collect()
        out = []
        with redirect_stdout(io.StringIO()):
            for k in range(60):
                cell = f"acc_{tag} = 0\nfor i in range({k} + 10):\n    acc_{tag} += i * i\n" + "\n".join(
                    f"x{j} = acc_{tag} % {j + 7}" for j in range(26)) + "\nx0"
                t = time.perf_counter()
                ip.run_cell(cell, store_history=True)
                out.append(time.perf_counter() - t)
        return out

    on = run_cells("on")
    with redirect_stdout(io.StringIO()):
        ip.run_line_magic("mlsec", "off")
    off = run_cells("off")
    return {
        "earlier_cells": earlier,
        "checked_cells": n_cells,
        "cell_lines": 30,
        "findings_per_checked_cell": findings,
        "cold_first_check_ms": 1000 * cold,
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * pct(times, 0.95),
        "max_ms": 1000 * max(times),
        "cpu_p50_ms": 1000 * statistics.median(cpu),
        "cpu_p95_ms": 1000 * pct(cpu, 0.95),
        "run_cell_on_p50_ms": 1000 * statistics.median(on),
        "run_cell_off_p50_ms": 1000 * statistics.median(off),
        "run_cell_added_p50_ms": 1000 * (statistics.median(on) - statistics.median(off)),
        "history_at_end": len(s.history()),
    }


def corpus_cells(root: str) -> list[str]:
    from mlsec.source import SourceError, load_path

    cells: list[str] = []
    for dirpath, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".ipynb"):
                try:
                    doc = load_path(os.path.join(dirpath, name))
                except SourceError:
                    continue
                cells.extend(c.source for c in doc.code_cells if c.source.strip())
    return cells


def bench_corpus(root: str, n_cells: int, earlier: int = 100) -> dict | None:
    if not os.path.isdir(root):
        return None
    from IPython.core.interactiveshell import ExecutionInfo, InteractiveShell

    from mlsec.magic.session import session_for

    cells = corpus_cells(root)
    history = cells[:earlier]
    pool = [c for c in cells[earlier:] if 25 <= len(c.splitlines()) <= 35]
    step = max(1, len(pool) // n_cells)
    checked = pool[::step][:n_cells]
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.execution_count = 1
    for src in history:  # into the history as if run; corpus code is never executed
        ip.history_manager.store_inputs(ip.execution_count, src, src)
        ip.execution_count += 1
    import io
    from contextlib import redirect_stdout

    s = session_for(ip)
    with redirect_stdout(io.StringIO()):
        ip.run_line_magic("mlsec", "on")
    hook = s.auto.pre_run_cell
    times, cpu, with_findings = [], [], 0
    with redirect_stdout(io.StringIO()):
        for src in checked:
            c = time.thread_time()
            t = time.perf_counter()
            hook(ExecutionInfo(src, True, False, True, None))
            times.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            s.auto._stop = None
            with_findings += bool(s.last_findings)
    with redirect_stdout(io.StringIO()):
        ip.run_line_magic("mlsec", "off")
    return {
        "corpus_cells": len(cells), "earlier_cells": len(history), "checked_cells": len(checked),
        "checked_with_findings": with_findings, "failed": s.failed,
        "p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * pct(times, 0.95), "max_ms": 1000 * max(times),
        "cpu_p50_ms": 1000 * statistics.median(cpu), "cpu_p95_ms": 1000 * pct(cpu, 0.95),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh processes for the load timing")
    ap.add_argument("--cells", type=int, default=200, help="30-line cells checked for the pre-run timing")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--corpus", default=os.path.join(here, "..", "..", "shared", "corpus"),
                    help="folder of real notebooks for the realistic figure (skipped when absent)")
    args = ap.parse_args()
    load = bench_load(args.runs)
    print(f"%load_ext mlsec, fresh process x{load['runs']}: median {load['median_ms']:.1f} ms, "
          f"min {load['min_ms']:.1f} ms, max {load['max_ms']:.1f} ms (target <= 150 ms); "
          f"heavy modules imported: {load['heavy_imports'] or 'none'}")
    pre = bench_pre_run(args.cells)
    print(f"automatic mode, 30-line cell after {pre['earlier_cells']} earlier cells, {pre['checked_cells']} cells: "
          f"wall p50 {pre['p50_ms']:.2f} ms, p95 {pre['p95_ms']:.2f} ms, max {pre['max_ms']:.2f} ms (target p95 <= 15 ms); "
          f"CPU p50 {pre['cpu_p50_ms']:.2f} ms, p95 {pre['cpu_p95_ms']:.2f} ms; "
          f"first check after %mlsec on (cold) {pre['cold_first_check_ms']:.1f} ms; "
          f"{pre['findings_per_checked_cell']} findings per checked cell")
    print(f"end to end run_cell of a 30-line cell: on {pre['run_cell_on_p50_ms']:.2f} ms vs off "
          f"{pre['run_cell_off_p50_ms']:.2f} ms (p50; added {pre['run_cell_added_p50_ms']:.2f} ms; "
          f"history grew to {pre['history_at_end']} cells)")
    real = bench_corpus(args.corpus, args.cells)
    if real is None:
        print(f"real cells: corpus not found at {args.corpus}; skipped")
    else:
        print(f"real notebook cells of 25-35 lines after {real['earlier_cells']} earlier corpus cells, "
              f"{real['checked_cells']} cells ({real['checked_with_findings']} with findings): wall p50 {real['p50_ms']:.2f} ms, "
              f"p95 {real['p95_ms']:.2f} ms, max {real['max_ms']:.2f} ms; CPU p50 {real['cpu_p50_ms']:.2f} ms, "
              f"p95 {real['cpu_p95_ms']:.2f} ms")
    print(json.dumps({"load_ext": load, "pre_run": pre, "real_cells": real}, indent=1))


if __name__ == "__main__":
    main()
