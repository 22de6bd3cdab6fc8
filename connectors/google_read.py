"""How the Google connector reads each stream: Drive files (changes feed), sheet rows
(re-read only when the spreadsheet's Drive ``modifiedTime`` moved) and calendar events
(sync tokens). See connectors/google.py for the streams, cursors and config keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from connectors.google_api import GoogleApi, RequestRefused, SyncTokenExpired
from exporter.connector import Batch, FileBody, Record, SourceError, TransientError

__all__ = ["CalendarReader", "DriveReader", "SheetsReader", "export_formats"]

GOOGLE_APPS = "application/vnd.google-apps."
SHEET = GOOGLE_APPS + "spreadsheet"
KINDS = {"document": GOOGLE_APPS + "document", "spreadsheet": SHEET,
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
ROW_WINDOW = 5000  # sheet rows per values.get: bounded memory, few requests
TOMBSTONE_BATCH = 5000


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
        return [FileBody("content", partial(self._media, fid), mime or None)]

    def _media(self, fid: str) -> Iterator[bytes]:
        return self.api.download("Drive download", self.drive.files().get_media(fileId=fid))

    def _export(self, fid: str, target: str) -> Iterator[bytes]:
        return self.api.download("Drive export", self.drive.files().export_media(
            fileId=fid, mimeType=target), media_type=target)

    def list_ids(self) -> Iterator[str]:
        for page in self.api.pages("Drive file ids", lambda t: self.drive.files().list(
                pageSize=1000, pageToken=t, fields="nextPageToken,files(id)")):
            for f in page.get("files") or []:
                yield str(f["id"])


def _a1_tab(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _column(n: int) -> str:
    name = ""
    while n >= 0:
        n, rem = divmod(n, 26)
        name = chr(65 + rem) + name
        n -= 1
    return name


def field_names(header: list[Any], width: int) -> list[str]:
    """Field names for ``width`` columns: the header cell, or the column letter when the
    header cell is empty; a repeated name gets " (2)", " (3)"..."""
    names: list[str] = []
    seen: set[str] = set()
    for i in range(width):
        base = str(header[i]).strip() if i < len(header) and str(header[i]).strip() else _column(i)
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name)
        names.append(name)
    return names


class SheetsReader:
    """sheet_rows: every grid tab of the chosen spreadsheets, one record per non-empty row
    below the header, id ``<spreadsheetId>/<tab title>/<row number>``. The cursor keeps each
    spreadsheet's Drive ``modifiedTime`` and each tab's last row: an unchanged spreadsheet
    is skipped; rows past the new end, emptied rows, removed tabs and spreadsheets become
    tombstones."""

    def __init__(self, api: GoogleApi, chosen: list[str] | None, log: logging.Logger) -> None:
        self.api = api
        self.chosen = chosen
        self.log = log
        self._files: list[dict[str, Any]] | None = None
        self._meta: dict[str, dict[str, Any]] = {}

    def spreadsheets(self) -> list[dict[str, Any]]:
        """The spreadsheets to read (id, name, modifiedTime), from one Drive listing."""
        if self._files is None:
            drive = self.api.service("drive")
            q = f"mimeType = '{SHEET}' and trashed = false"
            found = [f for page in self.api.pages("Drive spreadsheet listing",
                                                  lambda t: drive.files().list(
                                                      q=q, pageSize=1000, pageToken=t,
                                                      fields="nextPageToken,files(id,name,"
                                                             "modifiedTime)"))
                     for f in page.get("files") or []]
            if self.chosen is not None:
                by_id = {f["id"]: f for f in found}
                for sid in self.chosen:
                    if sid not in by_id:
                        self.log.warning("spreadsheet %s is not in Drive (or is trashed)", sid)
                found = [by_id[s] for s in self.chosen if s in by_id]
            self._files = found
        return self._files

    def meta(self, sid: str) -> dict[str, Any]:
        """Spreadsheet properties, grid tabs and their header rows (two requests)."""
        if sid not in self._meta:
            sheets = self.api.service("sheets").spreadsheets()
            info = self.api.call("Sheets spreadsheet", sheets.get(
                spreadsheetId=sid, fields="spreadsheetId,properties,sheets(properties)"))
            tabs = [s["properties"] for s in info.get("sheets") or []
                    if s.get("properties", {}).get("sheetType", "GRID") == "GRID"]
            headers: list[Any] = []
            if tabs:
                got = self.api.call("Sheets header rows", sheets.values().batchGet(
                    spreadsheetId=sid, ranges=[f"{_a1_tab(t['title'])}!1:1" for t in tabs]))
                headers = got.get("valueRanges") or []
                if len(headers) != len(tabs):
                    raise TransientError("Sheets header rows: the answer lacks some tabs")
            info["sheets"] = [{"properties": t, "header": (h.get("values") or [[]])[0]}
                              for t, h in zip(tabs, headers, strict=True)]
            self._meta[sid] = info
        return self._meta[sid]

    def schema(self) -> dict[str, Any]:
        return {"spreadsheets": {
            f["id"]: {"name": f.get("name"), "modifiedTime": f.get("modifiedTime"),
                      **self.meta(f["id"])} for f in self.spreadsheets()}}

    def read(self, cursor: Any, full: bool) -> Iterator[Batch]:
        prev: dict[str, Any] = {} if full or not isinstance(cursor, dict) else cursor
        state = dict(prev)
        current = self.spreadsheets()
        for f in current:
            sid = f["id"]
            old = prev.get(sid) or {}
            if old.get("modifiedTime") == f.get("modifiedTime") and not full:
                continue
            last_rows: dict[str, int] = {}
            for tab in self.meta(sid)["sheets"]:
                yield from self._tab(sid, tab, last_rows)
            gone = [f"{sid}/{title}/{row}" for title, n in (old.get("rows") or {}).items()
                    for row in range(last_rows.get(title, 1) + 1, n + 1)]
            state[sid] = {"modifiedTime": f.get("modifiedTime"), "rows": last_rows}
            yield from self._tombstones(gone, dict(state))
        for sid in [s for s in prev if s not in {f["id"] for f in current}]:
            gone = [f"{sid}/{title}/{row}" for title, n in (prev[sid].get("rows") or {}).items()
                    for row in range(2, n + 1)]
            del state[sid]
            yield from self._tombstones(gone, dict(state))

    def _tombstones(self, ids: list[str], cursor: dict[str, Any]) -> Iterator[Batch]:
        for i in range(0, max(len(ids), 1), TOMBSTONE_BATCH):
            chunk = ids[i:i + TOMBSTONE_BATCH]
            last = i + TOMBSTONE_BATCH >= len(ids)
            yield Batch([Record(rid, None, deleted=True) for rid in chunk],
                        cursor=cursor if last else None)

    def _windows(self, sid: str, tab: Mapping[str, Any]) -> Iterator[tuple[int, list[Any]]]:
        """(first row number, rows) per window of the tab below the header."""
        props = tab["properties"]
        title = props["title"]
        total = int((props.get("gridProperties") or {}).get("rowCount", 0))
        values = self.api.service("sheets").spreadsheets().values()
        start = 2
        while start <= total:
            end = min(start + ROW_WINDOW - 1, total)
            got = self.api.call("Sheets rows", values.get(
                spreadsheetId=sid, range=f"{_a1_tab(title)}!{start}:{end}",
                majorDimension="ROWS"))
            rows = got.get("values") or []
            if not isinstance(rows, list):
                raise TransientError("Sheets rows: the answer is not a list of rows")
            yield start, rows
            start = end + 1

    def _tab(self, sid: str, tab: Mapping[str, Any], last_rows: dict[str, int]) -> Iterator[Batch]:
        title = tab["properties"]["title"]
        header = list(tab["header"])
        names = field_names(header, len(header))
        last = 1
        for start, rows in self._windows(sid, tab):
            records = []
            for offset, row in enumerate(rows):
                number = start + offset
                rid = f"{sid}/{title}/{number}"
                if not any(str(v) != "" for v in row):
                    records.append(Record(rid, None, deleted=True))  # an emptied row
                    continue
                if len(row) > len(names):
                    names = field_names(header, len(row))
                records.append(Record(rid, dict(zip(names, row, strict=False))))
                last = number
            if records:
                yield Batch(records)
        last_rows[title] = last

    def list_ids(self) -> Iterator[str]:
        for f in self.spreadsheets():
            for tab in self.meta(f["id"])["sheets"]:
                title = tab["properties"]["title"]
                for start, rows in self._windows(f["id"], tab):
                    for offset, row in enumerate(rows):
                        if any(str(v) != "" for v in row):
                            yield f"{f['id']}/{title}/{start + offset}"


class CalendarReader:
    """calendars and calendar_events. Events: a full listing (showDeleted, singleEvents) per
    calendar, then its nextSyncToken; later runs list only changes. Cancelled events are
    tombstones that keep their data. A 410 (expired token) resyncs that calendar fully
    (Batch.reset). Event ids are ``<calendarId>/<eventId>`` (one event can sit in several
    calendars under the same id)."""

    def __init__(self, api: GoogleApi, chosen: list[str] | None, single_events: bool,
                 log: logging.Logger) -> None:
        self.api = api
        self.chosen = chosen
        self.single_events = single_events
        self.log = log

    @property
    def calendar(self) -> Any:
        return self.api.service("calendar")

    def _list_pages(self) -> Iterator[dict[str, Any]]:
        return self.api.pages("Calendar list", lambda t: self.calendar.calendarList().list(
            pageToken=t, showHidden=True, maxResults=250))

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
                except SyncTokenExpired:
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
            records = [Record(f"{cal}/{ev['id']}", ev, deleted=ev.get("status") == "cancelled")
                       for ev in items]
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
                yield from (f"{cal}/{ev['id']}" for ev in page.get("items") or [])

    def _id_page(self, cal: str, token: str | None) -> Any:
        return self.calendar.events().list(
            calendarId=cal, pageToken=token, maxResults=2500, showDeleted=False,
            singleEvents=self.single_events, fields="nextPageToken,items(id)")
