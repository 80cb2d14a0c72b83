"""mlsec's speed targets, measured in one run on this machine.

1. Batch: `mlsec scan` over the corpus notebooks against `bandit -r` over the same notebooks converted to
   .py (converted once, beforehand, not timed; magics commented out as jupytext/nbconvert-to-script users
   do). Each command runs as a whole process; wall time by time.perf_counter, peak RSS of the process
   tree's largest process from resource.getrusage(RUSAGE_CHILDREN) in a fresh wrapper process per run.
     mlsec cold, bandit on      <= 1.0 x bandit
     mlsec cold, --no-bandit    <= 0.5 x bandit
     mlsec warm (cache kept)    <= 0.05 x mlsec cold
2. Live re-lint: one edited 30-line cell of a 100-cell notebook whose other cells are in the engine's
   in-memory cell cache: p95 <= 15 ms (bandit off, and bandit on for comparison); 5 rounds of 60 edits,
   the median round's p95 checked (the host's speed swings), CPU-time p95 beside it.
3. `python -c "import mlsec"` minus `python -c pass`: <= 100 ms.

Usage: python bench/scan_vs_bandit.py [--corpus DIR] [--repeats 3] [--jobs N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"

# Run one command, report its wall time and the peak RSS (KiB) of the largest process it waited for.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss}))
"""


def measure(cmd: list[str], ok_codes=(0, 1)) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
    res = json.loads(out.stdout)
    if res["rc"] not in ok_codes:
        raise SystemExit(f"command failed ({res['rc']}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return res


def median_of(runs: list[dict]) -> dict:
    return {"wall": statistics.median(r["wall"] for r in runs), "cpu": statistics.median(r["cpu"] for r in runs),
            "rss_mb": max(r["rss_kb"] for r in runs) / 1024, "runs": [round(r["wall"], 3) for r in runs]}


# ---------------------------------------------------------------------------------------------
# notebook -> .py, magics commented out (no IPython needed, so the conversion is bandit-neutral)

_MAGIC_LINE = re.compile(r"^(\s*)([%!]|(?:pip3?|conda)\s+install\b)|^\s*\w+\s*=\s*[%!]")
_PY_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")


def notebook_to_script(nb_path: Path) -> str:
    with open(nb_path, encoding="utf-8-sig") as fh:
        nb = json.load(fh)
    parts = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        lines = src.splitlines()
        if lines and lines[0].startswith("%%"):
            keep_body = lines[0].split()[0] in _PY_CELL_MAGICS
            lines = ["# " + lines[0]] + (lines[1:] if keep_body else ["# " + ln for ln in lines[1:]])
        out = []
        for ln in lines:
            m = _MAGIC_LINE.match(ln)
            if m:
                indent = re.match(r"\s*", ln).group(0)
                out.append(f"{indent}pass  # {ln.strip()}" if indent else f"# {ln}")
            else:
                out.append(ln)
        parts.append(f"# In[{i}]:\n" + "\n".join(out) + "\n")
    return "\n\n".join(parts)


def convert_corpus(corpus: Path, dest: Path) -> int:
    n = 0
    for nb in sorted(corpus.rglob("*.ipynb")):
        target = dest / nb.relative_to(corpus).with_suffix(".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_text(notebook_to_script(nb), encoding="utf-8")
            n += 1
        except (ValueError, OSError) as exc:
            print(f"  skipped {nb}: {exc}", file=sys.stderr)
    return n


# ---------------------------------------------------------------------------------------------
# 1. batch


def bench_batch(corpus: Path, repeats: int, jobs: int | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mlsec-bench-"))
    try:
        converted = work / "py"
        n = convert_corpus(corpus, converted)
        print(f"converted {n} notebooks to .py in {converted}")
        mlsec = [sys.executable, "-m", "mlsec.cli"] if not shutil.which("mlsec") else ["mlsec"]
        jflag = ["-j", str(jobs)] if jobs else []
        cache = work / "cache"
        scan = [*mlsec, "scan", str(corpus), "--format", "json", "-o", str(work / "out.json"), "-q",
                "--cache-dir", str(cache), *jflag]
        bandit = ["bandit", "-r", str(converted), "-q", "-f", "json", "-o", str(work / "bandit.json")]

        res: dict[str, dict] = {}
        runs = {"bandit": [], "cold": [], "nobandit": [], "warm": []}
        for r in range(repeats):  # interleaved, so that machine noise hits every variant alike
            runs["bandit"].append(measure(bandit))
            shutil.rmtree(cache, ignore_errors=True)
            runs["nobandit"].append(measure([*scan, "--no-bandit"]))
            shutil.rmtree(cache, ignore_errors=True)
            runs["cold"].append(measure(scan))
            runs["warm"].append(measure(scan))  # the cache the cold run just wrote
            print(f"  round {r + 1}: " + ", ".join(
                f"{k} {v[-1]['wall']:.2f} s (cpu {v[-1]['cpu']:.1f} s)" for k, v in runs.items()))
        for k, v in runs.items():
            res[k] = median_of(v)
        findings = json.loads((work / "out.json").read_text())
        res["mlsec_findings"] = len(findings.get("findings", [])) if isinstance(findings, dict) else None
        bandit_out = json.loads((work / "bandit.json").read_text())
        res["bandit_results"] = len(bandit_out.get("results", []))
        res["ratios"] = {
            "cold_vs_bandit": res["cold"]["wall"] / res["bandit"]["wall"],
            "nobandit_vs_bandit": res["nobandit"]["wall"] / res["bandit"]["wall"],
            "warm_vs_cold": res["warm"]["wall"] / res["cold"]["wall"],
        }
        # CPU seconds (all processes): less sensitive than wall time to other load on a shared machine
        res["cpu_ratios"] = {
            "cold_vs_bandit": res["cold"]["cpu"] / res["bandit"]["cpu"],
            "nobandit_vs_bandit": res["nobandit"]["cpu"] / res["bandit"]["cpu"],
            "warm_vs_cold": res["warm"]["cpu"] / res["cold"]["cpu"],
        }
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# 2. live re-lint of one cell

_CELL_TEMPLATE = """\
# step {i}: load, clean and score batch {i}
import torch
import pandas as pd
import requests
from sklearn.metrics import f1_score

BATCH_{i} = "data/batch_{i}.parquet"
frame_{i} = pd.read_parquet(BATCH_{i})
frame_{i} = frame_{i}.dropna(subset=["label"])
frame_{i}["amount"] = frame_{i}["amount"].clip(lower=0)
features_{i} = [c for c in frame_{i}.columns if c.startswith("f_")]
x_{i} = torch.tensor(frame_{i}[features_{i}].to_numpy(), dtype=torch.float32)
y_{i} = torch.tensor(frame_{i}["label"].to_numpy())
state_{i} = torch.load("checkpoints/step_{i}.pt", weights_only=True)
net.load_state_dict(state_{i})
with torch.no_grad():
    logits_{i} = net(x_{i})
    pred_{i} = logits_{i}.argmax(dim=1)
score_{i} = f1_score(y_{i}.numpy(), pred_{i}.numpy(), average="macro")
history.append({{"step": {i}, "f1": score_{i}}})
if score_{i} < 0.5:
    resp = requests.post(ALERT_URL, json={{"step": {i}, "f1": score_{i}}}, timeout=10)
    resp.raise_for_status()
summary_{i} = frame_{i}.groupby("segment")["label"].mean()
print(f"step {i}: f1={{score_{i}:.3f}}")
for name, value in summary_{i}.items():
    print(name, round(value, 3))
del x_{i}, y_{i}, logits_{i}
torch.cuda.empty_cache() if torch.cuda.is_available() else None
checkpoint_{i} = {{"step": {i}, "f1": score_{i}}}
"""


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))]


