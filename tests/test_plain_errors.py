"""Errors an abuse campaign turned up as "unexpected problem" (exit 1) or with a misleading
message: each is now one plain sentence with its documented exit code (README, "Exit codes").
Real processes where it matters: a non-UTF-8 environment, a file-size limit, a second process
holding the lock, FIFOs and device nodes."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from tests.conftest import Cli
from tests.test_read_only_media import read_only_copy


def _filled(cli: Cli) -> None:
    """An initialised archive (key file in the config) with one run of one record."""
    cli.init()
    with Archive.open(cli.archive, KeyFile(cli.key_file), write=True) as arc:
        run = arc.begin_run()
        arc.put_batch(run, "salesforce", "Account", [Record("001A", {"Name": "Ada"})],
                      cursor={"at": 1})
        arc.finish_run(run, "ok")


def _plain(result, code: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert "unexpected problem" not in result.output and "Traceback" not in result.output


def _env(cli: Cli) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    return env | {"EXPORTER_CONFIG": str(cli.config)}


# -- 6: unhandled errors ----------------------------------------------------------------------


@pytest.mark.parametrize("extra,words", [
    ('[sync]\nreconcile_every_days = "weekly"\n', ("reconcile_every_days", "a number")),
    ("[sync]\nreconcile_every_days = nan\n", ("reconcile_every_days", "finite")),
    ("[sync]\nreconcile_every_days = 1e400\n", ("reconcile_every_days", "finite")),
    ("[sync]\nreconcile_every_days = 99999999999\n", ("reconcile_every_days", "at most")),
    ('[sync]\nworkers = "forks"\n', ("workers", "one of")),
    ('[log]\ndir = ["a"]\n', ("dir", "a path")),
])
def test_a_bad_sync_or_log_setting_is_a_config_error(run_cli: Cli, extra: str,
                                                    words: tuple[str, ...]) -> None:
    run_cli.init()
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write("\n" + extra)
    _plain(run_cli("status"), 3, *words)


def test_sync_or_log_that_is_not_a_table_is_a_config_error(run_cli: Cli) -> None:
    run_cli.init()
    text = run_cli.config.read_text(encoding="utf-8")
    run_cli.config.write_text("sync = 5\n" + text, encoding="utf-8")
    _plain(run_cli("status"), 3, "[sync] must be a table")


def test_a_log_folder_that_cannot_be_made_is_a_config_error(run_cli: Cli) -> None:
    run_cli.init()
    blocker = run_cli.tmp / "a-file"
    blocker.write_text("x")
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[log]\ndir = "{blocker / "logs"}"\n')
    _plain(run_cli("status"), 3, "log folder", "[log] dir")


def test_a_passphrase_that_is_not_utf8_is_refused_plainly(run_cli: Cli) -> None:
    run_cli.init(key_file=False)
    env = {os.fsencode(k): os.fsencode(v) for k, v in _env(run_cli).items()}
    env[b"EXPORTER_PASSPHRASE"] = b"caf\xe9 latin-1"
    done = subprocess.run([sys.executable, "-m", "exporter", "status"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 4, done.stderr
    assert "not valid text (UTF-8)" in done.stderr and "Traceback" not in done.stderr


def test_an_as_of_run_number_too_large_is_not_found(run_cli: Cli) -> None:
    _filled(run_cli)
    out = run_cli.tmp / "x.jsonl"
    _plain(run_cli("export", "--format", "jsonl", "--as-of", "9" * 25, "--out", str(out)),
           9, "There is no run")
    assert not out.exists()


def test_keys_add_never_writes_a_key_file_over_an_existing_file(run_cli: Cli) -> None:
    run_cli.init()
    precious = run_cli.tmp / "notes.txt"
    precious.write_text("do not lose me")
    _plain(run_cli("keys", "add", "--key-file", str(precious)), 16, "already exists")
    assert precious.read_text() == "do not lose me"
    slots = json.loads(Path(f"{run_cli.archive}.keys").read_text())["slots"]
    assert [s["kind"] for s in slots].count("keyfile") == 1


def test_export_and_init_on_a_read_only_disk_say_so(run_cli: Cli) -> None:
    _filled(run_cli)
    folder = run_cli.tmp / "outbox"
    folder.mkdir()
    with read_only_copy(folder) as ro:
        _plain(run_cli("export", "--format", "jsonl", "--out", str(ro / "x.jsonl")), 16,
               "could not be written", "nothing was exported")
        other = Cli(run_cli.tmp / "second")
        other.tmp.mkdir()
        result = other("init", "--archive", str(ro / "archive.db"),
                       env={"EXPORTER_PASSPHRASE": "correct horse battery"})
        _plain(result, 16, "could not be written")
        assert not other.config.exists() or "archive" not in other.config.read_text()
        assert sorted(ro.iterdir()) == []


def test_a_key_slot_field_that_is_a_number_is_damage_not_a_crash(run_cli: Cli) -> None:
    run_cli.init()
    keys = Path(f"{run_cli.archive}.keys")
    for field, value in (("kdf", 5), ("check", 5), ("nonce", 12), ("id", 7)):
        doc = json.loads(keys.read_text())
        original = doc["slots"][0][field]
        doc["slots"][0][field] = value
        keys.write_text(json.dumps(doc))
        _plain(run_cli("status"), 6, "damaged")
        doc["slots"][0][field] = original
        keys.write_text(json.dumps(doc))
    doc = json.loads(keys.read_text())
    doc["slots"][0]["kdf"]["salt"] = 5
    keys.write_text(json.dumps(doc))
    _plain(run_cli("status"), 6, "damaged")


# -- 7: misleading messages --------------------------------------------------------------------


def test_a_keys_file_from_another_archive_is_named_as_such(run_cli: Cli) -> None:
    run_cli.init()
    other, _ = Archive.create(run_cli.tmp / "other.db", key_file=run_cli.key_file)
    other.close()
    Path(f"{run_cli.archive}.keys").write_bytes(Path(f"{run_cli.tmp / 'other.db'}.keys")
                                                .read_bytes())
    result = run_cli("status")
    _plain(result, 6, "belongs to another archive")
    assert "second copy" not in result.output


def test_a_few_changed_salt_bytes_are_still_damage(run_cli: Cli) -> None:
    run_cli.init()
    data = bytearray(run_cli.archive.read_bytes())
    data[3] ^= 0x01
    run_cli.archive.write_bytes(bytes(data))
    result = run_cli("status")
    _plain(result, 6, "damaged")
    assert "another archive" not in result.output


def test_a_new_keys_file_is_bound_to_its_archive(run_cli: Cli) -> None:
    run_cli.init()
    keys = Path(f"{run_cli.archive}.keys")
    assert "db_salt" in json.loads(keys.read_text())


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_FSIZE on Windows")
def test_a_file_size_limit_is_reported_as_such(run_cli: Cli) -> None:
    _filled(run_cli)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    done = subprocess.run([sys.executable, "-m", "exporter", "verify"], env=_env(run_cli),
                          capture_output=True, text=True, timeout=120, check=False,
                          preexec_fn=limit)
    assert done.returncode == 16, done.stderr
    assert "file-size limit" in done.stderr and "disk I/O error" not in done.stderr
    assert "Traceback" not in done.stderr
    assert run_cli("verify").exit_code == 0  # nothing was lost


HOLDER = """
import fcntl, json, os, socket, sys, time
fh = open(sys.argv[1], "a+b")
fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
fh.seek(0); fh.truncate(); fh.flush()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                     "since": "2026-12-06T00:00:00+00:00"}).encode()); fh.flush()
time.sleep(30)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl holder")
@pytest.mark.parametrize("writes_after", [0.15, 60.0])
def test_a_lock_refusal_never_says_pid_none(run_cli: Cli, writes_after: float) -> None:
    """The holder empties the lock file, then writes its PID: a refusal in between waits for
    the PID, or says plainly that another process is starting."""
    run_cli.init()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{run_cli.archive}.lock",
                               str(writes_after)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = run_cli("keys", "recovery")
        _plain(result, 5, "in use by")
        assert "None" not in result.output
        if writes_after < 1:
            assert f"PID {holder.pid}" in result.output
        else:
            assert "just starting" in result.output
    finally:
        holder.kill()
        holder.wait()


