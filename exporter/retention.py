"""Which dated copies a destination keeps: by count, and by age (grandfather-father-son).

``keep`` alone keeps the newest N copies: three manual runs in one afternoon then push out
last week's copy, the one that would still hold what a bad sync overwrote yesterday.
``keep_daily``, ``keep_weekly`` and ``keep_monthly`` (as restic's ``forget``) also keep the
newest copy of each of the last N days, ISO weeks and months that have a copy, on this
computer's calendar. A copy is deleted only when no rule keeps it; the copy just made is
always kept. With the three at 0 (the default) only ``keep`` counts, as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Retention", "kept_names"]


@dataclass(frozen=True)
class Retention:
    """How many copies a ``[[copies]]`` destination keeps (``keep``) and, by age, how many
    days, weeks and months keep their newest copy."""

    keep: int = 7
    daily: int = 0
    weekly: int = 0
    monthly: int = 0


class Dated(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> str: ...


def _local(created_at: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(created_at)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone()


def _newest_per(copies: Sequence[tuple[str, dt.datetime]], count: int,
                bucket: Callable[[dt.datetime], Hashable]) -> set[str]:
    """The newest copy of each of the last ``count`` buckets that have one."""
    kept: dict[Hashable, str] = {}
    for name, when in copies:  # newest first
        key = bucket(when)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = name
    return set(kept.values())


def kept_names(copies: Sequence[Dated], retention: Retention) -> set[str]:
    """The names of the copies ``retention`` keeps (``copies`` in any order; a copy whose
    date cannot be read counts only for ``keep``)."""
    ordered = sorted(copies, key=lambda c: (c.created_at, c.name), reverse=True)
    kept = {c.name for c in ordered[:retention.keep]}
    dated = [(c.name, when) for c in ordered if (when := _local(c.created_at)) is not None]
    kept |= _newest_per(dated, retention.daily, lambda w: w.date())
    kept |= _newest_per(dated, retention.weekly, lambda w: w.isocalendar()[:2])
    kept |= _newest_per(dated, retention.monthly, lambda w: (w.year, w.month))
    return kept
