"""Issue 15: revoking a credential revokes it. ``keys rotate`` re-encrypts the archive under a
new master key, and a key-slot file older than the archive's key generation is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.errors import KeySlotsDamaged, KeysRolledBack, WrongKey
from exporter.keys import KeyFile, KeySlots, Passphrase, slots_path_for
from tests.conftest import Cli

OLD = "ex-employee passphrase 2019"
NEW_ENV = {"EXPORTER_NEW_PASSPHRASE": OLD}


def _slot_id(cli: Cli, label: str) -> str:
    slots = KeySlots.load(slots_path_for(cli.archive))
    return next(s["id"] for s in slots.slots if s.get("label") == label)


def _with_leaver(cli: Cli) -> Path:
    """An archive with a second passphrase, and a copy of the .keys file that holds it."""
    cli.init()
    added = cli("keys", "add", "--passphrase", "--label", "leaver", env=NEW_ENV)
    assert added.exit_code == 0, added.output
    saved = cli.tmp / "old.keys"
    shutil.copy2(slots_path_for(cli.archive), saved)
    return saved


def test_an_old_keys_file_with_a_removed_passphrase_is_refused_after_rotate(
        run_cli: Cli) -> None:
    saved = _with_leaver(run_cli)
    removed = run_cli("keys", "remove", _slot_id(run_cli, "leaver"))
    assert removed.exit_code == 0 and "keys rotate" in removed.output
    rotated = run_cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Copies made before" in rotated.output
    # The key file (config) and the recovery key still open it; the data is all there.
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert [e["action"] for e in arc.audit_entries("keys")][-1] == "keys.rotate"
        assert arc.verify() == []
    # The ex-employee puts the old .keys back and uses the removed passphrase: refused.
    shutil.copy2(saved, slots_path_for(run_cli.archive))
    with pytest.raises(KeySlotsDamaged):
        Archive.open(run_cli.archive, Passphrase.of(OLD))
    opened = run_cli("status", env={"EXPORTER_PASSPHRASE": OLD})
    assert opened.exit_code != 0


def test_the_main_passphrase_survives_rotate_and_others_are_named(run_cli: Cli) -> None:
    _with_leaver(run_cli)
    rotated = run_cli("keys", "rotate", env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    # The config's key file unlocks first; both it and the recovery key are kept.
    assert rotated.exit_code == 0, rotated.output
    assert "leaver" in rotated.output
    with pytest.raises(WrongKey):
        Archive.open(run_cli.archive, Passphrase.of(OLD))


def test_a_rolled_back_keys_file_is_refused(run_cli: Cli) -> None:
    saved = _with_leaver(run_cli)
    assert run_cli("keys", "remove", _slot_id(run_cli, "leaver")).exit_code == 0
    # Without a rotation the master key is unchanged, but the archive knows the .keys file
    # it was last given: the older one (still holding the removed passphrase) is refused.
    shutil.copy2(saved, slots_path_for(run_cli.archive))
    with pytest.raises(KeysRolledBack):
        Archive.open(run_cli.archive, Passphrase.of(OLD))
    result = run_cli("status")
    assert result.exit_code == 6 and "older than the archive" in result.output


def test_a_rotation_interrupted_between_its_renames_is_finished_at_open(
        archive: Archive, archive_path: Path, key_path: Path) -> None:
    from exporter.archive.rekey import _rotating
    from exporter.keys import MasterKey

    run = archive.begin_run()
    archive.finish_run(run, "ok")
    master = MasterKey.generate()
    new = KeySlots(archive.slots.path, archive.archive_id, [])
    from exporter.keys import read_key_file

    new.add_key_file(master, read_key_file(key_path))
    new.set_recovery(master)
    archive.rekey(master, new)
    archive.close()
    # Simulate the crash: the new .keys file not yet renamed into place.
    keys = slots_path_for(archive_path)
    shutil.copy2(keys, _rotating(archive_path)[1])
    keys.write_text("{}")
    with Archive.open(archive_path, KeyFile(key_path)) as arc:
        assert len(arc.runs()) == 1
    assert not _rotating(archive_path)[1].exists()


def test_copy_warns_that_older_copies_keep_old_credentials(run_cli: Cli) -> None:
    run_cli.init()
    dest = run_cli.tmp / "usb"
    dest.mkdir()
    run_cli("copy", "--to", str(dest))
    second = run_cli("copy", "--to", str(dest))
    assert second.exit_code == 0, second.output
    assert "older copies there still open" in second.output.lower()


def test_rotate_unlocked_with_a_passphrase_keeps_it_and_shows_a_new_recovery_key(
        run_cli: Cli) -> None:
    import re

    first = run_cli.init(key_file=False).output
    old_recovery = re.findall(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})$", first, re.M)
    env = {"EXPORTER_PASSPHRASE": "correct horse battery"}
    rotated = run_cli("keys", "rotate", env=env)
    assert rotated.exit_code == 0, rotated.output
    new_recovery = re.findall(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})$", rotated.output, re.M)
    assert new_recovery and new_recovery != old_recovery
    assert run_cli("verify", env=env).exit_code == 0
    assert run_cli("--recovery", "status",
                   env={"EXPORTER_RECOVERY_KEY": "-".join(new_recovery)}).exit_code == 0
    assert run_cli("--recovery", "status",
                   env={"EXPORTER_RECOVERY_KEY": "-".join(old_recovery)}).exit_code == 4
