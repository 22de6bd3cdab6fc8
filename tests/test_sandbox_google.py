"""The Google emulator driven by the real, unmodified google-api-python-client over HTTP.

Normal calls go through httplib2 (google-auth's AuthorizedHttp), as a connector would by
default; media uploads, whose URLs the SDK keeps https, go through an httplib2-compatible
adapter over exporter.transport.LoopbackSession (see docs/sandbox-google.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import http.client
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import googleapiclient
import httplib2
import pypdf
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest, MediaInMemoryUpload, MediaIoBaseDownload, build_http

from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox
from sandbox.agency import Agency, ChangeSet
from sandbox.faults import FaultPlan
from sandbox.google import GoogleEmulator
from sandbox.google.store import DOC, FOLDER, OFFICE_CAL, PDF, SHEET, VISITS_CAL
from sandbox.http import EmulatorServer, RequestLog

START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
TOKEN = CREDENTIALS["google"]["token"]
DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


class FastRetryRequest(HttpRequest):
    """The SDK's HttpRequest with tiny back-off sleeps (passed through build()'s
    ``requestBuilder`` hook), so retry tests run fast."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = lambda seconds: time.sleep(min(seconds, 0.01))


class LoopbackHttp:
    """An httplib2.Http look-alike over LoopbackSession: the SDK's https media-upload URLs
    reach the http emulator."""

    def __init__(self, base_url: str, timeout: float = 10) -> None:
        self.session = LoopbackSession(base_url)
        self.timeout = timeout
        self.connections: dict[str, Any] = {}

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: dict[str, str] | None = None, redirections: int = 5,
                connection_type: Any = None) -> tuple[httplib2.Response, bytes]:
        r = self.session.request(method, uri, data=body, headers=headers, timeout=self.timeout,
                                 allow_redirects=False)
        info = {k.lower(): v for k, v in r.headers.items()}
        info["status"] = str(r.status_code)
        return httplib2.Response(info), r.content


class Box:
    """One Google emulator served on an ephemeral port, with SDK clients for it."""

    def __init__(self, clients: int, seed: int = 7, timeout: float = 10) -> None:
        self.agency = Agency(clients=clients, seed=seed, start=START)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.em = GoogleEmulator(self.agency, self.faults)
        self.server = EmulatorServer(self.em, self.log).start()
        self.url = self.server.base_url
        self.drive, self.sheets, self.cal = self.services(timeout=timeout)
        self.upload_drive = self.services(loopback=True)[0]

    def services(self, timeout: float = 10, loopback: bool = False, token: str = TOKEN
                 ) -> tuple[Any, Any, Any]:
        creds = google.oauth2.credentials.Credentials(token=token)
        if loopback:
            raw: Any = LoopbackHttp(self.url, timeout)
        else:
            raw = build_http()
            raw.timeout = timeout
        http = google_auth_httplib2.AuthorizedHttp(creds, http=raw)
        common = {"http": http, "static_discovery": True, "requestBuilder": FastRetryRequest}
        return (
            build("drive", "v3", client_options={"api_endpoint": self.url + "/drive/v3/"},
                  **common),
            build("sheets", "v4", client_options={"api_endpoint": self.url + "/"}, **common),
            build("calendar", "v3", client_options={"api_endpoint": self.url + "/calendar/v3/"},
                  **common),
        )

    def advance(self, days: int) -> ChangeSet:
        with self.em.lock:
            changes = self.agency.advance(days)
            self.em.advance(changes)
        return changes

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    b = Box(clients=25)
    yield b
    b.stop()


@pytest.fixture
def fresh() -> Iterator[Box]:
    b = Box(clients=20, seed=11)
    yield b
    b.faults.clear()
    b.stop()


def all_pages(method: Any, list_next: Any, key: str, **kwargs: Any) -> tuple[list[Any], Any]:
    """Every item of a paged list call, and the last page (for its sync/start token)."""
    items: list[Any] = []
    request = method(**kwargs)
    last = None
    while request is not None:
        last = request.execute()
        items.extend(last.get(key, []))
        request = list_next(request, last)
    return items, last


def error_reason(exc: HttpError) -> str:
    return str(json.loads(exc.content)["error"]["errors"][0]["reason"])


def client_folder(box: Box, number: str) -> dict[str, Any]:
    res = box.drive.files().list(
        q=f"name contains '({number})' and mimeType = '{FOLDER}'",
        fields="files(id,name)").execute()
    assert len(res["files"]) == 1
    return dict(res["files"][0])


def care_sheet_id(box: Box) -> str:
    res = box.drive.files().list(q=f"name = 'Care Tasks and MAR' and mimeType = '{SHEET}'",
                                 fields="files(id)").execute()
    return str(res["files"][0]["id"])


