"""The prefilter's literal gates must never change what the trigger regexes decide."""
from __future__ import annotations

import re

import pytest

from mlsec.config import Config
from mlsec.engine import RuleSet
from mlsec.prefilter import Prefilter, compile_trigger
from mlsec.rules.base import all_rules, iter_examples


@pytest.mark.parametrize(
    "pattern,gate,ignorecase",
    [
        (r"pickle", {"pickle"}, False),
        (r"\.load\b", {".load"}, False),
        (r"subprocess|\bsystem\(|popen\(", {"subprocess", "system(", "popen("}, False),
        (r"(?i:http://)", {"http://"}, True),
        (r"(?i:pass|pwd|token)\w*\s*=", {"pass", "pwd", "token"}, True),
        (r"[A-Za-z0-9/+]{40}['\"]", None, False),
        (r"ab", None, False),  # too short to help
    ],
)
def test_gate_extraction(pattern, gate, ignorecase):
    t = compile_trigger(pattern)
    assert (set(t.gate) if t.gate is not None else None) == gate
    if gate is not None:
        assert t.ignorecase == ignorecase


def test_gates_agree_with_regexes_on_every_rule_example():
    rs = RuleSet(Config(bandit=False, enable=["ALL"]))
    patterns = [t for r in rs.rules for t in r.triggers]
    pf = Prefilter(patterns)
    combined = re.compile("|".join(f"(?:{p})" for p in patterns))
    texts = [ex.code for _, ex in iter_examples(all_rules())]
    texts += [t.upper() for t in texts] + [t.lower() for t in texts] + ["", "x = 1\n", "model.eval()\n"]
    for text in texts:
        assert pf.wants(text) == bool(combined.search(text)), text
