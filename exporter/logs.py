"""The rotating log file. Nothing secret is ever logged: secrets are :class:`Secret` objects
whose repr is redacted, and messages name files and counts, never values."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

__all__ = ["log_file", "setup_logging"]

_configured: Path | None = None


def setup_logging(log_dir: Path) -> Path:
    """Send exporter's log records to ``log_dir/exporter.log`` (5 x 1 MB, rotating)."""
    global _configured
    path = log_dir / "exporter.log"
    if _configured == path:
        return path
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("exporter")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _configured = path
    return path


def log_file() -> Path | None:
    return _configured
