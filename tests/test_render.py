"""Renderers: text frames and masking, JSON round trip, SARIF 2.1.0 (validated against the official
schema, regions checked against the raw .ipynb), GitHub annotations and their escaping, and the
raw-notebook position scanner."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlsec.config import Config
from mlsec.engine import FileError, Report, analyze
from mlsec.findings import Category, Confidence, Finding, Severity
from mlsec.nbpositions import NotebookPositions
from mlsec.render import file_region, github, render, sarif, text
from mlsec.render import json as rjson
from mlsec.source import Cell, Document, from_cells, load_notebook_text

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
TOKEN = "ghp_Zq8Wm2Lx7Rt5Yu1Io3Pa9Sd4Fg6Hj0Kl8Mn2B"  # GitHub token format, not a real token


def _nb(cells: list[dict], metadata: dict | None = None, **dump) -> str:
    nb = {
        "cells": cells,
        "metadata": metadata or {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=dump.pop("indent", 1), ensure_ascii=dump.pop("ensure_ascii", False), **dump) + "\n"


def _code(source, outputs=None) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": outputs or [], "source": source}


def _lines(src: str) -> list[str]:
    return src.splitlines(keepends=True)


NOTEBOOK_CELLS = [
    {"cell_type": "markdown", "metadata": {}, "source": ["# Training\n", "Loads a model.\n"]},
    _code(_lines("import pickle, requests\nr = requests.get(url)\nmodel = pickle.loads(r.content)\n")),
    _code(
        ["print('done')\n"],
        outputs=[{"name": "stdout", "output_type": "stream", "text": [f"pushed with {TOKEN}\n"]}],
    ),
    _code("import yaml\ns = 'é \"q\" \\t'; cfg = yaml.load(open('c.yml'))\n"),  # one string, escapes before the call
    _code(_lines(f"token = '{TOKEN}'\n")),
]


@pytest.fixture(scope="module")
def nb_report() -> tuple[Report, str]:
    raw = _nb(NOTEBOOK_CELLS)
    doc = load_notebook_text(raw, "notebooks/train.ipynb")
    report = analyze(doc, Config(), use_cache=False)
    py = Document(path="src/train.py", cells=[Cell(source="import pickle\n\nm = pickle.load(open('m.pkl', 'rb'))\n")])
    report.extend(analyze(py, Config(), use_cache=False))
    report.errors.append(FileError("broken.ipynb", "invalid notebook JSON: Expecting value at line 1 column 1"))
    return report, raw


# ---------------------------------------------------------------------------------------------
# text


def test_text_header_and_frame(nb_report):
    report, _ = nb_report
    out = text.render(report, color=False)
    assert "notebooks/train.ipynb:cell 2:3:9: MLS101 [critical] `pickle.loads` unpickles data" in out
    assert "(bandit B301)" in out
    block = out[out.index("cell 2:3:9: MLS101") :].split("\n\n")[0].splitlines()
    assert block[1].strip() == "|"
    assert block[2] == "3 | model = pickle.loads(r.content)"
    assert block[3] == "  |         " + "^" * len("pickle.loads(r.content)")
    assert any(line.startswith("  = note: comes from a download") for line in block)
    assert any(line.startswith("  = fix: ") for line in block)
    assert "src/train.py:3:5: MLS101 [high]" in out
    assert "cell 3:1:" in out and "(in output)" in out
    assert "broken.ipynb: error: invalid notebook JSON" in out


def test_text_masks_secrets_and_underlines_the_masked_literal(nb_report):
    report, _ = nb_report
    out = text.render(report, color=False)
    assert TOKEN not in out and TOKEN[4:12] not in out
    (f,) = [f for f in report.findings if f.cell_index == 4 and f.category == Category.SECRETS and not f.in_output]
    frame = text.code_frame(f, original=[f"token = '{TOKEN}'"])
    shown = frame[1].split("| ", 1)[1]
    marks = frame[2].split("| ", 1)[1]
    assert shown.startswith("token = 'ghp_") and "*" in shown and TOKEN not in shown
    start = marks.index("^")
    assert start == f.col == len("token = ")
    assert marks[start:] == "^" * (len(shown) - start), "underline must cover exactly the masked literal"


def test_text_color_and_no_color(nb_report, monkeypatch):
    report, _ = nb_report
    assert "\x1b[" in text.render(report, color=True)
    assert "\x1b[" not in text.render(report, color=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in text.render(report)  # color=None: auto, and NO_COLOR wins
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert text.use_color()


def test_summary_is_its_own_function(nb_report):
    report, _ = nb_report
    s = text.summary(report)
    n = len(report.findings)
    assert s.startswith(f"Found {n} findings (")
    crit = sum(1 for f in report.findings if f.severity == Severity.CRITICAL)
    assert f"{crit} critical" in s
    assert "2 files, 5 code cells" in s
    assert "by category: " in s and "deserialization" in s
    assert "1 file error" in s
    assert text.render(report, summary=False).count("Found ") == 0
    assert text.summary(Report(files=3, cells=7)).startswith("No findings in 3 files, 7 code cells")


def test_text_without_source_frames(nb_report):
    report, _ = nb_report
    out = text.render(report, color=False, source=False, fixes=False, notes=False, summary=False)
    assert "|" not in out and "= fix" not in out
    assert out.count("\n\n") == len(report.findings)  # one block per finding, then the errors


def test_shift_moves_columns_past_a_masked_span():
    orig = "k = 'abcdefghijklmnop'; x = f(1)"
    masked = "k = 'abcd****'; x = f(1)"
    assert text._shift(4, orig, masked) == 4
    assert text._shift(orig.index("x"), orig, masked) == masked.index("x")
    assert text._shift(len(orig), orig, masked) == len(masked)
    assert text._shift(3, None, "abc") == 3


# ---------------------------------------------------------------------------------------------
# JSON


def test_json_schema_and_round_trip(nb_report):
    report, _ = nb_report
    data = json.loads(rjson.render(report))
    assert list(data) == ["version", "tool", "summary", "findings", "errors", "notes"]
    assert data["version"] == rjson.SCHEMA_VERSION and data["tool"]["name"] == "mlsec"
    assert data["summary"]["findings"] == len(report.findings)
    assert sum(data["summary"]["by_severity"].values()) == len(report.findings)
    assert set(data["summary"]["by_category"]) == {c.value for c in Category}
    assert data["errors"] == [{"path": "broken.ipynb", "message": "invalid notebook JSON: Expecting value at line 1 column 1"}]
    back = rjson.parse(rjson.render(report))
    assert [f.to_dict() for f in back.findings] == [f.to_dict() for f in report.findings]
    assert [e.to_dict() for e in back.errors] == [e.to_dict() for e in report.errors]
    assert (back.files, back.cells) == (report.files, report.cells)
    assert TOKEN not in rjson.render(report)
    assert report.to_json() == rjson.render(report)


def test_json_parse_rejects_other_documents():
    with pytest.raises(ValueError):
        rjson.parse('{"version": "99", "findings": []}')
    with pytest.raises(ValueError):
        rjson.parse("[]")


# ---------------------------------------------------------------------------------------------
# SARIF


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")  # a test dependency (pyproject [test])
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator, log: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


def test_sarif_is_valid_against_the_official_schema(nb_report, validator):
    report, _ = nb_report
    log = json.loads(sarif.render(report))
    assert _errors(validator, log) == []
    assert log["version"] == "2.1.0"
    kinds = {(r["properties"]["inOutput"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in log["runs"][0]["results"]}
    assert (True, "notebooks/train.ipynb") in kinds and (False, "notebooks/train.ipynb") in kinds
    assert (False, "src/train.py") in kinds


def test_schema_rejects_a_broken_log(validator):
    assert _errors(validator, {"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]})  # driver needs a name
    assert _errors(validator, {"version": "2.0.0", "runs": []})


def test_sarif_rules_and_results(nb_report):
    from mlsec.rules.base import all_rules

    report, _ = nb_report
    run = sarif.to_sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert {r.id for r in all_rules()} <= set(ids)
    assert "B403" in ids  # a bandit test seen in the results
    mls101 = rules[ids.index("MLS101")]
    assert mls101["help"]["markdown"].startswith("**Why**") or "**Why**" in mls101["help"]["markdown"]
    assert "{" not in mls101["shortDescription"]["text"] and "<name>" in mls101["shortDescription"]["text"]
    assert "external/cwe/cwe-502" in mls101["properties"]["tags"]
    assert mls101["defaultConfiguration"] == {"level": "error", "enabled": True}
    b403 = rules[ids.index("B403")]
    assert b403["helpUri"].startswith("https://bandit.readthedocs.io/")
    for res, f in zip(run["results"], report.findings):
        assert res["ruleId"] == f.rule_id and rules[res["ruleIndex"]]["id"] == f.rule_id
        assert res["partialFingerprints"] == {sarif.FINGERPRINT_KEY: f.fingerprint()}
        assert res["level"] == {"critical": "error", "high": "error", "medium": "warning"}.get(f.severity.label, "note")
        if f.file.endswith(".ipynb"):
            assert res["properties"]["cellIndex"] == f.cell_index
            assert res["properties"]["cellLine"] == (0 if f.in_output else f.line)
        else:
            assert "cellIndex" not in res["properties"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"].startswith("invalid notebook JSON")
    assert TOKEN not in json.dumps(run)


def _span_in_raw(raw: str, region: dict) -> str:
    """The decoded source text between a region's start and end in the raw JSON (same raw line)."""
    line = raw.split("\n")[region["startLine"] - 1]
    piece = line[region["startColumn"] - 1 : region["endColumn"] - 1]
    return json.loads('"' + piece + '"')


