"""The Google connector with the real google-api-python-client against the sandbox.

Each test compares the archive with the emulator's own data, stream by stream and field by
field (bodies and exports byte for byte), after full and incremental syncs, under faults.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httplib2
import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient.errors import HttpError

from connectors.google.client import source_error
from exporter.archive import Archive
from exporter.connector import Connector
from exporter.errors import AuthError, ConfigError, QuotaExhausted, SourceError, TransientError
from exporter.sources import build_connector
from exporter.sync import SyncReport, run_sync
from sandbox import Sandbox
from sandbox.google.content import make_docx, make_pdf, make_xlsx
from sandbox.google.store import DOC, SHEET

START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
SRC = "google"
STREAMS = ("drive_files", "sheet_rows", "calendars", "calendar_events")
View = dict[str, tuple[bool, Any]]  # record id -> (deleted, data)


# -- helpers --------------------------------------------------------------------------------

def connector(sb: Sandbox, tmp_path: Path, **extra: Any) -> Connector:
    table = {**sb.source_configs(tmp_path / "secrets")[SRC], **extra}
    return build_connector(SRC, table, tmp_path / "config.toml")


def new_archive(tmp_path: Path) -> Archive:
    arc, _recovery = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    return arc


def sync(arc: Archive, sb: Sandbox, tmp_path: Path, full: bool = False,
         **extra: Any) -> SyncReport:
    return run_sync(arc, {SRC: connector(sb, tmp_path, **extra)}, full=full)


def totals(report: SyncReport) -> dict[str, int]:
    """new + changed + deleted per stream (the versions the run added)."""
    return {r.stream: r.new + r.changed + r.deleted for s in report.sources for r in s.streams}


def row_id(header: list[str], row: list[str], keys: list[str] | None, number: int,
           seen: dict[str, int]) -> str:
    if not keys:
        return str(number)
    key = "|".join(row[header.index(k)] if header.index(k) < len(row) else "" for k in keys)
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key}#{seen[key]}"


#: The keys inspection finds in the sandbox's sheets: the roster's emails (the care tasks'
#: and medications' client numbers repeat, so those tabs are keyed by row number).
DETECTED = {"Roster": ["Email"]}


def sandbox_view(sb: Sandbox, stream: str, row_keys: dict[str, list[str]] | None = None
                 ) -> View:
    """What the emulator holds now, as the connector should archive it (rows keyed by
    ``row_keys``, by default the keys inspection finds)."""
    row_keys = DETECTED if row_keys is None else row_keys
    g = sb.google
    store = g.store
    out: View = {}
    with g.lock:
        if stream == "drive_files":
            for fid, rec in store.files.items():
                if fid != store.root_id:
                    out[fid] = (False, g.render_file(rec, True))
        elif stream == "sheet_rows":
            for sid, sheet in store.sheets.items():
                if store.files[sid]["trashed"]:
                    continue
                for tab in sheet["tabs"]:
                    header, seen = tab["rows"][0], dict[str, int]()
                    for number, cells in enumerate(tab["rows"][1:], start=2):
                        row = list(cells)
                        while row and row[-1] == "":  # the API omits trailing empty cells
                            row.pop()
                        if row:
                            key = row_id(header, row, (row_keys or {}).get(tab["title"]),
                                         number, seen)
                            rid = f"{sid}/{tab['title']}/{key}"
                            out[rid] = (False, {"id": rid, "spreadsheetId": sid,
                                                "sheet": tab["title"],
                                                "values": dict(zip(header, row, strict=False))})
        elif stream == "calendar_events":
            for cal_id, cal in store.calendars.items():
                for ev in cal["events"].values():
                    data = {k: v for k, v in ev.items() if not k.startswith("_")}
                    data["calendarId"] = cal_id
                    out[ev["id"]] = (ev["status"] == "cancelled", data)
        elif stream == "calendars":
            for cal_id, cal in store.calendars.items():
                out[cal_id] = (False, g._cal_meta(cal_id, cal))
    return out


def archive_view(arc: Archive, stream: str) -> View:
    live = {rid: (False, data) for rid, data in arc.records(SRC, stream)}
    for rid, data in arc.records(SRC, stream, include_deleted=True):
        live.setdefault(rid, (True, data))
    return live


def assert_matches(arc: Archive, sb: Sandbox, stream: str,
                   row_keys: dict[str, list[str]] | None = None) -> None:
    """Every sandbox record is archived as sent; every other archived record is a tombstone."""
    want, got = sandbox_view(sb, stream, row_keys), archive_view(arc, stream)
    missing = sorted(set(want) - set(got))
    assert not missing, f"{stream}: {len(missing)} not archived, e.g. {missing[:3]}"
    for rid, (deleted, data) in want.items():
        assert got[rid][0] == deleted, (stream, rid)
        assert got[rid][1] == data, (stream, rid)
    stale = [rid for rid in set(got) - set(want) if not got[rid][0]]
    assert not stale, f"{stream}: {len(stale)} archived but gone, e.g. {stale[:3]}"


def expected_versions(before: View, after: View) -> int:
    """Versions a perfect incremental sync adds: records whose (deleted, data) changed,
    tombstones for live records that vanished."""
    changed = sum(1 for rid, value in after.items() if before.get(rid) != value)
    return changed + sum(1 for rid, (deleted, _) in before.items()
                         if rid not in after and not deleted)


def file_bytes(arc: Archive, rid: str) -> dict[str, bytes]:
    return {name: b"".join(arc.read_file(h))
            for name, h in arc.files_of(SRC, "drive_files", rid).items()}


def assert_bodies(arc: Archive, sb: Sandbox) -> None:
    """Binary bodies and exports byte for byte against the emulator's own generators."""
    store = sb.google.store
    for fid, rec in store.files.items():
        if fid == store.root_id or rec["mimeType"].startswith("application/vnd.google-apps."):
            if rec["mimeType"] == DOC:
                text = store.doc_text(rec)
                assert file_bytes(arc, fid) == {"export.pdf": make_pdf(text.splitlines()),
                                                "export.docx": make_docx(text)}
            elif rec["mimeType"] == SHEET:
                tabs = [(t["title"], t["rows"]) for t in store.sheets[fid]["tabs"]]
                assert file_bytes(arc, fid) == {"export.xlsx": make_xlsx(tabs)}
            continue
        body = store.content(rec)
        assert file_bytes(arc, fid) == {"content": body}, rec["name"]
        assert hashlib.md5(body).hexdigest() == rec["_md5"]  # noqa: S324 - Drive's checksum


