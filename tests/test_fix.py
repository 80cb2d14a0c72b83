"""`mlsec fix` and the fixes rules attach: edits, notebooks, passes, conflicts, the CLI."""
from __future__ import annotations

import json
import os
import stat

import pytest

from mlsec.cli import main
from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.findings import Finding, Severity
from mlsec.fix import apply_to_text, fix_document, fix_file, parses
from mlsec.source import from_string, load_path

NATIVE = Config(bandit=False)


def fixed(code: str, unsafe: bool = True, config: Config = NATIVE) -> str:
    doc, _ = fix_document(from_string(code, path="t.py"), config, unsafe=unsafe)
    return doc.cells[0].source


def fixes_of(code: str, rule_id: str) -> list[dict]:
    report = analyze(from_string(code, path="t.py"), NATIVE, use_cache=False)
    return [f.fix for f in report.findings if f.rule_id == rule_id]


# ---------------------------------------------------------------------------------------------
# Per-rule fixes beyond the embedded examples


def test_yaml_alias_and_bare_name():
    assert fixed("import yaml as y\ncfg = y.load(f)\n", unsafe=False) == "import yaml as y\ncfg = y.safe_load(f)\n"
    assert fixed("import yaml\nyaml.load_all(f)\n", unsafe=False) == "import yaml\nyaml.safe_load_all(f)\n"
    # `from yaml import load`: safe_load is not imported, so no fix is offered
    assert fixes_of("from yaml import load\nload(f)\n", "MLS106") == [None]
    # a C loader becomes the C safe loader
    assert fixed("import yaml\nyaml.load(f, Loader=yaml.CLoader)\n") == "import yaml\nyaml.load(f, Loader=yaml.CSafeLoader)\n"
    # **kwargs might carry a Loader
    assert fixes_of("import yaml\nyaml.load(f, **kw)\n", "MLS106") == [None]


def test_yaml_without_loader_is_safe_explicit_loader_is_not():
    (safe,) = fixes_of("import yaml\nyaml.load(f)\n", "MLS106")
    (unsafe,) = fixes_of("import yaml\nyaml.load(f, Loader=yaml.Loader)\n", "MLS106")
    assert safe["safe"] is True and unsafe["safe"] is False


def test_torch_load_variants():
    assert fixed("import torch\ntorch.load(p, map_location='cpu')\n") == \
        "import torch\ntorch.load(p, map_location='cpu', weights_only=True)\n"
    # non-literal weights_only and **kwargs: nothing to decide mechanically
    assert fixes_of("import torch\ntorch.load(p, weights_only=flag)\n", "MLS103") == [None]
    assert fixes_of("import torch\ntorch.load(p, **opts)\n", "MLS103") == [None]


def test_fix_inside_an_indented_multiline_call():
    code = ("import torch\n"
            "def load(p):\n"
            "    if p:\n"
            "        return torch.load(\n"
            "            p,\n"
            "            weights_only=False,\n"
            "        )\n")
    assert fixed(code) == code.replace("weights_only=False", "weights_only=True")


def test_verify_false_removed_or_set_when_a_comment_is_in_the_way():
    assert fixed("import httpx\nc = httpx.Client(verify=False)\n") == "import httpx\nc = httpx.Client()\n"
    code = "import requests\nr = requests.get(\n    url,  # where\n    verify=False,\n)\n"
    assert fixed(code) == "import requests\nr = requests.get(\n    url,  # where\n    verify=True,\n)\n"
    code = "import requests\nr = requests.get(\n    url,\n    verify=False,  # proxy\n)\n"
    assert fixed(code) == "import requests\nr = requests.get(\n    url,\n    verify=True,  # proxy\n)\n"
    code = "import requests\nr = requests.get(\n    url,\n    verify=False,\n    timeout=5,\n)\n"
    assert fixed(code) == "import requests\nr = requests.get(\n    url,\n    timeout=5,\n)\n"


def test_ssl_context_with_arguments_is_not_rewritten():
    assert fixes_of("import ssl\nctx = ssl._create_unverified_context(cafile=c)\n", "MLS402") == [None]