# -- auth and errors --------------------------------------------------------------------------


def test_wrong_token_is_a_google_401(box: Box) -> None:
    drive = box.services(token="wrong")[0]
    with pytest.raises(google.auth.exceptions.RefreshError):  # the SDK's answer to a 401
        drive.files().list().execute()
    raw = LoopbackSession(box.url).get(box.url + "/drive/v3/files",
                                       headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert raw.status_code == 401
    assert raw.json()["error"]["errors"][0]["reason"] == "authError"
    assert raw.json()["error"]["code"] == 401
    with pytest.raises(HttpError) as missing:
        box.drive.files().get(fileId="nope").execute()
    assert missing.value.resp.status == 404 and error_reason(missing.value) == "notFound"


# -- Calendar ---------------------------------------------------------------------------------


def test_calendar_list_and_events_paged_to_the_end(box: Box) -> None:
    cals = box.cal.calendarList().list().execute()
    assert {c["id"] for c in cals["items"]} == {VISITS_CAL, OFFICE_CAL}
    assert box.cal.calendars().get(calendarId=VISITS_CAL).execute()["id"] == VISITS_CAL
    items, last = all_pages(box.cal.events().list, box.cal.events().list_next, "items",
                            calendarId=VISITS_CAL, singleEvents=True, maxResults=97)
    expected = [e for e in box.em.store.calendars[VISITS_CAL]["events"].values()
                if e["status"] != "cancelled"]
    assert len(items) == len(expected) > 500
    assert len({e["id"] for e in items}) == len(items)
    assert "nextSyncToken" in last and "nextPageToken" not in last
    assert box.log.count("google", "calendar.events.list") >= len(items) // 97
    visit = items[0]
    number = visit["extendedProperties"]["private"]["client_number"]
    client = box.agency.clients[number]
    assert visit["summary"] == f"Visit: {client.full_name} ({number})"
    assert visit["location"].startswith(client.street)
    assert visit["start"]["timeZone"] == "America/Chicago"
    assert visit["attendees"][0]["email"].endswith("@sunrise-homecare.example")
    assert visit["iCalUID"] and visit["etag"] and visit["sequence"] == 0
    tasks = {t["task"] for t in client.care_tasks}
    assert visit["description"].split("\n")[0] in tasks
    got = box.cal.events().get(calendarId=VISITS_CAL, eventId=visit["id"]).execute()
    assert got == visit
    office = box.cal.events().list(calendarId="primary").execute()["items"]
    assert any(e["summary"] == "Staff meeting" for e in office)


def test_events_time_window_and_order(box: Box) -> None:
    t0, t1 = START + dt.timedelta(days=1), START + dt.timedelta(days=3)
    res = box.cal.events().list(
        calendarId=VISITS_CAL, singleEvents=True, orderBy="startTime", maxResults=2500,
        timeMin=t0.isoformat(), timeMax=t1.isoformat()).execute()
    starts = [dt.datetime.fromisoformat(e["start"]["dateTime"]) for e in res["items"]]
    assert starts and starts == sorted(starts)
    assert all(t0 - dt.timedelta(hours=1) < s < t1 for s in starts)
    window = [e for e in box.em.store.calendars[VISITS_CAL]["events"].values()
              if t0.timestamp() < e["_end"] and e["_start"] < t1.timestamp()]
    assert len(res["items"]) == len(window)
    with pytest.raises(HttpError) as exc:  # startTime ordering needs singleEvents
        box.cal.events().list(calendarId=VISITS_CAL, orderBy="startTime").execute()
    assert exc.value.resp.status == 400
    with pytest.raises(HttpError) as missing:
        box.cal.events().get(calendarId=VISITS_CAL, eventId="nosuchevent").execute()
    assert missing.value.resp.status == 404


def test_sync_token_shows_edits_and_cancellations(fresh: Box) -> None:
    _, last = all_pages(fresh.cal.events().list, fresh.cal.events().list_next, "items",
                        calendarId=VISITS_CAL, maxResults=500)
    token = last["nextSyncToken"]
    empty = fresh.cal.events().list(calendarId=VISITS_CAL, syncToken=token).execute()
    assert empty["items"] == [] and empty["nextSyncToken"]
    moved = fresh.advance(8)
    assert moved.discharged, "seed 11 discharges C-00006 within eight days"
    changed, last = all_pages(fresh.cal.events().list, fresh.cal.events().list_next, "items",
                              calendarId=VISITS_CAL, syncToken=token, maxResults=50)
    assert any(e["status"] == "cancelled" for e in changed)
    assert any(e["status"] == "confirmed" and e["sequence"] > 0 for e in changed)  # rescheduled
    assert any(e["sequence"] == 0 for e in changed)  # new days of visits
    assert len({e["id"] for e in changed}) == len(changed)
    now = moved.now.timestamp()
    for number in moved.discharged:  # every future visit of a discharged client is cancelled
        future = [e for e in fresh.em.store.calendars[VISITS_CAL]["events"].values()
                  if e["extendedProperties"]["private"]["client_number"] == number
                  and e["_start"] >= now]
        assert future and all(e["status"] == "cancelled" for e in future)
        assert {e["id"] for e in future} <= {e["id"] for e in changed}
    recent = fresh.cal.events().list(calendarId=VISITS_CAL, updatedMin=moved.now.isoformat(),
                                     orderBy="updated", maxResults=2500).execute()["items"]
    assert recent and len(recent) < len(changed)  # cancelled ones hidden without showDeleted
    assert [e["updated"] for e in recent] == sorted(e["updated"] for e in recent)
    assert all(e["updated"] >= moved.now.strftime("%Y-%m-%dT") for e in recent)
    for e in changed:
        assert e["updated"] >= moved.now.strftime("%Y-%m-%dT")
    with pytest.raises(HttpError) as bad:  # sync tokens don't combine with filters
        fresh.cal.events().list(calendarId=VISITS_CAL, syncToken=last["nextSyncToken"],
                                timeMin=START.isoformat()).execute()
    assert bad.value.resp.status == 400
    with pytest.raises(HttpError) as gone:
        fresh.cal.events().list(calendarId=VISITS_CAL, syncToken="garbage").execute()
    assert gone.value.resp.status == 410 and error_reason(gone.value) == "fullSyncRequired"


def test_expired_sync_token_then_full_resync(fresh: Box) -> None:
    _, last = all_pages(fresh.cal.events().list, fresh.cal.events().list_next, "items",
                        calendarId=VISITS_CAL, maxResults=1000)
    fresh.faults.add("google", "sync_token_expired", times=1)
    with pytest.raises(HttpError) as exc:
        fresh.cal.events().list(calendarId=VISITS_CAL, syncToken=last["nextSyncToken"]).execute()
    body = json.loads(exc.value.content)["error"]
    assert exc.value.resp.status == 410
    assert body["message"] == "Sync token is no longer valid, a full sync is required."
    assert body["errors"][0]["domain"] == "calendar"
    items, again = all_pages(fresh.cal.events().list, fresh.cal.events().list_next, "items",
                             calendarId=VISITS_CAL, maxResults=1000, showDeleted=True)
    assert len(items) == len(fresh.em.store.calendars[VISITS_CAL]["events"])
    ok = fresh.cal.events().list(calendarId=VISITS_CAL, syncToken=again["nextSyncToken"]).execute()
    assert ok["items"] == []


# -- Drive --------------------------------------------------------------------------------------


def test_files_list_q_and_paging(box: Box) -> None:
    clients = box.drive.files().list(q="name = 'Clients' and trashed = false",
                                     fields="files(id)").execute()["files"]
    assert len(clients) == 1
    folders, last = all_pages(
        box.drive.files().list, box.drive.files().list_next, "files",
        q=f"'{clients[0]['id']}' in parents and mimeType = '{FOLDER}'", pageSize=7,
        fields="nextPageToken, files(id,name,parents)")
    assert len(folders) == 25 and "nextPageToken" not in last
    assert all(f["parents"] == [clients[0]["id"]] for f in folders)
    top = box.drive.files().list(q="'root' in parents", fields="files(name)").execute()
    assert sorted(f["name"] for f in top["files"]) == ["Clients", "Office"]
    number = "C-00003"
    folder = client_folder(box, number)
    inside = box.drive.files().list(q=f"'{folder['id']}' in parents",
                                    fields="files(name,mimeType)").execute()["files"]
    names = {f["name"]: f["mimeType"] for f in inside}
    assert names[f"Signed care plan {number}.pdf"] == PDF
    assert names[f"Care notes {number}"] == DOC
    not_folders = box.drive.files().list(
        q=f"mimeType != '{FOLDER}' and (mimeType = '{PDF}' or mimeType = '{SHEET}')",
        pageSize=1000, fields="files(mimeType)").execute()["files"]
    assert {f["mimeType"] for f in not_folders} == {PDF, SHEET}
    assert sum(f["mimeType"] == SHEET for f in not_folders) == 2
    newer = box.drive.files().list(
        q=f"modifiedTime > '{(START - dt.timedelta(days=3)).isoformat()}' and not "
          f"mimeType = '{FOLDER}'", pageSize=1000, fields="files(modifiedTime)").execute()
    assert newer["files"] and all(f["modifiedTime"] > "2026-02-27" for f in newer["files"])
    ordered = box.drive.files().list(q=f"mimeType = '{DOC}'", orderBy="name desc",
                                     pageSize=5).execute()["files"]
    assert [f["name"] for f in ordered] == sorted((f["name"] for f in ordered), reverse=True)
    for bad in ("name = ", "foo = 'x'", "(name = 'x'", "name > 'x'"):
        with pytest.raises(HttpError) as exc:
            box.drive.files().list(q=bad).execute()
        assert exc.value.resp.status == 400, bad


def test_partial_responses(box: Box) -> None:
    default = box.drive.files().list(pageSize=3).execute()
    assert set(default) == {"kind", "incompleteSearch", "nextPageToken", "files"}
    assert all(set(f) == {"kind", "id", "name", "mimeType"} for f in default["files"])
    narrow = box.drive.files().list(pageSize=3, fields="nextPageToken, files(id,name)").execute()
    assert set(narrow) == {"nextPageToken", "files"}
    assert all(set(f) == {"id", "name"} for f in narrow["files"])
    pdf_q = f"mimeType = '{PDF}'"
    full = box.drive.files().list(q=pdf_q, pageSize=2, fields="*").execute()
    assert {"md5Checksum", "size", "parents", "modifiedTime", "trashed"} <= set(full["files"][0])
    one = box.drive.files().get(fileId=full["files"][0]["id"]).execute()
    assert set(one) == {"kind", "id", "name", "mimeType"}
    nested = box.drive.files().get(fileId=one["id"], fields="id,owners/emailAddress").execute()
    assert nested == {"id": one["id"], "owners": [{"emailAddress": OFFICE_CAL}]}


def test_download_matches_size_and_md5(box: Box) -> None:
    pdfs = box.drive.files().list(q=f"mimeType = '{PDF}'", pageSize=1000,
                                  fields="files(id,name,size,md5Checksum)").execute()["files"]
    big = [f for f in pdfs if int(f["size"]) > 2_000_000]
    assert big, "a few care plans are several-MB scans"
    for meta in [pdfs[0], big[0]]:
        data = box.drive.files().get_media(fileId=meta["id"]).execute()
        assert len(data) == int(meta["size"])
        assert hashlib.md5(data).hexdigest() == meta["md5Checksum"]  # noqa: S324
        assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Signed care plan" in text
    buf = io.BytesIO()  # chunked download with Range requests
    down = MediaIoBaseDownload(buf, box.drive.files().get_media(fileId=big[0]["id"]),
                               chunksize=1024 * 1024)
    done = False
    while not done:
        _, done = down.next_chunk()
    assert buf.getvalue() == data
    again = box.drive.files().get_media(fileId=big[0]["id"]).execute()
    assert again == data  # deterministic bytes


def test_exports_and_native_files(box: Box) -> None:
    number = "C-00002"
    doc = box.drive.files().list(q=f"name = 'Care notes {number}'",
                                 fields="files(id,size,md5Checksum)").execute()["files"][0]
    assert "size" not in doc and "md5Checksum" not in doc
    client = box.agency.clients[number]
    text = box.drive.files().export(fileId=doc["id"], mimeType="text/plain").execute()
    assert client.full_name in text.decode("utf-8")
    pdf = box.drive.files().export(fileId=doc["id"], mimeType="application/pdf").execute()
    assert f"({number})" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    docx_mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    docx = box.drive.files().export(fileId=doc["id"], mimeType=docx_mime).execute()
    assert "word/document.xml" in zipfile.ZipFile(io.BytesIO(docx)).namelist()
    sheet_id = care_sheet_id(box)
    csv_bytes = box.drive.files().export(fileId=sheet_id, mimeType="text/csv").execute()
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"))))
    assert rows[0] == ["Client Number", "Client", "Day", "Time", "Task", "Notes"]
    xlsx_mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    xlsx = box.drive.files().export(fileId=sheet_id, mimeType=xlsx_mime).execute()
    assert "xl/worksheets/sheet2.xml" in zipfile.ZipFile(io.BytesIO(xlsx)).namelist()
    with pytest.raises(HttpError) as unsupported:
        box.drive.files().export(fileId=doc["id"], mimeType="image/png").execute()
    assert unsupported.value.resp.status == 400
    with pytest.raises(HttpError) as native:
        box.drive.files().get_media(fileId=doc["id"]).execute()
    assert native.value.resp.status == 403 and error_reason(native.value) == "fileNotDownloadable"
    pdf_id = box.drive.files().list(q=f"mimeType = '{PDF}'").execute()["files"][0]["id"]
    with pytest.raises(HttpError) as binary:
        box.drive.files().export(fileId=pdf_id, mimeType="text/plain").execute()
    assert binary.value.resp.status == 403 and error_reason(binary.value) == "fileNotExportable"


def test_changes_feed_after_time_travel(fresh: Box) -> None:
    start = fresh.drive.changes().getStartPageToken().execute()["startPageToken"]
    empty = fresh.drive.changes().list(pageToken=start).execute()
    assert empty["changes"] == [] and empty["newStartPageToken"] == start
    before = {f["id"]: f for f in all_pages(
        fresh.drive.files().list, fresh.drive.files().list_next, "files", pageSize=1000,
        fields="nextPageToken, files(id,name,version,modifiedTime,trashed)")[0]}
    fresh.advance(5)
    changes, last = all_pages(fresh.drive.changes().list, fresh.drive.changes().list_next,
                              "changes", pageToken=start, pageSize=2, fields="*")
    assert int(last["newStartPageToken"]) > int(start)
    removed = [c for c in changes if c["removed"]]
    assert removed and all("file" not in c for c in removed)
    assert all(c["fileId"] in before for c in removed)
    trashed = [c for c in changes if not c["removed"] and c["file"]["trashed"]]
    assert trashed
    edited = [c for c in changes if not c["removed"] and c["fileId"] in before
              and c["file"]["mimeType"] == DOC]
    assert edited and all(int(c["file"]["version"]) > int(before[c["fileId"]]["version"])
                          and c["file"]["modifiedTime"] > before[c["fileId"]]["modifiedTime"]
                          for c in edited)
    assert any(c["fileId"] not in before for c in changes)  # new folders, docs and PDFs
    with pytest.raises(HttpError) as gone:
        fresh.drive.files().get(fileId=removed[0]["fileId"]).execute()
    assert gone.value.resp.status == 404
    listed = fresh.drive.files().list(q="trashed = true", pageSize=1000).execute()["files"]
    assert {c["fileId"] for c in trashed} <= {f["id"] for f in listed}
    quiet = fresh.drive.changes().list(pageToken=last["newStartPageToken"]).execute()
    assert quiet["changes"] == []
    no_removed = fresh.drive.changes().list(pageToken=start, includeRemoved=False,
                                            pageSize=1000).execute()["changes"]
    assert not any(c["removed"] for c in no_removed)
    with pytest.raises(HttpError) as bad:
        fresh.drive.changes().list(pageToken="999999").execute()
    assert bad.value.resp.status == 400


# -- Sheets -------------------------------------------------------------------------------------


def test_sheets_values_and_ranges(box: Box) -> None:
    sid = care_sheet_id(box)
    meta = box.sheets.spreadsheets().get(spreadsheetId=sid).execute()
    assert meta["properties"]["title"] == "Care Tasks and MAR"
    tabs = [s["properties"] for s in meta["sheets"]]
    assert [t["title"] for t in tabs] == ["Care Tasks", "Medications"]
    assert tabs[1]["index"] == 1 and tabs[0]["gridProperties"]["rowCount"] >= 1000
    tasks = box.sheets.spreadsheets().values().get(spreadsheetId=sid,
                                                   range="'Care Tasks'!A1:F").execute()
    assert tasks["range"] == "'Care Tasks'!A1:F1000" and tasks["majorDimension"] == "ROWS"
    n_tasks = sum(len(c.care_tasks) for c in box.agency.clients.values())
    assert len(tasks["values"]) == n_tasks + 1
    assert any(len(r) == 5 for r in tasks["values"])  # empty Notes: trailing cell omitted
    meds = box.sheets.spreadsheets().values().get(spreadsheetId=sid,
                                                  range="Medications").execute()
    assert meds["range"] == "Medications!A1:Z1000"
    prn = [r for r in meds["values"][1:] if len(r) == 8]
    assert prn and all(r[5] == "" for r in prn)  # empty Times mid-row, As needed filled
    assert all(len(r) == 7 for r in meds["values"][1:] if r[5])  # trailing As needed omitted
    batch = box.sheets.spreadsheets().values().batchGet(
        spreadsheetId=sid, ranges=["Care Tasks!A1:B2", "'Medications'!C2", "Z1:Z5"]).execute()
    vr = batch["valueRanges"]
    assert vr[0]["range"] == "'Care Tasks'!A1:B2"
    assert vr[0]["values"] == [r[:2] for r in tasks["values"][:2]]
    assert vr[1]["range"] == "Medications!C2" and vr[1]["values"] == [[meds["values"][1][2]]]
    assert "values" not in vr[2]  # nothing there: values omitted
    cols = box.sheets.spreadsheets().values().get(spreadsheetId=sid, range="Medications!A1:A3",
                                                  majorDimension="COLUMNS").execute()
    assert cols["values"] == [[r[0] for r in meds["values"][:3]]]
    with pytest.raises(HttpError) as bad:
        box.sheets.spreadsheets().values().get(spreadsheetId=sid, range="Nope!A1").execute()
    assert bad.value.resp.status == 400
    with pytest.raises(HttpError) as missing:
        box.sheets.spreadsheets().get(spreadsheetId="unknown").execute()
    assert missing.value.resp.status == 404
    roster = box.drive.files().list(q="name = 'Caregiver Roster'").execute()["files"][0]
    rows = box.sheets.spreadsheets().values().get(spreadsheetId=roster["id"],
                                                  range="Roster").execute()["values"]
    assert rows[0][:2] == ["Name", "Email"] and any(r[3] == "" for r in rows[1:])


def test_sheets_follow_time_travel(fresh: Box) -> None:
    sid = care_sheet_id(fresh)
    before = fresh.sheets.spreadsheets().values().get(spreadsheetId=sid,
                                                      range="Medications").execute()["values"]
    changes = fresh.agency.advance(6)
    with fresh.em.lock:
        fresh.em.advance(changes)
    after = fresh.sheets.spreadsheets().values().get(spreadsheetId=sid,
                                                     range="Medications").execute()["values"]
    assert before != after
    keys = fresh.em.store.care_sheet["tabs"][1]["keys"]
    for key in changes.new_medications + changes.edited_medications + changes.stopped_medications:
        client = fresh.agency.clients[key.rsplit("-M", 1)[0]]
        med = next(m for m in client.medications if m.key == key)
        assert (key in keys) == (med.active and client.status == "Active")
        if key in keys:
            assert after[keys.index(key)][3] == med.dose
    for number in changes.discharged:
        assert not any(r[0] == number for r in after[1:])
    for number in changes.new_clients:
        assert any(r[0] == number for r in after[1:])


# -- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "status", "reason"), [
    ("rate_limit", None, "rateLimitExceeded"),
    ("rate_limit", 403, "userRateLimitExceeded"),
    ("server_error", 500, "backendError"),
    ("server_error", 503, "backendError"),
])
def test_retryable_faults(fresh: Box, kind: str, status: int | None, reason: str) -> None:
    fresh.faults.add("google", kind, endpoint="drive.files.list", times=2, status=status)
    res = fresh.drive.files().list(pageSize=1).execute(num_retries=3)
    assert len(res["files"]) == 1
    assert fresh.log.count("google", "drive.files.list") == 3
    fresh.faults.add("google", kind, endpoint="calendar.events.list", times=1, status=status)
    with pytest.raises(HttpError) as exc:
        fresh.cal.events().list(calendarId=VISITS_CAL).execute()
    assert exc.value.resp.status == (status or 429)
    assert error_reason(exc.value) == reason
    fresh.faults.add("google", kind, endpoint="drive.files.get", status=status, retry_after=2)
    raw = LoopbackSession(fresh.url).get(fresh.url + "/drive/v3/files/x", timeout=5)
    assert raw.status_code == (status or 429) and raw.headers["Retry-After"] == "2"
    fresh.faults.clear()


