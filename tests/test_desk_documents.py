"""A client's documents as the desk serves them, when whoever could put a file on the client's
record chose it: an HTML page, an SVG and a script uploaded to the client's Google Drive
folder (with the real google-api-python-client, synced by the real connectors) are
downloaded, never shown on the desk's own origin where their script would act as the staff
member who opened them; a file named in another alphabet is served, not a 500."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from googleapiclient.http import MediaInMemoryUpload

from exporter.archive import Archive
from exporter.desk.staff import add_staff
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.desk_support import PASSWORD, RunningDesk, csrf_of, start_desk, write_config
from tests.restore_support import google_service

CLIENT = "C-00002"
#: name -> (type uploaded, bytes); the modified times keep the page's order fixed.
UPLOADS = {
    "Visit notes.html": ("text/html", b"<html><body><form action='/login'><input name=password>"
                                      b"</form><script src='2'></script></body></html>"),
    "wound photo.svg": ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'>"
                                         b"<script>fetch('/staff')</script></svg>"),
    "helper.js": ("text/javascript", b"fetch('/staff', {method: 'POST'})"),
    "护理笔记 Zoë.pdf": ("application/pdf", b"%PDF-1.4\n% care notes\n%%EOF\n"),
    "notes.txt": ("text/plain", b"Prefers tea in the afternoon."),
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    tmp = tmp_path_factory.mktemp("desk-docs")
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive, Sandbox(clients=3, seed=5) as sb:
        drive = google_service(sb, "drive")
        for n, (name, (mime, body)) in enumerate(UPLOADS.items()):
            drive.files().create(
                body={"name": name, "properties": {"client_number": CLIENT},
                      "modifiedTime": f"2030-01-0{n + 1}T10:00:00.000Z"},
                media_body=MediaInMemoryUpload(body, mimetype=mime)).execute()
        connectors = {name: build_connector(name, table, tmp / "config.toml")
                      for name, table in sb.source_configs(tmp / "secrets").items()}
        assert run_sync(archive, connectors).status == "ok"
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key"), write=True) as arc:
        add_staff(arc, "olga", "office", PASSWORD)
    running = start_desk(write_config(tmp))
    yield running
    running.stop()


def _documents(desk: RunningDesk) -> list[requests.Response]:
    """Every document on the client's documents page, as served."""
    s = desk.login("olga")
    found = s.post(desk.url + "search", data={"q": CLIENT, "csrf": csrf_of(
        s.get(desk.url, timeout=30).text)}, timeout=30)
    token = re.findall(r'href="/client/([^"/]+)"', found.text)[0]
    page = s.get(desk.url + f"client/{token}/documents", timeout=60).text
    numbers = sorted(set(re.findall(rf'href="/client/{token}/documents/(\d+)"', page)))
    assert len(numbers) >= len(UPLOADS), page
    return [s.get(desk.url + f"client/{token}/documents/{n}", timeout=60) for n in numbers]


def _served(desk: RunningDesk, name: str) -> requests.Response:
    """The response that carried the file uploaded as ``name`` (found by its bytes)."""
    body = UPLOADS[name][1]
    for r in _documents(desk):
        if r.status_code == 200 and r.content == body:
            return r
    raise AssertionError(f"{name} was not served")


def _name(r: requests.Response) -> str:
    found = re.search(r"filename\*=UTF-8''([^;]+)", r.headers["Content-Disposition"])
    assert found, r.headers["Content-Disposition"]
    return urllib.parse.unquote(found.group(1))


def test_a_document_that_could_run_script_is_downloaded_not_shown(desk: RunningDesk) -> None:
    for name in ("Visit notes.html", "wound photo.svg", "helper.js"):
        r = _served(desk, name)  # the file itself, untouched
        assert r.headers["Content-Disposition"].startswith("attachment;"), (name, r.headers)
        assert r.headers["Content-Type"] == "application/octet-stream", name
        assert "sandbox" in r.headers["Content-Security-Policy"], name
        assert _name(r) == name
    text = _served(desk, "notes.txt")
    assert text.headers["Content-Disposition"].startswith("inline;")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert "sandbox" in text.headers["Content-Security-Policy"]


def test_a_document_named_in_another_alphabet_is_served(desk: RunningDesk) -> None:
    assert {r.status_code for r in _documents(desk)} == {200}
    r = _served(desk, "护理笔记 Zoë.pdf")
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith('inline; filename="')
    assert _name(r) == "护理笔记 Zoë.pdf"
    assert "sandbox" not in r.headers["Content-Security-Policy"]  # Chrome shows no PDF in one
    assert "Exception in ASGI application" not in Path(desk.output).read_text("utf-8")
