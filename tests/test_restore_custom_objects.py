"""Medications, allergies and diagnoses as structured records: Salesforce -> HubSpot into
custom objects the restore creates from the mapping's schemas (one schemas GET per run, one
POST per missing object), each record associated with its client's contact; and back.

The target is read only through the vendor SDKs (tests.target_census), the source through
simple-salesforce: no exporter code decides what is right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive
from exporter.errors import MappingError
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.target_census import (
    Expected,
    hubspot_custom_objects,
    hubspot_records_by_source,
    hubspot_rows,
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
    # care tasks: weekly instructions, not one-off (overdue) HubSpot tasks
    "Care_Task__c": ("care_tasks", {"Name": "care_task_name", "Day__c": "day",
                                    "Time__c": "time", "Task__c": "task", "Notes__c": "notes"}),
}
MADE = ["allergies", "care_tasks", "diagnoses", "medications"]


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
            plan = run_restore(archive, writer, mapping, target="t", dry_run=True)
            planned = {o.object: o.created for o in plan.objects}
            assert planned["medications"] == len(salesforce_rows(src, "Medication__c", []))
            assert dst.log.count("hubspot", "schemas.create") == 0  # a plan writes nothing
            writer = _writer(tmp_path, dst, "hubspot")
            dst.log.clear()
            report = run_restore(archive, writer, mapping, target="t")
            assert report.status == "ok"
            assert sorted(report.created_objects) == MADE
            assert dst.log.count("hubspot", "schemas") == 1
            assert dst.log.count("hubspot", "schemas.create") == len(MADE)
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
            assert hubspot_rows(dst, "tasks", []) == []  # no to-dos, overdue from day one
            weekly = hubspot_records_by_source(dst, "care_tasks", ["frequency"])
            assert {r["frequency"] for r in weekly.values()} == {"Weekly"}
            assert verify_restore(archive, writer, mapping, target="t").record_rate == 100.0
            dst.log.clear()
            again = run_restore(archive, _writer(tmp_path, dst, "hubspot"), mapping,
                                target="t")
            assert (again.total("created"), again.total("updated"), again.created_objects) \
                == (0, 0, [])
            assert dst.log.count("hubspot", "schemas.create") == 0
            assert dst.log.count("hubspot", "schemas") == 1


def _clinical_rows(sb: Sandbox, obj: str) -> list[tuple[str, ...]]:
    """A Salesforce org's records of ``obj``: client number and every field, as text."""
    fields = list(CLINICAL[obj][1])
    rows = salesforce_rows(sb, obj, ["Client__r.Client_Number__c", *fields])
    return sorted((r["Client__r"]["Client_Number__c"], *(_text(r[f]) for f in fields))
                  for r in rows)


def test_clinical_records_round_trip_and_copy_to_another_portal(tmp_path: Path) -> None:
    """Salesforce -> HubSpot custom objects -> a sync of that portal archives them (its
    schemas are discovered) -> HubSpot -> Salesforce under each client's Account, values
    equal to the first org's; and hubspot_to_hubspot copies them into a portal without
    them (created there from the mapping's schemas)."""
    with Sandbox(clients=5, seed=31) as src, Sandbox(clients=0, seed=32) as mid, \
            Sandbox(clients=0, seed=33) as dst, Sandbox(clients=0, seed=34) as other:
        with _synced(tmp_path / "1", src, "salesforce") as first:
            assert run_restore(first, _writer(tmp_path / "1", mid, "hubspot"),
                               load_mapping("salesforce_to_hubspot"), target="t"
                               ).status == "ok"
        with _synced(tmp_path / "2", mid, "hubspot") as second:
            for obj, (name, _props) in CLINICAL.items():
                archived = list(second.records("hubspot", name))
                assert len(archived) == len(salesforce_rows(src, obj, [])) > 0, name
                edges = [k for k, _r in second.records("hubspot", "associations")
                         if k.startswith(f"{name}/") and "/contacts/" in k]
                assert len(edges) == len(archived), name
            mapping = load_mapping("hubspot_to_salesforce")
            writer = _writer(tmp_path / "2", dst, "salesforce")
            report = run_restore(second, writer, mapping, target="t")
            assert report.status == "ok", report.errors[:3]
            for obj in CLINICAL:
                assert _clinical_rows(dst, obj) == _clinical_rows(src, obj), obj
            again = run_restore(second, writer, mapping, target="t")
            assert (again.total("created"), again.total("updated")) == (0, 0)
            copy = load_mapping("hubspot_to_hubspot")
            made = run_restore(second, _writer(tmp_path / "2", other, "hubspot"), copy,
                               target="o")
            assert made.status == "ok", made.errors[:3]
            assert sorted(made.created_objects) == MADE
            for name, props in CLINICAL.values():
                was = {f"hubspot/{name}/{r['id']}": r for r in
                       hubspot_rows(mid, name, props.values(), ["contacts"])}
                now = hubspot_records_by_source(other, name, props.values(), "contacts")
                assert set(now) == set(was), name
                for sid, got in now.items():
                    old = was[sid]
                    assert {p: got.get(p) for p in props.values()} == \
                        {p: old["properties"].get(p) for p in props.values()}, name
                    assert got["@parents"] == {f"hubspot/contacts/{a['id']}" for a in
                                               old["associations"]["contacts"]["results"]}


