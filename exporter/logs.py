"""The log: one file per day, ``exporter-YYYY-MM-DD.log``, appended to and never renamed.

Several exporter processes write the log at once (a print during the nightly sync, a copy
beside a status). A rotating log renames the file when it is full, and on Windows a file that
another process has open cannot be renamed: the rollover failed with PermissionError. Here
each process appends whole lines to the day's file and moves to the next day's file by name,
and files older than :data:`KEEP_DAYS` are deleted when a process starts (a file still open
elsewhere is left for the next one). Nothing secret is ever logged: secrets are
:class:`Secret` objects whose repr is redacted, and messages name files and counts, never
values.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

__all__ = ["KEEP_DAYS", "DailyFileHandler", "log_file", "setup_logging"]

KEEP_DAYS = 30
_NAME = re.compile(r"exporter-(\d{4}-\d{2}-\d{2})\.log")

_configured: Path | None = None


class DailyFileHandler(logging.FileHandler):
    """Appends to ``<folder>/exporter-<local date>.log``; at a new day, opens the new day's
    file (no rename, so no other process is ever in the way)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        super().__init__(self.path_for(dt.date.today()), mode="a", encoding="utf-8",
                         delay=True)

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


def _remove_old(folder: Path, today: dt.date) -> None:
    for path in folder.glob("exporter-*.log"):
        match = _NAME.fullmatch(path.name)
        if not match:
            continue
        try:
            if (today - dt.date.fromisoformat(match.group(1))).days > KEEP_DAYS:
                path.unlink()
        except (ValueError, OSError):
            pass  # not a date, or still open in another process on Windows: next time


def setup_logging(log_dir: Path) -> Path:
    """Send exporter's log records to today's file in ``log_dir``; returns its path."""
    global _configured
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = DailyFileHandler(log_dir)
    path = Path(handler.baseFilename)
    if _configured == path:
        return path
    _remove_old(log_dir, dt.date.today())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