def host_speed_ms() -> float:
    """A fixed pure-Python loop (3M additions), best of 3: this shared host's speed drifts by up to 2x,
    so every figure here should be read next to this one (130-140 ms was the fastest seen here)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        s = 0
        for i in range(3_000_000):
            s += i
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


def bench_relint(edits: int = 60, rounds: int = 5) -> dict:
    """Rounds of `edits` distinct edits (each a cache miss for the edited cell only). This machine's speed
    swings by up to 2x from second to second (shared host), so each round's p95 is reported and the
    median round is the figure checked; CPU time per edit is reported beside wall time."""
    from mlsec.config import Config
    from mlsec.engine import analyze
    from mlsec.source import from_cells

    cells = [_CELL_TEMPLATE.format(i=i) for i in range(100)]
    assert all(c.count("\n") == 30 for c in cells), [c.count("\n") for c in cells[:2]]
    out = {}
    for bandit in (False, True):
        cfg = Config(bandit=bandit)
        analyze(from_cells(cells, "live.ipynb"), cfg)  # warm: every cell in the cell cache
        per_round = []
        all_wall: list[float] = []
        all_cpu: list[float] = []
        for r in range(rounds):
            wall, cpu = [], []
            for k in range(edits):
                n = r * 1000 + k + 1
                edited = list(cells)
                i = 50 + k % 10
                edited[i] = cells[i].replace("clip(lower=0)", f"clip(lower={n})").replace(
                    "weights_only=True", "weights_only=True" if k % 2 else "weights_only=False")
                c0, t0 = time.process_time(), time.perf_counter()
                analyze(from_cells(edited, "live.ipynb"), cfg)
                wall.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            per_round.append({"p50_ms": round(statistics.median(wall), 2), "p95_ms": round(_p95(wall), 2),
                              "cpu_p95_ms": round(_p95(cpu), 2)})
            all_wall += wall
            all_cpu += cpu
        out["bandit" if bandit else "no_bandit"] = {
            "p95_ms": statistics.median(r["p95_ms"] for r in per_round),  # the median round
            "p50_ms": statistics.median(all_wall),
            "pooled_p95_ms": _p95(all_wall),
            "cpu_p95_ms": _p95(all_cpu),
            "rounds": per_round,
        }
        # the same with every cell a miss, for scale
        t0 = time.perf_counter()
        analyze(from_cells([c + f"\n# cold {bandit}\n" for c in cells], "cold.ipynb"), cfg)
        out["bandit" if bandit else "no_bandit"]["whole_notebook_cold_ms"] = (time.perf_counter() - t0) * 1000
    return out


# ---------------------------------------------------------------------------------------------
# 3. import overhead


def bench_import(repeats: int = 15) -> dict:
    def best(code: str) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return min(times)  # the least disturbed run: other load only ever adds time

    base, imp = best("pass"), best("import mlsec")
    # the interpreter's own accounting of the import, immune to start-up noise on a busy machine
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mlsec"], capture_output=True, text=True)
    cumulative = [int(ln.split("|")[1]) for ln in out.stderr.splitlines() if ln.rstrip().endswith("| mlsec")]
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, mlsec; print(sorted({m.split('.')[0] for m in sys.modules} & "
         "{'libcst', 'bandit', 'nbformat', 'torch', 'sklearn', 'art', 'numpy', 'IPython'}))"],
        capture_output=True, text=True).stdout.strip()
    return {"python_pass_ms": base * 1000, "import_mlsec_ms": imp * 1000, "overhead_ms": (imp - base) * 1000,
            "importtime_mlsec_ms": cumulative[0] / 1000 if cumulative else None, "heavy_modules_loaded": heavy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="passed to mlsec scan -j (default: mlsec's choice)")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    results: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        from importlib.metadata import version

        results["bandit"] = version("bandit")
        results["libcst"] = version("libcst")
    except Exception:
        pass
    print("== import overhead")
    results["import"] = bench_import()
    print(json.dumps(results["import"], indent=1))
    print("== live re-lint of one edited cell (100 cells x 30 lines)")
    results["host_speed_before_ms"] = host_speed_ms()
    results["relint"] = bench_relint()
    results["host_speed_after_ms"] = host_speed_ms()
    print(f"host speed check (3M-iteration loop; 130-140 ms at its fastest): {results['host_speed_before_ms']} ms before,"
          f" {results['host_speed_after_ms']} ms after")
    print(json.dumps(results["relint"], indent=1))
    if not args.skip_batch:
        if not args.corpus.is_dir():
            print(f"corpus not found at {args.corpus}", file=sys.stderr)
            return 2
        print(f"== batch over {args.corpus} ({args.repeats} rounds)")
        results["batch"] = bench_batch(args.corpus, args.repeats, args.jobs)
        print(json.dumps(results["batch"], indent=1))

    print("\n== targets")
    checks = [("import overhead <= 100 ms", results["import"]["overhead_ms"], 100),
              ("re-lint p95 (bandit off) <= 15 ms", results["relint"]["no_bandit"]["p95_ms"], 15),
              ("re-lint p95 (bandit on) <= 15 ms", results["relint"]["bandit"]["p95_ms"], 15)]
    if "batch" in results:
        r = results["batch"]["ratios"]
        checks += [("cold, bandit on / bandit -r <= 1.0", r["cold_vs_bandit"], 1.0),
                   ("cold, --no-bandit / bandit -r <= 0.5", r["nobandit_vs_bandit"], 0.5),
                   ("warm / cold <= 0.05", r["warm_vs_cold"], 0.05)]
        c = results["batch"]["cpu_ratios"]
        print(f"  (cpu-time ratios: cold/bandit {c['cold_vs_bandit']:.3f}, no-bandit/bandit "
              f"{c['nobandit_vs_bandit']:.3f}, warm/cold {c['warm_vs_cold']:.3f})")
    for name, value, limit in checks:
        print(f"  {'PASS' if value <= limit else 'MISS'}  {name}: {value:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
