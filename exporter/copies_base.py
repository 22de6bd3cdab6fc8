"""What folder copies (:mod:`exporter.copies`) and object-store copies
(:mod:`exporter.copies_store`) share: :class:`CopyResult`, :class:`CopyInfo`,
:class:`CopyDestinationProblem`, the manifest's format (``MANIFEST.json``: its name, format and
version, :func:`_parse_manifest`, the newest run it records) and the snapshot a copy is made
from (:func:`_backup_snapshot`: SQLite's backup API writes the archive, as one read
transaction sees it, into a new encrypted file; the live file is never read as a file).

Imports neither of those modules, so both can import it without a cycle. No click here: the
CLI prints and picks exit codes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.archive import Archive, translate_db_error
from exporter.archive.database import DB_ERRORS, connect
from exporter.errors import ArchiveDamaged, CopyDestinationProblem
from exporter.keys import MasterKey
from exporter.private_files import create_private

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "PARTIAL_PREFIX",
    "CopyDestinationProblem",
    "CopyInfo",
    "CopyResult",
    "Progress",
    "check_manifest_mac",
    "sign_manifest",
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


def _manifest_mac(manifest: dict[str, Any], master: MasterKey) -> str:
    key = master.derive("copy manifest mac", str(manifest.get("archive_id", "")).encode())
    body = {k: v for k, v in manifest.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_manifest(manifest: dict[str, Any], master: MasterKey) -> dict[str, Any]:
    """The manifest with its ``mac``: HMAC-SHA256 under a key derived from the master key
    (HKDF, label "exporter copy manifest mac v1", the archive id as salt), over the canonical
    JSON of everything else. Whoever holds the copy disk but no key cannot change what it
    says (which run is newest, the audit head, when it was made) without it showing."""
    return {**manifest, "mac": _manifest_mac(manifest, master)}


def check_manifest_mac(manifest: dict[str, Any], master: MasterKey, name: str) -> bool:
    """True when the manifest's MAC checks out, False when it has none (made by an exporter
    before manifests were signed); ArchiveDamaged when it was altered."""
    mac = manifest.get("mac")
    if mac is None:
        return False
    if not isinstance(mac, str) or not hmac.compare_digest(_manifest_mac(manifest, master),
                                                           mac):
        raise ArchiveDamaged(f"The manifest of the copy {name} was altered (its signature "
                             "does not match); nothing was kept. Fetch another copy, and tell "
                             "whoever looks after the copies.")
    return True


def _parse_manifest(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    return data


# -- the snapshot --------------------------------------------------------------------------

#: Database pages per backup step (4 MiB at the archive's 4 KiB pages): progress is
#: reported, and a kill leaves a partly written file, between steps.
BACKUP_STEP_PAGES = 1024


@contextlib.contextmanager
def _read_transaction(archive: Archive) -> Iterator[None]:
    """Hold one read transaction on the archive's own connection: the snapshot, its newest
    run and its format version all come from the same state of the archive, whatever other
    connections commit meanwhile (the caller holds the write lock, so only readers' audit
    entries can)."""
    conn = archive.conn
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM archive_meta").fetchone()
    except _DB_ERRORS as exc:
        raise translate_db_error(exc, archive.path) from exc
    try:
        yield
    finally:
        with contextlib.suppress(*_DB_ERRORS):
            conn.execute("COMMIT")


def _snapshot_size(archive: Archive) -> int:
    """Bytes the snapshot will have (pages x page size), for progress."""
    conn = archive.conn
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    return pages * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _backup_snapshot(archive: Archive, dst: Path, progress: Progress | None = None) -> int:
    """Write the archive as it is in the caller's :func:`_read_transaction` into the new file
    ``dst``, through SQLite's online backup API, encrypted with the archive's own key (no
    plaintext ever reaches the disk); returns its size.

    SQLite reads the pages itself, so the live file is never read as a file: on Windows a
    plain read of the 512 bytes SQLite locks at 1 GiB fails while any connection has the
    archive open, and no WAL checkpoint is needed (another process reading the archive, which
    would hold one off, does not stop a copy). Errors are SQLite's (a full disk:
    "database or disk is full"); the caller names them for its destination."""
    # The archive's own salt too (a raw key of 64 hex digits then 32 of salt): the copy is
    # then the same SQLCipher database, whose .keys file names that salt (db_salt).
    salt = str(archive.conn.execute("PRAGMA cipher_salt").fetchone()[0])
    # Created empty and owner-only first: SQLite would create it 0644, and gives its -wal
    # the main file's permissions.
    create_private(dst).close()
    target = connect(dst, archive.master.sqlcipher_key(archive.archive_id) + salt)
    try:
        page_size = int(archive.conn.execute("PRAGMA page_size").fetchone()[0])

        def step(status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress((total - remaining) * page_size, total * page_size)

        archive.conn.backup(target, pages=BACKUP_STEP_PAGES,
                            progress=step if progress is not None else None)
    finally:
        target.close()  # checkpoints the copy's own WAL into it: one file, no -wal or -shm
    return dst.stat().st_size
