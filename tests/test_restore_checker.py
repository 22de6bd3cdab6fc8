"""The independent checker (tests.target_census): after a restore, the target and the
source are both read through the vendor SDKs only and compared by what each mapping
promises, counting duplicates, extras, missing records, wrong and stale links and file
bytes. No exporter code takes part in deciding what is right."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from sandbox.agency import RELATIONSHIPS
from tests.restore_support import (
    hubspot_client,
    hubspot_path,
    salesforce,
    synced_archive,
    target_writer,
)
from tests.target_census import (
    Expected,
    hubspot_rows,
    hubspot_target,
    salesforce_activities,
    salesforce_rows,
    salesforce_target,
    sha,
    tally,
)

CLINICAL = {"Medication__c": "medications", "Allergy__c": "allergies",
            "Diagnosis__c": "diagnoses", "Care_Task__c": "care_tasks"}
CLEAN = {"duplicates": 0, "extras": 0, "missing": 0, "wrong_links": 0, "stale_links": 0,
         "bad_files": 0}


def _restored(tmp: Path, src: Sandbox, dst: Sandbox, source: str, target: str,
              mapping: str) -> Any:
    with synced_archive(tmp, src, source) as archive:
        writer = target_writer(tmp, dst, target)
        report = run_restore(archive, writer, load_mapping(mapping), target="t")
        check = verify_restore(archive, writer, load_mapping(mapping), target="t")
    return report, check


def _sf_bytes(sb: Sandbox, obj: str, rid: str, body: str) -> str:
    sf = salesforce(sb)
    return sha(sf.session.get(f"{sf.base_url}sobjects/{obj}/{rid}/{body}",
                              headers=sf.headers, timeout=30).content)


def _salesforce_promises(src: Sandbox) -> dict[str, Expected]:
    """Salesforce -> HubSpot, from the source org: physicians as companies, clients and
    emergency contacts as contacts (clients with their physician's company), care plans,
    clinical records, tasks and documents on their client (documents with their bytes)."""
    def sid(obj: str, rid: str | None) -> str | None:
        return f"salesforce/{obj}/{rid}" if rid else None

    out = {o: Expected(o) for o in ("companies", "contacts", "care_recipients", "notes",
                                    *CLINICAL.values())}
    for r in salesforce_rows(src, "Physician__c", []):
        out["companies"].parents[str(sid("Physician__c", r["Id"]))] = None
    for r in salesforce_rows(src, "Account", ["Primary_Physician__c"]):
        out["contacts"].parents[str(sid("Account", r["Id"]))] = \
            sid("Physician__c", r["Primary_Physician__c"])
    for r in salesforce_rows(src, "Emergency_Contact__c", []):
        out["contacts"].parents[str(sid("Emergency_Contact__c", r["Id"]))] = None
    for r in salesforce_rows(src, "Care_Plan__c", ["Client__c"]):
        out["care_recipients"].parents[str(sid("Care_Plan__c", r["Id"]))] = \
            sid("Account", r["Client__c"])
    for obj, custom in CLINICAL.items():  # custom objects the restore creates
        for r in salesforce_rows(src, obj, ["Client__c"]):
            out[custom].parents[str(sid(obj, r["Id"]))] = sid("Account", r["Client__c"])
    for obj, parent, body in (("ContentVersion", "FirstPublishLocationId", "VersionData"),
                              ("Attachment", "ParentId", "Body")):
        for r in salesforce_rows(src, obj, [parent]):
            key = str(sid(obj, r["Id"]))
            out["notes"].parents[key] = sid("Account", r[parent])
            out["notes"].files[key] = _sf_bytes(src, obj, r["Id"], body)
    return out


def _hubspot_census(dst: Sandbox) -> dict[str, Counter[str]]:
    to = {"companies": None, "contacts": "companies", "care_recipients": "contacts",
          "notes": "contacts", **{custom: "contacts" for custom in CLINICAL.values()}}
    return {obj: hubspot_target(dst, obj, other, files=obj == "notes")
            for obj, other in to.items()}  # type: ignore[misc]


def test_salesforce_to_hubspot_checked_independently(tmp_path: Path) -> None:
    with Sandbox(clients=8, seed=11) as src, Sandbox(clients=0, seed=12) as dst:
        report, check = _restored(tmp_path, src, dst, "salesforce", "hubspot",
                                  "salesforce_to_hubspot")
        assert report.status == "ok" and check.record_rate == 100.0
        promises = _salesforce_promises(src)
        rows = _hubspot_census(dst)
        found = {obj: tally(promises[obj], rows[obj]) for obj in promises}
        for obj, counts in found.items():
            assert {k: counts[k] for k in CLEAN} == CLEAN, obj
        assert found["notes"]["files"] == len(promises["notes"].files) > 0
        # the checker sees what it counts: a planted duplicate's twin, a stranger, a stale
        # association (to a client not its own) and changed bytes
        client = hubspot_client(dst)
        client.crm.objects.basic_api.create("companies", {"properties": {"name": "Elsewhere"}})
        task = next(r for r in rows["care_tasks"] if r.parents)
        other = next(r for r in rows["contacts"] if r.source_id.startswith(
            "salesforce/Account/") and r.source_id not in task.parents)
        client.crm.associations.v4.basic_api.create_default(hubspot_path(dst, "care_tasks"),
                                                            task.target_id,
                                                            "contacts", other.target_id)
        again = _hubspot_census(dst)
        assert tally(promises["companies"], again["companies"])["extras"] == 1
        assert tally(promises["care_tasks"], again["care_tasks"])["stale_links"] == 1


def _hubspot_promises(src: Sandbox) -> dict[str, Expected]:
    """HubSpot -> Salesforce, from the source portal: physician practices, clients as
    Accounts, family contacts and care plans under their client's Account (by client
    number), to-dos as Tasks, deals as Opportunities and tickets as Cases on the Account of
    the client whose number their associated contact carries, files with their bytes."""
    def sid(obj: str, rid: Any) -> str:
        return f"hubspot/{obj}/{rid}"

    out = {o: Expected(o) for o in ("Physician__c", "Account", "Emergency_Contact__c",
                                    "Care_Plan__c", "Task", "ContentVersion",
                                    "Opportunity", "Case")}
    for r in hubspot_rows(src, "companies", ["company_category"]):
        if r["properties"].get("company_category") == "Physician practice":
            out["Physician__c"].parents[sid("companies", r["id"])] = None
    contacts = hubspot_rows(src, "contacts", ["relationship", "client_number"])
    clients = {c["properties"]["client_number"]: sid("contacts", c["id"]) for c in contacts
               if c["properties"].get("relationship") == "Client"}
    for c in contacts:
        rel = c["properties"].get("relationship")
        if rel == "Client":
            out["Account"].parents[sid("contacts", c["id"])] = None
        elif rel in RELATIONSHIPS:
            out["Emergency_Contact__c"].parents[sid("contacts", c["id"])] = \
                clients.get(c["properties"].get("client_number"))
    for r in hubspot_rows(src, "care_recipients", ["client_number"]):
        out["Care_Plan__c"].parents[sid("care_recipients", r["id"])] = \
            clients.get(r["properties"].get("client_number"))
    client_of = {str(c["id"]): clients.get(c["properties"].get("client_number"))
                 for c in contacts}
    for stream, obj in (("tasks", "Task"), ("deals", "Opportunity"), ("tickets", "Case")):
        for t in hubspot_rows(src, stream, [], ["contacts"]):
            linked = [str(a["id"]) for a in
                      ((t.get("associations") or {}).get("contacts") or {}).get("results", [])]
            out[obj].parents[sid(stream, t["id"])] = next(
                (c for c in map(client_of.get, linked) if c), None)
    client = hubspot_client(src)
    for f in client.files.files_api.do_search().results:
        key = sid("files", f.id)
        out["ContentVersion"].parents[key] = None
        url = client.files.files_api.get_signed_url(f.id).url
        out["ContentVersion"].files[key] = sha(requests.get(url, timeout=30).content)
    return out


def test_hubspot_to_salesforce_checked_independently(tmp_path: Path) -> None:
    with Sandbox(clients=8, seed=13) as src, Sandbox(clients=0, seed=14) as dst:
        report, check = _restored(tmp_path, src, dst, "hubspot", "salesforce",
                                  "hubspot_to_salesforce")
        assert report.status == "ok" and check.record_rate == 100.0
        promises = _hubspot_promises(src)
        links = {"Emergency_Contact__c": "Client__c", "Care_Plan__c": "Client__c",
                 "Opportunity": "AccountId", "Case": "AccountId"}
        # calls, e-mails and notes are Tasks too, checked by test_restore_activities
        others = tuple(f"hubspot/{s}/" for s in ("calls", "emails", "notes"))
        for obj, expected in promises.items():
            rows = [r for r in salesforce_activities(dst, obj)[0]
                    if not r.source_id.startswith(others)] if obj == "Task" else \
                salesforce_target(dst, obj, links.get(obj),
                                  "VersionData" if obj == "ContentVersion" else None)
            counts = tally(expected, rows)
            assert {k: counts[k] for k in CLEAN} == CLEAN, obj
        for obj in ("Task", "Opportunity", "Case"):
            assert promises[obj].parents and all(promises[obj].parents.values()), obj
        assert salesforce_rows(dst, "Care_Task__c", []) == []  # to-dos are no care tasks
        assert tally(promises["ContentVersion"], salesforce_target(
            dst, "ContentVersion", None, "VersionData"))["files"] > 0
        salesforce(dst).Physician__c.create({"Name": "Dr Extra", "Practice__c": "X"})
        assert tally(promises["Physician__c"],
                     salesforce_target(dst, "Physician__c"))["extras"] == 1


def test_any_to_csv_checked_independently(tmp_path: Path) -> None:
    """The CSV target: one row per archived record (by id), every file's bytes beside."""
    with Sandbox(clients=5, seed=15) as src:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            table = src.source_configs(tmp_path / "s1")["salesforce"]
            assert run_sync(archive, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
            folder = tmp_path / "out"
            writer = build_writer("csv", {"type": "csv", "path": str(folder)},
                                  tmp_path / "c.toml")
            assert run_restore(archive, writer, load_mapping("any_to_csv"),
                               target="csv").status in ("ok", "partial")
        for obj in ("Account", "Care_Plan__c", "Medication__c", "Care_Task__c",
                    "ContentVersion"):
            source = {r["Id"] for r in salesforce_rows(src, obj, [])}
            path = next(p for p in folder.rglob(f"{obj}.csv"))
            with path.open(encoding="utf-8-sig", newline="") as fh:
                ids = [row["id"] for row in csv.DictReader(fh)]
            assert (len(ids) - len(set(ids)), set(ids) - source, source - set(ids)) == \
                (0, set(), set()), obj
        expected = {_sf_bytes(src, "ContentVersion", r["Id"], "VersionData")
                    for r in salesforce_rows(src, "ContentVersion", [])}
        written = {hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in (folder / "files").rglob("*") if p.is_file()}
        assert expected <= written


def test_emergency_contacts_are_associated_with_their_client_labelled(tmp_path: Path) -> None:
    import json

    with Sandbox(clients=6, seed=16) as src, Sandbox(clients=0, seed=17) as dst:
        report, check = _restored(tmp_path, src, dst, "salesforce", "hubspot",
                                  "salesforce_to_hubspot")
        assert report.status == "ok" and check.record_rate == 100.0
        ids = {r.source_id: r.target_id for r in hubspot_target(dst, "contacts")}
        api = hubspot_client(dst).crm.associations.v4.basic_api
        family = salesforce_rows(src, "Emergency_Contact__c", ["Client__c"])
        assert family
        for r in family:
            mine = ids[f"salesforce/Emergency_Contact__c/{r['Id']}"]
            body = json.loads(api.get_page("contacts", mine, "contacts",
                                           _preload_content=False).data)
            labelled = {str(a["toObjectId"]) for a in body["results"]
                        if "Emergency contact" in [t.get("label") for t in
                                                   a["associationTypes"]]}
            assert labelled == {ids[f"salesforce/Account/{r['Client__c']}"]}


def test_access_notes_and_care_level_reach_salesforce(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=18) as src, Sandbox(clients=0, seed=19) as dst:
        report, check = _restored(tmp_path, src, dst, "hubspot", "salesforce",
                                  "hubspot_to_salesforce")
        assert report.status == "ok" and check.record_rate == 100.0
        assert "Access_Notes__c" in report.created_fields["Account"]
        notes = {c["properties"]["client_number"]: c["properties"].get("access_notes")
                 for c in hubspot_rows(src, "contacts", ["relationship", "client_number",
                                                         "access_notes"])
                 if c["properties"].get("relationship") == "Client"}
        accounts = {r["Client_Number__c"]: r["Access_Notes__c"] for r in salesforce_rows(
            dst, "Account", ["Client_Number__c", "Access_Notes__c"])}
        assert accounts == notes and any(notes.values())
        levels = {r["properties"]["client_number"]: r["properties"].get("care_level")
                  for r in hubspot_rows(src, "care_recipients", ["client_number",
                                                                 "care_level"])}
        plans = {r["Client__r"]["Client_Number__c"]: r["Care_Level__c"] for r in
                 salesforce_rows(dst, "Care_Plan__c", ["Client__r.Client_Number__c",
                                                       "Care_Level__c"])}
        assert plans == levels and any(levels.values())