def test_slow_and_timeout(fresh: Box) -> None:
    drive = fresh.services(timeout=0.5)[0]
    fresh.faults.add("google", "slow", endpoint="drive.files.list", delay=0.2)
    assert drive.files().list(pageSize=1).execute()["files"]
    fresh.faults.add("google", "timeout", endpoint="drive.files.list", delay=1.0)
    with pytest.raises(TimeoutError):
        drive.files().list(pageSize=1).execute()
    fresh.faults.add("google", "timeout", endpoint="drive.files.list", delay=1.0)
    assert drive.files().list(pageSize=1).execute(num_retries=2)["files"]  # retried
    fresh.faults.clear()


def test_truncated_and_malformed(fresh: Box) -> None:
    fresh.faults.add("google", "truncated", endpoint="drive.files.list")
    with pytest.raises(http.client.IncompleteRead):  # not retried by execute(num_retries)
        fresh.drive.files().list(pageSize=50).execute(num_retries=2)
    fresh.faults.add("google", "malformed", endpoint="drive.files.list")
    # SDK quirk: a body that is not JSON comes back as the raw string, not an error.
    garbled = fresh.drive.files().list(pageSize=5).execute()
    assert isinstance(garbled, str) and "Bad gateway" in garbled
    assert len(fresh.drive.files().list(pageSize=5).execute()["files"]) == 5
    fresh.faults.clear()


