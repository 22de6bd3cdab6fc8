"""The care plan survives a vendor move, end to end: an archive synced from one vendor's
sandbox is printed, restored into the other vendor's empty sandbox (the bundled mapping),
that sandbox is synced into a new archive and printed again, and what a caregiver needs is
compared client by client (the printed plans' rows, read back from the PDF text too).

The comparison is written here, not taken from exporter code: every care-critical section,
every row, every value, with the only differences docs/careplan.md names ("What a vendor
move keeps")."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from exporter.archive import Archive
from exporter.careplan.build import ArchiveView, all_clients
from exporter.careplan.definition import (
    check_against,
    default_definition_text,
    load_definition,
    parse_definition,
)
from exporter.careplan.printing import choose_plans, print_care_plans
from exporter.careplan.stored import configured_definition
from exporter.config import load_config
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import FAST_RETRY

# What a caregiver needs (docs/careplan.md, "What a care plan shows"); the latest notes
# are office history, compared apart where a mapping carries them.
CARE_CRITICAL = ("identity", "address", "code_status", "allergies", "emergency_contacts",
                 "physician", "pharmacy", "diagnoses", "medications", "care_tasks", "visits",
                 "diet", "safety", "goals")
SALESFORCE = load_definition()
HUBSPOT = load_definition(Path("hubspot"))

Plans = dict[str, dict[str, list[dict[str, str]]]]


def _archive(path: Path, tables: dict[str, dict[str, Any]]) -> Archive:
    archive, _ = Archive.create(path, key_file=path.with_suffix(".key"))
    connectors = {name: build_connector(name, table, path.parent / "c.toml")
                  for name, table in tables.items()}
    assert run_sync(archive, connectors).status == "ok"
    return archive


def _restore(archive: Archive, dst: Sandbox, vendor: str, mapping: str, tmp: Path,
             refused: tuple[str, ...] = ()) -> None:
    """Restore into ``dst``; ``refused``: the only fields the target may refuse (left out
    of their record and reported)."""
    config = {**dst.source_configs(tmp / f"secrets-{vendor}")[vendor], "retry": FAST_RETRY}
    writer = build_writer("new", config, tmp / "c.toml")
    report = run_restore(archive, writer, load_mapping(mapping), target="new")
    assert report.total("failed") == 0, report.errors[:3]
    assert sorted({e.message.split(":")[0] for e in report.errors}) == sorted(
        f"written without {f}" for f in refused), report.errors[:3]


def _plans(archive: Archive, definition: Any) -> Plans:
    """Every client's plan (active or not) as `exporter print CLIENT` builds it: per
    section, each row as {label: printed value} (with the day a care task is grouped under)."""
    out: Plans = {}
    for client in all_clients(ArchiveView(archive), definition):
        plan = choose_plans(archive, definition, query=client.display_key).plans[0]
        assert plan.client.display_key == client.display_key
        out[client.display_key] = {
            s.id: [{"day": r.group, **dict(zip(s.labels, r.cells, strict=True))}
                   for r in s.rows] for s in plan.sections}
    return out


def _comparable(plans: Plans) -> Plans:
    """The care-critical content, without what docs/careplan.md says a move changes:
    Salesforce's Age (a formula field; HubSpot keeps the date of birth, printed on every
    page) and the physician's name where the source vendor had none (HubSpot names the
    practice only; Salesforce requires a name and gets the practice's)."""
    out: Plans = {}
    for key, sections in plans.items():
        kept = {}
        for sid in CARE_CRITICAL:
            rows = [dict(r) for r in sections.get(sid, [])]
            for row in rows:
                row.pop("Age", None)
                if sid == "physician" and row.get("Physician") == row.get("Practice"):
                    row["Physician"] = ""
            kept[sid] = rows
        out[key] = kept
    return out


def _differences(before: Plans, after: Plans) -> list[str]:
    found = []
    for key in sorted(set(before) | set(after)):
        if key not in after or key not in before:
            found.append(f"{key}: {'lost' if key not in after else 'new'}")
            continue
        for sid in CARE_CRITICAL:
            if before[key][sid] != after[key][sid]:
                found.append(f"{key} {sid}: {before[key][sid]} != {after[key][sid]}")
    return found


