"""Streams ``calendars`` (the calendar list, re-read every run: it is small) and
``calendar_events`` (sync tokens).

Events: a full listing per calendar (``showDeleted``, ``singleEvents``), then its
``nextSyncToken``; the cursor is ``{calendarId: syncToken}`` and later runs list only
changes. Cancelled events are tombstones that keep their data. A 410 (``fullSyncRequired``)
resyncs that calendar fully (``Batch.reset``); events gone without a cancelled copy are found
by reconciliation (``ids``). Records are keyed by the event id, with ``calendarId`` added;
an event copied into two chosen calendars (same id) is archived once: the copy read last
wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

from connectors.google.client import GoogleClient
from connectors.google.schemas import DiscoverySchema
from exporter.connector import Batch, Stream
from exporter.errors import CursorExpired, SourceError, TransientError
from exporter.record import Record

__all__ = ["CalendarEventsStream", "CalendarList", "CalendarsStream"]


class CalendarList:
    """The account's calendar list, read once per connector (per run), and the calendars
    chosen in the settings (None: every listed calendar). Shared by both streams."""

    def __init__(self, client: GoogleClient, chosen: list[str] | None) -> None:
        self.client = client
        self.chosen = chosen
        self._pages: list[dict[str, Any]] | None = None

    def pages(self) -> list[dict[str, Any]]:
        if self._pages is None:
            calendar = self.client.service("calendar")
            self._pages = list(self.client.pages(
                "Calendar list", lambda t: calendar.calendarList().list(
                    pageToken=t, showHidden=True, maxResults=250)))
        return self._pages

    def listed_ids(self) -> Iterator[str]:
        for page in self.pages():
            yield from (str(e["id"]) for e in page.get("items") or [])

    def calendar_ids(self) -> list[str]:
        """The calendars whose events are read."""
        return list(self.chosen) if self.chosen is not None else list(self.listed_ids())

    def probe(self) -> str:
        """The chosen calendars are all listed (for ``check``)."""
        listed = set(self.listed_ids())
        missing = sorted(set(self.chosen or ()) - listed)
        if missing:
            raise SourceError(f"Calendar(s) {', '.join(missing)} are not in this account's "
                              "calendar list; check the calendars setting and the sharing.")
        return f"{len(self.chosen if self.chosen is not None else listed)} calendar(s)."


class CalendarsStream(Stream):
    """The calendarList entries, read in full every run."""

    name = "calendars"
    primary_key = "id"
    schema = DiscoverySchema("calendar", "CalendarListEntry")
    reconcile = True
    description = "Calendar list entries"

    def __init__(self, calendars: CalendarList) -> None:
        super().__init__()
        self.calendars = calendars

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        for page in self.calendars.pages():
            yield Batch([Record(str(e["id"]), e) for e in page.get("items") or []])

    def ids(self) -> Iterator[str]:
        return self.calendars.listed_ids()


class CalendarEventsStream(Stream):
    """Events of the chosen calendars (sync tokens); see the module docstring."""

    name = "calendar_events"
    primary_key = "id"
    cursor_field = "updated"
    # calendarId is added (nothing else changes): an event does not say which calendar it
    # was read from, and a restore needs to know.
    schema = DiscoverySchema("calendar", "Event", {"calendarId": {"type": "string"}})
    reconcile = True
    description = "Events of the chosen calendars (sync tokens)"

    def __init__(self, client: GoogleClient, calendars: CalendarList, single_events: bool,
                 log: logging.Logger) -> None:
        super().__init__()
        self.client = client
        self.calendars = calendars
        self.single_events = single_events
        self.log = log

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        tokens: dict[str, str] = {} if full or not isinstance(cursor, dict) else cursor
        ids = self.calendars.calendar_ids()
        state = {cal: tok for cal, tok in tokens.items() if cal in ids}
        for cal in ids:
            token = tokens.get(cal)
            if token:
                try:
                    yield from self._events(cal, token, state, reset=False)
                    continue
                except CursorExpired:
                    self.log.info("calendar sync token expired: full resync of one calendar")
                yield from self._events(cal, None, state, reset=True)
            else:
                yield from self._events(cal, None, state, reset=False)

    def _events(self, cal: str, token: str | None, state: dict[str, str],
                reset: bool) -> Iterator[Batch]:
        args: dict[str, Any] = {"calendarId": cal, "maxResults": 2500, "showDeleted": True,
                                "singleEvents": self.single_events}
        if token:
            args["syncToken"] = token
        events = self.client.service("calendar").events()
        for page in self.client.pages("Calendar events",
                                      lambda t: events.list(pageToken=t, **args)):
            items = page.get("items")
            if not isinstance(items, list):
                raise TransientError("Calendar events: a page had no item list")
            records = [Record(str(ev["id"]), {**ev, "calendarId": cal},
                              deleted=ev.get("status") == "cancelled") for ev in items]
            cursor = None
            if not page.get("nextPageToken"):
                if not page.get("nextSyncToken"):
                    raise TransientError("Calendar events: the last page had no sync token")
                state[cal] = str(page["nextSyncToken"])
                cursor = dict(state)
            yield Batch(records, cursor=cursor, reset=reset)

    def ids(self) -> Iterator[str]:
        for cal in self.calendars.calendar_ids():
            for page in self.client.pages("Calendar event ids", partial(self._id_page, cal)):
                yield from (str(ev["id"]) for ev in page.get("items") or [])

    def _id_page(self, cal: str, token: str | None) -> Any:
        return self.client.service("calendar").events().list(
            calendarId=cal, pageToken=token, maxResults=2500, showDeleted=False,
            singleEvents=self.single_events, fields="nextPageToken,items(id)")
