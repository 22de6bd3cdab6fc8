"""Half an emoji in a record: a vendor that cut an emoji in two sends a lone surrogate
("\\ud83d"), which the sync archives with its JSON escape (exporter.record.utf8_text), so it
reads back as a Python string no UTF-8 encoder takes. Printing that client's care plan
(HTML, PDF), the binder, the desk's page of the client and a CSV export never crash over
it: the character shows as the replacement character (U+FFFD)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from exporter.archive import Archive, Record
from exporter.careplan.definition import load_definition
from exporter.careplan.printing import print_care_plans
from exporter.keys import KeyFile
from tests.test_careplan import Agency, account, agency, children, pdf_pages  # noqa: F401

HALF = "\ud83d"
SHOWN = "\ufffd"
NUMBER = "C-00001"


def _client_note(arc: Archive) -> tuple[str, dict]:
    """The newest HubSpot note on the client's contact: the one the plan shows first."""
    contact = next(rid for rid, d in arc.records("hubspot", "contacts")
                   if d and d["properties"].get("client_number") == NUMBER
                   and d["properties"].get("relationship") == "Client")
    ids = {str(e["fromObjectId"]) for _r, e in arc.records("hubspot", "associations")
           if e and e["fromObjectType"] == "notes" and e["toObjectType"] == "contacts"
           and str(e["toObjectId"]) == contact}
    notes = [(rid, d) for rid, d in arc.records("hubspot", "notes") if d and rid in ids]
    return max(notes, key=lambda n: str(n[1]["properties"].get("hs_timestamp")))


@pytest.fixture
def cut(agency: Agency, tmp_path: Path) -> Path:  # noqa: F811
    """A copy of the agency's archive where a medication name and a note of client
    C-00001 hold half an emoji; the copy's folder."""
    for f in agency.dir.glob("a.*"):
        shutil.copy2(f, tmp_path / f.name)
    with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as arc:
        med = children(arc, "Medication__c", account(arc, NUMBER))[0]
        note_id, note = _client_note(arc)
        run = arc.begin_run("sync")
        arc.put_batch(run, "salesforce", "Medication__c",
                      [Record(med["Id"], {**med, "Name": f"Halfmoon{HALF} tablets"})])
        props = {**note["properties"], "hs_note_body": f"<p>Laughed a lot {HALF} today</p>"}
        arc.put_batch(run, "hubspot", "notes", [Record(note_id, {**note, "properties": props})])
        # her visits' descriptions and her Drive documents' names too (the desk shows them)
        visits = [Record(rid, {**d, "description": f"Shower {HALF} help"})
                  for rid, d in arc.records("google", "calendar_events")
                  if d and ((d.get("extendedProperties") or {}).get("private") or {}).get(
                      "client_number") == NUMBER]
        documents = [Record(rid, {**d, "name": f"Scan {HALF} {d['name']}"},
                            files=arc.files_of("google", "drive_files", rid))
                     for rid, d in arc.records("google", "drive_files")
                     if d and (d.get("properties") or {}).get("client_number") == NUMBER
                     and not d["mimeType"].endswith(".folder")]
        assert visits and documents
        arc.put_batch(run, "google", "calendar_events", visits)
        arc.put_batch(run, "google", "drive_files", documents)
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"},
                                                     "hubspot": {"status": "ok"},
                                                     "google": {"status": "ok"}}})
    return tmp_path


def _open(folder: Path) -> Archive:
    return Archive.open(folder / "a.db", KeyFile(folder / "a.key"))


def test_one_clients_plan_prints_with_the_replacement_character(cut: Path) -> None:
    with _open(cut) as arc:
        print_care_plans(arc, load_definition(), query=NUMBER, fmt="html",
                         out=cut / "plan.html")
        print_care_plans(arc, load_definition(), query=NUMBER, out=cut / "plan.pdf")
    html = (cut / "plan.html").read_text(encoding="utf-8")
    assert f"Halfmoon{SHOWN} tablets" in html
    assert f"Laughed a lot {SHOWN} today" in html
    text = " ".join(pdf_pages(cut / "plan.pdf"))
    assert "Halfmoon" in text and "tablets" in text and "Laughed a lot" in text


