"""Issue 11: ``exporter drill``, the fire drill written down. The newest copy (a folder, or
the S3 emulator) is fetched, opened with the configured key, verified, a care plan printed
from it and its PDF text checked; a dated HTML and PDF report says what was checked, how long
recovery took and by whom, and the archive's audit log records it (action ``drill``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from exporter.archive import Archive
from exporter.keys import KeyFile, write_private_file
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from sandbox.s3 import CREDENTIALS, s3_sandbox
from tests.conftest import Cli


@pytest.fixture
def synced(run_cli: Cli) -> Iterator[tuple[Cli, Sandbox]]:
    with Sandbox(clients=3, seed=4) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        assert run_cli("sync").exit_code == 0
        yield run_cli, sb


def _copy_to_folder(cli_: Cli) -> Path:
    usb = cli_.tmp / "usb"
    usb.mkdir()
    with cli_.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[[copies]]\nname = "usb"\npath = "{usb.as_posix()}"\n')
    assert cli_("copy").exit_code == 0
    return usb


def _drills(cli_: Cli) -> list[dict[str, object]]:
    with Archive.open(cli_.archive, KeyFile(cli_.key_file)) as arc:
        return [e for e in arc.audit_entries("drill") if e["action"] == "drill"]


def test_a_drill_from_a_folder_copy_passes_and_is_written_down(
        synced: tuple[Cli, Sandbox]) -> None:
    cli_, sb = synced
    _copy_to_folder(cli_)
    reports = cli_.tmp / "drills"
    result = cli_("drill", "--report-dir", str(reports), "--by", "Mary Office")
    assert result.exit_code == 0, result.output
    assert "✓ fetched" in result.output and "✓ printed" in result.output
    assert "Drill PASSED in " in result.output
    [html_file] = reports.glob("drill-*.html")
    [pdf_file] = reports.glob("drill-*.pdf")
    assert html_file.stat().st_mode & 0o077 == 0
    text = " ".join(" ".join((p.extract_text() or "").split())
                    for p in PdfReader(pdf_file).pages)
    assert "Backup recovery drill: PASSED" in text and "Mary Office" in text
    assert "Recovery took" in text and "seconds" in text
    for what in ("fetched", "opened", "verified", "printed"):
        assert f"✓ {what}" in html_file.read_text(encoding="utf-8")
    for client in sb.agency.clients.values():  # a client number at most, never a name
        assert client.full_name not in text
    [entry] = _drills(cli_)
    detail = entry["detail"]
    assert isinstance(detail, dict) and detail["ok"] is True and detail["by"] == "Mary Office"
    assert detail["copy"] and str(detail["client"]).startswith("C-")
    assert detail["report"] == [str(html_file), str(pdf_file)]
    assert not list(Path(cli_.tmp).glob("**/care-plan.pdf"))  # nothing printed is kept


def test_a_damaged_copy_fails_the_drill_and_the_report_says_so(
        synced: tuple[Cli, Sandbox]) -> None:
    cli_, _sb = synced
    usb = _copy_to_folder(cli_)
    [copy] = [p for p in usb.iterdir() if p.is_dir()]
    db = copy / "archive.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    db.write_bytes(bytes(data))
    result = cli_("drill", "--report-dir", str(cli_.tmp / "drills"))
    assert result.exit_code == 21, result.output
    assert "✗ fetched" in result.output and "does not match its manifest" in result.output
    [html_file] = (cli_.tmp / "drills").glob("drill-*.html")
    assert "Backup recovery drill: FAILED" in html_file.read_text(encoding="utf-8")
    [entry] = _drills(cli_)
    assert isinstance(entry["detail"], dict) and entry["detail"]["ok"] is False


def test_a_drill_from_an_object_store(synced: tuple[Cli, Sandbox], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cli_, _sb = synced
    with s3_sandbox(tmp_path / "s3", buckets=("copies",)) as served:
        endpoint = served[0]
        secret = cli_.tmp / "b2-secret.txt"
        write_private_file(secret, CREDENTIALS["aws_secret_access_key"].encode())
        monkeypatch.setenv("TEST_S3_KEY_ID", CREDENTIALS["aws_access_key_id"])
        with cli_.config.open("a", encoding="utf-8") as fh:
            fh.write(f'\n[[copies]]\nname = "b2"\nurl = "s3://copies/agency"\n'
                     f'endpoint_url = "{endpoint}"\n'
                     'access_key_id = { env = "TEST_S3_KEY_ID" }\n'
                     f'secret_access_key = {{ file = "{secret.as_posix()}" }}\n')
        assert cli_("copy").exit_code == 0
        result = cli_("drill", "--from", "b2", "--client", "C-00002",
                      "--report-dir", str(cli_.tmp / "drills"))
    assert result.exit_code == 0, result.output
    [entry] = _drills(cli_)
    detail = entry["detail"]
    assert isinstance(detail, dict)
    assert detail["destination"] == "s3://copies/agency" and detail["client"] == "C-00002"
    assert json.dumps(detail).count("true") >= 4  # every check passed
