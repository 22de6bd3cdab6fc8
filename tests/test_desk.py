"""The care-plan desk over HTTP: ``exporter desk`` as a real process on loopback, serving a
copy of the synced sandbox agency archive; requests plays the browser (the browser tests,
in headless Chromium, are tests/test_desk_browser.py)."""

from __future__ import annotations

import io
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from exporter.archive import Archive
from exporter.careplan.definition import load_definition
from exporter.careplan.roster import roster
from exporter.desk.journal import journal_path_for
from exporter.desk.search import SearchIndex, parse_dates
from exporter.keys import KeyFile
from exporter.lock import ArchiveLock
from tests.desk_support import (
    RunningDesk,
    csrf_of,
    make_desk_archive,
    start_desk,
    write_config,
)
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def desk(agency: Agency, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
         ) -> Iterator[RunningDesk]:
    config = make_desk_archive(agency.dir, tmp_path_factory.mktemp("desk"))
    running = start_desk(config)
    yield running
    running.stop()


def _audit(archive: Path, action: str) -> list[dict]:
    with Archive.open(archive, KeyFile(archive.with_name("a.key"))) as arc:
        return arc.audit_entries(action)


def _search(desk: RunningDesk, s, query: str) -> tuple[str, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    page = s.get(desk.url, timeout=30)
    found = s.post(desk.url + "search", data={"q": query, "csrf": csrf_of(page.text)},
                   timeout=30)
    assert found.status_code == 200, found.text
    return found.text, re.findall(r'href="/client/([^"]+)">([^<]+)</a>', found.text)


# -- search ----------------------------------------------------------------------------------


def test_search_by_name_accents_typos_number_and_birthdate(agency: Agency) -> None:  # noqa: F811
    definition = load_definition()
    with agency.open() as archive:
        index = SearchIndex(definition).build(roster(archive, definition))
    zoe = next(e for e in index.entries if e.client.name == "Zoë Müller")

    def names(q: str) -> list[str]:
        return [e.client.name for e in index.search(q)]

    assert "Zoë Müller" in names("zoe mul")
    assert "Zoë Müller" in names("ZOË MÜLLER")
    assert "Zoë Müller" in names("zoe muler")  # a letter missing
    assert "Zoë Müller" in names("Zoe Mueller")  # a letter too many
    assert names(zoe.client.display_key.lower().replace("-", "")) == ["Zoë Müller"]
    y, m, d = zoe.birth_iso.split("-")
    assert "Zoë Müller" in names(f"{d}/{m}/{y}")
    assert "Zoë Müller" in names(zoe.birth_iso)
    assert names("qqqqqq") == []
    assert parse_dates("03/04/1950") == {"1950-04-03", "1950-03-04"}
    assert {e.status for e in index.entries} <= {"active", "discharged", "deleted"}


def test_search_results_carry_status_and_opaque_links(desk: RunningDesk) -> None:
    s = desk.login("nora")
    text, links = _search(desk, s, "Müller")
    assert ("Zoë Müller" in dict((n, t) for t, n in links))
    assert re.search(r'class="badge (active|discharged|deleted)"', text)
    for token, _ in links:
        assert not re.search(r"C-?\d{5}|[A-Za-z]{2,}ller", token), token
    # the search itself is a POST: a GET with a query in the URL is not served
    assert s.get(desk.url + "search?q=Zoe", timeout=30).status_code == 405


# -- pages, headers, roles --------------------------------------------------------------------


def test_security_headers_and_no_inline_script(desk: RunningDesk) -> None:
    s = desk.login("olga")
    _, links = _search(desk, s, "zoe muller")
    token = links[0][0]
    for path in ("", f"client/{token}", f"client/{token}/documents", "visits",
                 f"client/{token}/plan.pdf"):
        r = s.get(desk.url + path, timeout=120)
        assert r.status_code == 200, (path, r.text[:300])
        h = r.headers
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "unsafe-inline" not in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["Referrer-Policy"] == "no-referrer"
        assert h["Cache-Control"] == "no-store"
        if "html" in h["Content-Type"]:
            assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
            assert " style=" not in r.text and "<style" not in r.text, path
    login = s.get(desk.url + "login", timeout=30)
    assert "desk_session" not in login.headers.get("set-cookie", "")
    assert all(c.has_nonstandard_attr("HttpOnly") for c in s.cookies if c.name ==
               "desk_session")


def test_the_client_page_shows_the_plans_sections_and_the_pdf_matches(
        desk: RunningDesk) -> None:
    s = desk.login("nora")
    _, links = _search(desk, s, "Zoë Müller")
    token = links[0][0]
    page = s.get(desk.url + f"client/{token}", timeout=60).text
    for section in ("identity", "code_status", "allergies", "medications", "care_tasks",
                    "visits"):
        assert f'data-section="{section}"' in page, section
    assert "Backed up as of" in page and "Print (PDF)" in page
    pdf = s.get(desk.url + f"client/{token}/plan.pdf", timeout=120)
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Zoë Müller" in " ".join(text.split())
    code = re.search(r'class="emph code">([^<]+)<', page)
    assert code and code.group(1) in text


def test_a_print_role_is_refused_documents_history_and_staff(desk: RunningDesk) -> None:
    nora, olga, ada = desk.login("nora"), desk.login("olga"), desk.login("ada")
    _, links = _search(desk, nora, "zoe")
    token = links[0][0]
    assert nora.get(desk.url + f"client/{token}/documents", timeout=30).status_code == 403
    assert nora.get(desk.url + "staff", timeout=30).status_code == 403
    assert 'id="as_of"' not in nora.get(desk.url + f"client/{token}", timeout=60).text
    assert olga.get(desk.url + f"client/{token}/documents", timeout=60).status_code == 200
    assert 'id="as_of"' in olga.get(desk.url + f"client/{token}", timeout=60).text
    assert olga.get(desk.url + "staff", timeout=30).status_code == 403
    assert ada.get(desk.url + "staff", timeout=30).status_code == 200


def test_office_sees_documents_from_the_archive_and_an_as_of_plan(desk: RunningDesk) -> None:
    s = desk.login("olga")
    _, links = _search(desk, s, "zoe muller")
    token = links[0][0]
    docs = s.get(desk.url + f"client/{token}/documents", timeout=60).text
    files = re.findall(rf'href="/client/{token}/documents/(\d+)"', docs)
    assert files, docs
    body = s.get(desk.url + f"client/{token}/documents/{files[0]}", timeout=60)
    assert body.status_code == 200 and len(body.content) > 100
    runs = re.findall(r'<option value="(\d+)"', s.get(desk.url + f"client/{token}",
                                                      timeout=60).text)
    older = s.get(desk.url + f"client/{token}?as_of={runs[-1]}", timeout=60).text
    assert f"sync {runs[-1]}" in older and 'id="plan"' in older


def test_csrf_is_checked_on_every_form(desk: RunningDesk) -> None:
    s = desk.login("nora")
    assert s.post(desk.url + "search", data={"q": "zoe", "csrf": "forged"},
                  timeout=30).status_code == 403
    assert s.post(desk.url + "logout", data={}, timeout=30).status_code == 403
    assert s.get(desk.url, timeout=30).status_code == 200  # still logged in
    import requests

    bare = requests.Session()
    bare.trust_env = False
    refused = bare.post(desk.url + "login", data={"name": "nora", "password": "x" * 12,
                                                  "csrf": "guess"}, timeout=30)
    assert refused.status_code == 403


def test_logout_ends_the_session(desk: RunningDesk) -> None:
    s = desk.login("nora")
    home = s.get(desk.url, timeout=30)
    out = s.post(desk.url + "logout", data={"csrf": csrf_of(home.text)}, timeout=30)
    assert out.url.endswith("/login?out=1") and "You are logged out" in out.text
    again = s.get(desk.url, timeout=30)
    assert again.url.endswith("/login")


# -- audit ------------------------------------------------------------------------------------


def test_views_and_prints_wait_for_the_write_lock_and_are_never_lost(
        desk: RunningDesk) -> None:
    s = desk.login("nora")
    _, links = _search(desk, s, "zoe muller")
    token = links[0][0]
    before = len(_audit(desk.archive, "desk.view"))
    lock = ArchiveLock(desk.archive).acquire()  # the nightly sync, as far as the desk knows
    try:
        assert s.get(desk.url + f"client/{token}", timeout=60).status_code == 200
        assert s.get(desk.url + f"client/{token}/plan.pdf", timeout=120).status_code == 200
        time.sleep(1)
        assert len(_audit(desk.archive, "desk.view")) == before  # not yet: the lock is held
        journal = journal_path_for(desk.archive)
        sealed = journal.read_bytes()
        assert sealed and stat.S_IMODE(os.stat(journal).st_mode) == 0o600
        # needles that base64 (the sealed lines) cannot contain by chance: a non-ASCII
        # letter, a dash, quotes as plaintext JSON would have them ("Zo" alone can)
        for plain in ("Zoë".encode(), b"C-000", b'"nora"', "Müller".encode(), b'"desk.'):
            assert plain not in sealed
    finally:
        lock.release()
    deadline = time.monotonic() + 30
    while len(_audit(desk.archive, "desk.view")) == before and time.monotonic() < deadline:
        time.sleep(0.5)
    view = _audit(desk.archive, "desk.view")[-1]
    printed = _audit(desk.archive, "desk.print")[-1]
    assert view["actor"] == printed["actor"] == "desk:nora"
    assert view["detail"]["client"].startswith("C-")


def test_a_desk_stopped_with_entries_waiting_copies_them_at_its_next_start(
        agency: Agency, tmp_path: Path) -> None:  # noqa: F811
    config = make_desk_archive(agency.dir, tmp_path / "d")
    archive = config.parent / "a.db"
    first = start_desk(config)
    s = first.login("olga")
    _, links = _search(first, s, "zoe")
    with ArchiveLock(archive):
        assert s.get(first.url + f"client/{links[0][0]}", timeout=60).status_code == 200
        first.proc.kill()  # no goodbye: the entry is only in the journal
        first.proc.wait()
    assert not any(e["actor"] == "desk:olga" for e in _audit(archive, "desk.view"))
    second = start_desk(config)
    try:
        assert any(e["actor"] == "desk:olga" for e in _audit(archive, "desk.view"))
    finally:
        second.stop()


# -- logins -----------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_name_and_the_address(agency: Agency,  # noqa: F811
                                                            tmp_path: Path) -> None:
    config = make_desk_archive(agency.dir, tmp_path / "d")
    desk = start_desk(config)
    try:
        for _ in range(4):
            assert desk.login("nora", "wrong password x").last.status_code == 401  # type: ignore[attr-defined]
        fifth = desk.login("nora", "wrong password x").last  # type: ignore[attr-defined]
        assert fifth.status_code == 429 and "locked for 15 minutes" in fifth.text
        right = desk.login("nora").last  # type: ignore[attr-defined]
        assert right.status_code == 429  # the right password too, while locked
        other = desk.login("olga").last  # type: ignore[attr-defined]
        assert other.status_code == 429  # same address
        output = desk.stop()
    finally:
        desk.stop()
    assert "wrong password x" not in output
    assert _audit(config.parent / "a.db", "desk.lockout")[-1]["actor"] == "desk:nora"