# -- discovery-document conformance --------------------------------------------------------------


class SchemaChecker:
    """Checks a response against a discovery document: every key must be declared by the
    schema (walking $ref, properties, additionalProperties, items) with a compatible type."""

    def __init__(self, api: str) -> None:
        self.doc = json.loads((DOCS / f"{api}.json").read_text())
        self.checked = 0

    def check(self, value: Any, schema: dict[str, Any], path: str = "$") -> None:
        if "$ref" in schema:
            schema = self.doc["schemas"][schema["$ref"]]
        self.checked += 1
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            assert isinstance(value, dict), path
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, sub in value.items():
                assert key in props or extra, f"{path}.{key} is not in the schema"
                self.check(sub, props.get(key) or extra, f"{path}.{key}")
        elif kind == "array":
            assert isinstance(value, list), path
            for i, item in enumerate(value):
                self.check(item, schema["items"], f"{path}[{i}]")
        elif kind == "string":
            assert isinstance(value, str), f"{path}: {value!r} is not a string"
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), path
        elif kind == "number":
            assert isinstance(value, int | float) and not isinstance(value, bool), path
        elif kind == "boolean":
            assert isinstance(value, bool), path

    def response(self, value: Any, *method_path: str) -> None:
        node: dict[str, Any] = self.doc
        for i, name in enumerate(method_path):
            node = node["resources" if i < len(method_path) - 1 else "methods"][name]
        self.check(value, node["response"])


