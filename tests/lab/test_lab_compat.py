"""The prebuilt extension in other JupyterLab installs: the oldest supported (4.0) and next to jupyterlab-lsp.

Each runs JupyterLab from its own venv holding the same wheel (tests/lab/ci_compat_venvs.sh makes them):
  MLSEC_LAB_OLDEST_PYTHON  a venv with jupyterlab 4.0.x
  MLSEC_LAB_LSP_PYTHON     a venv with the newest jupyterlab 4, jupyterlab-lsp and python-lsp-server
Without them the tests are skipped, unless MLSEC_REQUIRE_BROWSER=1 (CI), which makes that a failure.
"""
from __future__ import annotations

import os
import subprocess

import pytest

import lab_harness as H

LOAD = "pk.loads(blob)"
CELLS = [
    "import pickle as pk",
    f"data = {LOAD}\nprint(undefined_name)",  # MLS101 for mlsec; pyflakes' undefined name for jupyterlab-lsp
]


@pytest.fixture(autouse=True)
def event_loop():
    """Replaces pytest-jupyter's autouse loop fixture (see test_lab_browser.py)."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


def _python(var: str) -> str:
    py = os.environ.get(var)
    problem = None
    if not py:
        problem = f"{var} is not set (tests/lab/ci_compat_venvs.sh prints it)"
    elif not os.path.exists(H.chromium_path()):
        problem = f"no browser at {H.chromium_path()}"
    else:
        probe = subprocess.run([py, "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True)
        if "jupyter-mlsec" not in probe.stdout + probe.stderr:
            problem = f"{py} has no jupyter-mlsec labextension"
    if problem:
        if os.environ.get("MLSEC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"compatibility test required (MLSEC_REQUIRE_BROWSER=1) but: {problem}")
        pytest.skip(problem)
    return py


def _version(py: str) -> str:
    return subprocess.run([py, "-c", "import jupyterlab; print(jupyterlab.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _open(py: str, tmp_path, name: str):
    from playwright.sync_api import sync_playwright

    lab = H.LabServer(root=tmp_path, python=py).start()
    H.notebook(CELLS, tmp_path / name)
    pw = sync_playwright().start()
    browser = H.launch_browser(pw)
    page = browser.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(lab.url(name))
    H.wait_for_lab(page)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    H.dismiss_dialogs(page)

    def close():
        H.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(H.ARTIFACTS / f"compat-{name}.png"))
        browser.close()
        pw.stop()
        lab.stop()

    return page, errors, close


def _cell(page, index: int):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)


def _mlsec_works(page) -> None:
    mark = _cell(page, 1).locator(".cm-lintRange.mlsec-mark").first
    mark.wait_for()
    assert mark.inner_text() == LOAD
    mark.hover()
    tooltip = page.locator(".cm-tooltip-lint").first
    tooltip.wait_for()
    assert "MLS101" in tooltip.inner_text()
    page.mouse.move(0, 0)
    page.wait_for_function("() => Number(document.querySelector('.mlsec-status')?.dataset.count) > 0")


def test_oldest_supported_jupyterlab(tmp_path):
    py = _python("MLSEC_LAB_OLDEST_PYTHON")
    assert _version(py).startswith("4.0."), _version(py)
    page, errors, close = _open(py, tmp_path, "oldest.ipynb")
    try:
        _mlsec_works(page)
        assert not [e for e in errors if "mlsec" in e.lower()], errors
    finally:
        close()


def test_next_to_jupyterlab_lsp(tmp_path):
    py = _python("MLSEC_LAB_LSP_PYTHON")
    probe = subprocess.run([py, "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True)
    assert "jupyterlab-lsp" in probe.stdout + probe.stderr
    page, errors, close = _open(py, tmp_path, "lsp.ipynb")
    try:
        _mlsec_works(page)
        # jupyterlab-lsp's own diagnostic (pyflakes via pylsp) in the same editor: neither extension's
        # diagnostics replace the other's (each keeps its own lint state)
        lsp_mark = _cell(page, 1).locator(".cm-lintRange:not(.mlsec-mark)", has_text="undefined_name").first
        lsp_mark.wait_for(timeout=90_000)
        assert _cell(page, 1).locator(".cm-lintRange.mlsec-mark").first.inner_text() == LOAD
        # and an edit is still linted by both
        editor = _cell(page, 1).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\nmore = pk.loads(other)", delay=10)
        _cell(page, 1).locator(".cm-lintRange.mlsec-mark", has_text="pk.loads(other)").first.wait_for()
        assert _cell(page, 1).locator(".cm-lintRange:not(.mlsec-mark)", has_text="undefined_name").count() >= 1
        assert not [e for e in errors if "mlsec" in e.lower()], errors
    finally:
        close()
