"""Calendar v3: calendarList.list, calendars.get, events.list (paging, syncToken,
showDeleted, timeMin/timeMax/updatedMin, orderBy), events.get, events.insert,
events.import (by iCalUID) and events.delete.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from typing import Any

from sandbox.google.store import OFFICE_CAL, TIMEZONE, TZ, parse_time, rfc3339
from sandbox.google.workspace import (
    WorkspaceAPI,
    bool_arg,
    decode_token,
    encode_token,
    fail,
    int_arg,
)
from sandbox.http import Request, Response

__all__ = ["CalendarAPI"]

EVENT_FIELDS = {"summary", "description", "location", "start", "end", "attendees",
                "extendedProperties", "status", "colorId", "transparency", "visibility",
                "reminders", "source", "eventType"}
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")


def _public(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if not k.startswith("_")}


class CalendarAPI(WorkspaceAPI):
    """Calendars and their events."""

    def _calendar(self, req: Request) -> tuple[str, dict[str, Any]]:
        cal_id = OFFICE_CAL if req.params["cal"] == "primary" else req.params["cal"]
        cal = self.store.calendars.get(cal_id)
        if cal is None:
            raise fail(404, "Not Found", "notFound")
        return cal_id, cal

    def _cal_meta(self, cal_id: str, cal: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "calendar#calendarListEntry", "etag": f'"{len(cal["events"])}"',
                "id": cal_id, "summary": cal["summary"], "timeZone": TIMEZONE,
                "accessRole": "owner", "backgroundColor": "#9fe1e7", "foregroundColor": "#000000",
                "selected": True, "primary": cal_id == OFFICE_CAL,
                "defaultReminders": [{"method": "popup", "minutes": 30}]}

    def calendar_list(self, req: Request) -> Response:
        items = [self._cal_meta(k, v) for k, v in self.store.calendars.items()]
        return self._mask(req, {"kind": "calendar#calendarList", "etag": '"1"',
                                "nextSyncToken": encode_token({"cl": 1}), "items": items}, None)

    def calendars_get(self, req: Request) -> Response:
        cal_id, cal = self._calendar(req)
        out = {k: v for k, v in self._cal_meta(cal_id, cal).items()
               if k in ("etag", "id", "summary", "timeZone")}
        return self._mask(req, {"kind": "calendar#calendar", **out}, None)

    def _ordered(self, cal_id: str, cal: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
        """The calendar's events in change order, and their seqs (rebuilt after writes)."""
        cached = self._order.get(cal_id)
        if cached is None or cached[0] != self.store.event_seq:
            events = list(cal["events"].values())
            cached = (self.store.event_seq, events, [e["_seq"] for e in events])
            self._order[cal_id] = cached
        return cached[1], cached[2]

    def _time_arg(self, req: Request, name: str) -> float | None:
        raw = req.arg(name)
        if raw is None:
            return None
        try:
            return parse_time(raw).timestamp()
        except ValueError:
            raise fail(400, "Bad Request", "badRequest", location=name) from None

    def events_list(self, req: Request) -> Response:
        cal_id, cal = self._calendar(req)
        size = min(int_arg(req, "maxResults", 250, 1, 1_000_000), 2500)
        sync = req.arg("syncToken")
        show_deleted = bool_arg(req, "showDeleted")
        since = 0
        if sync is not None:
            for name in ("timeMin", "timeMax", "updatedMin", "orderBy", "q", "iCalUID",
                         "privateExtendedProperty", "sharedExtendedProperty"):
                if req.arg(name) is not None:
                    raise fail(400, f"The parameter {name} cannot be used together with "
                               "syncToken.", "invalid", location=name)
            decoded = decode_token(sync)
            fault = self.faults.take("sync_token_expired", self.vendor,
                                     req.params["_endpoint"], req.path)
            if (fault is not None or not isinstance(decoded, dict)
                    or decoded.get("c") != cal_id or decoded.get("e") != self.store.epoch
                    or not 0 <= int(decoded.get("s", -1)) <= self.store.event_seq):
                message = "Sync token is no longer valid, a full sync is required."
                raise fail(410, message, "fullSyncRequired", domain="calendar")
            since, show_deleted = int(decoded["s"]), True
        page = decode_token(req.arg("pageToken") or "") if req.arg("pageToken") else {}
        if not isinstance(page, dict):
            raise fail(400, "Invalid page token.", "invalid", location="pageToken")
        snapshot = int(page.get("s", self.store.event_seq))
        tmin, tmax = self._time_arg(req, "timeMin"), self._time_arg(req, "timeMax")
        umin = self._time_arg(req, "updatedMin")

        def keep(ev: dict[str, Any]) -> bool:
            return ((show_deleted or ev["status"] != "cancelled")
                    and (tmin is None or ev["_end"] > tmin)
                    and (tmax is None or ev["_start"] < tmax)
                    and (umin is None or ev["_upd"] >= umin))

        events, seqs = self._ordered(cal_id, cal)
        order = req.arg("orderBy")
        items: list[dict[str, Any]] = []
        more: dict[str, Any] | None = None
        if order in ("startTime", "updated"):
            if order == "startTime" and not bool_arg(req, "singleEvents"):
                raise fail(400, "The requested ordering is not available for the particular "
                           "query.", "invalid", location="orderBy")
            field = "_start" if order == "startTime" else "_upd"
            hits = sorted((e for e in events if e["_seq"] <= snapshot and keep(e)),
                          key=lambda e: (e[field], e["id"]))
            offset = int(page.get("o", 0))
            items = hits[offset:offset + size]
            if offset + size < len(hits):
                more = {"s": snapshot, "o": offset + size}
        else:  # change order, keyset paging: robust against writes between pages
            i = bisect.bisect_right(seqs, max(since, int(page.get("a", 0))))
            while i < len(events) and seqs[i] <= snapshot:
                if len(items) == size:
                    more = {"s": snapshot, "a": items[-1]["_seq"]}
                    break
                if keep(events[i]):
                    items.append(events[i])
                i += 1
        out: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"{snapshot}"', "summary": cal["summary"],
            "updated": rfc3339(max((dt.datetime.fromtimestamp(e["_upd"], dt.UTC) for e in items),
                                   default=self.store.last_stamp)),
            "timeZone": TIMEZONE, "accessRole": "owner", "defaultReminders": [],
            "items": [_public(e) for e in items],
        }
        if more is not None:
            out["nextPageToken"] = encode_token(more)
        else:
            out["nextSyncToken"] = encode_token({"c": cal_id, "s": snapshot, "e": self.store.epoch})
        return self._mask(req, out, None)

    def events_get(self, req: Request) -> Response:
        _, cal = self._calendar(req)
        ev = cal["events"].get(req.params["eid"])
        if ev is None:
            raise fail(404, "Not Found", "notFound")
        return self._mask(req, _public(ev), None)

    def events_delete(self, req: Request) -> Response:
        cal_id, cal = self._calendar(req)
        ev = cal["events"].get(req.params["eid"])
        if ev is None or ev["status"] == "cancelled":
            raise fail(410 if ev else 404, "Resource has been deleted" if ev else "Not Found",
                       "deleted" if ev else "notFound")
        ev["status"] = "cancelled"
        self.store.touch_event(cal_id, ev, self.store.stamp())
        return Response(204, b"", {})

    @staticmethod
    def _edge(body: dict[str, Any], name: str) -> dt.datetime:
        """The instant of an event's start/end: dateTime, or an all-day date."""
        value = body.get(name)
        if not isinstance(value, dict) or not (value.get("dateTime") or value.get("date")):
            raise fail(400, f"Missing {name} time.", "required")
        try:
            if value.get("dateTime"):
                return parse_time(value["dateTime"])
            day = dt.date.fromisoformat(value["date"])
            return dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
        except ValueError:
            raise fail(400, f"Invalid {name} time.", "invalid") from None

    def _put_event(self, cal_id: str, body: dict[str, Any], event_id: str,
                   existing: dict[str, Any] | None) -> dict[str, Any]:
        start, end = self._edge(body, "start"), self._edge(body, "end")
        fields = {k: v for k, v in body.items() if k in EVENT_FIELDS}
        fields.setdefault("status", "confirmed")
        if existing is None:
            ev = self.store.add_event(cal_id, event_id, fields, start, end, self.store.stamp())
        else:
            ev = existing
            ev.update(fields)
            ev["_start"], ev["_end"] = start.timestamp(), end.timestamp()
            self.store.touch_event(cal_id, ev, self.store.stamp())
        for key in ("iCalUID", "sequence", "organizer"):
            if key in body:
                ev[key] = body[key]
        self._ical_index(cal_id, self.store.calendars[cal_id])[ev["iCalUID"]] = ev["id"]
        self.store.forget_index()
        return ev

    def _ical_index(self, cal_id: str, cal: dict[str, Any]) -> dict[str, str]:
        index = self._ical.get(cal_id)
        if index is None:
            index = {e["iCalUID"]: e["id"] for e in cal["events"].values()}
            self._ical[cal_id] = index
        return index

    def events_insert(self, req: Request) -> Response:
        cal_id, cal = self._calendar(req)
        body = req.json() or {}
        event_id = body.get("id") or self.store.next_id("r").lower()
        if not EVENT_ID.fullmatch(event_id):
            raise fail(400, "Invalid resource id value.", "invalid")
        if event_id in cal["events"]:
            raise fail(409, "The requested identifier already exists.", "duplicate")
        body.pop("iCalUID", None)  # insert assigns it; import keeps it
        return self._mask(req, _public(self._put_event(cal_id, body, event_id, None)), None)

    def events_import(self, req: Request) -> Response:
        cal_id, cal = self._calendar(req)
        body = req.json() or {}
        uid = body.get("iCalUID")
        if not uid:
            raise fail(400, "Missing iCalUID.", "required")
        existing_id = self._ical_index(cal_id, cal).get(uid)
        existing = cal["events"].get(existing_id) if existing_id else None
        event_id = existing_id or self.store.next_id("i").lower()
        return self._mask(req, _public(self._put_event(cal_id, body, event_id, existing)), None)