@pytest.mark.parametrize("ensure_ascii", [False, True])
@pytest.mark.parametrize("indent", [1, 2, None])
def test_sarif_regions_point_at_the_raw_notebook(ensure_ascii, indent):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# é \"title\"\n"},
        _code(_lines("import pickle\nemoji = '😀 \\u00e9'; x = pickle.loads(b)\n")),
        _code("import yaml\ns = '\\t\"é\"'\ncfg = yaml.load(open('c.yml'))\n"),
        _code(["import tarfile\n", "with tarfile.open('a.tgz') as t:\n", "    t.extractall('out')\n"]),
    ]
    raw = _nb(cells, indent=indent, ensure_ascii=ensure_ascii)
    doc = load_notebook_text(raw, "n.ipynb")
    report = analyze(doc, Config(), use_cache=False)
    code_findings = [f for f in report.findings if not f.in_output]
    assert {f.rule_id for f in code_findings} >= {"MLS101", "MLS106", "MLS304"}
    log = sarif.to_sarif(report)
    for res, f in zip(log["runs"][0]["results"], report.findings):
        region = res["locations"][0]["physicalLocation"]["region"]
        src_lines = doc.cells[f.cell_index].source.split("\n")
        if f.end_line == f.line:
            expected = src_lines[f.line - 1][f.col : f.end_col]
            assert _span_in_raw(raw, region) == expected, (f.rule_id, region)
        else:
            # a multi-line span: the start is on the raw line of the first source line
            line = raw.split("\n")[region["startLine"] - 1]
            assert json.loads('"' + line[region["startColumn"] - 1 :].split('"')[0] + '"').startswith(
                src_lines[f.line - 1][f.col : f.col + 5]
            )


