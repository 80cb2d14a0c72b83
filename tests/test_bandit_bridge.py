"""The bandit bridge: cell mapping, broken cells, merge, selection, nosec, masking, and parity with
bandit's own visitor run over the notebook as one concatenated program."""
from __future__ import annotations

import ast
import collections
import subprocess
import sys

import pytest

from mlsec import bandit_bridge
from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.findings import Category, Severity
from mlsec.source import Cell, Document, from_cells, from_string


def _bandit(doc: Document, config: Config | None = None) -> list:
    return bandit_bridge.run(doc, config or Config())


def _by_id(findings, rule_id):
    return [f for f in findings if rule_id in f.ids]


# ---------------------------------------------------------------------------------------------
# Mapping to cells and lines


def test_import_in_cell_1_resolves_call_in_cell_3():
    doc = from_cells(["import pickle\n", "# just a comment\nx = b'...'\n", "data = b''\ny = pickle.loads(data)\n"])
    b301 = _by_id(_bandit(doc), "B301")
    assert len(b301) == 1
    f = b301[0]
    assert (f.cell_index, f.line, f.col) == (2, 2, 4)
    assert f.end_line == 2 and f.end_col == len("y = pickle.loads(data)")
    assert f.source == "bandit" and f.bandit_ids == ["B301"] and f.rule_id == "B301"
    assert f.category == Category.DESERIALIZATION and f.cwe == 502
    assert f.severity == Severity.MEDIUM
    assert "Pickle" in f.message and f.fix_hint
    assert [(g.cell_index, g.line) for g in _by_id(_bandit(doc), "B403")] == [(0, 1)]


def test_aliases_across_cells_and_markdown_cells_counted():
    doc = from_cells(
        [
            {"cell_type": "markdown", "source": "# Title"},
            "import yaml as y\nfrom pickle import loads as l\n",
            {"cell_type": "markdown", "source": "text"},
            "l(b)\ncfg = y.load(open('c.yml'))\n",
        ]
    )
    found = {(f.rule_id, f.cell_index, f.line) for f in _bandit(doc)}
    assert ("B301", 3, 1) in found
    assert ("B506", 3, 2) in found


def test_ipython_syntax_keeps_lines():
    doc = from_cells(["import pickle\n!ls -la\n%matplotlib inline\nx = pickle.loads(b)\n"])
    assert [(f.cell_index, f.line) for f in _by_id(_bandit(doc), "B301")] == [(0, 4)]


def test_broken_cell_does_not_stop_the_others():
    doc = from_cells(["import pickle\n", "def f(:\n    pass\n", "pickle.loads(b)\n", "import yaml\nyaml.load(s)\n"])
    got = {(f.rule_id, f.cell_index, f.line) for f in _bandit(doc)}
    assert ("B301", 2, 1) in got and ("B506", 3, 2) in got
    assert not any(ci == 1 for _, ci, _ in got)


def test_columns_are_characters_not_utf8_bytes():
    doc = from_cells(["import pickle\n", "s = 'héllo wörld'; pickle.loads(b)\n"])
    (f,) = _by_id(_bandit(doc), "B301")
    assert f.col == "s = 'héllo wörld'; ".__len__()


def test_plain_python_file_has_no_cell_index():
    doc = Document(path="train.py", cells=[Cell(source="import pickle\n\nm = pickle.load(open('m.pkl', 'rb'))\n")])
    f = _by_id(_bandit(doc), "B301")[0]
    assert f.cell_index is None and f.line == 3 and f.file == "train.py"
    assert f.location_label() == "3:5"


def test_ignore_tagged_cell_reports_nothing_but_its_imports_count():
    doc = from_cells(
        [
            {"cell_type": "code", "source": "import pickle\npickle.loads(a)\n", "metadata": {"tags": ["mlsec-ignore"]}},
            "pickle.loads(b)\n",
        ]
    )
    assert [(f.cell_index, f.line) for f in _by_id(_bandit(doc), "B301")] == [(1, 1)]


