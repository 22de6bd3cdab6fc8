"""Every restored record carries its source id in the target (HubSpot: the unique property
``source_record_id``; Salesforce: the external id ``Exporter_Source_Id__c``, created by the
restore through the Tooling API), and a restore finds records by it: a re-run from an
archive copy made before the first restore, into the same target, creates nothing twice,
even where the source changed the fields the old look-up compared (issue 14, case 1).

The target is read only through the vendor SDKs (tests.target_census)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, salesforce
from tests.target_census import duplicates, hubspot_property, hubspot_rows, salesforce_rows

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
SF_KEY = "Exporter_Source_Id__c"
#: HubSpot -> Salesforce: target object -> the archived HubSpot stream it comes from (Task:
#: the to-dos; calls, e-mails and notes are Tasks too).
HS_TO_SF = {"Account": "contacts", "Physician__c": "companies",
            "Emergency_Contact__c": "contacts", "Care_Plan__c": "care_recipients",
            "Task": "tasks", "ContentVersion": "files"}
SF_TO_HS = ("contacts", "companies", "care_recipients", "notes")
#: the custom objects the restore creates, source_record_id (unique) made with each
SF_CUSTOM = ("medications", "allergies", "diagnoses", "care_tasks")


def _sync(tmp: Path, src: Sandbox, vendor: str) -> None:
    path = tmp / "a.db"
    archive = Archive.open(path, KeyFile(tmp / "a.key"), write=True) if path.exists() else \
        Archive.create(path, key_file=tmp / "a.key")[0]
    with archive:
        table = src.source_configs(tmp / "s1")[vendor]
        assert run_sync(archive, {vendor: build_connector(
            vendor, table, tmp / "c.toml")}).status == "ok"


def _copy(tmp: Path) -> None:
    """The archive copy fetched back after losing the PC (made before the first restore)."""
    shutil.copy(tmp / "a.db", tmp / "copy.db")
    shutil.copy(tmp / "a.db.keys", tmp / "copy.db.keys")


def _restore(tmp: Path, name: str, dst: Sandbox, vendor: str, mapping: str) -> Any:
    config = {**dst.source_configs(tmp / "s2")[vendor], "retry": FAST_RETRY}
    with Archive.open(tmp / name, KeyFile(tmp / "a.key"), write=True) as archive:
        report = run_restore(archive, build_writer("t", config, tmp / "c.toml"),
                             load_mapping(mapping), target="t")
    assert report.status == "ok", report.errors[:3]
    return report


def _verify(tmp: Path, name: str, dst: Sandbox, vendor: str, mapping: str) -> Any:
    config = {**dst.source_configs(tmp / "s2")[vendor], "retry": FAST_RETRY}
    with Archive.open(tmp / name, KeyFile(tmp / "a.key"), write=True) as archive:
        return verify_restore(archive, build_writer("t", config, tmp / "c.toml"),
                              load_mapping(mapping), target="t")


def _change_hubspot_source(src: Sandbox) -> None:
    """Edits after the copy, of the very fields the mapping's match look-up compares: a
    practice renamed, a family contact's surname, a task's subject and notes."""
    client = hubspot_client(src)
    objects = client.crm.objects.basic_api
    practice = next(c for c in hubspot_rows(src, "companies", ["company_category"])
                    if c["properties"].get("company_category") == "Physician practice")
    objects.update("companies", practice["id"], {"properties": {"name": "Renamed Practice"}})
    family = next(c for c in hubspot_rows(src, "contacts", ["relationship"])
                  if c["properties"].get("relationship") not in (None, "Client"))
    objects.update("contacts", family["id"], {"properties": {"lastname": "Newname"}})
    for task in hubspot_rows(src, "tasks", [])[:3]:
        objects.update("tasks", task["id"], {"properties": {
            "hs_task_subject": "Changed subject", "hs_task_body": "Changed notes"}})


def _salesforce_census(dst: Sandbox) -> dict[str, list[Any]]:
    return {obj: [r[SF_KEY] for r in salesforce_rows(dst, obj, [SF_KEY])] for obj in HS_TO_SF}


def test_hubspot_to_salesforce_rerun_from_an_older_copy_finds_records_by_source_id(
        tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        _sync(tmp_path, src, "hubspot")
        _copy(tmp_path)
        _change_hubspot_source(src)
        _sync(tmp_path, src, "hubspot")
        first = _restore(tmp_path, "a.db", dst, "salesforce", "hubspot_to_salesforce")
        assert set(first.created_fields) >= set(HS_TO_SF)  # the field, through Tooling
        sf = salesforce(dst)
        described = {f["name"]: f for f in sf.Task.describe()["fields"]}
        assert described[SF_KEY]["externalId"] and described[SF_KEY]["unique"]
        census = _salesforce_census(dst)
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
            for obj, stream in HS_TO_SF.items():
                entries = [e for e in archive.id_map("t", target_object=obj) if e.target_id]
                restored = {f"hubspot/{e.stream}/{e.source_id}" for e in entries}
                assert stream in {e.stream for e in entries}, obj
                assert sorted(census[obj]) == sorted(restored), obj  # each carries its id

        # Verify reads the target on its own: the copy has no id map for it, yet every
        # record it holds is found (by the source id the target carries), none extra.
        check = _verify(tmp_path, "copy.db", dst, "salesforce", "hubspot_to_salesforce")
        assert not [m for m in check.mismatches if m.found == "missing"]
        # only the 5 records changed since the copy differ (a practice, a family contact,
        # 3 tasks), each on the fields changed
        assert len({m.source_id for m in check.mismatches}) == 5 \
            == check.records - check.records_matching
        assert {m.field for m in check.mismatches} <= {"Name", "Practice__c", "Subject",
                                                       "Description"}
        assert not any(check.extras.values()) and not any(check.duplicates.values())
        salesforce(dst).Physician__c.create({"Name": "Dr Extra", "Practice__c": "X"})
        check = _verify(tmp_path, "copy.db", dst, "salesforce", "hubspot_to_salesforce")
        assert check.extras["Physician__c"] == 1
        salesforce(dst).Physician__c.delete(salesforce(dst).query(
            "SELECT Id FROM Physician__c WHERE Name = 'Dr Extra'")["records"][0]["Id"])

        again = _restore(tmp_path, "copy.db", dst, "salesforce", "hubspot_to_salesforce")
        assert again.total("created") == 0
        after = _salesforce_census(dst)
        assert {o: len(v) for o, v in after.items()} == {o: len(v) for o, v in census.items()}
        assert {o: duplicates(v) for o, v in after.items()} == {o: 0 for o in HS_TO_SF}
        check = _verify(tmp_path, "copy.db", dst, "salesforce", "hubspot_to_salesforce")
        assert check.record_rate == 100.0 and not any(check.extras.values())
        # the older copy's values are back, on the same records
        names = {r["Name"] for r in salesforce_rows(dst, "Physician__c", ["Name"])}
        assert "Renamed Practice" not in names


def test_salesforce_to_hubspot_creates_its_unique_property_and_reruns_without_duplicates(
        tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=3) as src, Sandbox(clients=0, seed=4) as dst:
        dst.hubspot.without_property("source_record_id")  # as a real portal: none yet
        _sync(tmp_path, src, "salesforce")
        _copy(tmp_path)
        sf = salesforce(src)
        doc = sf.query("SELECT Id FROM Physician__c LIMIT 1")["records"][0]["Id"]
        sf.Physician__c.update(doc, {"Name": "Dr Renamed"})
        _sync(tmp_path, src, "salesforce")
        first = _restore(tmp_path, "a.db", dst, "hubspot", "salesforce_to_hubspot")
        for obj in (*SF_TO_HS, *SF_CUSTOM):
            assert "source_record_id" in first.created_fields[obj] if obj in SF_TO_HS \
                else obj in first.created_objects
            prop = hubspot_property(dst, obj, "source_record_id")
            assert prop is not None and prop["hasUniqueValue"]
        census = {obj: [r["properties"].get("source_record_id")
                        for r in hubspot_rows(dst, obj, ["source_record_id"])]
                  for obj in (*SF_TO_HS, *SF_CUSTOM)}
        assert all(all(ids) for ids in census.values())  # every record carries its id

        check = _verify(tmp_path, "copy.db", dst, "hubspot", "salesforce_to_hubspot")
        assert not [m for m in check.mismatches if m.found == "missing"]
        assert not any(check.extras.values()) and not any(check.duplicates.values())

        again = _restore(tmp_path, "copy.db", dst, "hubspot", "salesforce_to_hubspot")
        assert again.total("created") == 0
        after = {obj: [r["properties"].get("source_record_id")
                       for r in hubspot_rows(dst, obj, ["source_record_id"])]
                 for obj in census}
        assert {o: len(v) for o, v in after.items()} == {o: len(v) for o, v in census.items()}
        assert {o: duplicates(v) for o, v in after.items()} == {o: 0 for o in census}