# -- 8: export --out onto special files -------------------------------------------------------


def _special_files(tmp: Path) -> list[Path]:
    fifo = tmp / "pipe"
    os.mkfifo(fifo)
    link = tmp / "link-to-pipe"
    link.symlink_to(fifo)
    found = [fifo, link]
    if os.geteuid() == 0:
        node = tmp / "null-device"
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        found.append(node)
    return found


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and device nodes are POSIX")
def test_export_never_replaces_a_device_or_pipe_even_through_a_symlink(run_cli: Cli) -> None:
    _filled(run_cli)
    for special in _special_files(run_cli.tmp):
        before = os.lstat(special)
        started = time.monotonic()
        _plain(run_cli("export", "--format", "jsonl", "--out", str(special)), 16, "not a file")
        assert time.monotonic() - started < 30  # never blocked opening the pipe
        after = os.lstat(special)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino), special


def _full_disk(folder: Path) -> bool:
    """Mount a small tmpfs at ``folder`` and fill it (root only); False where it cannot."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return False
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        return False
    try:
        with (folder / "filler").open("wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    return True


def test_export_and_init_on_a_full_disk_say_so(run_cli: Cli) -> None:
    _filled(run_cli)
    disk = run_cli.tmp / "full"
    if not _full_disk(disk):
        pytest.skip("a full disk needs a small tmpfs mount, which needs root here")
    try:
        _plain(run_cli("export", "--format", "jsonl", "--out", str(disk / "x.jsonl")), 10,
               "no space left", "nothing was exported")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
        other = Cli(run_cli.tmp / "second")
        other.tmp.mkdir()
        result = other("init", "--archive", str(disk / "archive.db"), "--key-file",
                       str(disk / "archive.key"),
                       env={"EXPORTER_PASSPHRASE": "correct horse battery"})
        assert result.exit_code == 10, result.output
        assert "full" in result.output or "no space" in result.output.lower()
        assert "unexpected problem" not in result.output
    finally:
        subprocess.run(["umount", str(disk)], check=False)
