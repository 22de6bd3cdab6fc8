"""How the Google connector reads Drive files (changes feed) and calendar events (sync
tokens); sheet rows are in connectors/google_sheets.py. See connectors/google.py for the
streams, cursors and config keys.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from connectors.google_api import GoogleApi
from exporter.connector import Batch, FileBody
from exporter.errors import CursorExpired, RequestRefused, SourceError, TransientError
from exporter.record import Record

__all__ = ["CalendarReader", "DriveReader", "export_formats"]

GOOGLE_APPS = "application/vnd.google-apps."
KINDS = {"document": GOOGLE_APPS + "document", "spreadsheet": GOOGLE_APPS + "spreadsheet",
         "presentation": GOOGLE_APPS + "presentation", "drawing": GOOGLE_APPS + "drawing"}
EXTENSIONS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "csv": "text/csv", "txt": "text/plain", "png": "image/png", "svg": "image/svg+xml",
}
DEFAULT_EXPORTS = {"document": ["pdf", "docx"], "spreadsheet": ["xlsx"],
                   "presentation": ["pdf", "pptx"]}


def export_formats(config: Any) -> dict[str, list[tuple[str, str]]]:
    """Google type -> [(body name, export MIME type)], from ``export_formats`` (keys:
    document/spreadsheet/presentation/drawing or full MIME types; values: extensions
    such as "pdf" or full MIME types)."""
    table = DEFAULT_EXPORTS if config is None else config
    if not isinstance(table, Mapping):
        raise SourceError("export_formats must be a table such as "
                          '{ document = ["pdf", "docx"] }; fix the config.')
    out: dict[str, list[tuple[str, str]]] = {}
    for kind, targets in table.items():
        mime = KINDS.get(kind, kind)
        pairs = []
        for target in targets:
            ext = next((e for e, m in EXTENSIONS.items() if m == target), None)
            full = EXTENSIONS.get(target, target)
            pairs.append((f"export.{ext or target}", full))
        out[mime] = pairs
    return out


class DriveReader:
    """drive_files: a full listing (fields="*") after taking a start page token, then the
    changes feed from that token. Trashed files stay records (``trashed: true``); removed
    files become tombstones. Binary bodies and exports are handed over as FileBody."""

    def __init__(self, api: GoogleApi, formats: dict[str, list[tuple[str, str]]],
                 log: logging.Logger) -> None:
        self.api = api
        self.formats = formats
        self.log = log

    @property
    def drive(self) -> Any:
        return self.api.service("drive")

    def read(self, cursor: Any, full: bool) -> Iterator[Batch]:
        if cursor and not full:
            try:
                yield from self._changes(str(cursor))
                return
            except RequestRefused:  # an unknown or expired page token (400 or 404)
                self.log.warning("Drive refused the saved change token; listing every file")
            yield from self._listing(reset=True)
            return
        yield from self._listing(reset=False)

    def _listing(self, reset: bool) -> Iterator[Batch]:
        # The token is taken BEFORE listing: a change made during the listing is then
        # seen again by the next sync instead of being lost.
        start = self.api.call("Drive start page token",
                              self.drive.changes().getStartPageToken(fields="startPageToken"))
        token = start.get("startPageToken")
        if not token:
            raise TransientError("Drive start page token: the response had no token")
        pages = self.api.pages("Drive file listing", lambda t: self.drive.files().list(
            pageSize=1000, pageToken=t, fields="*"))
        for page in pages:
            files = page.get("files")
            if not isinstance(files, list):
                raise TransientError("Drive file listing: a page had no file list")
            last = not page.get("nextPageToken")
            yield self._batch(files, [], token if last else None, reset)

    def _changes(self, token: str) -> Iterator[Batch]:
        pages = self.api.pages("Drive changes", lambda t: self.drive.changes().list(
            pageToken=t or token, pageSize=1000, fields="*", includeRemoved=True,
            spaces="drive"))
        for page in pages:
            changes = page.get("changes")
            nxt = page.get("nextPageToken") or page.get("newStartPageToken")
            if not isinstance(changes, list) or not nxt:
                raise TransientError("Drive changes: a page had no changes list or token")
            files: list[dict[str, Any]] = []
            removed: list[str] = []
            for change in changes:
                if change.get("changeType", "file") != "file":
                    continue  # shared-drive changes: shared drives are not archived
                if change.get("removed"):
                    removed.append(str(change["fileId"]))
                elif isinstance(change.get("file"), dict):
                    files.append(change["file"])
                else:
                    raise TransientError("Drive changes: a change came without its file")
            yield self._batch(files, removed, nxt, False)

    def _batch(self, files: list[dict[str, Any]], removed: list[str], cursor: Any,
               reset: bool) -> Batch:
        records = [Record(str(f["id"]), f) for f in files]
        records += [Record(fid, None, deleted=True) for fid in removed]
        bodies = {}
        for f in files:
            found = self._bodies(f)
            if found:
                bodies[str(f["id"])] = found
        return Batch(records, cursor=cursor, files=bodies, reset=reset)

    def _bodies(self, f: Mapping[str, Any]) -> list[FileBody]:
        mime = str(f.get("mimeType", ""))
        fid = str(f["id"])
        if mime.startswith(GOOGLE_APPS):
            return [FileBody(name, partial(self._export, fid, target), target)
                    for name, target in self.formats.get(mime, [])]
        return [FileBody("content", partial(self._media, fid, f.get("md5Checksum")),
                         mime or None)]

    def _media(self, fid: str, md5: Any) -> Iterator[bytes]:
        digest = hashlib.md5(usedforsecurity=False)  # Drive's own checksum is MD5
        for chunk in self.api.download("Drive download",
                                       self.drive.files().get_media(fileId=fid)):
            digest.update(chunk)
            yield chunk
        if isinstance(md5, str) and digest.hexdigest() != md5:
            # Each chunk was checked; a different checksum means the file changed after it
            # was listed. The change feed brings it again next time, with its new checksum.
            self.log.warning("a Drive file changed while it was downloaded; the next sync "
                             "archives its new version")

    def _export(self, fid: str, target: str) -> Iterator[bytes]:
        return self.api.download("Drive export", self.drive.files().export_media(
            fileId=fid, mimeType=target), media_type=target)

    def list_ids(self) -> Iterator[str]:
        for page in self.api.pages("Drive file ids", lambda t: self.drive.files().list(
                pageSize=1000, pageToken=t, fields="nextPageToken,files(id)")):
            for f in page.get("files") or []:
                yield str(f["id"])


class CalendarReader:
    """calendars and calendar_events. Events: a full listing (showDeleted, singleEvents) per
    calendar, then its nextSyncToken; later runs list only changes. Cancelled events are
    tombstones that keep their data. A 410 (expired token) resyncs that calendar fully
    (Batch.reset). Records are keyed by the event id, with ``calendarId`` added."""

    def __init__(self, api: GoogleApi, chosen: list[str] | None, single_events: bool,
                 log: logging.Logger) -> None:
        self.api = api
        self.chosen = chosen
        self.single_events = single_events
        self.log = log
        self._pages: list[dict[str, Any]] | None = None

    @property
    def calendar(self) -> Any:
        return self.api.service("calendar")

    def _list_pages(self) -> list[dict[str, Any]]:
        """The calendar list, read once per connector (per run): it is small."""
        if self._pages is None:
            self._pages = list(self.api.pages(
                "Calendar list", lambda t: self.calendar.calendarList().list(
                    pageToken=t, showHidden=True, maxResults=250)))
        return self._pages

    def calendar_ids(self) -> list[str]:
        if self.chosen is not None:
            return list(self.chosen)
        return [str(e["id"]) for page in self._list_pages() for e in page.get("items") or []]

    def read_calendars(self) -> Iterator[Batch]:
        for page in self._list_pages():
            yield Batch([Record(str(e["id"]), e) for e in page.get("items") or []])

    def calendar_list_ids(self) -> Iterator[str]:
        for page in self._list_pages():
            yield from (str(e["id"]) for e in page.get("items") or [])

    def read_events(self, cursor: Any, full: bool) -> Iterator[Batch]:
        tokens: dict[str, str] = {} if full or not isinstance(cursor, dict) else cursor
        ids = self.calendar_ids()
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
        events = self.calendar.events()
        for page in self.api.pages("Calendar events",
                                   lambda t: events.list(pageToken=t, **args)):
            items = page.get("items")
            if not isinstance(items, list):
                raise TransientError("Calendar events: a page had no item list")
            # calendarId is added (nothing else changes): an event does not say which
            # calendar it was read from, and a restore needs to know.
            records = [Record(str(ev["id"]), {**ev, "calendarId": cal},
                              deleted=ev.get("status") == "cancelled") for ev in items]
            cursor = None
            if not page.get("nextPageToken"):
                if not page.get("nextSyncToken"):
                    raise TransientError("Calendar events: the last page had no sync token")
                state[cal] = str(page["nextSyncToken"])
                cursor = dict(state)
            yield Batch(records, cursor=cursor, reset=reset)

    def event_ids(self) -> Iterator[str]:
        for cal in self.calendar_ids():
            for page in self.api.pages("Calendar event ids", partial(self._id_page, cal)):
                yield from (str(ev["id"]) for ev in page.get("items") or [])

    def _id_page(self, cal: str, token: str | None) -> Any:
        return self.calendar.events().list(
            calendarId=cal, pageToken=token, maxResults=2500, showDeleted=False,
            singleEvents=self.single_events, fields="nextPageToken,items(id)")
