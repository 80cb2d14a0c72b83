"""Batch scanning: discovery, worker processes, deterministic order, the on-disk cache, baselines, bad files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlsec import scan as scan_mod
from mlsec.baseline import Baseline, BaselineError
from mlsec.baseline import write as write_baseline
from mlsec.cache import Cache, code_fingerprint
from mlsec.config import Config
from mlsec.scan import discover, scan

NATIVE = Config(bandit=False)
PICKLE_CELL = "import pickle\nwith open('m.pkl', 'rb') as f:\n    model = pickle.load(f)\n"


def notebook(*sources: str, language: str = "python") -> str:
    cells = [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
        for i, s in enumerate(sources)
    ]
    meta = {"kernelspec": {"name": "k", "display_name": "k", "language": language}, "language_info": {"name": language}}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells})


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def rel(report, root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in dict.fromkeys(f.file for f in report.findings)]


def files_of(paths, config=NATIVE):
    from mlsec.scan import ConfigSet

    errors, failed, notes = [], [], []
    targets = discover(paths, ConfigSet(config=config), errors, failed, notes)
    return [t.path for t in targets], errors, failed, notes


# -- discovery ------------------------------------------------------------------------------------------


def test_discovery_skips_tool_and_environment_folders(tmp_path):
    keep = ["a.py", "nb/b.ipynb", "src/build_steps/c.py", "build/d.py", "dist/e.py", "pkg/x.ipynb/inner.py"]
    skip = [
        ".git/hooks/h.py", ".venv/lib/v.py", "venv/lib/v.py", "env3/lib/v.py", "node_modules/m/n.py",
        "nb/.ipynb_checkpoints/b-checkpoint.ipynb", "__pycache__/c.py", "lib/site-packages/s.py", ".tox/py/t.py",
        "build2/lib/b.py", "pkg.egg-info/p.py", "dist2/x.py", ".mlsec_cache/v1/x.py",
    ]
    for p in keep + skip:
        write(tmp_path / p, "x = 1\n")
    write(tmp_path / "env3" / "pyvenv.cfg", "home = /usr\n")  # a virtualenv under any name
    write(tmp_path / "notes.txt", "not code")
    # build/ and dist/ holding packaging artifacts are skipped; a source folder called build is not
    os.rename(tmp_path / "build2", tmp_path / "build_tmp")
    (tmp_path / "artifacts").mkdir()
    write(tmp_path / "artifacts" / "build" / "lib" / "pkg.py", "x = 1\n")
    write(tmp_path / "artifacts" / "dist" / "pkg-1.0-py3-none-any.whl", b"PK")
    write(tmp_path / "artifacts" / "dist" / "helper.txt", "x")
    found, errors, failed, _ = files_of([str(tmp_path)])
    names = sorted(os.path.relpath(p, tmp_path) for p in found)
    assert names == sorted(keep + ["build_tmp/lib/b.py", "dist2/x.py"])
    # a folder named like a notebook is reported once and walked as a folder
    assert [(os.path.relpath(e.path, tmp_path), "directory" in e.message) for e in errors] == [("pkg/x.ipynb", True)]
    assert failed == []


def test_discovery_order_is_sorted_and_duplicates_are_dropped(tmp_path):
    for p in ["b/z.py", "b/a.py", "a.py", "c.ipynb"]:
        write(tmp_path / p, "x = 1\n")
    found, *_ = files_of([str(tmp_path / "b"), str(tmp_path), str(tmp_path / "a.py")])
    assert [os.path.relpath(p, tmp_path) for p in found] == ["b/a.py", "b/z.py", "a.py", "c.ipynb"]


def test_explicit_files_of_any_name_are_scanned_and_missing_paths_are_errors(tmp_path):
    script = write(tmp_path / "train", "import pickle\npickle.loads(b)\n")  # a script without .py (pre-commit passes these)
    report = scan([str(script), str(tmp_path / "missing.ipynb")], NATIVE, use_cache=False)
    assert [f.rule_id for f in report.findings] == ["MLS101"]
    assert [(e.path, e.message) for e in report.errors] == [(str(tmp_path / "missing.ipynb"), "no such file or directory")]
    assert report.failed == [str(tmp_path / "missing.ipynb")]


def test_exclude_globs_prune_the_walk_and_skip_named_files(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.mlsec]\nexclude = ["scratch/**", "*_gen.py"]\nbandit = false\n')
    write(tmp_path / "scratch" / "a.py", PICKLE_CELL)
    write(tmp_path / "src" / "model_gen.py", PICKLE_CELL)
    write(tmp_path / "src" / "train.py", PICKLE_CELL)
    report = scan([str(tmp_path)], use_cache=False)
    assert rel(report, tmp_path) == ["src/train.py"]
    named = scan([str(tmp_path / "scratch" / "a.py")], use_cache=False)
    assert named.findings == [] and "exclude" in named.notes[0]


def test_fifo_is_not_opened(tmp_path):
    fifo = tmp_path / "pipe.ipynb"
    os.mkfifo(fifo)
    report = scan([str(fifo), str(tmp_path)], NATIVE, use_cache=False)  # reading it would block forever
    assert [e.message for e in report.errors] == ["not a regular file (a device, socket or pipe); skipped"]


# -- bad files: one clear error each, and the scan goes on --------------------------------------------------


def bad_tree(root: Path) -> dict[str, str]:
    """name -> the words its error message must contain ('' = no error expected)."""
    write(root / "good.ipynb", notebook(PICKLE_CELL))
    write(root / "empty.ipynb", "")
    write(root / "binary.ipynb", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    write(root / "invalid.ipynb", '{"cells": [ {"cell_type": "code", ')
    write(root / "julia.ipynb", notebook("using Flux\nmodel = BSON.load(\"m.bson\")", language="julia"))
    write(root / "nul_cell.ipynb", notebook("import pickle\nx = 1\x00\n", "pickle.loads(b)"))
    write(root / "long_cell.ipynb", notebook("import pickle\n" + "x = 1\n" * 100_000 + "pickle.loads(b)\n"))
    (root / "folder.ipynb").mkdir()
    write(root / "folder.ipynb" / "inside.py", PICKLE_CELL)
    return {
        "empty.ipynb": "empty file",
        "binary.ipynb": "binary file",
        "invalid.ipynb": "invalid notebook JSON",
        "julia.ipynb": "'julia', not Python",
        "folder.ipynb": "directory, not a notebook",
    }


def test_each_bad_file_gets_one_error_and_the_rest_is_scanned(tmp_path):
    expected = bad_tree(tmp_path)
    report = scan([str(tmp_path)], NATIVE, use_cache=False)
    errors = {os.path.relpath(e.path, tmp_path): e.message for e in report.errors}
    assert sorted(errors) == sorted(expected)  # exactly one entry per bad file
    for name, words in expected.items():
        assert words in errors[name], (name, errors[name])
    # hard failures make the scan incomplete; a foreign kernel and a folder are only reported
    assert sorted(os.path.relpath(p, tmp_path) for p in report.failed) == ["binary.ipynb", "empty.ipynb", "invalid.ipynb"]
    hits = {(os.path.relpath(f.file, tmp_path), f.rule_id, f.cell_index) for f in report.findings}
    assert ("good.ipynb", "MLS101", 0) in hits
    assert ("folder.ipynb/inside.py", "MLS101", None) in hits
    assert ("nul_cell.ipynb", "MLS001", 0) in hits and ("nul_cell.ipynb", "MLS101", 1) in hits
    long_msgs = [f.message for f in report.findings if f.file.endswith("long_cell.ipynb")]
    assert long_msgs and "line limit" in long_msgs[0]
    assert report.files == 8


def test_unreadable_file_is_an_error_entry(tmp_path, monkeypatch):
    good = write(tmp_path / "good.py", PICKLE_CELL)
    locked = write(tmp_path / "locked.ipynb", notebook(PICKLE_CELL))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads mode-000 files: make the open fail the way it fails for a user
        real_open = open

        def guarded_open(file, *args, **kwargs):
            if os.fspath(file) == str(locked):
                raise PermissionError(13, "Permission denied", str(locked))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", guarded_open)
    try:
        report = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=1)
    finally:
        locked.chmod(0o644)
    assert [(e.path, e.message) for e in report.errors] == [(str(locked), "cannot read: Permission denied")]
    assert report.failed == [str(locked)]
    assert [f.file for f in report.findings] == [str(good)]


# -- workers ---------------------------------------------------------------------------------------------


def project(root: Path, n: int = 9) -> Path:
    for i in range(n):
        cells = [PICKLE_CELL if i % 2 else "x = 1", "import yaml\ncfg = yaml.load(open('c.yml'))", "print(1)"]
        write(root / f"nb{i:02d}.ipynb", notebook(*cells))
        write(root / "pkg" / f"mod{i}.py", "import torch\nm = torch.load('w.pt', weights_only=False)\n" * (i % 3))
    return root


def test_parallel_results_match_serial_in_the_same_order(tmp_path):
    project(tmp_path)
    serial = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=1)
    parallel = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=2)
    assert serial.jobs == 1 and parallel.jobs == 2
    assert len(serial.findings) >= 15
    assert [f.to_dict() for f in parallel.findings] == [f.to_dict() for f in serial.findings]
    assert (parallel.files, parallel.cells, parallel.errors) == (serial.files, serial.cells, serial.errors)


def test_default_jobs_stay_in_process_for_small_scans(tmp_path):
    write(tmp_path / "a.py", PICKLE_CELL)
    assert scan([str(tmp_path)], NATIVE, use_cache=False).jobs == 1


def _force_fork(monkeypatch):
    """These tests patch the analysis in this process; only forked workers inherit the patch (other
    tests of the suite may leave threads behind, which would make the scan spawn)."""
    import multiprocessing

    monkeypatch.setattr(scan_mod, "_mp_context", lambda: multiprocessing.get_context("fork"))


def test_a_worker_that_dies_costs_only_its_file(tmp_path, monkeypatch):
    project(tmp_path, n=6)
    victim = str(tmp_path / "nb03.ipynb")
    real = scan_mod.analyse_file

    def crashing(path, config, data=None):
        if path == victim:
            os._exit(3)  # what a segfault in a native parser looks like to the pool
        return real(path, config, data)

    monkeypatch.setattr(scan_mod, "analyse_file", crashing)  # workers are forked, so they inherit it
    _force_fork(monkeypatch)
    report = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=2)
    assert report.failed == [victim]
    assert [e.message for e in report.errors] == ["the analysis process crashed or ran over the 300 s limit on this file; skipped"]
    assert {f.file for f in report.findings} >= {str(tmp_path / "nb01.ipynb"), str(tmp_path / "nb05.ipynb")}


def test_a_file_that_hangs_is_cut_off_by_the_time_limit(tmp_path, monkeypatch):
    import time

    project(tmp_path, n=4)
    victim = str(tmp_path / "nb02.ipynb")
    real = scan_mod.analyse_file

    def hanging(path, config, data=None):
        if path == victim:
            time.sleep(600)  # like libcst on a 10,000-term `a + b + ...` line
        return real(path, config, data)

    monkeypatch.setattr(scan_mod, "analyse_file", hanging)
    _force_fork(monkeypatch)
    t0 = time.perf_counter()
    report = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=2, file_timeout=1)
    assert time.perf_counter() - t0 < 60
    assert report.failed == [victim] and "1 s limit" in report.errors[0].message
    assert len({f.file for f in report.findings}) >= 5


def test_spawned_workers_when_other_threads_run(tmp_path, monkeypatch):
    """In a Jupyter kernel (`%mlsec scan`) other threads run; forking then is unsafe, so workers are spawned."""
    import threading

    project(tmp_path, n=3)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert scan_mod._mp_context().get_start_method() == "spawn"
        spawned = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=2)
    finally:
        stop.set()
        thread.join()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert scan_mod._mp_context().get_start_method() == "fork"
    monkeypatch.undo()
    serial = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=1)
    assert spawned.jobs == 2 and spawned.notes == []
    assert [f.to_dict() for f in spawned.findings] == [f.to_dict() for f in serial.findings]


def test_no_worker_processes_falls_back_to_in_process(tmp_path, monkeypatch):
    project(tmp_path, n=3)

    class NoPool:
        def __init__(self, *a, **k):
            raise OSError(38, "Function not implemented")  # e.g. no /dev/shm for semaphores

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", NoPool)
    report = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=2)
    serial = scan([str(tmp_path)], NATIVE, use_cache=False, jobs=1)
    assert report.failed == [] and "in this process" in report.notes[0]
    assert [f.to_dict() for f in report.findings] == [f.to_dict() for f in serial.findings]


def test_progress_reports_every_file(tmp_path):
    project(tmp_path, n=3)
    seen = []
    scan([str(tmp_path)], NATIVE, use_cache=False, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)


# -- cache -----------------------------------------------------------------------------------------------


def test_warm_scan_uses_the_cache_and_gives_the_same_report(tmp_path):
    project(tmp_path / "p")
    cache = tmp_path / "cache"
    cold = scan([str(tmp_path / "p")], NATIVE, cache_dir=str(cache), jobs=2)
    warm = scan([str(tmp_path / "p")], NATIVE, cache_dir=str(cache), jobs=2)
    assert (cold.cached, cold.analysed) == (0, 18)
    assert (warm.cached, warm.analysed, warm.jobs) == (18, 0, 1)
    assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in cold.findings]
    assert warm.cells == cold.cells
    assert (cache / ".gitignore").read_text().strip().endswith("*")
    assert (cache / "CACHEDIR.TAG").exists()


def test_changed_file_or_config_is_a_miss(tmp_path):
    project(tmp_path / "p", n=3)
    cache = str(tmp_path / "cache")
    scan([str(tmp_path / "p")], NATIVE, cache_dir=cache)
    write(tmp_path / "p" / "nb00.ipynb", notebook(PICKLE_CELL))
    again = scan([str(tmp_path / "p")], NATIVE, cache_dir=cache)
    assert (again.cached, again.analysed) == (5, 1)
    assert any(f.file.endswith("nb00.ipynb") and f.rule_id == "MLS101" for f in again.findings)
    other = scan([str(tmp_path / "p")], Config(bandit=False, ignore=["MLS106"]), cache_dir=cache)
    assert other.cached == 0 and not [f for f in other.findings if f.rule_id == "MLS106"]


def test_corrupt_cache_entries_are_ignored_and_rewritten(tmp_path):
    project(tmp_path / "p", n=2)
    cache = tmp_path / "cache"
    cold = scan([str(tmp_path / "p")], NATIVE, cache_dir=str(cache))
    entries = sorted((cache / "v1").rglob("*.json"))
    assert len(entries) == 4
    entries[0].write_text('{"key": "truncat')
    entries[1].write_bytes(b"\x00\xff")
    entries[2].write_text(json.dumps({"key": "another", "findings": [], "errors": []}))
    warm = scan([str(tmp_path / "p")], NATIVE, cache_dir=str(cache))
    assert (warm.cached, warm.analysed) == (1, 3)
    assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in cold.findings]
    assert scan([str(tmp_path / "p")], NATIVE, cache_dir=str(cache)).cached == 4


def test_unwritable_cache_is_a_note_not_a_failure(tmp_path):
    write(tmp_path / "a.py", PICKLE_CELL)
    blocker = write(tmp_path / "not_a_dir", "x")  # a file where the cache folder should be
    report = scan([str(tmp_path / "a.py")], NATIVE, cache_dir=str(blocker))
    assert [f.rule_id for f in report.findings] == ["MLS101"]
    assert report.failed == [] and any("cache not written" in n for n in report.notes)


def test_cache_key_depends_on_code_config_path_and_content(tmp_path):
    c = Cache(str(tmp_path), code_fingerprint(False) + "|" + NATIVE.fingerprint())
    base = c.key("a.ipynb", "d1")
    assert base == Cache(str(tmp_path), c.salt).key("a.ipynb", "d1")
    assert len({base, c.key("b.ipynb", "d1"), c.key("a.ipynb", "d2"),
                Cache(str(tmp_path), c.salt + "x").key("a.ipynb", "d1")}) == 4
    assert code_fingerprint(False) != code_fingerprint(True)


def test_warm_scan_imports_no_parser_and_parses_no_notebook(tmp_path):
    project(tmp_path / "p", n=4)
    cache = str(tmp_path / "cache")
    scan([str(tmp_path / "p")], Config(), cache_dir=cache)  # bandit on: its findings are cached too
    probe = f"""
