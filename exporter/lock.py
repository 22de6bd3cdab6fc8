"""The archive's write lock: one writer at a time, portable to Windows.

The lock is an OS-level exclusive lock on ``<archive>.lock`` (``fcntl.flock`` on POSIX,
``msvcrt.locking`` on Windows). The OS drops it when its process dies, however it dies, so a
lock left by a killed run is simply taken over; the file's contents (PID, host, start time)
only serve the "in use by PID ..." message.

A holder that takes the lock only for a moment (the care-plan desk copying its audit entries
into the archive, a few milliseconds) marks itself ``brief``: a writer that finds such a
holder waits up to :data:`BRIEF_WAIT` seconds for it instead of being refused, so the nightly
sync never fails because a nurse opened a plan at 02:30.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from exporter.errors import ArchiveLocked

__all__ = ["ArchiveLock", "lock_path_for"]


# Windows locks byte ranges and forbids other processes to read them: lock a byte far past the
# holder info so that "in use by PID ..." can still be read.
_WIN_LOCK_OFFSET = 1 << 20
#: How long a writer waits for a ``brief`` holder to let go.
BRIEF_WAIT = 5.0


def lock_path_for(archive: Path) -> Path:
    return archive.with_name(archive.name + ".lock")


def _try_lock(fh: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            fh.seek(_WIN_LOCK_OFFSET)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(_WIN_LOCK_OFFSET)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class ArchiveLock:
    """``with ArchiveLock(path):`` holds the write lock of the archive at ``path``."""

    def __init__(self, archive: Path, brief: bool = False) -> None:
        self.path = lock_path_for(Path(archive))
        self.brief = brief
        self._fh: IO[bytes] | None = None

    def holder(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _settled_holder(self) -> dict[str, object]:
        """The holder's info; a holder that has just taken the lock may not have written it
        yet (the file is emptied, then written), so wait for it a little."""
        for _ in range(20):
            info = self.holder()
            if isinstance(info.get("pid"), int):
                return info
            time.sleep(0.025)
        return info

    def acquire(self) -> ArchiveLock:
        fh = open(self.path, "a+b")  # noqa: SIM115 (held open for the lock's lifetime)
        if not _try_lock(fh) and not self._after_brief_holder(fh):
            fh.close()
            info = self._settled_holder()
            pid = info.get("pid")
            host = info.get("host")
            since = info.get("since", "an unknown time")
            where = f" on {host}" if host and host != socket.gethostname() else ""
            who = (f"PID {pid}{where} (since {since})" if isinstance(pid, int) else
                   "another exporter process that is just starting")
            raise ArchiveLocked(
                f"The archive is in use by {who}; wait for that run to finish and try again.",
                pid=int(pid) if isinstance(pid, int) else None,
                host=str(host) if host else None,
            )
        fh.seek(0)
        fh.truncate()
        mine: dict[str, object] = {
            "pid": os.getpid(), "host": socket.gethostname(),
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if self.brief:
            mine["brief"] = True
        fh.write(json.dumps(mine).encode())
        fh.flush()
        self._fh = fh
        return self

    def _after_brief_holder(self, fh: IO[bytes]) -> bool:
        """Whether the lock was taken after waiting for a holder that marked itself brief."""
        if not self._settled_holder().get("brief"):
            return False
        deadline = time.monotonic() + BRIEF_WAIT
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if _try_lock(fh):
                return True
        return False

    def release(self) -> None:
        if self._fh is not None:
            try:
                _unlock(self._fh)
            finally:
                self._fh.close()
                self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
