"""A re-run from an archive copy older than the restore never uploads a file twice
(issue 14: "Restoring from any archive copy into any target never duplicates"): the copy's
id map does not know the files were uploaded, so each upload asks HubSpot to answer with the
file already in the record's own folder (``duplicateValidationStrategy`` RETURN_EXISTING,
scope EXACT_FOLDER). Counted through the HubSpot SDK's files API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def _files(dst: Sandbox) -> list[str]:
    return sorted(f.path for f in hubspot_client(dst).files.files_api.do_search(
        limit=100).results)


def test_a_rerun_from_an_older_copy_uploads_no_file_again(tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=6, seed=81) as src, Sandbox(clients=0, seed=82) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            assert run_sync(archive, {"salesforce": build_connector(
                "salesforce", src.source_configs(tmp_path / "s1")["salesforce"],
                tmp_path / "c.toml")}).status == "ok"
        shutil.copy(tmp_path / "a.db", tmp_path / "copy.db")  # fetched back after losing the PC
        shutil.copy(tmp_path / "a.db.keys", tmp_path / "copy.db.keys")
        config = {**dst.source_configs(tmp_path / "s2")["hubspot"], "retry": FAST_RETRY}
        counts = []
        for name in ("a.db", "copy.db"):
            with Archive.open(tmp_path / name, KeyFile(tmp_path / "a.key"),
                              write=True) as held:
                writer = build_writer("hs", config, tmp_path / "c.toml")
                report = run_restore(held, writer, mapping, target="hs")
                assert report.status == "ok" and report.total("files") > 0
                counts.append(_files(dst))
                check = verify_restore(held, writer, mapping, target="hs")
                assert check.record_rate == 100.0, check.mismatches[:3]
        assert counts[1] == counts[0] and len(set(counts[0])) == len(counts[0])


def test_the_portal_answers_a_duplicate_upload_only_within_its_scope(tmp_path: Path) -> None:
    with Sandbox(clients=0, seed=83, vendors=("hubspot",)) as sb:
        files_api = hubspot_client(sb).files.files_api
        path = tmp_path / "plan.pdf"
        path.write_bytes(b"%PDF-1.4 the same bytes")

        def upload(folder: str, **options: str) -> str:
            return str(files_api.upload(file=str(path), folder_path=folder, options=json.dumps(
                {"access": "PRIVATE", **options})).id)

        first = upload("/Restored/a")
        assert upload("/Restored/a", duplicateValidationStrategy="RETURN_EXISTING",
                      duplicateValidationScope="EXACT_FOLDER") == first
        assert upload("/Restored/b", duplicateValidationStrategy="RETURN_EXISTING",
                      duplicateValidationScope="EXACT_FOLDER") != first
        assert upload("/Restored/a") != first  # NONE, the default: another file
