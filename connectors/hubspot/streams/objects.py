"""The CRM object streams: one per object type (``contacts``, ``notes``, a custom object by
its schema name ...), full lists, incremental search in time windows, archived records as
tombstones, and the ids changed in this run (for the associations stream).

Incremental search (:meth:`ObjectStream.changed`): ``modified >= cursor - lookback``, sorted
ascending by the modified date, in windows ``[lo, hi]``. The first request of a run asks
for the newest match (``hi``); a window whose ``total`` exceeds HubSpot's 10,000-result
paging cap is split in halves by time; a window of one millisecond that still holds more
than 10,000 records (ties) is read by ``hs_object_id`` ranges instead of offsets, so it is
complete too. Each page is a batch whose cursor is the modified date of its last record
(ascending order: every earlier record is in this batch or before it). Offsets shift when a
record leaves the window while it is paged (it was edited again): a change of ``total``
between pages restarts the window from the last committed date, so nothing is skipped.
"""

from __future__ import annotations

import array
import logging
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from hubspot.crm.objects import PublicObjectSearchRequest

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.wire import ms_iso, next_after_json, parse_ms
from exporter.connector import Batch, Stream
from exporter.errors import SourceError
from exporter.record import Record

__all__ = ["SEARCH_MAX", "ObjectStream", "ObjectType", "ReadOptions", "object_schema"]

SEARCH_CAP = 10_000  # HubSpot pages no further into one search's results
SEARCH_MAX = 200  # the search endpoint's largest page
LIST_PAGE = 100  # the list endpoint's maximum
MAX_RESTARTS = 5
#: The winner of a merge lists the ids merged into it here (``;``-separated).
MERGED = "hs_merged_object_ids"


@dataclass(frozen=True)
class ReadOptions:
    """How the object streams read: the lookback, the search page and the window."""

    lookback_ms: int = 300_000
    search_page: int = SEARCH_MAX
    window_ms: int | None = None  # None: one window from the cursor to the newest change


class ObjectType:
    """One CRM object type: stream name, the name the API takes, its property names."""

    def __init__(self, name: str, api_name: str, properties: list[str]) -> None:
        self.name = name
        self.api_name = api_name
        self.properties = properties
        self.modified = "lastmodifieddate" if name == "contacts" else "hs_lastmodifieddate"


