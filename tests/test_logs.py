"""The log shared by concurrent processes (issue 12 point 10): a print during the nightly sync.
A rotating log renamed the file when it was full; on Windows a file another process has open
cannot be renamed, and the rollover failed. Here two real processes write at once, and the
one that holds the file open checks that its file was never renamed under it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

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
