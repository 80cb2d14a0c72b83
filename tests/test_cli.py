"""`mlsec` end to end: formats, colour, config and flags, suppressions, baselines, exit codes, bad input, rules."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlsec import cli
from mlsec.rules.base import all_rules

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PICKLE = "import pickle\nwith open('m.pkl', 'rb') as f:\n    model = pickle.load(f)\n"
TOKEN = "hf_" + "Qm7Vx2Lp9Rt4Zk8Wn3Bd6Hs1Jc5Fy0Ga"  # format-valid, made up


def notebook(*cells, language="python") -> str:
    out = []
    for i, c in enumerate(cells):
        cell = c if isinstance(c, dict) else {"source": c}
        out.append({"cell_type": "code", "id": f"c{i}", "metadata": cell.get("metadata", {}), "execution_count": None,
                    "outputs": cell.get("outputs", []), "source": cell["source"]})
    meta = {"kernelspec": {"name": "k", "display_name": "k", "language": language}, "language_info": {"name": language}}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": out})


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own folder (the cache goes there) with a plain environment."""
    monkeypatch.chdir(tmp_path)
    for var in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys, *args: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "scan", "--format", "json", *args)
    return code, json.loads(out), err


def ids(doc: dict) -> list[str]:
    return [f["rule_id"] for f in doc["findings"]]


# -- the demo notebooks, from the repo root as the README says ---------------------------------------


def test_demo_notebooks_from_the_repo_root(tmp_path):
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlsec.cli", "scan", "demo_notebooks", "--format", "json", "--cache-dir",
         str(tmp_path / "cache")], cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    by_file: dict[str, set[str]] = {}
    for f in doc["findings"]:
        by_file.setdefault(os.path.basename(f["file"]), set()).add(f["rule_id"])
    assert "clean_training.ipynb" not in by_file  # the clean notebook is clean, bandit included
    fraud = by_file["fraud_model_training.ipynb"]
    # pickles and checkpoints, a pasted token, http download, tarball, public demo, pip index, leaked output
    assert {"MLS101", "MLS103", "MLS201", "MLS403", "MLS304", "MLS506", "MLS602", "MLS207"} <= fraud
    assert doc["errors"] == []
    assert "hf_MLSEC" not in proc.stdout and "ghp_MLSEC" not in proc.stdout  # tokens masked
    assert "finding" in proc.stderr.lower()  # the summary goes to stderr for machine formats


def test_demo_notebooks_are_valid_nbformat_4_5():
    import nbformat

    for name in ("fraud_model_training.ipynb", "clean_training.ipynb"):
        nb = nbformat.read(REPO / "demo_notebooks" / name, as_version=4)
        nbformat.validate(nb)
        assert nb.nbformat_minor == 5 and all(c.get("id") for c in nb.cells)
        assert nb.metadata.kernelspec.language == "python" and nb.metadata.language_info.name == "python"


# -- formats and output -----------------------------------------------------------------------------


def test_text_report_has_locations_frames_and_summary(capsys, in_tmp):
    write(in_tmp / "nb.ipynb", notebook("x = 1", PICKLE))
    code, out, err = run(capsys, "scan", "nb.ipynb", "--no-bandit")
    assert code == 1
    assert "nb.ipynb" in out and "MLS101" in out and "cell 2" in out
    assert "pickle.load(f)" in out  # the code frame
    assert "1 high" in out and re.search(r"\d+\.\d\d s", out)  # the summary footer on stdout
    assert not ANSI.search(out)  # not a terminal
    assert err == ""


