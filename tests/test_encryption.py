"""Nothing readable on disk; wrong keys and damage are told apart and reported plainly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.errors import ArchiveDamaged, KeySlotsDamaged, WrongKey
from exporter.keys import KeyFile, Passphrase, RecoveryKey, Secret
from tests.conftest import FAST_SCRYPT, Cli

MARKER = "ZQXJ-MARKER-7731"


def _all_files(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("*") if p.is_file()]


def test_no_plaintext_in_archive_wal_shm_keys_or_temp(tmp_path: Path, archive: Archive,
                                                      archive_path: Path, key_path: Path) -> None:
    archive.close()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), SQLITE_TMPDIR=str(tmpdir))
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("plaintext_writer.py")),
         str(archive_path), str(key_path), MARKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    try:
        wal, shm = Path(f"{archive_path}-wal"), Path(f"{archive_path}-shm")
        assert wal.exists() and wal.stat().st_size > 0 and shm.exists()
        files = [archive_path, wal, shm, Path(f"{archive_path}.keys"), *_all_files(tmpdir)]
        for path in files:
            blob = path.read_bytes()
            assert MARKER.encode() not in blob, path
            assert MARKER.encode("utf-16-le") not in blob, path
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    for path in [archive_path, *_all_files(tmpdir)]:
        assert MARKER.encode() not in path.read_bytes()
    # ... and yet the data is there for whoever holds the key.
    with Archive.open(archive_path, KeyFile(key_path)) as arc:
        assert MARKER in dict(arc.records("salesforce", "Account"))["0-0"]["Name"]


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_wrong_passphrase_has_its_own_exit_code_and_touches_nothing(run_cli: Cli) -> None:
    run_cli.init(key_file=False)
    before = _snapshot(run_cli.tmp)
    result = run_cli("status", env={"EXPORTER_PASSPHRASE": "not the passphrase"})
    assert result.exit_code == 4
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["Error: That passphrase does not open this archive; check it and try again."]
    after = _snapshot(run_cli.tmp)
    assert after.keys() - {"logs"} == before.keys() - {"logs"}
    for name, (data, mtime) in before.items():
        if name != "logs":
            assert after[name] == (data, mtime), name
    assert not any(n.endswith(("-wal", "-journal", "-shm")) for n in after)
    assert "not the passphrase" not in result.output


def test_recovery_key_and_passphrase_both_open(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    arc, recovery = Archive.create(path, passphrase="pässwörd ✓", passphrase_kdf=FAST_SCRYPT)
    arc.close()
    assert len(recovery) == 39 and recovery.count("-") == 7
    with Archive.open(path, RecoveryKey.of(recovery.lower().replace("-", " "))) as a:
        assert a.verify() == []
    with Archive.open(path, Passphrase.of("pässwörd ✓")) as a:
        assert a.archive_id
    with pytest.raises(WrongKey):
        Archive.open(path, Passphrase.of("passwörd ✓"))
    with pytest.raises(WrongKey, match="does not exist"):
        Archive.open(path, KeyFile(tmp_path / "missing.key"))
    from exporter.keys import create_key_file

    create_key_file(tmp_path / "other.key")
    with pytest.raises(WrongKey, match="no key file"):
        Archive.open(path, KeyFile(tmp_path / "other.key"))
    assert "pässwörd" not in repr(Passphrase.of("pässwörd ✓"))
    assert repr(Secret("x")) == "Secret('********')"


def test_tampered_key_slot_file_is_detected(archive: Archive, archive_path: Path,
                                            key_path: Path) -> None:
    archive.close()
    slots_path = Path(f"{archive_path}.keys")
    original = slots_path.read_text()
    doc = json.loads(original)

    # 1. A changed KDF parameter (part of the slot's associated data).
    keyfile_slot = next(s for s in doc["slots"] if s["kind"] == "keyfile")
    keyfile_slot["label"] = "renamed by someone"
    slots_path.write_text(json.dumps(doc))
    with pytest.raises(KeySlotsDamaged, match="altered"):
        Archive.open(archive_path, KeyFile(key_path))

    # 2. A flipped bit in the wrapped key.
    doc = json.loads(original)
    slot = next(s for s in doc["slots"] if s["kind"] == "keyfile")
    wrapped = bytearray(__import__("base64").b64decode(slot["wrapped"]))
    wrapped[3] ^= 1
    slot["wrapped"] = __import__("base64").b64encode(bytes(wrapped)).decode()
    slots_path.write_text(json.dumps(doc))
    with pytest.raises(KeySlotsDamaged, match="altered"):
        Archive.open(archive_path, KeyFile(key_path))

    # 3. A removed slot.
    doc = json.loads(original)
    doc["slots"] = [s for s in doc["slots"] if s["kind"] != "recovery"]
    slots_path.write_text(json.dumps(doc))
    with pytest.raises(KeySlotsDamaged):
        Archive.open(archive_path, KeyFile(key_path))

    # 4. Garbage.
    slots_path.write_text("{not json")
    with pytest.raises(KeySlotsDamaged, match="damaged"):
        Archive.open(archive_path, KeyFile(key_path))

    slots_path.write_text(original)
    with Archive.open(archive_path, KeyFile(key_path)) as arc:
        assert arc.verify() == []


def test_flipped_bytes_are_reported_by_verify(run_cli: Cli) -> None:
    run_cli.init()
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        run = arc.begin_run()
        arc.put_batch(run, "s", "t", [(str(i), {"text": "x" * 300, "i": i}) for i in range(3000)])
        arc.finish_run(run, "ok")
    assert run_cli("verify").exit_code == 0
    data = bytearray(run_cli.archive.read_bytes())
    page = 4096
    target = (len(data) // page // 2) * page + 1000  # inside a page in the middle
    for i in range(8):
        data[target + i] ^= 0xFF
    run_cli.archive.write_bytes(bytes(data))
    result = run_cli("verify")
    assert result.exit_code == 6
    assert "damaged" in result.output
    assert "page" in result.output.lower()
    assert "Traceback" not in result.output


def test_damaged_first_page_is_not_called_a_wrong_key(archive: Archive, archive_path: Path,
                                                      key_path: Path) -> None:
    archive.close()
    data = bytearray(archive_path.read_bytes())
    for i in range(100, 140):
        data[i] ^= 0x5A
    archive_path.write_bytes(bytes(data))
    with pytest.raises(ArchiveDamaged, match="damaged"):
        Archive.open(archive_path, KeyFile(key_path))


def test_key_files_and_archive_are_private(run_cli: Cli) -> None:
    run_cli.init()
    for path in (run_cli.archive, run_cli.key_file, Path(f"{run_cli.archive}.keys"),
                 run_cli.config):
        assert path.stat().st_mode & 0o077 == 0, path


def test_oversized_kdf_settings_are_refused_before_any_kdf_work(tmp_path: Path) -> None:
    """Issue 15: a tampered .keys file asking for 4 GiB of Argon2id (or a huge scrypt) in
    its LAST slot is refused at load, before the first slot's KDF runs."""
    import time

    from exporter.keys import KeySlots, slots_path_for

    path = tmp_path / "a.db"
    arc, _ = Archive.create(path, passphrase="correct horse battery",
                            passphrase_kdf=FAST_SCRYPT)
    arc.close()
    keys = slots_path_for(path)
    doc = json.loads(keys.read_text())
    for huge in ({"name": "argon2id", "memory_kib": 4 * 1024 * 1024, "iterations": 64,
                  "lanes": 4}, {"name": "scrypt", "n": 2**20, "r": 32, "p": 16}):
        last = dict(doc["slots"][-1], kdf=dict(huge, salt=doc["slots"][-1]["kdf"]["salt"]))
        keys.write_text(json.dumps(dict(doc, slots=[*doc["slots"], last])))
        started = time.process_time()  # CPU time: what the KDF would burn, whatever the load
        with pytest.raises(KeySlotsDamaged, match="never writes"):
            KeySlots.load(keys).unlock(Passphrase.of("correct horse battery"))
        assert time.process_time() - started < 2
