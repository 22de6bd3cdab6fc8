"""``restore --verify`` compares file bytes by hash (issue 14, "Verify ... compares file
bytes by hash"): a file replaced in the target by another of the very same size is a
mismatch, in HubSpot (a note's attachment), Salesforce (a ContentVersion, an Attachment)
and a CSV folder. The target is changed only through the vendor SDKs, as a person in the
portal or org would change it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter
from sandbox import Sandbox
from tests.restore_support import (
    hubspot_client,
    salesforce,
    synced_archive,
    target_writer,
)
from tests.target_census import hubspot_rows, salesforce_rows


def _restored(tmp: Path, src: Sandbox, dst: Sandbox, source: str, target: str,
              mapping: str) -> Any:
    with synced_archive(tmp, src, source) as archive:
        report = run_restore(archive, target_writer(tmp, dst, target), load_mapping(mapping),
                             target="t")
    assert report.status == "ok", report.errors[:3]
    return _verify(tmp, dst, target, mapping)


def _verify(tmp: Path, dst: Sandbox, target: str, mapping: str) -> Any:
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key")) as archive:
        return verify_restore(archive, target_writer(tmp, dst, target), load_mapping(mapping),
                              target="t")


def _other_bytes(data: bytes) -> bytes:
    """Bytes of the same length that differ (the last byte changed)."""
    return data[:-1] + bytes([(data[-1] + 1) % 256])


def test_a_hubspot_attachment_swapped_for_one_of_the_same_size_fails_verify(
        tmp_path: Path) -> None:
    import requests

    with Sandbox(clients=6, seed=31) as src, Sandbox(clients=0, seed=32) as dst:
        check = _restored(tmp_path, src, dst, "salesforce", "hubspot", "salesforce_to_hubspot")
        files = [m for m in check.mismatches if m.field == "(file bytes)"]
        assert check.record_rate == 100.0 and not files, check.mismatches[:3]
        client = hubspot_client(dst)
        note = next(n for n in hubspot_rows(dst, "notes", ["hs_attachment_ids",
                                                             "source_record_id"])
                    if n["properties"].get("hs_attachment_ids"))
        old = note["properties"]["hs_attachment_ids"]
        data = requests.get(client.files.files_api.get_signed_url(old).url, timeout=30).content
        swapped = tmp_path / "swapped.pdf"
        swapped.write_bytes(_other_bytes(data))
        new = client.files.files_api.upload(file=str(swapped), folder_path="/Elsewhere",
                                            options='{"access": "PRIVATE"}')
        assert int(new.size) == len(data)  # a size check cannot tell them apart
        client.crm.objects.notes.basic_api.update(
            note["id"], {"properties": {"hs_attachment_ids": str(new.id)}})

        check = _verify(tmp_path, dst, "hubspot", "salesforce_to_hubspot")
        files = [m for m in check.mismatches if m.field == "(file bytes)"]
        assert [m.target_id for m in files] == [note["id"]]
        assert check.records - check.records_matching == 1


def test_a_salesforce_document_replaced_by_same_size_bytes_fails_verify(
        tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=33) as src, Sandbox(clients=0, seed=34) as dst:
        check = _restored(tmp_path, src, dst, "hubspot", "salesforce", "hubspot_to_salesforce")
        assert check.record_rate == 100.0, check.mismatches[:3]
        sf = salesforce(dst)
        (cv,) = salesforce_rows(dst, "ContentVersion", [
            "Exporter_Source_Id__c", "Title", "PathOnClient", "FirstPublishLocationId"])[:1]
        data = sf.session.get(f"{sf.base_url}sobjects/ContentVersion/{cv['Id']}/VersionData",
                              headers=sf.headers, timeout=30).content
        # someone deletes the document and uploads another of the same size in its place,
        # carrying the same source id (the sandbox has no ContentDocument: the version goes)
        sf.ContentVersion.delete(cv["Id"])
        sf.ContentVersion.create({
            "Title": cv["Title"], "PathOnClient": cv["PathOnClient"],
            "FirstPublishLocationId": cv["FirstPublishLocationId"],
            "Exporter_Source_Id__c": cv["Exporter_Source_Id__c"],
            "VersionData": base64.b64encode(_other_bytes(data)).decode("ascii")})

        check = _verify(tmp_path, dst, "salesforce", "hubspot_to_salesforce")
        files = [m for m in check.mismatches if m.field == "(file bytes)"]
        assert [m.source_id for m in files] == \
            [cv["Exporter_Source_Id__c"].rpartition("/")[2]]
        assert check.records - check.records_matching == 1


def test_a_salesforce_attachment_body_changed_fails_verify(tmp_path: Path) -> None:
    with Sandbox(clients=12, seed=35) as src, Sandbox(clients=0, seed=36) as dst:
        check = _restored(tmp_path, src, dst, "salesforce", "salesforce",
                          "salesforce_to_salesforce")
        assert check.record_rate == 100.0, check.mismatches[:3]
        sf = salesforce(dst)
        att = salesforce_rows(dst, "Attachment", ["Name"])[0]
        data = sf.session.get(f"{sf.base_url}sobjects/Attachment/{att['Id']}/Body",
                              headers=sf.headers, timeout=30).content
        sf.Attachment.update(att["Id"], {
            "Body": base64.b64encode(_other_bytes(data)).decode("ascii")})

        check = _verify(tmp_path, dst, "salesforce", "salesforce_to_salesforce")
        files = [m for m in check.mismatches if m.field == "(file bytes)"]
        assert [m.target_id for m in files] == [att["Id"]]


def test_a_csv_targets_file_changed_in_place_fails_verify(archive: Archive,
                                                          tmp_path: Path) -> None:
    run = archive.begin_run()
    pdf = archive.put_file(run, [b"%PDF-1.4 care plan"], "application/pdf")
    docx = archive.put_file(run, [b"PK word export of the care plan"], "application/"
                            "vnd.openxmlformats-officedocument.wordprocessingml.document")
    archive.put_batch(run, "google", "drive_files", [
        Record("d1", {"id": "d1", "name": "Care plan"},
               files={"content": pdf.hash, "export.docx": docx.hash})])
    archive.finish_run(run, "ok")
    out = tmp_path / "csv"
    writer = CsvWriter("files", {"path": str(out)}, {})
    mapping = load_mapping("any_to_csv")
    assert run_restore(archive, writer, mapping, target="files").status == "ok"
    assert verify_restore(archive, writer, mapping, target="files").record_rate == 100.0
    written = sorted(p for p in (out / "files").rglob("*") if p.is_file())
    assert len(written) == 2
    for path in written:  # either file, the record's first or its other one
        kept = path.read_bytes()
        path.write_bytes(_other_bytes(kept))
        check = verify_restore(archive, writer, mapping, target="files")
        assert [m.field for m in check.mismatches] == ["(file bytes)"], path.name
        path.write_bytes(kept)
