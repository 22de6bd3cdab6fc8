"""An unexpected failure under a running desk (here: its audit journal replaced by a folder,
so no view can be recorded) is a plain 500 page; the traceback goes to exporter's log file,
never to the desk's console (or its logon log), and nothing of the client is in the page.
A real desk process over HTTP; the failure is made on disk, nothing is mocked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.desk.app import FLUSH_SECONDS
from exporter.desk.journal import journal_path_for
from exporter.desk.web import FAILED
from tests.desk_support import RunningDesk, make_desk_archive, start_desk
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)
from tests.test_desk import _search


@pytest.fixture
def desk(agency: Agency, tmp_path: Path) -> Iterator[RunningDesk]:  # noqa: F811
    running = start_desk(make_desk_archive(agency.dir, tmp_path / "desk"))
    yield running
    running.stop()


def _log_text(desk: RunningDesk) -> str:
    return "\n".join(p.read_text(encoding="utf-8")
                     for p in sorted((desk.config.parent / "logs").iterdir()))


def test_an_unexpected_failure_is_a_plain_500_page_and_a_traceback_in_the_log_only(
        desk: RunningDesk) -> None:
    s = desk.login("nora")
    _, links = _search(desk, s, "zoe muller")
    token = links[0][0]
    journal = journal_path_for(desk.archive)
    journal.unlink(missing_ok=True)
    journal.mkdir()  # every view's audit entry now fails to be written: the page must too
    try:
        got = s.get(desk.url + f"client/{token}", timeout=60)
        time.sleep(FLUSH_SECONDS + 1)  # the desk's own journal copying meets the folder too
    finally:
        journal.rmdir()

    assert got.status_code == 500
    assert FAILED in got.text
    for leak in ("Zoë", "Müller", "C-0", "Traceback", "IsADirectoryError", str(journal)):
        assert leak not in got.text, leak
    assert got.headers["cache-control"] == "no-store"  # the security headers still apply
    assert s.get(desk.url + f"client/{token}", timeout=60).status_code == 200  # it goes on
    console = desk.stop()
    for mark in ("Traceback", "Exception in ASGI application", "Task exception",
                 "IsADirectoryError"):
        assert mark not in console, console
    logged = _log_text(desk)
    assert "a desk page failed unexpectedly" in logged and "IsADirectoryError" in logged
    assert "could not look for a new sync or copy its journal" in logged
    assert "Müller" not in logged
