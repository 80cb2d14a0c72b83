"""A rule's real fix, through the engine, becomes a CodeMirror quick fix that edits the right text."""
from __future__ import annotations

from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.lab.diagnostics import Utf16Map, to_diagnostic
from mlsec.source import from_cells


def apply_changes(text: str, changes: list[dict]) -> str:
    """Apply CodeMirror changes (UTF-16 offsets into the text with CRLF counted once) to `text`."""
    units = text.replace("\r\n", "\n").encode("utf-16-le")
    for ch in sorted(changes, key=lambda c: c["from"], reverse=True):
        units = units[: 2 * ch["from"]] + ch["insert"].encode("utf-16-le") + units[2 * ch["to"] :]
    return units.decode("utf-16-le")


def diagnostics(cells: list[str]) -> list[tuple[int, dict]]:
    report = analyze(from_cells(cells, path="lab.ipynb"), Config(bandit=False), use_cache=False)
    return [(f.cell_index, to_diagnostic(f, Utf16Map(cells[f.cell_index]))) for f in report.findings]


def test_fixable_finding_offers_a_fix_at_utf16_offsets():
    cells = ["import yaml, torch\n", "note = '🐍🐍'\r\ncfg = yaml.load(f)  # 🐍\r\nsd = torch.load('m.pt')\r\n"]
    diags = dict((d["rule"], (i, d)) for i, d in diagnostics(cells))
    i, yaml_diag = diags["MLS106"]
    assert yaml_diag["fix"]["safe"] is True and yaml_diag["fix"]["title"] == "Use yaml.safe_load"
    assert apply_changes(cells[i], yaml_diag["fix"]["changes"]) == \
        "note = '🐍🐍'\ncfg = yaml.safe_load(f)  # 🐍\nsd = torch.load('m.pt')\n"
    _, torch_diag = diags["MLS103"]
    assert torch_diag["fix"]["safe"] is False
    assert apply_changes(cells[i], torch_diag["fix"]["changes"]).endswith("torch.load('m.pt', weights_only=True)\n")


def test_finding_without_a_fix_has_none():
    diags = diagnostics(["import pickle\npickle.load(f)\n"])
    assert diags and all("fix" not in d for _, d in diags)