def test_deeply_nested_cell_is_skipped_not_fatal():
    deep = "x = " + "(" * 120 + "1" + ")" * 120 + "\n"
    nested = "import pickle\n" + "".join("    " * i + "if a:\n" for i in range(90)) + "    " * 90 + "pickle.loads(b)\n"
    doc = from_cells(["import yaml\n", deep, nested, "yaml.load(s)\n"])
    got = {(f.rule_id, f.cell_index) for f in _bandit(doc)}
    assert ("B506", 3) in got


# ---------------------------------------------------------------------------------------------
# Parity with bandit's own visitor over one concatenated program


SAMPLE = [
    "import pickle, subprocess\nimport yaml as y\nfrom hashlib import md5\n",
    "def f(:\n    broken\n",
    "x = pickle.loads(b)  # nosec\nz = pickle.loads(c)  # nosec B403\ny.load(s)\n",
    "password = 'correct-horse-battery'\nsubprocess.call('ls ' + arg, shell=True)\nassert x\n",
    "import requests\nrequests.get(url, verify=False)\nmd5(b'x').hexdigest()\nimport random\nrandom.random()\n",
    "try:\n    pass\nexcept Exception:\n    pass\neval(text)\nopen('/tmp/x.txt', 'w')\n",
    "class A:\n    def m(self, password='hunter2hunter2'):\n        exec(code)\n",
    "q = f\"SELECT * FROM t WHERE id = {uid}\"\nimport tarfile\ntarfile.open('a.tgz').extractall()\n",
    "x = 'abc\u202edef'\n",
]


def _stock_results(sources: list[str]) -> collections.Counter:
    """Bandit's stock BanditNodeVisitor over the cells joined into one program (broken cells
    blanked, same line counts), mapped back through a program-line -> (cell, line) map."""
    from bandit.core import manager as b_manager
    from bandit.core import node_visitor

    manager = bandit_bridge._manager()
    parts, line_map = [], []
    for ci, src in enumerate(sources):
        py = src if src.endswith("\n") else src + "\n"
        try:
            ast.parse(py)
        except SyntaxError:
            py = "\n" * py.count("\n")
        line_map.extend((ci, i + 1) for i in range(py.count("\n")))
        parts.append(py)
    program = "".join(parts)
    nosec = {}
    for n, line in enumerate(program.split("\n"), start=1):
        if "#" in line:
            parsed = b_manager._parse_nosec_comment(line[line.index("#"):])
            if parsed is not None:
                nosec[n] = parsed
    import io

    visitor = node_visitor.BanditNodeVisitor(
        "./prog.py", io.BytesIO(program.encode()), manager.b_ma, manager.b_ts, False, nosec, manager.metrics
    )
    visitor.process(program.encode())
    lines = program.split("\n")
    out = collections.Counter()
    for r in visitor.tester.results:
        ci, ln = line_map[r.lineno - 1]
        col = r.col_offset - 1 if r.test_id == "B613" else bandit_bridge._char_col(lines[r.lineno - 1], r.col_offset)
        out[(r.test_id, ci, ln, col)] += 1
    return out


def test_same_results_as_bandits_own_visitor_on_the_concatenated_program():
    doc = from_cells(SAMPLE)
    every = sorted(bandit_bridge.DEFAULT_OFF)
    config = Config(enable=every)
    ours = collections.Counter()
    for f in _bandit(doc, config):
        ours[(f.rule_id, f.cell_index, f.line, f.col)] += 1
    stock = _stock_results(SAMPLE)
    # the bridge drops B105-B107 hits on placeholders; there are none in SAMPLE
    assert stock, "bandit found nothing: the sample is wrong"
    assert ours == stock
    ids = {k[0] for k in stock}
    assert {"B301", "B506", "B105", "B602", "B101", "B501", "B311", "B110", "B307", "B108", "B107", "B102",
            "B608", "B202", "B613", "B324"} <= ids


def test_cached_rerun_gives_the_same_findings_and_edits_are_seen():
    bandit_bridge._CELL_CACHE.clear()
    doc = from_cells(SAMPLE)
    first = [f.to_dict() for f in _bandit(doc)]
    second = [f.to_dict() for f in _bandit(doc)]
    assert first == second
    edited = from_cells([*SAMPLE[:2], "x = 1\n", *SAMPLE[3:]])
    assert not [f for f in _bandit(edited) if f.cell_index == 2]
    # the imports of cell 0 still hold after a cache hit on cell 0
    assert [f for f in _bandit(from_cells([SAMPLE[0], "pickle.loads(q)\n"])) if f.rule_id == "B301"]


