"""Printing with the network blocked, and the HTML view in headless Chromium.

The network is blocked for real where the kernel allows it (``unshare -n``: a process with
no network interface but a downed loopback), and always by a ``sitecustomize`` that makes
every socket connect and name lookup fail and write down that it was tried."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfReader

from exporter.archive import Archive
from exporter.careplan.definition import load_definition
from exporter.careplan.printing import print_care_plans
from tests.test_careplan import Agency, account, agency, copy  # noqa: F401 (fixtures)

GUARD = textwrap.dedent('''
    import os, socket

    def _refuse(*args, **kwargs):
        with open(os.environ["NO_NETWORK_LOG"], "a") as fh:
            fh.write(repr(args[1:3]) + "\\n")
        raise OSError(101, "network blocked by the test")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    socket.gethostbyname = _refuse
''')


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def _offline(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "network-attempts.log"
    env = {**os.environ, "PYTHONPATH": str(guard), "NO_NETWORK_LOG": str(log),
           "EXPORTER_CONFIG": "", "http_proxy": "", "https_proxy": ""}
    prefix = ["unshare", "-n"] if _unshare_works() else []
    return prefix, env, log


def test_the_guard_really_blocks(tmp_path: Path) -> None:
    prefix, env, log = _offline(tmp_path)
    probe = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 443), timeout=2)\n"
             "except OSError as e:\n    print('blocked', e.errno)\nelse:\n    print('open')\n")
    got = subprocess.run([*prefix, sys.executable, "-c", probe], env=env,
                         capture_output=True, text=True, timeout=60)
    assert got.stdout.strip().startswith("blocked"), got
    assert log.read_text().strip()  # the attempt was seen
    if prefix:  # and the kernel has no route either, guard or not
        env.pop("PYTHONPATH")
        raw = subprocess.run([*prefix, sys.executable, "-c", probe], env=env,
                             capture_output=True, text=True, timeout=60)
        assert raw.stdout.strip().startswith("blocked"), raw


def test_printing_succeeds_with_the_network_blocked(copy: Archive, tmp_path: Path) -> None:  # noqa: F811
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[archive]\npath = "{copy.path}"\n'
                   f'key_file = "{copy.path.with_name("a.key")}"\n', encoding="utf-8")
    prefix, env, log = _offline(tmp_path)
    out = tmp_path / "offline.pdf"
    done = subprocess.run([*prefix, sys.executable, "-m", "exporter", "--config", str(cfg),
                           "print", "C-00001", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not log.exists() or log.read_text() == ""  # nothing even tried to connect
    text = " ".join(p.extract_text() or "" for p in PdfReader(out).pages)
    assert account(copy, "C-00001")["Name"] in text
    assert copy.audit_entries("print")[-1]["detail"]["files"] == [str(out.resolve())]


def test_weasyprint_is_refused_every_url_but_data(tmp_path: Path) -> None:
    from weasyprint import HTML

    from exporter.careplan.render import pdf_of_html

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    red = tmp_path / "red.css"
    red.write_text("p { color: #ff0000 }", encoding="utf-8")
    html = (f'<link rel="stylesheet" href="{red.as_uri()}">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'
            f'<img src="http://127.0.0.1:{port}/x.png">'
            '<img src="data:image/gif;base64,'
            'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
            '<p>text</p>')
    ours = pdf_of_html(html)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody knocked
    # WeasyPrint left to itself knocks, and reads the file that prints the text red
    default = HTML(string=html).write_pdf()
    listener.accept()[0].close()
    listener.close()

    def content(pdf: bytes) -> bytes:
        return PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()

    assert b"1 0 0 rg" in content(default)
    assert b"1 0 0 rg" not in content(ours)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed for this test and is not installed: "
                "apt-get install -y chromium (CI installs it in .ci/run)")


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("number", ["C-00003"])
def test_the_html_view_loads_in_headless_chromium(copy: Archive, tmp_path: Path,  # noqa: F811
                                                  number: str) -> None:
    definition = load_definition()
    html = tmp_path / "plan.html"
    pdf = tmp_path / "plan.pdf"
    print_care_plans(copy, definition, query=number, out=html, fmt="html")
    print_care_plans(copy, definition, query=number, out=pdf)
    dom = _run_chromium(tmp_path, "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr
    for section in ("identity", "address", "code_status", "allergies", "emergency_contacts",
                    "physician", "pharmacy", "diagnoses", "medications", "care_tasks",
                    "visits", "diet", "safety", "goals", "notes", "signoff"):
        assert f'data-section="{section}"' in dom.stdout, section
    acc = account(copy, number)
    assert acc["Name"] in dom.stdout
    assert re.search(r'id="alerts"', dom.stdout)
    printed = tmp_path / "chromium.pdf"
    run = _run_chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={printed}",
                        html.as_uri())
    assert run.returncode == 0 and printed.exists(), run.stderr
    ours, theirs = len(PdfReader(pdf).pages), len(PdfReader(printed).pages)
    assert ours > 1 and abs(ours - theirs) <= 1, (ours, theirs)
