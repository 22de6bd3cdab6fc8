"""Google emulator: Drive v3, Sheets v4 and Calendar v3 on one loopback server.

Paths are the ones google-api-python-client builds with ``client_options={"api_endpoint":
BASE + "/drive/v3/"}`` (Drive), ``BASE + "/"`` (Sheets) and ``BASE + "/calendar/v3/"``
(Calendar); media uploads go to ``/upload/drive/v3/files`` (the SDK keeps https for them, so
the client needs an http transport that rewrites the scheme: see docs/sandbox-google.md).

Emulated: Drive files.list (a real little ``q`` parser: and/or/not, parentheses, ``in
parents``, =, !=, <, <=, >, >=, contains on name/mimeType/modifiedTime/createdTime/trashed),
files.get (metadata with partial-response ``fields``; ``alt=media`` with Range), files.export,
files.create (metadata, multipart, media and resumable uploads), files.update (rename, trash),
files.delete, changes.getStartPageToken / changes.list; Sheets spreadsheets.get,
values.get, values.batchGet (A1 ranges); Calendar calendarList.list, calendars.get,
events.list (paging, syncToken, showDeleted, timeMin/timeMax/updatedMin, orderBy),
events.get, events.insert, events.import, events.delete. Errors use Google's JSON shapes;
injected 429/403/5xx faults too. A wrong bearer token is a 401.

Not emulated: shared drives, permissions, revisions, recurring events (every visit is a
single event), Sheets writes and formulas, batch requests, watch channels, quotas.
"""

from __future__ import annotations

import base64
import bisect
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sandbox.agency import Agency, ChangeSet
from sandbox.faults import Fault, FaultPlan
from sandbox.google_data import (
    DOC,
    FOLDER,
    OFFICE_CAL,
    SHEET,
    TIMEZONE,
    TZ,
    GoogleStore,
    make_docx,
    make_pdf,
    make_xlsx,
    parse_time,
    rfc3339,
)
from sandbox.google_query import A1Range, apply_mask, parse_fields, parse_q
from sandbox.http import Emulator, HTTPError, Request, Response
from sandbox.sheets_writes import sheet_write_routes

__all__ = ["GoogleEmulator"]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ALREADY_EXISTS", 410: "GONE", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
OWNER = {"kind": "drive#user", "displayName": "Sunrise Home Care Office", "me": True,
         "permissionId": "00000000000000000001", "emailAddress": OFFICE_CAL}
DRIVE_DEFAULTS = {
    "list": "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)",
    "file": "kind,id,name,mimeType",
    "changes": "kind,nextPageToken,newStartPageToken,"
               "changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))",
}
EVENT_FIELDS = {"summary", "description", "location", "start", "end", "attendees",
                "extendedProperties", "status", "colorId", "transparency", "visibility",
                "reminders", "source", "eventType"}
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")