def test_tar_filter_none_and_extract():
    assert fixed("import tarfile\nwith tarfile.open(p) as t:\n    t.extractall('.', filter=None)\n") == \
        "import tarfile\nwith tarfile.open(p) as t:\n    t.extractall('.', filter='data')\n"
    code = "import tarfile\nwith tarfile.open(p) as tar:\n    for m in tar.getmembers():\n        tar.extract(m, 'out')\n"
    assert fixed(code) == code.replace("tar.extract(m, 'out')", "tar.extract(m, 'out', filter=\"data\")")


def test_weak_hash_without_arguments():
    assert fixed("import hashlib\nh = hashlib.md5()\n") == "import hashlib\nh = hashlib.md5(usedforsecurity=False)\n"
    # not hashlib: no keyword to add
    assert fixes_of("from Crypto.Hash import MD5\nh = MD5.new()\n", "MLS307") == [None]


def test_public_bind_keeps_quotes_and_port_and_skips_variables():
    assert fixed('from aiohttp import web\nweb.run_app(app, host="::")\n') == \
        'from aiohttp import web\nweb.run_app(app, host="::1")\n'
    assert fixes_of("import uvicorn\nHOST = '0.0.0.0'\nuvicorn.run(app, host=HOST)\n", "MLS505") == [None]
    # an app written out for a container binds every interface on purpose
    assert fixes_of("%%writefile main.py\nimport uvicorn\nuvicorn.run(app, host='0.0.0.0')\n", "MLS505") == [None]


def test_gradio_share_and_server_name_fixed_together():
    code = "import gradio as gr\ndemo = gr.Blocks()\ndemo.launch(share=True, server_name='0.0.0.0')\n"
    assert fixed(code) == "import gradio as gr\ndemo = gr.Blocks()\ndemo.launch(share=False, server_name='127.0.0.1')\n"


def test_flask_debug_is_safe():
    code = "from flask import Flask\napp = Flask(__name__)\napp.run(debug=True)\n"
    assert fixed(code, unsafe=False) == code.replace("debug=True", "debug=False")


def test_trust_remote_code_only_argument_after_positional():
    code = "from transformers import AutoModel\nAutoModel.from_pretrained(\n    'o/m',\n    trust_remote_code=True,\n)\n"
    assert fixed(code) == "from transformers import AutoModel\nAutoModel.from_pretrained(\n    'o/m',\n)\n"


def test_fix_positions_survive_magics_and_a_cell_magic():
    code = "%pip install pyyaml\nimport yaml\n!ls\ncfg = yaml.load(f)\n"
    assert fixed(code) == code.replace("yaml.load(", "yaml.safe_load(")
    code = "%%time\nimport yaml\ncfg = yaml.load(f)\n"
    assert fixed(code) == code.replace("yaml.load(", "yaml.safe_load(")


def test_suppressed_findings_are_not_fixed():
    code = "import yaml\ncfg = yaml.load(f)  # mlsec: ignore[MLS106]\n"
    assert fixed(code) == code


def test_fixes_are_identical_from_the_cell_cache():
    code = "import torch\ntorch.load('m.pt')\n"
    doc = from_string(code, path="cached.py")
    first = [f.fix for f in analyze(doc, NATIVE).findings if f.rule_id == "MLS103"]
    second = [f.fix for f in analyze(doc, NATIVE).findings if f.rule_id == "MLS103"]
    assert first == second and first[0]["edits"][0]["line"] == 2


# ---------------------------------------------------------------------------------------------
# Applying edits


def _finding(line, col, end_line, end_col, replacement, rule="MLS999", **fix):
    return Finding(rule_id=rule, message="m", severity=Severity.HIGH, line=1, col=0, end_line=1, end_col=0,
                   fix={"edits": [{"line": line, "col": col, "end_line": end_line, "end_col": end_col,
                                   "replacement": replacement}], "safe": True, **fix})


def test_overlapping_edits_skip_the_later_fix():
    text = "abcdef\n"
    a = _finding(1, 1, 1, 4, "X", rule="MLS901")
    b = _finding(1, 3, 1, 5, "Y", rule="MLS902")
    c = _finding(1, 5, 1, 6, "Z", rule="MLS903")
    r = apply_to_text(text, [a, b, c])
    assert r.text == "aXeZ\n"
    assert [f.rule_id for f in r.applied] == ["MLS901", "MLS903"]
    assert [(f.rule_id, why) for f, why in r.skipped] == [("MLS902", "its fix overlaps another fix")]


