"""The data model of the Google sandbox (Drive v3, Sheets v4, Calendar v3); its generation
from the agency and time travel are in ``agency_data``, generated file bodies in ``content``.

The store holds the agency's Google Workspace as plain JSON-serialisable dicts so that
:meth:`WorkspaceStore.dump` / :meth:`WorkspaceStore.load` are trivial:

- ``files``: Drive files by id (insertion order = listing order). Keys without a leading
  underscore are API fields; ``_gen`` says how the content is produced (``pdf``: generated
  from a PRNG keyed by the file id at download time, ``doc``: care-notes text generated from
  the client, ``sheet``: a spreadsheet in ``sheets``, ``folder``, ``blob``: uploaded bytes
  in ``blobs``), ``_size``/``_md5`` the binary size (fixed at creation) and its md5 (computed
  on the first metadata request that asks for it, then cached).
- ``changes``: the Drive changes feed; a change's ``seq`` is its page token. A newer change
  of the same file supersedes the older one (Drive compacts its feed the same way).
- ``sheets``: spreadsheets by Drive file id: tabs with ``rows`` (row 0 is the header) and
  parallel ``keys`` (care task / medication keys) so time travel can edit rows.
- ``calendars``: calendar metadata and events (API dicts plus ``_seq`` change counter,
  ``_start``/``_end``/``_upd`` epoch seconds for filtering). Event dicts are re-inserted on
  every change so each calendar's dict order is its change order (sync tokens page on it).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.agency import Agency
from sandbox.google.content import make_pdf

__all__ = ["DOC", "FOLDER", "OFFICE_CAL", "PDF", "SHEET", "VISITS_CAL", "WorkspaceStore"]

VISITS_CAL = "visits@sunrise-homecare.example"
OFFICE_CAL = "office@sunrise-homecare.example"
TIMEZONE = "America/Chicago"
TZ = ZoneInfo(TIMEZONE)
FOLDER = "application/vnd.google-apps.folder"
DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
PDF = "application/pdf"
DAYS_BEFORE, DAYS_AFTER = 14, 28  # the visit window around the sandbox clock


@functools.lru_cache(maxsize=8192)
def rfc3339(t: dt.datetime) -> str:
    """Google's timestamp form: UTC with milliseconds and a Z."""
    t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 timestamp (offset required, as Google requires)."""
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value}")
    return t


class WorkspaceStore:
    """The agency's Google Workspace as JSON-serialisable dicts, and the writes the API and
    time travel make to it; not thread-safe (the emulator holds its lock)."""

    def __init__(self, agency: Agency) -> None:
        self.agency = agency
        self.files: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.changes: list[dict[str, Any]] = []
        self.latest_change: dict[str, int] = {}
        self.sheets: dict[str, dict[str, Any]] = {}
        self.calendars: dict[str, dict[str, Any]] = {}
        self.event_seq = 0
        self.counter = 0  # ids of created objects
        self.last_stamp = agency.now - dt.timedelta(milliseconds=1)
        self.visits_until = (agency.now + dt.timedelta(days=DAYS_AFTER)).date()
        self.epoch = f"{agency.seed}"
        self._by_client: dict[str, list[str]] | None = None

    def fid(self, key: str) -> str:
        """A Drive-looking id, stable for (seed, key)."""
        digest = hashlib.sha256(f"{self.agency.seed}:{key}".encode()).digest()
        return "1" + base64.urlsafe_b64encode(digest).decode()[:32]

    def stamp(self) -> dt.datetime:
        """'Now' for a write: the sandbox clock, strictly increasing per write."""
        self.last_stamp = max(self.agency.now, self.last_stamp + dt.timedelta(milliseconds=1))
        return self.last_stamp

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:06d}"

    @property
    def root_id(self) -> str:
        return self.fid("root")

    def new_file(self, file_id: str, name: str, mime: str, parents: list[str], when: dt.datetime,
              gen: str, size: int | None = None, client: str = "") -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": file_id, "name": name, "mimeType": mime, "parents": parents,
            "createdTime": rfc3339(when), "modifiedTime": rfc3339(when), "version": 1,
            "trashed": False, "explicitlyTrashed": False, "_gen": gen, "_size": size,
            "_md5": None, "_rev": 1,
        }
        if client:
            rec["properties"] = {"client_number": client}
        return rec

    def add_event(self, calendar_id: str, event_id: str, fields: dict[str, Any], start: dt.datetime,
               end: dt.datetime, updated: dt.datetime) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "kind": "calendar#event", "id": event_id, "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": rfc3339(updated),
            "creator": {"email": OFFICE_CAL}, "organizer": {"email": calendar_id, "self": True},
            "start": {"dateTime": start.isoformat(), "timeZone": TIMEZONE},
            "end": {"dateTime": end.isoformat(), "timeZone": TIMEZONE},
            "iCalUID": f"{event_id}@google.com", "sequence": 0,
            "reminders": {"useDefault": True}, "eventType": "default",
        }
        ev.update(fields)
        ev["_start"] = start.timestamp()
        ev["_end"] = end.timestamp()
        self.touch_event(calendar_id, ev, updated)
        return ev

    def touch_event(self, calendar_id: str, ev: dict[str, Any], updated: dt.datetime) -> None:
        """Record a change: new seq, updated/etag, moved to the end of the calendar's order."""
        self.event_seq += 1
        ev["_seq"] = self.event_seq
        ev["_upd"] = updated.timestamp()
        ev["updated"] = rfc3339(updated)
        ev["etag"] = f'"{int(updated.timestamp() * 1000)}{self.event_seq:06d}"'
        events = self.calendars[calendar_id]["events"]
        events.pop(ev["id"], None)
        events[ev["id"]] = ev

    @property
    def care_sheet(self) -> dict[str, Any]:
        return self.sheets[self.fid("sheet:care")]

    def doc_text(self, rec: dict[str, Any]) -> str:
        if rec["_gen"] == "blob":
            return self.blobs.get(rec["id"], b"").decode("utf-8", "replace")
        number = rec.get("properties", {}).get("client_number", "")
        client = self.agency.clients.get(number)
        if client is None:
            return f"{rec['name']}\n"
        lines = [f"Care notes for {client.full_name} ({client.number})", "",
                 f"Status: {client.status}", f"Phone: {client.phone}",
                 f"Fall risk: {client.fall_risk}", f"Diet: {client.diet}",
                 f"Access: {client.access_notes}", f"Revision {rec['_rev']}"]
        return "\n".join(lines) + "\n"

    def content(self, rec: dict[str, Any]) -> bytes:
        """The bytes of a binary (non-Google-native) file."""
        if rec["_gen"] == "pdf":
            number = rec.get("properties", {}).get("client_number", "")
            client = self.agency.clients.get(number)
            who = f"{client.full_name} ({number})" if client else number
            return make_pdf([rec["name"], f"Client: {who}", "Signed by the client or family."],
                            size=rec["_size"], seed=f"{self.agency.seed}:{rec['id']}:{rec['_rev']}")
        return self.blobs.get(rec["id"], b"")

    def md5(self, rec: dict[str, Any]) -> str:
        if rec["_md5"] is None:
            rec["_md5"] = hashlib.md5(self.content(rec)).hexdigest()  # noqa: S324 - Drive's
        return str(rec["_md5"])

    def record_change(self, file_id: str, removed: bool, when: dt.datetime) -> None:
        seq = len(self.changes) + 1
        self.changes.append({"seq": seq, "fileId": file_id, "removed": removed,
                             "time": rfc3339(when)})
        self.latest_change[file_id] = seq

    def modify_file(self, rec: dict[str, Any], content_changed: bool = True) -> None:
        when = self.stamp()
        if content_changed:
            rec["modifiedTime"] = rfc3339(when)
            rec["_rev"] += 1
            rec["_md5"] = None
        rec["version"] += 1
        self.record_change(rec["id"], False, when)

    def add_file(self, rec: dict[str, Any]) -> None:
        self.files[rec["id"]] = rec
        self.record_change(rec["id"], False, parse_time(rec["modifiedTime"]))

    def delete_file(self, file_id: str) -> None:
        self.files.pop(file_id, None)
        self.blobs.pop(file_id, None)
        self.sheets.pop(file_id, None)
        self.record_change(file_id, True, self.stamp())

    def forget_index(self) -> None:
        """Drop the client -> visits index after events were added from outside."""
        self._by_client = None

    def client_events(self) -> dict[str, list[str]]:
        """Visit event ids by client number (a cache rebuilt after structural changes)."""
        if self._by_client is None:
            index: dict[str, list[str]] = {}
            for ev in self.calendars[VISITS_CAL]["events"].values():
                number = ev.get("extendedProperties", {}).get("private", {}).get("client_number")
                if number:
                    index.setdefault(number, []).append(ev["id"])
            self._by_client = index
        return self._by_client

    def dump(self) -> dict[str, Any]:
        return {
            "files": list(self.files.values()),
            "blobs": {k: base64.b64encode(v).decode() for k, v in self.blobs.items()},
            "changes": self.changes, "sheets": self.sheets,
            "calendars": {cid: {"summary": c["summary"], "events": list(c["events"].values())}
                          for cid, c in self.calendars.items()},
            "event_seq": self.event_seq, "counter": self.counter,
            "last_stamp": self.last_stamp.isoformat(),
            "visits_until": self.visits_until.isoformat(),
            "epoch": self.epoch,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.files = {rec["id"]: rec for rec in state["files"]}
        self.blobs = {k: base64.b64decode(v) for k, v in state["blobs"].items()}
        self.changes = state["changes"]
        self.latest_change = {c["fileId"]: c["seq"] for c in self.changes}
        self.sheets = state["sheets"]
        self.calendars = {
            cid: {"summary": c["summary"], "events": {
                ev["id"]: ev for ev in sorted(c["events"], key=lambda e: e["_seq"])}}
            for cid, c in state["calendars"].items()}
        self.event_seq = state["event_seq"]
        self.counter = state["counter"]
        self.last_stamp = dt.datetime.fromisoformat(state["last_stamp"])
        self.visits_until = dt.date.fromisoformat(state["visits_until"])
        self.epoch = state["epoch"]
        self._by_client = None
