"""`%mlsec` in-process: magics, automatic and guard mode, context across cells, failure containment,
notebook discovery, checklist and component matching. Uses IPython's own InteractiveShell."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import types

import pytest

pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

from mlsec.magic.auto import CellBlocked, CellFailed  # noqa: E402
from mlsec.magic.session import history_source, is_own_command, session_for  # noqa: E402

TOKEN = "hf_kX9qL2mN8pR4sT6vW1yZ3aB5cD7eF0gH2jK"  # token-shaped test value, not a real credential


@pytest.fixture(scope="module")
def _shell():
    """One InteractiveShell for this module, dropped afterwards so later tests see no IPython."""
    existed = InteractiveShell.initialized()
    shell = InteractiveShell.instance()
    yield shell
    if not existed:
        InteractiveShell.clear_instance()


@pytest.fixture
def ip(_shell):
    shell = _shell
    shell.reset(new_session=True)
    shell.execution_count = 1
    if "mlsec" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "mlsec")
    shell.run_line_magic("load_ext", "mlsec")
    yield shell
    shell.run_line_magic("unload_ext", "mlsec")
    shell.reset(new_session=True)


class Out:
    def __init__(self, result, cap):
        self.result = result
        self.html = "\n".join(o.data.get("text/html", "") for o in cap.outputs)
        self.plain = "\n".join(o.data.get("text/plain", "") for o in cap.outputs)
        self.stdout = cap.stdout + cap.stderr
        self.text = self.stdout + "\n" + self.plain
        self.outputs = cap.outputs


def run(shell, code: str) -> Out:
    with capture_output() as cap:
        res = shell.run_cell(code, store_history=True)
    return Out(res, cap)


# ---------------------------------------------------------------------------------------------
# loading


def test_load_ext_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'mlsec')\n"
        "heavy = [m for m in ('libcst', 'bandit', 'nbformat', 'mlsec.engine', 'mlsec.rules', 'ipywidgets') if m in sys.modules]\n"
        "print(heavy, 'mlsec' in ip.magics_manager.magics['line'], 'mlsec' in ip.magics_manager.magics['cell'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] True True", out.stdout


def test_unload_removes_hooks_and_magics(ip):
    run(ip, "%mlsec guard high")
    s = session_for(ip)
    auto = s.auto
    assert auto.pre_run_cell in ip.events.callbacks["pre_run_cell"]
    assert auto.transformer in ip.ast_transformers
    ip.run_line_magic("unload_ext", "mlsec")
    assert auto.pre_run_cell not in ip.events.callbacks["pre_run_cell"]
    assert auto.post_run_cell not in ip.events.callbacks["post_run_cell"]
    assert auto.transformer not in ip.ast_transformers
    assert "mlsec" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "mlsec")  # the fixture unloads again


def test_own_command_detection():
    assert is_own_command("%mlsec guard off")
    assert is_own_command("# turn it off\n%mlsec off\n")
    assert is_own_command("%%mlsec --block\nimport pickle")
    assert not is_own_command("%mlsec status\nx = 1")
    assert not is_own_command("import pickle")
    assert history_source("%%mlsec --block\nimport pickle as pk\n") == "\nimport pickle as pk\n"
    assert history_source("x = 1\n%mlsec\n") == "x = 1\n%mlsec\n"


def test_unknown_command_is_a_usage_error(ip):
    out = run(ip, "%mlsec chekclist")
    assert type(out.result.error_in_exec).__name__ == "UsageError"
    assert "checklist" in out.text


# ---------------------------------------------------------------------------------------------
# %mlsec: the whole notebook


def test_lint_session_history_without_notebook(ip):
    run(ip, "import pickle as pk")
    run(ip, "b = pk.dumps(1)")
    run(ip, "def restore():\n    return pk.loads(b)")
    out = run(ip, "%mlsec --no-bandit")
    report = ip.user_ns["_mlsec"]
    ids = [(f.rule_id, f.cell_index, f.line) for f in report.findings]
    assert ("MLS101", 2, 2) in ids  # In [3], line 2
    assert "In [3], line 2" in out.plain and "MLS101" in out.plain
    assert "<table>" in out.html and "In [3], line 2" in out.html and "session history" in out.html
    assert report.to_dataframe()["rule_id"].tolist() == [f.rule_id for f in report.findings]
    assert "<table>" in report._repr_html_()
    assert json.loads(report.to_json())["summary"]["findings"] == len(report.findings)
    assert json.loads(report.to_sarif())["version"] == "2.1.0"


def test_lint_with_bandit_by_default(ip):
    run(ip, "import pickle")
    out = run(ip, "%mlsec")
    report = ip.user_ns["_mlsec"]
    from mlsec.magic.session import bandit_available

    if bandit_available():
        assert any("B403" in f.ids for f in report.findings), [f.ids for f in report.findings]
    assert out.result.error_in_exec is None


def _notebook(path, cells):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "cells": [
            {"cell_type": t, "id": f"c{i}", "metadata": {}, "source": src, **({"outputs": [], "execution_count": None} if t == "code" else {})}
            for i, (t, src) in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(nb), encoding="utf-8")
    return str(path)


def test_lint_notebook_file_from_session_name(ip, tmp_path, monkeypatch):
    nb = _notebook(tmp_path / "analysis.ipynb", [
        ("markdown", "# title"),
        ("code", "import joblib as jb"),
        ("code", "model = jb.load('downloaded.pkl')"),
    ])
    ip.user_ns["__session__"] = nb
    out = run(ip, "%mlsec --no-bandit")
    report = ip.user_ns["_mlsec"]
    assert [(f.rule_id, f.file, f.cell_index) for f in report.findings] == [("MLS101", nb, 2)]
    assert "analysis.ipynb" in out.html and "cell 3, line 1" in out.html
    # JPY_SESSION_NAME relative to the kernel's folder works too
    del ip.user_ns["__session__"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", "sub/dir/analysis.ipynb")
    run(ip, "%mlsec --no-bandit")
    assert ip.user_ns["_mlsec"].findings[0].file == nb
    # --history ignores the file
    run(ip, "%mlsec --history --no-bandit")
    assert all(f.file == "<session>" for f in ip.user_ns["_mlsec"].findings)


def test_own_cell_magic_bodies_are_linted_in_a_saved_notebook(ip, tmp_path):
    nb = _notebook(tmp_path / "m.ipynb", [("code", "%%mlsec --block\nimport pickle\npickle.loads(b'')")])
    ip.user_ns["__session__"] = nb
    run(ip, "%mlsec --no-bandit")
    assert [(f.rule_id, f.line) for f in ip.user_ns["_mlsec"].findings] == [("MLS101", 3)]


# ---------------------------------------------------------------------------------------------
# %%mlsec


def test_cell_magic_uses_earlier_imports_reports_only_this_cell_and_runs_it(ip):
    run(ip, "import pickle as pk")
    run(ip, "b = pk.dumps(41)\ndef old():\n    return pk.loads(b)")
    out = run(ip, "%%mlsec\nx = pk.loads(b) + 1")
    assert ip.user_ns["x"] == 42
    report = ip.user_ns["_mlsec"]
    assert [(f.rule_id, f.line, f.cell_index) for f in report.findings] == [("MLS101", 2, 2)]
    assert "MLS101" in out.html and "line 2" in out.plain


def test_cell_magic_without_findings_says_so(ip):
    out = run(ip, "%%mlsec\ny = 2 + 2")
    assert ip.user_ns["y"] == 4
    assert "no findings in this cell" in out.plain


def test_cell_magic_block_stops_high_findings(ip):
    run(ip, "import pickle as pk\nb = pk.dumps(1)")
    out = run(ip, "%%mlsec --block\ny = pk.loads(b)")
    assert "y" not in ip.user_ns
    assert isinstance(out.result.error_in_exec, CellBlocked)
    assert "mlsec stopped this cell" in out.text and "--block" in out.text
    assert "# mlsec: ignore[MLS101]" in out.text
    # a level above the finding lets it run
    run(ip, "%%mlsec --block critical\ny = pk.loads(b)")
    assert ip.user_ns["y"] == 1
    # the stopped cell does not count as context: its import never ran
    run(ip, "%%mlsec --block\nimport pickle as pk2\nq = pk2.loads(b)")
    out = run(ip, "%%mlsec\ndef later():\n    return pk2.loads(b)")
    assert ip.user_ns["_mlsec"].findings == []


def test_cell_magic_does_not_swallow_the_users_exception(ip):
    out = run(ip, "%%mlsec\nz = 1\n1 / 0")
    assert isinstance(out.result.error_in_exec, CellFailed)
    assert "ZeroDivisionError" in out.text
    assert ip.user_ns["z"] == 1


def test_cell_magic_bad_option(ip):
    out = run(ip, "%%mlsec --blok\nx = 1")
    assert type(out.result.error_in_exec).__name__ == "UsageError"
    assert "x" not in ip.user_ns


# ---------------------------------------------------------------------------------------------
# automatic mode and guard


def test_auto_mode_warns_runs_and_keeps_context_from_before_it_was_on(ip):
    run(ip, "import pickle as pk")  # before %mlsec on: still context
    out = run(ip, "%mlsec on")
    assert "automatic mode: on" in out.plain
    out = run(ip, "z = pk.loads(pk.dumps(5))\nz")
    assert ip.user_ns["z"] == 5 and out.result.result == 5
    assert "MLS101" in out.html and "MLS101" in out.plain
    assert out.outputs[0].data["text/plain"].startswith("mlsec")  # shown before the cell's own output
    out = run(ip, "w = 3")
    assert out.html == ""  # nothing to say, nothing shown


def test_auto_mode_never_changes_results_or_swallows_errors(ip):
    code = "vals = [i * i for i in range(5)]\nsum(vals)"
    off = run(ip, code).result.result
    run(ip, "%mlsec on")
    on = run(ip, code)
    assert on.result.result == off == 30
    err = run(ip, "1 / 0")
    assert isinstance(err.result.error_in_exec, ZeroDivisionError)
    assert "ZeroDivisionError" in err.text


def test_guard_stops_at_its_level_and_explains_the_way_out(ip):
    run(ip, "import pickle as pk\nb = pk.dumps(7)")
    out = run(ip, "%mlsec guard high")
    assert "guard high" in out.plain
    s = session_for(ip)
    out = run(ip, "ran = True\nv = pk.loads(b)")
    assert "ran" not in ip.user_ns and "v" not in ip.user_ns
    assert isinstance(out.result.error_before_exec, CellBlocked)
    assert "%mlsec guard off" in out.text and "# mlsec: ignore[MLS101]" in out.text
    assert out.result.execution_count in s.blocked
    # medium is below the guard: runs, with the warning
    out = run(ip, "def f(s):\n    return eval(s)\nran_medium = True")
    assert ip.user_ns["ran_medium"] is True and "MLS111" in out.plain
    # the documented override: an ignore comment on the line
    out = run(ip, "v = pk.loads(b)  # mlsec: ignore[MLS101]")
    assert ip.user_ns["v"] == 7 and out.result.success
    # %mlsec commands are never stopped, and guard off lets the cell run with a warning
    run(ip, "%mlsec guard off")
    assert s.auto.transformer not in ip.ast_transformers  # warn-only mode leaves IPython's AST alone
    out = run(ip, "v2 = pk.loads(b)")
    assert ip.user_ns["v2"] == 7 and "MLS101" in out.plain
    # guard medium stops the eval cell
    run(ip, "%mlsec guard medium")
    out = run(ip, "def g(s):\n    return eval(s)\nran_g = True")
    assert "ran_g" not in ip.user_ns and isinstance(out.result.error_before_exec, CellBlocked)
    run(ip, "%mlsec off")
    run(ip, "def g(s):\n    return eval(s)\nran_g = True")
    assert ip.user_ns["ran_g"] is True


def test_guard_does_not_leak_a_stop_order_to_another_cell(ip):
    run(ip, "import pickle as pk\nb = pk.dumps(1)")
    run(ip, "%mlsec guard high")
    # a risky cell that does not compile: IPython never reaches the transformer
    out = run(ip, "v = pk.loads(b)\nif True")
    assert isinstance(out.result.error_before_exec, SyntaxError)
    out = run(ip, "fine = 1")
    assert ip.user_ns["fine"] == 1 and out.result.success


def test_engine_failure_switches_mlsec_off_once_and_the_cell_runs(ip, monkeypatch):
    import mlsec.engine

    def broken(*a, **k):
        raise RuntimeError(f"boom {TOKEN}")

    run(ip, "%mlsec guard high")
    monkeypatch.setattr(mlsec.engine, "analyze", broken)
    out = run(ip, "import pickle\nran1 = pickle.loads(pickle.dumps(1))")
    assert ip.user_ns["ran1"] == 1 and out.result.success
    assert "hit an internal error" in out.text and "RuntimeError" in out.text
    assert TOKEN not in out.text + out.html
    s = session_for(ip)
    assert s.auto is None and s.failed
    assert not any(getattr(cb, "__self__", None).__class__.__name__ == "AutoMode" for cb in ip.events.callbacks["pre_run_cell"])
    assert not any(type(t).__name__ == "GuardTransformer" for t in ip.ast_transformers)
    out = run(ip, "ran2 = 2")
    assert ip.user_ns["ran2"] == 2 and "internal error" not in out.text  # said once
    out = run(ip, "%mlsec status")
    assert "switched off after mlsec's own error" in out.plain and TOKEN not in out.plain


def test_slow_check_gives_up_and_the_cell_runs(ip, monkeypatch):
    import mlsec.engine

    def slow(*a, **k):
        time.sleep(5)

    run(ip, "%mlsec on")
    session_for(ip).timeout = 0.3
    monkeypatch.setattr(mlsec.engine, "analyze", slow)
    t0 = time.perf_counter()
    out = run(ip, "ran = 'yes'")
    assert time.perf_counter() - t0 < 3
    assert ip.user_ns["ran"] == "yes" and "took too long" in out.text
    assert session_for(ip).auto is None


def test_cell_magic_check_failure_or_timeout_still_runs_the_cell(ip, monkeypatch):
    import mlsec.engine

    monkeypatch.setattr(mlsec.engine, "analyze", lambda *a, **k: time.sleep(5))
    session_for(ip).timeout = 0.3
    out = run(ip, "%%mlsec --block\nran = 'slow'")
    assert ip.user_ns["ran"] == "slow" and "could not check this cell (CheckTimeout" in out.plain
    monkeypatch.setattr(mlsec.engine, "analyze", lambda *a, **k: 1 / 0)
    out = run(ip, "%%mlsec --block\nran = 'broken'")
    assert ip.user_ns["ran"] == "broken" and "ZeroDivisionError" in out.plain and out.result.success


def test_bounded_check_in_a_thread(monkeypatch):
    from mlsec.magic.auto import CheckTimeout, run_bounded

    box = {}

    def in_thread():
        try:
            run_bounded(lambda: time.sleep(2), 0.2)
        except CheckTimeout as exc:
            box["timeout"] = str(exc)
        box["value"] = run_bounded(lambda: 42, 1.0)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(5)
    assert box == {"timeout": "the check took longer than 0.2 s", "value": 42}
    with pytest.raises(ValueError):
        run_bounded(lambda: int("x"), 1.0)
    assert run_bounded(lambda: "main", 1.0) == "main"


def test_secrets_never_printed_whole(ip):
    run(ip, "%mlsec on")
    outs = [run(ip, f'HF_TOKEN = "{TOKEN}"')]
    outs.append(run(ip, f'%%mlsec\nTOKEN2 = "{TOKEN}"'))
    outs.append(run(ip, "%mlsec --no-bandit"))
    run(ip, "%mlsec guard high")
    outs.append(run(ip, f'TOKEN3 = "{TOKEN}"'))
    assert isinstance(outs[-1].result.error_before_exec, CellBlocked)
    assert all("MLS201" in o.plain for o in outs)
    for o in outs:
        assert TOKEN not in o.html and TOKEN not in o.text
        assert TOKEN[:6] not in o.html + o.text  # masking keeps at most 4 characters
    assert ip.user_ns["HF_TOKEN"] == TOKEN  # the cell itself ran unchanged


def test_status_reports_timings_and_stopped_cells(ip):
    run(ip, "%mlsec guard high")
    run(ip, "import pickle\npickle.loads(b'')")
    out = run(ip, "%mlsec status")
    assert "cells checked: 1" in out.plain and "cells stopped: In [2]" in out.plain
    assert "notebook file: none" in out.plain


# ---------------------------------------------------------------------------------------------
# scan, rules, explain, env, probe, checklist


def test_scan_shows_progress_and_stores_the_report(ip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the batch scan keeps its cache beside the project (here: no project)
    (tmp_path / "train.py").write_text("import pickle\nm = pickle.load(open('m.pkl', 'rb'))\n")
    _notebook(tmp_path / "nb.ipynb", [("code", "import torch\nstate = torch.load('w.pt')")])
    (tmp_path / "broken.ipynb").write_text("{not json")
    out = run(ip, f"%mlsec scan {tmp_path}")
    report = ip.user_ns["_mlsec"]
    files = {os.path.basename(f.file) for f in report.findings}
    assert {"train.py", "nb.ipynb"} <= files
    assert any(os.path.basename(e.path) == "broken.ipynb" for e in report.errors)
    assert "3/3 files" in out.stdout
    assert "<table>" in out.html and "broken.ipynb" in out.html
    out = run(ip, f"%mlsec scan {tmp_path / 'nope'}")
    assert "no such file or folder" in out.plain


def test_scan_without_the_batch_scanner(ip, tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("import pickle\npickle.loads(b'')\n")
    monkeypatch.setitem(sys.modules, "mlsec.scan", None)  # import fails: file-by-file fallback
    run(ip, f"%mlsec scan {tmp_path}")
    assert [f.rule_id for f in ip.user_ns["_mlsec"].findings if f.rule_id.startswith("MLS")] == ["MLS101"]


def test_rules_and_explain(ip):
    out = run(ip, "%mlsec rules")
    assert "MLS101" in out.html and "<details>" in out.html and "MLS101" in out.plain
    out = run(ip, "%mlsec explain mls101")
    assert "pickle" in out.plain and "<b>Why</b>" in out.html and "mlsec: ignore[MLS101]" in out.html
    out = run(ip, "%mlsec explain MLS10")
    assert type(out.result.error_in_exec).__name__ == "UsageError" and "Close: MLS1" in out.text


def test_env_lists_installed_packages_with_advisories(ip, tmp_path, monkeypatch):
    import IPython

    table = {"advisories": [
        {"id": "TEST-1", "package": "IPython", "spec": ["<99999"], "fixed": ["99999"], "summary": "test advisory",
         "cvss": 9.8},
        {"id": "TEST-2", "package": "no-such-package-xyz", "spec": ["*"], "summary": "never installed"},
    ]}
    path = tmp_path / "adv.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv("MLSEC_ADVISORIES", str(path))
    out = run(ip, "%mlsec env")
    vul = ip.user_ns["_mlsec_env"]
    assert [(v.package, v.version, v.upgrade_to) for v in vul] == [("ipython", IPython.__version__, "99999")]
    assert "TEST-1" in out.html and "ipython" in out.plain and "CRITICAL" in out.plain
    monkeypatch.setenv("MLSEC_ADVISORIES", str(tmp_path / "missing.json"))
    out = run(ip, "%mlsec env")
    assert "advisory table not found" in out.plain


def test_probe_opens_the_panel_or_says_why_not(ip, monkeypatch):
    fake = types.ModuleType("mlsec.probes.panel")
    fake.probe_panel = lambda namespace=None: ("panel", namespace)
    monkeypatch.setitem(sys.modules, "mlsec.probes.panel", fake)
    out = run(ip, "%mlsec probe")
    assert out.result.result == ("panel", ip.user_ns)
    out = run(ip, "%mlsec probe clf")
    assert type(out.result.error_in_exec).__name__ == "UsageError"
    monkeypatch.setitem(sys.modules, "mlsec.probes.panel", None)
    out = run(ip, "%mlsec probe")
    assert out.result.result is None and "probe panel is not available" in out.plain


def test_checklist_magic(ip, monkeypatch):
    import mlsec.checklist as cl

    class Probe:
        name, title, category, status = "fgsm", "FGSM evasion", "evasion", "fail"
        summary, advice = "robust accuracy 0.12 at eps 0.1", "train on adversarial examples"

    monkeypatch.setattr(cl, "session_probe_results", lambda: ([Probe()], None))
    run(ip, "import logging\nimport yaml\ndef cfg(s):\n    return yaml.load(s)")
    out = run(ip, "%mlsec checklist")
    for section in cl.SECTIONS:
        assert section in out.plain and section in out.html
    c = ip.user_ns["_mlsec_checklist"]
    assert c["adversarial-training"].status == "fail"
    assert c["adversarial-training"].next_step == "train on adversarial examples"
    assert c["monitoring"].status == "seen"
    assert c["storage"].status == "fail" and "MLS106" in " ".join(c["storage"].evidence)  # yaml: data preparation


# ---------------------------------------------------------------------------------------------
# checklist logic


def _finding(rule_id="MLS101", severity="high", category="deserialization", stage="training", **kw):
    from mlsec.findings import Finding

    return Finding.from_dict({"rule_id": rule_id, "message": "m", "severity": severity, "category": category,
                              "stage": stage, "cell_index": 0, **kw})


def test_checklist_places_findings_probes_imports_and_components():
    from mlsec.checklist import build, practice_for_finding

    assert practice_for_finding(_finding(category="exposure", stage="training")) == "exposure"
    assert practice_for_finding(_finding(category="secrets", stage="operation")) == "storage"
    assert practice_for_finding(_finding(stage="operation")) == "operation-sast"
    assert practice_for_finding(_finding(stage=None)) == "training-sast"
    assert practice_for_finding(_finding(rule_id="MLS001", category="syntax", severity="info")) is None

    class Vul:
        package, version = "torch", "2.5.0"

        @property
        def severity(self):
            from mlsec.findings import Severity

            return Severity.CRITICAL

    c = build(
        findings=[_finding(stage="training", severity="medium"), _finding(category="exposure", severity="high")],
        probe_results=[{"name": "label_noise", "status": "pass", "text": "no flipped labels"},
                       {"name": "membership_inference", "status": "warn", "text": "AUC 0.7", "advice": "regularise"},
                       {"name": "feature_squeezing", "status": "skipped", "text": "no model"}],
        imports={"sklearn.ensemble.VotingClassifier", "os.path"},
        components=[Vul()],
    )
    assert c["storage"].status == "pass"
    assert c["data-anomalies"].status == "pass" and "no flipped labels" in c["data-anomalies"].evidence[0]
    assert c["adversarial-training"].status == "not checked"
    assert c["training-sast"].status == "fail"  # medium finding + critical component
    assert c["operation-sast"].status == "fail" and "torch 2.5.0" in " ".join(c["operation-sast"].evidence)
    assert c["exposure"].status == "fail" and c["exposure"].next_step == "regularise"
    assert c["squeezing-ensembles"].status == "seen"  # skipped probe is no evidence; the import is
    assert c["monitoring"].status == "not checked"
    assert "✓" in c.to_text() and "<table>" in c.to_html()
    assert json.dumps(c.to_dict())
    none = build(linted=False)
    assert {i.status for i in none.items} == {"not checked"}


def test_checklist_reads_this_sessions_probe_results():
    from mlsec.checklist import build, probe_fields, session_probe_results
    from mlsec.probes.report import ProbeResult, clear_session_results, record

    r = ProbeResult(name="pgd", title="PGD", category="evasion", status="warn", summary="robust acc 0.4",
                    advice="try adversarial training")
    assert probe_fields(r) == ("pgd PGD evasion", "warn", "robust acc 0.4", "try adversarial training")
    assert probe_fields({"probe": "x", "verdict": "FAIL", "message": "t"}) == ("x", "fail", "t", "")
    clear_session_results()
    try:
        record(r)
        results, note = session_probe_results()
        assert note is None and results == [r]
        item = build(probe_results=results)["adversarial-training"]
        assert item.status == "warn" and item.next_step == "try adversarial training"
    finally:
        clear_session_results()


def test_probe_names_map_to_practices():
    from mlsec.checklist import practices_for_probe

    assert practices_for_probe("robustness_curve Robust accuracy vs ε evasion") == ["adversarial-training"]
    assert practices_for_probe("hop_skip_jump HopSkipJump (decision-based) evasion") == ["adversarial-training"]
    assert practices_for_probe("confidence_leakage Confidence leakage exploratory") == ["exposure"]
    assert practices_for_probe("suspicious_points Suspicious training points poisoning") == ["data-anomalies"]
    assert practices_for_probe("feature_squeezing Feature-squeezing detection defence") == [
        "input-anomalies", "squeezing-ensembles"]
    assert practices_for_probe("extraction Model extraction exploratory") == ["exposure"]
    assert practices_for_probe("good food") == []


# ---------------------------------------------------------------------------------------------
# components


def test_components_match_both_table_layouts(tmp_path):
    from mlsec import components as c

    compact = {"advisories": [{"id": "A", "package": "Demo_Pkg", "spec": [">=1.0,<1.4", ">=2.0,<2.1"],
                               "versions": ["0.9.fix1"], "fixed": ["1.4", "2.1"], "cvss": 7.5, "summary": "s"}]}
    full = {"advisories": [{"id": "B", "package": "demo.pkg", "summary": "s",
                            "affected": [{"events": [{"introduced": "0"}, {"fixed": "1.2"}], "spec": ["<1.2"]},
                                         {"versions": ["odd-version"]}], "fixed": ["1.2"],
                            "references": ["https://example.org/B"]}]}
    for name, raw in (("compact", compact), ("full", full)):
        (tmp_path / f"{name}.json").write_text(json.dumps(raw))
    t1 = c.load_table(str(tmp_path / "compact.json"))
    t2 = c.load_table(str(tmp_path / "full.json"))
    assert [a.id for a in t1.affecting("demo-pkg", "1.3.0")] == ["A"]
    assert t1.affecting("demo-pkg", "1.4") == [] and t1.affecting("demo-pkg", "2.0.1rc1") != []
    assert t1.affecting("DEMO.PKG", "0.9.fix1") != []  # listed, not PEP 440
    assert t2.affecting("demo_pkg", "1.1") != [] and t2.affecting("demo_pkg", "odd-version") != []
    assert t2.affecting("demo_pkg", "1.2") == []
    v = t1.check({"demo-pkg": "1.3.0", "other": "1.0"})
    assert [(x.package, x.upgrade_to, x.severity.label) for x in v] == [("demo-pkg", "1.4", "high")]
    assert t2.check([("demo-pkg", "1.0+local")])[0].advisories[0].ref == "https://example.org/B"
    with pytest.raises(c.AdvisoryDataError):
        c.load_table(str(tmp_path / "absent.json"))


def test_components_bundled_table_knows_torch():
    from mlsec import components as c

    try:
        table = c.load_table()
    except c.AdvisoryDataError:
        table = c.load_table("/work/shared/advisories/ml-advisories.json") if os.path.exists(
            "/work/shared/advisories/ml-advisories.json") else None
    assert table is not None and len(table) > 1000
    ids = {a.id for a in table.affecting("torch", "2.5.1")}
    assert "PYSEC-2025-41" in ids  # CVE-2025-32434: torch.load weights_only RCE, fixed in 2.6.0
    assert "PYSEC-2025-41" not in {a.id for a in table.affecting("torch", "2.6.0")}
    installed = c.installed_packages()
    assert installed.get("ipython") and "pytest" in installed


# ---------------------------------------------------------------------------------------------
# notebook discovery


def test_existing_notebook_and_kernel_id(tmp_path):
    from mlsec.magic.notebook_path import existing_notebook, kernel_id_from_connection_file

    nb = tmp_path / "a b.ipynb"
    nb.write_text("{}")
    assert existing_notebook(str(nb)) == str(nb)
    assert existing_notebook("elsewhere/a b.ipynb", cwd=str(tmp_path)) == str(nb)
    assert existing_notebook("console-1-abc") is None and existing_notebook(None) is None
    assert existing_notebook(str(tmp_path / "gone.ipynb")) is None
    assert kernel_id_from_connection_file("/run/kernel-1b2c-3d4e.json") == "1b2c-3d4e"
    assert kernel_id_from_connection_file("/run/other.json") is None


def test_server_query_finds_the_kernels_notebook_on_loopback_only(tmp_path):
    from mlsec.magic import notebook_path as npath

    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    (root / "work" / "exp.ipynb").write_text("{}")
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps([
                {"path": "work/other.ipynb", "kernel": {"id": "k-other"}},
                {"path": "work/exp.ipynb", "kernel": {"id": "k-123"}},
            ]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        runtime = tmp_path / "runtime"
        runtime.mkdir()
        (runtime / "jpserver-1.json").write_text(json.dumps(
            {"url": "http://10.255.255.1:9/", "token": "x", "root_dir": str(root)}))  # not loopback: never asked
        (runtime / "jpserver-2.json").write_text(json.dumps(
            {"url": f"http://localhost:{port}/", "token": "tok", "root_dir": str(root)}))
        t0 = time.perf_counter()
        path = npath.query_local_servers("k-123", timeout=2, runtime_dir=str(runtime))
        assert path == str(root / "work" / "exp.ipynb")
        assert time.perf_counter() - t0 < 2
        assert seen == [("/api/sessions", "token tok")]
        assert npath.query_local_servers("k-unknown", timeout=2, runtime_dir=str(runtime)) is None
    finally:
        server.shutdown()
    assert not npath.is_loopback("http://example.org:8888/") and npath.is_loopback("http://127.0.0.1:8888/lab")
