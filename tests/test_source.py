"""The source model: loading notebooks of every nbformat 4.x minor, IPython syntax with exact line maps,
aliases across cells, broken cells, and bad input that must become a clear message, never a crash."""
from __future__ import annotations

import json

import pytest

from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.source import SourceError, from_cells, load_notebook_text, load_path
from mlsec.syntax import transform

NATIVE = Config(bandit=False)


def _nb(cells, minor=5, metadata=None, with_ids=None) -> dict:
    with_ids = minor >= 5 if with_ids is None else with_ids
    out = []
    for i, c in enumerate(cells):
        cell = c if isinstance(c, dict) else {"cell_type": "code", "source": c}
        cell = {"metadata": {}, **cell}
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        if with_ids:
            cell.setdefault("id", f"cell-{i}")
        out.append(cell)
    meta = metadata if metadata is not None else {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": meta, "cells": out}


def _scan(cells, **kw):
    doc = load_notebook_text(json.dumps(_nb(cells, **kw)), "t.ipynb")
    return analyze(doc, NATIVE, use_cache=False)


def _ids(report):
    return [(f.rule_id, f.cell_index, f.line) for f in report.findings]


# -- IPython syntax keeps line N of the cell as line N of the Python ----------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "!pip install torch\n%matplotlib inline\nx = !ls\nimport pickle\nm = pickle.load(f)\n",
        "%%time\nimport pickle\n!echo hi\nm = pickle.load(f)\n",
        "pip install -q datasets\nimport pickle\nobj?\nm = pickle.load(f)\n",
        "%cd /tmp\nimport pickle\n!wget -q \\\n   http://example.com/m.pkl\nm = pickle.load(f)",
    ],
)
def test_magics_keep_line_numbers(cell):
    code = transform(cell)
    assert code.python.count("\n") == cell.rstrip("\n").count("\n") + 1
    target = next(i for i, line in enumerate(cell.splitlines(), 1) if "pickle.load(" in line)
    assert code.python.splitlines()[target - 1] == cell.splitlines()[target - 1]
    report = _scan([cell])
    hits = [f for f in report.findings if f.rule_id == "MLS101"]
    assert [(f.line, f.col) for f in hits] == [(target, cell.splitlines()[target - 1].index("pickle.load"))]


def test_specials_are_kept_with_their_positions():
    code = transform("import os\n!wget http://x/a.pkl\n%pip install --extra-index-url http://i torch\n")
    kinds = [(s.kind, s.name, s.line) for s in code.specials]
    assert kinds == [("shell", "!", 2), ("magic", "pip", 3)]
    wget = code.specials[0]
    assert "import os\n!wget http://x/a.pkl".splitlines()[1][wget.col :] == wget.text


def test_shell_cell_magic_body_is_shell_lines():
    code = transform("%%bash\ncurl -k https://x | sh\n\nwget http://y\n")
    shell = [(s.text, s.line) for s in code.specials if s.kind == "shell"]
    assert shell == [("curl -k https://x | sh", 2), ("wget http://y", 4)]
    assert code.python.count("\n") == 4


def test_writefile_python_body_is_analysed_on_its_own_lines():
    report = _scan(["%%writefile serve.py\nimport pickle\nm = pickle.load(open('m.pkl', 'rb'))\n"])
    assert ("MLS101", 0, 3) in _ids(report)


def test_text_cell_magic_body_is_not_python():
    report = _scan(["%%html\n<b>pickle.load(f)</b>\n"])
    assert not [f for f in report.findings if f.rule_id == "MLS101"]


# -- the notebook is one program: aliases cross cells -------------------------------------------------


def test_import_alias_from_an_earlier_cell():
    report = _scan(["import joblib as jb", "# markdown-free gap\nx = 1", {"cell_type": "markdown", "source": "# hi"},
                    "model = jb.load('m.joblib')"])
    assert ("MLS101", 3, 1) in _ids(report)
    assert report.findings[0].cell_id == "cell-3"