# ---------------------------------------------------------------------------------------------
# nosec


def test_nosec_is_honoured():
    doc = from_cells(
        [
            "import pickle  # nosec B403\n",
            "pickle.loads(a)  # nosec\npickle.loads(b)  # nosec: B506\npickle.loads(c)\n",
        ]
    )
    got = [(f.rule_id, f.cell_index, f.line) for f in _bandit(doc)]
    assert ("B403", 0, 1) not in got
    assert ("B301", 1, 1) not in got
    assert ("B301", 1, 2) in got  # a nosec for another test does not hide this one
    assert ("B301", 1, 3) in got


def test_nosec_in_a_string_is_not_a_comment():
    doc = from_string("import pickle  # nosec\nx = pickle.loads('# nosec')\n")
    assert [f.line for f in _by_id(_bandit(doc), "B301")] == [2]


# ---------------------------------------------------------------------------------------------
# Merge


def test_native_and_bandit_on_same_line_become_one_finding():
    doc = from_cells(["import pickle\n", "obj = pickle.loads(blob)\n"])
    report = analyze(doc, Config(), use_cache=False)
    on_line = [f for f in report.findings if f.cell_index == 1]
    assert len(on_line) == 1, [f.to_dict() for f in on_line]
    f = on_line[0]
    assert f.rule_id == "MLS101" and f.ids == ["MLS101", "B301"]
    assert f.source == "native+bandit" and f.bandit_ids == ["B301"]
    assert not [g for g in report.findings if g.rule_id == "B301"]


def test_merge_needs_the_rule_to_claim_the_bandit_id():
    doc = from_string("import pickle\nimport yaml\nyaml.load(s); pickle.loads(b)\n")
    report = analyze(doc, Config(), use_cache=False)
    line3 = sorted(tuple(f.ids) for f in report.findings if f.line == 3)
    assert line3 == [("MLS101", "B301"), ("MLS106", "B506")]


def test_two_calls_on_one_line_each_get_their_bandit_twin():
    doc = from_string("import pickle\na = pickle.loads(x); b = pickle.loads(y)\n")
    report = analyze(doc, Config(), use_cache=False)
    mls = [f for f in report.findings if f.rule_id == "MLS101"]
    assert len(mls) == 2 and all(f.bandit_ids == ["B301"] for f in mls)
    assert not [f for f in report.findings if f.rule_id == "B301"]


def test_merge_unit_keeps_unmatched_bandit_results():
    from mlsec.findings import Finding

    native = [Finding("MLS101", "m", Severity.HIGH, file="a.ipynb", cell_index=2, line=4, col=4, end_line=4, end_col=20)]
    near = Finding("B301", "b", Severity.MEDIUM, file="a.ipynb", cell_index=2, line=4, col=4, source="bandit", bandit_ids=["B301"])
    other_cell = Finding("B301", "b", Severity.MEDIUM, file="a.ipynb", cell_index=3, line=4, source="bandit", bandit_ids=["B301"])
    unclaimed = Finding("B108", "t", Severity.MEDIUM, file="a.ipynb", cell_index=2, line=4, source="bandit", bandit_ids=["B108"])
    out = bandit_bridge.merge(native, [near, other_cell, unclaimed])
    assert [f.rule_id for f in out] == ["MLS101", "B301", "B108"]
    assert out[0].ids == ["MLS101", "B301"] and out[0].source == "native+bandit"
    assert out[1].cell_index == 3


# ---------------------------------------------------------------------------------------------
# Selection


PROGRAM = "import pickle\nimport random\nassert ok\nx = random.random()\nopen('/tmp/a', 'w')\n"


def _ids(config: Config) -> set[str]:
    report = analyze(from_string(PROGRAM), config, use_cache=False)
    return {i for f in report.findings for i in f.ids}


