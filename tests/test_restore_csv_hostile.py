"""Hostile archive content into the CSV target: record ids, file names and client names with
path separators, ``..``, Windows device names, names that differ only by characters a file
name cannot hold or by case, and cells a spreadsheet would run (after a leading space or a
quote too, in ids and headers as well). Nothing is written outside the output folder, no
file takes another's place, every cell is shown by Excel as text, and the files read back
as archived."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter
from exporter.writer import FileItem, WriteItem

#: A cell Excel or LibreOffice (with "trim spaces") would run: a formula character after
#: any spaces or line breaks, not a plain number, and not behind our quote.
RUNS = re.compile(r"^[ \n]*[=+\-@\t\r]")
NUMBER = re.compile(r"^[ \n]*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

ACCOUNTS = [
    ("001A", {"Id": "001A", "Name": ' =HYPERLINK("http://evil.example","x")',
              "Client_Number__c": "../../etc"}),
    ("001B", {"Id": "001B", "Name": "'=1+1", "Client_Number__c": "CON"}),
    ("001C", {"Id": "001C", "Name": "\n@SUM(A1)", "Client_Number__c": "COM1. "}),
    ("=cmd|' /C calc'!A0", {"Id": "=cmd|' /C calc'!A0", "Name": "x" * 40_000,
                            "Client_Number__c": "C-4", "=Header": "+1 555 0100"}),
    ("001E", {"Id": "001E", "Name": "-5", "Client_Number__c": "-2+3"}),
]
DOCS = [  # (id, file name, client): ids and names that a file name alone would merge
    ("068A/x", "plan.pdf", "001A"), ("068A_x", "plan.pdf", "001A"),
    ("068B", "../../../../outside.pdf", "001A"), ("068C", "NUL", "001B"),
    ("068D", "a" * 300 + ".pdf", "001C"), ("068E", "a" * 300 + ".pdf", "001C"),
    ("068F", "con.txt", "=cmd|' /C calc'!A0"), ("068F.", "con.txt", "=cmd|' /C calc'!A0"),
]


def _fill(archive: Archive) -> dict[str, bytes]:
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", ACCOUNTS)
    bodies: dict[str, bytes] = {}
    records = []
    for doc_id, name, client in DOCS:
        bodies[doc_id] = f"%PDF-1.4 {doc_id}".encode()
        info = archive.put_file(run, [bodies[doc_id]], "application/pdf")
        records.append(Record(doc_id, {"Id": doc_id, "Title": name, "PathOnClient": name,
                                        "FirstPublishLocationId": client},
                              files={"VersionData": info.hash}))
    archive.put_batch(run, "salesforce", "ContentVersion", records)
    archive.finish_run(run, "ok")
    return bodies


def _cells(folder: Path) -> list[tuple[str, str]]:
    out = []
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            out += [(path.name, cell) for row in csv.reader(fh) for cell in row]
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".csv")


def test_hostile_names_and_cells_stay_inside_apart_and_inert(archive: Archive,
                                                             tmp_path: Path) -> None:
    bodies = _fill(archive)
    out = tmp_path / "restore"
    mapping = load_mapping("any_to_csv")
    report = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                         target="files")
    assert report.status == "ok", report.errors[:3]
    files = _files(out)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in files)
    assert not list(tmp_path.glob("*.pdf")) and not (tmp_path / "outside.pdf").exists()
    # the 40,000-character name, longer than a spreadsheet cell, went whole to a text file
    (long_name,) = [p for p in files if "whole text" in p.name and p.suffix == ".txt"]
    assert long_name.read_bytes().decode("utf-8-sig") == "x" * 40_000
    files = [p for p in files if p != long_name]
    assert len(files) == len(DOCS)  # no file took another's place
    assert len({str(p).casefold() for p in files}) == len(files)  # not on Windows either
    with (out / "ContentVersion.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {d[0] for d in DOCS}
    for doc_id, row in rows.items():
        assert (out / row["file"]).read_bytes() == bodies[doc_id], doc_id
        assert all(len(part) <= 120 for part in Path(row["file"]).parts)

    running = [(name, cell[:40]) for name, cell in _cells(out)
               if RUNS.match(cell) and not NUMBER.match(cell)]
    assert running == []  # every cell, header and id starts with our quote if it could run
    with (out / "Account.csv").open(encoding="utf-8-sig", newline="") as fh:
        accounts = list(csv.DictReader(fh))
    assert {r["Name"] for r in accounts} >= {"'" + ACCOUNTS[0][1]["Name"], "''=1+1", "-5"}
    assert "'=Header" in accounts[0]

    check = verify_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                           target="files")
    assert (check.record_rate, check.field_rate) == (100.0, 100.0)  # read back as archived
    again = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                        target="files")
    assert (again.total("created"), again.total("updated")) == (0, 0)
    assert _files(out) == sorted([*files, long_name])


def test_two_files_of_one_record_named_alike_are_both_kept(tmp_path: Path) -> None:
    out = tmp_path / "restore"
    writer = CsvWriter("files", {"path": str(out)}, {})
    item = WriteItem(key="1abc", fields={"name": "x"}, client="Ann (C-1)",
                     file=FileItem(name="Plan.pdf", size=3, open=lambda: [b"one"]),
                     more_files=[FileItem(name="plan.pdf", size=3, open=lambda: [b"two"]),
                                 FileItem(name="Plan.pdf", size=5, open=lambda: [b"three"])])
    assert [r.error for r in writer.write("docs", [item])] == [None]
    assert sorted(p.read_bytes() for p in _files(out)) == [b"one", b"three", b"two"]
    with (out / "docs.csv").open(encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    named = [row["file"], *row["other_files"].split("; ")]
    assert [(out / p).read_bytes() for p in named] == [b"one", b"two", b"three"]


REPORTED = """
source = "salesforce"
target = "csv"

