"""Containers around pickles: zip files (PyTorch checkpoints, .npz, .keras), .npy headers, compressed joblib.

Zip members are checked by name and size before anything is decompressed: names that leave the archive
folder and members that expand far beyond their stored size (zip bombs) are reported and not opened. The
members that can hold a pickle (`*.pkl`, `*.pickle`, `.npy` object arrays) or a Keras config are read
through the file's read budget.
"""
from __future__ import annotations

import ast
import io
import re
import zipfile
from typing import IO, TYPE_CHECKING

from .limits import IN_MEMORY_BYTES, Budget, BoundedReader, MemoryReader, OverBudget, make_reader

if TYPE_CHECKING:  # pragma: no cover
    from . import Collector

MAX_MEMBERS = 100_000
BOMB_RATIO = 200  # uncompressed / compressed, for members over BOMB_MIN_BYTES
BOMB_MIN_BYTES = 16 * 1024 * 1024
MAX_CONFIG_BYTES = 64 * 1024 * 1024
NPY_MAGIC = b"\x93NUMPY"
_DRIVE = re.compile(r"^[A-Za-z]:")


def leaves_folder(name: str) -> bool:
    """`../x`, `a/../../x`, `/etc/x`, `C:\\x`: a member that extraction would write outside its folder."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return True
    depth = 0
    for part in norm.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def scan_zip(fh: IO[bytes], out: "Collector", budget: Budget, ext: str, where: str = "") -> None:
    """`where`: the zip's own place when it is nested (bytes inside a pickle); member names are added to it."""
    from . import keras

    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError, EOFError,
            UnicodeDecodeError) as exc:
        out.not_checked(f"{where + ': ' if where else ''}the zip archive cannot be read ({exc})")
        return
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            out.not_checked(f"the archive has {len(infos)} members; only the first {MAX_MEMBERS} were checked")
            infos = infos[:MAX_MEMBERS]
        escaping = [i.filename for i in infos if leaves_folder(i.filename)]
        if escaping:
            more = f" (and {len(escaping) - 1} more)" if len(escaping) > 1 else ""
            out.suspicious(f"{'(' + where + ') ' if where else ''}has a member whose name leaves the archive folder: {escaping[0]!r}{more}",
                           notes=["extracting it writes outside the target folder; PyTorch, Keras and numpy never "
                                  "write such names"])
        names = {i.filename for i in infos}
        is_keras = "config.json" in names and (ext == ".keras" or "metadata.json" in names)
        for info in infos:
            if info.is_dir():
                continue
            lower = info.filename.lower()
            wanted = lower.endswith((".pkl", ".pickle")) or lower.endswith(".npy") or (
                is_keras and info.filename == "config.json"
            )
            if not wanted:
                continue
            if info.file_size > BOMB_MIN_BYTES and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
                out.suspicious(
                    f"{'(' + where + ') ' if where else ''}member {info.filename!r} expands from {info.compress_size} to {info.file_size} bytes "
                    f"(a zip bomb)", notes=["not decompressed"])
                continue
            try:
                member = zf.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
                out.not_checked(f"member {info.filename!r} cannot be opened ({exc})")
                continue
            with member:
                member_where = f"{where} > {info.filename}" if where else info.filename
                try:
                    if lower.endswith(".npy"):  # numeric arrays: only the header is read
                        scan_npy(BoundedReader(member, budget, size=info.file_size), out, member_where)
                        continue
                    reader = make_reader(member, budget, info.file_size)
                    if info.filename == "config.json" and is_keras:
                        text = reader.read(MAX_CONFIG_BYTES + 1)
                        if len(text) > MAX_CONFIG_BYTES:
                            out.not_checked(f"{member_where} is over {MAX_CONFIG_BYTES // 2**20} MiB; not read")
                            continue
                        keras.scan_config_text(text, out, member_where)
                    else:
                        from . import check_pickles

                        check_pickles(reader, out, member_where)
                except OverBudget as exc:
                    out.not_checked(str(exc))
                    return
                except Exception as exc:  # noqa: BLE001 - decompression: BadZipFile (CRC), zlib.error, LZMAError...
                    out.not_checked(f"member {member_where!r} cannot be read ({type(exc).__name__}: {exc})")


