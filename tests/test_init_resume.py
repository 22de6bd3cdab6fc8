"""An init stopped after it made the key file but before the archive exists (a kill, a
blocked folder) is finished by running init again: the key file it made is not mistaken for
someone else's (found by the reliability campaign's kills of init)."""

from __future__ import annotations

import stat

from exporter.archive import Archive
from exporter.keys import KeyFile, create_key_file, write_private_file
from tests.conftest import Cli

PASSPHRASE = "correct horse battery"


def test_init_stopped_after_making_its_key_file_is_finished_by_a_rerun(run_cli: Cli) -> None:
    """What an init killed between its key file and its archive leaves (the reliability
    campaign's kills reach that moment for real; init now refuses an unusable folder before
    it makes anything, so no blocked folder can stop it there): the marker, then the key
    file, made as init makes them."""
    archive = run_cli.tmp / "data" / "archive.db"
    args = ["init", "--archive", str(archive), "--key-file", str(run_cli.key_file)]
    env = {"EXPORTER_PASSPHRASE": PASSPHRASE}
    write_private_file(run_cli.key_file.with_name(run_cli.key_file.name + ".init-pending"), b"")
    create_key_file(run_cli.key_file)
    assert not archive.exists()
    again = run_cli(*args, env=env)
    assert again.exit_code == 0, again.output
    assert stat.S_IMODE(run_cli.key_file.stat().st_mode) == 0o600
    with Archive.open(archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.verify() == []
    assert list(run_cli.tmp.glob("*.init-pending")) == []


def test_a_key_file_init_did_not_make_is_still_never_reused(run_cli: Cli) -> None:
    run_cli.key_file.write_text("someone's key file")
    result = run_cli("init", "--archive", str(run_cli.archive), "--key-file",
                     str(run_cli.key_file), env={"EXPORTER_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 3
    assert "never reuses a key file" in result.output
    assert run_cli.key_file.read_text() == "someone's key file"
