"""The append-only, hash-chained audit log: who did what (sync, print, export, restore, key
changes, format migrations)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from exporter.archive.base import ArchiveBase
from exporter.archive.database import actor as _actor
from exporter.archive.database import now
from exporter.record import canonical_json

__all__ = ["AuditLog", "audit_head", "verify_audit_anchor", "verify_audit_chain"]

_log = logging.getLogger(__name__)


class AuditLog(ArchiveBase):
    def audit(self, action: str, detail: Mapping[str, Any] | None = None,
              run_id: int | None = None, actor: str | None = None) -> None:
        """Append an entry to the audit log (its own transaction unless one is open). On
        read-only media nothing can be appended: the action goes to the log file instead."""
        if self.read_only_media:
            _log.info("not recorded in the audit log (read-only media): %s", action)
            return
        with self.transaction():
            prev = self.conn.execute(
                "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = prev[0] if prev else b""
            entry = {"at": now(), "actor": actor or _actor(), "action": action,
                     "detail": dict(detail or {}), "run_id": run_id}
            digest = hashlib.sha256(prev_hash + canonical_json(entry).encode()).digest()
            self.db.table("audit_log").insert({
                "at": entry["at"], "actor": entry["actor"], "action": action,
                "detail": canonical_json(entry["detail"]), "run_id": run_id,
                "prev_hash": prev_hash or None, "hash": digest})

    def anchor_audit_head(self) -> None:
        """Record the audit log's head in the key-slot file (a writer, at close): entries
        removed afterwards, or an older archive put back, no longer match it."""
        if self._lock is None or self.read_only_media:
            return
        head = audit_head(self.conn)
        if head is not None and head != self.slots.audit_head:
            self.slots.audit_head = head
            self.slots.save(self.master)

    def audit_entries(self, action: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, at, actor, action, detail, run_id FROM audit_log"
        params: tuple[Any, ...] = ()
        if action:
            sql += " WHERE action = ? OR action LIKE ?"
            params = (action, action + ".%")
        rows = self._query(sql + " ORDER BY id", params)
        return [{"id": r[0], "at": r[1], "actor": r[2], "action": r[3],
                 "detail": json.loads(r[4]), "run_id": r[5]} for r in rows]


def verify_audit_chain(conn: Any) -> list[str]:
    """Recompute the chain; the first broken link is reported (the rest follow from it)."""
    prev = b""
    for aid, at, actor, action, detail, run_id, prev_hash, digest in conn.execute(
            "SELECT id, at, actor, action, detail, run_id, prev_hash, hash FROM audit_log "
            "ORDER BY id"):
        entry = {"at": at, "actor": actor, "action": action, "detail": json.loads(detail),
                 "run_id": run_id}
        want = hashlib.sha256(prev + canonical_json(entry).encode()).digest()
        if (prev_hash or b"") != prev or digest != want:
            return [f"audit log entry {aid} was altered or an entry before it was removed"]
        prev = digest
    return []


def audit_head(conn: Any) -> dict[str, Any] | None:
    """``{"entries": n, "hash": hex}``: how many entries the log has and the last one's
    chain hash (None for an empty log)."""
    count, last = conn.execute(
        "SELECT count(*), (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) "
        "FROM audit_log").fetchone()
    return {"entries": int(count), "hash": bytes(last).hex()} if count else None


def verify_audit_anchor(conn: Any, anchor: dict[str, Any] | None, where: str) -> list[str]:
    """The log against a head recorded outside the archive (``where`` says where): it must
    still hold that many entries, the last of them with that hash."""
    if anchor is None:
        return []
    want, digest = int(anchor["entries"]), str(anchor["hash"])
    rows = conn.execute("SELECT hash FROM audit_log ORDER BY id LIMIT 1 OFFSET ?",
                        (want - 1,)).fetchall()
    if not rows:
        count = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        return [f"the audit log has {count} entries but {where} recorded {want}: entries were "
                "removed, or an older archive was put back"]
    if bytes(rows[0][0]).hex() != digest:
        return [f"audit log entry {want} differs from the one {where} recorded: the log was "
                "rewritten, or an older archive was put back"]
    return []
