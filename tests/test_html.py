"""The notebook HTML renderer: escaping, masking, the findings table and its smaller relatives."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from mlsec.engine import FileError, Report
from mlsec.findings import Confidence, Finding, Severity
from mlsec.render import html

TOKEN = "ghp_" + "Zq8" * 12  # token-shaped test value, not a real credential


def _f(**kw) -> Finding:
    base = dict(rule_id="MLS101", name="pickle-load", message="`pickle.loads` unpickles data",
                severity=Severity.HIGH, fix_hint="Use **safetensors**.", file="nb.ipynb", cell_index=2,
                line=4, col=2, end_line=4, end_col=10, snippet="x = pickle.loads(b)\ny = 1")
    base.update(kw)
    return Finding(**base)


class _Balance(HTMLParser):
    VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source", "track", "embed"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append((tag, list(self.stack)))
        else:
            self.stack.pop()


def balanced(markup: str) -> bool:
    p = _Balance()
    p.feed(markup)
    p.close()
    return not p.errors and not p.stack


def test_table_has_badge_rule_explanation_cell_line_message_fix_and_code_frame():
    out = html.render(Report(findings=[_f()], files=1, cells=5, duration=0.01))
    assert balanced(out)
    assert "HIGH</span>" in out and "background:#d32f2f" in out
    assert "<details class=\"mlsec-rule\"><summary><code>MLS101</code>" in out  # explanation inline
    assert "<b>Why</b>" in out  # from the rule's markdown explanation
    assert "cell 3, line 4" in out  # 1-based cell as JupyterLab counts
    assert "<code>pickle.loads</code> unpickles data" in out
    assert "Use <b>safetensors</b>." in out
    assert re.search(r"<summary[^>]*>code</summary><pre>4 \| x = pickle.loads\(b\)\n5 \| y = 1</pre>", out)
    assert "1 finding (1 high) in 5 cells" in out


def test_history_cells_and_plain_files_are_named_as_the_user_sees_them():
    out = html.render(Report(findings=[_f(cell_index=6)]), cell_format="In [{n}]")
    assert "In [7], line 4" in out
    out = html.render(Report(findings=[_f(cell_index=None, file="train.py")]))
    assert ">line 4<" in out


def test_everything_is_escaped_and_secrets_masked():
    evil = _f(message="<script>alert(1)</script> token " + TOKEN, fix_hint="<img src=x onerror=alert(1)>",
              snippet=f'key = "{TOKEN}"  # <b>', notes=["from <i>here</i>"], rule_id="MLS201", name="x\"y")
    out = html.render(Report(findings=[evil], errors=[FileError("<b>bad</b>.ipynb", "oops <script>")]), title="<t>")
    assert "<script>" not in out and "<img" not in out and "<i>here" not in out and "<b>bad" not in out
    assert "&lt;script&gt;" in out and "&lt;t&gt;" in out
    assert TOKEN not in out and TOKEN[:8] not in out
    assert balanced(out)


def test_bandit_findings_without_explanation_and_low_confidence():
    f = _f(rule_id="B108", bandit_ids=["B108"], name="hardcoded_tmp_directory", confidence=Confidence.MEDIUM,
           severity=Severity.MEDIUM, notes=["path comes from a download (cell 2)"])
    out = html.render(Report(findings=[f]))
    assert "<code>B108</code>" in out and "mlsec-rule" not in out
    assert "(medium confidence)" in out and "path comes from a download" in out


def test_order_multi_file_column_row_cap_and_errors():
    fs = [_f(severity=Severity.LOW, file="b.py", cell_index=None), _f(severity=Severity.CRITICAL, file="a.ipynb"),
          _f(severity=Severity.MEDIUM, file="a.ipynb")]
    out = html.render(Report(findings=fs, files=2, errors=[FileError("c.ipynb", "invalid notebook JSON")]))
    assert out.index("CRITICAL") < out.index("MEDIUM") < out.index("LOW</span>")
    assert "<th>file</th>" in out and "<code>b.py</code>" in out
    assert "1 file not fully analysed" in out and "invalid notebook JSON" in out
    many = html.render(Report(findings=[_f(line=i + 1) for i in range(30)]), max_rows=10)
    assert many.count("<tr>") == 11 and "20 more findings not shown" in many
    assert balanced(many)


def test_empty_report():
    out = html.render(Report(files=1, cells=3))
    assert "No findings" in out and "<table>" not in out and balanced(out)


def test_compact_lines_for_automatic_mode():
    out = html.render_compact([_f(severity=Severity.MEDIUM, line=9), _f(line=2)], title="2 findings in this cell")
    assert out.index("line 2") < out.index("line 9")  # most severe first
    assert "border-color:#d32f2f" in out and "2 findings in this cell" in out and balanced(out)
    assert html.render_compact([]) == ""


def test_markdown_subset():
    md = "**Why**: a `x` b\n\n- one\n- two `t`\n  continued\n\n```python\nif a < b:\n    pass\n```\nend"
    out = html.markdown(md)
    assert out == ("<p><b>Why</b>: a <code>x</code> b</p><ul><li>one</li><li>two <code>t</code> continued</li></ul>"
                   "<pre>if a &lt; b:\n    pass</pre><p>end</p>")


def test_rules_explain_components_and_notices_render():
    from mlsec.rules.base import get_rule

    meta = get_rule("MLS101").meta()
    assert balanced(html.render_rules([meta])) and "MLS101" in html.render_rules([meta])
    ex = html.render_explain(meta)
    assert balanced(ex) and "CWE-502" in ex and "# mlsec: ignore[MLS101]" in ex

    from mlsec.components import Advisory, Vulnerable

    v = Vulnerable("torch", "2.5.0", [Advisory("PYSEC-2025-41", "torch", summary="RCE <b>", specs=("<2.6.0",),
                                              fixed=("2.6.0",), aliases=("CVE-2025-32434",), ref="https://x/y", cvss=9.8)])
    comp = html.render_components([v], 120, source="table")
    assert balanced(comp) and "CRITICAL" in comp and "2.6.0" in comp and "&lt;b&gt;" in comp
    assert 'href="https://x/y"' in comp
    assert "No installed package" in html.render_components([], 3)
    note = html.message_box("done `x` " + TOKEN, level="error")
    assert TOKEN not in note and "<code>x</code>" in note and balanced(note)


def test_report_repr_html_uses_this_renderer():
    r = Report(findings=[_f()])
    assert r._repr_html_() == html.render(r)