def test_the_binder_prints_with_the_replacement_character(cut: Path) -> None:
    with _open(cut) as arc:
        print_care_plans(arc, load_definition(), everyone=True, fmt="html",
                         out=cut / "binder.html")
        print_care_plans(arc, load_definition(), everyone=True, out=cut / "binder.pdf")
    assert f"Halfmoon{SHOWN} tablets" in (cut / "binder.html").read_text(encoding="utf-8")
    assert "Halfmoon" in " ".join(pdf_pages(cut / "binder.pdf"))


def test_the_plan_stored_ahead_of_need_is_made(cut: Path) -> None:
    """The nightly plans stored ahead of need (planstore) hash and lay out the same text."""
    from exporter.careplan.stored import prerender

    with Archive.open(cut / "a.db", KeyFile(cut / "a.key"), write=True) as arc:
        assert prerender(arc, load_definition()).rendered > 0
    with _open(cut) as arc:
        print_care_plans(arc, load_definition(), query=NUMBER, out=cut / "stored.pdf")
    assert "Halfmoon" in " ".join(pdf_pages(cut / "stored.pdf"))


def test_export_writes_the_text(cut: Path) -> None:
    """CSV shows the replacement character; JSON Lines keeps the escape (equal data)."""
    import json

    from exporter.export import export_archive

    with Archive.open(cut / "a.db", KeyFile(cut / "a.key"), write=True) as arc:
        export_archive(arc, "csv", cut / "meds.csv", streams=["salesforce/Medication__c"])
        export_archive(arc, "jsonl", cut / "all.jsonl", streams=["hubspot/notes",
                                                                  "salesforce/Medication__c"])
    with (cut / "meds.csv").open(encoding="utf-8", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert f"Halfmoon{SHOWN} tablets" in cells
    lines = (cut / "all.jsonl").read_text(encoding="utf-8").splitlines()
    names = [json.loads(line)["data"].get("Name") for line in lines]
    assert f"Halfmoon{HALF} tablets" in names


def test_the_desk_shows_the_client_page_and_its_pdf(cut: Path) -> None:
    import re

    from tests.desk_support import csrf_of, make_desk_archive, start_desk

    desk = start_desk(make_desk_archive(cut, cut / "desk"))
    try:
        s = desk.login("nora")
        found = s.post(desk.url + "search", data={
            "q": NUMBER, "csrf": csrf_of(s.get(desk.url, timeout=30).text)}, timeout=30)
        token = re.findall(r'href="/client/([^"]+)">', found.text)[0]
        page = s.get(desk.url + f"client/{token}", timeout=60)
        assert page.status_code == 200
        assert f"Halfmoon{SHOWN} tablets" in page.text
        assert f"Laughed a lot {SHOWN} today" in page.text
        pdf = s.get(desk.url + f"client/{token}/plan.pdf", timeout=120)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert f"Shower {SHOWN} help" in s.get(desk.url + "visits", timeout=60).text
        office = desk.login("olga")
        docs = office.get(desk.url + f"client/{token}/documents", timeout=60)
        assert docs.status_code == 200 and f"Scan {SHOWN} " in docs.text
        files = re.findall(rf'href="/client/{token}/documents/(\d+)"', docs.text)
        assert files
        for n in files:
            got = office.get(desk.url + f"client/{token}/documents/{n}", timeout=60)
            assert got.status_code == 200, n
    finally:
        output = desk.stop()
    assert "Traceback" not in output


def test_the_csv_restore_target_writes_it_and_verify_counts_it_kept(cut: Path) -> None:
    """No UTF-8 file holds half an emoji: the CSV target writes the replacement character,
    and verify counts that as the value kept (the most any target can keep)."""
    from exporter.restore import load_mapping, run_restore, verify_restore
    from exporter.restore.target import build_writer

    folder = cut / "restored"
    with Archive.open(cut / "a.db", KeyFile(cut / "a.key"), write=True) as arc:
        writer = build_writer("csv", {"type": "csv", "path": str(folder)}, cut / "c.toml")
        report = run_restore(arc, writer, load_mapping("any_to_csv"), target="csv",
                             only=["Medication__c"], source="salesforce")
        assert report.status == "ok", report.errors[:3]
        check = verify_restore(arc, writer, load_mapping("any_to_csv"), target="csv",
                               only=["Medication__c"], source="salesforce")
    assert check.record_rate == 100.0 and not check.mismatches, check.mismatches[:3]
    with next(folder.rglob("Medication__c.csv")).open(encoding="utf-8-sig") as fh:
        assert f"Halfmoon{SHOWN} tablets" in [c for row in csv.reader(fh) for c in row]
