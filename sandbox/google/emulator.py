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
values.get, values.batchGet (A1 ranges), and the writes in
:mod:`sandbox.google.sheets_writes` (values.update, values.append, values.batchUpdate,
batchUpdate with addSheet); Calendar calendarList.list, calendars.get,
events.list (paging, syncToken, showDeleted, timeMin/timeMax/updatedMin, orderBy),
events.get, events.insert, events.import, events.delete; the browser sign-in (authorize with
PKCE, token: :mod:`sandbox.google.signin`). Errors use Google's JSON shapes;
injected 429/403/5xx faults too. A wrong bearer token is a 401.

Not emulated: shared drives, permissions, revisions, recurring events (every visit is a
single event), Sheets formulas, batch requests, watch channels, quotas.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.agency import Agency
from sandbox.faults import FaultPlan
from sandbox.google.calendar import CalendarAPI
from sandbox.google.drive import DriveAPI
from sandbox.google.sheets import SheetsAPI
from sandbox.google.sheets_writes import sheet_write_routes
from sandbox.google.signin import SignInAPI
from sandbox.http import Request, Response

__all__ = ["GoogleEmulator"]


class GoogleEmulator(DriveAPI, SheetsAPI, CalendarAPI, SignInAPI):
    """Drive, Sheets and Calendar behind one routing table (first match wins), and the
    sign-in endpoints (which need no bearer token)."""

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(agency, faults)
        self._add_routes()

    def _add_routes(self) -> None:
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
        self.add_route("GET", "/o/oauth2/v2/auth", "oauth.authorize", self.signin_authorize)
        self.add_route("POST", "/token", "oauth.token", self.signin_token)
