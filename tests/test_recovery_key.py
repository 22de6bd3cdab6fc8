"""The recovery key cannot be lost: a new one is shown (and written to the sheet) and, at a
terminal, confirmed before it replaces the old one. A failing output or a kill between the
steps leaves the old key working (``keys recovery``) or nothing created (``init``), and init
can always be run again. Real processes: stdout on /dev/full, a real terminal (pty), SIGKILL."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.keys import KeyFile, RecoveryKey
from tests.conftest import Cli

KEY_LINE = re.compile(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})\s*$", re.M)
needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="no pty on Windows")


def _key(output: str) -> str:
    lines = KEY_LINE.findall(output)
    assert len(lines) == 2, output
    return "-".join(lines)


def _env(cli: Cli) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    env["EXPORTER_CONFIG"] = str(cli.config)
    return env


def _opens(cli: Cli, recovery: str) -> bool:
    result = cli("--recovery", "keys", "list", env={"EXPORTER_RECOVERY_KEY": recovery})
    assert result.exit_code in (0, 4), result.output
    return result.exit_code == 0


def _exporter(cli: Cli, *args: str, stdout: int | object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], stdout=stdout,  # type: ignore[arg-type]
                          stderr=subprocess.PIPE, text=True, env=_env(cli), timeout=120,
                          check=False)


@needs_dev_full
def test_keys_recovery_onto_a_full_output_keeps_the_old_key(run_cli: Cli) -> None:
    old = _key(run_cli.init().output)
    with open("/dev/full", "w") as full:
        done = _exporter(run_cli, "keys", "recovery", stdout=full)
    assert done.returncode == 10, done.stderr
    assert "the old recovery key still works" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert _opens(run_cli, old)
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert "keys.recovery" not in [e["action"] for e in arc.audit_entries()]


@needs_dev_full
def test_init_onto_a_full_output_creates_nothing_and_can_be_run_again(run_cli: Cli) -> None:
    args = ("init", "--archive", str(run_cli.archive), "--key-file", str(run_cli.key_file))
    with open("/dev/full", "w") as full:
        done = _exporter(run_cli, *args, stdout=full)
    assert done.returncode == 10, done.stderr
    assert "nothing was created" in done.stderr and "Traceback" not in done.stderr
    assert not run_cli.archive.exists() and not run_cli.config.exists()
    recovery = _key(run_cli.init().output)
    assert _opens(run_cli, recovery)


def test_a_recovery_sheet_that_cannot_be_written_keeps_the_old_key(run_cli: Cli) -> None:
    old = _key(run_cli.init().output)
    result = run_cli("keys", "recovery", "--recovery-sheet",
                     str(run_cli.tmp / "no-such-folder" / "sheet.html"))
    assert result.exit_code == 16, result.output
    assert "the old recovery key still works" in result.output
    assert KEY_LINE.search(result.output) is None  # never shown, so never taken for the key
    assert _opens(run_cli, old)


class Terminal:
    """A process on a real pseudo-terminal, so that it sees a person at a terminal."""

    def __init__(self, cli: Cli, *args: str, env: dict[str, str] | None = None) -> None:
        master, slave = os.openpty()
        self.fd = master
        self.proc = subprocess.Popen([sys.executable, "-m", "exporter", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=_env(cli) | (env or {}),
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""

    def wait_for(self, text: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while text not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            assert ready, f"waited for {text!r}; saw {self.seen!r}"
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the process ended and closed the terminal
                chunk = b""
            assert chunk, f"the process ended before {text!r}; saw {self.seen!r}"
            self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        os.close(self.fd)

    def finish(self) -> int:
        try:
            self.wait_for("\x00", timeout=60)
        except AssertionError:
            pass
        code = self.proc.wait(timeout=60)
        os.close(self.fd)
        return code


PROMPT = "type the last group of four"


@needs_pty
def test_a_kill_before_the_new_recovery_key_is_confirmed_keeps_the_old_one(
        run_cli: Cli) -> None:
    old = _key(run_cli.init().output)
    term = Terminal(run_cli, "keys", "recovery")
    new = _key(term.wait_for(PROMPT))
    term.kill()  # between showing the new key and putting it in place
    assert _opens(run_cli, old) and not _opens(run_cli, new)
    assert run_cli("verify").exit_code == 0  # and the lock is not stuck
    term = Terminal(run_cli, "keys", "recovery")
    newer = _key(term.wait_for(PROMPT))
    term.type("WRONG")
    term.wait_for("That is not the last group")
    term.type(newer.split("-")[-1].lower())
    assert term.finish() == 0, term.seen
    assert "The new recovery key is in place" in term.seen
    assert _opens(run_cli, newer) and not _opens(run_cli, old) and not _opens(run_cli, new)


@needs_pty
def test_a_kill_before_init_is_confirmed_creates_nothing(run_cli: Cli) -> None:
    args = ("init", "--archive", str(run_cli.archive), "--key-file", str(run_cli.key_file))
    term = Terminal(run_cli, *args, env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    _key(term.wait_for(PROMPT))
    term.kill()
    assert not run_cli.archive.exists() and not run_cli.config.exists()
    recovery = _key(run_cli.init().output)
    assert _opens(run_cli, recovery)


def test_init_finishes_what_an_interrupted_init_left(run_cli: Cli) -> None:
    """Killed after the archive was made but before the config file: init runs again."""
    arc, lost = Archive.create(run_cli.archive, key_file=run_cli.key_file)
    arc.close()
    result = run_cli.init()
    recovery = _key(result.output)
    assert recovery != lost and _opens(run_cli, recovery)
    with pytest.raises(Exception, match="does not open"):
        Archive.open(run_cli.archive, RecoveryKey.of(lost)).close()


def test_init_finishes_a_create_killed_before_the_database_was_renamed(run_cli: Cli) -> None:
    """A kill inside create, after the .keys file and before the rename, leaves both."""
    arc, _ = Archive.create(run_cli.archive, key_file=run_cli.key_file)
    arc.close()
    run_cli.archive.rename(run_cli.archive.with_name("archive.db.creating"))
    run_cli.key_file.unlink()
    recovery = _key(run_cli.init().output)
    assert _opens(run_cli, recovery)
    assert not run_cli.archive.with_name("archive.db.creating").exists()


def test_init_with_a_recovery_sheet_in_a_missing_folder_creates_nothing(run_cli: Cli) -> None:
    """Issue 11 point 7: the sheet's folder does not exist. No archive is left behind
    without its recovery key having been shown, no traceback, and init can be run again."""
    sheet = run_cli.tmp / "no-such-folder" / "recovery.html"
    result = run_cli("init", "--archive", str(run_cli.archive), "--key-file",
                     str(run_cli.key_file), "--recovery-sheet", str(sheet),
                     env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    assert result.exit_code == 16, result.output
    assert "could not be written" in result.output and "Traceback" not in result.output
    assert "Nothing was lost" not in result.output
    assert not run_cli.archive.exists()
    run_cli.init()