def assert_complete(arc: Archive, sb: Sandbox) -> None:
    for stream in STREAMS:
        assert_matches(arc, sb, stream)
    assert_bodies(arc, sb)


# -- a full sync, an incremental one, and one with nothing to do ------------------------------

def test_full_incremental_and_idle_syncs_match_the_sandbox(tmp_path: Path) -> None:
    with Sandbox(clients=20, seed=5, start=START) as sb:
        arc = new_archive(tmp_path)
        # small chunks: the 2-6 MB scan of client 7 comes in several Range requests
        report = sync(arc, sb, tmp_path, download_chunk_bytes=1 << 20)
        assert report.status == "ok", report.sources[0].error
        assert_complete(arc, sb)
        assert any(int(r["_size"] or 0) > 2 << 20 for r in sb.google.store.files.values())
        conn = connector(sb, tmp_path)
        for declared in conn.streams():  # every record validates against its declared schema
            assert declared.schema is not None
            validator = jsonschema.Draft202012Validator(declared.schema)
            for _rid, data in arc.records(SRC, declared.name):
                validator.validate(data)
        schema = arc.get_schema(SRC, "sheet_rows")
        tabs = {t["properties"]["title"]: t["header"]
                for s in schema["spreadsheets"].values() for t in s["sheets"]}
        assert tabs["Medications"][:3] == ["Client Number", "Client", "Medication"]

        before = {s: archive_view(arc, s) for s in STREAMS}
        versions = {c["stream"]: c["versions"] for c in arc.counts()}
        sb.advance(3)
        sb.log.clear()
        report = sync(arc, sb, tmp_path)
        assert report.status == "ok", report.sources[0].error
        assert_complete(arc, sb)
        added = totals(report)
        counts = {c["stream"]: c for c in arc.counts()}
        for stream in STREAMS:
            want = expected_versions(before[stream], sandbox_view(sb, stream))
            assert added[stream] == want, stream
            assert counts[stream]["versions"] - versions[stream] == want, stream
        deleted = {r.stream: r.deleted for r in report.sources[0].streams}
        assert deleted["drive_files"] >= 1 and deleted["calendar_events"] >= 1
        assert sb.log.count(SRC, "drive.files.list") == 1  # the spreadsheet lookup only
        assert sb.log.count(SRC, "drive.changes.list") == 1

        sb.log.clear()
        versions = {c["stream"]: c["versions"] for c in arc.counts()}
        report = sync(arc, sb, tmp_path)
        assert report.status == "ok"
        assert sum(totals(report).values()) == 0
        assert {c["stream"]: c["versions"] for c in arc.counts()} == versions
        # changes (1) + spreadsheet lookup (1) + 2 per spreadsheet for the schema + calendar
        # list (1) + one events page per calendar (2)
        assert sb.log.count(SRC, "sheets.values.get") == 0
        assert sb.log.count(SRC) == 1 + 1 + 2 * 2 + 1 + 2
        assert report.sources[0].usage["requests"] == sb.log.count(SRC)