def test_responses_match_discovery_schemas(fresh: Box) -> None:
    fresh.advance(2)
    drive, sheets, cal = (SchemaChecker(n) for n in ("drive.v3", "sheets.v4", "calendar.v3"))
    files = fresh.drive.files().list(pageSize=1000, fields="*").execute()
    drive.response(files, "files", "list")
    drive.response(fresh.drive.files().get(fileId=files["files"][0]["id"], fields="*").execute(),
                   "files", "get")
    drive.response(fresh.drive.changes().getStartPageToken().execute(),
                   "changes", "getStartPageToken")
    drive.response(fresh.drive.changes().list(pageToken="1", fields="*").execute(),
                   "changes", "list")
    sid = care_sheet_id(fresh)
    sheets.response(fresh.sheets.spreadsheets().get(spreadsheetId=sid).execute(),
                    "spreadsheets", "get")
    sheets.response(fresh.sheets.spreadsheets().values().get(
        spreadsheetId=sid, range="Medications").execute(), "spreadsheets", "values", "get")
    sheets.response(fresh.sheets.spreadsheets().values().batchGet(
        spreadsheetId=sid, ranges=["Care Tasks", "Medications!A1:C3"]).execute(),
        "spreadsheets", "values", "batchGet")
    cal.response(fresh.cal.calendarList().list().execute(), "calendarList", "list")
    events = fresh.cal.events().list(calendarId=VISITS_CAL, showDeleted=True,
                                     maxResults=2500).execute()
    cal.response(events, "events", "list")
    cal.response(fresh.cal.events().get(calendarId=VISITS_CAL,
                                        eventId=events["items"][0]["id"]).execute(),
                 "events", "get")
    assert drive.checked > 1000 and cal.checked > 1000 and sheets.checked > 20