def test_identical_fixes_apply_once_and_count_for_both():
    r = apply_to_text("abc\n", [_finding(1, 0, 1, 1, "Z", rule="MLS901"), _finding(1, 0, 1, 1, "Z", rule="MLS902")])
    assert r.text == "Zbc\n" and len(r.applied) == 2


def test_two_insertions_at_one_point_conflict_and_out_of_range_is_skipped():
    r = apply_to_text("ab\n", [_finding(1, 1, 1, 1, "X"), _finding(1, 1, 1, 1, "Y"), _finding(3, 0, 3, 1, "Q")])
    assert r.text == "aXb\n"
    assert len(r.skipped) == 2


def test_finding_span_fix_format():
    f = Finding(rule_id="MLS999", message="m", severity=Severity.LOW, line=2, col=4, end_line=2, end_col=7,
                fix={"replacement": "new", "safe": False})
    assert apply_to_text("x\nab  old\n", [f]).text == "x\nab  new\n"


def test_two_rules_fix_one_call():
    code = "from flask import Flask\napp = Flask(__name__)\napp.run(host='0.0.0.0', debug=True)\n"
    doc, result = fix_document(from_string(code, path="t.py"), NATIVE, unsafe=True)
    assert doc.cells[0].source == code.replace("0.0.0.0", "127.0.0.1").replace("debug=True", "debug=False")
    assert sorted(f.rule_id for f in result.fixed) == ["MLS504", "MLS505"] and not result.left


def test_nested_calls_fixed_in_one_run():
    code = "import yaml, requests\ncfg = yaml.load(requests.get(u, verify=False).text)\n"
    assert fixed(code) == "import yaml, requests\ncfg = yaml.safe_load(requests.get(u).text)\n"


def test_a_fix_that_would_break_the_cell_is_dropped(monkeypatch):
    import mlsec.fix as fixmod

    real = fixmod.apply_to_text

    def broken(text, findings):
        r = real(text, findings)
        r.text = r.text + "(\n"
        return r

    monkeypatch.setattr(fixmod, "apply_to_text", broken)
    doc, result = fix_document(from_string("import yaml\nyaml.load(f)\n", path="t.py"), NATIVE)
    assert doc.cells[0].source == "import yaml\nyaml.load(f)\n"
    assert not result.fixed and result.not_applied
    assert result.not_applied[0][1] == "the fixed cell would not parse"


# ---------------------------------------------------------------------------------------------
# Files and notebooks


def _write_nb(path, cells, **extra) -> str:
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.12.0"}, "custom": {"ü": "ü"}},
        "nbformat": 4,
        "nbformat_minor": 5,
        **extra,
    }
    text = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"  # as Jupyter writes it
    path.write_text(text, encoding="utf-8")
    return text


def _code(cid, source, outputs=None):
    return {"cell_type": "code", "execution_count": None, "id": cid, "metadata": {"tags": ["t"]},
            "outputs": outputs or [], "source": source}


