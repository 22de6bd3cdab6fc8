"""The restore id map: which archived record became which record of a restore target."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exporter.archive.base import ArchiveBase
from exporter.archive.database import now

__all__ = ["IdMap", "IdMapEntry"]

_KEY = ("target", "target_identity", "source", "stream", "source_id", "target_object")


@dataclass(frozen=True)
class IdMapEntry:
    """One row of the restore id map: archived record -> target record. ``target_id`` and
    ``hash`` are None while the write is pending (sent, not yet confirmed)."""

    source: str
    stream: str
    source_id: str
    target_object: str
    target_id: str | None
    hash: str | None


class IdMap(ArchiveBase):
    """Rows are kept per configured target name *and* the target's own identity (a HubSpot
    portal id, a Salesforce org id): a name pointed at another portal starts a map of its
    own instead of believing the old one. Without ``identity`` a read returns every row of
    the name."""

    def id_map(self, target: str, source: str | None = None, stream: str | None = None,
               target_object: str | None = None, identity: str | None = None,
               ) -> list[IdMapEntry]:
        """The id-map rows of a restore target, optionally of one stream and target object."""
        sql = ("SELECT source, stream, source_id, target_object, target_id, hash FROM id_map "
               "WHERE target = ?")
        params: list[Any] = [target]
        for column, value in (("source", source), ("stream", stream),
                              ("target_object", target_object), ("target_identity", identity)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return [IdMapEntry(*r) for r in self._query(sql + " ORDER BY source_id", params)]

    def id_map_runs(self, target: str, identity: str, source: str, stream: str,
                    target_object: str) -> dict[str, int | None]:
        """{source id: the run that last wrote its row} of one stream and target object (a
        deletion older than that write is not carried: the write came after it)."""
        return {r[0]: r[1] for r in self._query(
            "SELECT source_id, run_id FROM id_map WHERE target = ? AND target_identity = ? "
            "AND source = ? AND stream = ? AND target_object = ?",
            [target, identity, source, stream, target_object])}

    def id_map_identities(self, target: str) -> list[str]:
        """The identities a target name's rows were written for ('' before format 3)."""
        return [r[0] for r in self._query(
            "SELECT DISTINCT target_identity FROM id_map WHERE target = ? ORDER BY 1", [target])]

    def adopt_id_map(self, target: str, identity: str) -> int:
        """Give rows written before format 3 (identity '') the target's identity; returns how
        many. The caller first checks that the target holds them."""
        self._require_write()
        with self.transaction():
            return self.conn.execute(
                "UPDATE id_map SET target_identity = ? WHERE target = ? "
                "AND target_identity = ''", [identity, target]).rowcount

    def put_id_map(self, target: str, entries: Iterable[IdMapEntry],
                   run_id: int | None = None, identity: str = "") -> None:
        """Insert or replace id-map rows (joins an open transaction, so a batch's rows commit
        with the rest of its bookkeeping)."""
        self._require_write()
        updated_at = now()
        rows = ({"target": target, "target_identity": identity, "source": e.source,
                 "stream": e.stream, "source_id": e.source_id,
                 "target_object": e.target_object, "target_id": e.target_id, "hash": e.hash,
                 "run_id": run_id, "updated_at": updated_at} for e in entries)
        with self.transaction():
            # Every column is given, so an upsert leaves exactly what INSERT OR REPLACE would.
            self.db.table("id_map").upsert_all(rows, pk=_KEY)

    def drop_id_map(self, target: str, entries: Iterable[IdMapEntry],
                    identity: str = "") -> None:
        """Forget id-map rows (a pending write the target turned out not to hold)."""
        self._require_write()
        with self.transaction():
            self.conn.executemany(
                "DELETE FROM id_map WHERE target = ? AND target_identity = ? AND source = ? "
                "AND stream = ? AND source_id = ? AND target_object = ?",
                [(target, identity, e.source, e.stream, e.source_id, e.target_object)
                 for e in entries])
