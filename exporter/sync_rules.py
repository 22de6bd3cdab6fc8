"""When a sync run compares every id, and how much of a stream it may mark deleted: the rules
of one run (:class:`Rules`), and the cadence counted from the runs archived before it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["RECONCILE_EVERY_DAYS", "RECONCILE_EVERY_RUNS", "RECONCILE_MAX_SHARE", "Rules",
           "last_reconciled"]

#: No run marks deleted more than this share of a stream (``[sync] max_delete_share``): an
#: API that suddenly lists nothing, or lists live records as archived, is more likely broken
#: than the agency's data gone.
RECONCILE_MAX_SHARE = 0.5
#: The full id check runs at least every this many runs and days (``[sync]``).
RECONCILE_EVERY_RUNS = 7
RECONCILE_EVERY_DAYS = 7.0


def last_reconciled(archive: Any, key: str,
                     kind: tuple[str, str] = ("streams", "reconciled"),
                     ) -> tuple[dt.datetime | None, int]:
    """When the stream's ids were last compared in full (``kind``: or another mark of a
    run's stats, e.g. a source's discovery), and how many sync runs began since (this one
    included); (None, runs) if never."""
    runs = 0
    for run in archive.runs():
        if run.kind != "sync":
            continue
        info = (run.stats.get(kind[0]) or {}).get(key) or {}
        if info.get(kind[1]):
            return dt.datetime.fromisoformat(run.started_at), runs
        runs += 1
    return None, runs


@dataclass(frozen=True)
class Rules:
    """How this run reads: in full, how often ids are checked, what share may be deleted."""

    full: bool
    reconcile_every: dt.timedelta
    max_delete_share: float
    reconcile_every_runs: int = RECONCILE_EVERY_RUNS

    def id_check_due(self, archive: Any, key: str, resynced: bool,
                     kind: tuple[str, str] = ("streams", "reconciled")) -> bool:
        """The full id comparison: with ``--full``, after a reset (which re-listed everything:
        what vanished meanwhile is found only by comparing ids), and on the cadence, which
        counts runs as well as days (a sync run many times a day, or a clock set back, still
        gets its check). A source's discovery follows the same rule (``kind``)."""
        if self.full or resynced:
            return True
        last, runs = last_reconciled(archive, key, kind)
        return (last is None or runs >= self.reconcile_every_runs
                or dt.datetime.now(dt.UTC) - last >= self.reconcile_every)