def _notebook(tmp_path):
    p = tmp_path / "nb.ipynb"
    text = _write_nb(p, [
        {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# yaml.load(f) in markdown\n"]},
        _code("c1", ["import yaml, torch\n", "cfg = yaml.load(f)\n", "sd = torch.load('m.pt')"],
              outputs=[{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}]),
        _code("c2", "x = yaml.load(g)\n"),  # a string source stays a string
        _code("c3", ["def broken(:\n", "    yaml.load(h)\n"]),
        _code("c4", ["print('untouched 🐍')\n"]),
    ])
    return p, text


def test_notebook_round_trip_changes_only_the_fixed_sources(tmp_path):
    p, before = _notebook(tmp_path)
    r = fix_file(str(p), NATIVE)
    assert r.changed and sorted(r.cells) == [1, 2]
    from mlsec.fix import write_atomic

    write_atomic(str(p), r.new_bytes)
    after_text = p.read_text(encoding="utf-8")
    old, new = json.loads(before), json.loads(after_text)
    assert new["metadata"] == old["metadata"] and new["nbformat_minor"] == 5
    assert new["cells"][1]["source"] == ["import yaml, torch\n", "cfg = yaml.safe_load(f)\n", "sd = torch.load('m.pt')"]
    assert new["cells"][2]["source"] == "x = yaml.safe_load(g)\n"
    for i in (0, 3, 4):
        assert new["cells"][i] == old["cells"][i]
    assert new["cells"][1]["outputs"] == old["cells"][1]["outputs"]
    # everything but the two edited lines is byte for byte what was there
    old["cells"][1]["source"][1] = "cfg = yaml.safe_load(f)\n"
    old["cells"][2]["source"] = "x = yaml.safe_load(g)\n"
    assert after_text == json.dumps(old, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    # the cell that does not parse is left alone and still reported; unsafe torch.load left too
    assert any(f.rule_id == "MLS001" and f.cell_index == 3 for f in r.left)
    assert any(f.rule_id == "MLS103" for f in r.left)


def test_notebook_indent_two_and_no_final_newline_kept(tmp_path):
    p = tmp_path / "vs.ipynb"
    nb = {"cells": [_code("a", ["import yaml\n", "yaml.load(f)"])], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p.write_text(json.dumps(nb, indent=2), encoding="utf-8")
    r = fix_file(str(p), NATIVE)
    nb["cells"][0]["source"][1] = "yaml.safe_load(f)"
    assert r.new_bytes.decode() == json.dumps(nb, indent=2)


def test_py_file_keeps_bom_crlf_and_mode(tmp_path):
    p = tmp_path / "s.py"
    p.write_bytes(b"\xef\xbb\xbfimport yaml\r\ncfg = yaml.load(f)\r\nprint(cfg)\r\n")
    os.chmod(p, 0o750)
    assert main(["fix", str(p), "--no-bandit", "-q"]) == 0
    assert p.read_bytes() == b"\xef\xbb\xbfimport yaml\r\ncfg = yaml.safe_load(f)\r\nprint(cfg)\r\n"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o750


def test_old_notebook_format_is_reported_not_edited(tmp_path):
    p = tmp_path / "old.ipynb"
    p.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}))
    r = fix_file(str(p), NATIVE)
    assert r.error and not r.changed


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_diff_writes_nothing_and_labels_cells(tmp_path, capsys):
    p, before = _notebook(tmp_path)
    mtime = os.stat(p).st_mtime_ns
    code = main(["fix", str(p), "--diff", "--no-bandit"])
    out, err = capsys.readouterr()
    assert code == 1  # there is something to change
    assert p.read_text(encoding="utf-8") == before and os.stat(p).st_mtime_ns == mtime
    assert f"--- {p}:cell 2\n+++ {p}:cell 2\n" in out and f"+++ {p}:cell 3\n" in out
    assert "-cfg = yaml.load(f)\n+cfg = yaml.safe_load(f)" in out
    assert "would fix 2 findings in 1 file" in err and "need --unsafe-fixes" in err


def test_cli_unsafe_only_with_the_flag(tmp_path, capsys):
    p = tmp_path / "t.py"
    p.write_text("import torch\nsd = torch.load('m.pt')\n")
    assert main(["fix", str(p), "--no-bandit"]) == 1
    assert p.read_text() == "import torch\nsd = torch.load('m.pt')\n"
    err = capsys.readouterr().err
    assert "fixed 0 findings in 0 files, 1 left (1 need --unsafe-fixes)" in err
    assert main(["fix", str(p), "--no-bandit", "--unsafe-fixes"]) == 0
    assert p.read_text() == "import torch\nsd = torch.load('m.pt', weights_only=True)\n"
    assert "fixed 1 finding in 1 file, 0 left" in capsys.readouterr().err


def test_cli_idempotent(tmp_path, capsys):
    p, _ = _notebook(tmp_path)
    main(["fix", str(p), "--no-bandit", "--unsafe-fixes"])
    once = p.read_bytes()
    mtime = os.stat(p).st_mtime_ns
    capsys.readouterr()
    main(["fix", str(p), "--no-bandit", "--unsafe-fixes"])
    assert p.read_bytes() == once and os.stat(p).st_mtime_ns == mtime
    assert "fixed 0 findings in 0 files" in capsys.readouterr().err


def test_cli_exit_codes(tmp_path, capsys):
    clean = tmp_path / "clean.py"
    clean.write_text("import yaml\nyaml.load(f)\n")
    assert main(["fix", str(clean), "--no-bandit"]) == 0  # fixed, nothing left
    assert main(["fix", str(clean), "--no-bandit", "--diff"]) == 0  # nothing to change
    left = tmp_path / "left.py"
    left.write_text("import pickle\npickle.load(f)\n")  # no automatic fix
    assert main(["fix", str(left), "--no-bandit"]) == 1
    assert main(["fix", str(left), "--no-bandit", "--fail-on", "critical"]) == 0
    assert main(["fix", str(tmp_path / "missing.py"), "--no-bandit"]) == 2