def _pdf_text(archive: Archive, definition: Any, out: Path) -> str:
    result = print_care_plans(archive, definition, everyone=True, out=out)
    reader = PdfReader(io.BytesIO(result.files[0].read_bytes()))
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


def _edit(archive: Archive, stream: str, changes: dict[str, dict[str, Any]]) -> None:
    """A sync that saw the records change (values the restore must carry whole)."""
    run = archive.begin_run()
    records = dict(archive.records("salesforce", stream))
    archive.put_batch(run, "salesforce", stream,
                      [(rid, {**records[rid], **values}) for rid, values in changes.items()])
    archive.finish_run(run, "ok")


def _hostile(archive: Archive) -> None:
    """Values a move must not lose: a code status outside HubSpot's options, a stopped
    medication, two family contacts sharing an email (HubSpot keeps contact emails
    unique)."""
    plans = list(archive.records("salesforce", "Care_Plan__c"))
    _edit(archive, "Care_Plan__c", {plans[0][0]: {"Code_Status__c": "DNR (verbal order)"}})
    meds = list(archive.records("salesforce", "Medication__c"))
    _edit(archive, "Medication__c", {meds[0][0]: {"Active__c": False}})
    family = list(archive.records("salesforce", "Emergency_Contact__c"))
    _edit(archive, "Emergency_Contact__c", {rid: {"Email__c": "family@example.org"}
                                            for rid, _ in (family[0], family[-1])})


def test_salesforce_to_hubspot_prints_the_same_care_plans(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=3) as src, Sandbox(clients=0, seed=4) as dst:
        own = src.source_configs(tmp_path / "s1")
        a = _archive(tmp_path / "a.db", own)  # the agency: Salesforce, HubSpot, Google
        _hostile(a)
        _restore(a, dst, "hubspot", "salesforce_to_hubspot", tmp_path)
        b = _archive(tmp_path / "b.db", {"hubspot": dst.source_configs(
            tmp_path / "s2")["hubspot"], "google": own["google"]})
        before, after = _plans(a, SALESFORCE), _plans(b, HUBSPOT)
        assert len(before) == 6
        diff = _differences(_comparable(before), _comparable(after))
        assert diff == [], "\n".join(diff)
        # the hostile values are there, as printed
        codes = [r["Code status"] for p in after.values() for r in p["code_status"]]
        assert "DNR (verbal order)" in codes
        assert sum(len(p["medications"]) for p in after.values()) == sum(
            len(p["medications"]) for p in before.values()) > 0
        # and the PDF a caregiver holds says them
        text = _pdf_text(b, HUBSPOT, tmp_path / "b.pdf")
        binder = [p for p in before.values() if p["identity"][0]["Status"] == "Active"]
        for plan in binder:
            for row in plan["medications"] + plan["allergies"]:
                name = row.get("Medication") or row["Substance"]
                assert " ".join(name.split()) in text


def test_hubspot_to_salesforce_prints_the_same_care_plans(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=3) as src, Sandbox(clients=0, seed=4) as dst:
        own = src.source_configs(tmp_path / "s1")
        # the agency with its clients in HubSpot (and its visits in Google)
        a = _archive(tmp_path / "a.db", {"hubspot": own["hubspot"], "google": own["google"]})
        cid, care = next(iter(a.records("hubspot", "care_recipients")))
        long_diet = "Soft, low-salt diet; thickened fluids. " * 10  # Diet__c holds 255
        run = a.begin_run()
        a.put_batch(run, "hubspot", "care_recipients", [
            (cid, {**care, "properties": {**care["properties"], "diet": long_diet}})])
        a.finish_run(run, "ok")
        _restore(a, dst, "salesforce", "hubspot_to_salesforce", tmp_path, ("Diet__c",))
        b = _archive(tmp_path / "b.db", {"salesforce": dst.source_configs(
            tmp_path / "s2")["salesforce"], "google": own["google"]})
        before, after = _plans(a, HUBSPOT), _plans(b, SALESFORCE)
        assert len(before) == 6
        diff = _differences(_comparable(before), _comparable(after))
        assert diff == [], "\n".join(diff)
        # what the comparison rests on is there: the home access notes (the contact's in
        # HubSpot, the Account's in Salesforce) and each client's physician practice
        assert any(p["address"] and p["address"][0]["Access notes"] for p in after.values())
        assert all(len(p["physician"]) == 1 for p in after.values())
        assert [r["Diet"] for p in after.values() for r in p["diet"]].count(long_diet) == 1
        # a portal without medications says so on paper, in the section's place
        text = _pdf_text(a, HUBSPOT, tmp_path / "a.pdf")
        assert "Medications source: hubspot · medications Not recorded." in text
        assert text.count("Not recorded: no allergies are recorded; this does not mean the "
                          "client has none") == len(before)