# -- faults -----------------------------------------------------------------------------------

FULL_SYNC_FAULTS: list[dict[str, Any]] = [
    {"kind": "rate_limit", "endpoint": "drive.files.list", "retry_after": 0.2},
    {"kind": "rate_limit", "endpoint": "calendar.events.list"},  # no Retry-After: backoff
    {"kind": "rate_limit", "endpoint": "sheets.values.get", "status": 403},
    {"kind": "server_error", "endpoint": "drive.files.get", "status": 500, "after": 3},
    {"kind": "server_error", "endpoint": "drive.files.export", "status": 503},
    {"kind": "slow", "endpoint": "calendar.calendarList.list", "delay": 0.3},
    {"kind": "timeout", "endpoint": "sheets.spreadsheets.get", "delay": 1.5},
    {"kind": "truncated", "endpoint": "drive.files.get", "after": 5},
    {"kind": "truncated", "endpoint": "calendar.events.list", "after": 1},
    {"kind": "malformed", "endpoint": "drive.changes.getStartPageToken"},
    {"kind": "malformed", "endpoint": "sheets.values.batchGet"},
    {"kind": "malformed", "endpoint": "drive.files.get", "after": 8},  # a download
    {"kind": "malformed", "endpoint": "drive.files.export", "after": 2},
]


def test_faults_are_survived_with_a_complete_archive(tmp_path: Path) -> None:
    with Sandbox(clients=15, seed=6, start=START) as sb:
        for fault in FULL_SYNC_FAULTS:
            sb.faults.add(SRC, **fault)
        arc = new_archive(tmp_path)
        report = sync(arc, sb, tmp_path, timeout=1, retry_base_delay=0.05)
        assert report.status == "ok", report.sources[0].error
        assert all(f.fired == f.times for f in sb.faults.faults), [
            (f.kind, f.endpoint) for f in sb.faults.faults if f.fired != f.times]
        assert report.sources[0].usage["retries"] >= len(FULL_SYNC_FAULTS) - 1  # slow is no error
        assert_complete(arc, sb)

        sb.faults.clear()
        sb.advance(2)
        for fault in ({"kind": "truncated", "endpoint": "drive.changes.list"},
                      {"kind": "malformed", "endpoint": "calendar.events.list"},
                      {"kind": "server_error", "endpoint": "sheets.values.get"},
                      {"kind": "sync_token_expired"}):
            sb.faults.add(SRC, **fault)
        report = sync(arc, sb, tmp_path, retry_base_delay=0.05)
        assert report.status == "ok", report.sources[0].error
        events = next(r for r in report.sources[0].streams if r.stream == "calendar_events")
        assert events.resynced
        assert_complete(arc, sb)


def test_lasting_failures_end_partial_with_a_plain_message(tmp_path: Path) -> None:
    with Sandbox(clients=15, seed=7, start=START) as sb:
        arc = new_archive(tmp_path)
        sb.faults.add(SRC, "server_error", endpoint="calendar.events.list", times=-1)
        sb.faults.add(SRC, "rate_limit", endpoint="sheets.values.get", retry_after=3600)
        report = sync(arc, sb, tmp_path, drive=False, retry_attempts=3, retry_base_delay=0.01)
        assert report.status == "partial"
        by_stream = {r.stream: r for r in report.sources[0].streams}
        assert by_stream["calendars"].status == "ok"
        assert "kept failing after 3 tries" in str(by_stream["calendar_events"].error)
        assert "longer than exporter waits" in str(by_stream["sheet_rows"].error)
        assert arc.get_cursor(SRC, "calendar_events") is None  # nothing half-stored
        sb.faults.clear()
        report = sync(arc, sb, tmp_path, drive=False)
        assert report.status == "ok"
        for stream in ("sheet_rows", "calendars", "calendar_events"):
            assert_matches(arc, sb, stream)


