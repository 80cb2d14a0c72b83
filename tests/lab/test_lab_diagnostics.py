"""Findings -> CodeMirror diagnostics: UTF-16 offsets, CRLF, fixes, masking."""
from __future__ import annotations

from mlsec.findings import Category, Finding, Severity
from mlsec.lab.diagnostics import Utf16Map, to_diagnostic


def utf16_slice(text: str, start: int, end: int) -> str:
    """What CodeMirror shows between two offsets of `text` (CRLF counted once, like CodeMirror)."""
    units = text.replace("\r\n", "\n").encode("utf-16-le")
    return units[2 * start : 2 * end].decode("utf-16-le")


def finding(line, col, end_line, end_col, **kw) -> Finding:
    return Finding(rule_id="MLS101", message="m", severity=Severity.HIGH, line=line, col=col,
                   end_line=end_line, end_col=end_col, **kw)


def test_offsets_after_an_emoji_count_two_utf16_units():
    src = 'x = "😀😀"; pickle.load(f)\n'
    col = src.index("pickle")
    umap = Utf16Map(src)
    d = to_diagnostic(finding(1, col, 1, col + len("pickle.load(f)")), umap)
    assert d["from"] == col + 2 and d["col"] == col + 2
    assert utf16_slice(src, d["from"], d["to"]) == "pickle.load(f)"


def test_offsets_on_later_lines_and_crlf():
    src = "a = '🐍'\r\nb = 1\r\nc = pickle.loads(d)  # 🐍\r\n"
    lines = src.splitlines()
    col = lines[2].index("pickle")
    d = to_diagnostic(finding(3, col, 3, col + len("pickle.loads(d)")), Utf16Map(src))
    assert utf16_slice(src, d["from"], d["to"]) == "pickle.loads(d)"


def test_multiline_span_and_clamping():
    src = "f(\n  x,\n)\n"
    d = to_diagnostic(finding(1, 0, 3, 99), Utf16Map(src))
    assert utf16_slice(src, d["from"], d["to"]) == "f(\n  x,\n)"
    d = to_diagnostic(finding(9, 0, 9, 5), Utf16Map(src))  # past the end: clamped, never negative
    assert 0 <= d["from"] <= d["to"]


def test_fix_becomes_codemirror_changes():
    src = "m = torch.load('x.pt')\n"
    col = src.index("torch")
    f = finding(1, col, 1, col + len("torch.load('x.pt')"),
                fix={"replacement": "torch.load('x.pt', weights_only=True)", "safe": True})
    d = to_diagnostic(f, Utf16Map(src))
    change = d["fix"]["changes"][0]
    assert utf16_slice(src, change["from"], change["to"]) == "torch.load('x.pt')"
    assert change["insert"] == "torch.load('x.pt', weights_only=True)" and d["fix"]["safe"] is True
    assert d["fix"]["title"].startswith("Replace with")


def test_fix_with_own_span_and_overlapping_edits():
    src = "🐍 = 1; yaml.load(s)\n"
    col = src.index("yaml.load") + len("yaml.load(s")
    f = finding(1, 0, 1, 5, fix={"edits": [{"line": 1, "col": col, "replacement": ", Loader=yaml.SafeLoader"}],
                                  "title": "Use SafeLoader"})
    d = to_diagnostic(f, Utf16Map(src))
    assert d["fix"]["title"] == "Use SafeLoader"
    ch = d["fix"]["changes"][0]
    assert ch["from"] == ch["to"] == col + 1  # insertion; the snake is two UTF-16 units
    bad = finding(1, 0, 1, 5, fix={"edits": [{"line": 1, "col": 0, "end_line": 1, "end_col": 4, "replacement": "a"},
                                             {"line": 1, "col": 2, "end_line": 1, "end_col": 6, "replacement": "b"}]})
    assert "fix" not in to_diagnostic(bad, Utf16Map(src))
    assert "fix" not in to_diagnostic(finding(1, 0, 1, 1, fix={"nonsense": 1}), Utf16Map(src))


def test_in_output_findings_have_no_editor_range_and_messages_are_masked():
    token = "ghp_" + "Zq8Lm2Xv9Tr4Wp7Ks1Nd6Hf3Jb5Yc0Ga8Ue2Q"
    f = Finding(rule_id="MLS207", message=f"token {token} printed", severity=Severity.CRITICAL,
                category=Category.SECRETS, in_output=True, line=1, col=4, end_line=1, end_col=44)
    d = to_diagnostic(f, Utf16Map("print(x)\n"))
    assert d["inOutput"] is True and d["from"] == d["to"] == 0
    assert token not in repr(d) and "ghp_" in d["message"]
