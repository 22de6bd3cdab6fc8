"""What folder copies (:mod:`exporter.copies`) and object-store copies
(:mod:`exporter.copies_store`) share: :class:`CopyResult`, :class:`CopyInfo`,
:class:`CopyDestinationProblem`, the manifest's format (``MANIFEST.json``: its name, format and
version, :func:`_parse_manifest`, the newest run it records) and the snapshot a copy is made
from (:func:`_frozen_main_file`: the WAL checkpointed into the main file, which then stays
unchanged while it is read).

Imports neither of those modules, so both can import it without a cycle. No click here: the
CLI prints and picks exit codes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.archive import Archive, translate_db_error
from exporter.archive.database import DB_ERRORS
from exporter.errors import ArchiveLocked, CopyDestinationProblem

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "PARTIAL_PREFIX",
    "CopyDestinationProblem",
    "CopyInfo",
    "CopyResult",
    "Progress",
]

MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = "exporter-copy"
MANIFEST_VERSION = 1
PARTIAL_PREFIX = ".partial-"
_DB_ERRORS = DB_ERRORS

#: (bytes done, bytes in all) while the files are copied.
Progress = Callable[[int, int], None]



@dataclass(frozen=True)
class CopyResult:
    destination: Path | str  # the folder, or the store's URL
    folder: Path | str  # the new copy (in a store: its URL, s3://bucket/prefix/name)
    size: int  # bytes of the archive and its .keys file
    sha256: str  # of the archive file
    kept: int  # copies of this archive now in the destination
    removed: list[str] = field(default_factory=list)  # old copies deleted by keep
    problems: list[str] = field(default_factory=list)  # old copies that could not be deleted


@dataclass(frozen=True)
class CopyInfo:
    """A copy found in a destination folder."""

    name: str
    path: Path | str  # the copy's folder, or its URL in a store
    archive_id: str
    created_at: str
    size: int
    newest_run: dict[str, Any] | None
    problems: list[str] | None = None  # None: not checked; []: the hashes match

    @property
    def damaged(self) -> bool:
        return bool(self.problems)


def _stamp(now: dt.datetime) -> str:
    return now.strftime("%Y%m%d-%H%M%S")


def _newest_run(archive: Archive) -> dict[str, Any] | None:
    runs = archive.runs(limit=1)
    if not runs:
        return None
    r = runs[0]
    return {"id": r.id, "kind": r.kind, "started_at": r.started_at,
            "finished_at": r.finished_at, "status": r.status}


def _parse_manifest(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    return data


# -- the snapshot --------------------------------------------------------------------------


@contextlib.contextmanager
def _frozen_main_file(archive: Archive) -> Iterator[None]:
    """Move the WAL into the main file and keep that file unchanged until the block ends.

    The caller holds the write lock, so no sync writes. After a TRUNCATE checkpoint, a read
    transaction on our connection holds SQLite's read slot 0 (\"the main file alone\"); no
    other connection can then checkpoint into the main file, even a reader appending an
    audit entry."""
    conn = archive.conn
    try:
        for attempt in range(3):
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0 and frames in (0, -1, done):
                break
            time.sleep(0.5 * (attempt + 1))
        else:
            raise ArchiveLocked("The archive is busy being read by another exporter process; "
                                "wait a minute and try the copy again.")
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM archive_meta").fetchone()
    except _DB_ERRORS as exc:
        raise translate_db_error(exc, archive.path) from exc
    try:
        yield
    finally:
        with contextlib.suppress(*_DB_ERRORS):
            conn.execute("COMMIT")