def test_wrong_token_fails_the_run_and_keeps_the_archive(tmp_path: Path) -> None:
    with Sandbox(clients=15, seed=8, start=START) as sb:
        arc = new_archive(tmp_path)
        assert sync(arc, sb, tmp_path, drive=False).status == "ok"
        counts = arc.counts()
        (tmp_path / "secrets" / "wrong").write_text("not-the-token")
        os.chmod(tmp_path / "secrets" / "wrong", 0o600)
        wrong: dict[str, Any] = {"token": {"file": str(tmp_path / "secrets" / "wrong")},
                                 "drive": False}
        report = sync(arc, sb, tmp_path, **wrong)
        assert report.status == "failed"
        errors = {r.error for r in report.sources[0].streams}
        assert errors == {"Google refused the saved sign-in (the access token is wrong, "
                          "expired or revoked); reconnect the Google account and update the "
                          "token."}
        assert arc.counts() == counts
        assert arc.runs()[0].status == "failed"
        results = connector(sb, tmp_path, **wrong).check()
        assert not results[0].ok and "reconnect" in results[0].detail
        assert all(r.ok for r in connector(sb, tmp_path).check())


# -- configuration ------------------------------------------------------------------------------

def test_chosen_calendars_spreadsheets_and_exports(tmp_path: Path) -> None:
    with Sandbox(clients=15, seed=9, start=START) as sb:
        store = sb.google.store
        roster = next(f for f in store.files.values() if f["name"] == "Caregiver Roster")
        arc = new_archive(tmp_path)
        report = sync(arc, sb, tmp_path, calendars=["visits@sunrise-homecare.example"],
                      spreadsheets=[roster["id"]], export_formats={"document": ["txt"]})
        assert report.status == "ok", report.sources[0].error
        calendars = {(data or {}).get("calendarId")
                     for _, data in arc.records(SRC, "calendar_events")}
        assert calendars == {"visits@sunrise-homecare.example"}
        assert {rid.split("/")[0] for rid in arc.record_ids(SRC, "sheet_rows")} == {roster["id"]}
        doc = next(f for f in store.files.values() if f["mimeType"] == DOC)
        assert file_bytes(arc, doc["id"]) == {"export.txt": store.doc_text(doc).encode()}
        assert file_bytes(arc, roster["id"]) == {}
        missing = connector(sb, tmp_path, spreadsheets=["no-such-sheet"],
                            calendars=["nobody@example.org"]).check()
        assert [r.ok for r in missing] == [False, True, False, True]
        assert "nobody@example.org" in missing[0].detail
        assert "no-such-sheet" in missing[2].detail


def test_credential_files_must_be_private(tmp_path: Path) -> None:
    with Sandbox(clients=10, seed=1, start=START) as sb:
        key = tmp_path / "sa.json"
        key.write_text("{}")
        os.chmod(key, 0o644)
        with pytest.raises(ConfigError, match="chmod 600"):
            connector(sb, tmp_path, service_account_file=str(key))
        os.chmod(key, 0o600)
        with pytest.raises(ConfigError, match="not a valid key file"):
            connector(sb, tmp_path, service_account_file=str(key))


ROW_KEYS = {"Care Tasks": ["Client Number", "Day", "Time"],
            "Medications": ["Client Number", "Medication"], "Roster": ["Email"]}


def test_row_keys_version_only_the_rows_that_changed(tmp_path: Path) -> None:
    with Sandbox(clients=20, seed=5, start=START) as sb:
        arc = new_archive(tmp_path)
        assert sync(arc, sb, tmp_path, drive=False, row_keys=ROW_KEYS).status == "ok"
        assert_matches(arc, sb, "sheet_rows", ROW_KEYS)
        before = archive_view(arc, "sheet_rows")
        sb.advance(3)  # discharges remove rows mid-sheet; positional ids would all shift
        report = sync(arc, sb, tmp_path, drive=False, row_keys=ROW_KEYS)
        assert report.status == "ok"
        assert_matches(arc, sb, "sheet_rows", ROW_KEYS)
        rows = next(r for r in report.sources[0].streams if r.stream == "sheet_rows")
        want = expected_versions(before, sandbox_view(sb, "sheet_rows", ROW_KEYS))
        assert rows.new + rows.changed + rows.deleted == want
        assert rows.deleted > 0 and rows.unchanged > 5 * (rows.changed + rows.new)