import json, sys
import mlsec.source as source
def no_parse(*a, **k):
    raise AssertionError("a notebook was parsed on a warm scan")
source.load_notebook_text = no_parse
from mlsec.config import Config
from mlsec.scan import scan
r = scan([{str(tmp_path / 'p')!r}], Config(), cache_dir={cache!r})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('libcst', 'bandit', 'nbformat', 'IPython'))
print(json.dumps([r.cached, r.analysed, len(r.findings), heavy]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cached, analysed, n, heavy = json.loads(out.stdout)
    assert (cached, analysed, heavy) == (8, 0, [])
    assert n > 0


# -- baselines -------------------------------------------------------------------------------------------


def test_baseline_hides_known_findings_and_survives_cells_moving(tmp_path):
    nb = tmp_path / "nb.ipynb"
    write(nb, notebook("x = 1", PICKLE_CELL))
    first = scan([str(nb)], NATIVE, use_cache=False)
    base = tmp_path / "mlsec-baseline.json"
    assert write_baseline(str(base), first.findings) == 1
    saved = json.loads(base.read_text())
    assert saved["tool"] == "mlsec" and saved["findings"][0]["file"] == "nb.ipynb"
    # the cell moves down and a new finding appears
    write(nb, notebook("# a new first cell", "x = 1", "y = 2", PICKLE_CELL, "import pickle\npickle.loads(blob)"))
    later = scan([str(nb)], NATIVE, use_cache=False)
    new, hidden = Baseline.load(str(base)).filter(later.findings)
    assert hidden == 1
    assert [(f.rule_id, f.cell_index) for f in new] == [("MLS101", 4)]


def test_baseline_counts_duplicates(tmp_path):
    nb = tmp_path / "nb.ipynb"
    write(nb, notebook(PICKLE_CELL, PICKLE_CELL))
    report = scan([str(nb)], NATIVE, use_cache=False)
    base = tmp_path / "b.json"
    write_baseline(str(base), report.findings[:1])
    new, hidden = Baseline.load(str(base)).filter(report.findings)
    assert (len(new), hidden) == (1, 1)


def test_baseline_matches_from_another_working_folder(tmp_path, monkeypatch):
    nb = write(tmp_path / "sub" / "nb.ipynb", notebook(PICKLE_CELL))
    monkeypatch.chdir(tmp_path)
    report = scan(["sub"], NATIVE, use_cache=False)
    write_baseline("base.json", report.findings)
    monkeypatch.chdir(tmp_path / "sub")
    again = scan(["."], NATIVE, use_cache=False)
    assert again.findings[0].file == "nb.ipynb" and nb.exists()
    assert Baseline.load(str(tmp_path / "base.json")).filter(again.findings) == ([], 1)


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"), ("{", "not valid JSON"), ("[]", "not an mlsec baseline"),
    ('{"tool": "mlsec"}', "no \"findings\" list"),
])
def test_bad_baselines_are_clear_errors(tmp_path, content, words):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError, match=words):
        Baseline.load(str(path))