def test_a_session_ends_after_the_configured_idle_time(agency: Agency,  # noqa: F811
                                                       tmp_path: Path) -> None:
    config = make_desk_archive(agency.dir, tmp_path / "d")
    write_config(config.parent, "[desk]\nsession_minutes = 0.05\n")  # 3 seconds
    desk = start_desk(config)
    try:
        s = desk.login("nora")
        assert s.get(desk.url, timeout=30).url == desk.url
        time.sleep(1.5)
        assert s.get(desk.url, timeout=30).url == desk.url  # in use: still on
        time.sleep(4)
        ended = s.get(desk.url, timeout=30)
        assert ended.url.endswith("/login?ended=1") and "without use" in ended.text
    finally:
        desk.stop()


def test_admin_adds_and_removes_staff_from_the_page(desk: RunningDesk) -> None:
    ada = desk.login("ada")
    page = ada.get(desk.url + "staff", timeout=30)
    added = ada.post(desk.url + "staff/add", data={
        "csrf": csrf_of(page.text), "name": "pia", "role": "print",
        "password": "copper kettle meadow"}, timeout=60)
    assert "Added pia (print)" in added.text
    weak = ada.post(desk.url + "staff/add", data={
        "csrf": csrf_of(page.text), "name": "tim", "role": "print", "password": "short"},
        timeout=60)
    assert weak.status_code == 400 and "too weak" in weak.text
    pia = desk.login("pia", "copper kettle meadow")
    assert pia.get(desk.url, timeout=30).url == desk.url
    removed = ada.post(desk.url + "staff/remove", data={"csrf": csrf_of(page.text),
                                                         "name": "pia"}, timeout=60)
    assert "Removed pia" in removed.text
    assert "/login" in pia.get(desk.url, timeout=30).url
    actions = [(e["action"], e["actor"]) for e in _audit(desk.archive, "staff")]
    assert ("staff.add", "desk:ada") in actions and ("staff.remove", "desk:ada") in actions