def test_json_sarif_github_and_output_file(capsys, in_tmp):
    write(in_tmp / "nb.ipynb", notebook(PICKLE, f"token = '{TOKEN}'"))
    code, doc, err = scan_json(capsys, "nb.ipynb", "--no-bandit")
    assert code == 1 and set(ids(doc)) == {"MLS101", "MLS201"}
    assert doc["summary"]["findings"] == 2 and "2 findings" in err.lower()
    assert TOKEN not in json.dumps(doc)

    code, out, err = run(capsys, "scan", "nb.ipynb", "--no-bandit", "--format", "sarif", "-o", "out.sarif")
    assert code == 1 and out == ""
    sarif = json.loads((in_tmp / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["MLS101", "MLS201"]
    assert TOKEN not in (in_tmp / "out.sarif").read_text()

    code, out, err = run(capsys, "scan", "nb.ipynb", "--no-bandit", "--format", "github")
    lines = [ln for ln in out.splitlines() if ln.startswith("::")]
    assert code == 1 and len(lines) == 2 and all("nb.ipynb" in ln for ln in lines)

    code, out, err = run(capsys, "scan", "nb.ipynb", "--no-bandit", "-o", "report.txt")
    text = (in_tmp / "report.txt").read_text()
    assert code == 1 and out == "" and "MLS101" in text and "2 findings" in err.lower()


def test_unwritable_output_is_exit_2(capsys, in_tmp):
    write(in_tmp / "a.py", "x = 1\n")
    code, out, err = run(capsys, "scan", "a.py", "-o", str(in_tmp / "missing-dir" / "r.json"), "--format", "json")
    assert code == 2 and "cannot write" in err


def _run_on_tty(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run mlsec with stdout and stderr on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mlsec.cli", *args], stdout=slave, stderr=slave, cwd=cwd,
                            env={**os.environ, "TERM": "xterm", **env})
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(capsys, in_tmp):
    write(in_tmp / "nb.ipynb", notebook(PICKLE))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    args = ["scan", "nb.ipynb", "--no-bandit", "--no-cache"]
    assert ANSI.search(_run_on_tty(args, {}, in_tmp))
    no_color = _run_on_tty(args, {"NO_COLOR": "1"}, in_tmp)
    assert "MLS101" in no_color and not ANSI.search(no_color)
    assert not ANSI.search(_run_on_tty([*args, "--color", "never"], {}, in_tmp))
    piped = subprocess.run([sys.executable, "-m", "mlsec.cli", *args], capture_output=True, text=True, cwd=in_tmp,
                           env=env, timeout=120)
    assert "MLS101" in piped.stdout and not ANSI.search(piped.stdout + piped.stderr)
    code, out, _ = run(capsys, *args, "--color", "always")
    assert ANSI.search(out)


def test_progress_bar_draws_after_the_delay_and_clears():
    class Tty:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Tty()
    bar = cli.Progress(stream, enabled=True, delay=0.0)
    bar(5, 10)
    assert "[" + "#" * 15 in stream.text and "5/10 files" in stream.text
    bar.close()
    assert stream.text.endswith("\r")
    quiet = Tty()
    slow = cli.Progress(quiet, enabled=True, delay=3600)
    slow(1, 10)  # not yet a second (here: an hour) into the scan
    off = cli.Progress(quiet, enabled=False, delay=0.0)
    off(1, 10)
    slow.close()
    assert quiet.text == ""


def test_quiet_prints_nothing_on_stderr_for_machine_formats(capsys, in_tmp):
    write(in_tmp / "a.py", PICKLE)
    code, out, err = run(capsys, "scan", "a.py", "--format", "json", "-q", "--no-bandit")
    assert code == 1 and err == "" and json.loads(out)["findings"]


# -- config and flags ---------------------------------------------------------------------------------


def test_pyproject_config_and_flag_overrides(capsys, in_tmp):
    write(in_tmp / "pyproject.toml", '[tool.mlsec]\nignore = ["MLS101"]\nbandit = false\nfail-on = "high"\n')
    write(in_tmp / "nb" / "a.ipynb", notebook(PICKLE, "import yaml\ncfg = yaml.load(open('c.yml'))",
                                              "import torch\ntorch.hub.load('org/repo', 'm')"))
    code, doc, _ = scan_json(capsys, "nb")
    assert sorted(set(ids(doc))) == ["MLS104", "MLS106"]  # MLS101 ignored, no bandit ids
    assert code == 1  # MLS106 is high
    code, doc, _ = scan_json(capsys, "nb", "--select", "MLS104")
    assert ids(doc) == ["MLS104"] and code == 0  # medium is below fail-on = high
    code, doc, _ = scan_json(capsys, "nb", "--fail-on", "medium", "--select", "MLS104")
    assert code == 1
    code, doc, _ = scan_json(capsys, "nb", "--min-severity", "high")
    assert ids(doc) == ["MLS106"]
    code, doc, _ = scan_json(capsys, "nb", "--ignore", "MLS106")
    assert ids(doc) == ["MLS104"]  # added to the config's ignore list
    code, doc, _ = scan_json(capsys, "nb", "--bandit")
    assert any(f["source"] != "native" for f in doc["findings"])  # bandit's B506 merged into MLS106
    code, doc, _ = scan_json(capsys, "nb", "--exclude", "nb/**")
    assert doc["findings"] == [] and code == 0
    code, out, err = run(capsys, "scan", "nb", "--exit-zero")
    assert code == 0 and "MLS106" in out


def test_per_path_ignores_are_relative_to_the_project_root(capsys, in_tmp, monkeypatch):
    write(in_tmp / "pyproject.toml", '[tool.mlsec]\nbandit = false\n'
          'per-path-ignores = { "nb/tutorial_*.ipynb" = ["MLS101"], "*.py" = ["deserialization"] }\n')
    write(in_tmp / "nb" / "tutorial_1.ipynb", notebook(PICKLE))
    write(in_tmp / "nb" / "real.ipynb", notebook(PICKLE))
    write(in_tmp / "nb" / "helper.py", PICKLE)
    for cwd, target in ((in_tmp, "nb"), (in_tmp / "nb", ".")):
        monkeypatch.chdir(cwd)
        code, doc, _ = scan_json(capsys, target, "--no-cache")
        assert [os.path.basename(f["file"]) for f in doc["findings"]] == ["real.ipynb"], cwd


def test_explicit_non_python_files_are_skipped_with_a_note(capsys, in_tmp):
    write(in_tmp / "README.md", "import pickle\npickle.loads(x)\n")
    write(in_tmp / "train", PICKLE)  # an extension-less script is scanned
    code, doc, err = scan_json(capsys, "README.md", "train", "--no-bandit")
    assert [f["file"] for f in doc["findings"]] == ["train"]
    assert "README.md: skipped" in err and code == 1


def test_enable_turns_on_a_default_off_rule(capsys, in_tmp):
    write(in_tmp / "a.py", "from transformers import AutoModel\nm = AutoModel.from_pretrained('org/model')\n")
    code, doc, _ = scan_json(capsys, "a.py", "--no-bandit")
    assert "MLS108" not in ids(doc)
    code, doc, _ = scan_json(capsys, "a.py", "--no-bandit", "--enable", "MLS108")
    assert "MLS108" in ids(doc)


def test_bad_config_is_exit_2_with_the_key_named(capsys, in_tmp):
    write(in_tmp / "pyproject.toml", '[tool.mlsec]\nfail_onn = "high"\n')
    write(in_tmp / "a.py", "x = 1\n")
    code, out, err = run(capsys, "scan", "a.py")
    assert code == 2 and "fail_onn" in err and "fail-on" in err and out == ""


def test_usage_errors_are_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["scan", "--format", "xml"])
    assert info.value.code == 2
    assert cli.main([]) == 2
    code, _, err = run(capsys, "scan", "--baseline", "a.json", "--write-baseline", "b.json")
    assert code == 2 and "together" in err


# -- suppressions, end to end --------------------------------------------------------------------------


def test_inline_suppression_and_cell_tag(capsys, in_tmp):
    write(in_tmp / "nb.ipynb", notebook(
        "import pickle\nm = pickle.load(f)  # mlsec: ignore[MLS101]",
        "import pickle\nm = pickle.load(f)  # mlsec: ignore[MLS999]",
        "import pickle\nm = pickle.load(f)  # mlsec: ignore",
        {"source": "import pickle\nm = pickle.load(f)", "metadata": {"tags": ["mlsec-ignore"]}},
        "import pickle\nm = pickle.load(f)",
    ))
    code, doc, _ = scan_json(capsys, "nb.ipynb", "--no-bandit")
    assert [(f["rule_id"], f["cell_index"]) for f in doc["findings"]] == [("MLS101", 1), ("MLS101", 4)]


# -- baselines ------------------------------------------------------------------------------------------


def test_write_baseline_then_only_new_findings_fail(capsys, in_tmp):
    nb = write(in_tmp / "nb.ipynb", notebook("x = 1", PICKLE))
    code, out, err = run(capsys, "scan", ".", "--no-bandit", "--write-baseline", "mlsec-baseline.json")
    assert code == 0 and "1 finding" in err
    assert json.loads((in_tmp / "mlsec-baseline.json").read_text())["findings"][0]["rule_id"] == "MLS101"
    code, out, err = run(capsys, "scan", ".", "--no-bandit", "--baseline", "mlsec-baseline.json")
    assert code == 0 and "1 baselined" in out
    write(nb, notebook("# moved", "x = 1", PICKLE, "import yaml\nyaml.load(s)"))  # cells move, one new finding
    code, doc, err = scan_json(capsys, ".", "--no-bandit", "--baseline", "mlsec-baseline.json")
    assert code == 1 and ids(doc) == ["MLS106"] and doc["summary"]["baselined"] == 1
    assert "1 baselined" in err
    code, _, err = run(capsys, "scan", ".", "--baseline", "nope.json")
    assert code == 2 and "does not exist" in err


# -- exit codes and bad input ----------------------------------------------------------------------------


def test_missing_path_is_exit_2_and_the_rest_is_scanned(capsys, in_tmp):
    write(in_tmp / "a.py", PICKLE)
    code, doc, err = scan_json(capsys, "a.py", "nope/", "--no-bandit")
    assert code == 2 and ids(doc) == ["MLS101"]
    assert doc["errors"] == [{"path": "nope/", "message": "no such file or directory"}]
    assert "nope/: error: no such file or directory" in err


def test_clean_scan_is_exit_0(capsys, in_tmp):
    write(in_tmp / "a.py", "import json\nprint(json.dumps({'a': 1}))\n")
    code, out, _ = run(capsys, "scan", ".")
    assert code == 0 and "No findings" in out


def _bad_tree(root: Path) -> dict[str, str]:
    write(root / "good.ipynb", notebook(PICKLE))
    write(root / "empty.ipynb", "")
    write(root / "binary.ipynb", b"\x00\x01\x02\xffPK\x03\x04")
    write(root / "broken.ipynb", '{"cells": [{"cell_type": "code", "source": "x"')
    write(root / "r_kernel.ipynb", notebook("library(dplyr)", language="R"))
    write(root / "nul.ipynb", notebook("import pickle\nx = 1\x00", "pickle.loads(b)"))
    write(root / "huge_cell.ipynb", notebook("import pickle\n" + "y = 2\n" * 100_000))
    (root / "dir.ipynb").mkdir()
    write(root / "dir.ipynb" / "inner.py", "x = 1\n")
    return {"empty.ipynb": "empty file", "binary.ipynb": "binary file", "broken.ipynb": "invalid notebook JSON",
            "r_kernel.ipynb": "not Python", "dir.ipynb": "directory"}


@pytest.mark.parametrize("fmt", ["json", "sarif", "text"])
def test_bad_input_one_message_each_and_the_scan_goes_on(capsys, in_tmp, fmt):
    expected = _bad_tree(in_tmp / "t")
    code, out, err = run(capsys, "scan", "t", "--no-bandit", "--format", fmt)
    assert code == 2  # empty, binary and broken notebooks could not be scanned at all
    if fmt == "json":
        doc = json.loads(out)
        errors = {os.path.basename(e["path"]): e["message"] for e in doc["errors"]}
        assert sorted(errors) == sorted(expected)
        for name, words in expected.items():
            assert words in errors[name]
        hits = {(os.path.basename(f["file"]), f["rule_id"]) for f in doc["findings"]}
        assert {("good.ipynb", "MLS101"), ("nul.ipynb", "MLS001"), ("nul.ipynb", "MLS101"),
                ("huge_cell.ipynb", "MLS001")} <= hits
    elif fmt == "sarif":
        run_ = json.loads(out)["runs"][0]
        notes = json.dumps(run_.get("invocations", [])) + json.dumps(run_.get("toolExecutionNotifications", []))
        for name in expected:
            assert name in notes, name
        assert any(r["ruleId"] == "MLS101" for r in run_["results"])
    else:
        for name, words in expected.items():
            lines = [ln for ln in out.splitlines() if name in ln and "error" in ln]
            assert len(lines) == 1 and words in lines[0], (name, lines)
    if fmt != "text":  # people see every error on stderr too, once
        for name in expected:
            assert len([ln for ln in err.splitlines() if name in ln]) == 1, name


def test_only_a_foreign_kernel_notebook_is_exit_0(capsys, in_tmp):
    write(in_tmp / "r.ipynb", notebook("library(dplyr)", language="R"))
    code, doc, _ = scan_json(capsys, "r.ipynb")
    assert code == 0 and len(doc["errors"]) == 1


def test_unreadable_file_is_reported_and_scanning_continues(capsys, in_tmp, monkeypatch):
    write(in_tmp / "a.py", PICKLE)
    locked = write(in_tmp / "locked.ipynb", notebook(PICKLE))
    locked.chmod(0)
    if os.geteuid() == 0:  # root can read mode 000: make open() fail the way it does for a user
        real_open = open

        def guarded(file, *a, **k):
            if os.path.abspath(os.fspath(file)) == str(locked):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *a, **k)

        monkeypatch.setattr("builtins.open", guarded)
    try:
        code, doc, err = scan_json(capsys, ".", "--no-bandit", "-j", "1", "--no-cache")
    finally:
        locked.chmod(0o644)
    assert code == 2
    assert doc["errors"] == [{"path": "locked.ipynb", "message": "cannot read: Permission denied"}]
    assert [f["file"] for f in doc["findings"]] == ["a.py"]


