"""Documents and cells: what mlsec analyses, loaded without ever executing anything.

A Document is an ordered list of Cells. A `.py` file is one cell with `cell_index=None` so that
findings print as `file.py:LINE:COL`; a notebook keeps every cell nbformat lists (markdown and raw
cells too) so that cell indices match what nbformat and JupyterLab count.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

MAX_FILE_BYTES = 50 * 1024 * 1024  # a notebook larger than this is reported, not read


class SourceError(Exception):
    """A file that cannot be analysed; the message is meant for the user as is."""


@dataclass
class OutputText:
    """Text from one cell output (stream, execute_result, display_data, error traceback)."""

    output_index: int
    kind: str
    text: str


@dataclass
class Cell:
    source: str
    cell_type: str = "code"  # code, markdown, raw
    index: int | None = None  # None: a plain .py file or a single cell string
    id: str | None = None
    outputs: list[OutputText] = field(default_factory=list)
    tags: tuple[str, ...] = ()

    @property
    def is_code(self) -> bool:
        return self.cell_type == "code"

    @property
    def digest(self) -> str:
        return hashlib.blake2b(self.source.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


@dataclass
class Document:
    path: str
    cells: list[Cell]
    kind: str = "python"  # python, notebook, cell
    language: str = "python"
    metadata_text: str = ""  # notebook metadata as JSON text, scanned for secrets
    raw_text: str | None = None  # the .ipynb JSON as read (for SARIF positions)

    @property
    def code_cells(self) -> Iterable[Cell]:
        return (c for c in self.cells if c.is_code)

    @property
    def is_python(self) -> bool:
        return self.language.lower() in ("python", "python3", "ipython", "ipython3", "")


def from_string(source: str, path: str = "<cell>") -> Document:
    """One cell of code (the magic, the server) or a script held in memory."""
    return Document(path=path, cells=[Cell(source=source)], kind="cell")


def from_cells(sources: Iterable[str | dict[str, Any]], path: str = "<notebook>") -> Document:
    """A notebook given as cell sources (the server and the magic); dicts may carry id/cell_type/outputs."""
    cells: list[Cell] = []
    for i, item in enumerate(sources):
        if isinstance(item, str):
            cells.append(Cell(source=item, index=i))
        else:
            cells.append(
                Cell(
                    source=_join(item.get("source", "")),
                    cell_type=item.get("cell_type", "code"),
                    index=i,
                    id=item.get("id"),
                    outputs=_outputs(item.get("outputs") or []),
                    tags=tuple((item.get("metadata") or {}).get("tags") or ()),
                )
            )
    return Document(path=path, cells=cells, kind="notebook")


def read_bytes(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise SourceError(f"file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // 1_000_000} MB limit; skipped")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None


def decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SourceError("binary file (contains NUL bytes); skipped")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not UTF-8 text (byte {exc.start}); skipped") from None


def load_path(path: str, data: bytes | None = None) -> Document:
    """Load a .py or .ipynb file. Raises SourceError with a user-facing message."""
    if data is None:
        data = read_bytes(path)
    if path.endswith(".ipynb"):
        return load_notebook_text(decode(data), path)
    text = decode(data)
    return Document(path=path, cells=[Cell(source=text)], kind="python")


def load_notebook_text(text: str, path: str = "<notebook>") -> Document:
    if not text.strip():
        raise SourceError("empty file, not a notebook")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"invalid notebook JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise SourceError("not a Jupyter notebook (no 'cells')")
    nb = _to_v4(raw)
    meta = nb.get("metadata") or {}
    language = _language(meta)
    cells = []
    for i, c in enumerate(nb.get("cells") or []):
        if not isinstance(c, dict):
            continue
        cmeta = c.get("metadata") or {}
        tags = cmeta.get("tags") if isinstance(cmeta, dict) else None
        cells.append(
            Cell(
                source=_join(c.get("source", "")),
                cell_type=str(c.get("cell_type", "code")),
                index=i,
                id=c.get("id") if isinstance(c.get("id"), str) else None,
                outputs=_outputs(c.get("outputs") or []),
                tags=tuple(t for t in (tags or ()) if isinstance(t, str)),
            )
        )
    try:
        meta_text = json.dumps(meta, ensure_ascii=False) if meta else ""
    except (TypeError, ValueError):
        meta_text = ""
    return Document(
        path=path, cells=cells, kind="notebook", language=language, metadata_text=meta_text, raw_text=text
    )


def _to_v4(raw: dict[str, Any]) -> dict[str, Any]:
    """Upgrade with nbformat when the notebook is not v4 already; v4.x minors are read as they are."""
    major = raw.get("nbformat")
    if major == 4 or (major is None and "cells" in raw):
        return raw
    try:
        import nbformat  # heavy; only for old notebooks
        from nbformat.reader import reads

        nb = reads(json.dumps(raw))
        return nbformat.convert(nb, 4)
    except Exception as exc:  # nbformat raises many kinds for old or odd files
        raise SourceError(f"unsupported notebook format {major!r}: {exc}") from None


def _language(meta: dict[str, Any]) -> str:
    if not isinstance(meta, dict):
        return "python"
    li = meta.get("language_info")
    if isinstance(li, dict):
        # Python-compatible kernels (Coconut, xeus-python...) say so in their language_info
        if li.get("file_extension") == ".py" or li.get("mimetype") == "text/x-python" or str(
            li.get("pygments_lexer", "")
        ).startswith("ipython"):
            return "python"
        if isinstance(li.get("name"), str):
            return li["name"]
    ks = meta.get("kernelspec")
    if isinstance(ks, dict) and isinstance(ks.get("language"), str):
        return ks["language"]
    return "python"


def _join(src: Any) -> str:
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _outputs(outputs: list[Any]) -> list[OutputText]:
    texts: list[OutputText] = []
    for i, out in enumerate(outputs):
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type", "")
        if kind == "stream":
            texts.append(OutputText(i, kind, _join(out.get("text", ""))))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            if isinstance(data, dict):
                for mime in ("text/plain", "text/html", "text/markdown", "application/json"):
                    if mime in data:
                        val = data[mime]
                        if not isinstance(val, (str, list)):
                            val = json.dumps(val)
                        texts.append(OutputText(i, kind, _join(val)))
        elif kind == "error":
            tb = out.get("traceback") or []
            texts.append(OutputText(i, kind, "\n".join(t for t in tb if isinstance(t, str))))
    return texts