def test_no_health_data_in_the_desks_output_or_logs(desk: RunningDesk) -> None:
    s = desk.login("nora")
    _search(desk, s, "Zoë Müller")
    logs = [p.read_text(encoding="utf-8", errors="replace")
            for p in (desk.config.parent / "logs").rglob("*") if p.is_file()]
    text = desk.output.read_text(encoding="utf-8") + "".join(logs)
    for health in ("Zoë", "Müller", "C-000", "lantern"):
        assert health not in text


def test_a_client_deleted_upstream_is_found_flagged_with_its_last_plan(
        agency: Agency, tmp_path: Path) -> None:  # noqa: F811
    config = make_desk_archive(agency.dir, tmp_path / "d")
    archive = config.parent / "a.db"
    with Archive.open(archive, KeyFile(config.parent / "a.key"), write=True) as arc:
        rid = next(r for r, d in arc.records("salesforce", "Account")
                   if d and d.get("Name") == "Zoë Müller")
        run = arc.begin_run()
        arc.tombstone(run, "salesforce", "Account", [rid])
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
    desk = start_desk(config)
    try:
        s = desk.login("nora")
        text, links = _search(desk, s, "zoe muller")
        assert re.search(r'class="badge deleted">deleted upstream \d{4}-\d\d-\d\d<', text)
        page = s.get(desk.url + f"client/{links[0][0]}", timeout=60).text
        assert "DELETED in Salesforce" in page and "last archived care plan" in page
        assert 'data-section="allergies"' in page
    finally:
        desk.stop()