# -- writes, state, scale ----------------------------------------------------------------------


def test_empty_account_accepts_writes() -> None:
    b = Box(clients=0)
    try:
        assert b.drive.files().list(q=f"mimeType = '{PDF}'").execute()["files"] == []
        assert b.cal.events().list(calendarId=VISITS_CAL).execute()["items"] == []
        folder = b.drive.files().create(body={"name": "Restored", "mimeType": FOLDER},
                                        fields="id,name,mimeType").execute()
        payload = bytes(range(256)) * 40
        multi = b.upload_drive.files().create(
            body={"name": "care plan.pdf", "parents": [folder["id"]],
                  "properties": {"client_number": "C-00009"},
                  "modifiedTime": "2025-05-01T10:00:00.000Z"},
            media_body=MediaInMemoryUpload(payload, mimetype=PDF),
            fields="id,size,md5Checksum,parents,modifiedTime,properties").execute()
        assert multi["size"] == str(len(payload)) and multi["parents"] == [folder["id"]]
        assert multi["md5Checksum"] == hashlib.md5(payload).hexdigest()  # noqa: S324
        assert multi["modifiedTime"] == "2025-05-01T10:00:00.000Z"
        big = b"resumable " * 30_000
        resumable = b.upload_drive.files().create(
            body={"name": "scan.pdf"},
            media_body=MediaInMemoryUpload(big, mimetype=PDF, resumable=True,
                                           chunksize=256 * 1024)).execute()
        assert b.drive.files().get_media(fileId=resumable["id"]).execute() == big
        assert b.drive.files().get_media(fileId=multi["id"]).execute() == payload
        doc = b.upload_drive.files().create(
            body={"name": "Care notes C-00009", "mimeType": DOC},
            media_body=MediaInMemoryUpload(b"Notes here", mimetype="text/plain"),
        ).execute()
        assert b.drive.files().export(fileId=doc["id"], mimeType="text/plain"
                                      ).execute() == b"Notes here"
        changes = b.drive.changes().list(pageToken="1").execute()["changes"]
        assert {c["fileId"] for c in changes} == {folder["id"], multi["id"], resumable["id"],
                                                  doc["id"]}
        trashed = b.drive.files().update(fileId=multi["id"], body={"trashed": True},
                                         fields="id,trashed").execute()
        assert trashed == {"id": multi["id"], "trashed": True}
        b.drive.files().delete(fileId=resumable["id"]).execute()
        feed = b.drive.changes().list(pageToken="1", fields="*").execute()["changes"]
        assert {c["fileId"] for c in feed if c["removed"]} == {resumable["id"]}
        assert [c["file"]["trashed"] for c in feed if c["fileId"] == multi["id"]] == [True]
        body = {"summary": "Visit: Restored (C-00009)",
                "start": {"dateTime": "2026-03-03T08:00:00-06:00", "timeZone": "America/Chicago"},
                "end": {"dateTime": "2026-03-03T09:00:00-06:00", "timeZone": "America/Chicago"},
                "extendedProperties": {"private": {"client_number": "C-00009"}}}
        inserted = b.cal.events().insert(calendarId=VISITS_CAL, body=body).execute()
        imported = b.cal.events().import_(calendarId=VISITS_CAL, body={
            **body, "iCalUID": "v00009d20260304t0800@google.com", "sequence": 2}).execute()
        again = b.cal.events().import_(calendarId=VISITS_CAL, body={
            **body, "summary": "changed", "iCalUID": "v00009d20260304t0800@google.com"}).execute()
        assert again["id"] == imported["id"] and again["summary"] == "changed"
        listed = b.cal.events().list(calendarId=VISITS_CAL).execute()["items"]
        assert {e["id"] for e in listed} == {inserted["id"], imported["id"]}
        assert b.cal.events().get(calendarId=VISITS_CAL, eventId=inserted["id"]
                                  ).execute()["extendedProperties"] == body["extendedProperties"]
        with pytest.raises(HttpError) as dup:
            b.cal.events().insert(calendarId=VISITS_CAL,
                                  body={**body, "id": inserted["id"]}).execute()
        assert dup.value.resp.status == 409
        b.cal.events().delete(calendarId=VISITS_CAL, eventId=inserted["id"]).execute()
        assert b.cal.events().get(calendarId=VISITS_CAL, eventId=inserted["id"]
                                  ).execute()["status"] == "cancelled"
    finally:
        b.stop()


