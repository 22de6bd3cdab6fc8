"""A restored Drive document's file name ends in the extension of the bytes actually
uploaded: a Google Doc (archived as its PDF and Word exports, a name with no extension in
Drive) is "Care notes C-00001.docx" in Salesforce's ContentVersion.PathOnClient and in
HubSpot's files, never "Care notes C-00001" (which Salesforce and Windows cannot open).

The targets are read only through simple-salesforce and the HubSpot SDK; what the bytes
are is told from their first bytes, not from any exporter code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from exporter.restore import load_mapping, run_restore, verify_restore
from sandbox import Sandbox
from tests.restore_support import (
    google_service,
    hubspot_client,
    salesforce,
    synced_archive,
    target_writer,
)
from tests.target_census import hubspot_rows, salesforce_rows

#: extensions a file of these first bytes may carry
KINDS = {b"%PDF": {".pdf"}, b"PK\x03\x04": {".docx", ".xlsx"}, b"\xff\xd8\xff": {".jpg", ".jpeg"},
         b"\x89PNG": {".png"}}


def _fits(name: str, data: bytes) -> bool:
    for magic, extensions in KINDS.items():
        if data.startswith(magic):
            return Path(name).suffix.lower() in extensions
    return Path(name).suffix.lower() == ".txt"


def _rename(src: Sandbox) -> list[str]:
    """One Google Doc and one PDF given a name with a dot in it that is no extension (the
    PDF's own ".pdf" dropped, as someone renaming it in Drive does): the names they should
    carry in the target."""
    drive = google_service(src, "drive")
    out = []
    for mime, ext in (("application/vnd.google-apps.document", ".docx"),
                      ("application/pdf", ".pdf")):
        files = drive.files().list(q=f"mimeType = '{mime}'",
                                   fields="files(id, name)").execute()["files"]
        name = f"Notes v1.2 {Path(files[0]['name']).stem.split()[-1]}"
        drive.files().update(fileId=files[0]["id"], body={"name": name}).execute()
        out.append(name + ext)
    return out


def _restore(tmp: Path, src: Sandbox, dst: Sandbox, target: str, mapping: str) -> Any:
    with synced_archive(tmp, src, "google") as archive:
        writer = target_writer(tmp, dst, target)
        report = run_restore(archive, writer, load_mapping(mapping), target="t")
        check = verify_restore(archive, writer, load_mapping(mapping), target="t")
    assert report.status == "ok", report.errors[:3]
    assert check.record_rate == 100.0 and not check.mismatches, check.mismatches[:3]


def test_salesforce_path_on_client_ends_in_the_uploaded_bytes_extension(
        tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=71, vendors=("google",)) as src, \
            Sandbox(clients=0, seed=72, vendors=("salesforce",)) as dst:
        renamed = _rename(src)
        sf = salesforce(dst)
        for c in src.agency.clients.values():
            sf.Account.create({"Name": c.full_name, "Client_Number__c": c.number})
        _restore(tmp_path, src, dst, "salesforce", "google_to_salesforce")
        rows = salesforce_rows(dst, "ContentVersion", ["Title", "PathOnClient"])
        assert len(rows) == 2 * len(src.agency.clients)  # a signed plan and a Google Doc
        for r in rows:
            data = sf.session.get(f"{sf.base_url}sobjects/ContentVersion/{r['Id']}/VersionData",
                                  headers=sf.headers, timeout=30).content
            assert _fits(r["PathOnClient"], data), (r["PathOnClient"], data[:8])
            assert r["PathOnClient"].startswith(r["Title"])
        assert set(renamed) <= {r["PathOnClient"] for r in rows}


def test_hubspot_files_end_in_the_uploaded_bytes_extension(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=73, vendors=("google",)) as src, \
            Sandbox(clients=0, seed=74, vendors=("hubspot",)) as dst:
        renamed = _rename(src)
        hubspot_client(dst).crm.contacts.batch_api.create({"inputs": [{"properties": {
            "firstname": c.first_name, "lastname": c.last_name, "client_number": c.number,
            "relationship": "Client"}} for c in src.agency.clients.values()]})
        _restore(tmp_path, src, dst, "hubspot", "google_to_hubspot")
        files = hubspot_client(dst).files.files_api
        names = []
        for note in hubspot_rows(dst, "notes", ["hs_attachment_ids"]):
            for fid in (note["properties"].get("hs_attachment_ids") or "").split(";"):
                meta = files.get_by_id(fid)
                name = f"{meta.name}.{meta.extension}" if meta.extension else meta.name
                data = requests.get(files.get_signed_url(fid).url, timeout=30).content
                assert _fits(name, data), (name, data[:8])
                names.append(name.lower())  # HubSpot keeps file names in lower case
        assert len(names) == 2 * len(src.agency.clients)
        assert {n.lower() for n in renamed} <= set(names)


def test_csv_files_end_in_their_bytes_extension(tmp_path: Path) -> None:
    """any_to_csv writes a Google Doc's PDF and Word exports, and a PDF renamed without its
    ".pdf" in Drive, each with the extension of its bytes."""
    from exporter.restore.target import build_writer

    with Sandbox(clients=3, seed=75, vendors=("google",)) as src:
        renamed = _rename(src)
        folder = tmp_path / "out"
        with synced_archive(tmp_path, src, "google") as archive:
            writer = build_writer("csv", {"type": "csv", "path": str(folder)},
                                  tmp_path / "c.toml")
            report = run_restore(archive, writer, load_mapping("any_to_csv"), target="csv")
            assert report.status == "ok", report.errors[:3]
        written = [p for p in (folder / "files").rglob("*") if p.is_file()]
        assert len(written) >= 3 * len(src.agency.clients)  # a PDF, a Doc's PDF and Word
        for p in written:
            assert _fits(p.name, p.read_bytes()), p.name
        for name in renamed:  # "Notes v1.2 C-00001" as a PDF (and the Doc as Word too)
            assert any(p.suffix == Path(name).suffix and Path(name).stem.split(".")[0]
                       in p.name for p in written), name
