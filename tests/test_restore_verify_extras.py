"""Verify's extras are records nobody restored (issue 14: "Verify reads the target on its
own ... reports duplicates, extras"): the records another restore from the same archive
wrote into the same portal (Google's visits go where a Salesforce -> HubSpot restore put
the clients, their emergency contacts and documents) are not "more than restored"; a
record carrying a source id nobody restored still is."""

from __future__ import annotations

from pathlib import Path

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def test_records_another_mapping_restored_are_not_extras(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=61, vendors=("salesforce", "google")) as src, \
            Sandbox(clients=0, seed=62, vendors=("hubspot",)) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            configs = src.source_configs(tmp_path / "s1")
            assert run_sync(archive, {name: build_connector(name, configs[name],
                                                            tmp_path / "c.toml")
                                      for name in ("salesforce", "google")}).status == "ok"
            writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                         "retry": FAST_RETRY}, tmp_path / "c.toml")
            for name in ("salesforce_to_hubspot", "google_to_hubspot"):
                report = run_restore(archive, writer, load_mapping(name), target="hs")
                assert report.status == "ok", report.errors[:3]
            google = load_mapping("google_to_hubspot")
            check = verify_restore(archive, writer, google, target="hs")
            assert check.record_rate == 100.0
            assert not any(check.extras.values()), check.summary()
            hubspot_client(dst).crm.contacts.basic_api.create({"properties": {
                "firstname": "Someone", "lastname": "Else",
                "source_record_id": "salesforce/Account/001NOBODY"}})
            check = verify_restore(archive, writer, google, target="hs")
            assert check.extras == {**check.extras, "contacts": 1}, check.summary()
