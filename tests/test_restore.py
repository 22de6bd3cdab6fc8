"""Restore engine, mappings and the CSV target, on archives filled through the library API
(records shaped as the connectors archive them). The vendor targets are in
test_restore_vendors.py."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from exporter.restore import MappingError, load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter
from exporter.restore.mapping import FieldRule
from exporter.restore.transforms import apply

ACCOUNTS = [
    ("001A", {"Id": "001A", "Name": "Ada Lovelace", "Client_Number__c": "C-00001",
              "Birthdate__c": "1940-12-10", "Status__c": "Active", "Manager__c": "a05B",
              "BillingAddress": {"street": "1 Main St", "city": "Leeds"}}),
    ("001B", {"Id": "001B", "Name": "Zoë van der Berg", "Client_Number__c": "C-00002",
              "Birthdate__c": "1938-01-02", "Status__c": "Discharged", "Manager__c": "a05A",
              "BillingAddress": None}),
]
STAFF = [  # a reference cycle: accounts point at staff, staff point at accounts
    ("a05A", {"Id": "a05A", "Name": "Sam", "Favourite__c": "001A"}),
    ("a05B", {"Id": "a05B", "Name": "Kim", "Favourite__c": "001B"}),
]
MEDS = [
    ("a02X", {"Id": "a02X", "Name": "Metformin", "Client__c": "001A",
              "CreatedDate": "2026-01-05T09:30:00.000+0000"}),
    ("a02Y", {"Id": "a02Y", "Name": "Aspirin", "Client__c": "001B",
              "CreatedDate": "not a date"}),
]

MAPPING = """
source = "salesforce"
target = "csv"
ignore = ["Id"]

[[objects]]
stream = "Account"
object = "clients"
[objects.fields]
first = { from = "Name", split = " ", part = "first" }
last = { from = "Name", split = " ", part = "rest" }
number = "Client_Number__c"
born = { from = "Birthdate__c", date = "%d/%m/%Y" }
stage = { from = "Status__c", map = { Active = "customer" }, default = "other" }
street = "BillingAddress.street"
[[objects.links]]
from = "Manager__c"
to = "Staff__c"
name = "manager"

[[objects]]
stream = "Staff__c"
object = "staff"
[objects.fields]
name = "Name"
[[objects.links]]
from = "Favourite__c"
to = "Account"
name = "favourite"

