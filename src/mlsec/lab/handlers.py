"""HTTP handlers of the JupyterLab extension: lint a notebook or file, explain a rule.

Every method is `@tornado.web.authenticated` and `@authorized` (jupyter_server's XSRF check runs in
`prepare`). The lint body is streamed and bounded: a `Content-Length` over the limit is refused with
413 before a byte of the body is read, and a body that grows past it is dropped and refused.
Analysis runs in one worker thread (the engine's caches are not thread-safe, and one worker keeps a
large notebook from ever blocking the event loop). The notebook path is only used to find the
nearest `pyproject.toml` with `[tool.mlsec]`, and never outside the server's root folder.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

MAX_BODY_BYTES = 16 * 1024 * 1024  # override with the web app setting "mlsec_max_body_bytes"
MAX_CELLS = 20_000
SEVERITIES = ("info", "low", "medium", "high", "critical")
API_VERSION = 1

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlsec-lint")
        return _executor


def warm_up() -> None:
    """Import the analyzer and its rules off the event loop so that the first lint is fast."""

    def _warm() -> None:
        from ..config import Config
        from ..engine import analyze
        from ..source import from_cells

        analyze(from_cells(["import pickle\npickle.loads(b'')\n"], path="<warm-up>"), Config())  # bandit too

    executor().submit(_warm)


def shutdown() -> None:
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)
            _executor = None


class BadRequest(Exception):
    """A body the handler cannot use; the message goes back to the client as the 400 reason."""


class MlsecHandler(APIHandler):
    auth_resource = "contents"

    @property
    def root_dir(self) -> str:
        root = self.settings.get("server_root_dir") or getattr(self.contents_manager, "root_dir", None) or os.getcwd()
        return os.path.realpath(os.path.expanduser(root))


@tornado.web.stream_request_body
class LintHandler(MlsecHandler):
    """`POST /mlsec/lint`: cells in, diagnostics out (UTF-16 offsets per cell, in request order)."""

    _chunks: list[bytes]
    _received = 0
    _too_large = False

    @property
    def max_body(self) -> int:
        return int(self.settings.get("mlsec_max_body_bytes", MAX_BODY_BYTES))

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # XSRF, identity, and 403 for anonymous POSTs
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        self._chunks = []
        length = self.request.headers.get("Content-Length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise tornado.web.HTTPError(400, reason="invalid Content-Length") from None
            if n > self.max_body:
                raise tornado.web.HTTPError(413, reason=f"request body over {self.max_body} bytes")

    def data_received(self, chunk: bytes) -> None:
        if self._too_large:
            return
        self._received += len(chunk)
        if self._received > self.max_body:
            self._too_large = True
            self._chunks = []
            return
        self._chunks.append(chunk)

    @tornado.web.authenticated
    @authorized("read")
    async def post(self) -> None:
        if self._too_large:
            raise tornado.web.HTTPError(413, reason=f"request body over {self.max_body} bytes")
        body = b"".join(self._chunks)
        self._chunks = []
        try:
            request = parse_request(body)
        except BadRequest as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        root = self.root_dir
        full = resolve_inside_root(root, request["path"]) if request["path"] else None
        if request["from_disk"]:
            if full is None:
                raise tornado.web.HTTPError(400, reason="'fromDisk' needs a 'path'")
            if not os.path.isfile(full):
                raise tornado.web.HTTPError(404, reason="no such file")
            if os.path.getsize(full) > self.max_body:
                raise tornado.web.HTTPError(413, reason=f"file over {self.max_body} bytes")
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        result = await loop.run_in_executor(executor(), lint, request, root, full)
        result["durationMs"] = round((time.perf_counter() - t0) * 1000, 1)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(result))


class RulesHandler(MlsecHandler):
    """`GET /mlsec/rules` (every rule's metadata) and `GET /mlsec/rules/<id>` (one, with explanation)."""

    @tornado.web.authenticated
    @authorized("read")
    async def get(self, rule_id: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(executor(), rule_info, rule_id)
        if result is None:
            raise tornado.web.HTTPError(404, reason=f"no rule {rule_id!r}")
        self.finish(json.dumps(result))


def setup_handlers(web_app: Any) -> list[tuple[str, type]]:
    base = web_app.settings["base_url"]
    routes = [
        (url_path_join(base, "mlsec", "lint"), LintHandler),
        (url_path_join(base, "mlsec", "rules"), RulesHandler),
        (url_path_join(base, "mlsec", "rules", r"(?P<rule_id>[A-Za-z0-9_.\-]{1,40})"), RulesHandler),
    ]
    web_app.add_handlers(".*$", routes)
    return routes


# ---------------------------------------------------------------------------------------------
# Request parsing and the root-confined config lookup


def parse_request(body: bytes) -> dict[str, Any]:
    """Validate the lint body; raises BadRequest with a message the client can show."""
    if not body:
        raise BadRequest("empty request body")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    kind = data.get("kind", "notebook")
    if kind not in ("notebook", "file"):
        raise BadRequest("kind must be 'notebook' or 'file'")
    cells = data.get("cells")
    if cells is None and data.get("fromDisk") is True:
        cells = []
    if not isinstance(cells, list):
        raise BadRequest("'cells' must be a list")
    if len(cells) > MAX_CELLS:
        raise BadRequest(f"more than {MAX_CELLS} cells")
    from_disk = data.get("fromDisk", False)
    if not isinstance(from_disk, bool):
        raise BadRequest("fromDisk must be true or false")
    if from_disk and cells:
        raise BadRequest("'cells' must be empty with fromDisk")
    if kind == "file" and len(cells) != 1 and not from_disk:
        raise BadRequest("a file is sent as exactly one cell")
    clean: list[dict[str, Any]] = []
    for i, c in enumerate(cells):
        if isinstance(c, str):
            c = {"source": c}
        if not isinstance(c, dict):
            raise BadRequest(f"cell {i} must be an object")
        source = c.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise BadRequest(f"cell {i}: 'source' must be a string")
        cell_type = c.get("cell_type", "code")
        if cell_type not in ("code", "markdown", "raw"):
            raise BadRequest(f"cell {i}: unknown cell_type {cell_type!r}")
        outputs = c.get("outputs") or []
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise BadRequest(f"cell {i}: 'outputs' must be a list of objects")
        cid = c.get("id")
        clean.append(
            {
                "id": cid if isinstance(cid, str) else None,
                "source": source,
                "cell_type": cell_type,
                "outputs": outputs,
                "metadata": c.get("metadata") if isinstance(c.get("metadata"), dict) else {},
            }
        )
    path = data.get("path") or ""
    if not isinstance(path, str) or "\x00" in path or len(path) > 4096:
        raise BadRequest("'path' must be a string")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise BadRequest("'settings' must be an object")
    min_sev = settings.get("minSeverity", "info")
    if min_sev not in SEVERITIES:
        raise BadRequest(f"settings.minSeverity must be one of {', '.join(SEVERITIES)}")
    disabled = settings.get("disabledRules") or []
    ignore = data.get("ignore") or []
    for name, value in (("settings.disabledRules", disabled), ("ignore", ignore)):
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 64 for v in value):
            raise BadRequest(f"{name} must be a list of rule ids")
    bandit = settings.get("bandit", True)
    if not isinstance(bandit, bool):
        raise BadRequest("settings.bandit must be true or false")
    language = data.get("language") or "python"
    if not isinstance(language, str):
        raise BadRequest("'language' must be a string")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be an object")
    # "ignore this rule in this notebook" lives in the notebook metadata: honour it from there too
    mlsec_meta = (metadata or {}).get("mlsec")
    meta_ignore = mlsec_meta.get("ignore") if isinstance(mlsec_meta, dict) else None
    if isinstance(meta_ignore, list):
        ignore = [*ignore, *(i for i in meta_ignore if isinstance(i, str) and len(i) <= 64)]
    return {
        "kind": kind,
        "cells": clean,
        "path": path,
        "min_severity": min_sev,
        "disabled": [d.strip() for d in disabled if d.strip()],
        "ignore": [d.strip() for d in ignore if d.strip()],
        "bandit": bandit,
        "language": language,
        "metadata": metadata,
        "from_disk": from_disk,
    }


def resolve_inside_root(root: str, api_path: str) -> str:
    """The real path of a contents-API path; 400 for `..`/absolute paths, 403 for symlinks out of root."""
    p = api_path.replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        raise tornado.web.HTTPError(400, reason="path must be relative to the server root")
    parts = PurePosixPath(p).parts
    if any(part == ".." for part in parts):
        raise tornado.web.HTTPError(400, reason="'..' is not allowed in path")
    full = os.path.realpath(os.path.join(root, *parts))
    if not _inside(root, full):
        raise tornado.web.HTTPError(403, reason="path resolves outside the server root")
    return full


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def find_config(root: str, full_path: str) -> str | None:
    """The nearest pyproject.toml with `[tool.mlsec]` from the notebook's folder up to the root, never above
    it; a pyproject.toml that is a symlink leading out of the root is not read."""
    here = os.path.dirname(full_path)
    while _inside(root, here):
        candidate = os.path.join(here, "pyproject.toml")
        if os.path.isfile(candidate):
            real = os.path.realpath(candidate)
            if _inside(root, real) and _mentions_mlsec(real):
                return real
        if here == root:
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return None


_TABLE_CACHE: dict[str, tuple[tuple[int, int], bool]] = {}


def _mentions_mlsec(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    key = (st.st_mtime_ns, st.st_size)
    hit = _TABLE_CACHE.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        with open(path, "rb") as fh:
            text = fh.read(2 * 1024 * 1024)
    except OSError:
        return False
    found = False
    if b"mlsec" in text:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            tool = tomllib.loads(text.decode("utf-8")).get("tool")
            found = isinstance(tool, dict) and isinstance(tool.get("mlsec"), dict)
        except (UnicodeDecodeError, ValueError):
            found = True  # broken TOML that mentions mlsec: loading it reports the error
    _TABLE_CACHE[path] = (key, found)
    return found


# ---------------------------------------------------------------------------------------------
# The work (runs in the worker thread)

_CONFIG_CACHE: dict[str, tuple[tuple[int, int], Any]] = {}


def project_config(config_path: str | None) -> tuple[Any, str | None]:
    """Config of `[tool.mlsec]` (cached by file mtime) and an error message if it could not be used."""
    from ..config import Config, ConfigError, load_config

    if config_path is None:
        return Config(), None
    try:
        st = os.stat(config_path)
        key = (st.st_mtime_ns, st.st_size)
    except OSError:
        return Config(), None
    hit = _CONFIG_CACHE.get(config_path)
    if hit and hit[0] == key:
        return hit[1], None
    try:
        cfg = load_config(path=config_path)
    except ConfigError as exc:
        return Config(), str(exc)
    _CONFIG_CACHE[config_path] = (key, cfg)
    return cfg, None


def lint(request: dict[str, Any], root: str, full_path: str | None) -> dict[str, Any]:
    """Analyse the request's cells with the project's config plus the UI's settings and the notebook's
    `mlsec.ignore` list; the result lists each cell's diagnostics in request order.

    `fromDisk`: the cells are read from the saved file instead (the path was checked to be inside the
    root). The frontend asks for this the moment a notebook starts opening, before JupyterLab has
    rendered it; the result also carries a key of each cell's source (`source_key`, not the text: it may
    hold secrets), so that the frontend applies it only to cells that still hold exactly that text."""
    from dataclasses import replace

    from ..engine import analyze
    from ..findings import Severity
    from ..source import Cell, Document, SourceError, from_cells, load_path
    from .diagnostics import Utf16Map, to_diagnostic

    disk_doc = None
    if request.get("from_disk") and full_path is not None:
        try:
            disk_doc = load_path(full_path)
        except SourceError as exc:
            return {"version": API_VERSION, "cells": [], "notebook": [], "errors": [{"message": str(exc)}],
                    "config": None, "excluded": False, "sourceKeys": []}
        request = dict(request, cells=[{"source": c.source} for c in disk_doc.cells])
        if disk_doc.kind == "notebook":
            meta_ignore = _metadata_ignore(disk_doc.metadata_text)
            request["ignore"] = [*request["ignore"], *meta_ignore]

    config_path = find_config(root, full_path) if full_path is not None else None
    base, config_error = project_config(config_path)
    errors: list[dict[str, str]] = []
    if config_error:
        errors.append({"message": config_error})
    rel_root = os.path.relpath(config_path, root) if config_path else None
    # the real path: exclude and per-path-ignores globs are matched relative to the config's folder
    doc_path = full_path or ("<notebook>" if request["kind"] == "notebook" else "<file>")
    cells = request["cells"]
    result: dict[str, Any] = {
        "version": API_VERSION,
        "cells": [[] for _ in cells],
        "notebook": [],
        "errors": errors,
        "config": rel_root.replace(os.sep, "/") if rel_root else None,
        "excluded": False,
    }
    if full_path is not None and base.root and base.is_excluded(full_path):
        result["excluded"] = True
        return result
    config = replace(
        base,
        ignore=[*base.ignore, *request["disabled"], *request["ignore"]],
        min_severity=max(base.min_severity, Severity.parse(request["min_severity"])),
        bandit=bool(base.bandit and request["bandit"]),
    )
    if disk_doc is not None:
        doc = replace(disk_doc, path=doc_path)
        result["sourceKeys"] = [source_key(c["source"]) for c in cells]
    elif request["kind"] == "file":
        doc = Document(path=doc_path, cells=[Cell(source=cells[0]["source"])], kind="python")
    else:
        doc = from_cells(cells, path=doc_path)
        doc.language = request["language"]
        if request["metadata"]:
            try:
                doc.metadata_text = json.dumps(request["metadata"], ensure_ascii=False)
            except (TypeError, ValueError):
                doc.metadata_text = ""
    report = analyze(doc, config)
    errors.extend({"message": e.message} for e in report.errors)
    maps: dict[int, Utf16Map] = {}
    for f in report.findings:
        index = 0 if request["kind"] == "file" else f.cell_index
        if index is None or not 0 <= index < len(cells):
            result["notebook"].append(to_diagnostic(f, None))
            continue
        if index not in maps:
            maps[index] = Utf16Map(cells[index]["source"])
        result["cells"][index].append(to_diagnostic(f, maps[index]))
    result["analysisMs"] = round(report.duration * 1000, 1)
    return result


def source_key(text: str) -> str:
    """Length and 32-bit FNV-1a of the UTF-16 code units: what `sourceKey` in the frontend computes."""
    units = text.encode("utf-16-le")
    h = 0x811C9DC5
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{len(units) // 2}:{h:08x}"


def _metadata_ignore(metadata_text: str) -> list[str]:
    """`mlsec.ignore` of a notebook's metadata (as `parse_request` reads it from a request)."""
    try:
        meta = json.loads(metadata_text) if metadata_text else {}
    except ValueError:
        return []
    mlsec_meta = meta.get("mlsec") if isinstance(meta, dict) else None
    ignore = mlsec_meta.get("ignore") if isinstance(mlsec_meta, dict) else None
    if not isinstance(ignore, list):
        return []
    return [i.strip() for i in ignore if isinstance(i, str) and len(i) <= 64 and i.strip()]


def rule_info(rule_id: str | None) -> dict[str, Any] | list[dict[str, Any]] | None:
    from ..rules.base import all_rules, get_rule

    if rule_id is None:
        return {"rules": [r.meta() for r in all_rules()]}
    rule = get_rule(rule_id)
    if rule is None:
        return None
    return rule.meta()