def test_sarif_outputs_and_metadata_point_at_their_keys(validator):
    cells = [_code(["print(1)\n"], outputs=[{"name": "stdout", "output_type": "stream", "text": [f"token {TOKEN}\n"]}])]
    raw = _nb(cells, metadata={"kernelspec": {"name": "python3", "language": "python"}, "hub": {"token": TOKEN}})
    doc = load_notebook_text(raw, "o.ipynb")
    report = analyze(doc, Config(), use_cache=False)
    log = sarif.to_sarif(report)
    assert _errors(validator, log) == []
    lines = raw.split("\n")
    seen = set()
    for res in log["runs"][0]["results"]:
        line = lines[res["locations"][0]["physicalLocation"]["region"]["startLine"] - 1]
        if "cellIndex" in res["properties"]:
            assert res["properties"]["cellLine"] == 0 and line.strip().startswith('"outputs"')
            seen.add("output")
        else:
            assert res["properties"].get("notebookMetadata") is True and line.strip().startswith('"metadata"')
            seen.add("metadata")
    assert seen == {"output", "metadata"}
    assert TOKEN not in json.dumps(log)


def test_sarif_for_cells_without_a_file_uses_cell_lines(validator):
    report = analyze(from_cells(["import pickle\n", "x = 1\ny = pickle.loads(b)\n"], path="<notebook>"), Config())
    log = sarif.to_sarif(report)
    assert _errors(validator, log) == []
    res = [r for r in log["runs"][0]["results"] if r["ruleId"] == "MLS101"][0]
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert res["properties"]["cellIndex"] == 1


def test_sarif_uris():
    assert sarif.to_uri("notebooks/my nb.ipynb") == "notebooks/my%20nb.ipynb"
    assert sarif.to_uri("./a/b.py") == "a/b.py"
    assert sarif.to_uri("a\\b.py") == "a/b.py"
    assert sarif.to_uri("/tmp/x y/n.ipynb").startswith("file:///")


