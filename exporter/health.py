"""Is the archive backed up? The verdict ``exporter status`` prints first and
``status --check`` exits with, for an office manager and for monitoring.

Worst first: no complete sync for ``stale_after_hours`` (or none ever) exits
:data:`EXIT_STALE`; the last sync failed exits 12, ended partially 11; a configured copy
overdue (none made, or older than ``stale_after_hours``) exits 14; else 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.clock import local_time, parse_utc
from exporter.config import Config

__all__ = ["EXIT_STALE", "Health", "assess", "last_success"]

EXIT_STALE = 18
_EXIT_PARTIAL, _EXIT_FAILED, _EXIT_COPY_OVERDUE = 11, 12, 14


@dataclass(frozen=True)
class Health:
    """The verdict: its exit code for ``status --check`` and its one line."""

    code: int
    headline: str


def last_success(runs: Sequence[Any]) -> dict[str, Any]:
    """Per source, the newest run in which that source synced fully (runs newest first)."""
    found: dict[str, Any] = {}
    for run in runs:
        for source, info in (run.stats.get("sources") or {}).items():
            if source not in found and isinstance(info, dict) and info.get("status") == "ok":
                found[source] = run
    return found


def _finished(run: Any) -> str:
    return str(run.finished_at or run.started_at)


def assess(config: Config, runs: Sequence[Any], last_copies: Mapping[str, str],
           now: dt.datetime | None = None) -> Health:
    """The verdict from the archive's runs (newest first) and the last copy per destination
    (``where`` -> UTC ISO time)."""
    now = now or dt.datetime.now(dt.UTC)
    limit = dt.timedelta(hours=config.stale_after_hours)
    syncs = [r for r in runs if r.kind == "sync"]
    good = last_success(syncs)
    sources = list(config.sources) or list(good)
    if not syncs or not sources:
        return Health(EXIT_STALE, "NOT backed up yet: no sync has run. Run 'exporter sync' "
                      "(and 'exporter schedule' for every night).")
    never = [s for s in sources if s not in good]
    if never:
        return Health(EXIT_STALE, f"NOT backed up: {', '.join(never)} has never synced "
                      "completely; run 'exporter check' to see why.")
    as_of = min((_finished(good[s]) for s in sources), key=lambda t: parse_utc(t) or now)
    when = parse_utc(as_of)
    if when is None or now - when > limit:
        return Health(EXIT_STALE, f"NOT backed up since {local_time(as_of)} (more than "
                      f"{config.stale_after_hours:g} hours): check that the nightly job "
                      "still runs and that this computer is on, then run 'exporter sync'.")
    head = f"Backed up as of {local_time(as_of)}"
    last = syncs[0]
    if last.status in ("failed", "partial"):
        how = "FAILED" if last.status == "failed" else "finished partially"
        why = f" ({last.error})" if last.error else ""
        return Health(_EXIT_FAILED if last.status == "failed" else _EXIT_PARTIAL,
                      f"{head}, but the last sync (run {last.id}, "
                      f"{local_time(last.started_at)}) {how}{why}.")
    for target in config.copies:
        made = parse_utc(last_copies.get(target.where))
        if made is None or now - made > limit:
            since = (f"the last one was made {local_time(made)}" if made
                     else "none has been made yet")
            return Health(_EXIT_COPY_OVERDUE, f"{head}, but the copy to {target.name} is "
                          f"overdue ({since}): run 'exporter copy' (is the disk plugged in?).")
    copies = f"; {len(config.copies)} copies up to date" if len(config.copies) > 1 else (
        "; its copy is up to date" if config.copies else "")
    return Health(0, f"{head}: every source synced{copies}.")
