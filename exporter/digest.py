"""The weekly digest: one mail on ``[notify] digest_weekday`` that says the backups happened.

An alert mail says when something broke; silence the rest of the time leaves the office
unsure that anything still runs. The digest, sent by the nightly job once a week, says it in
one line ("Backed up every night this week; archive 412 MB; 3 copies."), names the nights
that were missed or only partial, and lists the copies made. Like every alert it holds no
client data: dates, counts, sizes and copy names only.

The week is the seven days ending today (tonight's run included), on this computer's calendar:
a night counts as backed up when a sync that started that day ended ``ok``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.clock import parse_utc
from exporter.config import NotifySettings

__all__ = ["Week", "week_digest", "week_of"]


@dataclass(frozen=True)
class Week:
    """What the digest reports: each of the seven days and how its sync ended (``ok``,
    ``partial``, ``failed``, or None for no sync), the archive's size and the copies made."""

    days: tuple[tuple[dt.date, str | None], ...]
    size_bytes: int
    copies: tuple[str, ...]  # destinations that received a copy this week

    @property
    def missed(self) -> list[dt.date]:
        return [day for day, status in self.days if status is None or status == "failed"]

    @property
    def partial(self) -> list[dt.date]:
        return [day for day, status in self.days if status == "partial"]


_RANK = {"ok": 3, "partial": 2, "failed": 1}


def _local_day(value: str | None) -> dt.date | None:
    when = parse_utc(value)
    return when.astimezone().date() if when is not None else None


def week_of(runs: Sequence[Any], size_bytes: int, copy_entries: Sequence[Mapping[str, Any]],
            today: dt.date) -> Week:
    """The week ending ``today`` from the archive's runs (:class:`exporter.archive.Run`) and
    its ``copy`` audit entries."""
    first = today - dt.timedelta(days=6)
    best: dict[dt.date, str] = {}
    for run in runs:
        day = _local_day(run.started_at)
        if run.kind != "sync" or day is None or not first <= day <= today:
            continue
        if _RANK.get(run.status, 0) > _RANK.get(best.get(day, ""), 0):
            best[day] = run.status
    copies: dict[str, None] = {}
    for entry in copy_entries:
        day = _local_day(entry.get("at"))
        where = entry.get("detail", {}).get("destination")
        if entry.get("action") == "copy" and isinstance(where, str) and day is not None \
                and first <= day <= today:
            copies[where] = None
    days = tuple((first + dt.timedelta(days=n), best.get(first + dt.timedelta(days=n)))
                 for n in range(7))
    return Week(days, size_bytes, tuple(copies))


def _dates(days: Sequence[dt.date]) -> str:
    return ", ".join(day.strftime("%a %d %b") for day in days)


def _size(n: int) -> str:
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.1f} GB"
    return f"{max(1, round(n / 1024 ** 2))} MB"


def week_digest(settings: NotifySettings, week: Week, last_good: str | None) -> Any:
    """The digest's :class:`exporter.notify.Alert`."""
    from exporter.notify import digest_alert, machine_name

    missed, partial = week.missed, week.partial
    if not missed and not partial:
        first = "Backed up every night this week"
        what = "backed up every night"
    else:
        backed = 7 - len(missed) - len(partial)
        first = f"Backed up {backed} of 7 nights this week"
        what = (f"{len(missed)} night(s) missed" if missed
                else f"{len(partial)} night(s) partial")
    copies = f"{len(week.copies)} cop{'y' if len(week.copies) == 1 else 'ies'}"
    lead = (f"{first}; archive {_size(week.size_bytes)}; {copies}. "
            f"(exporter on {machine_name()}, "
            f"{week.days[0][0].strftime('%a %d %b')} to {week.days[-1][0].strftime('%a %d %b')}.)")
    lines = []
    if missed:
        lines.append(f"Nights missed (no complete backup): {_dates(missed)}.")
    if partial:
        lines.append(f"Nights only partly backed up (a source failed): {_dates(partial)}.")
    lines.append("Copies made this week: " + (", ".join(week.copies) if week.copies else
                                              "none (add [[copies]] to the config)") + ".")
    return digest_alert(settings, what, lead, lines, last_good)
