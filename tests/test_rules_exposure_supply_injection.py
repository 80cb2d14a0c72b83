"""Exposure (MLS5xx), supply-chain (MLS6xx) and injection (MLS7xx) rules beyond their embedded examples:
multi-cell notebooks, positions, messages, the advisory table, its generator and version matching."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from mlsec import data
from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.findings import Category, Severity
from mlsec.rules.supply_chain import exact_version, parse_conda_install, parse_pip_install, vcs_ref
from mlsec.source import from_cells, from_string

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lint(code, prefix=("MLS5", "MLS6", "MLS7")):
    doc = from_cells(code) if isinstance(code, list) else from_string(code)
    return analyze(doc, Config(bandit=False, select=list(prefix)), use_cache=False).findings


def ids(findings):
    return sorted(f.rule_id for f in findings)


# ---------------------------------------------------------------------------------------------
# pip / conda parsing


def test_pip_install_parsing_covers_requirement_forms():
    inst = parse_pip_install(["-q", "install", "-U", "torch==2.3.1", "transformers[torch]>=4.40", "-r", "req.txt",
                              "pkg", "@", "git+https://github.com/o/pkg@main", "./local", "--extra-index-url",
                              "https://x.example/simple", "numpy"])
    kinds = [(r.kind, r.name, r.spec) for r in inst.requirements]
    assert ("name", "torch", "==2.3.1") in kinds
    assert ("name", "transformers", ">=4.40") in kinds
    assert ("url", "pkg", "") in kinds
    assert ("local", "", "") in kinds
    assert ("name", "numpy", "") in kinds
    assert inst.option("-r") == [("-r", "req.txt")]
    assert inst.option("--extra-index-url") == [("--extra-index-url", "https://x.example/simple")]
    assert parse_pip_install(["list"]) is None
    assert parse_pip_install(["uninstall", "-y", "x"]) is None


def test_conda_parsing_and_exact_versions():
    inst = parse_conda_install(["install", "-c", "conda-forge", "-y", "pytorch=1.13.1", "numpy=1.26", "faiss-cpu"])
    reqs = {r.name: r for r in inst.requirements}
    assert set(reqs) == {"pytorch", "numpy", "faiss-cpu"}
    assert exact_version(reqs["pytorch"], "conda") == "1.13.1"
    assert exact_version(reqs["numpy"], "conda") is None  # conda `=1.26` means 1.26.*
    pip = parse_pip_install(["install", "a==1.0", "b===2.0", "c==1.*", "d>=1,<2"])
    assert [exact_version(r, "pip") for r in pip.requirements] == ["1.0", "2.0", None, None]


@pytest.mark.parametrize("url,pinned", [
    ("git+https://github.com/o/r.git", False),
    ("git+https://github.com/o/r.git@main", False),
    ("git+https://github.com/o/r.git@0123456789abcdef0123456789abcdef01234567", True),
    ("git+https://github.com/o/r@v1.2.3", True),
    ("https://github.com/o/r/archive/refs/heads/main.zip", False),
    ("https://github.com/o/r/archive/0123abcd.zip", True),
])
def test_vcs_ref(url, pinned):
    code = f"!pip install {url}"
    assert bool(lint(code, ("MLS605",))) is (not pinned), vcs_ref(url)


# ---------------------------------------------------------------------------------------------
# supply-chain rules in notebooks


def test_unpinned_one_finding_per_line_lists_names_and_spans_the_command():
    code = "!pip install -q transformers datasets==2.0.0 'accelerate>=0.26' --upgrade pip"
    (f,) = lint(code, ("MLS601",))
    assert f.severity == Severity.LOW and f.category == Category.SUPPLY_CHAIN
    assert "transformers" in f.message and "accelerate>=0.26" in f.message
    assert "datasets" not in f.message and " pip" not in f.message.split(":", 1)[1]
    assert (f.line, f.col) == (1, 1) and f.end_col == len(code)


def test_unpinned_counts_lines_not_packages_across_cells():
    nb = ["%pip install a b c", "import os\nx = 1", "pip install d==1.0 e", "!pip install -r requirements.txt"]
    found = lint(nb, ("MLS601",))
    assert [(f.cell_index, f.line) for f in found] == [(0, 1), (2, 1)]


def test_vulnerable_pin_points_at_the_requirement_and_names_a_fix():
    code = "!pip install -q numpy==2.1.0 transformers==4.11.3"
    (f,) = lint(code, ("MLS606",))
    assert code[f.col:f.end_col] == "transformers==4.11.3"
    assert f.severity == Severity.HIGH  # CVSS >= 7 among the advisories
    assert "transformers==4.11.3" in f.message and "upgrade to transformers==" in f.message
    assert any(n.startswith(("PYSEC-", "GHSA-")) for n in f.notes)


def test_vulnerable_pin_survives_an_unreadable_table(tmp_path, monkeypatch):
    bad = tmp_path / "advisories.json"
    bad.write_text("{not json")
    monkeypatch.setattr(data, "ADVISORIES_PATH", str(bad))
    data._table.cache_clear()
    try:
        (f,) = lint("!pip install torch==1.13.1", ("MLS606",))
        assert f.severity == Severity.INFO and "unreadable" in f.message
    finally:
        data._table.cache_clear()


def test_extra_index_and_trusted_host_and_http_index_are_separate_findings():
    code = "!pip install --extra-index-url http://pkgs.internal/simple --trusted-host pkgs.internal mylib==1.0"
    found = lint(code, ("MLS60",))
    assert ids(found) == ["MLS602", "MLS603", "MLS604"]
    by_id = {f.rule_id: f for f in found}
    assert code[by_id["MLS602"].col:by_id["MLS602"].end_col] == "--extra-index-url"
    assert code[by_id["MLS604"].col:by_id["MLS604"].end_col] == "--trusted-host"


def test_credentials_in_install_urls_stay_out_of_messages():
    code = ("!pip install -i http://deploy:hunter2hunter2@pkgs.internal/simple x==1 "
            "git+https://oauth2:tok3nvalue99@gitlab.example.com/g/r.git")
    found = lint(code, ("MLS603", "MLS605"))
    assert ids(found) == ["MLS603", "MLS605"]
    for f in found:
        assert "hunter2" not in f.message and "tok3nvalue99" not in f.message and "***@" in f.message


def test_pip_lines_in_bash_and_capture_cells_keep_their_lines():
    nb = ["%%bash\nset -e\npip install foo\n", "%%capture\nimport sys\n!pip install --extra-index-url https://x.example/s bar==1"]
    found = lint(nb, ("MLS601", "MLS602"))
    assert [(f.rule_id, f.cell_index, f.line) for f in found] == [("MLS601", 0, 3), ("MLS602", 1, 3)]


def test_odd_shell_text_does_not_crash():
    for code in ['!pip install "unterminated', "!pip install", "%pip", "!conda install", "!pip install ''",
                 "!jupyter notebook --ip", "!streamlit run", "%tensorboard --logdir 'x"]:
        lint(code)


# ---------------------------------------------------------------------------------------------
# advisory table and version matching


def test_shipped_table_is_credited_and_well_formed():
    with open(data.ADVISORIES_PATH, encoding="utf-8") as fh:
        raw = json.load(fh)
    assert raw["license"] == "CC-BY-4.0" and "pypa/advisory-database" in raw["attribution"]
    assert "Changed from the source" in raw["changes"]
    assert raw["count"] == len(raw["advisories"]) > 1000
    for a in raw["advisories"]:
        assert a["id"] and a["package"] and (a["spec"] or a.get("versions"))
        assert set(a) <= {"id", "aliases", "package", "spec", "versions", "fixed", "summary", "ref", "cvss"}
    licence = os.path.join(os.path.dirname(data.ADVISORIES_PATH), "ADVISORIES_LICENSE.md")
    text = open(licence, encoding="utf-8").read()
    assert "CC BY 4.0" in text and "changed" in text.lower()


def test_affected_and_first_safe_version():
    labels = {a.id for a in data.affected("torch", "2.5.1")}
    assert "PYSEC-2025-41" in labels  # torch.load weights_only RCE, fixed in 2.6.0
    assert "PYSEC-2025-41" not in {a.id for a in data.affected("torch", "2.6.0")}
    assert data.affected("Torch", "not-a-version") == []
    assert data.affected("no-such-package", "1.0") == []
    advs = data.affected("pyyaml", "5.3")
    assert advs and data.first_safe_version(advs, "5.3") == "5.4"
    assert data.normalize_name("Scikit_Learn.") == "scikit-learn-"


def test_fallback_matches_packaging_on_every_spec_in_the_table():
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    raw = json.load(open(data.ADVISORIES_PATH, encoding="utf-8"))
    specs = sorted({s for a in raw["advisories"] for s in a["spec"] if s != "*"})
    checked = 0
    for spec in specs:
        bounds = {p.lstrip("<>=!~ ") for p in spec.split(",")}
        versions = {v + suffix for v in bounds for suffix in ("", "rc1", ".post1", ".dev0", ".1", "b2")}
        for v in versions:
            try:
                Version(v)
            except InvalidVersion:
                continue
            want = SpecifierSet(spec, prereleases=True).contains(v, prereleases=True)
            assert data.fallback_contains(spec, v) == want, (spec, v)
            checked += 1
    assert checked > 4000
    for spec, v, want in [("~=2.2", "2.9", True), ("~=2.2", "3.0", False), ("==1.9.*", "1.9.3", True),
                          ("!=2.0.*", "2.0.1", False), ("<1.0", "1.0rc1", False), (">1.0", "1.0.post1", False)]:
        assert data.fallback_contains(spec, v) is want, (spec, v)


def test_matching_without_packaging_gives_the_same_advisories(monkeypatch):
    with_packaging = [a.id for a in data.affected("transformers", "4.30.2")]
    monkeypatch.setattr(data, "_packaging", lambda: None)
    assert [a.id for a in data.affected("transformers", "4.30.2")] == with_packaging
    assert data.compare("1.10", "1.9") == 1 and data.compare("1.0rc1", "1.0") == -1


def _generator():
    spec = importlib.util.spec_from_file_location("build_advisories", os.path.join(ROOT, "scripts", "build_advisories.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generator_keeps_matchable_records_and_scores_cvss(tmp_path):
    gen = _generator()
    assert gen.cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert gen.cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N") == 6.1
    assert gen.cvss3_base_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H") == 5.5
    assert gen.cvss3_base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") is None
    source = {
        "source": "test", "source_commit": "abc", "generated": "2026-01-01",
        "advisories": [
            {"id": "PYSEC-1", "aliases": ["CVE-1"], "package": "demo", "summary": "bad  thing",
             "affected": [{"events": [{"introduced": "0"}, {"fixed": "1.2"}], "spec": ["<1.2"]}], "fixed": ["1.2"],
             "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
             "references": ["https://example.com/a", "https://example.com/b"], "published": "x", "modified": "y"},
            {"id": "PYSEC-2", "aliases": [], "package": "demo", "summary": "no range", "affected": [], "fixed": [],
             "references": []},
        ],
    }
    header, advs = gen.build(source)
    assert header["dropped_without_range"] == ["PYSEC-2"] and header["count"] == 1
    assert advs == [{"id": "PYSEC-1", "aliases": ["CVE-1"], "package": "demo", "spec": ["<1.2"], "fixed": ["1.2"],
                     "summary": "bad thing", "ref": "https://example.com/a", "cvss": 9.8}]
    out = tmp_path / "src.json"
    out.write_text(json.dumps(source))
    dst = tmp_path / "out.json"
    assert gen.main(["x", str(out), str(dst)]) == 0
    written = json.loads(dst.read_text())
    assert written["advisories"] == advs and written["license"] == "CC-BY-4.0"


# ---------------------------------------------------------------------------------------------
# exposure


def test_gradio_instance_from_an_earlier_cell():
    nb = ["import gradio as gr", "demo = gr.Interface(fn=f, inputs='text', outputs='text')", "x = 1",
          "demo.launch(share=True)"]
    (f,) = lint(nb, ("MLS506",))
    assert f.cell_index == 3 and f.confidence.label == "high"


def test_gradio_auth_or_local_is_fine():
    nb = ["import gradio as gr\ndemo = gr.Blocks()", "demo.launch(share=True, auth=lambda u, p: p == secret)",
          "demo.launch(server_name='127.0.0.1')"]
    assert lint(nb, ("MLS506",)) == []


def test_flask_debug_on_public_host_reports_both_problems():
    code = "from flask import Flask\napp = Flask(__name__)\napp.run(host='0.0.0.0', port=5000, debug=True)"
    found = {f.rule_id: f for f in lint(code)}
    assert set(found) == {"MLS504", "MLS505"}
    assert found["MLS504"].severity == Severity.CRITICAL and found["MLS505"].severity == Severity.MEDIUM
    from mlsec.rules.base import get_rule

    assert get_rule("MLS504").bandit_ids == ("B201",) and "B104" in get_rule("MLS505").bandit_ids


def test_zero_string_alone_is_not_a_bind_unlike_b104():
    code = ("HOST = '0.0.0.0'\nurl = f'http://{HOST}:8080'\nblocked = ['0.0.0.0', '::']\n"
            "ip_ranges = {'any': ''}\nprint(HOST)")
    assert lint(code) == []


def test_jupyter_command_line_reports_each_problem_once():
    code = ("!jupyter notebook --ip=0.0.0.0 --allow-root --NotebookApp.token='' "
            "--NotebookApp.disable_check_xsrf=True --NotebookApp.allow_origin='*'")
    found = {f.rule_id: f for f in lint(code, ("MLS50",))}
    assert set(found) == {"MLS501", "MLS502", "MLS503"}
    assert found["MLS501"].severity == Severity.CRITICAL and "0.0.0.0" in found["MLS501"].message
    assert "disable_check_xsrf" in found["MLS503"].message and "allow_origin" in found["MLS503"].message
    assert code[found["MLS502"].col:found["MLS502"].end_col] == "--ip=0.0.0.0"


def test_jupyter_config_with_a_password_keeps_auth():
    code = "c = get_config()\nc.ServerApp.token = ''\nc.ServerApp.password = 'argon2:$argon2id$v=19$m=10240'"
    assert lint(code, ("MLS501",)) == []


def test_writefile_server_is_low_with_a_note():
    code = "%%writefile main.py\nimport uvicorn\nuvicorn.run(app, host='0.0.0.0', port=8080)"
    (f,) = lint(code, ("MLS505",))
    assert f.severity == Severity.LOW and "container" in f.notes[0]


def test_dashboards_severity_by_tool():
    nb = ["%tensorboard --logdir runs --bind_all", "!mlflow server --host 0.0.0.0", "import ray\nray.init(dashboard_host='::')"]
    sev = {f.cell_index: f.severity for f in lint(nb, ("MLS507",))}
    assert sev == {0: Severity.MEDIUM, 1: Severity.HIGH, 2: Severity.CRITICAL}


def test_select_by_category():
    code = "!pip install torch\nimport os\nos.system(f'rm {x}')\nimport socket\ns = socket.socket()\ns.bind(('', 1))"
    doc = from_string(code)
    cats = {f.category for f in analyze(doc, Config(bandit=False, select=["exposure"]), use_cache=False).findings}
    assert cats == {Category.EXPOSURE}


# ---------------------------------------------------------------------------------------------
# injection


def test_local_values_follow_one_assignment_in_the_cell_only():
    same_cell = "import sqlite3\ncur = sqlite3.connect('x').cursor()\nq = f\"SELECT * FROM t WHERE a = '{a}'\"\ncur.execute(q)"
    (f,) = lint(same_cell, ("MLS703",))
    assert f.line == 4 and "`q`" in f.message and f.confidence.label == "medium"
    other_cell = ["import sqlite3\ncur = sqlite3.connect('x').cursor()", "q = f\"SELECT * FROM t WHERE a = '{a}'\"",
                  "cur.execute(q)"]
    assert lint(other_cell, ("MLS703",)) == []  # only same-cell flow is followed


def test_engine_offers_local_values():
    from mlsec.context import Context
    from mlsec.engine import RuleContext, _walk, ruleset_for
    from mlsec.source import Cell
    from mlsec.syntax import transform
    import libcst as cst

    src = "a = 1\nb = f'{a}'\na = 'x'\n"
    cell = Cell(source=src)
    ctx = RuleContext(cell, transform(src), Context(), [])
    _walk(cst.parse_module(src), ctx, ruleset_for(Config(bandit=False, select=["MLS7"])))
    assert [type(v).__name__ for v in ctx.local_values("a")] == ["Integer", "SimpleString"]
    assert ctx.local_values("missing") == []


def test_constant_commands_and_queries_are_not_injection():
    code = ("import os, subprocess, sqlite3\nos.system('nvidia-smi')\nsubprocess.run('ls -la', shell=True)\n"
            "conn = sqlite3.connect('x.db')\nconn.execute('SELECT 1')\nsubprocess.run(['ls', path])")
    assert lint(code, ("MLS70",)) == []


def test_sql_severity_reflects_what_is_interpolated():
    value = "import pandas as pd\npd.read_sql(f\"SELECT * FROM t WHERE user = '{user}'\", conn)"
    ident = "import pandas as pd\npd.read_sql(f'SELECT * FROM {table}', conn)"
    const = "import pandas as pd\npd.read_sql(f\"SELECT * FROM t WHERE user = '{USER_ID}'\", conn)"
    assert [f.severity for f in lint(value, ("MLS703",))] == [Severity.MEDIUM]
    assert [f.severity for f in lint(ident, ("MLS703",))] == [Severity.LOW]
    assert [f.severity for f in lint(const, ("MLS703",))] == [Severity.LOW]


def test_ipython_shell_escapes_are_not_os_system():
    nb = ["!ls {folder}", "files = !ls {folder}", "import os\nout = os.popen(f'ls {folder}').read()"]
    found = lint(nb, ("MLS702",))
    assert [(f.cell_index, f.line) for f in found] == [(2, 2)]


def test_rule_modules_import_light():
    code = ("import sys, mlsec.rules.exposure, mlsec.rules.supply_chain, mlsec.rules.injection, mlsec.data\n"
            "print(sorted(m for m in ('packaging', 'libcst') if m in sys.modules), mlsec.data._table.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "0"]
