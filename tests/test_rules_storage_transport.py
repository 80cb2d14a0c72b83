"""Storage (MLS3xx) and transport (MLS4xx) rules: what single-cell embedded examples cannot show.

Cross-cell facts (a URL bound in one cell and fetched in another, a tarfile opened in one cell and
extracted in the next, an archive that came from a download), the per-cell cache keyed on those
facts, real .ipynb files, exact spans in shell lines, and the small pure helpers.
"""
from __future__ import annotations

import json
import re

import pytest

from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.findings import Category
from mlsec.rules.base import all_rules
from mlsec.rules.storage import _shell_mode_world_writable, shared_tmp_path
from mlsec.rules.transport import _curl_insecure, plain_http_url
from mlsec.source import from_cells, from_string, load_path

MINE = ("MLS3", "MLS4")


def _lint(doc, use_cache: bool = False):
    return analyze(doc, Config(bandit=False, select=list(MINE)), use_cache=use_cache).findings


def _ids(findings):
    return [f.rule_id for f in findings]


# ---------------------------------------------------------------------------------------------
# cross-cell facts


def test_url_bound_in_one_cell_and_fetched_in_a_later_one():
    doc = from_cells(["import requests", "DATA_URL = 'http://example.com/train.csv'", "x = 1",
                      "r = requests.get(DATA_URL, timeout=10)"])
    found = [f for f in _lint(doc) if f.rule_id == "MLS403"]
    assert len(found) == 1
    assert found[0].cell_index == 3 and found[0].line == 1
    assert "http://example.com/train.csv" in found[0].message


def test_url_rebound_to_https_is_not_reported():
    doc = from_cells(["import requests", "U = 'http://example.com/a.csv'", "U = 'https://example.com/a.csv'",
                      "requests.get(U)"])
    assert "MLS403" not in _ids(_lint(doc))


def test_url_rebound_to_a_non_literal_is_forgotten():
    doc = from_cells(["import requests", "U = 'http://example.com/a.csv'", "U = make_url()", "requests.get(U)"])
    assert "MLS403" not in _ids(_lint(doc))


def test_cell_cache_distinguishes_url_facts_from_earlier_cells():
    """The same last cell must give different results when an earlier cell binds a different URL."""
    last = "import requests\nrequests.get(SRC)"
    http = from_cells(["SRC = 'http://example.com/w.bin'", last])
    https = from_cells(["SRC = 'https://example.com/w.bin'", last])
    assert _ids(_lint(http, use_cache=True)) == ["MLS403"]
    assert _ids(_lint(https, use_cache=True)) == []
    assert _ids(_lint(http, use_cache=True)) == ["MLS403"]


def test_tarfile_opened_in_one_cell_extracted_in_another():
    doc = from_cells(["import tarfile", "tar = tarfile.open('data.tgz', 'r:gz')", "tar.extractall('data')"])
    found = [f for f in _lint(doc) if f.rule_id == "MLS304"]
    assert [(f.cell_index, f.line, f.severity.label) for f in found] == [(2, 1, "medium")]


def test_tar_from_a_python_download_raises_severity():
    doc = from_cells([
        "import tarfile, urllib.request",
        "urllib.request.urlretrieve('https://example.com/d.tgz', 'd.tgz')",
        "tarfile.open('d.tgz').extractall('out')",
    ])
    f = next(f for f in _lint(doc) if f.rule_id == "MLS304")
    assert f.severity.label == "high"
    assert any("download" in n for n in f.notes)


def test_tarfile_name_rebound_to_something_else_is_not_reported():
    doc = from_cells(["import tarfile", "t = tarfile.open('a.tgz')", "import zipfile\nt = zipfile.ZipFile('a.zip')",
                      "t.extractall('.')"])
    assert "MLS304" not in _ids(_lint(doc))


def test_subprocess_with_url_constant_from_an_earlier_cell():
    doc = from_cells(["W = 'http://example.com/model.pkl'", "import subprocess\nsubprocess.run(['wget', W])"])
    found = [f for f in _lint(doc) if f.rule_id == "MLS403"]
    assert len(found) == 1 and found[0].severity.label == "high"


