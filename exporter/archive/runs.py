"""Runs: one row per sync, import or restore, and "as of" a run or a date."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import __version__
from exporter.archive.audit import AuditLog
from exporter.archive.database import now
from exporter.errors import NotFound
from exporter.record import canonical_json

__all__ = ["RUN_STATUSES", "Run", "Runs"]

RUN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")
_RUN_COLUMNS = "id, kind, started_at, finished_at, status, stats, error"


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    started_at: str
    finished_at: str | None
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _run(row: Any) -> Run:
    return Run(row[0], row[1], row[2], row[3], row[4], json.loads(row[5] or "{}"), row[6])


class Runs(AuditLog):
    def begin_run(self, kind: str = "sync") -> int:
        self._require_write()
        with self.transaction():
            table = self.db.table("runs").insert({
                "kind": kind, "started_at": now(), "status": "running",
                "host": socket.gethostname(), "pid": os.getpid(),
                "exporter_version": __version__})
            run_id = int(table.last_rowid or 0)
            self.audit(f"{kind}.start", {}, run_id=run_id)
        return run_id

    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any] | None = None,
                   error: str | None = None) -> None:
        self._require_write()
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"bad final status {status!r}")
        with self.transaction():
            kind = self._query("SELECT kind FROM runs WHERE id = ?", (run_id,))[0][0]
            self.conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, stats = ?, error = ? WHERE id = ?",
                (status, now(), canonical_json(dict(stats or {})), error, run_id))
            self.audit(f"{kind}.finish", {"status": status}, run_id=run_id)

    def _interrupt_stale_runs(self) -> None:
        # Called with the lock held, so a run still marked running belongs to a dead process.
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                (now(),))

    def runs(self, limit: int | None = None) -> list[Run]:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC"
        return [_run(r) for r in self._query(sql + (f" LIMIT {int(limit)}" if limit else ""))]

    def run(self, run_id: int) -> Run:
        for r in self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)):
            return _run(r)
        raise NotFound(f"There is no run {run_id} in this archive; 'exporter status' lists runs.")

    def resolve_as_of(self, value: str | int | None) -> int | None:
        """A run id from a run number, a date (end of that local day) or an ISO time."""
        if value is None or value == "":
            return None
        text = str(value).strip()
        if text.isdigit():
            if int(text) >= 2**63:  # beyond SQLite's integers: no such run
                raise NotFound(f"There is no run {text[:20]} in the archive; 'exporter status' "
                               "shows how many there are.")
            return self.run(int(text)).id
        instant = _instant(text).astimezone(dt.UTC).isoformat()
        rows = self._query("SELECT max(id) FROM runs WHERE started_at <= ?", (instant,))
        if rows[0][0] is None:
            raise NotFound(f"The archive holds no data from {text} or earlier.")
        return int(rows[0][0])


def _instant(text: str) -> dt.datetime:
    """A date means the end of that local day; a time without a zone is local."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time.max).astimezone()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise NotFound(f"'{text}' is neither a run number nor a date like "
                       "2026-11-30.") from None
    return moment if moment.tzinfo is not None else moment.astimezone()
