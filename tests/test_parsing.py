"""parsing.parse_cell: an edited cell re-parses only its changed statements, and gets the same tree."""
from __future__ import annotations

import libcst as cst
import pytest

from mlsec import parsing

CELL = '''\
# header comment

import os
import pickle

@decorator(1)
# between
def load(path):
    with open(path, "rb") as fh:
        return pickle.load(fh)
    # trailing, indented

# before x
x = load("a.pkl")
y = [1,
     2]
if x:
    print(x)
else:
    pass
z = f"{y}"  # end'''


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("edit", [
    ("x = load(\"a.pkl\")", "x = load(\"b.pkl\")"),
    ("@decorator(1)", "@decorator(2)"),
    ("import os\n", "import os, sys\n"),
    ("# before x\n", "# before x, edited\n\n"),
    ("z = f\"{y}\"  # end", "z = 3"),
    ("    print(x)\n", "    print(x)\n    print(y)\n"),
])
def test_edit_gives_the_whole_parse_tree(edit):
    slot = ("test", edit)
    first = parsing.parse_cell(CELL, slot)
    assert first.deep_equals(cst.parse_module(CELL))
    edited = _edit(CELL, *edit)
    tree = parsing.parse_cell(edited, slot)
    assert tree.code == edited
    assert tree.deep_equals(cst.parse_module(edited))


def test_unchanged_statements_are_reused_not_parsed(monkeypatch):
    slot = ("test", "reuse")
    old = parsing.parse_cell(CELL, slot)
    parsed = []
    real = cst.parse_module
    monkeypatch.setattr(cst, "parse_module", lambda text, *a, **k: parsed.append(text) or real(text, *a, **k))
    new = parsing.parse_cell(_edit(CELL, 'x = load("a.pkl")', 'x = load("b.pkl")'), slot)
    assert parsed == ['x = load("b.pkl")\n']
    assert new.body[1].body[0] is old.body[1].body[0]  # `import pickle`: the very node of the old tree


def test_two_space_pieces_that_disagree_fall_back_to_a_whole_parse():
    text = "import a\nimport b\nc = 1\nd = 2\ne = 3\nf = 4\nif c:\n  g = 5\n"
    slot = ("test", "indent")
    parsing.parse_cell(text, slot)
    edited = text.replace("f = 4", "f = 44")
    assert parsing.parse_cell(edited, slot).deep_equals(cst.parse_module(edited))


@pytest.mark.parametrize("text", [
    "a = 1; b = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\n",  # statements sharing a line
    "a = (\n",  # does not parse
    "x = 1\n",  # too short to split
])
def test_cells_that_are_not_split(text):
    assert parsing.split_statements(text) is None


def test_windows_line_ends():
    text = "a = 1\r\nb = 2\r\nc = 3\r\nd = 4\r\ne = 5\r\nf = 6\r\ng = 7\r\n"
    slot = ("test", "crlf")
    parsing.parse_cell(text, slot)
    edited = text.replace("d = 4", "d = 44")
    assert parsing.parse_cell(edited, slot).deep_equals(cst.parse_module(edited))


def test_a_broken_edit_raises_like_libcst():
    slot = ("test", "broken")
    parsing.parse_cell(CELL, slot)
    with pytest.raises(cst.ParserSyntaxError):
        parsing.parse_cell(CELL.replace("y = [1,", "y = [1,,"), slot)
    # and the slot is still usable afterwards
    assert parsing.parse_cell(CELL, slot).deep_equals(cst.parse_module(CELL))


def test_parse_ast_is_quiet_about_the_users_escape_sequences(recwarn):
    parsing.parse_ast('p = "\\d+"\nawait something()\n')
    assert not recwarn.list
