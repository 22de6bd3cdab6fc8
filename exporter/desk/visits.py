"""Today's and this week's visits by caregiver, from the stream and fields of the care-plan
definition's ``visits`` section (the sandbox agency: Google Calendar events with the client
number in a private extended property, the caregiver as the attendee)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.careplan.build import _matches
from exporter.careplan.model import NORMALISERS, Definition, get_path
from exporter.clock import parse_utc
from exporter.record import printable

__all__ = ["Visit", "visits_between", "week_of"]


@dataclass(frozen=True)
class Visit:
    start: dt.datetime  # local time
    end: dt.datetime | None
    caregiver: str
    client_key: str  # normalised client number
    what: str


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and the Monday after, of the week holding ``day``."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=7)


def _caregiver(data: dict[str, Any]) -> str:
    names = [printable(str(a.get("displayName") or a.get("email") or ""))
             for a in data.get("attendees") or [] if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or "Unassigned"


def _local(value: Any) -> dt.datetime | None:
    when = parse_utc(value) if isinstance(value, str) else None
    return when.astimezone() if when else None


def visits_between(archive: Any, definition: Definition, first: dt.date, last: dt.date,
                   known: Callable[[str], bool]) -> dict[str, list[Visit]]:
    """Caregiver -> their visits from ``first`` up to (not including) ``last``, in time
    order, for the clients ``known`` accepts (by normalised client number)."""
    section = definition.section("visits")
    if section is None or not section.stream or section.join is None:
        return {}
    source, stream = section.stream.split("/", 1)
    date_path = section.date_field or "start.dateTime"
    norm = NORMALISERS[section.join.normalise or definition.normalise]
    by_caregiver: dict[str, list[Visit]] = {}
    for _rid, data in archive.records(source, stream):
        if not isinstance(data, dict) or not _matches(data, section.where, section.exclude):
            continue
        starts = [_local(v) for v in get_path(data, date_path)]
        start = starts[0] if starts else None
        if start is None or not first <= start.date() < last:
            continue
        keys = [norm(str(v)) for v in get_path(data, section.join.field) if v]
        if not keys or not known(keys[0]):
            continue
        ends = [_local(v) for v in get_path(data, "end.dateTime")]
        what = printable(str(data.get("description") or "").split("\n", 1)[0])
        visit = Visit(start, ends[0] if ends else None, _caregiver(data), keys[0], what)
        by_caregiver.setdefault(visit.caregiver, []).append(visit)
    for visits in by_caregiver.values():
        visits.sort(key=lambda v: (v.start, v.client_key))
    return dict(sorted(by_caregiver.items(), key=lambda kv: kv[0].casefold()))
