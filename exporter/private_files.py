"""Small private files (key files, secret files, service-account keys): read with limits.

:func:`read_private` refuses a file that is not a plain file (``/dev/zero``), is larger than its
limit (without reading more than the limit), or that other accounts may read or change
(:meth:`exporter.acl.AclReader.problem`, through the reader for this OS). :func:`make_private`
leaves a new file to its owner only: mode 0600 on POSIX, a protected owner-only DACL on Windows.
:func:`create_private` and :func:`private_folder` create files (0600, ``O_EXCL``, never through
a symlink) and folders (0700) that are private from their first byte: copies, fetched archives
and logs are made with them, so no other account of the computer reads them, not even briefly.
:func:`scratch_file` puts bytes in a file for a library that only reads paths (the HubSpot
SDK's upload): in the user's own cache folder, never the shared temporary folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import platformdirs

from exporter.acl import AclReader, PosixAcl
from exporter.filenames import NAME_LIMIT, is_device_name, safe_file_name

__all__ = ["create_private", "make_private", "private_folder", "read_private", "reader",
           "scratch_file", "scratch_root"]

log = logging.getLogger("exporter.private_files")

# O_NOFOLLOW: a symlink planted at the new name is refused, never followed (POSIX only).
_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_BINARY", 0))


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


def _restrict(path: Path) -> None:
    """Owner-only permissions on something this process just created. On Windows the mode
    bits mean nothing, so the DACL is set; a disk without ACLs (a FAT USB stick) cannot hold
    one, which is logged and accepted: that disk has no other users' permissions to keep."""
    if sys.platform != "win32":
        return  # os.open / mkdir already applied 0600 / 0700 (umask can only remove bits)
    try:
        make_private(path)
    except OSError as exc:
        log.warning("%s cannot be made private to this user (%s)", path, exc)


def create_private(path: Path) -> BinaryIO:
    """A new file at ``path`` open for writing, readable and writable by its owner only from
    the start: ``O_EXCL`` (an existing file or a planted symlink is an error, FileExistsError),
    mode 0600. The caller closes it."""
    fd = os.open(path, _CREATE, 0o600)
    try:
        _restrict(Path(path))
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_folder(path: Path, *, exist_ok: bool = False) -> Path:
    """Create the folder ``path`` (and missing parents) usable by its owner only (0700). A
    folder that already exists is left as it is: it may be the user's own (a Documents
    folder); only what exporter creates is restricted."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            _restrict(folder)
    if not missing and not exist_ok:
        raise FileExistsError(path)
    return path


def scratch_root() -> Path:
    """Where :func:`scratch_file` works: ``scratch`` in the user's cache folder for exporter
    (``~/.cache/exporter``, ``%LOCALAPPDATA%\\exporter\\Cache``), 0700."""
    return platformdirs.user_cache_path("exporter", appauthor=False) / "scratch"


#: What no file name may hold on some OS (Windows' reserved characters, controls, NUL).
_UNFIT = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def _plain_name(name: str) -> str:
    """``name`` as the scratch file's name: kept as it is (the vendor may show it: HubSpot
    names an upload after it) unless no OS could hold it (``..``, NUL, a device name such
    as ``CON``, over 120 bytes, a trailing dot or space); then made safe."""
    plain = Path(name).name
    size = len(plain.encode("utf-8", "surrogatepass"))
    if plain in ("", ".", "..") or _UNFIT.search(plain) or size > NAME_LIMIT \
            or plain != plain.rstrip(" .") or is_device_name(plain):
        return safe_file_name(plain)
    return plain


@contextlib.contextmanager
def scratch_file(name: str, chunks: Iterable[bytes]) -> Iterator[Path]:
    """``chunks`` written to a file called ``name`` (a plain file name) for the length of the
    ``with``: 0600, in a folder of its own (0700) under :func:`scratch_root`, removed after,
    whatever happens. Plaintext never goes to the shared temporary folder."""
    root = private_folder(scratch_root(), exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=root))  # 0700
    try:
        _restrict(folder)
        path = folder / _plain_name(name)
        with create_private(path) as fh:
            for chunk in chunks:
                fh.write(chunk)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
