"""JupyterLab in headless chromium: underlines, tooltip, panel, jump, typing, ignore, outputs, .py files.

Skipped only when MLSEC_REQUIRE_BROWSER is unset and something is missing (browser, playwright,
JupyterLab, the installed extension); with MLSEC_REQUIRE_BROWSER=1 a missing piece is a failure.
Screenshots go to test-artifacts/lab/.
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest

import lab_harness as H

TOKEN = "ghp_" + "Zq8Lm2Xv9Tr4Wp7Ks1Nd6Hf3Jb5Yc0Ga8Ue2Q"
LOAD = "pk.load(open('model.pkl', 'rb'))"

DEMO_CELLS = [
    {"cell_type": "markdown", "source": "# Fine-tuning demo\nLoads a model someone sent us."},
    "import pickle as pk\nimport torch\nimport requests",
    f"# 🐍🐍 the snakes shift UTF-16 offsets\nnote = '🐍'; model = {LOAD}",
    "weights = torch.load('weights.pt', weights_only=False)\nprint(weights)",
    {
        "source": "print(api_key)",
        "outputs": [{"output_type": "stream", "name": "stdout", "text": f"using {TOKEN}\n"}],
    },
    "r = requests.get('https://example.com/data.csv', verify=False)",
]


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Replaces pytest-jupyter's autouse loop fixture (from conftest): playwright's sync API runs its
    own event loop in this thread, which that fixture would try to close."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    """No in-process jupyter_server here (JupyterLab runs in a subprocess): nothing to clean up."""
    yield


def _require():
    try:
        H.check_prerequisites()
    except H.Unavailable as exc:
        if os.environ.get("MLSEC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (MLSEC_REQUIRE_BROWSER=1) but: {exc}")
        pytest.skip(f"browser path unavailable (set MLSEC_REQUIRE_BROWSER=1 to make this a failure): {exc}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require()
    root = tmp_path_factory.mktemp("labroot")
    server = H.LabServer(root=root).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    ctx = H.launch_browser(pw)
    yield ctx
    ctx.close()
    pw.stop()


@pytest.fixture
def page(browser, request):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    yield page
    H.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(H.ARTIFACTS / f"{request.node.name}-end.png"))
    page.close()


def open_notebook(page, lab, name: str, cells) -> None:
    H.notebook(cells, lab.root / name)
    page.goto(lab.url(name))
    H.wait_for_lab(page)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    H.dismiss_dialogs(page)


def marks(page, index: int, severity: str | None = None):
    sel = ".cm-lintRange" + (f".mlsec-sev-{severity}" if severity else ".mlsec-mark")
    return H.cell(page, index).locator(sel)


def test_underline_tooltip_panel_and_jump(lab, page):
    open_notebook(page, lab, "demo.ipynb", DEMO_CELLS)
    # underline on exactly the unsafe call, after two emoji (UTF-16 offsets)
    high = marks(page, 2, "high")
    high.first.wait_for()
    assert high.first.inner_text() == LOAD
    assert marks(page, 3, "high").first.inner_text() == "torch.load('weights.pt', weights_only=False)"
    marks(page, 5).first.wait_for()  # each editor gets its marks as it comes on screen
    H.cell(page, 2).locator(".cm-lint-marker-error").first.wait_for()  # gutter marker
    # the output area holding a token is flagged, with the token masked in our label
    flagged = H.cell(page, 4)
    assert "mlsec-output-flagged" in (flagged.get_attribute("class") or "")
    label = flagged.locator(".jp-OutputArea").first.get_attribute("title") or ""
    assert "MLS207" in label and TOKEN not in label
    page.screenshot(path=str(H.ARTIFACTS / "demo-notebook.png"))

    # hover tooltip: message, rule id, fix hint, explain link, actions
    high.first.hover()
    tip = page.locator(".cm-tooltip-lint .mlsec-tooltip").first
    tip.wait_for()
    text = tip.inner_text()
    assert "MLS101" in text and "unpickles" in text and "Fix:" in text and "Explain MLS101" in text
    buttons = page.locator(".cm-tooltip-lint .cm-diagnosticAction")
    names = [buttons.nth(i).inner_text() for i in range(buttons.count())]
    assert "Ignore on this line" in names and "Ignore MLS101 in this notebook" in names
    page.screenshot(path=str(H.ARTIFACTS / "tooltip.png"))

    # the explain link opens the rule's explanation
    page.locator(".cm-tooltip-lint .mlsec-explain").first.click()
    explanation = page.locator(".mlsec-explanation")
    explanation.wait_for()
    assert "MLS101" in explanation.inner_text()
    page.screenshot(path=str(H.ARTIFACTS / "explanation.png"))
    page.locator(".lm-TabBar-tab:has-text('mlsec MLS101') .lm-TabBar-tabCloseIcon").click()

    # status bar count, then the panel through it
    status = page.locator(".mlsec-status")
    page.wait_for_function("() => Number(document.querySelector('.mlsec-status')?.dataset.count) >= 4")
    status.click()
    panel = page.locator(".mlsec-panel")
    panel.wait_for(state="visible")
    assert int(panel.locator(".mlsec-panel-summary").get_attribute("data-total")) >= 4
    assert panel.locator('.mlsec-panel-group[data-severity="high"]').count() == 1
    assert panel.locator('.mlsec-panel-category[data-category="deserialization"]').count() >= 1
    assert "cell 5, output" in panel.locator('.mlsec-panel-item[data-rule="MLS207"]').inner_text()
    assert TOKEN not in panel.inner_text()
    page.screenshot(path=str(H.ARTIFACTS / "panel.png"))

    # click-to-jump: MLS103 lives in cell 3, line 1
    panel.locator('.mlsec-panel-item[data-rule="MLS103"]').first.click()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.closest('.jp-Cell')"
        " && document.activeElement.closest('.jp-Cell').dataset.windowedListIndex === '3'"
    )
    line = page.evaluate("() => window.getSelection().anchorNode.parentElement.closest('.cm-line').textContent")
    assert "torch.load" in line
    assert "jp-mod-active" in (H.cell(page, 3).get_attribute("class") or "")


def test_typing_is_linted_after_debounce_and_ignore_on_line(lab, page):
    open_notebook(page, lab, "typing.ipynb", [*DEMO_CELLS[:3], "total = 1"])
    marks(page, 2, "high").first.wait_for()

    # the first diagnostics of a cell that had none: CodeMirror rewrites the page's shared <style> tag
    # when a view gains a theme after it was created, restyling every editor in the notebook (70 ms per
    # cell with 300 cells); that must not happen
    page.evaluate(
        """() => {
          window.__styleRewrites = 0;
          new MutationObserver(records => {
            for (const r of records) {
              const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
              if (el && el.tagName === 'STYLE') window.__styleRewrites++;
            }
          }).observe(document.head, { subtree: true, childList: true, characterData: true });
        }"""
    )
    H.cell(page, 3).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nstate = pk.loads(blob)", delay=20)
    H.cell(page, 3).locator(".cm-lintRange.mlsec-mark", has_text="pk.loads(blob)").wait_for(timeout=10_000)
    H.cell(page, 3).locator(".cm-lint-marker-error").first.wait_for()
    assert page.evaluate("() => window.__styleRewrites") == 0

    editor = H.cell(page, 1).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nblob = pk.loads(payload)", delay=20)
    t_typed = time.perf_counter()
    new_mark = H.cell(page, 1).locator(".cm-lintRange.mlsec-mark", has_text="pk.loads(payload)")
    new_mark.wait_for(timeout=10_000)
    elapsed = time.perf_counter() - t_typed
    assert elapsed < 5.0, f"underline took {elapsed:.2f}s after typing stopped"
    page.screenshot(path=str(H.ARTIFACTS / "typed.png"))

    new_mark.hover()
    page.locator(".cm-tooltip-lint .cm-diagnosticAction", has_text="Ignore on this line").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Cell[data-windowed-list-index=\"1\"] .cm-line')]"
        ".some(l => l.textContent.includes('# mlsec: ignore[MLS101]'))"
    )
    new_mark.wait_for(state="detached", timeout=10_000)
    src = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).sharedModel.getSource()"
    )
    assert src.rstrip().endswith("blob = pk.loads(payload)  # mlsec: ignore[MLS101]")
    # the other finding is still there
    assert marks(page, 2, "high").count() >= 1

    # "ignore this rule in this notebook" goes to the notebook metadata and clears every MLS101
    marks(page, 2, "high").first.hover()
    page.locator(".cm-tooltip-lint .cm-diagnosticAction", has_text="Ignore MLS101 in this notebook").first.click()
    marks(page, 2, "high").first.wait_for(state="detached", timeout=10_000)
    meta = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.getMetadata('mlsec')")
    assert meta == {"ignore": ["MLS101", "B301"]}  # bandit's id for the same call goes too
    page.wait_for_function("() => !document.querySelector('.jp-Cell[data-windowed-list-index=\"2\"] .mlsec-mark')")
    page.screenshot(path=str(H.ARTIFACTS / "ignored.png"))


def test_python_file_in_the_file_editor(lab, page):
    (lab.root / "train.py").write_text("import yaml\n\ncfg = yaml.load(open('cfg.yml'))  # 🐍\n")
    page.goto(lab.url("train.py"))
    H.wait_for_lab(page)
    mark = page.locator(".jp-FileEditor .cm-lintRange.mlsec-mark").first
    mark.wait_for()
    assert mark.inner_text().startswith("yaml.load(")
    page.screenshot(path=str(H.ARTIFACTS / "py-file.png"))


def test_windowed_notebooks_far_cells_get_diagnostics(lab, browser):
    """Cells far below the fold are rendered lazily; their diagnostics must still arrive, in every
    windowing mode this JupyterLab offers (full, defer, none; contentVisibility from 4.3)."""
    schema = lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker")["schema"]
    prop = schema["properties"]["windowingMode"]
    modes = prop.get("enum") or [o["const"] for o in prop["oneOf"]]
    assert {"full", "defer", "none"} <= set(modes)
    cells = ["import pickle"] + [f"x{i} = {i} * 2\nprint(x{i})" for i in range(1, 119)] + ["obj = pickle.loads(b)"]
    before = lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker")["raw"]
    try:
        for mode in modes:
            lab.api(
                "lab/api/settings/@jupyterlab/notebook-extension:tracker",
                {"raw": '{"windowingMode": "%s"}' % mode},
                method="PUT",
            )
            page = browser.new_page()
            try:
                open_notebook(page, lab, f"long-{mode}.ipynb", cells)
                page.wait_for_function("() => Number(document.querySelector('.mlsec-status')?.dataset.count) >= 1")
                mark = H.scroll_until(page, 119, marks(page, 119, "high"))
                # text_content: headless chromium does not paint content-visibility:auto cells in
                # screenshots/innerText until a later frame; the mark itself is what is checked
                assert mark.text_content() == "pickle.loads(b)", mode
                assert mark.is_visible(), mode
                page.screenshot(path=str(H.ARTIFACTS / f"windowing-{mode}.png"))
            finally:
                page.close()
    finally:
        lab.api("lab/api/settings/@jupyterlab/notebook-extension:tracker", {"raw": before}, method="PUT")


def test_quick_fix_action_applies_the_rules_fix(lab, page):
    # MLS106's safe fix: yaml.load without a Loader -> yaml.safe_load (after an emoji: UTF-16 offsets)
    open_notebook(page, lab, "fix.ipynb", ["import yaml", "note = '🐍'; cfg = yaml.load(open('c.yml'))"])
    mark = marks(page, 1).first
    mark.wait_for()
    assert "yaml.load" in mark.inner_text()
    mark.hover()
    fix = page.locator(".cm-tooltip-lint .cm-diagnosticAction", has_text="Fix: Use yaml.safe_load").first
    fix.click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(1).sharedModel.getSource()"
        " === \"note = '🐍'; cfg = yaml.safe_load(open('c.yml'))\""
    )
    marks(page, 1).first.wait_for(state="detached", timeout=10_000)  # re-linted: nothing left to mark


class LintGate:
    """Holds the notebook's regular lint requests (the ones carrying the cells) until released, and
    optionally rewrites the answer to the saved-file lint, so a test can see what the saved-file lint
    alone puts on the page."""

    def __init__(self, page, tamper=None):
        self.held: list = []
        self.from_disk: list[dict] = []
        self.tamper = tamper
        page.route(re.compile(r"/mlsec/lint(\?|$)"), self._route)  # ServerConnection adds ?<time>

    def _route(self, route):
        body = json.loads(route.request.post_data or "{}")
        if not body.get("fromDisk"):
            self.held.append(route)
            return
        if self.tamper is None:
            route.continue_()
            self.from_disk.append(body)
            return
        response = route.fetch()
        data = response.json()
        self.tamper(data)
        route.fulfill(response=response, json=data)
        self.from_disk.append(body)

    def release(self) -> None:
        while self.held:
            self.held.pop(0).continue_()


def wait_until_held(page, gate: LintGate, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not gate.held and time.time() < deadline:
        page.wait_for_timeout(100)
    assert gate.held, "the notebook's own lint request was never sent"


def status_count(page) -> int:
    return int(page.locator(".mlsec-status").get_attribute("data-count") or 0)


def test_saved_file_lint_is_shown_before_the_notebooks_own_lint(lab, page):
    # the frontend asks for the saved file's lint as the panel is created, and applies it when the
    # cells are loaded: the marks are there while the regular lint (with the cells) is still held
    gate = LintGate(page)
    open_notebook(page, lab, "early.ipynb", DEMO_CELLS)
    high = marks(page, 2, "high")
    high.first.wait_for()
    assert high.first.inner_text() == LOAD
    assert status_count(page) >= 4
    assert gate.from_disk and gate.from_disk[0]["path"] == "early.ipynb"
    wait_until_held(page, gate)  # the notebook's own lint was sent and is still unanswered
    assert high.first.inner_text() == LOAD and status_count(page) >= 4
    gate.release()
    marks(page, 3, "high").first.wait_for()


def test_saved_file_lint_is_dropped_when_a_cell_differs(lab, page):
    # a saved-file answer computed for other text (its source key for cell 2 does not match) is not
    # applied: nothing is marked until the notebook's own lint comes back
    def tamper(data):
        data["sourceKeys"][2] = "0:00000000"

    gate = LintGate(page, tamper)
    open_notebook(page, lab, "stale.ipynb", DEMO_CELLS)
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.context?.isReady === true")
    wait_until_held(page, gate)
    assert gate.from_disk
    page.wait_for_timeout(500)  # the saved-file answer has been handled by now
    assert page.locator(".cm-lintRange.mlsec-mark").count() == 0
    assert status_count(page) == 0
    gate.release()
    marks(page, 2, "high").first.wait_for()
    assert status_count(page) >= 4


def test_switching_off_in_settings_clears_everything(lab, page):
    open_notebook(page, lab, "toggle.ipynb", DEMO_CELLS[1:3])
    marks(page, 1, "high").first.wait_for()
    page.evaluate("() => window.jupyterapp.commands.execute('mlsec:toggle')")  # writes the 'enabled' setting
    page.wait_for_function("() => document.querySelectorAll('.cm-lintRange.mlsec-mark').length === 0")
    assert page.locator(".mlsec-status").get_attribute("data-count") is None
    page.evaluate("() => window.jupyterapp.commands.execute('mlsec:toggle')")
    marks(page, 1, "high").first.wait_for()
