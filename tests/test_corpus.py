"""Every notebook of the shared corpus (1,137 real ML notebooks) through the parallel scan, bandit on.

The corpus sits beside the clone (`../shared/corpus`), in CI too. Without it the test is skipped, unless
MLSEC_REQUIRE_CORPUS=1, which turns the skip into a failure (CI sets it so that a missing corpus cannot
pass silently).
"""
from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import pytest

from mlsec import bandit_bridge, secrets
from mlsec.config import Config
from mlsec.findings import Category, Severity
from mlsec.rules.base import all_rules
from mlsec.scan import scan

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _require_corpus() -> None:
    """Skip without the corpus, or fail when CI says it must be there (MLSEC_REQUIRE_CORPUS=1)."""
    if not CORPUS.is_dir():
        message = f"corpus not found at {CORPUS}"
        if os.environ.get("MLSEC_REQUIRE_CORPUS") == "1":
            pytest.fail(message + " and MLSEC_REQUIRE_CORPUS=1")
        pytest.skip(message)


@pytest.fixture(scope="module")
def corpus_report():
    _require_corpus()
    # enable everything that is off by default, so that every rule meets real notebooks
    config = Config(bandit=True, enable=["ALL"])
    return scan([str(CORPUS)], config, use_cache=False)


@functools.lru_cache(maxsize=None)
def _cells(path: str) -> list[dict]:
    with open(path, encoding="utf-8-sig") as fh:
        nb = json.load(fh)
    return [c for c in nb.get("cells", [])]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_whole_corpus_scans_without_a_crash(corpus_report):
    n_notebooks = sum(1 for _ in CORPUS.rglob("*.ipynb"))
    assert n_notebooks > 1000
    assert corpus_report.files == n_notebooks
    assert corpus_report.failed == [], corpus_report.errors[:5]
    internal = [f for f in corpus_report.findings if f.name == "internal-error"]
    assert internal == [], [(f.file, f.cell_index, f.message) for f in internal[:5]]
    for e in corpus_report.errors:  # only notebooks for another kernel language are reported
        assert "not Python" in e.message, (e.path, e.message)
    assert corpus_report.jobs >= 1 and corpus_report.cells > 15_000


def test_every_finding_is_well_formed(corpus_report):
    native_ids = {r.id for r in all_rules()} | {"MLS001"}
    bandit_ids = set(bandit_bridge.test_names())
    assert len(corpus_report.findings) > 100
    problems = []
    for f in corpus_report.findings:
        where = f"{os.path.relpath(f.file, CORPUS)} cell {f.cell_index} {f.rule_id}"
        ok_id = f.rule_id in native_ids or (f.source == "bandit" and f.rule_id in bandit_ids)
        if not ok_id or not re.fullmatch(r"MLS\d{3}|B\d{3}", f.rule_id):
            problems.append(f"{where}: unknown rule id")
        if not isinstance(f.severity, Severity) or not isinstance(f.category, Category):
            problems.append(f"{where}: severity/category not set")
        if not f.message.strip():
            problems.append(f"{where}: empty message")
        for text in (f.snippet, f.message, *f.notes):
            if secrets.find_tokens(text):
                problems.append(f"{where}: unmasked token in {text[:40]!r}")
        cells = _cells(f.file)
        if f.cell_index is None:
            if "in notebook metadata" not in f.notes:
                problems.append(f"{where}: no cell index")
            continue
        if not 0 <= f.cell_index < len(cells):
            problems.append(f"{where}: cell index out of range ({len(cells)} cells)")
            continue
        cell = cells[f.cell_index]
        if cell.get("cell_type") != "code":
            problems.append(f"{where}: points at a {cell.get('cell_type')} cell")
        if f.in_output:
            continue
        n_lines = max(1, len(_source(cell).splitlines()))
        if not (1 <= f.line <= f.end_line <= n_lines):
            problems.append(f"{where}: lines {f.line}-{f.end_line} outside the cell's {n_lines}")
        elif f.col < 0 or (f.line == f.end_line and f.end_col < f.col):
            problems.append(f"{where}: bad columns {f.col}-{f.end_col}")
    assert problems == [], problems[:20]


