"""The log: one file per day, ``exporter-YYYY-MM-DD.log``, appended to and never renamed.

Several exporter processes write the log at once (a print during the nightly sync, a copy
beside a status). A rotating log renames the file when it is full, and on Windows a file that
another process has open cannot be renamed: the rollover failed with PermissionError. Here
each process appends whole lines to the day's file and moves to the next day's file by name,
and files older than ``[log] keep_days`` (default :data:`KEEP_DAYS`) are deleted when a
process starts (a file still open elsewhere is left for the next one). The nightly job's cron
output goes to a file a day too (``exporter-nightly-YYYY-MM-DD.log``, named by the shell:
:func:`exporter.schedule.cron_line`) and is deleted by the same rule. Nothing secret is ever
logged: secrets are :class:`Secret` objects whose repr is redacted, and messages name files
and counts, never values. No health data either: an error whose message names clients
(:attr:`exporter.errors.ExporterError.personal`: print's "did you mean" and its list of
matching clients) is shown on screen and logged by its kind only.

The files are the user's alone: the folder is created 0700 and each day's file 0600 (an
owner-only DACL on Windows), never through a symlink; a file or folder an older exporter left
open to others is narrowed when it is next opened.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import sys
from pathlib import Path

from exporter.private_files import make_private, private_folder
from exporter.redact import redact

__all__ = ["KEEP_DAYS", "DailyFileHandler", "log_file", "setup_logging"]

KEEP_DAYS = 30
#: Our log files and the cron output files (``<task name>-<date>.log``): named by their day.
_NAME = re.compile(r".+-(\d{4}-\d{2}-\d{2})\.log")

_configured: Path | None = None


class DailyFileHandler(logging.FileHandler):
    """Appends to ``<folder>/exporter-<local date>.log``; at a new day, opens the new day's
    file (no rename, so no other process is ever in the way)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        super().__init__(self.path_for(dt.date.today()), mode="a", encoding="utf-8",
                         delay=True)

    def _open(self) -> io.TextIOWrapper:
        """Today's file, appended to, owner-only from its creation."""
        created = not os.path.exists(self.baseFilename)
        # O_BINARY: the text layer writes the line endings; Windows' CRT must not add more.
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))
        fd = os.open(self.baseFilename, flags, 0o600)
        try:
            if sys.platform == "win32":
                if created:
                    make_private(Path(self.baseFilename))
            elif os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)  # left readable by an older exporter
            stream: io.TextIOWrapper = os.fdopen(fd, "a", encoding=self.encoding,
                                                 errors=self.errors)
            return stream
        except BaseException:
            os.close(fd)
            raise

    def path_for(self, day: dt.date) -> Path:
        return self.folder / f"exporter-{day.isoformat()}.log"

    def emit(self, record: logging.LogRecord) -> None:
        today = str(self.path_for(dt.date.fromtimestamp(record.created)))
        if today != self.baseFilename:
            self.acquire()
            try:
                if self.stream is not None:
                    self.stream.close()
                    self.stream = None
                self.baseFilename = today
            finally:
                self.release()
        super().emit(record)


def _remove_old(folder: Path, today: dt.date, keep_days: int) -> None:
    """Delete the day files older than ``keep_days``, and leave the others owner-only."""
    for path in folder.glob("*.log"):
        match = _NAME.fullmatch(path.name)
        if not match:
            continue
        try:
            if (today - dt.date.fromisoformat(match.group(1))).days > keep_days:
                path.unlink()
            else:
                _owner_only(path, 0o600)  # cron's shell made its output file with its umask
        except (ValueError, OSError):
            pass  # not a date, or still open in another process on Windows: next time


def _owner_only(path: Path, mode: int) -> None:
    """``path`` to ``mode`` when it is ours and others may use it (POSIX only)."""
    if sys.platform == "win32":
        return
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        path.chmod(mode)


class _Redacting(logging.Formatter):
    """Lines (tracebacks included: a vendor's exception can quote the request it refused)
    with every secret replaced (:mod:`exporter.redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(log_dir: Path, keep_days: int = KEEP_DAYS) -> Path:
    """Send exporter's log records to today's file in ``log_dir`` (made 0700, files 0600);
    delete day files older than ``keep_days``; returns today's file."""
    global _configured
    private_folder(log_dir, exist_ok=True)
    _owner_only(log_dir, 0o700)
    handler = DailyFileHandler(log_dir)
    path = Path(handler.baseFilename)
    if _configured == path:
        return path
    _remove_old(log_dir, dt.date.today(), keep_days)
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("exporter")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _configured = path
    return path


def log_file() -> Path | None:
    return _configured