def object_schema(name: str, definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of one object record: every property a string or null (HubSpot sends
    all values as strings), the documented top-level fields."""
    props = {d["name"]: {"type": ["string", "null"], "description": str(d.get("label") or "")}
             for d in definitions}
    stamp = {"type": "string", "format": "date-time"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"HubSpot {name}",
        "type": "object",
        "required": ["id", "properties", "createdAt", "updatedAt"],
        "properties": {
            "id": {"type": "string"},
            "properties": {"type": "object", "properties": props,
                           "additionalProperties": {"type": ["string", "null"]}},
            "createdAt": stamp, "updatedAt": stamp,
            "archived": {"type": "boolean"},
            "archivedAt": {"type": ["string", "null"], "format": "date-time"},
            "associations": {"type": "object"},
            "propertiesWithHistory": {"type": "object"},
            "objectWriteTraceId": {"type": ["string", "null"]},
            "url": {"type": ["string", "null"]},
        },
    }


class ObjectStream(Stream):
    """One object type; remembers the ids it saw live in this run (``seen``). Key ``id``;
    the cursor is the newest ``lastmodifieddate`` (contacts) or ``hs_lastmodifieddate``."""

    primary_key = "id"
    reconcile = True

    def __init__(self, client: HubSpotClient, ot: ObjectType, definitions: list[dict[str, Any]],
                 custom: dict[str, Any] | None, options: ReadOptions,
                 log: logging.Logger) -> None:
        super().__init__(ot.name, cursor_field=f"properties.{ot.modified}",
                         schema=object_schema(ot.name, definitions),
                         description=f"HubSpot {ot.name} (search on {ot.modified})")
        self.client = client
        self.ot = ot
        self.definitions = definitions
        self.custom = custom
        self.lookback_ms = options.lookback_ms
        self.search_page = options.search_page
        self.window_ms = options.window_ms
        self.log = log
        self.seen = array.array("q")  # compact: a million ids take 8 MB
        self.listed_all = False  # every live id is in ``seen`` (a full listing ran)
        #: every live id, once listed in this run (shared with the associations' id check)
        self.live_ids: array.array[int] | None = None
        #: ids found gone in this run: archived, merged away, or missing from the listing
        #: (the associations tombstone their edges)
        self.dead: set[str] = set()
        self._live_set: set[int] | None = None
        self.checked = False  # this run's deletion check (nightly or full) ran

    def archived_schema(self) -> dict[str, Any]:
        """Every property definition (and a custom object's schema), with the JSON Schema."""
        return {"properties": self.definitions, "json_schema": dict(self.schema or {}),
                **({"object_schema": self.custom} if self.custom else {})}

    # -- records ----------------------------------------------------------------------------

    def _record(self, obj: dict[str, Any], deleted: bool = False) -> Record:
        """The object as HubSpot sent it (raw JSON: no SDK model, no date parsed)."""
        return Record(str(obj["id"]), obj, deleted)

    def _remember(self, records: list[Record]) -> None:
        self.seen.extend(int(r.id) for r in records if r.id.isdigit())
        for rec in records:
            # a merge removes the losing ids everywhere and names them on the winner, whose
            # modified date moves: this run read it
            merged = ((rec.data or {}).get("properties") or {}).get(MERGED)
            if merged:
                self.dead.update(i for i in str(merged).split(";") if i.isdigit())

    # -- full -------------------------------------------------------------------------------

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        if full or not isinstance(cursor, str):
            yield from self.full()
        else:
            yield from self.changed(parse_ms(cursor))
        yield from self.archived()

    def full(self) -> Iterator[Batch]:
        """Every live record via the list endpoint (cheaper than search); the cursor is the
        newest modified date found BEFORE listing, stored once the listing is complete."""
        newest, _total = self._newest(None)
        mark = ms_iso(newest) if newest is not None else ms_iso(0)
        for page in self._list(archived=False):
            self._remember(page)
            yield Batch(page)
        self.listed_all = True
        yield Batch([], cursor=mark)

    def _list(self, archived: bool) -> Iterator[list[Record]]:
        after: str | None = None
        what = f"Listing HubSpot {self.ot.name}" + (" (archived)" if archived else "")
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "archived": archived,
                                      "properties": self.ot.properties}
            if after:
                kwargs["after"] = after
            page = self.client.call_json(what, self.client.objects.get_page,
                                         self.ot.api_name, **kwargs) or {}
            yield [self._record(o, deleted=archived) for o in page.get("results") or []]
            after = next_after_json(page, after, what)
            if after is None:
                return

    def archived(self) -> Iterator[Batch]:
        """Archived records as tombstones with their data: archiving does not change the
        modified date, so search never shows it. The archive keeps an unchanged tombstone
        once (same content), so listing them every run adds nothing new."""
        for page in self._list(archived=True):
            self.dead.update(r.id for r in page)
            if page:
                yield Batch(page)

    def ids(self) -> Iterator[str]:
        """Every live id (list without properties: the smallest pages), listed once a run:
        right after a full read, the ids it listed; after an earlier listing in this run
        (the nightly check, or this stream's id check before the associations' one), those."""
        if self.listed_all:
            yield from (str(i) for i in self.seen)
            return
        if self.live_ids is None:
            self.live_ids = array.array("q", self._list_ids())
            self.checked = True
        yield from (str(i) for i in self.live_ids)

    def _list_ids(self) -> Iterator[int]:
        after: str | None = None
        what = f"Listing HubSpot {self.ot.name} ids"
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "archived": False}
            if after:
                kwargs["after"] = after
            page = self.client.call_json(what, self.client.objects.get_page,
                                         self.ot.api_name, **kwargs) or {}
            for obj in page.get("results") or []:
                yield int(obj["id"])
            after = next_after_json(page, after, what)
            if after is None:
                return

    def found_gone(self, rid: str) -> bool:
        """Whether this run found ``rid`` gone: archived, merged away, or not in the listing.
        Only once this stream's own check ran: when its deletions were held (an archived
        listing that lists live records), they are not believed here either."""
        if not self.checked:
            return False
        if rid in self.dead:
            return True
        if self.live_ids is None or not rid.isdigit():
            return False
        if self._live_set is None:
            self._live_set = set(self.live_ids)
        return int(rid) not in self._live_set

    def find_deleted(self, archived: AbstractSet[str]) -> list[str]:
        """The nightly check: the ids merged away or archived in this run, and, when the
        search count of live records is not the archive's, the ids the listing lacks (one
        search call on a night without deletions)."""
        gone = {i for i in self.dead if i in archived}
        total = int(self._search([{"propertyName": "hs_object_id", "operator": "GT",
                                   "value": "0"}], "hs_object_id", "ASCENDING", 1)["total"])
        if total != len(archived) - len(gone):
            # something vanished (purged, GDPR-deleted), or the count lags: list and compare
            live = set(self.ids())
            gone |= {i for i in archived if i not in live}
        self.dead |= gone
        self.checked = True
        return sorted(gone)

    # -- incremental search -----------------------------------------------------------------

    def _search(self, filters: list[dict[str, Any]], sort: str, direction: str, limit: int,
                after: int = 0) -> Any:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": filters}], sorts=[{"propertyName": sort,
                                                          "direction": direction}],
            properties=self.ot.properties, limit=limit, after=str(after))
        page = self.client.call_json(f"Searching HubSpot {self.ot.name}",
                                     self.client.search.do_search, self.ot.api_name, request)
        if not isinstance(page, dict):
            raise SourceError(f"HubSpot sent an unreadable search answer for {self.ot.name}; "
                              "the next sync will try again.")
        page.setdefault("results", [])
        page["total"] = int(page.get("total") or 0)
        return page

    def _range(self, lo: int, hi: int | None) -> list[dict[str, Any]]:
        out = [{"propertyName": self.ot.modified, "operator": "GTE", "value": str(lo)}]
        if hi is not None:
            out.append({"propertyName": self.ot.modified, "operator": "LTE", "value": str(hi)})
        return out

    def _modified(self, obj: dict[str, Any]) -> int:
        value = (obj.get("properties") or {}).get(self.ot.modified)
        return parse_ms(str(value or obj["updatedAt"]))

    def _newest(self, lo: int | None) -> tuple[int | None, int]:
        """The newest modified date (and count) of records modified at or after ``lo``."""
        page = self._search(self._range(lo or 0, None), self.ot.modified, "DESCENDING", 1)
        results = page["results"]
        return (self._modified(results[0]) if results else None), page["total"]

    def changed(self, cursor_ms: int) -> Iterator[Batch]:
        """Records modified since ``cursor - lookback``, window by window."""
        lo = max(0, cursor_ms - self.lookback_ms)
        if self.window_ms is None:
            # the usual night: one page holds every change, no bound needed
            first = self._search(self._range(lo, None), self.ot.modified, "ASCENDING",
                                 self.search_page)
            if not first.get("paging"):
                records = [self._record(o) for o in first["results"]]
                self._remember(records)
                last = self._modified(first["results"][-1]) if first["results"] else cursor_ms
                yield Batch(records, cursor=ms_iso(max(last, cursor_ms)))
                return
        hi, total = self._newest(lo)
        if hi is None or total == 0:
            return
        step = self.window_ms or (hi - lo + 1)
        start = lo
        while start <= hi:
            end = min(hi, start + step - 1)
            yield from self._window(start, end, cursor_ms, 0)
            start = end + 1

    def _window(self, lo: int, hi: int, floor: int, restarts: int) -> Iterator[Batch]:
        first = self._search(self._range(lo, hi), self.ot.modified, "ASCENDING",
                             self.search_page)
        total = first["total"]
        if total > SEARCH_CAP:
            if lo < hi:
                mid = (lo + hi) // 2
                self.log.info("%s: %d changes in one window, splitting it", self.ot.name, total)
                yield from self._window(lo, mid, floor, restarts)
                yield from self._window(mid + 1, hi, floor, restarts)
            else:
                yield from self._ties(lo, floor)
            return
        page, offset = first, 0
        while True:
            records = [self._record(o) for o in page["results"]]
            self._remember(records)
            last = self._modified(page["results"][-1]) if page["results"] else None
            cursor = ms_iso(max(last, floor)) if last is not None else None
            yield Batch(records, cursor=cursor)
            offset += len(records)
            if not page.get("paging") or not records or offset >= total:
                return
            page = self._search(self._range(lo, hi), self.ot.modified, "ASCENDING",
                                self.search_page, offset)
            if page["total"] != total:
                # records left or joined the window while it was paged: offsets moved
                if restarts >= MAX_RESTARTS:
                    raise SourceError(f"HubSpot {self.ot.name} kept changing while exporter "
                                      "read them; the next sync will try again.")
                resume = last if last is not None else lo
                yield from self._window(resume, hi, floor, restarts + 1)
                return

    def _ties(self, at: int, floor: int) -> Iterator[Batch]:
        """More than 10,000 records modified in the same millisecond: page by id."""
        last_id = 0
        while True:
            filters = [{"propertyName": self.ot.modified, "operator": "EQ", "value": str(at)},
                       {"propertyName": "hs_object_id", "operator": "GT",
                        "value": str(last_id)}]
            page = self._search(filters, "hs_object_id", "ASCENDING", self.search_page)
            records = [self._record(o) for o in page["results"]]
            self._remember(records)
            # the cursor stays at ``at`` (inclusive search): a crash re-reads the ties
            yield Batch(records, cursor=ms_iso(max(at, floor)))
            if not records or not page.get("paging"):
                return
            last_id = int(records[-1].id)

