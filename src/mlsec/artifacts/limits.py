"""Read limits for model files: a per-file byte budget and a reader that never allocates more than exists.

`pickletools.genops` asks its file for as many bytes as an opcode claims (`BINBYTES8` can claim 2**63);
a plain file object would try to allocate that. `BoundedReader` hands out at most what is left in the
source and in the budget, and counts every byte it gives out against the file's budget.
"""
from __future__ import annotations

import io
from typing import IO

MAX_READ_BYTES = 512 * 1024 * 1024  # bytes read (after decompression) per model file
CHUNK = 1024 * 1024


class OverBudget(Exception):
    """More bytes were needed than the file's read budget allows."""


class Budget:
    def __init__(self, limit: int | None = None):
        self.limit = MAX_READ_BYTES if limit is None else limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise OverBudget(f"stopped after reading {_size(self.limit)} (mlsec's read limit per file)")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


class BoundedReader:
    """`read`, `readline`, `tell` over a binary stream, for `pickletools.genops`; positions are offsets in
    the underlying stream plus `base` (so a pickle after a .npy header reports file offsets)."""

    def __init__(self, raw: IO[bytes], budget: Budget, size: int | None = None, base: int = 0):
        self.raw = raw
        self.budget = budget
        self.size = size  # bytes available from the start, when known
        self.pos = 0
        self.base = base
        self._head = b""  # a byte put back by peek1

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.budget.limit + 1
        if self.size is not None:
            n = min(n, max(0, self.size - self.pos))
        parts = []
        if n > 0 and self._head:
            parts.append(self._head)
            self._head = b""
            n -= 1
            self.pos += 1
        n = min(n, self.budget.limit - self.budget.used + 1)
        while n > 0:
            chunk = self.raw.read(min(n, CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            n -= len(chunk)
            self.pos += len(chunk)
            self.budget.take(len(chunk))
        return b"".join(parts)

    def readline(self, limit: int = 1 << 16) -> bytes:
        out = bytearray()
        while len(out) < limit:
            b = self.read(1)
            if not b:
                break
            out += b
            if b == b"\n":
                break
        return bytes(out)

    def peek1(self) -> bytes:
        """The next byte without consuming it (b"" at the end)."""
        b = self.read(1)
        if b:
            self._head = b
            self.pos -= 1
        return b

    def skip(self, n: int) -> int:
        """Move past n bytes (raw array data); seeks when the stream can, else reads (and counts) them."""
        if n <= 0:
            return 0
        if not self._head and self.size is not None and _seekable(self.raw):
            n = min(n, max(0, self.size - self.pos))
            self.raw.seek(n, 1)
            self.pos += n
            return n
        done = 0
        while done < n:
            chunk = self.read(min(n - done, CHUNK))
            if not chunk:
                break
            done += len(chunk)
        return done

    def tell(self) -> int:
        return self.base + self.pos


def _seekable(raw: IO[bytes]) -> bool:
    try:
        return bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        return False


IN_MEMORY_BYTES = 64 * 1024 * 1024  # sources up to this size are read at once and parsed from memory (faster)


class MemoryReader(io.BytesIO):
    """The fast path: bytes already read (and counted); `read(n)` never returns more than exists."""

    def __init__(self, data: bytes, base: int = 0):
        super().__init__(data)
        self.base = base
        self.length = len(data)

    def tell(self) -> int:  # type: ignore[override]
        return self.base + super().tell()

    def peek1(self) -> bytes:
        pos = super().tell()
        b = self.read(1)
        self.seek(pos)
        return b

    def skip(self, n: int) -> int:
        pos = super().tell()
        end = min(pos + max(n, 0), self.length)
        self.seek(end)
        return end - pos


def make_reader(raw: IO[bytes], budget: Budget, size: int | None = None, base: int = 0) -> "BoundedReader | MemoryReader":
    """A reader over `raw` for `pickletools.genops`: from memory when the size is known and small enough,
    else streamed through `BoundedReader`. Either way every byte counts against `budget`."""
    if size is not None and size <= IN_MEMORY_BYTES:
        budget.take(size)
        return MemoryReader(raw.read(size), base)
    return BoundedReader(raw, budget, size, base)
