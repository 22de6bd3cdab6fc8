"""Every search the desk answers is audited (its results show names and dates of birth):
``desk.search`` with the staff member, the query and how many clients it found, once, also
when the nightly sync holds the write lock (the sealed journal). A real desk over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.desk.journal import journal_path_for
from exporter.keys import KeyFile
from exporter.lock import ArchiveLock
from tests.desk_support import RunningDesk, csrf_of, make_desk_archive, start_desk
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)
from tests.test_desk import _search


@pytest.fixture
def desk(agency: Agency, tmp_path: Path) -> Iterator[RunningDesk]:  # noqa: F811
    running = start_desk(make_desk_archive(agency.dir, tmp_path / "desk"))
    yield running
    running.stop()


def _searches(archive: Path) -> list[dict]:
    with Archive.open(archive, KeyFile(archive.with_name("a.key"))) as arc:
        return arc.audit_entries("desk.search")


def test_each_search_is_audited_once_with_who_what_and_how_many(desk: RunningDesk) -> None:
    s = desk.login("nora")
    _, links = _search(desk, s, "zoe muller")
    assert links

    entries = _searches(desk.archive)
    assert len(entries) == 1, entries
    assert entries[0]["actor"] == "desk:nora"
    assert entries[0]["detail"]["query"] == "zoe muller"
    assert entries[0]["detail"]["matches"] == len(links)


def test_a_search_while_the_sync_holds_the_lock_waits_sealed_then_lands_once(
        desk: RunningDesk) -> None:
    s = desk.login("olga")
    page = s.get(desk.url, timeout=30)
    with ArchiveLock(desk.archive):  # the nightly sync, as far as the desk knows
        found = s.post(desk.url + "search", data={"q": "Müller", "csrf": csrf_of(page.text)},
                       timeout=30)
        assert found.status_code == 200
        time.sleep(1)
        assert _searches(desk.archive) == []  # not yet: the lock is held
        sealed = journal_path_for(desk.archive).read_bytes()
        assert sealed and "Müller".encode() not in sealed and b'"olga"' not in sealed
    deadline = time.monotonic() + 30
    while not _searches(desk.archive) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)  # a second copy, if there were one, would land by now

    entries = _searches(desk.archive)
    assert [(e["actor"], e["detail"]["query"]) for e in entries] == [("desk:olga", "Müller")]
    assert entries[0]["detail"]["matches"] >= 1