def test_a_refused_drive_token_relists_everything(tmp_path: Path) -> None:
    with Sandbox(clients=10, seed=4, start=START) as sb:
        arc = new_archive(tmp_path)
        assert sync(arc, sb, tmp_path).status == "ok"
        run = arc.begin_run("sync")  # as if Drive forgot the saved token
        arc.put_batch(run, SRC, "drive_files", [], cursor="999999")
        arc.finish_run(run, "ok")
        sb.advance(1)
        # A full relisting cannot see files deleted meanwhile: only reconciliation finds
        # them. The engine reconciles on its own schedule (not yet on Batch.reset), so this
        # run asks for it, as the engine should after a reset.
        report = run_sync(arc, {SRC: connector(sb, tmp_path)}, reconcile_every_days=0)
        assert report.status == "ok", report.sources[0].error
        drive = next(r for r in report.sources[0].streams if r.stream == "drive_files")
        assert drive.resynced and drive.reconciled and drive.deleted >= 1
        assert_complete(arc, sb)


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (403, "dailyLimitExceeded", QuotaExhausted),
    (403, "userRateLimitExceeded", TransientError),
    (403, "insufficientPermissions", AuthError),
    (429, "rateLimitExceeded", TransientError),
    (502, "backendError", TransientError),
    (404, "notFound", SourceError),
])
def test_google_errors_map_to_exporter_errors(status: int, reason: str,
                                              kind: type[SourceError]) -> None:
    body = json.dumps({"error": {"code": status, "message": "x",
                                 "errors": [{"reason": reason}]}}).encode()
    exc = HttpError(httplib2.Response({"status": str(status), "retry-after": "2"}), body)
    err = source_error(exc, "Drive file listing")
    assert type(err) is kind or (kind is SourceError and isinstance(err, SourceError))
    if isinstance(err, TransientError):
        assert err.retry_after == 2.0


