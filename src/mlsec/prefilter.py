"""Which cells are worth parsing: a cheap text test built from the rules' trigger patterns.

Only about one cell in six contains anything a rule could fire on, and parsing is most of the cost,
so the test must be much cheaper than a parse. One big alternation regex is not (Python's `re` tries
every branch at every position). Instead each trigger pattern gets a *literal gate*: a set of plain
substrings of which every match must contain at least one, read off the pattern's parse tree. A
cell runs a trigger's regex only when one of its gate strings occurs in it (`str.__contains__` is a
C-speed search), and most cells fail every gate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

try:  # Python 3.11+
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

_MIN_GATE = 3  # gate strings shorter than this match too often to help


@dataclass(frozen=True)
class Trigger:
    regex: re.Pattern[str]
    gate: frozenset[str] | None  # None: no usable literal, always run the regex
    ignorecase: bool

    def search(self, text: str, lower: str) -> bool:
        if self.gate is not None:
            hay = lower if self.ignorecase else text
            if not any(g in hay for g in self.gate):
                return False
        return self.regex.search(text) is not None


def _gate(items, ignorecase: bool) -> tuple[set[str] | None, bool]:
    """Any-of literal set required by a parsed (sub)pattern, or None; and whether case is ignored."""
    candidates: list[set[str]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            candidates.append({"".join(run)})
            run.clear()

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        close()
        if op is _c.SUBPATTERN:
            add_flags = av[1] or 0
            inner, ic = _gate(av[3], ignorecase or bool(add_flags & re.IGNORECASE))
            ignorecase = ignorecase or ic
            if inner:
                candidates.append(inner)
        elif op is _c.BRANCH:
            union: set[str] = set()
            ok = True
            for branch in av[1]:
                sub, ic = _gate(branch, ignorecase)
                ignorecase = ignorecase or ic
                if not sub:
                    ok = False
                    break
                union |= sub
            if ok and union:
                candidates.append(union)
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            sub, ic = _gate(av[2], ignorecase)
            ignorecase = ignorecase or ic
            if sub:
                candidates.append(sub)
    close()
    good = [c for c in candidates if min(len(s) for s in c) >= _MIN_GATE]
    if not good:
        return None, ignorecase
    return max(good, key=lambda c: (min(len(s) for s in c), -len(c))), ignorecase


def compile_trigger(pattern: str) -> Trigger:
    regex = re.compile(pattern)
    try:
        parsed = _p.parse(pattern)
        gate, ignorecase = _gate(list(parsed), bool(regex.flags & re.IGNORECASE))
    except Exception:  # an unusual construct: no gate, the regex alone decides
        gate, ignorecase = None, False
    if gate is not None and ignorecase:
        gate = {g.lower() for g in gate}
    return Trigger(regex, frozenset(gate) if gate is not None else None, ignorecase)


class Prefilter:
    """`wants(text)`: does any trigger match?

    Each distinct gate string is looked for once per cell; only the triggers behind the gate strings
    found run their regex. Triggers without a gate run last.
    """

    def __init__(self, patterns: list[str]):
        triggers = [compile_trigger(p) for p in dict.fromkeys(patterns)]
        self.triggers = triggers
        self.ungated = [t for t in triggers if t.gate is None]
        self.by_gate: dict[tuple[str, bool], list[Trigger]] = {}
        for t in triggers:
            for g in t.gate or ():
                self.by_gate.setdefault((g, t.ignorecase), []).append(t)
        self.gates_cs = [g for g, ic in self.by_gate if not ic]
        self.gates_ci = [g for g, ic in self.by_gate if ic]

    def wants(self, text: str) -> bool:
        tried: set[int] = set()
        for gates, ic in ((self.gates_cs, False), (self.gates_ci, True)):
            if not gates:
                continue
            hay = text.lower() if ic else text
            for g in gates:
                if g in hay:
                    for t in self.by_gate[(g, ic)]:
                        if id(t) not in tried:
                            tried.add(id(t))
                            if t.regex.search(text):
                                return True
        return any(t.regex.search(text) for t in self.ungated)
