"""The CSV target's files as an import tool and a spreadsheet take them: UTF-8 with a BOM,
plain header labels, cells that never run as formulas (issue 14, case 10)."""

from __future__ import annotations

import csv
from pathlib import Path

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter

CONTACTS = [
    ("101", {"id": "101", "archived": False, "properties": {
        "firstname": "Zoë", "lastname": "=HYPERLINK(\"http://x.example\",\"click\")",
        "phone": "+1 555 0100", "balance": "-5", "note": "@SUM(A1:A2)"}}),
]


def test_any_to_csv_writes_a_bom_plain_labels_and_formula_safe_cells(
        archive: Archive, tmp_path: Path) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "hubspot", "contacts", CONTACTS)
    archive.finish_run(run, "ok")
    out = tmp_path / "csv"
    writer = CsvWriter("files", {"path": str(out)}, {})
    mapping = load_mapping("any_to_csv")
    assert run_restore(archive, writer, mapping, target="files").status == "ok"
    raw = (out / "contacts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the accents right
    with (out / "contacts.csv").open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert "firstname" in (reader.fieldnames or [])
        assert not [f for f in reader.fieldnames or [] if f.startswith("properties.")]
        (row,) = list(reader)
    assert row["firstname"] == "Zoë"
    assert row["lastname"] == "'=HYPERLINK(\"http://x.example\",\"click\")"  # shown as text
    assert row["note"] == "'@SUM(A1:A2)" and row["phone"] == "'+1 555 0100"
    assert row["balance"] == "-5"  # a number stays a number
    check = verify_restore(archive, writer, mapping, target="files")
    assert (check.record_rate, check.field_rate) == (100.0, 100.0)
    again = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                        target="files")
    assert (again.total("created"), again.total("updated")) == (0, 0)


def test_deleted_records_leave_the_csv_files_unless_kept(archive: Archive,
                                                         tmp_path: Path) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "hubspot", "contacts", [*CONTACTS, ("102", {
        "id": "102", "properties": {"firstname": "Ada"}})])
    archive.finish_run(run, "ok")
    out = tmp_path / "csv"
    mapping = load_mapping("any_to_csv")
    run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping, target="files")
    run = archive.begin_run()
    archive.tombstone(run, "hubspot", "contacts", ["102"])
    archive.finish_run(run, "ok")

    def ids() -> list[str]:
        with (out / "contacts.csv").open(encoding="utf-8-sig", newline="") as fh:
            return [r["id"] for r in csv.DictReader(fh)]

    run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping, target="files",
                deletions="keep")
    assert ids() == ["101", "102"]
    report = run_restore(archive, CsvWriter("files", {"path": str(out)}, {}), mapping,
                         target="files", deletions="delete")
    assert report.total("deleted") == 1 and ids() == ["101"]