def test_nothing_in_a_scanned_notebook_is_executed(capsys, in_tmp):
    marker = in_tmp / "PWNED"
    payload = f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w').write('x')\n!touch {marker}"
    write(in_tmp / "evil.ipynb", notebook(payload, "%%bash\ntouch " + str(marker)))
    write(in_tmp / "evil.py", f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    code, out, err = run(capsys, "scan", ".", "-j", "2")
    assert code in (0, 1) and not marker.exists()


# -- workers and cache through the CLI ---------------------------------------------------------------------


def test_jobs_do_not_change_the_output(capsys, in_tmp):
    for i in range(8):
        write(in_tmp / f"nb{i}.ipynb", notebook(PICKLE if i % 2 else "x = 1", "import yaml\nyaml.load(s)"))
    outs = []
    for jobs in ("1", "2"):
        code, doc, _ = scan_json(capsys, ".", "--no-bandit", "--no-cache", "-j", jobs)
        outs.append(doc["findings"])
    assert outs[0] == outs[1] and len(outs[0]) == 12
    assert not (in_tmp / ".mlsec_cache").exists()  # --no-cache writes nothing


def test_cache_is_used_on_the_second_run(capsys, in_tmp):
    write(in_tmp / "nb.ipynb", notebook(PICKLE))
    _, first, _ = scan_json(capsys, ".", "--no-bandit")
    assert (in_tmp / ".mlsec_cache").is_dir()  # no pyproject or .git here: the working folder
    _, second, err = scan_json(capsys, ".", "--no-bandit")
    assert second["findings"] == first["findings"]
    assert "1 of 1 files from the cache" in err


# -- rules ---------------------------------------------------------------------------------------------


def test_rules_lists_every_rule(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    for r in all_rules():
        row = next(ln for ln in out.splitlines() if ln.startswith(r.id + " "))
        assert r.name in row and r.category.value in row and r.severity.label in row
        assert ("on" if r.default_enabled else "off") in row.split()
    code, out, _ = run(capsys, "rules", "--format", "json")
    assert {m["id"] for m in json.loads(out)} == {r.id for r in all_rules()}


def test_explain_a_rule_and_a_bandit_id(capsys):
    code, out, _ = run(capsys, "rules", "MLS101")
    assert code == 0 and "pickle-load" in out and "**Why**" in out and "**Fix**" in out and "B301" in out
    code, out2, _ = run(capsys, "explain", "mls101")
    assert code == 0 and out2 == out
    code, out, _ = run(capsys, "explain", "B301")
    assert code == 0 and "MLS101" in out and "bandit" in out.lower()
    code, out, _ = run(capsys, "explain", "B101")  # a bandit test no mlsec rule covers, off by default
    assert code == 0 and "assert_used" in out and "off by default" in out and "--enable B101" in out
    code, out, err = run(capsys, "explain", "MLS999")
    assert code == 2 and "unknown rule" in err


def test_console_script_is_installed():
    proc = subprocess.run(["mlsec", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("mlsec ")


# -- pre-commit and README ------------------------------------------------------------------------------


def test_pre_commit_hook_definition():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "mlsec")
    assert hook["entry"] == "mlsec scan" and hook["language"] == "python"
    assert hook["types_or"] == ["jupyter", "python"]


def test_readme_keeps_the_first_commands_and_documents_ci():
    text = (REPO / "README.md").read_text()
    assert text.splitlines()[3:5] == ['pip install -e ".[test]" && mlsec scan demo_notebooks',
                                      "python -m pytest -q tests"]
    assert "hooks: [{id: mlsec}]" in text
    assert "mlsec scan --format sarif -o mlsec.sarif" in text and "github/codeql-action/upload-sarif" in text
    workflow = text.split("# .github/workflows/mlsec.yml", 1)[1].split("```", 1)[0]
    wf = yaml.safe_load(workflow)
    steps = wf["jobs"]["mlsec"]["steps"]
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    assert wf["permissions"]["security-events"] == "write"
