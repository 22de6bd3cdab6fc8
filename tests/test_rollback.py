"""Issue 15: a rolled-back archive is found. The high-water mark beside the config (newest run,
audit head, key generation; HMAC under a key derived from the master key) makes every open
through the config refuse an archive older than this computer last saw, with exit 23 and the
nightly job's alert; ``verify --accept-rollback`` accepts an intended restore, audited. Real
archives, the real command line, the HubSpot and mail emulators over loopback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.keys import KeyFile, slots_path_for
from sandbox import Sandbox
from sandbox.cli import merge_notify_into_config, merge_sources_into_config, sandbox_notify_table
from sandbox.smtp import SMTPEmulator
from tests.conftest import Cli
from tests.test_copies import _fill


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail") as server:
        yield server


def _mark(cli: Cli) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        cli.config.with_name(cli.config.name + ".highwater.json").read_text())
    return data


def _save(cli: Cli, folder: Path) -> None:
    """An older genuine copy of the archive and its .keys (as 'exporter copy' keeps them)."""
    folder.mkdir()
    shutil.copy2(cli.archive, folder / cli.archive.name)
    shutil.copy2(slots_path_for(cli.archive), folder / slots_path_for(cli.archive).name)


def _put_back(cli: Cli, folder: Path) -> None:
    shutil.copy2(folder / cli.archive.name, cli.archive)
    shutil.copy2(folder / slots_path_for(cli.archive).name, slots_path_for(cli.archive))


def _runs(cli: Cli, n: int) -> None:
    for _ in range(n):
        _fill(cli)


def test_the_mark_follows_the_archive_and_is_private(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _runs(run_cli, 3)
    assert run_cli("status").exit_code == 0
    mark = _mark(run_cli)
    assert mark["newest_run"] == 3 and mark["key_generation"] == 1
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert mark["archive_id"] == arc.archive_id
        assert mark["audit_entries"] == len(arc.audit_entries())
    path = run_cli.config.with_name(run_cli.config.name + ".highwater.json")
    assert path.stat().st_mode & 0o077 == 0


def test_an_older_archive_put_back_is_refused_until_the_rollback_is_accepted(
        run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _runs(run_cli, 1)
    _save(run_cli, run_cli.tmp / "old")
    _runs(run_cli, 56)
    assert run_cli("status").exit_code == 0
    before = _mark(run_cli)
    _put_back(run_cli, run_cli.tmp / "old")

    for command in (("status",), ("verify",), ("print", "C-00001", "--out",
                                               str(run_cli.tmp / "out"))):
        result = run_cli(*command)
        assert result.exit_code == 23, result.output
        assert "its runs went from 57 to 1" in result.output
        assert "exporter verify --accept-rollback" in result.output
        assert "Traceback" not in result.output
    assert _mark(run_cli) == before  # a refused open leaves the mark as it was

    accepted = run_cli("verify", "--accept-rollback")
    assert accepted.exit_code == 0, accepted.output
    assert "ends at run 1 (this computer had seen run 57)" in accepted.output
    assert run_cli("status").exit_code == 0
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        [entry] = arc.audit_entries("accept-rollback")
    assert entry["detail"]["mark_newest_run"] == 57 and entry["detail"]["newest_run"] == 1
    assert _mark(run_cli)["newest_run"] == 1


def test_an_older_archive_written_past_the_mark_is_found_by_its_audit_log(
        run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _runs(run_cli, 1)
    _save(run_cli, run_cli.tmp / "old")
    _runs(run_cli, 2)
    assert run_cli("status").exit_code == 0
    _put_back(run_cli, run_cli.tmp / "old")
    _runs(run_cli, 4)  # the old copy, written to elsewhere: more runs than the mark
    result = run_cli("status")
    assert result.exit_code == 23, result.output
    assert "audit log no longer holds" in result.output


def test_a_lowered_mark_is_refused_as_altered(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _runs(run_cli, 5)
    assert run_cli("status").exit_code == 0
    path = run_cli.config.with_name(run_cli.config.name + ".highwater.json")
    mark = _mark(run_cli)
    path.write_text(json.dumps(dict(mark, newest_run=0, audit_entries=0)))
    result = run_cli("status")
    assert result.exit_code == 23, result.output
    assert "was altered" in result.output


def test_a_rolled_back_archive_makes_the_sync_refuse_and_alert(run_cli: Cli,
                                                               mail: SMTPEmulator) -> None:
    with Sandbox(clients=2, seed=3, vendors=("hubspot",)) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        _save(run_cli, run_cli.tmp / "old")
        assert run_cli("sync").exit_code == 0
        assert run_cli("sync").exit_code == 0
        merge_notify_into_config(run_cli.config, sandbox_notify_table(
            mail.host, mail.port, run_cli.tmp / "notify-secrets"))
        _put_back(run_cli, run_cli.tmp / "old")
        result = run_cli("sync")
    assert result.exit_code == 23, result.output
    assert "its runs went from 2 to 0" in result.output
    [sent] = mail.messages
    assert "FAILED" in sent.subject and "older than this computer last saw" in sent.text
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.runs() == []  # nothing was synced into the old archive


def test_a_copy_from_before_a_rotation_is_refused_by_its_key_generation(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _runs(run_cli, 2)
    _save(run_cli, run_cli.tmp / "old")
    rotated = run_cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert run_cli("status").exit_code == 0  # the mark was signed again with the new key
    assert _mark(run_cli)["key_generation"] == 2
    _put_back(run_cli, run_cli.tmp / "old")  # its own .keys: the key file still opens it
    result = run_cli("status")
    assert result.exit_code == 23, result.output
    assert "its key generation went from 2 to 1" in result.output
