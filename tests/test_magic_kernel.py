"""`%mlsec` end to end in a real Jupyter kernel: nbclient runs demo_notebooks/magic_workflow.ipynb.

The kernel gets `JPY_SESSION_NAME` the way jupyter_server sets it, so `%mlsec` finds and lints the
notebook file. Skipped only when nbclient/ipykernel are missing and MLSEC_REQUIRE_KERNEL is not 1
(CI sets it, so there the kernel always runs).
"""
from __future__ import annotations

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "demo_notebooks", "magic_workflow.ipynb")


def _need_kernel():
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        if os.environ.get("MLSEC_REQUIRE_KERNEL") == "1":
            pytest.fail(f"MLSEC_REQUIRE_KERNEL=1 but the kernel test cannot run: {exc}")
        pytest.skip(f"needs nbclient and ipykernel: {exc}")


def _execute(nb, cwd, env_extra):
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env={**os.environ, **env_extra})
    return nb


def _by_id(nb):
    return {c.get("id"): c for c in nb.cells if c.cell_type == "code"}


def _texts(cell, mime="text/plain"):
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(("stream", o.text))
        elif o.output_type == "error":
            out.append(("error", "\n".join(o.traceback)))
        else:
            out.append((o.output_type, o.get("data", {}).get(mime, "")))
    return out


def test_demo_notebook_runs_the_whole_workflow_in_a_kernel(tmp_path):
    _need_kernel()
    import nbformat

    src = nbformat.read(DEMO, as_version=4)
    assert all(not c.get("outputs") for c in src.cells if c.cell_type == "code"), "demo outputs must be stripped"
    path = tmp_path / "magic_workflow.ipynb"
    shutil.copy(DEMO, path)
    nb = _execute(nbformat.read(str(path), as_version=4), tmp_path, {"JPY_SESSION_NAME": str(path)})
    cells = _by_id(nb)

    assert cells["load"].outputs == []
    assert "automatic mode: on" in _texts(cells["auto-on"])[0][1]

    # a risky cell: the finding is shown first, then the cell's own output (it ran)
    warned = _texts(cells["warned"])
    assert warned[0][0] == "display_data" and "MLS101" in warned[0][1] and "line 3" in warned[0][1]
    assert warned[1] == ("stream", "load_checkpoint defined\n")
    html = _texts(cells["warned"], "text/html")[0][1]
    assert "MLS101" in html and "HIGH" in html

    # guard: stopped before running, with the reason and the way out
    errors = [o for o in cells["guarded"].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "CellBlocked"
    tb = "\n".join(errors[0].traceback)
    assert "mlsec stopped this cell" in tb and "# mlsec: ignore[MLS101]" in tb and "%mlsec guard off" in tb
    assert _texts(cells["override"]) == [("stream", "False\n"), ("execute_result", "{'weights': [0.1, 0.2]}")]

    # %mlsec lints the notebook file the kernel was started for
    lint_html = _texts(cells["lint"], "text/html")[0][1]
    assert "magic_workflow.ipynb" in lint_html and "<table>" in lint_html and "MLS101" in lint_html
    obj = _texts(cells["object"])[0][1]
    assert "MLS101" in obj
    index = {c.get("id"): i for i, c in enumerate(nb.cells)}  # JupyterLab counts markdown cells too
    assert f"MLS101 cell {index['warned'] + 1}:3:" in obj
    assert f"MLS101 cell {index['guarded'] + 1}:2:" in obj
    assert f"cell {index['override'] + 1}:" not in obj  # the ignore comment is honoured

    scan = cells["scan"].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in scan)  # the progress bar
    scan_html = _texts(cells["scan"], "text/html")[-1][1]
    assert "scan of ." in scan_html and "<table>" in scan_html and "MLS101" in scan_html

    cell = _texts(cells["cell"])
    assert "no findings in this cell" in cell[0][1] and cell[-1] == ("execute_result", "{'lr': 0.01}")
    assert "pickle" in _texts(cells["explain"])[0][1]
    checklist = _texts(cells["checklist"], "text/html")[0][1]
    for section in ("Secure data preparation", "Secure training and validation", "Secure operation",
                    "Monitoring and logging"):
        assert section in checklist
    assert "installed packages checked" in _texts(cells["env"])[0][1]
    status = _texts(cells["status"])[0][1]
    assert "cells stopped: In [" in status and f"notebook file: {path}" in status
    assert "automatic mode is off" in _texts(cells["off"])[0][1]
    for c in nb.cells:  # nothing mlsec printed anywhere is an internal error
        for kind, text in _texts(c) if c.cell_type == "code" else ():
            assert "internal error" not in text and "Error in callback" not in text


def test_extension_loads_for_every_session_from_ipython_config(tmp_path):
    """The README's recipe: `c.InteractiveShellApp.extensions` (+ `exec_lines`) in ipython_config.py."""
    _need_kernel()
    import nbformat

    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["mlsec"]\nc.InteractiveShellApp.exec_lines = ["%mlsec on"]\n'
    )
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import pickle\ndef f(p):\n    return pickle.load(open(p, 'rb'))", id="risky"),
        nbformat.v4.new_code_cell("%mlsec status", id="status"),
    ])
    _execute(nb, tmp_path, {"IPYTHONDIR": str(tmp_path / "ipython")})
    risky, status = nb.cells
    assert "MLS101" in _texts(risky)[0][1]
    assert "automatic mode: on" in _texts(status)[0][1]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