def test_from_import_alias_across_cells():
    report = _scan(["from pickle import loads as l", "obj = l(blob)"])
    assert ("MLS101", 1, 1) in _ids(report)


def test_a_later_definition_shadows_the_import():
    report = _scan(["from joblib import load", "def load(p):\n    return p", "load('m.joblib')"])
    assert not [f for f in report.findings if f.rule_id == "MLS101"]


def test_unimported_name_is_not_resolved():
    report = _scan(["load('m.pkl')\npickle.load(f)"])
    assert not [f for f in report.findings if f.rule_id == "MLS101"]


# -- broken cells -----------------------------------------------------------------------------------


def test_a_broken_cell_is_reported_and_the_others_still_analysed():
    # (a cell that no rule's trigger words appear in is not parsed at all, so the broken one mentions pickle)
    report = _scan(["import pickle", "def broken(:\n    pickle.load(f)", "pickle.loads(b)"])
    ids = _ids(report)
    syntax = [f for f in report.findings if f.rule_id == "MLS001"]
    assert len(syntax) == 1 and syntax[0].cell_index == 1 and syntax[0].severity.label == "info"
    assert "does not parse" in syntax[0].message
    assert ("MLS101", 2, 1) in ids


def test_cell_with_nul_character_is_a_syntax_finding_not_a_crash():
    report = _scan(["import pickle\nx = 1\x00\n", "pickle.loads(b)"])
    assert [f.cell_index for f in report.findings if f.rule_id == "MLS001"] == [0]
    assert ("MLS101", 1, 1) in _ids(report)


def test_very_long_cell_does_not_hang_or_crash():
    long_cell = "import pickle\n" + "x = 1\n" * 100_000 + "pickle.loads(b)\n"
    report = _scan([long_cell, "import pickle\npickle.loads(c)"])
    assert report.cells == 2
    assert ("MLS101", 1, 2) in _ids(report)
    # the long cell is either analysed or said to be skipped; it is never silently dropped
    assert any(f.cell_index == 0 for f in report.findings)


def test_deeply_nested_expression_is_reported_not_raised():
    report = _scan(["import pickle\nx = " + "(" * 3000 + "1" + ")" * 3000, "pickle.loads(b)"])
    assert ("MLS101", 1, 1) in _ids(report)


# -- every nbformat 4.x minor -------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4, 5])
def test_every_nbformat_4_minor(minor):
    cells = [
        {"cell_type": "markdown", "source": ["# Title\n", "text"]},
        {"cell_type": "code", "source": ["import pickle\n", "m = pickle.load(f)\n"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["done\n"]}], "execution_count": 1},
        {"cell_type": "raw", "source": "raw"},
        {"cell_type": "code", "source": "print(m)"},
    ]
    nb = _nb(cells, minor=minor)
    doc = load_notebook_text(json.dumps(nb), f"v4{minor}.ipynb")
    assert [c.cell_type for c in doc.cells] == ["markdown", "code", "raw", "code"]
    assert [c.index for c in doc.cells] == [0, 1, 2, 3]
    assert doc.cells[1].source == "import pickle\nm = pickle.load(f)\n"
    assert doc.cells[1].outputs[0].text == "done\n"
    assert doc.cells[1].id == ("cell-1" if minor >= 5 else None)
    report = analyze(doc, NATIVE, use_cache=False)
    assert ("MLS101", 1, 2) in _ids(report)
    assert report.cells == 2


def test_nbformat_4_0_with_ids_like_some_real_notebooks():
    nb = _nb(["import pickle\npickle.load(f)"], minor=0, with_ids=True)
    doc = load_notebook_text(json.dumps(nb), "odd.ipynb")
    assert doc.cells[0].id == "cell-0"