[client]
stream = "Account"
name = "Name"
number = "Client_Number__c"

[[objects]]
stream = "Account"
object = "clients"
[objects.fields]
name = "Name"

[[objects]]
stream = "Medication__c"
object = "medications"
[objects.fields]
label = "Name"
when = { from = "CreatedDate", date = "iso-ms" }
[[objects.links]]
from = "Client__c"
to = "Account"
name = "client"
"""


def test_the_error_report_names_each_client_and_never_runs(archive: Archive, tmp_path: Path,
                                                          open_umask: None) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", ACCOUNTS)
    archive.put_batch(run, "salesforce", "Medication__c", [
        ("=1+2", {"Id": "=1+2", "Name": "@x", "Client__c": "001A", "CreatedDate": "-x"}),
        ("a02B", {"Id": "a02B", "Name": "y", "Client__c": "=cmd|' /C calc'!A0",
                  "CreatedDate": "=not a date"})])
    archive.finish_run(run, "ok")
    (tmp_path / "m.toml").write_text(REPORTED, encoding="utf-8")
    errors = tmp_path / "report" / "errors.csv"
    report = run_restore(archive, CsvWriter("files", {"path": str(tmp_path / "out")}, {}),
                         load_mapping(tmp_path / "m.toml"), target="files",
                         errors_path=errors)
    assert report.status == "partial" and len(report.errors) == 2
    assert errors.stat().st_mode & 0o777 == 0o600
    assert errors.parent.stat().st_mode & 0o777 == 0o700  # the folder it made, too
    with errors.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    running = [cell[:40] for row in rows for cell in row
               if RUNS.match(cell) and not NUMBER.match(cell)]
    assert running == []
    by_id = {r[2]: r for r in rows[1:]}
    assert set(by_id) == {"'=1+2", "a02B"}
    assert by_id["'=1+2"][4] == "'" + ACCOUNTS[0][1]["Name"] + " (../../etc)"
    assert by_id["a02B"][4] == "x" * 40_000 + " (C-4)"


def test_dates_no_calendar_has_stay_as_typed_for_an_import_tool(tmp_path: Path) -> None:
    out = tmp_path / "restore"
    bad = ["2026-13-45 99:99", "2026-02-30T10:00:00Z", "2026-11-30T14:05:00+99:99",
           "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
    items = [WriteItem(key=str(n), fields={"hs_timestamp": v}) for n, v in enumerate(bad)]
    items.append(WriteItem(key="9", fields={"hs_timestamp": "2026-11-30T14:05:00Z"}))
    writer = CsvWriter("files", {"path": str(out), "import_for": "hubspot"}, {})
    assert [r.error for r in writer.write("notes", items)] == [None] * len(items)
    with (out / "notes.csv").open(encoding="utf-8-sig", newline="") as fh:
        dates = [r["Activity date"] for r in csv.DictReader(fh)]
    assert dates == [*bad, "2026-11-30 14:05:00"]
