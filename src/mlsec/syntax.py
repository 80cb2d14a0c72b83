"""IPython syntax -> valid Python, with an exact line map back to the cell.

IPython's own token transformers (`IPython.core.inputtransformer2`) find and rewrite `%magic`,
`!shell`, `x = !cmd`, `x = %magic` and `obj?`. We drive them one at a time, as IPython does, but pad
each rewritten statement with blank lines so the Python text keeps exactly the cell's line count:
line N of the Python is line N of the cell, and columns are unchanged everywhere except on the
special lines themselves. The special lines are kept as `Special` items (shell and magic text) for
the text rules: they carry `--extra-index-url`, tokens and `--ip=0.0.0.0`.

Cell magics are handled here: bodies of `%%writefile x.py`, `%%time`, `%%capture`... are Python;
`%%bash`, `%%sh`, `%%script bash`, `%%!` bodies are shell lines; other bodies are plain text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Cell magics whose body is Python code and runs (or is written) as such.
PYTHON_BODY_MAGICS = {"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3", "writefile", "file",
                      "tensorflow_version", "memit", "mprun", "skip", "mlsec"}
SHELL_BODY_MAGICS = {"bash", "sh", "zsh", "system", "sx", "!", "shell"}
SHELL_MAGICS = {"system", "sx", "sc"}  # line magics whose argument is a shell command
AUTOMAGIC_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<name>pip|pip3|conda|mamba|micromamba|uv)[ \t]+"
    r"(?P<rest>(?:install|uninstall|download|list|show|freeze|config|update|upgrade|create|env|remove|pip)\b[^\n]*)$"
)
# Any character that can start IPython special syntax; cells without it skip the transformer.
_SPECIAL_HINT = re.compile(r"^[ \t]*[%!]|[=][ \t]*[%!]|\?[ \t]*$|^[ \t]*(?:pip3?|conda|mamba|micromamba|uv)[ \t]", re.M)


@dataclass
class Special:
    """A shell or magic statement, as text, with its place in the cell."""

    kind: str  # "shell" (! lines, %%bash bodies, %system), "magic" (%name args), "help" (obj?)
    name: str  # magic name ("pip", "env", "cd"...); "!" for shell escapes
    text: str  # the command without its escape: `wget http://...`, `install torch`
    line: int  # 1-based line in the cell
    col: int  # 0-based column where `text` starts in that line
    end_line: int
    raw: str  # the original source text of the statement

    @property
    def command(self) -> str:
        """The shell command line this special amounts to (`pip install x` for `%pip install x`)."""
        if self.kind == "shell":
            return self.text
        if self.kind == "magic" and self.name in ("pip", "conda", "mamba", "uv"):
            return f"{self.name} {self.text}"
        return self.text


@dataclass
class TextBlock:
    """A cell-magic body that is neither Python nor shell (`%%html`, `%%writefile config.yaml`)."""

    magic: str
    text: str
    line: int  # 1-based line of the first body line


@dataclass
class CellCode:
    python: str  # same line count as the cell source
    specials: list[Special] = field(default_factory=list)
    texts: list[TextBlock] = field(default_factory=list)
    cell_magic: str | None = None


def _lines(source: str) -> list[str]:
    lines = source.splitlines(keepends=True)
    if not lines:
        return []
    if not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def _join_continued(lines: list[str], start: int) -> int:
    """Index of the last physical line of a backslash-continued line starting at `start`."""
    end = start
    while end < len(lines) - 1 and lines[end].rstrip("\r\n").endswith("\\"):
        end += 1
    return end


_PYTHON_OF: dict[str, str] = {}
_PYTHON_OF_MAX = 4096


def python_of(source: str) -> str:
    """Just the Python of `transform(source)`, memoized by text (the bandit bridge asks for every cell
    on every lint; an immutable string is safe to share). Never raises: text IPython's tokenizer gives
    up on is returned as it is, as the engine treats it."""
    py = _PYTHON_OF.get(source)
    if py is not None:
        return py
    try:
        py = transform(source).python
    except Exception:
        py = source
    if len(source) <= 1_000_000:
        if len(_PYTHON_OF) >= _PYTHON_OF_MAX:  # oldest first; pop(..., None): safe between threads
            _PYTHON_OF.pop(next(iter(_PYTHON_OF), None), None)
        _PYTHON_OF[source] = py
    return py


def transform(source: str) -> CellCode:
    """Turn one cell's IPython source into Python with the same lines, plus its specials."""
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = _lines(source)
    if not lines:
        return CellCode(python="")
    first = lines[0]
    if first.startswith("%%") and not re.match(r"%%\w+\?", first):
        return _cell_magic(lines)
    if not _SPECIAL_HINT.search(source):
        return CellCode(python=source)
    specials: list[Special] = []
    source_lines = lines
    lines, auto = _automagic(lines)
    lines = _token_transforms(lines, specials)
    for s in specials:  # automagic lines had no '%' in the cell: shift back and show what was typed
        if s.line - 1 in auto:
            s.col -= 1
            s.raw = "".join(source_lines[s.line - 1 : s.end_line]).rstrip("\n")
    specials.sort(key=lambda s: (s.line, s.col))
    return CellCode(python="".join(lines), specials=specials)


