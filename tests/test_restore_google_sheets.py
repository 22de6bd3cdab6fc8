"""The Google Sheets restore target against the sandbox's Sheets emulator: each object a tab
of one spreadsheet, read back through google-api-python-client; re-runs update rows in place
(by the id column), never add them twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive
from exporter.errors import ConfigError
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.writer import Writer
from sandbox import Sandbox
from sandbox.google.store import SHEET
from tests.restore_support import google_service

ACCOUNTS = [
    ("001A", {"Id": "001A", "Name": "Ada Lovelace", "Client_Number__c": "C-00001",
              "Active__c": True, "Visits__c": 3, "Manager__c": "a05B"}),
    ("001B", {"Id": "001B", "Name": "Zoë van der Berg", "Client_Number__c": "C-00002",
              "Active__c": False, "Visits__c": 2.5, "Manager__c": "a05A"}),
]
STAFF = [  # a reference cycle: accounts point at staff, staff point at accounts
    ("a05A", {"Id": "a05A", "Name": "Sam", "Favourite__c": "001A"}),
    ("a05B", {"Id": "a05B", "Name": "Kim", "Favourite__c": "001B"}),
]
MAPPING = """
source = "salesforce"
target = "google_sheets"
ignore = ["Id"]

[[objects]]
stream = "Account"
object = "Clients"
[objects.fields]
name = "Name"
number = "Client_Number__c"
active = "Active__c"
visits = "Visits__c"
[[objects.links]]
from = "Manager__c"
to = "Staff__c"
name = "manager"

[[objects]]
stream = "Staff__c"
object = "Staff"
[objects.fields]
name = "Name"
[[objects.links]]
from = "Favourite__c"
to = "Account"
name = "favourite"
"""


def _writer(sb: Sandbox, tmp_path: Path, sid: str, name: str = "sheets") -> Writer:
    google = sb.source_configs(tmp_path / "secrets")["google"]
    table = {"type": "google_sheets", "base_url": google["base_url"],
             "token": google["token"], "spreadsheet_id": sid}
    return build_writer(name, table, tmp_path / "config.toml")


def _tab(sheets: Any, sid: str, title: str) -> list[list[str]]:
    got = sheets.spreadsheets().values().get(spreadsheetId=sid, range=f"'{title}'").execute()
    return list(got.get("values") or [])


def _rows(sheets: Any, sid: str, title: str) -> dict[str, dict[str, str]]:
    header, *rows = _tab(sheets, sid, title)
    return {r[0]: dict(zip(header, r, strict=False)) for r in rows}


def test_restore_into_a_spreadsheet_updates_rows_in_place_on_reruns(
        archive: Archive, tmp_path: Path) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", ACCOUNTS)
    archive.put_batch(run, "salesforce", "Staff__c", STAFF)
    archive.finish_run(run, "ok")
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(mapping_path)
    with Sandbox(clients=3, seed=2, vendors=("google",)) as sb:
        drive, sheets = google_service(sb, "drive"), google_service(sb, "sheets")
        sid = drive.files().create(body={"name": "Restore", "mimeType": SHEET}).execute()["id"]
        sb.log.clear()
        writer = _writer(sb, tmp_path, sid)
        report = run_restore(archive, writer, mapping, target="sheets")
        assert report.status == "ok", report
        assert report.total("created") == 4
        assert writer.calls() == sb.log.count("google")  # one client counts every call
        titles = [s["properties"]["title"] for s in sheets.spreadsheets().get(
            spreadsheetId=sid).execute()["sheets"]]
        assert titles == ["Sheet1", "Clients", "Staff"]
        clients = _rows(sheets, sid, "Clients")
        assert clients["001A"] == {"id": "001A", "name": "Ada Lovelace", "number": "C-00001",
                                   "active": "TRUE", "visits": "3", "manager": "a05B"}
        assert clients["001B"]["name"] == "Zoë van der Berg"
        assert clients["001B"]["visits"] == "2.5" and clients["001B"]["active"] == "FALSE"
        assert _rows(sheets, sid, "Staff") == {
            "a05A": {"id": "a05A", "name": "Sam", "favourite": "001A"},
            "a05B": {"id": "a05B", "name": "Kim", "favourite": "001B"}}
        assert verify_restore(archive, writer, mapping, target="sheets").record_rate == 100.0

        # A record changes: its row is rewritten where it is, nothing is added.
        run = archive.begin_run()
        archive.put_batch(run, "salesforce", "Account", [
            ("001A", {**ACCOUNTS[0][1], "Name": "Ada King"}), ACCOUNTS[1]])
        archive.finish_run(run, "ok")
        before = _tab(sheets, sid, "Clients")
        report = run_restore(archive, _writer(sb, tmp_path, sid), mapping, target="sheets")
        assert report.status == "ok"
        assert (report.total("created"), report.total("updated")) == (0, 1)
        after = _tab(sheets, sid, "Clients")
        assert len(after) == len(before) == 3
        assert after[1:] == [[*before[1][:1], "Ada King", *before[1][2:]], before[2]]

        # A target with no id map of its own (a new name for the same spreadsheet) finds
        # the rows by their id column: still one row per record.
        report = run_restore(archive, _writer(sb, tmp_path, sid, "again"), mapping,
                             target="again")
        assert report.status == "ok"
        assert (report.total("created"), report.total("updated")) == (0, 4)
        assert len(_tab(sheets, sid, "Clients")) == 3 and len(_tab(sheets, sid, "Staff")) == 3


def test_the_spreadsheet_setting_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="spreadsheet_id"):
        build_writer("sheets", {"type": "google_sheets", "token": {"env": "NOPE"}},
                     tmp_path / "config.toml")


def test_answers_lost_after_the_write_never_duplicate_rows_or_tabs(
        archive: Archive, tmp_path: Path) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", ACCOUNTS)
    archive.put_batch(run, "salesforce", "Staff__c", STAFF)
    archive.finish_run(run, "ok")
    mapping_path = tmp_path / "m.toml"
    mapping_path.write_text(MAPPING, encoding="utf-8")
    with Sandbox(clients=3, seed=4, vendors=("google",)) as sb:
        drive, sheets = google_service(sb, "drive"), google_service(sb, "sheets")
        sid = drive.files().create(body={"name": "Restore", "mimeType": SHEET}).execute()["id"]
        # The emulator applies each of these writes, then cuts its answer short.
        sb.faults.add("google", "truncated", endpoint="sheets.values.append", times=2)
        sb.faults.add("google", "truncated", endpoint="sheets.spreadsheets.batchUpdate")
        sb.faults.add("google", "server_error", endpoint="sheets.values.batchUpdate")
        writer = _writer(sb, tmp_path, sid)
        report = run_restore(archive, writer, load_mapping(mapping_path), target="sheets")
        assert report.status == "ok", report.errors
        assert all(f.fired == f.times for f in sb.faults.faults)
        titles = [s["properties"]["title"] for s in sheets.spreadsheets().get(
            spreadsheetId=sid).execute()["sheets"]]
        assert titles == ["Sheet1", "Clients", "Staff"]
        assert sorted(_rows(sheets, sid, "Clients")) == ["001A", "001B"]
        assert len(_tab(sheets, sid, "Clients")) == 3 and len(_tab(sheets, sid, "Staff")) == 3
