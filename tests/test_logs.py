"""The log shared by concurrent processes (issue 12 point 10): a print during the nightly sync.
A rotating log renamed the file when it was full; on Windows a file another process has open
cannot be renamed, and the rollover failed. Here two real processes write at once, and the
one that holds the file open checks that its file was never renamed under it."""

from __future__ import annotations

import datetime as dt
import logging
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter.logs import KEEP_DAYS, setup_logging

HOLDER = textwrap.dedent("""
    import logging, os, sys
    from pathlib import Path
    from exporter.logs import setup_logging
    path = setup_logging(Path(sys.argv[1]))
    log = logging.getLogger("exporter.sync")
    log.info("holder: started")
    handler = logging.getLogger("exporter").handlers[0]
    print("ready", flush=True)
    sys.stdin.readline()             # the other process writes meanwhile
    log.info("holder: finished")
    held = os.fstat(handler.stream.fileno()).st_ino
    named = os.stat(handler.baseFilename).st_ino
    print("same file" if held == named else "renamed under me", flush=True)
""")

WRITER = textwrap.dedent("""
    import logging, sys
    from pathlib import Path
    from exporter.logs import setup_logging
    setup_logging(Path(sys.argv[1]))
    log = logging.getLogger("exporter.print")
    for i in range(12000):          # about 2 MB: past any rotating log's limit
        log.info("writer line %05d %s", i, "x" * 120)
""")


def _lines(folder: Path) -> list[str]:
    return [line for p in sorted(folder.glob("exporter*.log*"))
            for line in p.read_text(encoding="utf-8").splitlines()]


def test_two_processes_write_the_log_and_no_file_is_renamed_under_either(
        tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "ready"
    writers = [subprocess.run([sys.executable, "-c", WRITER, str(folder)], capture_output=True,
                              text=True, timeout=120)]
    out, err = holder.communicate("go\n", timeout=120)
    assert out.strip() == "same file", err
    assert "Logging error" not in err and all(w.returncode == 0 and not w.stderr
                                               for w in writers)
    lines = _lines(folder)
    assert sum("writer line" in line for line in lines) == 12000
    assert any(line.endswith("holder: started") for line in lines)
    assert any(line.endswith("holder: finished") for line in lines)
    assert [p.name for p in folder.iterdir()] == [f"exporter-{dt.date.today()}.log"]


def test_old_days_are_deleted_and_other_files_left(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    today = dt.date.today()
    old = folder / f"exporter-{today - dt.timedelta(days=KEEP_DAYS + 1)}.log"
    recent = folder / f"exporter-{today - dt.timedelta(days=KEEP_DAYS)}.log"
    other = folder / "exporter-nightly.log"  # cron's output file (docs/scheduling.md)
    for p in (old, recent, other):
        p.write_text("x\n", encoding="utf-8")
    path = setup_logging(folder)
    assert path == folder / f"exporter-{today}.log"
    assert not old.exists() and recent.exists() and other.exists()


def test_keep_days_is_a_setting_and_cron_output_files_age_out_too(tmp_path: Path) -> None:
    """``[log] keep_days``: the day files of exporter's log and of the nightly job's cron
    output older than that are deleted when exporter starts; the rest stay."""
    from tests.conftest import Cli

    cli_ = Cli(tmp_path)
    cli_.init()
    folder = tmp_path / "logs"
    folder.mkdir()
    today = dt.date.today()
    names = {age: (folder / f"exporter-{today - dt.timedelta(days=age)}.log",
                   folder / f"exporter-nightly-{today - dt.timedelta(days=age)}.log")
             for age in (2, 3, 40)}
    for pair in names.values():
        for p in pair:
            p.write_text("x\n", encoding="utf-8")
    with cli_.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[log]\ndir = "{folder.as_posix()}"\nkeep_days = 2\n')
    assert cli_("status").exit_code == 0
    assert all(p.exists() for p in names[2])
    assert not any(p.exists() for age in (3, 40) for p in names[age])
    text = cli_.config.read_text(encoding="utf-8").replace("keep_days = 2", "keep_days = 0")
    cli_.config.write_text(text, encoding="utf-8")
    refused = cli_("status")
    assert refused.exit_code == 3 and "keep_days must be at least 1" in refused.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_the_log_folder_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    nightly = folder / f"exporter-nightly-{dt.date.today()}.log"  # as cron's shell makes it
    nightly.write_text("cron output\n", encoding="utf-8")
    nightly.chmod(0o644)
    path = setup_logging(folder / "new")  # a folder exporter makes
    logging.getLogger("exporter.test").info("a line")
    assert stat.S_IMODE((folder / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    setup_logging(folder)  # one that was there, with the day's cron output in it
    logging.getLogger("exporter.test").info("another line")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(nightly.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / path.name).stat().st_mode) == 0o600