def test_visits_of_this_week_by_caregiver(desk: RunningDesk) -> None:
    s = desk.login("nora")
    page = s.get(desk.url + "visits", timeout=60).text
    week = page[page.index('id="week"'):]
    caregivers = re.findall(r'<h3 class="caregiver">([^<]+)<', week)
    assert caregivers and "Unassigned" not in caregivers
    assert re.search(r'<a href="/client/[^"]+">[^<]+</a> <span class="muted">C-\d{5}', week)


def test_stale_data_is_flagged_on_every_page(agency: Agency, tmp_path: Path) -> None:  # noqa: F811
    config = make_desk_archive(agency.dir, tmp_path / "d")
    write_config(config.parent, archive_extra="stale_after_hours = 0.0003\n")  # ~1 second
    time.sleep(1.5)
    desk = start_desk(config)
    try:
        s = desk.login("nora")
        _, links = _search(desk, s, "zoe muller")
        for path in ("", "visits", f"client/{links[0][0]}"):
            page = s.get(desk.url + path, timeout=60).text
            assert 'id="stale-banner"' in page and "NOT backed up since" in page, path
            assert "Backed up as of" in page
        plan = s.get(desk.url + f"client/{links[0][0]}", timeout=60).text
        assert "DATA MAY BE OUT OF DATE" in plan
    finally:
        desk.stop()
