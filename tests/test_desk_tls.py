"""``exporter desk --lan``: HTTPS only, with a self-signed certificate made beside the archive
(its key 0600) whose fingerprint the command prints, or the office's own --cert/--key."""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import stat
from pathlib import Path

import pytest
import requests

from exporter.desk.tls import certificate_paths, ensure_certificate, fingerprint
from tests.desk_support import csrf_of, free_port, make_desk_archive, start_desk
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)

# The desk's certificate is self-signed: the tests check its fingerprint, as staff do.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _served_fingerprint(port: int) -> str:
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def _plain_http_is_refused(port: int) -> None:
    s = requests.Session()
    s.trust_env = False
    with pytest.raises(requests.RequestException):
        s.get(f"http://127.0.0.1:{port}/login", timeout=10)


def test_lan_serves_https_only_with_a_certificate_kept_beside_the_archive(
        agency: Agency, tmp_path: Path) -> None:  # noqa: F811
    config = make_desk_archive(agency.dir, tmp_path / "d")
    archive = config.parent / "a.db"
    port = free_port()
    desk = start_desk(config, "--lan", port=port, scheme="https")
    try:
        cert, key = certificate_paths(archive)
        assert cert.exists() and stat.S_IMODE(os.stat(key).st_mode) == 0o600
        shown = re.search(r"fingerprint.*\n\s+([0-9A-F:]{95})", desk.output.read_text())
        assert shown, desk.output.read_text()
        assert shown.group(1) == fingerprint(cert)
        assert shown.group(1).replace(":", "").lower() == _served_fingerprint(port)
        s = requests.Session()
        s.trust_env = False
        s.verify = False  # self-signed: the test checks the fingerprint instead, as staff do
        page = s.get(desk.url + "login", timeout=30)
        assert page.status_code == 200 and page.url.startswith("https://")
        assert "max-age" in page.headers["Strict-Transport-Security"]
        done = s.post(desk.url + "login", data={"name": "nora", "password":
                                                "lantern orchard violet",
                                                "csrf": csrf_of(page.text)}, timeout=60)
        assert done.status_code == 200 and 'id="q"' in done.text
        assert any(c.name == "desk_session" and c.secure for c in s.cookies)
        _plain_http_is_refused(port)
    finally:
        desk.stop()
    again = start_desk(config, "--lan", scheme="https")  # the same certificate, kept
    try:
        assert fingerprint(cert) in again.output.read_text()
    finally:
        again.stop()


def test_lan_with_the_offices_own_certificate(agency: Agency, tmp_path: Path) -> None:  # noqa: F811
    config = make_desk_archive(agency.dir, tmp_path / "d")
    office = tmp_path / "office"
    office.mkdir()
    cert, key = ensure_certificate(office / "office.db")
    port = free_port()
    desk = start_desk(config, "--lan", "--cert", str(cert), "--key", str(key), port=port,
                      scheme="https")
    try:
        assert _served_fingerprint(port) == fingerprint(cert).replace(":", "").lower()
        assert not certificate_paths(config.parent / "a.db")[0].exists()
        _plain_http_is_refused(port)
    finally:
        desk.stop()


def test_a_fingerprint_is_printed_as_is_never_as_emoji() -> None:
    """rich turns ":cd:" into a CD icon unless told not to; a certificate fingerprint holds
    ":CD:" one time in ten (found by this file's test above, failing now and then)."""
    from exporter.cli_base import err, out

    for console in (out, err):
        with console.capture() as captured:
            console.print("49:A1:C9:CD:7F:11 and :smile:")
        assert captured.get().strip() == "49:A1:C9:CD:7F:11 and :smile:"
