"""The CSV target, import-ready for each vendor (issue 14, cases 9 and 10): the column
names HubSpot's and Salesforce's import tools match, dates in a form they take, UTF-8 with
a BOM, a folder per client, every file with its extension (a Google Doc's PDF and Word
versions both)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox


def _archive(tmp: Path, sb: Sandbox, vendor: str) -> Archive:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = sb.source_configs(tmp / "s1")[vendor]
    assert run_sync(archive, {vendor: build_connector(
        vendor, table, tmp / "c.toml")}).status in ("ok", "partial")
    return archive


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _restore(archive: Archive, tmp: Path, mapping: str, **table: Any) -> Any:
    writer = build_writer("csv", {"type": "csv", "path": str(tmp / "out"), **table},
                          tmp / "c.toml")
    return run_restore(archive, writer, load_mapping(mapping), target="csv")


def test_csv_for_hubspot_import_has_its_column_names_and_dates(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=31) as sb, _archive(tmp_path, sb, "salesforce") as archive:
        report = _restore(archive, tmp_path, "salesforce_to_hubspot", import_for="hubspot")
        assert report.status in ("ok", "partial") and report.total("created") > 20
        header, rows = _rows(tmp_path / "out" / "contacts.csv")
        assert {"First Name", "Last Name", "Email", "Phone Number", "Postal Code",
                "Archived record ID", "source_record_id"} <= set(header)
        assert "firstname" not in header and "properties.firstname" not in header
        notes = _rows(tmp_path / "out" / "notes.csv")[1]  # documents' notes
        stamps = [r["Activity date"] for r in notes if r.get("Activity date")]
        assert stamps and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s)
                              for s in stamps)
        again = _restore(archive, tmp_path, "salesforce_to_hubspot", import_for="hubspot")
        assert again.total("created") == 0  # the labelled files are read back by id
        assert len(_rows(tmp_path / "out" / "contacts.csv")[1]) == len(rows)


def test_csv_for_salesforce_import_and_a_folder_per_client(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=32) as sb, _archive(tmp_path, sb, "hubspot") as archive:
        report = _restore(archive, tmp_path, "hubspot_to_salesforce", import_for="salesforce")
        assert report.status in ("ok", "partial")
        header, rows = _rows(tmp_path / "out" / "Account.csv")
        assert {"Name", "Client_Number__c", "Birthdate__c", "Archived record ID"} <= set(header)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r["Birthdate__c"])
                   for r in rows if r["Birthdate__c"])
    with Sandbox(clients=3, seed=33) as sb, \
            _archive(tmp_path / "sf", sb, "salesforce") as archive:
        _restore(archive, tmp_path / "sf", "any_to_csv")
        numbers = {r["id"]: r["Client_Number__c"] for r in _rows(
            tmp_path / "sf" / "out" / "Account.csv")[1]}
        docs = _rows(tmp_path / "sf" / "out" / "ContentVersion.csv")[1]
        assert docs
        for doc in docs:  # under its client's own folder, with its extension
            folder, name = Path(doc["file"]).parts[1], Path(doc["file"]).name
            assert numbers[doc["FirstPublishLocationId"]] in folder, folder
            assert name.endswith(".pdf")


def test_each_google_doc_comes_as_pdf_and_word_with_extensions(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=34) as sb, _archive(tmp_path, sb, "google") as archive:
        report = _restore(archive, tmp_path, "any_to_csv")
        assert report.status in ("ok", "partial")
        out = tmp_path / "out"
        files = next(p for p in out.glob("*.csv") if "drive" in p.name.lower())
        rows = _rows(files)[1]
        docs = [r for r in rows if "google-apps.document" in r.get("mimeType", "")]
        assert docs
        for doc in docs:
            both = [doc["file"], *doc.get("other_files", "").split("; ")]
            assert sorted(Path(p).suffix for p in both if p) == [".docx", ".pdf"], both
            assert all((out / p).stat().st_size > 0 for p in both)


def test_google_and_hubspot_files_go_under_their_clients_folder(tmp_path: Path) -> None:
    from tests.restore_support import google_service
    from tests.target_census import hubspot_rows

    with Sandbox(clients=3, seed=35, vendors=("google", "hubspot")) as sb:
        drive = google_service(sb, "drive")

        def drive_client(file_id: str) -> str | None:
            parents = drive.files().get(fileId=file_id, fields="parents").execute()
            folder = drive.files().get(fileId=parents["parents"][0],
                                       fields="properties").execute()
            return (folder.get("properties") or {}).get("client_number")

        with _archive(tmp_path / "g", sb, "google") as archive:
            _restore(archive, tmp_path / "g", "any_to_csv")
        out = tmp_path / "g" / "out"
        rows = _rows(next(p for p in out.glob("*.csv") if "drive" in p.name.lower()))[1]
        placed = [(r["id"], Path(r["file"]).parts[1]) for r in rows if r.get("file")]
        clients = {fid: drive_client(fid) for fid, _ in placed}
        assert sum(1 for n in clients.values() if n) >= 6  # a PDF and a Doc per client
        for fid, folder in placed:
            number = clients[fid]
            assert (number in folder) if number else folder == "drive_files", (fid, folder)

        # HubSpot: a file's client is the one the note attaching it is associated with
        contacts = {c["id"]: c["properties"] for c in hubspot_rows(
            sb, "contacts", ["client_number", "relationship"])}
        expected: dict[str, str] = {}
        for note in hubspot_rows(sb, "notes", ["hs_attachment_ids"], ["contacts"]):
            linked = [a["id"] for a in (note.get("associations") or {}).get(
                "contacts", {}).get("results", [])]
            numbers = [contacts[c]["client_number"] for c in linked
                       if contacts.get(c, {}).get("relationship") == "Client"]
            for fid in (note["properties"].get("hs_attachment_ids") or "").split(";"):
                if fid and numbers:
                    expected[fid] = numbers[0]
        assert expected
        with _archive(tmp_path / "h", sb, "hubspot") as archive:
            _restore(archive, tmp_path / "h", "any_to_csv")
        files = _rows(tmp_path / "h" / "out" / "files.csv")[1]
        assert {r["id"] for r in files} >= set(expected)
        for r in files:
            folder = Path(r["file"]).parts[1]
            want = expected.get(r["id"])
            assert (want in folder) if want else folder == "files", (r["id"], folder)