def scan_npy(reader: "BoundedReader | MemoryReader", out: "Collector", where: str = "") -> None:
    """A .npy file: object arrays (`descr` holding 'O') are pickles after the header; other arrays are data."""
    magic = reader.read(8)
    if len(magic) < 8 or not magic.startswith(NPY_MAGIC):
        out.not_checked(f"{where + ': ' if where else ''}not a valid .npy file (bad header)")
        return
    major = magic[6]
    size_bytes = 2 if major == 1 else 4
    raw_len = reader.read(size_bytes)
    if len(raw_len) < size_bytes:
        out.not_checked(f"{where + ': ' if where else ''}the .npy header is truncated")
        return
    header_len = int.from_bytes(raw_len, "little")
    if header_len > 1 << 20:
        out.not_checked(f"{where + ': ' if where else ''}the .npy header claims {header_len} bytes")
        return
    header = reader.read(header_len)
    try:
        meta = ast.literal_eval(header.decode("utf-8" if major >= 3 else "latin-1"))  # a literal, never code
        descr = meta["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, UnicodeDecodeError, MemoryError, RecursionError):
        out.not_checked(f"{where + ': ' if where else ''}the .npy header cannot be read")
        return
    if "O" not in repr(descr):
        return  # plain numbers or strings: no pickle
    if isinstance(reader, BoundedReader) and reader.size is not None and reader.size - reader.pos <= IN_MEMORY_BYTES:
        start = reader.tell()
        reader = MemoryReader(reader.read(reader.size - reader.pos), base=start)  # the fast path for the pickle
    from . import check_pickles

    check_pickles(reader, out, where, note="an object array: numpy.load(allow_pickle=True) unpickles it")


# ---------------------------------------------------------------------------------------------
# Compressed pickles (joblib's compress=...)


def compression_of(head: bytes) -> str | None:
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "zlib"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00") or head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    return None


class _Decompressed(io.RawIOBase):
    """A decompressing stream: reads go through one decompressor object, never all at once."""

    def __init__(self, raw: IO[bytes], kind: str):
        import bz2
        import lzma
        import zlib

        self.raw = raw
        if kind == "zlib":
            self.d = zlib.decompressobj()
        elif kind == "gzip":
            self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif kind == "bz2":
            self.d = bz2.BZ2Decompressor()
        else:
            self.d = lzma.LZMADecompressor()
        self.zlib = kind in ("zlib", "gzip")
        self.buffer = b""
        self.at = 0  # read position in buffer
        self.eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        step = 1 << 20
        d = self.d
        try:
            if self.zlib:
                tail = d.unconsumed_tail
                chunk = tail or self.raw.read(1 << 16)
                if not chunk:
                    data, self.eof = d.flush(), True
                else:
                    data = d.decompress(chunk, step)
            else:
                chunk = self.raw.read(1 << 16) if d.needs_input else b""
                if d.needs_input and not chunk:
                    data, self.eof = b"", True
                else:
                    data = d.decompress(chunk, step)
        except (OSError, EOFError, ValueError) as exc:  # zlib.error is an Exception subclass too
            raise ValueError(f"corrupt compressed data: {exc}") from None
        except Exception as exc:
            raise ValueError(f"corrupt compressed data: {exc}") from None
        if getattr(d, "eof", False):
            self.eof = True
        self.buffer = self.buffer[self.at:] + data
        self.at = 0

    def read(self, n: int = -1) -> bytes:
        n = 1 << 20 if n is None or n < 0 else n
        while len(self.buffer) - self.at < n and not self.eof:
            self._fill()
        out = self.buffer[self.at:self.at + n]
        self.at += len(out)
        return out


def scan_compressed(fh: IO[bytes], kind: str, out: "Collector", budget: Budget) -> None:
    from . import check_pickles

    if kind == "lz4":
        out.not_checked("lz4-compressed (joblib compress='lz4'); mlsec does not decompress lz4")
        return
    stream = _Decompressed(fh, kind)
    try:
        head = stream.read(IN_MEMORY_BYTES + 1)
        if len(head) <= IN_MEMORY_BYTES:
            budget.take(len(head))
            reader: "BoundedReader | MemoryReader" = MemoryReader(head)
        else:
            reader = BoundedReader(_Chain(head, stream), budget)
        check_pickles(reader, out, "", note=f"inside {kind}-compressed data (offsets after decompression)")
    except ValueError as exc:
        out.not_checked(str(exc))


class _Chain:
    """Bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head = head
        self.at = 0
        self.rest = rest

    def read(self, n: int = -1) -> bytes:
        if self.at < len(self.head):
            n = len(self.head) - self.at if n is None or n < 0 else n
            out = self.head[self.at:self.at + n]
            self.at += len(out)
            return out
        return self.rest.read(n)
