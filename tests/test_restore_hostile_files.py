"""Archived file names no file system takes (``..``, a NUL, ``CON``, 300 characters, 130
emoji, a Windows-reserved ``:``) restored into HubSpot, whose SDK uploads only from a path on
disk: every file is uploaded and attached to its note (read back through the SDK), never a
crash of the whole restore ("unexpected problem")."""

from __future__ import annotations

from pathlib import Path

import requests

from exporter.archive import Archive, Record
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client

NAMES = ["..", "a\x00b.pdf", "CON.pdf", "x" * 300 + ".pdf", "\N{GRINNING FACE}" * 130,
         "a:b?.pdf", "plan. "]


def test_file_names_no_disk_takes_are_uploaded_all_the_same(archive: Archive,
                                                           tmp_path: Path) -> None:
    with Sandbox(clients=2, seed=60, vendors=("salesforce",)) as src:
        table = src.source_configs(tmp_path / "src")["salesforce"]
        assert run_sync(archive, {"salesforce": build_connector(
            "salesforce", table, tmp_path / "c.toml")}).status == "ok"
    account, _ = next(iter(archive.records("salesforce", "Account")))
    run = archive.begin_run()
    bodies: dict[str, bytes] = {}
    docs = []
    for n, name in enumerate(NAMES):
        doc_id = f"068Dn00000009{n:02d}AAA"
        bodies[doc_id] = f"%PDF-1.4 document {n}".encode()
        info = archive.put_file(run, [bodies[doc_id]], "application/pdf")
        docs.append(Record(doc_id, {"Id": doc_id, "Title": name, "PathOnClient": name,
                                    "FirstPublishLocationId": account,
                                    "CreatedDate": "2026-11-30T10:00:00.000+0000"},
                           files={"VersionData": info.hash}))
    archive.put_batch(run, "salesforce", "ContentVersion", docs)
    archive.finish_run(run, "ok")
    with Sandbox(clients=0, seed=61, vendors=("hubspot",)) as dst:
        table = {**dst.source_configs(tmp_path / "s")["hubspot"],
                 "retry": {"base_delay": 0.01, "max_delay": 0.05}}
        with build_writer("hs", table, tmp_path / "c.toml") as writer:
            report = run_restore(archive, writer, load_mapping("salesforce_to_hubspot"),
                                 target="hs")
        assert report.status == "ok", report.errors[:3]
        client = hubspot_client(dst)
        rows = [r for r in archive.id_map("hs", "salesforce", "ContentVersion")
                if r.source_id in bodies]  # not the sandbox's own documents
        assert len(rows) == len(NAMES)
        for row in rows:
            note = client.crm.objects.notes.basic_api.get_by_id(
                row.target_id, properties=["hs_attachment_ids"])
            url = client.files.files_api.get_signed_url(
                note.properties["hs_attachment_ids"]).url
            assert requests.get(url, timeout=30).content == bodies[row.source_id]
