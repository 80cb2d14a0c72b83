"""Every rule's embedded VALID / INVALID examples, run through the real engine."""
from __future__ import annotations

import pytest

from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.rules.base import Invalid, all_rules, iter_examples
from mlsec.rules.artifacts import is_artifact_rule
from mlsec.source import Cell, Document, OutputText, from_string

EXAMPLES = list(iter_examples(all_rules()))


def _doc(example) -> Document:
    if isinstance(example, Invalid) and example.in_output:
        cell = Cell(source="print(x)", index=0, outputs=[OutputText(0, "stream", example.code)])
        return Document(path="ex.ipynb", cells=[cell], kind="notebook")
    return from_string(example.code, path="example.py")


@pytest.mark.parametrize(
    "rule,example", EXAMPLES, ids=[f"{r.id}-{type(e).__name__}-{i}" for i, (r, e) in enumerate(EXAMPLES)]
)
def test_rule_example(rule, example):
    report = analyze(_doc(example), Config(bandit=False, enable=[rule.id]), use_cache=False)
    mine = [f for f in report.findings if f.rule_id == rule.id]
    if isinstance(example, Invalid):
        assert len(mine) == example.count, (example.code, [f.to_dict() for f in report.findings])
        if example.line is not None:
            assert mine[0].line == example.line
        if example.severity is not None:
            assert mine[0].severity.label == example.severity, mine[0].message
        for f in mine:
            assert f.message and f.fix_hint
            assert f.in_output == example.in_output
    else:
        assert not mine, (example.code, [f.message for f in mine])


def test_every_rule_is_complete():
    ids = set()
    for r in all_rules():
        assert r.id not in ids
        ids.add(r.id)
        assert r.name and r.message and r.fix_hint and r.explanation.strip(), r.id
        assert "**Why**" in r.explanation and "**Fix**" in r.explanation, r.id
        if is_artifact_rule(r):  # model-file rules: their examples are files, checked in tests/test_artifacts.py
            assert not r.VALID and not r.INVALID and r.hooks() == set(), r.id
        else:
            assert r.VALID and r.INVALID, f"{r.id} needs VALID and INVALID examples"
        assert r.cwe is None or isinstance(r.cwe, int)


FIX_EXAMPLES = [(r, e) for r, e in EXAMPLES if isinstance(e, Invalid) and e.expected_replacement is not None]


@pytest.mark.parametrize(
    "rule,example", FIX_EXAMPLES, ids=[f"{r.id}-fix-{i}" for i, (r, e) in enumerate(FIX_EXAMPLES)]
)
def test_rule_fix_example(rule, example):
    """The rule's fix turns the INVALID example into the expected code, which parses and is clean."""
    from mlsec.fix import apply_to_text, parses

    cfg = Config(bandit=False, enable=[rule.id])
    report = analyze(_doc(example), cfg, use_cache=False)
    mine = [f for f in report.findings if f.rule_id == rule.id]
    assert mine and all(f.fix is not None for f in mine), [f.to_dict() for f in mine]
    for f in mine:
        assert f.fix["safe"] == (rule.fixable == "safe") or rule.fixable == "sometimes", (rule.id, f.fix)
        assert f.fix["title"]
    result = apply_to_text(example.code, mine)
    assert not result.skipped, result.skipped
    assert result.text == example.expected_replacement
    assert parses(result.text)
    again = analyze(from_string(result.text, path="example.py"), cfg, use_cache=False)
    assert not [f for f in again.findings if f.rule_id == rule.id], [f.message for f in again.findings]


def test_fixable_rules_have_fix_examples():
    for r in all_rules():
        has_example = any(isinstance(e, Invalid) and e.expected_replacement is not None for e in r.INVALID)
        assert r.fixable in (None, "safe", "unsafe", "sometimes"), r.id
        assert has_example == (r.fixable is not None), f"{r.id}: fixable={r.fixable!r} but fix examples: {has_example}"
