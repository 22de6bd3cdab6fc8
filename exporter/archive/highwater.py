"""The high-water mark: the newest state of the archive this computer has seen, kept outside
the archive, so that an archive put back from an older copy (or one whose newest runs were cut
off) is found at the next open ("runs went from 57 to 1") instead of being synced into.

The mark is a small JSON file beside the config (``<config>.highwater.json``,
:attr:`exporter.config.Config.highwater_path`, 0600, in the
user's private config folder): the archive id, the newest run id, the audit log's head
(entries and the last hash) and the key generation, with an HMAC-SHA256 under a key derived
(HKDF, its own label) from the archive's ``pin_secret`` (archive/pin.py: 32 random bytes
inside the encrypted archive, the same in every copy and across ``keys rotate``; the master
key for an archive made before pinning): someone who can write that folder but cannot open
the archive cannot lower it, and a copy from before a rotation is still told by its key
generation. Every open through the config checks the archive against it before reading
or writing anything (:func:`check_mark`), and it is raised when the archive is ahead (at open and
at close, :func:`record_mark`). An intended restore from an older copy is accepted once with
``exporter verify --accept-rollback``, which is audited. A missing mark (a new computer, a
deleted file) checks nothing: the config pin and the audit anchor in ``.keys`` still apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exporter.archive.audit import verify_audit_anchor
from exporter.archive.database import now
from exporter.errors import ArchiveRolledBack
from exporter.keys import MasterKey, write_private_file

__all__ = ["Mark", "check_mark", "mark_of", "read_mark", "record_mark"]

log = logging.getLogger(__name__)

FORMAT = "exporter-highwater"
_ACCEPT = "run 'exporter verify --accept-rollback' once"


@dataclass(frozen=True)
class Mark:
    archive_id: str
    newest_run: int
    audit_entries: int
    audit_hash: str
    key_generation: int

    def covers(self, other: Mark) -> bool:
        """At least as far as ``other`` in every count (the same archive)."""
        return (self.archive_id == other.archive_id and self.newest_run >= other.newest_run
                and self.audit_entries >= other.audit_entries
                and self.key_generation >= other.key_generation)


def mark_of(conn: Any, archive_id: str, generation: int) -> Mark:
    """Where the archive is now."""
    newest = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
    count, last = conn.execute(
        "SELECT count(*), (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) "
        "FROM audit_log").fetchone()
    return Mark(archive_id, int(newest), int(count), bytes(last or b"").hex(), generation)


_LABEL = "exporter highwater mac v1"


def mac_key(conn: Any, master: MasterKey, archive_id: str) -> bytes:
    """The key of the mark's HMAC, from the archive's pin secret (or its master key)."""
    row = conn.execute("SELECT value FROM archive_meta WHERE key = 'pin_secret'").fetchone()
    if row is None:
        return master.derive("highwater mac", archive_id.encode())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=archive_id.encode(),
                info=_LABEL.encode()).derive(str(row[0]).encode())


def _mac(key: bytes, mark: Mark) -> str:
    body = json.dumps(asdict(mark), sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def read_mark(path: Path, key: bytes, archive_id: str) -> Mark | None:
    """The mark for this archive, or None when there is none (or it is another archive's).
    ArchiveRolledBack when it was altered: it can no longer say how far the archive went."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("the high-water mark %s cannot be read (%s): not checked", path, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if data.get("archive_id") != archive_id:
        return None  # set up for another archive before: the config pin decides about that
    try:
        mark = Mark(archive_id, int(data["newest_run"]), int(data["audit_entries"]),
                    str(data["audit_hash"]), int(data["key_generation"]))
        good = hmac.compare_digest(_mac(key, mark), str(data["mac"]))
    except (KeyError, TypeError, ValueError):
        good = False
    if not good:
        raise ArchiveRolledBack(
            f"The record of how far this archive has gone ({path}) was altered, so a "
            "rollback of the archive could not be told; nothing was read or written. If you "
            f"did not change it, tell whoever looks after this computer; then {_ACCEPT}.")
    return mark


def check_mark(path: Path, conn: Any, key: bytes, current: Mark) -> None:
    """ArchiveRolledBack if the archive is behind the mark at ``path`` in any count, or its
    audit log no longer holds the entry the mark recorded (an older copy that was then
    written to)."""
    mark = read_mark(path, key, current.archive_id)
    if mark is None:
        return
    if current.newest_run < mark.newest_run:
        what = f"its runs went from {mark.newest_run} to {current.newest_run}"
    elif current.key_generation < mark.key_generation:
        what = (f"its key generation went from {mark.key_generation} to "
                f"{current.key_generation}")
    elif current.audit_entries < mark.audit_entries or (mark.audit_entries and verify_audit_anchor(
            conn, {"entries": mark.audit_entries, "hash": mark.audit_hash}, "")):
        what = (f"its audit log no longer holds the {mark.audit_entries} entries it had "
                f"(it has {current.audit_entries})")
    else:
        return
    raise ArchiveRolledBack(
        f"The archive is older than this computer last saw it: {what}. An older copy was "
        "put back, or someone removed runs; nothing was read or written. If you restored a "
        f"copy on purpose, {_ACCEPT}; otherwise put the current archive back and tell whoever "
        "looks after this computer.")


def record_mark(path: Path, key: bytes, current: Mark, *, force: bool = False) -> None:
    """Raise the mark to ``current`` (never lower it, unless ``force``: an accepted
    rollback). A mark that cannot be written is logged: the archive itself is fine."""
    if not force:
        try:
            old = read_mark(path, key, current.archive_id)
        except ArchiveRolledBack:
            return  # an altered mark stays refused until a rollback is accepted
        if old is not None and (old.covers(current) or not current.covers(old)):
            return
    document = {"format": FORMAT, "version": 1, **asdict(current), "updated_at": now(),
                "mac": _mac(key, current)}
    try:
        write_private_file(path, (json.dumps(document, indent=2) + "\n").encode())
    except OSError as exc:
        log.warning("the high-water mark %s could not be written: %s", path, exc)