def test_service_account_and_authorized_user_files_are_used(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sa = tmp_path / "sa.json"
    sa.write_text(json.dumps({"type": "service_account", "project_id": "p",
                              "private_key_id": "1", "private_key": pem,
                              "client_email": "exporter@p.iam.gserviceaccount.com",
                              "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"type": "authorized_user", "client_id": "c",
                                "client_secret": "s", "refresh_token": "r"}))
    for path in (sa, user):
        os.chmod(path, 0o600)
    table = {"type": "google", "base_url": "http://127.0.0.1:9"}
    for extra in ({"service_account_file": str(sa), "delegated_user": "office@example.org"},
                  {"authorized_user_file": str(user)}):
        conn = build_connector(SRC, {**table, **extra}, tmp_path / "config.toml")
        assert {s.name for s in conn.streams()} == set(STREAMS)


def _grow_document(sb: Sandbox) -> tuple[str, str]:
    """One client document rewritten with ~200 KB of text that compresses poorly."""
    store = sb.google.store
    with sb.google.lock:
        rec = next(r for r in store.files.values() if r["mimeType"] == DOC
                   and r["_gen"] != "blob" and not r["trashed"])
        text = "".join(f"Visit {i}: {hashlib.sha256(str(i).encode()).hexdigest()}\n"
                       for i in range(3000))
        store.blobs[rec["id"]] = text.encode()
        rec["_gen"] = "blob"
        store.modify_file(rec)
    return rec["id"], text


def test_a_document_over_the_export_limit_fails_alone_night_after_night(
        tmp_path: Path) -> None:
    """Drive refuses (403 exportSizeLimitExceeded) to export one document: every other Drive
    change is archived that night and the next, the document's details and a plain-text
    export are archived, the run is partial with Drive's reason, and once Drive exports it
    again the next night archives its exports."""
    with Sandbox(clients=6, seed=4, start=START) as sb:
        arc = new_archive(tmp_path)
        assert sync(arc, sb, tmp_path).status == "ok"
        fid, text = _grow_document(sb)
        sb.google.export_limit = len(text.encode()) + 10
        pdf, docx = make_pdf(text.splitlines()), make_docx(text)
        assert len(pdf) > sb.google.export_limit  # the PDF is refused
        want = {"export.txt": text.encode()}
        if len(docx) <= sb.google.export_limit:
            want["export.docx"] = docx
        for night in (1, 2):
            sb.advance(1)
            cursor = arc.get_cursor(SRC, "drive_files")
            report = sync(arc, sb, tmp_path)
            assert report.status == "partial", night
            drive = next(r for r in report.sources[0].streams if r.stream == "drive_files")
            assert drive.status == "ok" and list(drive.failed_items) == [fid]
            assert "exportSizeLimitExceeded" in drive.failed_items[fid]
            assert "exportSizeLimitExceeded" in (report.sources[0].error or "")
            assert arc.get_cursor(SRC, "drive_files") != cursor  # the cursor moved on
            assert_matches(arc, sb, "drive_files")  # every change, the big document's too
            assert file_bytes(arc, fid) == want
            assert arc.failed_items(SRC, "drive_files") == drive.failed_items
            for other, rec in sb.google.store.files.items():  # every other body, exactly
                if other != fid and rec["mimeType"] == DOC and not rec["trashed"]:
                    assert file_bytes(arc, other)["export.pdf"] == make_pdf(
                        sb.google.store.doc_text(rec).splitlines())
        sb.google.export_limit = 10 * 1024 * 1024
        report = sync(arc, sb, tmp_path)  # no change to the document: the retry reads it
        assert report.status == "ok", report.sources[0].error
        assert file_bytes(arc, fid) == {"export.pdf": pdf, "export.docx": docx}
        assert arc.failed_items(SRC, "drive_files") == {}
        assert_complete(arc, sb)


def test_rows_are_keyed_by_a_natural_key_found_by_inspection(tmp_path: Path) -> None:
    """Without row_keys, the roster is keyed by its Email column (unique, an identifier's
    header) and the care tasks by row number (their client numbers repeat): deleting a
    roster row in the middle adds one tombstone, no new version of the rows below it."""
    from connectors.google.streams.sheets import natural_key

    assert natural_key(["Name", "Client ID", "Email"], [["a", "1", "a@x.org"],
                                                      ["b", "2", "b@x.org"]]) == "Client ID"
    assert natural_key(["Name", "Contact"], [["a", "a@x.org"], ["b", "b@x.org"]]) == "Contact"
    assert natural_key(["Client Number", "Day"], [["C-1", "Mon"], ["C-1", "Tue"]]) is None
    assert natural_key(["ID", "Day"], [["1", "Mon"], ["", "Tue"]]) is None  # one blank
    with Sandbox(clients=20, seed=5, start=START) as sb:
        arc = new_archive(tmp_path)
        assert sync(arc, sb, tmp_path, drive=False).status == "ok"
        assert_matches(arc, sb, "sheet_rows")
        roster = next(sid for sid, s in sb.google.store.sheets.items()
                      if s["tabs"][0]["title"] == "Roster")
        ids = {rid for rid in arc.record_ids(SRC, "sheet_rows") if rid.startswith(roster)}
        assert all("@" in rid.rsplit("/", 1)[1] for rid in ids)
        tasks = [rid for rid in arc.record_ids(SRC, "sheet_rows") if "/Care Tasks/" in rid]
        assert all(rid.rsplit("/", 1)[1].isdigit() for rid in tasks)
        with sb.google.lock:
            rows = sb.google.store.sheets[roster]["tabs"][0]["rows"]
            assert len(rows) > 4
            gone = rows.pop(2)  # the second caregiver, mid-sheet
            sb.google.store.modify_file(sb.google.store.files[roster])
        report = sync(arc, sb, tmp_path, drive=False)
        assert report.status == "ok"
        assert_matches(arc, sb, "sheet_rows")
        sheet = next(r for r in report.sources[0].streams if r.stream == "sheet_rows")
        assert (sheet.new, sheet.changed, sheet.deleted) == (0, 0, 1)
        assert arc.history(SRC, "sheet_rows", f"{roster}/Roster/{gone[1]}")[-1].deleted
