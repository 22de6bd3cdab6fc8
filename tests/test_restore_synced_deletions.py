"""Deletions as a real sync archives them reach the target (issue 14, case 3).

A Salesforce record deleted in the org goes to its recycle bin; the sync reads it there
(``queryAll``: ``IsDeleted = true``) and keeps its last data in the tombstone. A stopped
medication deleted that way must come out of the restore as ``medication_active =
"false"``, a struck-off allergy archived in HubSpot: the test deletes them in the source
org through simple-salesforce, syncs, restores, and reads the portal through the HubSpot
SDK."""

from __future__ import annotations

import json
from pathlib import Path

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, hubspot_path, salesforce
from tests.target_census import hubspot_rows

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def test_a_medication_deleted_in_the_org_is_made_inactive_in_hubspot(tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=4, seed=41) as src, Sandbox(clients=0, seed=42) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        connector = build_connector("salesforce", src.source_configs(tmp_path / "s1")[
            "salesforce"], tmp_path / "c.toml")
        with archive:
            assert run_sync(archive, {"salesforce": connector}).status == "ok"
            writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                         "retry": FAST_RETRY}, tmp_path / "c.toml")
            assert run_restore(archive, writer, mapping, target="hs").status == "ok"
            sf = salesforce(src)  # the office stops a medication and strikes off an allergy
            med = sf.query("SELECT Id FROM Medication__c ORDER BY Id LIMIT 1")["records"][0]["Id"]
            allergy = sf.query("SELECT Id FROM Allergy__c ORDER BY Id LIMIT 1")["records"][0]["Id"]
            sf.Medication__c.delete(med)
            sf.Allergy__c.delete(allergy)
            synced = run_sync(archive, {"salesforce": build_connector(
                "salesforce", src.source_configs(tmp_path / "s1")["salesforce"],
                tmp_path / "c.toml")})
            assert synced.status == "ok"
            assert {med, allergy} <= {rid for s in ("Medication__c", "Allergy__c")
                                      for rid in archive.deletions("salesforce", s)}

            plan = run_restore(archive, writer, mapping, target="hs", dry_run=True)
            assert plan.total("deleted") == 2
            report = run_restore(archive, writer, mapping, target="hs")
            assert (report.status, report.total("deleted")) == ("ok", 2), report.errors[:3]
            again = run_restore(archive, writer, mapping, target="hs")
            assert (again.total("deleted"), again.total("created"),
                    again.total("updated")) == (0, 0, 0)

        allergies = {r["properties"]["source_record_id"]
                     for r in hubspot_rows(dst, "allergies", ["source_record_id"])}
        assert f"salesforce/Allergy__c/{allergy}" not in allergies  # archived in HubSpot
        meds = {r["properties"]["source_record_id"]: r["id"]
                for r in hubspot_rows(dst, "medications", ["source_record_id"])}
        found = json.loads(hubspot_client(dst).crm.objects.batch_api.read(
            hubspot_path(dst, "medications"),
            {"inputs": [{"id": meds[f"salesforce/Medication__c/{med}"]}],
             "properties": ["medication_active"]}, _preload_content=False).data)
        assert found["results"][0]["properties"]["medication_active"] == "false"


def test_a_client_brought_back_is_not_deleted_again_by_the_next_restore(
        tmp_path: Path) -> None:
    """A mass delete, synced that night; the client restored --as-of the night before, into
    the same org (a new Id), synced again: the next same-vendor restore must not carry the
    old deletion to the record it brought back."""
    mapping = load_mapping("salesforce_to_salesforce")
    with Sandbox(clients=8, seed=43) as sb:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")

        def sync() -> int:
            connector = build_connector("salesforce", sb.source_configs(tmp_path / "s1")[
                "salesforce"], tmp_path / "c.toml")
            result = run_sync(archive, {"salesforce": connector})
            assert result.status in ("ok", "partial")
            return result.run_id

        with archive:
            night = sync()
            sf = salesforce(sb)
            gone = sf.query("SELECT Id, Name FROM Account ORDER BY Id LIMIT 1")["records"][0]
            sf.Account.delete(gone["Id"])  # with her care plan, medications, tasks ...
            sync()
            writer = build_writer("org", {**sb.source_configs(tmp_path / "s2")["salesforce"],
                                          "retry": FAST_RETRY}, tmp_path / "c.toml")
            back = run_restore(archive, writer, mapping, target="org", as_of=night)
            assert back.status == "ok" and back.total("created") > 3, back.errors[:3]
            children = sf.query("SELECT COUNT() FROM Medication__c")["totalSize"]
            sync()
            plan = run_restore(archive, writer, mapping, target="org", dry_run=True)
            assert plan.total("deleted") == 0
            again = run_restore(archive, writer, mapping, target="org")
            assert (again.status, again.total("deleted")) == ("ok", 0), again.errors[:3]
        names = [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]]
        assert names.count(gone["Name"]) == 1  # she is still there, once
        assert sf.query("SELECT COUNT() FROM Medication__c")["totalSize"] == children
