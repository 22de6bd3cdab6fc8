"""The desk's audit entries on their way into the archive's audit log.

Every view and print must be in the audit log with the staff member's name, even while the
nightly sync holds the archive's write lock for half an hour. So an entry is first appended
to a journal file beside the archive (``archive.db.desk-journal``, 0600), each line sealed
with AES-256-GCM under a key derived from the archive's master key (HKDF, purpose "desk
journal"): it holds client numbers and staff names, so nothing in it is plaintext. The
line is flushed and fsynced before the page is sent. Whenever the write lock is free (right
away, and every few seconds after) the desk takes it, copies the journal's entries into the
audit log in one transaction (actor ``desk:<name>``, the time of the view in ``at``), and
empties the journal. A desk killed at any point loses nothing: the next desk started on this
archive copies what is left. Nothing is copied twice either: the transaction that copies a
batch also records the ``entry`` ids of every line the journal held (``archive_meta``,
:data:`COPIED_KEY`), so a desk killed between that commit and the emptying leaves lines the
next flush knows it has copied already.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exporter.errors import ArchiveLocked, ExporterError
from exporter.lock import ArchiveLock
from exporter.private_files import make_private

__all__ = ["COPIED_KEY", "Journal", "journal_path_for"]

_log = logging.getLogger(__name__)

#: archive_meta's key for the entry ids of the journal's last copied batch.
COPIED_KEY = "desk-journal:copied"


def journal_path_for(archive: Path) -> Path:
    return archive.with_name(archive.name + ".desk-journal")


class Journal:
    """Audit entries sealed on disk until they are in the archive's audit log."""

    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.path = journal_path_for(Path(archive.path))
        self._aead = AESGCM(archive.master.derive("desk journal",
                                                  archive.archive_id.encode()))
        self._mutex = threading.Lock()

    def add(self, action: str, staff: str, detail: dict[str, Any]) -> None:
        """Seal one entry into the journal file (flushed to disk before returning)."""
        entry = {"action": action, "staff": staff, "detail": detail,
                 "at": dt.datetime.now(dt.UTC).isoformat(), "entry": secrets.token_hex(8)}
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, json.dumps(entry).encode(), b"desk journal")
        with self._mutex:
            new = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, base64.b64encode(sealed) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                make_private(self.path)  # O_CREAT's 0600 is POSIX only

    def pending(self) -> list[dict[str, Any]]:
        """The entries not yet in the audit log (a damaged line is logged and skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                raw = base64.b64decode(line, validate=True)
                entries.append(json.loads(self._aead.decrypt(raw[:12], raw[12:],
                                                             b"desk journal")))
            except (ValueError, InvalidTag):
                _log.warning("desk journal line %d cannot be read (cut short or altered); "
                             "skipped", number)
        return entries

    def flush(self) -> int:
        """Copy the entries into the audit log if the write lock is free; how many were
        copied (0 while a sync holds the lock: they wait, sealed, for the next try)."""
        with self._mutex:
            entries = self.pending()
            if not entries:
                return 0
            try:
                # brief: a sync starting now waits these milliseconds instead of failing
                lock = ArchiveLock(Path(self.archive.path), brief=True).acquire()
            except ArchiveLocked:
                return 0
            try:
                with self.archive.transaction():
                    copied = self._copied_before()
                    fresh = [e for e in entries if e.get("entry") not in copied]
                    for e in fresh:
                        self.archive.audit(e["action"], {**e["detail"], "at": e["at"],
                                                         "entry": e["entry"]},
                                           actor=f"desk:{e['staff']}")
                    self.archive.conn.execute(
                        "INSERT OR REPLACE INTO archive_meta (key, value) VALUES (?, ?)",
                        (COPIED_KEY, json.dumps([e.get("entry") for e in entries])))
                with open(self.path, "r+b") as fh:
                    fh.truncate(0)
                    os.fsync(fh.fileno())
            except ExporterError as exc:
                _log.warning("the desk's audit entries wait in the journal: %s", exc)
                return 0
            finally:
                lock.release()
        return len(fresh)

    def _copied_before(self) -> set[str]:
        """The entry ids of the last batch copied (a kill may have left its lines)."""
        row = self.archive.conn.execute("SELECT value FROM archive_meta WHERE key = ?",
                                        (COPIED_KEY,)).fetchone()
        try:
            ids = json.loads(row[0]) if row else []
        except ValueError:
            return set()
        return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()
