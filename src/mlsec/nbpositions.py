"""Where each cell's source lines sit in the raw .ipynb JSON text (for SARIF and GitHub annotations).

Findings are in cell coordinates; code-scanning UIs show the file as stored, so a notebook finding
must point at the JSON line that holds that source line. A notebook stores `source` either as a
list of strings (one per line, as nbformat writes it) or as one string with `\\n` escapes; JSON
strings never contain a raw newline, so every source string sits on one raw line.

The scanner walks the JSON tokens with one regular expression (large base64 outputs are single
string tokens, matched in C) and keeps only what positions need: for every cell, the source
string tokens and where the `outputs` key is; plus where the top-level `metadata` key is. It never
builds the notebook object, and it gives up quietly (positions fall back to line 1) on text that
is not the JSON it expects.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.S)
_ESCAPE_LEN = {"u": 6}  # \uXXXX; every other escape is two characters


@dataclass
class _Piece:
    """One JSON string of a cell's source: its decoded text and where its raw text starts."""

    text: str
    raw: str  # the token without its quotes
    line: int  # 1-based raw line
    col: int  # 0-based raw column of the first character after the opening quote
    start: int  # offset of text[0] in the joined cell source


@dataclass
class _CellPos:
    pieces: list[_Piece] = field(default_factory=list)
    line: int = 1  # raw line of the cell object's opening brace
    outputs_line: int | None = None
    line_starts: list[int] | None = None  # offsets of each source line in the joined source

    def source(self) -> str:
        return "".join(p.text for p in self.pieces)


class NotebookPositions:
    """Raw-file positions of a notebook's cell sources."""

    def __init__(self, raw_text: str):
        self.cells: dict[int, _CellPos] = {}  # by index in the `cells` array (every element counted)
        self.metadata_line: int | None = None
        self._nl = [m.start() for m in re.finditer("\n", raw_text)]
        try:
            self._scan(raw_text)
        except (ValueError, IndexError):
            pass  # not the JSON we expect: what was found so far stays, the rest falls back to line 1

    # -- scanning -----------------------------------------------------------------------------
    def _pos(self, offset: int) -> tuple[int, int]:
        """(1-based line, 0-based column) of a character offset in the raw text."""
        i = bisect.bisect_left(self._nl, offset)
        line_start = self._nl[i - 1] + 1 if i > 0 else 0
        return i + 1, offset - line_start

    def _scan(self, text: str) -> None:
        # stack entries: [kind ("obj"/"arr"), name in the parent (key or index), expecting a key, last index]
        stack: list[list] = []
        key: str | None = None  # the key whose value comes next (in an object)
        for m in _TOKEN.finditer(text):
            tok = m.group()
            c = tok[0]
            if c in ",:":
                if c == "," and stack and stack[-1][0] == "obj":
                    stack[-1][2] = True
                continue
            if c in "}]":
                stack.pop()
                continue
            top = stack[-1] if stack else None
            if top is not None and top[0] == "obj" and top[2]:  # a key
                key = json.loads(tok) if c == '"' else tok
                top[2] = False
                if len(stack) == 1 and key == "metadata":
                    self.metadata_line = self._pos(m.start())[0]
                elif len(stack) == 3 and key == "outputs":
                    cell = self.cells.get(self._cell_of(stack))
                    if cell is not None:
                        cell.outputs_line = self._pos(m.start())[0]
                continue
            # a value: its name in the parent
            if top is None:
                name = None
            elif top[0] == "obj":
                name = key
            else:
                top[3] += 1
                name = top[3]
            path = [e[1] for e in stack[1:]] + [name]
            if c in "{[":
                if c == "{" and len(path) == 2 and path[0] == "cells" and isinstance(path[1], int):
                    self.cells[path[1]] = _CellPos(line=self._pos(m.start())[0])
                stack.append(["obj" if c == "{" else "arr", name, True, -1])
                continue
            if c == '"' and len(path) in (3, 4) and path[0] == "cells" and path[2] == "source":
                cell = self.cells.get(path[1]) if isinstance(path[1], int) else None
                if cell is not None and (len(path) == 3 or isinstance(path[3], int)):
                    line, col = self._pos(m.start() + 1)
                    start = sum(len(p.text) for p in cell.pieces)
                    cell.pieces.append(_Piece(json.loads(tok), tok[1:-1], line, col, start))

    @staticmethod
    def _cell_of(stack: list[list]) -> int | None:
        """Index of the cell object the scan is inside (`cells[i]` of the top-level object)."""
        if len(stack) >= 3 and stack[1][1] == "cells" and stack[1][0] == "arr" and stack[2][0] == "obj":
            idx = stack[2][1]
            return idx if isinstance(idx, int) else None
        return None

    # -- queries ------------------------------------------------------------------------------
    def _cell(self, cell_index: int) -> _CellPos | None:
        return self.cells.get(cell_index)

    def position(self, cell_index: int, line: int, col: int = 0) -> tuple[int, int]:
        """(1-based raw line, 0-based raw column) of character `col` of `line` (1-based) in a cell."""
        cell = self._cell(cell_index)
        if cell is None:
            return 1, 0
        if not cell.pieces:
            return cell.line, 0
        if cell.line_starts is None:
            src = cell.source()
            starts = [0]
            for mm in re.finditer(r"\r\n|\r|\n", src):
                starts.append(mm.end())
            cell.line_starts = starts
        starts = cell.line_starts
        line = min(max(line, 1), len(starts))
        offset = starts[line - 1] + max(col, 0)
        total = cell.pieces[-1].start + len(cell.pieces[-1].text)
        offset = min(offset, total)
        idx = bisect.bisect_right([p.start for p in cell.pieces], offset) - 1
        piece = cell.pieces[max(idx, 0)]
        # a line ending exactly at a piece's end starts at the next piece
        if offset - piece.start >= len(piece.text) and idx + 1 < len(cell.pieces):
            piece = cell.pieces[idx + 1]
        within = min(offset - piece.start, len(piece.text))
        return piece.line, piece.col + _raw_len(piece.raw, within)

    def outputs_line(self, cell_index: int) -> int:
        cell = self._cell(cell_index)
        if cell is None:
            return 1
        return cell.outputs_line or cell.line


def _raw_len(raw: str, n_chars: int) -> int:
    """Raw JSON characters that encode the first `n_chars` decoded characters of a string."""
    if "\\" not in raw:
        return min(n_chars, len(raw))
    i = 0
    count = 0
    while i < len(raw) and count < n_chars:
        if raw[i] == "\\" and i + 1 < len(raw):
            if raw[i + 1] == "u":
                code = int(raw[i + 2 : i + 6], 16)
                i += 6
                # a surrogate pair is one decoded character
                if 0xD800 <= code < 0xDC00 and raw[i : i + 2] == "\\u":
                    i += 6
            else:
                i += 2
        else:
            i += 1
        count += 1
    return i


_CACHE: dict[int, tuple[str, NotebookPositions]] = {}


def positions(raw_text: str) -> NotebookPositions:
    """Scan once per raw text (renderers ask for many findings of the same notebook)."""
    key = id(raw_text)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is raw_text:
        return hit[1]
    pos = NotebookPositions(raw_text)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = (raw_text, pos)
    return pos
