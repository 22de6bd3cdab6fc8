"""File-system steps that Windows makes harder: renames over held files, hidden folders.

On Windows, OneDrive, Defender and the search indexer open a fresh file or folder for a
moment after it is written, and a rename of (or over) something another process holds open
fails with PermissionError (ERROR_ACCESS_DENIED or ERROR_SHARING_VIOLATION) until they let go.
:class:`Renamer` retries such a rename with a growing pause (about 8 s in all) before giving
up. :func:`hide` sets FILE_ATTRIBUTE_HIDDEN on Windows, where a leading dot hides nothing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TypeAlias

__all__ = ["Renamer", "hide", "replace"]

FILE_ATTRIBUTE_HIDDEN = 0x2

#: A path as os.replace takes it.
StrPath: TypeAlias = "str | os.PathLike[str]"


class Renamer:
    """``os.replace`` retried on PermissionError with backoff (see the module doc)."""

    delays: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 2.0, 3.0)

    def replace(self, src: StrPath, dst: StrPath) -> None:
        for delay in (*self.delays, None):
            try:
                self.rename(src, dst)
                return
            except PermissionError:
                if delay is None:
                    raise
                self.pause(delay)

    def rename(self, src: StrPath, dst: StrPath) -> None:
        os.replace(src, dst)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)


def replace(src: StrPath, dst: StrPath, renamer: Renamer | None = None) -> None:
    """Rename ``src`` to ``dst`` (replacing it), riding out other processes' handles: every
    file exporter replaces (keys, config, notify state, private files, exports, prints,
    copies) goes through here. ``renamer`` is the policy (default: :class:`Renamer`)."""
    (renamer or Renamer()).replace(src, dst)


def hide(path: Path) -> None:
    """Hide ``path`` in Explorer on Windows (elsewhere a leading dot already hides it). A
    failure only leaves it visible."""
    if sys.platform == "win32":
        import pywintypes
        import win32api

        try:
            current = win32api.GetFileAttributes(str(path))
            win32api.SetFileAttributes(str(path), current | FILE_ATTRIBUTE_HIDDEN)
        except pywintypes.error:  # gone already, or not ours to change: stays visible
            pass
