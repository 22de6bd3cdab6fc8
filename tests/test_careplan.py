"""Care plans printed from a real archive of the sandbox agency: real SQLCipher archive synced
by the connectors over loopback HTTP, real WeasyPrint PDFs read back with pypdf."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from exporter.archive import Archive, Record
from exporter.careplan.build import AmbiguousClient, ArchiveView, build_care_plan, find_clients
from exporter.careplan.definition import (
    DefinitionError,
    default_definition_text,
    load_definition,
    parse_definition,
)
from exporter.careplan.printing import print_care_plans
from exporter.cli import cli
from exporter.errors import NotFound
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

CLIENTS = 30

# -- the archive: built once per test process ------------------------------------------------------

def _night(archive: Archive, sb: Sandbox, tmp: Path) -> None:
    """One nightly sync of the three vendors with the real connectors."""
    tables = sb.source_configs(tmp / "secrets")
    connectors = {name: build_connector(name, table, tmp / "config.toml")
                  for name, table in tables.items()}
    report = run_sync(archive, connectors)
    assert report.status == "ok", report


@dataclasses.dataclass(frozen=True)
class Agency:
    dir: Path
    first_night: int  # the run of the first night

    @property
    def db(self) -> Path:
        return self.dir / "a.db"

    def open(self) -> Archive:
        return Archive.open(self.db, KeyFile(self.dir / "a.key"))


@pytest.fixture(scope="session")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Agency:
    tmp = tmp_path_factory.mktemp("agency")
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive, Sandbox(clients=CLIENTS, seed=1) as sb:
        _night(archive, sb, tmp)
        first = archive.runs()[0].id
        sb.advance(2)  # edits medications, so --as-of can show an older version
        _night(archive, sb, tmp)
    return Agency(tmp, first)


@pytest.fixture
def copy(agency: Agency, tmp_path: Path) -> Iterator[Archive]:
    """A private copy of the archive for a test that prints (printing writes the audit log)."""
    for f in agency.dir.glob("a.*"):
        shutil.copy2(f, tmp_path / f.name)
    with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
        yield archive


def records(archive: Archive, stream: str, as_of: int | None = None) -> list[dict[str, Any]]:
    source, name = stream.split("/")
    return [d for _, d in archive.records(source, name, as_of=as_of) if d]


def account(archive: Archive, number: str) -> dict[str, Any]:
    return next(a for a in records(archive, "salesforce/Account")
                if a["Client_Number__c"] == number)


def children(archive: Archive, obj: str, acc: dict[str, Any],
             as_of: int | None = None) -> list[dict[str, Any]]:
    return [r for r in records(archive, f"salesforce/{obj}", as_of)
            if r.get("Client__c") == acc["Id"] and not r.get("IsDeleted")]


def pdf_pages(path: Path) -> list[str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return [" ".join((p.extract_text() or "").split()) for p in reader.pages]


def flat(text: str) -> str:
    return " ".join(text.split())


def day(iso: str) -> str:
    d = dt.date.fromisoformat(iso[:10])
    return f"{d.day} {d:%b %Y}"


# -- content ---------------------------------------------------------------------------------------


def test_the_archive_holds_every_vendor(agency: Agency) -> None:
    with agency.open() as archive:
        streams = {f"{s}/{t}" for s, t in archive.streams()}
    for needed in ("salesforce/Account", "salesforce/Medication__c", "hubspot/notes",
                   "hubspot/contacts", "google/calendar_events"):
        assert needed in streams


def test_the_default_definition_fits_the_sandbox_archive(agency: Agency) -> None:
    from exporter.careplan.definition import check_against

    with agency.open() as archive:
        assert check_against(load_definition(), archive) == []


@pytest.mark.parametrize("number", ["C-00001", "C-00003"])
def test_every_mapped_value_is_in_the_pdf(copy: Archive, tmp_path: Path, number: str) -> None:
    out = tmp_path / "plan.pdf"
    print_care_plans(copy, load_definition(), query=number, out=out)
    pages = pdf_pages(out)
    text = " ".join(pages)
    acc = account(copy, number)
    want = [acc["Name"], number, day(acc["Birthdate__c"]), acc["Phone"],
            acc["BillingAddress"]["street"], acc["Pharmacy_Name__c"], acc["Pharmacy_Phone__c"]]
    plan = children(copy, "Care_Plan__c", acc)[0]
    want += [plan[f] for f in ("Code_Status__c", "Advance_Directive__c", "Diet__c",
                               "Fall_Risk__c", "Goals__c") if plan.get(f)]
    if plan.get("Access_Notes__c"):
        want.append(flat(plan["Access_Notes__c"])[:120])
    for a in children(copy, "Allergy__c", acc):
        want += [a["Name"], a["Reaction__c"], a["Severity__c"]]
    for c in children(copy, "Emergency_Contact__c", acc):
        want += [c["Name"], c["Relationship__c"], c["Phone__c"]]
    doctor = next(p for p in records(copy, "salesforce/Physician__c")
                  if p["Id"] == acc["Primary_Physician__c"])
    want += [doctor["Name"], doctor["Practice__c"], doctor["Phone__c"]]
    for d in children(copy, "Diagnosis__c", acc):
        want += [d["Name"], d["ICD10_Code__c"]]
    meds = [m for m in children(copy, "Medication__c", acc) if m["Active__c"]]
    assert meds
    for m in meds:
        want += [m["Name"], m["Dose__c"], m["Route__c"], m["Prescriber__c"], m["Id"]]
        if m.get("PRN_Instructions__c"):
            want.append(m["PRN_Instructions__c"])
    for t in children(copy, "Care_Task__c", acc):
        want += [t["Task__c"], t["Time__c"], t["Id"]]
    contact_ids = {c["id"] for c in records(copy, "hubspot/contacts")
                   if c["properties"].get("client_number") == number
                   and c["properties"].get("relationship") == "Client"}
    note_ids = {e["fromObjectId"] for e in records(copy, "hubspot/associations")
                if e["fromObjectType"] == "notes" and e["toObjectType"] == "contacts"
                and e["toObjectId"] in contact_ids}
    notes = [n for n in records(copy, "hubspot/notes") if n["id"] in note_ids]
    notes.sort(key=lambda n: n["properties"]["hs_timestamp"], reverse=True)
    assert notes
    for n in notes[:5]:
        body = re.sub(r"<[^>]+>", " ", n["properties"]["hs_note_body"])
        want.append(flat(body)[:60])
    bare = "".join(text.split())  # a cell may wrap anywhere ("Carbidopa/ Levodopa")
    missing = [w for w in want if "".join(str(w).split()) not in bare]
    assert not missing, missing
    # every page: name, date of birth, page X of Y, when printed and from which data
    for i, page in enumerate(pages, 1):
        assert acc["Name"] in page and day(acc["Birthdate__c"]) in page
        assert f"Page {i} of {len(pages)}" in page
        assert "Printed " in page and "from data as of" in page and "sync run" in page
    # page 1 carries code status and allergies, in a box above everything else
    assert plan["Code_Status__c"] in pages[0] and "ALLERGIES" in pages[0].upper()


def test_a_long_medication_list_spans_pages(copy: Archive, tmp_path: Path) -> None:
    out = tmp_path / "c3.pdf"
    print_care_plans(copy, load_definition(), query="C-00003", out=out)
    pages = pdf_pages(out)
    acc = account(copy, "C-00003")
    meds = [m for m in children(copy, "Medication__c", acc) if m["Active__c"]]
    assert len(meds) >= 20
    on_page = {m["Id"]: [i for i, p in enumerate(pages) if m["Id"] in p] for m in meds}
    assert all(len(v) == 1 for v in on_page.values()), on_page  # each printed exactly once
    assert len({v[0] for v in on_page.values()}) >= 2  # over two pages or more
    # the table's header is repeated on the next page
    later = [pages[i] for i in sorted({v[0] for v in on_page.values()})[1:]]
    assert all("MEDICATION" in p.upper() and "DOSE" in p.upper() for p in later)


def _non_ascii_client(archive: Archive) -> dict[str, Any]:
    return next(a for a in records(archive, "salesforce/Account")
                if not a["Name"].isascii() and a["Status__c"] == "Active")


def test_a_non_ascii_name_is_found_without_accents_and_printed_with_them(
        copy: Archive, tmp_path: Path) -> None:
    acc = _non_ascii_client(copy)
    bare = "".join(c for c in unicodedata.normalize("NFKD", acc["Name"])
                   if not unicodedata.combining(c)).upper()
    out = tmp_path / "x.pdf"
    result = print_care_plans(copy, load_definition(), query=bare, out=out)
    assert result.clients[0].display_key == acc["Client_Number__c"]
    pages = pdf_pages(out)
    assert all(acc["Name"] in p for p in pages)


def test_an_as_of_print_shows_the_older_version_of_an_edited_medication(
        agency: Agency, copy: Archive, tmp_path: Path) -> None:
    edited = None
    for rid, data in copy.records("salesforce", "Medication__c"):
        versions = copy.history("salesforce", "Medication__c", rid)
        if len(versions) > 1 and data and data.get("Active__c"):
            old, new = versions[-2].data or {}, versions[-1].data or {}
            if old.get("Dose__c") != new.get("Dose__c") and \
                    versions[-2].first_run <= agency.first_night < versions[-1].first_run:
                edited = (rid, old, new)
                break
    assert edited, "the sandbox's two nights should edit a dose"
    rid, old, new = edited
    acc = next(a for a in records(copy, "salesforce/Account") if a["Id"] == new["Client__c"])

    def row(out: Path) -> str:
        text = " ".join(pdf_pages(out))
        end = text.index(rid)
        start = max(m.end() for m in re.finditer(r"a02\w{15}|RECORD|Record", text[:end]))
        return text[start:end]  # the medication's row: name, dose, ..., then its record id

    now, then = tmp_path / "now.pdf", tmp_path / "then.pdf"
    definition = load_definition()
    print_care_plans(copy, definition, query=acc["Client_Number__c"], out=now)
    result = print_care_plans(copy, definition, query=acc["Client_Number__c"], out=then,
                              as_of=str(agency.first_night))
    assert result.as_of_run == agency.first_night
    assert new["Dose__c"] in row(now) and old["Dose__c"] not in row(now)
    assert old["Dose__c"] in row(then) and new["Dose__c"] not in row(then)
    assert all("HISTORICAL PRINT" in p for p in pdf_pages(then))
    assert not any("HISTORICAL PRINT" in p for p in pdf_pages(now))


def test_a_mapped_but_empty_section_says_not_recorded(copy: Archive, tmp_path: Path) -> None:
    with_allergies = {r["Client__c"] for r in records(copy, "salesforce/Allergy__c")}
    acc = next(a for a in records(copy, "salesforce/Account") if a["Id"] not in with_allergies)
    out = tmp_path / "none.pdf"
    print_care_plans(copy, load_definition(), query=acc["Client_Number__c"], out=out)
    first = pdf_pages(out)[0]
    assert re.search(r"ALLERGIES .*Not recorded: no allergies are recorded", first, re.I)


def test_an_unmapped_section_is_left_out(copy: Archive, tmp_path: Path) -> None:
    text = re.sub(r"(?s)# HubSpot keeps.*?(?=\[sections\.signoff\])", "",
                  default_definition_text())
    out = tmp_path / "p.html"
    print_care_plans(copy, parse_definition(text), query="C-00001", out=out, fmt="html")
    html = out.read_text(encoding="utf-8")
    assert 'data-section="medications"' in html and 'data-section="notes"' not in html


def test_visits_are_the_next_14_days_without_cancelled_ones(copy: Archive) -> None:
    definition = load_definition()
    view = ArchiveView(copy)
    client = find_clients(view, definition, "C-00001")
    now = dt.datetime.now(dt.UTC)
    plan = build_care_plan(view, definition, client, now)
    visits = plan.section("visits")
    assert visits is not None and visits.rows
    events = {rid: e for rid, e in copy.records("google", "calendar_events") if e}
    for row in visits.rows:
        event = events[row.ref]
        start = dt.datetime.fromisoformat(event["start"]["dateTime"])
        assert now <= start < now + dt.timedelta(days=14)
        assert event["status"] != "cancelled"
    expected = [e for e in events.values()
                if e.get("extendedProperties", {}).get("private", {}).get("client_number")
                == "C-00001" and e["status"] != "cancelled"
                and now <= dt.datetime.fromisoformat(e["start"]["dateTime"])
                < now + dt.timedelta(days=14)]
    assert len(visits.rows) == len(expected)


# -- finding clients -------------------------------------------------------------------------------


def test_clients_are_found_by_number_record_id_and_name_in_any_case(copy: Archive) -> None:
    definition = load_definition()
    view = ArchiveView(copy)
    acc = _non_ascii_client(copy)
    for query in (acc["Client_Number__c"].lower(), acc["Client_Number__c"].replace("-", " "),
                  acc["Id"], acc["Name"].upper(), f"  {acc['Name']}  "):
        assert find_clients(view, definition, query).record_id == acc["Id"], query


def test_an_ambiguous_name_lists_the_candidates(copy: Archive) -> None:
    first_names = [a["Name"].split()[0] for a in records(copy, "salesforce/Account")]
    common = max(set(first_names), key=first_names.count)
    assert first_names.count(common) > 1
    with pytest.raises(AmbiguousClient) as info:
        find_clients(ArchiveView(copy), load_definition(), common.lower())
    assert len(info.value.candidates) == first_names.count(common)
    assert all(c.display_key in str(info.value) for c in info.value.candidates)


def test_an_unknown_client_names_the_nearest(copy: Archive) -> None:
    acc = account(copy, "C-00002")
    typo = acc["Name"][:-1] + "x"
    with pytest.raises(NotFound, match="did you mean"):
        find_clients(ArchiveView(copy), load_definition(), typo + " nobody")


# -- rules: audit, files, staleness, paper, binder -------------------------------------------------


def test_each_print_is_audited_and_written_0600_atomically(copy: Archive, tmp_path: Path) -> None:
    before = len(copy.audit_entries("print"))
    out = tmp_path / "sub" / "plan.pdf"
    result = print_care_plans(copy, load_definition(), query="C-00002", out=out, fmt="pdf")
    entries = copy.audit_entries("print")
    assert len(entries) == before + 1
    detail = entries[-1]["detail"]
    assert detail["clients"] == [{"key": "C-00002", "record": result.clients[0].record_id}]
    assert detail["files"] == [str(out.resolve())] and detail["format"] == "pdf"
    assert detail["data_run"] == copy.runs()[0].id and detail["as_of_run"] is None
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in out.parent.iterdir()] == ["plan.pdf"]  # no temporary left over
    assert copy.verify() == []  # the audit chain still checks out


def test_stale_data_is_flagged_on_every_page(copy: Archive, tmp_path: Path) -> None:
    out = tmp_path / "old.pdf"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    result = print_care_plans(copy, load_definition(), query="C-00001", out=out, now=later,
                              stale_after_hours=48)
    assert "DATA MAY BE OUT OF DATE" in result.stale
    assert all("DATA MAY BE OUT OF DATE" in p and "3 days ago" in p for p in pdf_pages(out))
    fresh = tmp_path / "fresh.pdf"
    print_care_plans(copy, load_definition(), query="C-00001", out=fresh, stale_after_hours=48)
    assert not any("OUT OF DATE" in p for p in pdf_pages(fresh))


@pytest.mark.parametrize("paper,size", [("letter", (612, 792)), ("a4", (595, 842))])
def test_paper_size(copy: Archive, tmp_path: Path, paper: str, size: tuple[int, int]) -> None:
    out = tmp_path / "p.pdf"
    print_care_plans(copy, load_definition(), query="C-00002", out=out, paper=paper)
    box = PdfReader(out).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size


def _boxes(box: Any) -> Iterator[Any]:
    yield box
    for child in getattr(box, "children", []):
        yield from _boxes(child)


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("number", ["C-00001", "C-00003", "C-00004"])
def test_every_table_fits_between_the_margins(copy: Archive, number: str, paper: str) -> None:
    """No table, cell or line of text runs past the right margin (an email address or a long
    record id once pushed the emergency-contacts table off the page), and every record id
    is printed on one line so it can be read back."""
    from weasyprint import HTML

    from exporter.careplan.printing import print_info
    from exporter.careplan.render import render_html

    definition = load_definition()
    now = dt.datetime.now(dt.UTC)
    info, _ = print_info(copy, definition, None, now, 36)
    view = ArchiveView(copy, None)
    plan = build_care_plan(view, definition, find_clients(view, definition, number), now)
    document = HTML(string=render_html([plan], info, paper)).render()
    checked = 0
    for page in document.pages:
        body = page._page_box.children[0]  # the html element's box
        right = body.content_box_x() + body.width
        for box in _boxes(body):
            if box.element_tag in ("table", "td", "th") or type(box).__name__ == "LineBox":
                checked += 1
                assert box.position_x + box.margin_width() <= right + 0.5, (
                    box.element_tag, box.element.get("class"), getattr(box, "text", ""),
                    box.position_x, right)
    assert checked > 50
    reader = PdfReader(io.BytesIO(document.write_pdf()))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    refs = [r.ref for s in plan.sections if s.layout == "table" for r in s.rows]
    assert refs and all(re.search(rf"(?<!\w){re.escape(ref)}(?!\w)", text) for ref in refs), (
        [r for r in refs if r not in text], text)


def _three_client_definition() -> Any:
    text = default_definition_text().replace(
        'binder = { Status__c = "Active" }',
        'binder = { Client_Number__c = ["C-00001", "C-00002", "C-00004"] }')
    return parse_definition(text, "three.toml")


def test_the_binder_has_contents_bookmarks_and_pages_counted_per_client(
        copy: Archive, tmp_path: Path) -> None:
    out = tmp_path / "binder.pdf"
    result = print_care_plans(copy, _three_client_definition(), everyone=True, out=out,
                              workers=2)
    assert [c.display_key for c in result.clients] == sorted(
        ["C-00001", "C-00002", "C-00004"],
        key=lambda k: unicodedata.normalize("NFKD", account(copy, k)["Name"]).casefold())
    reader = PdfReader(out)
    pages = pdf_pages(out)
    assert "Care plan binder" in pages[0]
    marks = {m.title: reader.get_destination_page_number(m) for m in reader.outline
             if not isinstance(m, list)}
    for c in result.clients:
        start = marks[f"{c.name} ({c.display_key})"]
        assert re.search(rf"{re.escape(c.name)} {c.display_key} .*\b{start + 1}\b", pages[0])
        assert c.name in pages[start] and "Page 1 of" in pages[start]
    assert len(copy.audit_entries("print")[-1]["detail"]["clients"]) == 3


def test_split_writes_one_file_per_client(copy: Archive, tmp_path: Path) -> None:
    result = print_care_plans(copy, _three_client_definition(), everyone=True, split=True,
                              out=tmp_path / "plans", fmt="html")
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == [
        "careplan-C-00001.html", "careplan-C-00002.html", "careplan-C-00004.html"]
    assert result.files and all(p.stat().st_mode & 0o777 == 0o600 for p in result.files)


def test_split_pdfs_are_laid_out_in_parallel_one_client_each(copy: Archive,
                                                             tmp_path: Path) -> None:
    result = print_care_plans(copy, _three_client_definition(), everyone=True, split=True,
                              out=tmp_path / "plans", workers=2)
    assert [p.name for p in result.files] == [
        f"careplan-{c.display_key}.pdf" for c in result.clients]
    for path, client in zip(result.files, result.clients, strict=True):
        pages = pdf_pages(path)
        assert all(client.name in page for page in pages)  # each file holds its own client
        assert f"Page 1 of {len(pages)}" in pages[0]


def test_a_binder_reports_each_client_laid_out(copy: Archive, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    result = print_care_plans(copy, _three_client_definition(), everyone=True,
                              out=tmp_path / "b.pdf", workers=2,
                              progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and len(result.clients) == 3


def test_html_never_carries_markup_from_the_data(copy: Archive, tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    print_care_plans(copy, load_definition(), query="C-00001", out=out, fmt="html")
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html and "https://" not in html.replace(
        "https://www.google.com/calendar", "")


# -- definitions against an archive ----------------------------------------------------------------


def test_unknown_streams_and_fields_are_named_with_the_nearest(copy: Archive) -> None:
    text = (default_definition_text()
            .replace('stream = "salesforce/Medication__c"', 'stream = "salesforce/Medications__c"')
            .replace('field = "Relationship__c"', 'field = "Relation__c"'))
    with pytest.raises(DefinitionError) as info:
        print_care_plans(copy, parse_definition(text, "mine.toml"), query="C-00001",
                         out=Path("never.pdf"))
    msg = str(info.value)
    assert "no stream 'salesforce/Medications__c'" in msg and "salesforce/Medication__c" in msg
    assert "no field 'Relation__c'" in msg and "Relationship__c" in msg
    assert not Path("never.pdf").exists()


# -- the command -----------------------------------------------------------------------------------


def _config(tmp_path: Path, archive: Archive) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[archive]\npath = "{archive.path}"\nkey_file = "{tmp_path / "a.key"}"\n'
                   "stale_after_hours = 36\n", encoding="utf-8")
    return cfg


def test_cli_prints_and_lists_candidates_when_ambiguous(copy: Archive, tmp_path: Path) -> None:
    cfg = _config(tmp_path, copy)
    runner = CliRunner()
    out = tmp_path / "c.pdf"
    ok = runner.invoke(cli, ["--config", str(cfg), "print", "c-00002", "--out", str(out),
                             "--paper", "a4"])
    assert ok.exit_code == 0, ok.output
    assert out.exists() and "Wrote the care plan" in ok.output
    first_names = [a["Name"].split()[0] for a in records(copy, "salesforce/Account")]
    common = max(set(first_names), key=first_names.count)
    amb = runner.invoke(cli, ["--config", str(cfg), "print", common])
    assert amb.exit_code == 9
    assert amb.output.count("C-000") == first_names.count(common)
    missing = runner.invoke(cli, ["--config", str(cfg), "print", "Nobody Atall"])
    assert missing.exit_code == 9 and "no client" in missing.output
    usage = runner.invoke(cli, ["--config", str(cfg), "print"])
    assert usage.exit_code == 2
    html = tmp_path / "c.html"
    run = runner.invoke(cli, ["--config", str(cfg), "print", "C-00002", "--format", "html",
                              "--as-of", str(copy.runs()[-1].id), "--out", str(html)])
    assert run.exit_code == 0, run.output
    assert "HISTORICAL PRINT" in html.read_text(encoding="utf-8")


@pytest.mark.parametrize("as_of", [False, True])
def test_one_client_reads_and_the_binder_reads_give_the_same_plan(
        agency: Agency, as_of: bool) -> None:
    """A single print reads only the records holding the client's ids; the binder reads
    whole streams. Both must see the same records."""
    definition = load_definition()
    now = dt.datetime.now(dt.UTC)
    run = agency.first_night if as_of else None
    with agency.open() as archive:
        for number in ("C-00001", "C-00003", "C-00017", "C-00030"):
            plans = []
            for bulk in (True, False):
                view = ArchiveView(archive, run, bulk=bulk)
                plan = build_care_plan(view, definition, find_clients(view, definition, number),
                                       now)
                plans.append([(s.id, [(r.cells, r.ref) for r in s.rows]) for s in plan.sections])
            assert plans[0] == plans[1], number
            assert sum(len(rows) for _, rows in plans[0]) > 10


def test_a_client_number_cannot_put_a_print_outside_out(copy: Archive, tmp_path: Path) -> None:
    """Issue 15: a vendor's client number with a path in it (``C-00001/../../elsewhere/x``)
    is one harmless file name inside --out, for a single print and a split binder."""
    acc = dict(account(copy, "C-00002"), Client_Number__c="C-00001/../../elsewhere/x")
    with Archive.open(copy.path, KeyFile(copy.path.with_name("a.key")), write=True) as arc:
        run = arc.begin_run()
        arc.put_batch(run, "salesforce", "Account", [(acc["Id"], acc)])
        arc.finish_run(run, "ok")
    out, elsewhere = tmp_path / "prints", tmp_path / "elsewhere"
    for folder in (out / "careplan-C-00001", elsewhere):
        folder.mkdir(parents=True)
    result = print_care_plans(copy, load_definition(), query=acc["Id"], out=out, fmt="html")
    [written] = result.files
    assert written.parent == out and written.name.startswith("careplan-C-00001_.._.._")
    assert list(elsewhere.iterdir()) == []
    assert written.read_text(encoding="utf-8").count("C-00001/../../elsewhere/x") >= 1


def test_print_all_reports_progress_lines_when_not_at_a_terminal(copy: Archive,
                                                                 tmp_path: Path) -> None:
    """A binder takes minutes for a big agency: a script or scheduled print sees plain
    progress lines (each tenth), ending with every client laid out."""
    cfg = _config(tmp_path, copy)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "print", "--all", "--out",
                                      str(tmp_path / "binder.pdf")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines()
             if line.startswith("Laying out care plans: ")]
    assert len(lines) >= 3, result.output
    last = re.match(r"Laying out care plans: (\d+) of (\d+) clients \(\d+ s\)$", lines[-1])
    assert last is not None and last.group(1) == last.group(2), lines


def _delete_upstream(archive_path: Path, key: Path, name: str) -> str:
    """The nightly sync finds one client deleted in Salesforce (a tombstone keeping its
    data, IsDeleted = true, as the connector writes it); returns the record id."""
    with Archive.open(archive_path, KeyFile(key), write=True) as arc:
        rid, data = next((rid, d) for rid, d in arc.records("salesforce", "Account")
                         if d and d.get("Name") == name)
        run = arc.begin_run("sync")
        arc.put_batch(run, "salesforce", "Account",
                      [Record(rid, {**data, "IsDeleted": True}, deleted=True)])
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
    return rid


def test_a_client_deleted_upstream_is_found_by_name_and_listed(copy: Archive,
                                                                tmp_path: Path) -> None:
    accounts = [a for a in records(copy, "salesforce/Account") if a.get("Status__c") == "Active"]
    names = [a["Name"] for a in accounts]
    name = next(n for n in names if names.count(n) == 1)
    number = next(a["Client_Number__c"] for a in accounts if a["Name"] == name)
    copy.close()
    _delete_upstream(tmp_path / "a.db", tmp_path / "a.key", name)
    cfg = _config(tmp_path, copy)
    runner = CliRunner()
    html = tmp_path / "gone.html"
    result = runner.invoke(cli, ["--config", str(cfg), "print", name.lower(), "--format",
                                 "html", "--out", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    assert re.search(r"DELETED in Salesforce on \d+ \w+ \d{4}", page), page[:2000]
    assert "last archived care plan" in page and name in page
    listed = runner.invoke(cli, ["--config", str(cfg), "clients", "--status", "deleted"])
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"^{re.escape(number)}  {re.escape(name)}  deleted on \d{{4}}-",
                     listed.output, re.M), listed.output
    assert "1 client(s)." in listed.output
    active = runner.invoke(cli, ["--config", str(cfg), "clients", "--status", "active"])
    assert name not in active.output and f"{len(accounts) - 1} client(s)." in active.output
    everyone = runner.invoke(cli, ["--config", str(cfg), "clients"])
    assert " discharged" in everyone.output or len(accounts) == CLIENTS
