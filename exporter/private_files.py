"""Small private files (key files, secret files, service-account keys): read with limits.

:func:`read_private` refuses a file that is not a plain file (``/dev/zero``), is larger than its
limit (without reading more than the limit), or that other accounts may read or change
(:meth:`exporter.acl.AclReader.problem`, through the reader for this OS). :func:`make_private`
leaves a new file to its owner only: mode 0600 on POSIX, a protected owner-only DACL on Windows.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from exporter.acl import AclReader, PosixAcl

__all__ = ["make_private", "read_private", "reader"]


def reader() -> AclReader:
    """The reader for this OS."""
    if sys.platform == "win32":
        from exporter._win32acl import WindowsAcl

        return WindowsAcl()
    return PosixAcl()


def read_private(path: Path, what: str, limit: int, error: type[Exception],
                 acl: AclReader | None = None, missing: str = "check the path",
                 label: str | None = None) -> bytes:
    """The bytes of a small private file, or ``error`` with a plain sentence when it is
    missing, not a regular file, larger than ``limit`` bytes, or open to other users. Never
    reads more than ``limit + 1`` bytes. ``missing`` is what to do when it does not exist;
    ``label`` names the file in messages (default: ``what`` and the path)."""
    path = Path(path)
    label = label or f"{what} {path}"
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise error(f"The {label} is not a plain file; give the path of the "
                            f"{what} itself.")
            if st.st_size > limit:
                raise error(f"The {label} is {st.st_size:,} bytes, far larger than a "
                            f"{what} ({limit:,} at most); check the path.")
            sentence = (acl or reader()).problem(path, what, label)
            if sentence:
                raise error(sentence)
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise error(f"The {label} does not exist; {missing}.") from None
    except OSError as exc:
        raise error(f"The {label} cannot be read; check that it exists and that you "
                    "may read it.") from exc
    if len(data) > limit:
        raise error(f"The {label} is larger than a {what} ({limit:,} bytes at most); "
                    "check the path.")
    return data


def make_private(path: Path) -> None:
    """Leave ``path`` readable and writable by its owner only."""
    reader().make_private(Path(path))