def test_the_built_in_hubspot_definition_is_chosen_by_name_in_the_config(
        tmp_path: Path) -> None:
    config = tmp_path / "exporter.toml"
    config.write_text('[archive]\npath = "a.db"\n[careplan]\ndefinition = "hubspot"\n',
                      encoding="utf-8")
    chosen = configured_definition(load_config(config))
    assert chosen.client.stream == "hubspot/contacts"
    assert chosen.path == "built-in hubspot.toml"
    (tmp_path / "hubspot").write_text(default_definition_text(), encoding="utf-8")
    assert configured_definition(load_config(config)).client.stream == "salesforce/Account"


def test_salesforce_to_hubspot_and_back_loses_nothing_care_critical(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=3) as src, Sandbox(clients=0, seed=4) as hs, \
            Sandbox(clients=0, seed=5) as sf:
        own = src.source_configs(tmp_path / "s1")
        a = _archive(tmp_path / "a.db", own)
        _hostile(a)
        _restore(a, hs, "hubspot", "salesforce_to_hubspot", tmp_path)
        b = _archive(tmp_path / "b.db", {"hubspot": hs.source_configs(
            tmp_path / "s2")["hubspot"], "google": own["google"]})
        _restore(b, sf, "salesforce", "hubspot_to_salesforce", tmp_path)
        c = _archive(tmp_path / "c.db", {"salesforce": sf.source_configs(
            tmp_path / "s3")["salesforce"], "google": own["google"]})
        before, after = _plans(a, SALESFORCE), _plans(c, SALESFORCE)
        assert len(before) == 6
        diff = _differences(_comparable(before), _comparable(after))
        assert diff == [], "\n".join(diff)


def test_optional_parts_may_be_missing_and_the_rest_stays_checked(tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    run = archive.begin_run()
    archive.put_batch(run, "hubspot", "contacts", [("1", {"id": "1", "properties": {
        "client_number": "C-00001", "firstname": "Ruth", "relationship": "Client"}})])
    archive.finish_run(run, "ok")
    text = '''
[client]
stream = "hubspot/contacts"
key = "properties.client_number"
name = "properties.firstname"

[[client.match]]
stream = "salesforce/Account"
key = "Client_Number__c"
optional = true

[sections.identity]
stream = "hubspot/contacts"
fields = [
  { label = "Name", field = "properties.firstname" },
  { label = "Gender", field = "properties.gender", optional = true },
  { label = "Phone", field = "properties.phoen" },
]

[sections.medications]
stream = "hubspot/medications"
optional = true
join = { field = "properties.client_number", to = "key" }
fields = [{ label = "Medication", field = "properties.medication_name" }]

[sections.allergies]
stream = "hubspot/allergies"
join = { field = "properties.client_number", to = "key" }
fields = [{ label = "Substance", field = "properties.allergy_name" }]
'''
    problems = check_against(parse_definition(text), archive)
    # the typo and the stream not marked optional, nothing about the optional parts
    assert len(problems) == 3, problems
    assert "[sections.identity] field 'Phone': hubspot/contacts has no field " \
        "'properties.phoen'" in problems[0]
    assert all(p.startswith("[sections.allergies]") and "there is no stream "
               "'hubspot/allergies'" in p for p in problems[1:])
    fixed = text.replace('"properties.phoen"', '"properties.firstname"')
    plan = choose_plans(archive, parse_definition(fixed[:fixed.index("[sections.allergies]")]),
                        query="C-00001").plans[0]
    # printed, empty: the medications section says "Not recorded"
    assert [(s.id, [r.cells for r in s.rows]) for s in plan.sections] == [
        ("identity", [["Ruth", "", "Ruth"]]), ("medications", [])]