def test_findings_have_cell_ids_where_the_notebook_has_them(corpus_report):
    for f in corpus_report.findings[:2000]:
        if f.cell_index is None:
            continue
        cell = _cells(f.file)[f.cell_index]
        assert f.cell_id == (cell.get("id") if isinstance(cell.get("id"), str) else None)


# ---------------------------------------------------------------------------------------------
# The caches that make re-linting fast must not change a single finding. Checked over every notebook.


@pytest.fixture(scope="module")
def corpus_docs():
    _require_corpus()
    from mlsec.source import SourceError, load_path

    docs = []
    for path in sorted(CORPUS.rglob("*.ipynb")):
        try:
            docs.append(load_path(str(path)))
        except SourceError:
            pass
    assert len(docs) > 1000
    return docs


def _key(findings) -> list[tuple]:
    return sorted((f.rule_id, tuple(f.ids), f.cell_index, f.line, f.col, f.end_line, f.end_col, f.message,
                   tuple(f.notes), f.severity) for f in findings)


def test_cell_cache_gives_what_a_fresh_analysis_gives_after_edits(corpus_docs):
    """The in-memory cell cache keys each cell on the part of the context it can read (`scope_key`) and
    replays its changes to the context. Insert a cell that rebinds names and imports a module in the
    middle of every notebook, analyse with the warm cache, and compare with an analysis without it."""
    from dataclasses import replace as dc_replace

    from mlsec.engine import analyze
    from mlsec.source import Cell

    config = Config(bandit=False, enable=["ALL"])
    differ = []
    for doc in corpus_docs:
        if not doc.is_python:
            continue
        analyze(doc, config)  # warm
        code = [c for c in doc.cells if c.is_code]
        if len(code) < 3:
            continue
        mid = code[len(code) // 2]
        names = re.findall(r"^([A-Za-z_]\w*)\s*=", "\n".join(c.source for c in code[: len(code) // 2]), re.M)[:3]
        inserted = "import pickle as pd\nimport dill as np\n" + "".join(f"{n} = open('x.pkl', 'rb')\n" for n in names)
        cells = []
        for c in doc.cells:
            if c is mid:
                cells.append(Cell(source=inserted, index=None))
            cells.append(c)
        edited = dc_replace(doc, cells=[dc_replace(c, index=i) for i, c in enumerate(cells)])
        warm = analyze(edited, config)
        cold = analyze(edited, config, use_cache=False)
        if _key(warm.findings) != _key(cold.findings):
            differ.append(doc.path)
    assert differ == [], differ[:5]


def test_statement_level_reparse_gives_the_whole_parse_tree(corpus_docs):
    """`parsing.parse_cell` rebuilds an edited cell's tree from the old tree's statements; it must be
    exactly the tree libcst gives for the whole cell."""
    import libcst as cst

    from mlsec import parsing
    from mlsec.syntax import python_of

    checked = 0
    for doc in corpus_docs:
        for cell in doc.cells:
            if not cell.is_code:
                continue
            py = python_of(cell.source)
            pieces = parsing.split_statements(py)
            if pieces is None:
                continue
            try:
                whole = cst.parse_module(py)
            except Exception:
                continue
            k = len(pieces) // 2
            before = "".join(pieces[:k] + ["edited = 1\n"] + pieces[k + 1:])
            slot = ("corpus-test", doc.path, cell.index)
            try:
                parsing.parse_cell(before, slot)
            except Exception:
                continue
            rebuilt = parsing.parse_cell(py, slot)
            assert rebuilt.code == py, (doc.path, cell.index)
            assert rebuilt.deep_equals(whole), (doc.path, cell.index)
            checked += 1
    assert checked > 1000


def test_bandit_statement_cache_matches_whole_cell_visits(corpus_docs, monkeypatch):
    """Bandit runs statement by statement (cached) in long cells; the results must be those of a visit
    of the whole cell, cold and warm."""
    config = Config(bandit=True)

    def run(doc, whole: bool):
        bandit_bridge._CELL_CACHE.clear()
        monkeypatch.setattr(bandit_bridge, "_STMT_MIN", 10**9 if whole else 4)
        return _key(bandit_bridge.run(doc, config))

    differ = []
    for doc in corpus_docs:
        if not doc.is_python:
            continue
        expected = run(doc, whole=True)
        if run(doc, whole=False) != expected or run(doc, whole=False) != expected:
            differ.append(doc.path)
    assert differ == [], differ[:5]