def test_a_schema_is_checked_when_the_mapping_is_read(tmp_path: Path) -> None:
    base = ('source = "salesforce"\ntarget = "hubspot"\n[[objects]]\nstream = "Allergy__c"\n'
            'object = "allergies"\nkey = "source_record_id"\n[objects.fields]\n'
            'allergy_name = "Name"\n[objects.schema]\n'
            'labels = { singular = "Allergy", plural = "Allergies" }\n')
    cases = {
        'primary = "allergy_name"\nproperties = { allergy_name = "string" }\n'
        'associated = ["contacts"]\n': None,
        'primary = "allergen"\nproperties = { allergy_name = "string" }\n': "primary",
        'primary = "allergy_name"\nproperties = { allergy_name = "varchar" }\n': "varchar",
        'primary = "allergy_name"\nproperties = { allergy_name = "string" }\nlabel = "x"\n':
            "unknown schema setting 'label'",
    }
    for n, (tail, problem) in enumerate(cases.items()):
        path = tmp_path / f"m{n}.toml"
        path.write_text(base + tail, encoding="utf-8")
        if problem is None:
            schema = load_mapping(path).objects[0].schema
            assert schema is not None and schema.associated == ("contacts",)
            assert schema.required == schema.searchable == ("allergy_name",)
            continue
        with pytest.raises(MappingError) as err:
            load_mapping(path)
        assert problem in str(err.value)


def test_custom_objects_keep_their_names_and_are_addressed_by_type_id(tmp_path: Path) -> None:
    """HubSpot refuses a custom object's plain name in API paths: a sync of a portal and its
    copy into another (hubspot_to_hubspot) name ``care_recipients`` by its objectTypeId on
    the wire, while the archived stream and the mapping keep the plain name users see."""
    with Sandbox(clients=3, seed=41) as src, Sandbox(clients=0, seed=42) as dst:
        with _synced(tmp_path, src, "hubspot") as archive:
            archived = list(archive.records("hubspot", "care_recipients"))
            assert archived
            assert any(k.startswith("care_recipients/")
                       for k, _r in archive.records("hubspot", "associations"))
            report = run_restore(archive, _writer(tmp_path, dst, "hubspot"),
                                 load_mapping("hubspot_to_hubspot"), target="t")
            assert report.status == "ok", report.errors[:3]
        copied = hubspot_records_by_source(dst, "care_recipients", ["client_number"],
                                           "contacts")
        assert set(copied) == {f"hubspot/care_recipients/{cid}" for cid, _r in archived}
        assert all(got["@parents"] for got in copied.values())
        type_id = hubspot_custom_objects(src)["care_recipients"]["objectTypeId"]
        for sb in (src, dst):
            paths = [e.path for e in sb.log.entries if e.vendor == "hubspot"]
            assert not [p for p in paths if "care_recipients" in p.lower()]
            assert [p for p in paths if f"/{type_id}" in p]
            assert not [e for e in sb.log.entries if e.vendor == "hubspot" and e.status == 400]