def test_bandit_ids_are_ignorable_and_selectable():
    assert {"B403", "B108"} <= _ids(Config())
    assert "B403" not in _ids(Config(ignore=["B403"]))
    assert "B403" not in _ids(Config(ignore=["B4"]))
    assert _ids(Config(select=["B4"])) == {"B403"}
    assert "B403" not in _ids(Config(per_path_ignores={"<cell>": ["B403"]}))
    assert "B403" not in _ids(Config(ignore=["deserialization"]))
    # B108 merges into MLS301's finding when both run; selecting one id runs only that one
    assert _ids(Config(select=["B108"])) == {"B108"}
    assert _ids(Config(select=["MLS301"])) == {"MLS301", "B108"}
    assert not {i for i in _ids(Config(bandit=False)) if i.startswith("B")}


def test_noise_is_off_by_default_and_can_be_turned_on():
    assert not {"B101", "B311"} & _ids(Config())
    assert {"B101", "B311"} <= _ids(Config(enable=["B101", "B311"]))
    assert "B101" in _ids(Config(select=["B101"]))
    assert "B311" not in _ids(Config(enable=["B311"], ignore=["B311"]))


def test_default_off_tests_are_not_run_at_all():
    on = bandit_bridge.active_ids(Config())
    assert not on & bandit_bridge.DEFAULT_OFF
    assert "B301" in on and "B615" not in on
    assert "B615" in bandit_bridge.active_ids(Config(enable=["B615"]))


def test_every_bandit_test_has_a_category_and_hint():
    names = bandit_bridge.test_names()
    assert len(names) > 60
    for tid in names:
        assert tid in bandit_bridge.CATEGORIES, tid
        assert bandit_bridge.fix_hint_of(tid)
    assert bandit_bridge.doc_url("B301").endswith("blacklist_calls.html#b301-pickle")
    assert bandit_bridge.doc_url("B614").endswith("plugins/b614_pytorch_load.html")
    assert bandit_bridge.doc_url("B403").endswith("blacklist_imports.html#b403-import-pickle")


# ---------------------------------------------------------------------------------------------
# Secrets in bandit's messages


def test_password_literals_are_masked_in_messages():
    secret = "Tr0ub4dor&3-horse-staple"
    doc = from_string(
        f"password = '{secret}'\nconnect(passwd='{secret}')\ndef login(user, password='{secret}'):\n    pass\n"
    )
    report = analyze(doc, Config(), use_cache=False)
    found = [f for f in report.findings if set(f.ids) & {"B105", "B106", "B107"}]
    assert {i for f in found for i in f.ids if i.startswith("B")} == {"B105", "B106", "B107"}
    for f in report.findings:
        blob = repr(f.to_dict())
        assert secret not in blob and secret[:8] not in blob, blob
    bandit_only = [f for f in found if f.source == "bandit"]
    assert any("*" in f.message for f in bandit_only)


def test_placeholder_passwords_are_dropped():
    doc = from_string("password = '<YOUR_PASSWORD>'\ntoken = 'your-api-key-here'\n")
    assert not [f for f in _bandit(doc) if f.rule_id in ("B105", "B106")]


# ---------------------------------------------------------------------------------------------
# Light import


def test_import_mlsec_does_not_import_bandit():
    code = (
        "import sys, mlsec\n"
        "from mlsec import lint, Config\n"
        "lint('import os\\n', bandit=False)\n"
        "assert 'bandit' not in sys.modules, 'bandit imported'\n"
        "import mlsec.bandit_bridge\n"
        "assert 'bandit' not in sys.modules, 'bandit imported by the bridge module'\n"
        "lint('import pickle\\n')\n"
        "assert 'bandit' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_bandit_logging_stays_quiet(capfd):
    import logging

    # bandit logs per-node debug lines, "nosec encountered" warnings and test errors; none may reach
    # a notebook's output
    analyze(from_string("x = 1  # nosec B301\nassert x  # nosec\nimport pickle\n"), Config(enable=["B101"]), use_cache=False)
    assert logging.getLogger("bandit.core.tester").getEffectiveLevel() > logging.ERROR
    out, err = capfd.readouterr()
    assert "nosec" not in out + err and "bandit" not in (out + err).lower()


@pytest.mark.parametrize("src", ["", "\n\n", "# only a comment\n", "x = 1"])
def test_trivial_cells(src):
    assert _bandit(from_string(src)) == []
