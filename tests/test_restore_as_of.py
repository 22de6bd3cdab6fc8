"""``restore --as-of``: files come from the version of the record at that run, not from
today's (issue 14, case 4)."""

from __future__ import annotations

import csv
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter


def _rows(folder: Path, name: str) -> dict[str, dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_as_of_restores_the_files_of_that_version(archive: Archive, tmp_path: Path) -> None:
    first = archive.begin_run()
    plan = archive.put_file(first, [b"%PDF-1.4 plan, first version"], "application/pdf")
    consent = archive.put_file(first, [b"%PDF-1.4 signed consent"], "application/pdf")
    archive.put_batch(first, "salesforce", "ContentVersion", [
        Record("068A", {"Id": "068A", "Title": "Plan", "PathOnClient": "plan.pdf"},
               files={"VersionData": plan.hash}),
        Record("068B", {"Id": "068B", "Title": "Consent", "PathOnClient": "consent.pdf"},
               files={"VersionData": consent.hash})])
    archive.finish_run(first, "ok")
    later = archive.begin_run()  # the plan is replaced, the consent deleted
    newer = archive.put_file(later, [b"%PDF-1.4 plan, second version"], "application/pdf")
    archive.put_batch(later, "salesforce", "ContentVersion", [
        Record("068A", {"Id": "068A", "Title": "Plan", "PathOnClient": "plan.pdf",
                        "VersionNumber": "2"}, files={"VersionData": newer.hash})])
    archive.tombstone(later, "salesforce", "ContentVersion", ["068B"])
    archive.finish_run(later, "ok")

    out = tmp_path / "then"
    mapping = load_mapping("any_to_csv")
    writer = CsvWriter("then", {"path": str(out)}, {})
    report = run_restore(archive, writer, mapping, target="then", as_of=first)
    assert report.status == "ok" and report.total("files") == 2
    assert report.as_of.startswith(f"run {first} (")  # the plan and summary say which data
    rows = _rows(out, "ContentVersion")
    assert (out / rows["068A"]["file"]).read_bytes() == b"%PDF-1.4 plan, first version"
    assert (out / rows["068B"]["file"]).read_bytes() == b"%PDF-1.4 signed consent"
    check = verify_restore(archive, writer, mapping, target="then", as_of=first)
    assert check.record_rate == 100.0