# ---------------------------------------------------------------------------------------------
# real notebook files


def _write_nb(tmp_path, cells):
    nb = {
        "cells": [
            {"cell_type": t, "metadata": {}, "source": s, **({"outputs": [], "execution_count": None} if t == "code" else {})}
            for t, s in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    p = tmp_path / "nb.ipynb"
    p.write_text(json.dumps(nb), encoding="utf-8")
    return str(p)


def test_notebook_links_in_markdown_and_prints_are_not_downloads(tmp_path):
    path = _write_nb(tmp_path, [
        ("markdown", "Get the data with `!wget http://example.com/data.zip` or see http://example.com.\n"
                     "Files go to /tmp/x and you can `chmod 777` them."),
        ("code", "print('mirror: http://example.com/data.zip')\n# !wget http://example.com/data.zip\n"
                 "note = 'run curl -k at your own risk'"),
        ("code", "!wget http://example.com/data.zip\n!curl -k https://example.com/x -o x"),
    ])
    found = _lint(load_path(path))
    assert sorted((f.rule_id, f.cell_index, f.line) for f in found) == [("MLS403", 2, 1), ("MLS404", 2, 2)]


def test_bash_cell_reports_each_problem_on_its_line(tmp_path):
    path = _write_nb(tmp_path, [("code", "%%bash\nset -e\nwget --no-check-certificate http://example.com/w.pt\n"
                                         "chmod -R 777 /data\n")])
    found = sorted((f.rule_id, f.line, f.severity.label) for f in _lint(load_path(path)))
    assert found == [("MLS303", 4, "high"), ("MLS403", 3, "high"), ("MLS404", 3, "high")]


# ---------------------------------------------------------------------------------------------
# spans, suppression, bad input


def test_shell_findings_point_at_the_offending_word():
    src = "x = 1\n!curl -sSL -k https://example.com/install.sh -o i.sh"
    f = next(f for f in _lint(from_string(src)) if f.rule_id == "MLS404")
    line = src.splitlines()[1]
    assert (f.line, line[f.col:f.end_col]) == (2, "-k")


def test_http_url_span_in_shell_line():
    src = "!wget -q http://example.com/a.zip"
    f = next(f for f in _lint(from_string(src)) if f.rule_id == "MLS403")
    assert src[f.col:f.end_col] == "http://example.com/a.zip"


def test_call_findings_point_at_the_call_or_argument():
    src = "import requests\nr = requests.get(u, verify=False)"
    f = next(f for f in _lint(from_string(src)) if f.rule_id == "MLS401")
    assert src.splitlines()[1][f.col:f.end_col] == "verify=False"
    src = "import pandas as pd\ndf.to_csv('/tmp/out.csv', index=False)"
    f = next(f for f in _lint(from_string(src)) if f.rule_id == "MLS301")
    assert src.splitlines()[1][f.col:f.end_col] == "'/tmp/out.csv'"


def test_inline_suppression_applies():
    src = "import requests\nrequests.get('http://example.com/x')  # mlsec: ignore[MLS403]\n"
    assert _lint(from_string(src)) == []


def test_unbalanced_quotes_and_unparsable_cells_do_not_crash():
    doc = from_cells(["!curl -k \"https://example.com/x", "import tarfile\ntar.extractall(", "!chmod"])
    found = _lint(doc)
    assert ("MLS404", 0) in [(f.rule_id, f.cell_index) for f in found]
    assert all(f.rule_id != "MLS304" for f in found)


# ---------------------------------------------------------------------------------------------
# permission arithmetic (through the engine, with real stat constants)


@pytest.mark.parametrize("expr,mode,severity", [
    ("stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO", "0o777", "high"),
    ("S_IRUSR + S_IWOTH", "0o402", "high"),
    ("0o777 & ~stat.S_IWOTH", "0o775", "low"),
    ("(stat.S_IRUSR | stat.S_IWUSR) | stat.S_IROTH", "0o604", "low"),
    ("0o1777", "0o1777", "high"),
])
def test_mode_expressions_are_evaluated(expr, mode, severity):
    src = f"import os, stat\nfrom stat import S_IRUSR, S_IWOTH\nos.chmod(p, {expr})"
    found = [f for f in _lint(from_string(src)) if f.rule_id == "MLS303"]
    assert len(found) == 1
    assert mode in found[0].message and found[0].severity.label == severity


@pytest.mark.parametrize("expr", ["0o700", "stat.S_IRWXU", "stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP", "mode",
                                  "os.stat(p).st_mode | stat.S_IXUSR"])
def test_private_or_unknown_modes_are_not_reported(expr):
    src = f"import os, stat\nos.chmod(p, {expr})"
    assert "MLS303" not in _ids(_lint(from_string(src)))


# ---------------------------------------------------------------------------------------------
# pure helpers


@pytest.mark.parametrize("url,remote", [
    ("http://example.com/x", True),
    ("HTTP://Example.com", True),
    ("http://user:pw@example.com:8080/x", True),
    ("http://10.1.2.3/x", True),
    ("https://example.com/x", False),
    ("http://localhost:8888/tree", False),
    ("http://LOCALHOST/", False),
    ("http://api.localhost/x", False),
    ("http://127.0.0.1:11434/api", False),
    ("http://127.8.9.1/", False),
    ("http://0.0.0.0:7860", False),
    ("http://[::1]:8000/", False),
    ("http://{}:{}/predict", False),
    ("http://{host}/x", False),
    ("http://", False),
    ("ftp://example.com", False),
    (None, False),
])
def test_plain_http_url(url, remote):
    assert (plain_http_url(url) is not None) is remote


@pytest.mark.parametrize("word,insecure", [
    ("-k", True), ("--insecure", True), ("-sSLk", True), ("-kL", True), ("--proxy-insecure", True),
    ("-o", False), ("-ok", False), ("-Hk", False), ("-L", False), ("--keepalive-time", False), ("k", False),
])
def test_curl_insecure_flag(word, insecure):
    assert _curl_insecure(word) is insecure


@pytest.mark.parametrize("mode,writable", [
    ("777", True), ("0777", True), ("666", True), ("1777", True), ("a+w", True), ("o+rwx", True), ("u+x,o+w", True),
    ("755", False), ("644", False), ("+x", False), ("+w", False), ("u+w", False), ("o-w", False), ("go-rwx", False),
])
def test_shell_chmod_modes(mode, writable):
    assert _shell_mode_world_writable(mode) is writable


@pytest.mark.parametrize("text,root", [
    ("/tmp", "/tmp"), ("/tmp/x.csv", "/tmp"), ("/var/tmp/a", "/var/tmp"), ("/dev/shm/cache", "/dev/shm"),
    ("/tmpfs/a", None), ("tmp/x", None), ("/home/me/tmp", None), ("", None), (None, None),
])
def test_shared_tmp_path(text, root):
    assert shared_tmp_path(text) == root


# ---------------------------------------------------------------------------------------------
# metadata


def _my_rules():
    return [r for r in all_rules() if r.id.startswith(MINE)]


def test_rule_metadata_is_complete_and_in_range():
    rules = _my_rules()
    assert {r.id for r in rules} >= {f"MLS30{i}" for i in range(1, 8)} | {f"MLS40{i}" for i in range(1, 5)}
    for r in rules:
        assert r.category == (Category.STORAGE if r.id.startswith("MLS3") else Category.TRANSPORT), r.id
        assert isinstance(r.cwe, int) and r.stage is not None
        assert "**Why**" in r.explanation and "**Example**" in r.explanation and "**Fix**" in r.explanation, r.id
        assert r.triggers, f"{r.id} needs prefilter triggers"
        for t in r.triggers:
            re.compile(t)
        assert all(re.fullmatch(r"B\d{3}", b) for b in r.bandit_ids), r.id


def test_messages_are_fully_formatted():
    """No `{name}` left over in any message the embedded INVALID examples produce."""
    for r in _my_rules():
        for ex in r.INVALID:
            for f in analyze(from_string(ex.code), Config(bandit=False, select=[r.id]), use_cache=False).findings:
                assert not re.search(r"\{[a-z_]*\}", f.message), (r.id, f.message)
                assert f.fix_hint and f.cwe == r.cwe
