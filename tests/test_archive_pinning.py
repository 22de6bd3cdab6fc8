"""Issue 15: a folder writer cannot swap the archive. ``init`` pins the archive's id and
fingerprint in the config; opening and syncing refuse another archive, with exit 17 and an
alert, and ``init`` never reuses a key file that already exists."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.archive.pin import refuse_other_archive
from exporter.errors import WrongArchive
from exporter.keys import KeyFile, create_key_file, slots_path_for
from sandbox import Sandbox
from sandbox.cli import merge_notify_into_config, merge_sources_into_config, sandbox_notify_table
from sandbox.smtp import SMTPEmulator
from tests.conftest import Cli


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail") as server:
        yield server


def _swap(run_cli: Cli) -> None:
    """The attacker's own archive, .keys and key file put where ours were."""
    theirs = run_cli.tmp / "attacker"
    theirs.mkdir()
    arc, _ = Archive.create(theirs / "archive.db", key_file=theirs / "archive.key")
    arc.close()
    shutil.copy2(theirs / "archive.db", run_cli.archive)
    shutil.copy2(slots_path_for(theirs / "archive.db"), slots_path_for(run_cli.archive))
    run_cli.key_file.unlink()
    shutil.copy2(theirs / "archive.key", run_cli.key_file)


def test_init_pins_the_archive_in_the_config(run_cli: Cli) -> None:
    run_cli.init()
    table = tomllib.loads(run_cli.config.read_text())["archive"]
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert table["id"] == arc.archive_id
        assert table["fingerprint"] == arc.fingerprint and len(table["fingerprint"]) == 32


def test_a_swapped_archive_makes_the_sync_refuse_and_alert(run_cli: Cli,
                                                           mail: SMTPEmulator) -> None:
    with Sandbox(clients=2, seed=3, vendors=("hubspot",)) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        merge_notify_into_config(run_cli.config, sandbox_notify_table(
            mail.host, mail.port, run_cli.tmp / "notify-secrets"))
        _swap(run_cli)
        result = run_cli("sync")
    assert result.exit_code == 17, result.output
    assert "not the one this computer was set up with" in result.output
    [sent] = mail.messages
    assert "FAILED" in sent.subject and "set up with" in sent.text
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.runs() == []  # nothing was written into the attacker's archive
    assert run_cli("status").exit_code == 17


def test_the_same_id_with_another_fingerprint_is_refused(tmp_path: Path) -> None:
    ours, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    theirs, _ = Archive.create(tmp_path / "b.db", key_file=tmp_path / "b.key")
    with ours, theirs:
        pin = (ours.archive_id, ours.fingerprint)
        refuse_other_archive(ours.path, pin, ours.archive_id, ours.fingerprint)
        with pytest.raises(WrongArchive):  # the id copied from our plaintext .keys file
            refuse_other_archive(theirs.path, pin, ours.archive_id, theirs.fingerprint)


def test_the_pin_survives_a_rotation(run_cli: Cli) -> None:
    run_cli.init()
    assert run_cli("keys", "rotate").exit_code == 0
    assert run_cli("status").exit_code == 0


def test_init_never_reuses_an_existing_key_file(run_cli: Cli) -> None:
    create_key_file(run_cli.key_file)  # planted, or left from another archive
    result = run_cli("init", "--archive", str(run_cli.archive), "--key-file",
                     str(run_cli.key_file), env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    assert result.exit_code == 3, result.output
    assert "never reuses a key file" in result.output
    assert not run_cli.archive.exists()