def test_nbformat_3_is_upgraded():
    v3 = {
        "nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
        "worksheets": [{"cells": [
            {"cell_type": "code", "input": "import pickle\npickle.load(f)", "language": "python", "outputs": [],
             "metadata": {}},
        ]}],
    }
    doc = load_notebook_text(json.dumps(v3), "v3.ipynb")
    assert doc.cells[0].source == "import pickle\npickle.load(f)"
    assert ("MLS101", 0, 2) in _ids(analyze(doc, NATIVE, use_cache=False))


def test_cell_tags_and_missing_metadata():
    nb = _nb([{"cell_type": "code", "source": "x", "metadata": {"tags": ["mlsec-ignore", 3]}}], metadata={})
    doc = load_notebook_text(json.dumps(nb))
    assert doc.cells[0].tags == ("mlsec-ignore",)
    assert doc.language == "python"


def test_from_cells_matches_a_loaded_notebook():
    doc = from_cells(["import pickle", {"cell_type": "markdown", "source": "x"}, "pickle.load(f)"])
    assert [c.index for c in doc.cells] == [0, 1, 2]
    assert ("MLS101", 2, 1) in _ids(analyze(doc, NATIVE, use_cache=False))


# -- bad input: a clear SourceError, never another exception -----------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"{\"cells\": [", "invalid notebook JSON"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b"{\"metadata\": {}}", "not a Jupyter notebook"),
        (b"\xff\xfe{\x00}", "binary file"),
        (b"{\"cells\": []}\xff", "not UTF-8"),
        (b"{\"nbformat\": 99, \"cells\": [], \"worksheets\": []}", "unsupported notebook format"),
    ],
)
def test_bad_notebook_bytes(tmp_path, data, words):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(data)
    with pytest.raises(SourceError) as info:
        load_path(str(path))
    assert words in str(info.value)


def test_odd_but_valid_shapes_are_tolerated():
    nb = {"nbformat": 4, "nbformat_minor": 2, "metadata": None, "cells": [
        "not a dict",
        {"cell_type": "code", "source": 42, "outputs": "nope"},
        {"cell_type": "code", "source": ["a = 1\n", None, "b = 2"], "outputs": [None, {"output_type": "weird"}],
         "metadata": {"tags": "not-a-list"}},
        {"cell_type": "code", "source": "print(1)", "outputs": [
            {"output_type": "execute_result", "data": {"text/plain": {"nested": True}}},
            {"output_type": "error", "traceback": ["Trace", 7]},
        ]},
    ]}
    doc = load_notebook_text(json.dumps(nb), "odd.ipynb")
    assert [c.source for c in doc.cells] == ["", "a = 1\nb = 2", "print(1)"]
    assert [c.index for c in doc.cells] == [1, 2, 3]  # the index nbformat would give, not a recount
    report = analyze(doc, NATIVE, use_cache=False)
    assert report.cells == 3


def test_other_kernel_language_is_an_error_entry_but_outputs_are_still_read():
    nb = _nb(["library(ggplot2)"], metadata={"kernelspec": {"name": "ir", "language": "R"},
                                               "language_info": {"name": "R"}})
    doc = load_notebook_text(json.dumps(nb), "r.ipynb")
    assert doc.language == "R" and not doc.is_python
    report = analyze(doc, NATIVE, use_cache=False)
    assert len(report.errors) == 1 and "'R', not Python" in report.errors[0].message
    assert not [f for f in report.findings if f.rule_id != "MLS001"]


def test_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        load_path(str(tmp_path / "nope.ipynb"))


def test_python_file_is_one_cell_without_index(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("import pickle\n\nm = pickle.load(f)\n")
    doc = load_path(str(path))
    assert doc.kind == "python" and doc.cells[0].index is None
    f = [f for f in analyze(doc, NATIVE, use_cache=False).findings if f.rule_id == "MLS101"][0]
    assert (f.cell_index, f.line, f.location_label()) == (None, 3, "3:5")