def test_state_round_trip(tmp_path: Path) -> None:
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    with Sandbox(clients=15, seed=3, start=start, state=tmp_path / "s.json") as sb:
        sb.advance(2)
        url = sb.urls["google"]
        creds = google.oauth2.credentials.Credentials(token=TOKEN)
        cal = build("calendar", "v3", credentials=creds, static_discovery=True,
                    client_options={"api_endpoint": url + "/calendar/v3/"})
        first = cal.events().list(calendarId=VISITS_CAL, maxResults=2500).execute()
        dump = sb.google.dump_state()
    assert json.loads(json.dumps(dump)) == dump
    with Sandbox(clients=15, seed=3, start=start, state=tmp_path / "s.json") as sb2:
        assert sb2.google.dump_state() == dump
        cal2 = build("calendar", "v3", credentials=creds, static_discovery=True,
                     client_options={"api_endpoint": sb2.urls["google"] + "/calendar/v3/"})
        second = cal2.events().list(calendarId=VISITS_CAL, maxResults=2500).execute()
        assert second["items"] == first["items"]
        assert second["nextSyncToken"] == first["nextSyncToken"]  # tokens survive a restart
        sb2.advance(1)
        delta = cal2.events().list(calendarId=VISITS_CAL,
                                   syncToken=first["nextSyncToken"]).execute()
        assert delta["items"]


def test_deterministic() -> None:
    def make(seed: int) -> dict[str, Any]:
        return GoogleEmulator(Agency(clients=10, seed=seed, start=START)).dump_state()

    assert make(5) == make(5)
    assert make(5) != make(6)


def test_concurrent_reads_during_time_travel(fresh: Box) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            drive, _, cal = fresh.services()  # httplib2 objects are not thread-safe: one each
            for _ in range(3):
                files, _ = all_pages(drive.files().list, drive.files().list_next, "files",
                                     pageSize=50)
                assert files
                items, _ = all_pages(cal.events().list, cal.events().list_next, "items",
                                     calendarId=VISITS_CAL, maxResults=300)
                assert items
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        fresh.advance(1)
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_paging_a_large_calendar_returns_every_event_once() -> None:
    """Speed is bench/emulators.py's to measure; here, every event comes back exactly once."""
    b = Box(clients=300)
    try:
        items, _ = all_pages(b.cal.events().list, b.cal.events().list_next, "items",
                             calendarId=VISITS_CAL, maxResults=2500)
        assert len(items) > 10_000
        assert len({i["id"] for i in items}) == len(items)
    finally:
        b.stop()
