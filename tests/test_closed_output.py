"""A command whose output pipe is closed early ('exporter status | head -1') ends as the README
says: exit 16, nothing more written, one line in the log file, no traceback. Real processes,
their stdout a pipe whose reading end the test closes before they write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli


def _closed_stdout(cli: Cli, *args: str, env: dict[str, str] | None = None
                   ) -> tuple[int, str]:
    """Run ``exporter *args`` with its stdout a pipe nobody reads: (exit code, stderr)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    full |= {"EXPORTER_CONFIG": str(cli.config)} | (env or {})
    proc = subprocess.Popen([sys.executable, "-m", "exporter", *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the interpreter has even started: every write meets EPIPE
    try:
        stderr = proc.stderr.read()
        return proc.wait(timeout=120), stderr
    finally:
        proc.stderr.close()


def _log_lines(folder: Path) -> list[str]:
    return [line for path in sorted(folder.iterdir()) for line in
            path.read_text(encoding="utf-8").splitlines()]


def test_status_into_a_closed_pipe_exits_16_and_logs_one_line(run_cli: Cli) -> None:
    run_cli.init()
    logs = run_cli.tmp / "logs"
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[log]\ndir = "{logs.as_posix()}"\n')

    code, stderr = _closed_stdout(run_cli, "status")

    assert code == 16, stderr
    assert stderr == ""  # no traceback, no "Exception ignored" from the final flush
    closed = [line for line in _log_lines(logs) if "output was closed" in line]
    assert len(closed) == 1, _log_lines(logs)
    assert "Traceback" not in "\n".join(_log_lines(logs))


def test_connectors_settings_into_a_closed_pipe_exits_16(run_cli: Cli) -> None:
    code, stderr = _closed_stdout(run_cli, "connectors", "--settings", "--markdown")

    assert (code, stderr) == (16, "")


def test_init_into_a_closed_pipe_creates_nothing_and_says_so(run_cli: Cli) -> None:
    # The recovery key could not be shown: said on stderr (it matters), nothing created.
    code, stderr = _closed_stdout(
        run_cli, "init", "--archive", str(run_cli.archive), "--key-file", str(run_cli.key_file),
        env={"EXPORTER_PASSPHRASE": "correct horse battery"})

    assert code == 16, stderr
    assert "recovery key is shown) was closed" in stderr and "Traceback" not in stderr
    assert not run_cli.archive.exists() and not run_cli.config.exists()
