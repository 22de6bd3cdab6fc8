"""Reading an SQLite database file that a connection has open, the way Windows allows.

On Windows, SQLite locks 512 bytes at offset 1 GiB (its PENDING, RESERVED and SHARED lock
bytes, os_win.c) with ``LockFileEx``, and a plain ``ReadFile`` across a locked range fails
with ERROR_LOCK_VIOLATION: copying a database larger than 1 GiB while any connection has it
open failed there. Those bytes lie in the *lock-byte page*, which "the SQLite core will never
read or write" (https://sqlite.org/fileformat.html#the_lock_byte_page): nothing in it is data,
and a file that grew past it holds zeros there. :class:`DatabaseFileReader` reads every other
byte of the file and gives zeros for the locked range without touching it, so a copy reads
the same bytes on every OS and never asks Windows for the locked range.

Copies of the live archive no longer read its file (SQLite's backup API writes their
snapshot, exporter.copies_base); this reader is for files that a connection may still hold
open when they are read whole: a fetched copy, an object-store upload or its hash.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

__all__ = ["LOCKED_RANGE", "DatabaseFileReader"]

PENDING_BYTE = 0x4000_0000  # 1 GiB
#: The byte range SQLite locks on Windows: PENDING, RESERVED, then 510 SHARED bytes.
LOCKED_RANGE = (PENDING_BYTE, PENDING_BYTE + 512)


class DatabaseFileReader(io.RawIOBase):
    """A read-only, seekable binary file over a database file that never reads
    :data:`LOCKED_RANGE` (zeros are given instead). Its size is fixed when it is opened: the
    caller keeps the file from changing (copies hold the archive's write lock and a read
    transaction)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fh = open(path, "rb", buffering=0)  # noqa: SIM115 (closed in close())
        self._size = os.fstat(self._fh.fileno()).st_size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._pos
        end = min(start + len(buffer), self._size)
        if end <= start:
            return 0
        data = self._span(start, end)
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _span(self, start: int, end: int) -> bytes:
        lo, hi = LOCKED_RANGE
        if end <= lo or start >= hi:
            return self.read_range(start, end - start)
        parts = []
        if start < lo:
            parts.append(self.read_range(start, lo - start))
        parts.append(bytes(min(end, hi) - max(start, lo)))
        if end > hi:
            parts.append(self.read_range(hi, end - hi))
        return b"".join(parts)

    def read_range(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset``: the one place the file itself is read."""
        self._fh.seek(offset)
        chunks, left = [], size
        while left > 0:
            block = self._fh.read(left)
            if not block:
                raise OSError(f"{self._fh.name} became shorter while it was read")
            chunks.append(block)
            left -= len(block)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()