def google_error(status: int, message: str, reason: str, domain: str = "global",
                 location: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """Google's classic error body (Drive, Calendar, and what the SDK's retry logic reads)."""
    item: dict[str, Any] = {"message": message, "domain": domain, "reason": reason}
    if location:
        item["location"] = location
        item["locationType"] = "header" if location == "Authorization" else "parameter"
    body = {"error": {"code": status, "message": message, "errors": [item],
                      "status": STATUS_NAMES.get(status, "UNKNOWN")}}
    return Response.json(body, status=status, headers=headers)


def fail(status: int, message: str, reason: str, **kw: Any) -> HTTPError:
    return HTTPError(google_error(status, message, reason, **kw))


def sheets_error(status: int, message: str) -> HTTPError:
    """The newer shape Sheets v4 uses: no ``errors`` list."""
    return HTTPError(Response.json({"error": {"code": status, "message": message,
                                              "status": STATUS_NAMES.get(status, "UNKNOWN")}},
                                   status=status))


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def _unb64(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
    except (ValueError, UnicodeDecodeError):
        return None


def _int_arg(req: Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.arg(name)
    try:
        value = default if raw is None or raw == "" else int(raw)
    except ValueError:
        raise fail(400, f"Invalid value '{raw}'. Values must be within the range: "
                        f"[{low}, {high}]", "invalid", location=name) from None
    if not low <= value <= high:
        raise fail(400, f"Invalid value '{raw}'. Values must be within the range: "
                        f"[{low}, {high}]", "invalid", location=name)
    return value


def _bool_arg(req: Request, name: str, default: bool = False) -> bool:
    raw = req.arg(name)
    return default if raw is None else raw.lower() == "true"


def _public(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if not k.startswith("_")}


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    """(metadata, media bytes, media type) of a multipart/related upload."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise fail(400, "Missing multipart boundary.", "badContent")
    delim = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        sep = b"\r\n\r\n" if b"\r\n\r\n" in chunk else b"\n\n"
        head, _, data = chunk.partition(sep)
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
        ctype = ""
        for line in head.decode("latin-1").splitlines():
            if line.lower().startswith("content-type:"):
                ctype = line.split(":", 1)[1].strip()
        parts.append((ctype, data))
    if len(parts) != 2:
        raise fail(400, "Multipart upload needs metadata and media parts.", "badContent")
    try:
        meta = json.loads(parts[0][1] or b"{}")
    except ValueError:
        raise fail(400, "Invalid JSON metadata.", "parseError") from None
    return meta, parts[1][1], parts[1][0]


class GoogleEmulator(Emulator):
    vendor = "google"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        from sandbox import CREDENTIALS  # here: the package imports this module

        self.agency = agency
        self.token = CREDENTIALS["google"]["token"]
        self.store = GoogleStore(agency)
        self._uploads: dict[str, dict[str, Any]] = {}  # resumable upload sessions
        self._order: dict[str, tuple[int, list[dict[str, Any]], list[int]]] = {}
        self._ical: dict[str, dict[str, str]] = {}
        d, s, c = "/drive/v3", "/v4/spreadsheets/(?P<sid>[^/:]+)", "/calendar/v3"
        cal = c + "/calendars/(?P<cal>[^/]+)"
        routes: list[tuple[str, str, str, Callable[[Request], Response]]] = [
            ("GET", d + "/files", "drive.files.list", self.files_list),
            ("POST", d + "/files", "drive.files.create", self.files_create),
            ("POST", "/upload" + d + "/files", "drive.files.upload", self.files_upload),
            ("PUT", "/upload" + d + "/files", "drive.files.upload", self.files_upload_chunk),
            ("GET", d + "/files/(?P<fid>[^/]+)", "drive.files.get", self.files_get),
            ("PATCH", d + "/files/(?P<fid>[^/]+)", "drive.files.update", self.files_update),
            ("DELETE", d + "/files/(?P<fid>[^/]+)", "drive.files.delete", self.files_delete),
            ("GET", d + "/files/(?P<fid>[^/]+)/export", "drive.files.export", self.files_export),
            ("GET", d + "/changes/startPageToken", "drive.changes.getStartPageToken",
             self.changes_start),
            ("GET", d + "/changes", "drive.changes.list", self.changes_list),
            ("GET", s, "sheets.spreadsheets.get", self.sheets_get),
            ("GET", s + "/values:batchGet", "sheets.values.batchGet", self.values_batch_get),
            ("GET", s + "/values/(?P<range>[^/]+)", "sheets.values.get", self.values_get),
            ("GET", c + "/users/me/calendarList", "calendar.calendarList.list",
             self.calendar_list),
            ("GET", cal, "calendar.calendars.get", self.calendars_get),
            ("GET", cal + "/events", "calendar.events.list", self.events_list),
            ("POST", cal + "/events", "calendar.events.insert", self.events_insert),
            ("POST", cal + "/events/import", "calendar.events.import", self.events_import),
            ("GET", cal + "/events/(?P<eid>[^/]+)", "calendar.events.get", self.events_get),
            ("DELETE", cal + "/events/(?P<eid>[^/]+)", "calendar.events.delete",
             self.events_delete),
        ]
        routes += sheet_write_routes(self.store)
        for method, pattern, endpoint, handler in routes:
            self.add_route(method, pattern, endpoint, self._guard(endpoint, handler))

    def _guard(self, endpoint: str, handler: Callable[[Request], Response]
               ) -> Callable[[Request], Response]:
        """Check the bearer token, decode path parameters, hold the store lock."""
        def run(req: Request) -> Response:
            if req.headers.get("authorization") != f"Bearer {self.token}":
                raise HTTPError(google_error(
                    401, "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                    "authError", location="Authorization"))
            req.params = {k: unquote(v) for k, v in req.params.items()}
            req.params["_endpoint"] = endpoint
            with self.lock:
                return handler(req)
        return run

    # -- framework hooks ----------------------------------------------------------------

    def fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        if fault.kind == "rate_limit" and fault.status == 403:
            return google_error(403, "User Rate Limit Exceeded", "userRateLimitExceeded",
                                domain="usageLimits", headers=headers)
        if fault.kind == "rate_limit":
            return google_error(429, "Rate Limit Exceeded", "rateLimitExceeded",
                                domain="usageLimits", headers=headers)
        status = fault.status or 503
        message = {500: "Internal Error", 502: "Bad Gateway",
                   503: "The service is currently unavailable."}.get(status, "Backend Error")
        return google_error(status, message, "backendError", headers=headers)

    def not_found(self, request: Request) -> Response:
        return google_error(404, f"Not Found: {request.path}", "notFound")

    def advance(self, changes: ChangeSet) -> None:
        with self.lock:
            self.store.advance(changes)
            self._ical.clear()

    def dump_state(self) -> dict[str, Any]:
        """The whole store, JSON-serialisable; a live view: serialise it before the next write."""
        with self.lock:
            return self.store.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        # dump_state() is a live view of the store: copy, so two emulators never share dicts.
        state = json.loads(json.dumps(state))
        with self.lock:
            self.store.load(state)
            self._order.clear()
            self._ical.clear()

    # -- Drive --------------------------------------------------------------------------

    def _mask(self, req: Request, obj: dict[str, Any], default: str | None) -> Response:
        fields = req.arg("fields") or default
        if fields:
            try:
                obj = apply_mask(obj, parse_fields(fields))
            except ValueError as exc:
                raise fail(400, f"Invalid field selection {fields}: {exc}", "invalidParameter",
                           location="fields") from None
        return Response.json(obj)

    def _file(self, file_id: str) -> dict[str, Any]:
        rec = self.store.files.get(self.store.root_id if file_id == "root" else file_id)
        if rec is None:
            raise fail(404, f"File not found: {file_id}.", "notFound", location="fileId")
        return rec

    def render_file(self, rec: dict[str, Any], md5: bool) -> dict[str, Any]:
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        out.update(kind="drive#file", version=str(rec["version"]), starred=False,
                   spaces=["drive"], ownedByMe=True, owners=[OWNER], shared=False,
                   webViewLink=f"https://drive.google.com/file/d/{rec['id']}/view",
                   iconLink=f"https://drive-thirdparty.googleusercontent.com/16/type/"
                            f"{rec['mimeType']}")
        if rec["_size"] is not None and not rec["mimeType"].startswith("application/vnd.google"):
            name = rec["name"]
            ext = name.rsplit(".", 1)[1] if "." in name else ""
            out.update(size=str(rec["_size"]), quotaBytesUsed=str(rec["_size"]),
                       originalFilename=name, fileExtension=ext, fullFileExtension=ext,
                       headRevisionId=f"0B{rec['id'][1:12]}r{rec['_rev']}")
            if md5:
                out["md5Checksum"] = self.store.md5(rec)
        else:
            out["quotaBytesUsed"] = "0"
        return out

    @staticmethod
    def _wants_md5(req: Request) -> bool:
        fields = req.arg("fields") or ""
        return "md5Checksum" in fields or "*" in fields

    def files_list(self, req: Request) -> Response:
        try:
            pred = parse_q(req.arg("q") or "", self.store.root_id)
        except ValueError as exc:
            raise fail(400, f"Invalid Value: {exc}", "invalid", location="q") from None
        size = _int_arg(req, "pageSize", 100, 1, 1000)
        token = req.arg("pageToken")
        offset = 0
        if token:
            decoded = _unb64(token)
            if not isinstance(decoded, dict) or "o" not in decoded:
                raise fail(400, "Invalid Value", "invalid", location="pageToken")
            offset = int(decoded["o"])
        root = self.store.root_id
        items = [r for r in self.store.files.values() if r["id"] != root and pred(r)]
        for key in reversed([k.strip() for k in (req.arg("orderBy") or "").split(",") if k]):
            name, _, desc = key.partition(" ")
            if name not in ("name", "modifiedTime", "createdTime", "folder"):
                raise fail(400, f"Invalid Value: orderBy {key}", "invalid", location="orderBy")
            items.sort(key=self._sort_key(name), reverse=desc.strip() == "desc")
        md5 = self._wants_md5(req)
        out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                               "files": [self.render_file(r, md5)
                                         for r in items[offset:offset + size]]}
        if offset + size < len(items):
            out["nextPageToken"] = _b64({"o": offset + size})
        return self._mask(req, out, DRIVE_DEFAULTS["list"])

    @staticmethod
    def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
        if name == "folder":  # folders first
            return lambda r: r["mimeType"] != FOLDER
        return lambda r: str(r[name])

    def files_get(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        if req.arg("alt") != "media":
            return self._mask(req, self.render_file(rec, self._wants_md5(req)),
                              DRIVE_DEFAULTS["file"])
        if rec["mimeType"].startswith("application/vnd.google-apps"):
            raise fail(403, "Only files with binary content can be downloaded. Use Export with "
                       "Docs Editors files.", "fileNotDownloadable", location="alt")
        data = self.store.content(rec)
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("range", ""))
        if rng:  # MediaIoBaseDownload fetches in chunks with Range
            start = int(rng.group(1))
            end = min(int(rng.group(2)) if rng.group(2) else len(data) - 1, len(data) - 1)
            return Response.raw(data[start:end + 1], rec["mimeType"], status=206, headers={
                "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        return Response.raw(data, rec["mimeType"])

    def files_export(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        target = req.arg("mimeType") or ""
        if rec["mimeType"] == DOC:
            text = self.store.doc_text(rec)
            makers: dict[str, Callable[[], bytes]] = {
                "text/plain": lambda: text.encode("utf-8"),
                "application/pdf": lambda: make_pdf(text.splitlines()),
                DOCX: lambda: make_docx(text),
            }
        elif rec["mimeType"] == SHEET:
            tabs = [(t["title"], t["rows"]) for t in self.store.sheets[rec["id"]]["tabs"]]
            makers = {"text/csv": lambda: self._csv(tabs[0][1]), XLSX: lambda: make_xlsx(tabs)}
        else:
            raise fail(403, "Export only supports Docs Editors files.", "fileNotExportable",
                       location="fileId")
        if target not in makers:
            raise fail(400, "The requested conversion is not supported.", "badRequest",
                       location="convertTo")
        return Response.raw(makers[target](), target)

    @staticmethod
    def _csv(rows: list[list[str]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(rows)
        return buf.getvalue().encode("utf-8")

    def _create(self, meta: dict[str, Any], data: bytes | None, media_type: str) -> dict[str, Any]:
        """A new Drive file from upload metadata (+ bytes); what restore writes."""
        store = self.store
        mime = meta.get("mimeType") or media_type or "application/octet-stream"
        parents = meta.get("parents") or [store.root_id]
        parents = [store.root_id if p == "root" else p for p in parents]
        for parent in parents:
            if parent not in store.files:
                raise fail(404, f"File not found: {parent}.", "notFound", location="parents")
        file_id = store.fid(f"upload:{store.next_id('u')}")
        when = store.stamp()
        gen = "folder" if mime == FOLDER else "sheet" if mime == SHEET else "blob"
        native = mime.startswith("application/vnd.google-apps")
        rec = store.new_file(file_id, str(meta.get("name") or "Untitled"), mime, parents, when, gen,
                          size=None if native else len(data or b""))
        for key in ("description", "properties", "appProperties"):
            if key in meta:
                rec[key] = meta[key]
        for key in ("createdTime", "modifiedTime"):  # Drive lets a restore keep these
            if meta.get(key):
                try:
                    rec[key] = rfc3339(parse_time(meta[key]))
                except ValueError:
                    raise fail(400, f"Invalid value for {key}.", "invalid") from None
        if gen == "sheet":
            text = (data or b"").decode("utf-8-sig")
            rows = [r for r in csv.reader(io.StringIO(text))] or [[]]
            store.sheets[file_id] = {"title": rec["name"], "tabs": [
                {"sheetId": 0, "title": "Sheet1", "rows": rows,
                 "keys": [str(i) for i in range(len(rows))]}]}
        elif data is not None:
            store.blobs[file_id] = data
        store.add_file(rec)
        return rec

    def files_create(self, req: Request) -> Response:
        meta = req.json() or {}
        data = b"" if meta.get("mimeType") == DOC else None
        return self._mask(req, self.render_file(self._create(meta, data, ""), True),
                          DRIVE_DEFAULTS["file"])

    def files_upload(self, req: Request) -> Response:
        kind = req.arg("uploadType") or "media"
        ctype = req.headers.get("content-type", "")
        if kind == "multipart":
            meta, data, media_type = _parse_multipart(ctype, req.body)
        elif kind == "media":
            meta, data, media_type = {}, req.body, ctype
        elif kind == "resumable":
            upload_id = self.store.next_id("up")
            self._uploads[upload_id] = {
                "meta": req.json() or {}, "data": b"",
                "type": req.headers.get("x-upload-content-type", ""),
                "fields": req.arg("fields")}
            location = f"{self.base_url}/upload/drive/v3/files?uploadType=resumable" \
                       f"&upload_id={upload_id}"
            return Response(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        else:
            raise fail(400, f"Invalid upload type {kind}.", "invalid", location="uploadType")
        rec = self._create(meta, data, media_type)
        return self._mask(req, self.render_file(rec, True), DRIVE_DEFAULTS["file"])

    def files_upload_chunk(self, req: Request) -> Response:
        session = self._uploads.get(req.arg("upload_id") or "")
        if session is None:
            raise fail(404, "Upload session not found.", "notFound", location="upload_id")
        span = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\d+|\*)",
                            req.headers.get("content-range", f"bytes 0-0/{len(req.body)}"))
        if span is None:
            raise fail(400, "Invalid Content-Range.", "badContent")
        if span.group(2) is not None and int(span.group(2)) == len(session["data"]):
            session["data"] += req.body
        total = span.group(4)
        got = len(session["data"])
        if total == "*" or got < int(total):
            headers = {"Range": f"bytes=0-{got - 1}"} if got else {}
            return Response(308, b"", headers)
        del self._uploads[req.arg("upload_id") or ""]
        rec = self._create(session["meta"], session["data"], session["type"])
        out = self.render_file(rec, True)
        if session["fields"]:
            out = apply_mask(out, parse_fields(session["fields"]))
        elif not req.arg("fields"):
            out = apply_mask(out, parse_fields(DRIVE_DEFAULTS["file"]))
        return Response.json(out)

    def files_update(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        meta = req.json() or {}
        if "name" in meta:
            rec["name"] = str(meta["name"])
        if "trashed" in meta:
            rec["trashed"] = rec["explicitlyTrashed"] = bool(meta["trashed"])
            if rec["trashed"]:
                rec["trashedTime"] = rfc3339(self.store.stamp())
            else:
                rec.pop("trashedTime", None)
        for key in ("description", "properties"):
            if key in meta:
                rec[key] = meta[key]
        self.store.modify_file(rec, content_changed="name" in meta)
        return self._mask(req, self.render_file(rec, self._wants_md5(req)),
                          DRIVE_DEFAULTS["file"])

    def files_delete(self, req: Request) -> Response:
        rec = self._file(req.params["fid"])
        self.store.delete_file(rec["id"])
        return Response(204, b"", {})

    def changes_start(self, req: Request) -> Response:
        return self._mask(req, {"kind": "drive#startPageToken",
                                "startPageToken": str(len(self.store.changes) + 1)}, None)

    def changes_list(self, req: Request) -> Response:
        store = self.store
        token = req.arg("pageToken")
        if not token:
            raise fail(400, "Required parameter: pageToken", "required", location="pageToken")
        if not token.isdigit() or not 1 <= int(token) <= len(store.changes) + 1:
            raise fail(400, f"Invalid Value: pageToken {token}", "invalid", location="pageToken")
        size = _int_arg(req, "pageSize", 100, 1, 1000)
        removed_too = _bool_arg(req, "includeRemoved", True)
        md5 = self._wants_md5(req)
        items: list[dict[str, Any]] = []
        i = int(token) - 1
        while i < len(store.changes) and len(items) < size:
            change = store.changes[i]
            i += 1
            if store.latest_change.get(change["fileId"]) != change["seq"]:
                continue  # superseded by a newer change of the same file
            if change["removed"] and not removed_too:
                continue
            item = {"kind": "drive#change", "changeType": "file", "type": "file",
                    "time": change["time"], "removed": change["removed"],
                    "fileId": change["fileId"]}
            rec = store.files.get(change["fileId"])
            if not change["removed"] and rec is not None:
                item["file"] = self.render_file(rec, md5)
            items.append(item)
        out: dict[str, Any] = {"kind": "drive#changeList", "changes": items}
        if i < len(store.changes):
            out["nextPageToken"] = str(i + 1)
        else:
            out["newStartPageToken"] = str(len(store.changes) + 1)
        return self._mask(req, out, DRIVE_DEFAULTS["changes"])

    # -- Sheets -------------------------------------------------------------------------

    def _sheet(self, req: Request) -> dict[str, Any]:
        sheet = self.store.sheets.get(req.params["sid"])
        if sheet is None:
            raise sheets_error(404, "Requested entity was not found.")
        return sheet

    def sheets_get(self, req: Request) -> Response:
        sid = req.params["sid"]
        sheet = self._sheet(req)
        out = {
            "spreadsheetId": sid,
            "properties": {"title": self.store.files[sid]["name"], "locale": "en_US",
                           "autoRecalc": "ON_CHANGE", "timeZone": TIMEZONE},
            "sheets": [{"properties": {
                "sheetId": tab["sheetId"], "title": tab["title"], "index": i,
                "sheetType": "GRID", "gridProperties": dict(zip(
                    ("rowCount", "columnCount"), A1Range.grid(tab["rows"]), strict=True)),
            }} for i, tab in enumerate(sheet["tabs"])],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{sid}/edit",
        }
        return self._mask(req, out, None)

    def _values(self, sheet: dict[str, Any], text: str, major: str) -> dict[str, Any]:
        try:
            rng = A1Range.parse(text, [t["title"] for t in sheet["tabs"]])
        except ValueError:
            raise sheets_error(400, f"Unable to parse range: {text}") from None
        tab = next(t for t in sheet["tabs"] if t["title"] == rng.tab)
        out: dict[str, Any] = {"range": rng.render(tab["rows"]), "majorDimension": major}
        values = rng.values(tab["rows"], columns=major == "COLUMNS")
        if values:
            out["values"] = values
        return out

    def values_get(self, req: Request) -> Response:
        sheet = self._sheet(req)
        major = req.arg("majorDimension") or "ROWS"
        return self._mask(req, self._values(sheet, req.params["range"], major), None)

    def values_batch_get(self, req: Request) -> Response:
        sheet = self._sheet(req)
        major = req.arg("majorDimension") or "ROWS"
        ranges = req.query.get("ranges", [])
        return self._mask(req, {"spreadsheetId": req.params["sid"], "valueRanges": [
            self._values(sheet, r, major) for r in ranges]}, None)

    # -- Calendar -----------------------------------------------------------------------

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
                                "nextSyncToken": _b64({"cl": 1}), "items": items}, None)

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
        size = min(_int_arg(req, "maxResults", 250, 1, 1_000_000), 2500)
        sync = req.arg("syncToken")
        show_deleted = _bool_arg(req, "showDeleted")
        since = 0
        if sync is not None:
            for name in ("timeMin", "timeMax", "updatedMin", "orderBy", "q", "iCalUID",
                         "privateExtendedProperty", "sharedExtendedProperty"):
                if req.arg(name) is not None:
                    raise fail(400, f"The parameter {name} cannot be used together with "
                               "syncToken.", "invalid", location=name)
            decoded = _unb64(sync)
            fault = self.faults.take("sync_token_expired", self.vendor,
                                     req.params["_endpoint"], req.path)
            if (fault is not None or not isinstance(decoded, dict)
                    or decoded.get("c") != cal_id or decoded.get("e") != self.store.epoch
                    or not 0 <= int(decoded.get("s", -1)) <= self.store.event_seq):
                message = "Sync token is no longer valid, a full sync is required."
                raise fail(410, message, "fullSyncRequired", domain="calendar")
            since, show_deleted = int(decoded["s"]), True
        page = _unb64(req.arg("pageToken") or "") if req.arg("pageToken") else {}
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
            if order == "startTime" and not _bool_arg(req, "singleEvents"):
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
            out["nextPageToken"] = _b64(more)
        else:
            out["nextSyncToken"] = _b64({"c": cal_id, "s": snapshot, "e": self.store.epoch})
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
