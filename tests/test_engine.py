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
