"""Checking the write-ahead log (``<archive>-wal``) before SQLite reads it.

SQLite takes the first WAL frame whose checksum (or salt) does not match as the end of the
log: a changed byte in a frame silently drops that frame's transaction and every later one,
and SQLCipher's page HMAC is never consulted for frames SQLite has already discarded. So we
read the log ourselves, with SQLite's own rules (https://sqlite.org/fileformat2.html#walformat),
before any connection opens the archive, and call it damaged when a transaction that was
committed would be lost:

- the header's checksum fails while whole frames follow it;
- a whole frame carries salts other than the header's but checks out against this log's
  checksum chain (its salts were altered). A frame of an earlier log is where SQLite's log
  ends, and may legitimately remain: SQLite rewrites the log from its start after a
  checkpoint and truncates the file only when that first transaction commits, so a kill in
  between leaves the old frames behind the new ones;
- a frame of this log marked as a commit follows a frame of an earlier log (a log is written
  from its start, so its frames never come after an older log's);
- after a commit of this log, a whole frame with other salts that cannot be the earlier
  log's (its salt-1 is not one less than this log's, as SQLite sets it at a restart, and its
  page number or commit size lies outside the database, where every page of a checkpointed
  log lies): its header was altered, and with it, perhaps, the last transaction's commit;
- a whole frame marked as a commit fails its checksum, or would pass it but for an altered
  commit field (found by running the checksum backwards from the frame's stored value);
- after the first failing frame, a later frame that checks out against its predecessor is a
  commit.

What a kill legitimately leaves is accepted: a frame cut short at the end of the file, and
the frames of a transaction that never committed.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["wal_path_for", "wal_problem", "writer_active"]

_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}  # bit 0: big-endian checksums
_MASK = 0xFFFFFFFF


def wal_path_for(archive: Path) -> Path:
    return Path(str(archive) + "-wal")


def _words(data: bytes, order: str) -> Iterator[tuple[int, int]]:
    return struct.iter_unpack(order + "II", data)


def _checksum(data: bytes, order: str, s0: int, s1: int) -> tuple[int, int]:
    for x0, x1 in _words(data, order):
        s0 = (s0 + x0 + s1) & _MASK
        s1 = (s1 + x1 + s0) & _MASK
    return s0, s1


def _intended_header(page: bytes, order: str, prev: tuple[int, int],
                     stored: tuple[int, int]) -> tuple[int, int]:
    """The (page number, commit size) for which this frame's page would give its stored
    checksum: the checksum run backwards over the page, then solved for the first step."""
    s0, s1 = stored
    for x0, x1 in reversed(list(_words(page, order))):
        s1 = (s1 - x1 - s0) & _MASK
        s0 = (s0 - x0 - s1) & _MASK
    p0, p1 = prev
    return (s0 - p0 - p1) & _MASK, (s1 - p1 - s0) & _MASK


def wal_problem(archive: Path) -> str | None:
    """Why the archive's WAL would lose committed data, in plain words, or None. A log that
    changed while it was read belongs to a live writer (the lock probe cannot see one on
    Windows): that is not damage, and None is returned."""
    path = wal_path_for(archive)
    try:
        before = path.stat()
        problem = _scan(path)
        after = path.stat()
    except FileNotFoundError:
        return None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        return None
    return problem


def _scan(path: Path) -> str | None:
    with path.open("rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            return None
        magic, _version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", header)
        order = _MAGIC.get(magic)
        if order is None or page_size < 512 or page_size & (page_size - 1):
            return "its header is not a write-ahead log header" if _has_frame(fh, 65560) else None
        if _checksum(header[:24], order, 0, 0) != (c0, c1):
            return ("its header was altered" if _has_frame(fh, page_size + 24) else None)
        try:
            pages = os.stat(str(path)[:-4]).st_size // page_size  # the database beside it
        except OSError:
            pages = 0
        return _frames_problem(fh, order, page_size, (salt1, salt2), (c0, c1), pages)


def _has_frame(fh: BinaryIO, size: int) -> bool:
    return bool(fh.read(size + 1))


def _earlier_log(salt1: int, salts: tuple[int, int], pgno: int, commit: int,
                 pages: int) -> bool:
    """Whether a frame with other salts, after a commit of this log, can be one the log just
    before left: SQLite adds one to salt-1 at each restart; and a restart follows a complete
    checkpoint, so that log's pages are all within the database file (``pages``)."""
    if salt1 == (salts[0] - 1) & _MASK:
        return True
    return 1 <= pgno <= pages and (commit == 0 or pgno <= commit <= pages)


def _frames_problem(fh: BinaryIO, order: str, page_size: int, salts: tuple[int, int],
                    prev: tuple[int, int], pages: int = 0) -> str | None:
    read = fh.read
    broken = False  # SQLite's log has ended; what follows must hold no commit
    foreign = False  # a frame of an earlier log was seen
    committed = False  # a good commit frame of this log was seen
    number = 0
    while True:
        frame = read(24 + page_size)
        if len(frame) < 24 + page_size:
            return None  # cut short by a kill: never committed
        number += 1
        _pgno, commit, s1, s2, k0, k1 = struct.unpack(">6I", frame[:24])
        page = frame[24:]
        stored = (k0, k1)
        good = _checksum(frame[:8] + page, order, *prev) == stored
        if (s1, s2) != salts:
            if good and not broken:
                return f"the salts of frame {number} were altered"
            if committed and not broken and not _earlier_log(s1, salts, _pgno, commit, pages):
                return f"the header of frame {number} was altered"
            broken = foreign = True  # an earlier log's frame: SQLite's log ends here
            prev = stored
            continue
        if foreign and commit:
            return f"frame {number}, committed after a frame of an earlier log, would be lost"
        if not good and not broken:
            broken = True
            if commit:
                return f"committed frame {number} fails its checksum"
            # The checksum reads the header's two words in its own byte order.
            words = struct.unpack(order + "II", frame[:8])
            intended = _intended_header(page, order, prev, stored)
            if intended[0] == words[0] and intended[1] not in (0, words[1]):
                return f"the commit mark of frame {number} was removed"
        elif good and broken and commit:
            return f"frame {number}, committed after a failing frame, would be lost"
        committed = committed or (good and not broken and bool(commit))
        pages = max(pages, commit if good and not broken else 0)
        prev = stored


def writer_active(archive: Path) -> bool:
    """Whether another process holds the archive's write lock now (POSIX: a shared probe on
    the lock file, opened read-only so that read-only media work; elsewhere assume not)."""
    if sys.platform == "win32":
        return False
    import fcntl

    lock = archive.with_name(archive.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
