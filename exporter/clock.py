"""Times as a person reads them: the machine's local time zone, named. The archive, logs and
machine-readable output keep UTC ISO strings; only what is shown to a person is converted."""

from __future__ import annotations

import datetime as dt

__all__ = ["local_time", "parse_utc"]


def parse_utc(value: str | dt.datetime | None) -> dt.datetime | None:
    """An ISO time from the archive (UTC when it names no zone), or None if it is not one."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def local_time(value: str | dt.datetime | None, *, seconds: bool = False,
               missing: str = "never") -> str:
    """``2026-12-06 09:30 CET``: ``value`` in this machine's time zone (TZ, or the system's),
    with the zone's name so that nobody has to guess."""
    when = parse_utc(value)
    if when is None:
        return missing if value is None else str(value)
    local = when.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    zone = local.tzname() or local.strftime("%z")
    return f"{text} {zone}"