def _automagic(lines: list[str]) -> tuple[list[str], set[int]]:
    """`pip install x` typed without `%` (IPython's automagic) becomes `%pip install x`."""
    out = list(lines)
    changed: set[int] = set()
    for i, line in enumerate(lines):
        m = AUTOMAGIC_RE.match(line.rstrip("\r\n"))
        if m and not re.match(r"\s*=", m.group("rest")[len(m.group("rest").split()[0]):]):
            indent = m.group("indent")
            out[i] = f"{indent}%{line[len(indent):]}"
            changed.add(i)
    return out, changed


def _token_transforms(lines: list[str], specials: list[Special]) -> list[str]:
    from IPython.core import inputtransformer2 as it2

    transformers = (it2.MagicAssign, it2.SystemAssign, it2.EscapedCommand, it2.HelpEnd)
    original = list(lines)
    for _ in range(it2.TRANSFORM_LOOP_LIMIT):
        tokens_by_line = it2.make_tokens_by_line(lines)
        candidates = [t for t in (cls.find(tokens_by_line) for cls in transformers) if t]
        if not candidates:
            return lines
        for tr in sorted(candidates, key=it2.TokenTransformBase.sortby):
            start = tr.start_line
            end = tr.q_line if isinstance(tr, it2.HelpEnd) else _join_continued(lines, start)
            try:
                new = tr.transform(lines)
            except SyntaxError:
                continue
            removed = len(lines) - len(new)
            # pad with blank lines so line N stays line N
            insert_at = start + 1
            new = new[:insert_at] + ["\n"] * removed + new[insert_at:]
            specials.append(_special_from(tr, original, start, end))
            lines = new
            break
        else:
            return lines
    return lines


def _special_from(tr, original: list[str], start: int, end: int) -> Special:
    from IPython.core import inputtransformer2 as it2

    raw = "".join(original[start : end + 1]).rstrip("\n")
    line0 = original[start]
    col = tr.start_col
    body = line0[col:]
    # Assignments (x = !cmd): the escape starts after the '='.
    if isinstance(tr, (it2.MagicAssign, it2.SystemAssign)):
        m = re.search(r"=\s*", body)
        if m:
            col += m.end()
            body = line0[col:]
    text_lines = [body] + original[start + 1 : end + 1]
    text = "".join(text_lines).replace("\\\n", " ").rstrip("\n").strip()
    if isinstance(tr, it2.HelpEnd):
        return Special("help", "?", text.rstrip("?"), start + 1, col, end + 1, raw)
    if text.startswith("!!"):
        return Special("shell", "!", text[2:].strip(), start + 1, col + 2, end + 1, raw)
    if text.startswith("!"):
        return Special("shell", "!", text[1:].strip(), start + 1, col + 1, end + 1, raw)
    if text.startswith("%sx") or text.startswith("%system") or text.startswith("%sc"):
        name, _, rest = text[1:].partition(" ")
        return Special("shell", "!", rest.strip(), start + 1, col + 1 + len(name) + 1, end + 1, raw)
    if text.startswith("%"):
        name, _, rest = text.lstrip("%").partition(" ")
        return Special("magic", name, rest.strip(), start + 1, col + 1 + len(name) + 1, end + 1, raw)
    # `,f x` / `;f x` / `/f x` autocall escapes
    return Special("magic", "autocall", text, start + 1, col, end + 1, raw)


def _cell_magic(lines: list[str]) -> CellCode:
    header = lines[0].rstrip("\r\n")
    name, _, args = header[2:].partition(" ")
    args = args.strip()
    body = lines[1:]
    magic = Special("magic", name, args, 1, 2 + len(name) + 1, 1, header)
    if name == "script":
        interp = args.split()[0] if args.split() else ""
        name_kind = "shell" if interp.rsplit("/", 1)[-1] in ("bash", "sh", "zsh") else "text"
    elif name in SHELL_BODY_MAGICS:
        name_kind = "shell"
    elif name in ("writefile", "file"):
        target = [a for a in args.split() if not a.startswith("-")]
        name_kind = "python" if target and target[-1].endswith(".py") else "text"
    elif name in PYTHON_BODY_MAGICS:
        name_kind = "python"
    else:
        name_kind = "text"

    blank_header = "\n"
    if name_kind == "python":
        # The body is a normal cell below a blank first line; it may hold line magics itself.
        inner = transform("".join(body)) if body else CellCode(python="")
        for s in inner.specials:
            s.line += 1
            s.end_line += 1
        for t in inner.texts:
            t.line += 1
        return CellCode(
            python=blank_header + inner.python, specials=[magic, *inner.specials], texts=inner.texts, cell_magic=name
        )
    specials = [magic]
    texts: list[TextBlock] = []
    if name_kind == "shell":
        i = 0
        while i < len(body):
            end = _join_continued(body, i)
            raw = "".join(body[i : end + 1]).rstrip("\n")
            text = raw.replace("\\\n", " ").strip()
            if text and not text.startswith("#"):
                indent = len(body[i]) - len(body[i].lstrip())
                specials.append(Special("shell", name, text, i + 2, indent, end + 2, raw))
            i = end + 1
    elif body:
        texts.append(TextBlock(name, "".join(body), 2))
    python = blank_header + "\n" * len(body)
    return CellCode(python=python, specials=specials, texts=texts, cell_magic=name)