[[objects]]
stream = "Medication__c"
object = "medications"
[objects.fields]
label = { join = ["Name", "Client__c"], sep = " for " }
client_number = { parent = "Client__c", stream = "Account", from = "Client_Number__c" }
when = { from = "CreatedDate", date = "iso-ms" }
[[objects.links]]
from = "Client__c"
to = "Account"
name = "client"
"""


def _fill(archive: Archive) -> int:
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", ACCOUNTS)
    archive.put_batch(run, "salesforce", "Staff__c", STAFF)
    archive.put_batch(run, "salesforce", "Medication__c", MEDS)
    info = archive.put_file(run, [b"%PDF-1.4 care plan"], "application/pdf")
    archive.put_batch(run, "salesforce", "ContentVersion", [Record(
        "068A", {"Id": "068A", "Title": "Plan", "PathOnClient": "plan.pdf"},
        files={"VersionData": info.hash})])
    archive.finish_run(run, "ok")
    return run


def _mapping(tmp_path: Path, text: str = MAPPING) -> Any:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


def _rows(folder: Path, name: str) -> dict[str, dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_transforms() -> None:
    data = {"Name": "Zoë van der Berg", "When": "2026-01-05T09:30:00.000+0000", "N": 3.0,
            "Flag": True, "properties": {"x": "1"}}
    assert apply(FieldRule("f", ("Name",), split=" ", part="rest"), data) == "van der Berg"
    assert apply(FieldRule("f", ("Name",), split=" ", part="last"), data) == "Berg"
    assert apply(FieldRule("f", ("When",), date="%Y-%m-%d"), data) == "2026-01-05"
    assert apply(FieldRule("f", ("When",), date="iso-ms"), data) == "2026-01-05T09:30:00.000Z"
    assert apply(FieldRule("f", ("N",), type="string"), data) == "3"
    assert apply(FieldRule("f", ("Flag",), map={"true": "yes"}), data) == "yes"
    assert apply(FieldRule("f", ("x",)), data, prefix="properties.") == "1"
    assert apply(FieldRule("f", ("Missing",), default="d"), data) == "d"
    assert apply(FieldRule("f", value="Client"), data) == "Client"


def test_csv_restore_relinks_a_cycle_reports_failures_and_reruns_idempotently(
        archive: Archive, tmp_path: Path) -> None:
    _fill(archive)
    mapping = _mapping(tmp_path)
    out = tmp_path / "csv"
    writer = CsvWriter("files", {"path": str(out)}, {})
    errors = tmp_path / "errors.csv"

    plan = run_restore(archive, writer, mapping, target="files", dry_run=True)
    assert {o.object: o.created for o in plan.objects} == {"clients": 2, "staff": 2,
                                                           "medications": 1}
    assert plan.unmapped["Account"] == []
    assert "ContentVersion" in plan.unmapped_streams
    assert [e.source_id for e in plan.errors] == ["a02Y"]  # would fail validation
    assert not out.exists()  # a dry run writes nothing

    report = run_restore(archive, writer, mapping, target="files", errors_path=errors)
    assert report.status == "partial"
    assert report.total("created") == 5 and report.total("linked") == 2
    assert errors.read_bytes().startswith(b"\xef\xbb\xbftarget_object,")  # Excel: a BOM
    with errors.open(encoding="utf-8-sig") as fh:
        bad = list(csv.DictReader(fh))
    assert [(b["source_stream"], b["source_id"]) for b in bad] == [("Medication__c", "a02Y")]
    assert "not a date" in bad[0]["message"]

    clients, staff = _rows(out, "clients"), _rows(out, "staff")
    assert clients["001A"]["first"] == "Ada" and clients["001B"]["last"] == "van der Berg"
    assert clients["001A"]["born"] == "10/12/1940" and clients["001B"]["stage"] == "other"
    assert clients["001A"]["street"] == "1 Main St" and clients["001B"]["street"] == ""
    # the cycle: one side written first, the other relinked by the second pass
    assert clients["001A"]["manager"] == "a05B" and staff["a05A"]["favourite"] == "001A"
    meds = _rows(out, "medications")
    assert meds["a02X"]["client"] == "001A" and meds["a02X"]["client_number"] == "C-00001"

    check = verify_restore(archive, writer, mapping, target="files")
    assert (check.records, check.records_matching, check.field_rate) == (6, 5, 100.0)
    assert [(m.source_id, m.found) for m in check.mismatches] == [
        ("a02Y", "not restored: cannot be mapped: 'not a date' is not a date")]

    again = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                        target="files")
    assert (again.total("created"), again.total("updated"), again.total("linked")) == (0, 0, 0)
    assert again.total("unchanged") == 5

    run = archive.begin_run()  # the source changes: only that record is sent again
    archive.put_batch(run, "salesforce", "Account", [
        ("001B", {**ACCOUNTS[1][1], "Status__c": "Active"})])
    archive.finish_run(run, "ok")
    third = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                        target="files")
    assert (third.total("created"), third.total("updated")) == (0, 1)
    assert _rows(out, "clients")["001B"]["stage"] == "customer"
    actions = [(e["action"], e["detail"].get("created")) for e in
               archive.audit_entries("restore")]
    assert ("restore", 5) in actions and ("restore", 0) in actions
    assert ("restore.verify", None) in actions


def test_as_of_restores_the_data_as_it_was(archive: Archive, tmp_path: Path) -> None:
    first = _fill(archive)
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", [("001A", {**ACCOUNTS[0][1],
                                                                "Name": "Ada King"})])
    archive.finish_run(run, "ok")
    out = tmp_path / "old"
    run_restore(archive, CsvWriter("old", {"path": str(out)}, {}), _mapping(tmp_path),
                target="old", as_of=first, only=["Account", "Staff__c"])
    assert _rows(out, "clients")["001A"]["last"] == "Lovelace"
    assert not (out / "medications.csv").exists()


def test_any_to_csv_writes_every_stream_and_files_beside(archive: Archive,
                                                        tmp_path: Path) -> None:
    _fill(archive)
    out = tmp_path / "all"
    writer = CsvWriter("all", {"path": str(out)}, {})
    report = run_restore(archive, writer, load_mapping("any_to_csv"), target="all")
    assert report.status == "ok" and report.total("files") == 1
    cv = _rows(out, "ContentVersion")["068A"]
    assert (out / cv["file"]).read_bytes() == b"%PDF-1.4 care plan"
    assert _rows(out, "Account")["001A"]["BillingAddress.city"] == "Leeds"
    assert verify_restore(archive, writer, load_mapping("any_to_csv"),
                          target="all").record_rate == 100.0


@pytest.mark.parametrize("change,message", [
    ('stream = "Account"', "no stream 'Acount' from salesforce (did you mean Account"),
    ('number = "Client_Number__c"', "no field 'Client_Numbr__c' (did you mean Client_Number__c"),
    ('to = "Staff__c"', "must name one mapped object"),
    ('born = { from = "Birthdate__c", date = "%d/%m/%Y" }', "unknown transform 'fromm'"),
])
def test_mapping_errors_name_the_problem_and_the_nearest_name(
        archive: Archive, tmp_path: Path, change: str, message: str) -> None:
    _fill(archive)
    broken = {
        'stream = "Account"': 'stream = "Acount"',
        'number = "Client_Number__c"': 'number = "Client_Numbr__c"',
        'to = "Staff__c"': 'to = "Staf__c"',
        'born = { from = "Birthdate__c", date = "%d/%m/%Y" }':
            'born = { fromm = "Birthdate__c" }',
    }[change]
    text = MAPPING.replace(change, broken, 1)
    with pytest.raises(MappingError) as err:
        run_restore(archive, CsvWriter("x", {"path": str(tmp_path / "x")}, {}),
                    _mapping(tmp_path, text), target="x")
    assert message in str(err.value)
    assert archive.id_map("x") == []


def test_cli_restore_to_a_csv_target_exit_codes_and_error_report(run_cli: Any,
                                                                 tmp_path: Path) -> None:
    run_cli.init()
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[targets.folder]\ntype = "csv"\npath = "{tmp_path / "out"}"\n')
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        _fill(arc)
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    errors = tmp_path / "bad.csv"

    plan = run_cli("restore", "--to", "folder", "--mapping", str(mapping), "--dry-run",
                   "--errors", str(errors))
    assert plan.exit_code == 0, plan.output
    assert "Account -> clients: 2 records: 2 to create" in plan.output
    assert "would fail: Medication__c a02Y" in plan.output
    assert not (tmp_path / "out").exists() and not errors.exists()

    done = run_cli("restore", "--to", "folder", "--mapping", str(mapping), "--errors",
                   str(errors), "--verify")
    assert done.exit_code == 11, done.output  # partial: one record failed
    assert "5 created" in done.output and str(errors) in done.output
    assert "a02Y" in errors.read_text(encoding="utf-8")

    check = run_cli("restore", "--to", "folder", "--mapping", str(mapping), "--dry-run",
                    "--verify", "--only", "Account,Staff__c")
    assert check.exit_code == 0 and "4 of 4 records match (100.0%)" in check.output

    bad = run_cli("restore", "--to", "foldr", "--mapping", str(mapping))
    assert bad.exit_code == 3 and "did you mean folder" in bad.output