def test_empty_report_is_valid_sarif(validator):
    log = json.loads(Report().to_sarif())
    assert _errors(validator, log) == [] and log["runs"][0]["results"] == []


# ---------------------------------------------------------------------------------------------
# GitHub annotations


def test_github_escaping():
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    cmd = github.command("warning", "x: 50%, y\nz", file="dir,1/a:b.py", line=3, title="T,1: x")
    assert cmd == "::warning file=dir%2C1/a%3Ab.py,line=3,title=T%2C1%3A x::x: 50%25, y%0Az"


def test_github_annotations_match_sarif_lines(nb_report):
    report, raw = nb_report
    out = github.render(report).splitlines()
    log = sarif.to_sarif(report)
    assert len(out) == len(report.findings) + len(report.errors)
    for line, f, res in zip(out, report.findings, log["runs"][0]["results"]):
        level = {"critical": "error", "high": "error", "medium": "warning"}.get(f.severity.label, "notice")
        assert line.startswith(f"::{level} file={f.file},line=")
        m = re.search(r",line=(\d+)", line)
        assert int(m.group(1)) == res["locations"][0]["physicalLocation"]["region"]["startLine"]
        assert f"title={f.rule_id}" in line
        assert "\n" not in line
        if f.cell_index is not None:
            assert f"::cell {f.cell_index + 1}, " in line
    assert out[-1] == "::error file=broken.ipynb,title=mlsec::invalid notebook JSON: Expecting value at line 1 column 1"
    assert TOKEN not in "\n".join(out)
    mls101 = next(line for line in out if "title=MLS101 (bandit B301) [critical]" in line)
    raw_line = raw.split("\n")[int(re.search(r",line=(\d+)", mls101).group(1)) - 1]
    assert "pickle.loads(r.content)" in raw_line


# ---------------------------------------------------------------------------------------------
# positions in the raw notebook and the dispatcher


def test_positions_list_and_string_sources():
    raw = _nb(
        [
            {"cell_type": "markdown", "metadata": {}, "source": ["a\n", "b"]},
            _code(["x = 1\n", "y = 2\n", "z"]),
            _code("p = 1\r\nq = 2\n"),
        ]
    )
    pos = NotebookPositions(raw)
    lines = raw.split("\n")
    for cell, line, col, expect in [(1, 1, 0, "x = 1"), (1, 2, 4, "2\\n"), (1, 3, 0, 'z"'), (0, 2, 0, 'b"')]:
        L, C = pos.position(cell, line, col)
        assert lines[L - 1][C:].startswith(expect), (cell, line, lines[L - 1])
    L, C = pos.position(2, 2, 0)
    assert lines[L - 1][C:].startswith("q = 2")
    assert pos.outputs_line(1) == next(i for i, s in enumerate(lines, 1) if '"outputs"' in s)
    assert lines[pos.metadata_line - 1].strip().startswith('"metadata"')
    assert pos.position(99, 1, 0) == (1, 0)


def test_positions_count_every_cells_element_and_survive_bad_json():
    raw = '{"cells": [\n 7,\n {"cell_type": "code", "source": ["a\\n",\n "b = 1\\n"]}\n], "metadata": {}}'
    pos = NotebookPositions(raw)
    assert pos.position(1, 2, 0) == (4, 2)
    broken = NotebookPositions('{"cells": [ {"source": ["x\\n"]}, {"source": ')
    assert broken.position(0, 1, 0) == (1, 25)
    assert broken.position(1, 1, 0)[0] >= 1


def test_file_region_for_plain_files():
    f = Finding("MLS101", "m", Severity.HIGH, file="a.py", line=3, col=4, end_line=3, end_col=10)
    r = file_region(f, Document(path="a.py", cells=[Cell(source="x")]))
    assert (r.start_line, r.start_col, r.end_line, r.end_col) == (3, 5, 3, 11)


def test_render_dispatch(nb_report):
    report, _ = nb_report
    assert render(report, "json") == rjson.render(report)
    assert render(report, "github") == github.render(report)
    assert render(report, "text", color=False) == report.to_text(color=False)
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "xml")


def test_finding_with_unknown_rule_still_renders(validator):
    f = Finding(
        "MLS001", "cell does not parse", Severity.INFO, Confidence.HIGH, Category.SYNTAX, file="a.py", name="syntax-error"
    )
    report = Report(findings=[f], files=1)
    assert _errors(validator, sarif.to_sarif(report)) == []
    assert "a.py:1:1: MLS001 [info] cell does not parse" in text.render(report, color=False)
