"""Medications, allergies and diagnoses as structured records: Salesforce -> HubSpot into
custom objects the restore creates from the mapping's schemas (one schemas GET per run, one
POST per missing object), each record associated with its client's contact; and back.

The target is read only through the vendor SDKs (tests.target_census), the source through
simple-salesforce: no exporter code decides what is right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.target_census import (
    Expected,
    hubspot_custom_objects,
    hubspot_records_by_source,
    hubspot_target,
    salesforce_rows,
    tally,
)

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
CLEAN = {"duplicates": 0, "extras": 0, "missing": 0, "wrong_links": 0, "stale_links": 0}
#: Salesforce object -> (HubSpot custom object, Salesforce field -> HubSpot property).
CLINICAL: dict[str, tuple[str, dict[str, str]]] = {
    "Medication__c": ("medications", {
        "Name": "medication_name", "Dose__c": "dose", "Route__c": "route", "Times__c": "times",
        "Prescriber__c": "prescriber", "PRN_Instructions__c": "prn_instructions",
        "Active__c": "medication_active", "Medication_Key__c": "medication_key"}),
    "Allergy__c": ("allergies", {"Name": "allergy_name", "Substance__c": "substance",
                                 "Reaction__c": "reaction", "Severity__c": "severity"}),
    "Diagnosis__c": ("diagnoses", {"Name": "diagnosis_name", "ICD10_Code__c": "icd10_code"}),
}


def _synced(tmp: Path, src: Sandbox, source: str) -> Archive:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = src.source_configs(tmp / "s1")[source]
    assert run_sync(archive, {source: build_connector(source, table, tmp / "c.toml")}
                    ).status == "ok"
    return archive


def _writer(tmp: Path, dst: Sandbox, target: str) -> Any:
    config = {**dst.source_configs(tmp / "s2")[target], "retry": FAST_RETRY}
    return build_writer("t", config, tmp / "c.toml")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def test_clinical_records_become_custom_objects_of_their_client(tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=6, seed=21) as src, Sandbox(clients=0, seed=22) as dst:
        archive = _synced(tmp_path, src, "salesforce")
        with archive:
            writer = _writer(tmp_path, dst, "hubspot")
            dst.log.clear()
            report = run_restore(archive, writer, mapping, target="t")
            assert report.status == "ok"
            assert sorted(report.created_objects) == ["allergies", "diagnoses", "medications"]
            assert dst.log.count("hubspot", "schemas") == 1
            assert dst.log.count("hubspot", "schemas.create") == 3
            schemas = hubspot_custom_objects(dst)
            for obj, (name, props) in CLINICAL.items():
                schema = schemas[name]
                assert schema["objectTypeId"].startswith("2-")
                assert set(props.values()) <= {p["name"] for p in schema["properties"]}
                source = salesforce_rows(src, obj, [*props, "Client__c"])
                target = hubspot_records_by_source(dst, name, props.values(), "contacts")
                assert len(target) == len(source) > 0, obj
                for r in source:  # every field its own property, the client associated
                    got = target[f"salesforce/{obj}/{r['Id']}"]
                    assert {p: got.get(p) or "" for p in props.values()} == \
                        {p: _text(r[f]) for f, p in props.items()}, obj
                    assert got["@parents"] == {f"salesforce/Account/{r['Client__c']}"}
                expected = Expected(name, {f"salesforce/{obj}/{r['Id']}":
                                           f"salesforce/Account/{r['Client__c']}"
                                           for r in source})
                counts = tally(expected, hubspot_target(dst, name, "contacts"))
                assert {k: counts[k] for k in CLEAN} == CLEAN, obj
            notes = hubspot_records_by_source(dst, "notes", [])
            assert not [k for k in notes if k.split("/")[1] in CLINICAL]  # no note text
            assert verify_restore(archive, writer, mapping, target="t").record_rate == 100.0
            dst.log.clear()
            again = run_restore(archive, _writer(tmp_path, dst, "hubspot"), mapping,
                                target="t")
            assert (again.total("created"), again.total("updated"), again.created_objects) \
                == (0, 0, [])
            assert dst.log.count("hubspot", "schemas.create") == 0
            assert dst.log.count("hubspot", "schemas") == 1