def test_cli_select_and_ignore(tmp_path):
    p = tmp_path / "t.py"
    src = "import yaml\nfrom flask import Flask\nyaml.load(f)\napp = Flask(__name__)\napp.run(debug=True)\n"
    p.write_text(src)
    main(["fix", str(p), "--no-bandit", "--select", "MLS504"])
    assert p.read_text() == src.replace("debug=True", "debug=False")
    p.write_text(src)
    main(["fix", str(p), "--no-bandit", "--ignore", "MLS504"])
    assert p.read_text() == src.replace("yaml.load(", "yaml.safe_load(")


def test_cli_folder_and_rules_table(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.py").write_text("import yaml\nyaml.load(f)\n")
    (tmp_path / "notes.txt").write_text("yaml.load(f)\n")
    assert main(["fix", str(tmp_path), "--no-bandit"]) == 0
    assert (tmp_path / "sub" / "a.py").read_text() == "import yaml\nyaml.safe_load(f)\n"
    capsys.readouterr()
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert " FIX " in out.splitlines()[0]
    assert any(line.startswith("MLS504") and " safe " in line for line in out.splitlines())


def test_fixed_file_parses_and_loads(tmp_path):
    p, _ = _notebook(tmp_path)
    r = fix_file(str(p), NATIVE, unsafe=True)
    for index, (_, new) in r.cells.items():
        assert parses(new), index
    from mlsec.fix import write_atomic

    write_atomic(str(p), r.new_bytes)
    assert load_path(str(p)).cells[1].source.startswith("import yaml, torch\ncfg = yaml.safe_load(f)")


def test_bandit_merged_findings_keep_their_fix(tmp_path):
    p = tmp_path / "t.py"
    p.write_text("import yaml\nyaml.load(f)\n")
    assert main(["fix", str(p), "--bandit"]) == 0
    assert p.read_text() == "import yaml\nyaml.safe_load(f)\n"


ANCHOR_CASES = [
    "import requests\nr = requests.get(f, verify=False)\n",  # `f` also occurs inside `verify=False`
    "import requests\nf = 1\nr = requests.get(f, verify=False)\nrequests.get(f, verify=False)\n",
    "import torch\nx = True\ntorch.load(p, weights_only=False); torch.load(q, weights_only=False)\n",
    "import gradio as gr\nd = gr.Blocks()\nd.launch(\n    share=True,\n    server_name='0.0.0.0',\n)\n",
    "import yaml\nif True:\n    c = [yaml.load(\n        f)]\n",
]


@pytest.mark.parametrize("code", ANCHOR_CASES)
def test_fix_anchors_resolve_like_libcst_positions(code, monkeypatch):
    import mlsec.engine as engine

    fast = [f.fix for f in analyze(from_string(code, path="t.py"), NATIVE, use_cache=False).findings]
    monkeypatch.setattr(engine, "_text_spans", lambda module, text, nodes: {})  # PositionProvider only
    slow = [f.fix for f in analyze(from_string(code, path="t.py"), NATIVE, use_cache=False).findings]
    assert fast == slow and any(fast)


def test_verify_after_a_short_positional_argument():
    assert fixed("import requests\nr = requests.get(f, verify=False)\n") == "import requests\nr = requests.get(f)\n"


def test_scan_summary_counts_fixable_findings(tmp_path, capsys):
    p = tmp_path / "t.py"
    p.write_text("import yaml, numpy as np\nyaml.load(f)\nnp.load('a.npy', allow_pickle=True)\nimport pickle\npickle.load(f)\n")
    main(["scan", str(p), "--no-bandit", "--no-cache"])
    out = capsys.readouterr().out
    assert "fixable: 1 with `mlsec fix`, 1 with `mlsec fix --unsafe-fixes`" in out


def test_torch_load_with_a_pickle_module_gets_no_fix():
    # torch refuses weights_only=True together with pickle_module
    assert fixes_of("import torch, dill\ntorch.load(p, pickle_module=dill)\n", "MLS103") == [None]
    assert fixes_of("import torch, dill\ntorch.load(p, 'cpu', dill)\n", "MLS103") == [None]
