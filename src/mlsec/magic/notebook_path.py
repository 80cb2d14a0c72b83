"""Which notebook file is this kernel running? (so `%mlsec` can lint the notebook as saved)

In order: `__session__` (ipykernel copies jupyter_server's `JPY_SESSION_NAME` there), the
`JPY_SESSION_NAME` variable itself, VS Code's `__vsc_ipynb_file__`, and last the local Jupyter
servers' `/api/sessions`, matched on the kernel id from the connection file. The server query goes
to loopback addresses only, with a hard deadline; any failure just means "no file" and the magic
lints the session history instead.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""}
SERVER_QUERY_TIMEOUT = 1.5  # seconds for all servers together


def find_notebook(shell: Any, timeout: float = SERVER_QUERY_TIMEOUT, query_servers: bool = True) -> tuple[str | None, str]:
    """(absolute path of the notebook or None, how it was found / why not)."""
    ns = getattr(shell, "user_ns", {}) or {}
    candidates = [
        ("__session__", ns.get("__session__")),
        ("JPY_SESSION_NAME", os.environ.get("JPY_SESSION_NAME")),
        ("__vsc_ipynb_file__", ns.get("__vsc_ipynb_file__")),
    ]
    for how, value in candidates:
        path = existing_notebook(value)
        if path:
            return path, how
    if not query_servers:
        return None, "no notebook file known to this kernel"
    kernel_id = current_kernel_id()
    if not kernel_id:
        return None, "not running in a Jupyter kernel"
    path = query_local_servers(kernel_id, timeout=timeout)
    if path:
        return path, "jupyter server /api/sessions"
    return None, "no local Jupyter server knows this kernel's notebook"


def existing_notebook(value: Any, cwd: str | None = None) -> str | None:
    """An absolute path for a session name if it names an existing .ipynb file."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.startswith("file://"):
        value = value[len("file://"):]
    if not value.lower().endswith(".ipynb"):
        return None
    cwd = cwd or os.getcwd()
    tries = [value] if os.path.isabs(value) else [os.path.join(cwd, value), os.path.join(cwd, os.path.basename(value))]
    for p in tries:
        if os.path.isfile(p):
            return os.path.abspath(p)
    return None


def current_kernel_id() -> str | None:
    """The kernel id from ipykernel's connection file name (`kernel-<id>.json`), if this is a kernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file

        conn = get_connection_file()
    except Exception:
        return None
    return kernel_id_from_connection_file(conn)


def kernel_id_from_connection_file(path: str | None) -> str | None:
    if not path:
        return None
    m = re.match(r"kernel-(?P<id>[0-9A-Za-z][0-9A-Za-z-]*)\.json$", os.path.basename(path))
    return m.group("id") if m else None


def server_infos(runtime_dir: str | None = None) -> list[dict[str, Any]]:
    """The JSON files local Jupyter servers write into the runtime dir (jpserver-*.json, nbserver-*.json)."""
    if runtime_dir is None:
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            runtime_dir = jupyter_runtime_dir()
        except Exception:
            return []
    try:
        names = sorted(os.listdir(runtime_dir))
    except OSError:
        return []
    infos = []
    for name in names:
        if re.fullmatch(r"(?:jp|nb)server-\d+\.json", name):
            try:
                with open(os.path.join(runtime_dir, name), encoding="utf-8") as fh:
                    info = json.load(fh)
            except (OSError, ValueError):
                continue
            if isinstance(info, dict) and isinstance(info.get("url"), str):
                infos.append(info)
    return infos


def is_loopback(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK


def query_local_servers(kernel_id: str, timeout: float = SERVER_QUERY_TIMEOUT, runtime_dir: str | None = None) -> str | None:
    """Ask each local server which session owns `kernel_id`; return that notebook's absolute path."""
    import urllib.request

    deadline = time.monotonic() + timeout
    for info in server_infos(runtime_dir):
        url = info["url"]
        if not is_loopback(url):
            continue  # never leave this machine
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        parts = urlsplit(url)
        host = parts.hostname if parts.hostname not in ("0.0.0.0", "::", "", None) else "127.0.0.1"
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        base = f"{parts.scheme}://{netloc}{parts.path or '/'}"
        if not base.endswith("/"):
            base += "/"
        req = urllib.request.Request(base + "api/sessions")
        token = info.get("token")
        if token:
            req.add_header("Authorization", f"token {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxies: loopback only
        try:
            with opener.open(req, timeout=min(remaining, 0.75)) as resp:
                sessions = json.loads(resp.read(2_000_000).decode("utf-8", "replace"))
        except Exception:
            continue
        if not isinstance(sessions, list):
            continue
        for s in sessions:
            if not isinstance(s, dict):
                continue
            kernel = s.get("kernel") or {}
            if not isinstance(kernel, dict) or kernel.get("id") != kernel_id:
                continue
            rel = s.get("path") or (s.get("notebook") or {}).get("path")
            if not isinstance(rel, str):
                continue
            root = info.get("root_dir") or info.get("notebook_dir") or ""
            path = existing_notebook(os.path.join(os.path.expanduser(root), rel) if root else rel)
            if path:
                return path
    return None
