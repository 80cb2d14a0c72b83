"""Start JupyterLab with mlsec on 127.0.0.1 and drive it with Debian's chromium via Python playwright.

Shared by the browser tests (tests/lab/test_lab_browser.py) and the latency bench (bench/lab_latency.py).
Never downloads a browser: chromium comes from the system (`apt-get install chromium`).

Environment:
  MLSEC_LAB_PYTHON   interpreter whose JupyterLab and jupyter-mlsec are used (default: this one);
                     CI points it at a venv holding the built wheel.
  MLSEC_CHROMIUM     browser binary (default /usr/bin/chromium).
  MLSEC_LAB_DEV=1    use the tree's built labextension (src/mlsec/lab/labextension) and enable the
                     server extension on the command line, for a dev checkout without the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("MLSEC_ARTIFACTS", REPO / "test-artifacts")) / "lab"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Unavailable(Exception):
    """Something the browser path needs is missing; the message says what."""


def lab_python() -> str:
    return os.environ.get("MLSEC_LAB_PYTHON") or sys.executable


def chromium_path() -> str:
    return os.environ.get("MLSEC_CHROMIUM", "/usr/bin/chromium")


def dev_mode() -> bool:
    return os.environ.get("MLSEC_LAB_DEV") == "1"


def check_prerequisites() -> None:
    """Raise Unavailable naming the first missing piece."""
    if not os.path.exists(chromium_path()):
        raise Unavailable(f"no browser at {chromium_path()} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise Unavailable("python playwright is not installed (pip install playwright)") from None
    py = lab_python()
    probe = subprocess.run(
        [py, "-c", "import jupyterlab, mlsec.lab.handlers; print(jupyterlab.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise Unavailable(f"{py} cannot import jupyterlab and mlsec.lab: {probe.stderr.strip()[-300:]}")
    if dev_mode():
        if not (REPO / "src/mlsec/lab/labextension/package.json").exists():
            raise Unavailable("MLSEC_LAB_DEV=1 but the labextension is not built (jlpm build in labextension/)")
        return
    listing = subprocess.run([py, "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True)
    text = listing.stdout + listing.stderr
    if "jupyter-mlsec" not in text:
        raise Unavailable(f"the jupyter-mlsec labextension is not installed for {py} (install the wheel)")
    servers = subprocess.run([py, "-m", "jupyter_server.extension.serverextension", "list"], capture_output=True, text=True)
    if "mlsec" not in servers.stdout + servers.stderr:
        raise Unavailable(f"the mlsec server extension is not enabled for {py} (install the wheel)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    root: Path
    windowing: str | None = None  # None: JupyterLab's default windowing mode
    debounce: int = 300
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: os.urandom(16).hex())
    python: str | None = None  # another JupyterLab venv (compatibility tests); default: lab_python()
    extra_server_extensions: tuple[str, ...] = ()  # importable via `pythonpath` (test fixtures)
    pythonpath: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    home: Path | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "LabServer":
        self.home = Path(tempfile.mkdtemp(prefix="mlsec-lab-home-"))
        settings = self.home / "user-settings"
        write_settings(settings, self.windowing, self.debounce)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"jupyterlab-{self.port}.log"
        env = dict(os.environ)
        env.update(
            {
                "JUPYTER_CONFIG_DIR": str(self.home / "config"),  # the user's ~/.jupyter stays out
                "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
                "JUPYTERLAB_SETTINGS_DIR": str(settings),
                "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "workspaces"),
                "IPYTHONDIR": str(self.home / "ipython"),
            }
        )
        python = self.python or lab_python()
        # the venv's own tools (pylsp for jupyterlab-lsp) are found on PATH, as in an activated venv
        env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", "")])
        args = [
            python,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        for name in self.extra_server_extensions:
            args.append(f"--ServerApp.jpserver_extensions={name}=True")
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([*self.pythonpath, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        if dev_mode():
            ext = self.home / "labextensions"
            ext.mkdir()
            (ext / "jupyter-mlsec").symlink_to(REPO / "src/mlsec/lab/labextension")
            args += [f"--LabApp.extra_labextensions_path={ext}", "--ServerApp.jpserver_extensions=mlsec=True"]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def url(self, path: str) -> str:
        return f"{self.base}/lab/tree/{path}?reset&token={self.token}"

    def api(self, path: str, data: dict | None = None, method: str = "GET") -> dict:
        req = urllib.request.Request(
            f"{self.base}/{path}",
            data=json.dumps(data).encode() if data is not None else None,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
        return json.loads(body) if body else {}


def write_settings(settings_dir: Path, windowing: str | None, debounce: int) -> None:
    """User settings: a windowing mode, mlsec's debounce, and no news/update pop-ups over the page."""
    files: dict[str, dict] = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": windowing} if windowing else {},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "jupyter-mlsec/plugin.jupyterlab-settings": {"debounce": debounce},
    }
    for rel, value in files.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))


def launch_browser(playwright, width: int = 1500, height: int = 950):
    return playwright.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="mlsec-chromium-"),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height},
    )


def notebook(cells: list[dict | str], path: Path) -> Path:
    """Write an nbformat-4 notebook with a python3 kernelspec (no "Select Kernel" dialog)."""
    nb_cells = []
    for i, c in enumerate(cells):
        if isinstance(c, str):
            c = {"source": c}
        nb_cells.append(
            {
                "cell_type": c.get("cell_type", "code"),
                "id": f"cell-{i}",
                "metadata": {},
                "source": c["source"],
                **(
                    {"execution_count": None, "outputs": c.get("outputs", [])}
                    if c.get("cell_type", "code") == "code"
                    else {}
                ),
            }
        )
    nb = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    return path


def wait_for_lab(page, timeout: float = 60_000) -> None:
    page.wait_for_selector("#jp-main-dock-panel", timeout=timeout)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout)


def cell(page, index: int):
    """The cell at notebook index `index` (works in every windowing mode: cells carry their index)."""
    return page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell[data-windowed-list-index="{index}"]')


def scroll_to_cell(page, index: int) -> None:
    """Bring cell `index` into view and wait for its editor (scrollToItem, then the cell's own node:
    headless chromium sometimes leaves a blank viewport after scrollToItem alone)."""
    page.evaluate(
        """async (i) => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          nb.activeCellIndex = i;
          await nb.scrollToItem(i, 'center');
          const cell = nb.widgets[i];
          await nb.scrollToCell(cell, 'center');
          cell.node.scrollIntoView({ block: 'center' });
          await cell.ready;
        }""",
        index,
    )
    cell(page, index).locator(".cm-content").wait_for(timeout=30_000)


def dismiss_dialogs(page) -> None:
    for _ in range(3):
        button = page.locator(".jp-Dialog .jp-mod-accept, .jp-Dialog button:has-text('Select')")
        if button.count() == 0:
            return
        button.first.click()
        page.wait_for_timeout(200)


def scroll_until(page, index: int, locator, timeout: float = 30.0):
    """Scroll cell `index` into view until `locator` (inside it) shows up: cells above it may still be
    rendering (windowing "defer") and push it back out of view, and mlsec draws on editors as they come
    on screen."""
    deadline = time.time() + timeout
    while True:
        scroll_to_cell(page, index)
        cell(page, index).scroll_into_view_if_needed()
        if locator.count() > 0:
            locator.first.scroll_into_view_if_needed()
            return locator.first
        if time.time() > deadline:
            raise TimeoutError(f"{locator} did not appear in cell {index} within {timeout}s")
        page.wait_for_timeout(400)
