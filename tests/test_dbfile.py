"""Copying an archive larger than 1 GiB while a connection has it open (issue 12 point 8).

On Windows SQLite locks the 512 bytes at 1 GiB and reading them fails with a lock violation.
Here a reader that fails exactly like that stands for Windows, over a sparse file of
1 GiB + 64 KiB (no disk used for the hole) with data on both sides of the locked range."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from exporter.copies import _stream_copy
from exporter.dbfile import LOCKED_RANGE, DatabaseFileReader

GIB = 1024**3


class LockedLikeWindows(DatabaseFileReader):
    """Refuses any read that touches the locked range, as ReadFile does on Windows while a
    connection holds SQLite's locks (ERROR_LOCK_VIOLATION), and records every range read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.ranges: list[tuple[int, int]] = []

    def read_range(self, offset: int, size: int) -> bytes:
        lo, hi = LOCKED_RANGE
        if offset < hi and offset + size > lo:
            raise PermissionError(33, "The process cannot access the file because another "
                                      "process has locked a portion of the file")
        self.ranges.append((offset, size))
        return super().read_range(offset, size)


@pytest.fixture(scope="module")
def big_archive_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "archive.db"
    with open(path, "wb") as fh:
        fh.truncate(GIB + 64 * 1024)
        for offset in (0, GIB - 4096, GIB + 512, GIB + 60 * 1024):
            fh.seek(offset)
            fh.write(bytes(range(256)) * 16)  # 4 KiB pages of data around the lock-byte page
    return path


def test_the_copy_reads_around_the_locked_bytes(big_archive_file: Path, tmp_path: Path) -> None:
    assert LOCKED_RANGE == (GIB, GIB + 512)
    readers: list[LockedLikeWindows] = []

    class Recorded(LockedLikeWindows):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            readers.append(self)

    with pytest.raises(PermissionError):  # what a plain read of the whole file meets
        LockedLikeWindows(big_archive_file).read_range(GIB - 10, 1024)
    started = time.monotonic()
    out = tmp_path / "archive.db"
    size, digest = _stream_copy(big_archive_file, out, tmp_path, 0, GIB, None,
                                reader_class=Recorded)
    assert size == GIB + 64 * 1024
    plain = hashlib.sha256()
    with open(big_archive_file, "rb") as fh:  # Linux lets us read the source in full
        while block := fh.read(1 << 20):
            plain.update(block)
    assert digest == plain.hexdigest()  # the same bytes: the locked range holds zeros
    assert out.stat().st_size == size
    (reader,) = readers
    covered = sum(n for _, n in reader.ranges)
    assert covered == size - 512  # every byte but the locked ones came from the file
    assert time.monotonic() - started < 120


def test_small_reads_and_seeks_across_the_locked_range(big_archive_file: Path) -> None:
    with LockedLikeWindows(big_archive_file) as reader:
        reader.seek(GIB - 700)
        got = b"".join(iter(lambda: reader.read(97), b""))[:4000]
        assert reader.tell() == GIB + 64 * 1024
        reader.seek(-64 * 1024 - 700, 2)
        assert reader.read(4000) == got[:4000]
    with open(big_archive_file, "rb") as fh:
        fh.seek(GIB - 700)
        assert got == fh.read(4000)
