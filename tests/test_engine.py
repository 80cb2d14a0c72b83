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
