"""Engine behaviour that no single rule owns."""
from __future__ import annotations

from mlsec import lint


def test_every_broken_cell_gets_one_diagnostic_whether_or_not_a_rule_wanted_it():
    report = lint(
        [
            "import pickle",
            "x = (1,",  # broken, no trigger text: checked with the stdlib parser
            "pickle.loads(",  # broken, trigger text: libcst's error
            "pickle.loads(blob)",
            "await client.fetch()",  # top-level await is fine in a notebook
        ],
        bandit=False,
    )
    syntax = [(f.cell_index, f.line) for f in report.findings if f.rule_id == "MLS001"]
    assert syntax == [(1, 1), (2, 1)]
    assert [f.cell_index for f in report.findings if f.rule_id == "MLS101"] == [3]


def test_python_compatible_kernels_are_analysed():
    import json

    from mlsec.source import load_notebook_text

    def nb(language_info):
        return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": language_info},
                           "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [],
                                      "execution_count": None, "source": "x = 1"}]})

    assert load_notebook_text(nb({"name": "coconut", "file_extension": ".py"})).is_python
    assert not load_notebook_text(nb({"name": "R", "file_extension": ".r"})).is_python


# ---------------------------------------------------------------------------------------------
# The in-memory cell cache: keyed on the part of the context a cell reads


def _count_parses(monkeypatch):
    from mlsec import parsing

    seen: list[str] = []
    real = parsing.parse_cell
    monkeypatch.setattr(parsing, "parse_cell", lambda py, slot=None: seen.append(py) or real(py, slot))
    return seen


def test_new_variable_mid_notebook_reanalyses_only_cells_that_use_it(monkeypatch):
    from mlsec.config import Config
    from mlsec.engine import analyze
    from mlsec.source import from_cells

    cells = ["import pickle\nimport requests\n"]
    cells += [f"data_{i} = pickle.load(open('d{i}.pkl', 'rb'))\n" for i in range(20)]
    cells += ["obj = pickle.loads(blob)\n"]
    config = Config(bandit=False)
    first = analyze(from_cells(cells, "cache-scope.ipynb"), config)
    assert sum(f.rule_id == "MLS101" for f in first.findings) == 21
    seen = _count_parses(monkeypatch)
    edited = list(cells)
    edited[5] = edited[5] + "blob = requests.get(url)\n"  # a new variable, used by the last cell only
    report = analyze(from_cells(edited, "cache-scope.ipynb"), config)
    assert seen == [edited[5], edited[-1]]
    last = [f for f in report.findings if f.cell_index == len(cells) - 1]
    assert last and any("download" in n for f in last for n in f.notes)  # the replayed context reached it


def test_cached_cells_replay_their_imports_for_later_cells(monkeypatch):
    from mlsec.config import Config
    from mlsec.engine import analyze
    from mlsec.source import from_cells

    cells = ["import joblib as jb\n", "x = 1\n", "m = jb.load(p)\n"]
    config = Config(bandit=False)
    assert [f.rule_id for f in analyze(from_cells(cells, "replay.ipynb"), config).findings] == ["MLS101"]
    # the first cell is a cache hit now; its alias must still reach the edited last cell
    edited = cells[:2] + ["m = jb.load(q)\n"]
    assert [f.rule_id for f in analyze(from_cells(edited, "replay.ipynb"), config).findings] == ["MLS101"]
    # and rebinding the alias in the middle changes what the (cached) last cell means
    rebound = [cells[0], "jb = object()\n", edited[2]]
    assert analyze(from_cells(rebound, "replay.ipynb"), config).findings == []


def test_a_markdown_cell_inserted_above_renumbers_download_notes():
    from mlsec.config import Config
    from mlsec.engine import analyze
    from mlsec.source import from_cells

    cells = ["import pickle, requests\nblob = requests.get(url)\n", "obj = pickle.loads(blob)\n"]
    config = Config(bandit=False)
    first = analyze(from_cells(cells, "renumber.ipynb"), config)
    assert any("cell 1" in n for f in first.findings for n in f.notes)
    moved = [{"cell_type": "markdown", "source": "# intro"}, *cells]
    again = analyze(from_cells(moved, "renumber.ipynb"), config)
    notes = [n for f in again.findings for n in f.notes if "download" in n]
    assert notes and all("cell 2" in n for n in notes), notes


def test_a_cell_that_downloads_and_loads_is_renumbered_when_moved():
    from mlsec.config import Config
    from mlsec.engine import analyze
    from mlsec.source import from_cells

    cell = "import pickle, requests\nblob = requests.get(url)\nobj = pickle.loads(blob)\n"
    config = Config(bandit=False)
    first = analyze(from_cells([cell], "self-download.ipynb"), config)
    assert any("cell 1)" in n for f in first.findings for n in f.notes)
    moved = analyze(from_cells([{"cell_type": "markdown", "source": "# a"}, cell], "self-download-2.ipynb"), config)
    notes = [n for f in moved.findings for n in f.notes if "download" in n]
    assert notes and all("cell 2)" in n for n in notes), notes
