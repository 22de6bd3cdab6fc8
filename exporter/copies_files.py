"""Writing a copy's files into a folder (:mod:`exporter.copies`): the archive's snapshot
through SQLite's backup API (:func:`exporter.copies_base._backup_snapshot`), files streamed
chunk by chunk with their SHA-256, fsyncs, and write errors in plain words for the folder."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.copies_base import (
    _DB_ERRORS,
    CopyDestinationProblem,
    Progress,
    _backup_snapshot,
    _snapshot_size,
)
from exporter.dbfile import DatabaseFileReader
from exporter.errors import DiskFull, ExporterError
from exporter.private_files import create_private, make_private

CHUNK = 1 << 20
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk (not possible on Windows: skipped there)."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some network file systems refuse it
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _drop_cache(fh: Any) -> None:
    """Ask the OS to forget its cached pages of a written file, so reading it back reads the
    disk (Linux; elsewhere it is a no-op)."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _write_error(exc: OSError, dest: Path) -> ExporterError:
    if exc.errno in _NO_SPACE:
        return DiskFull(f"The disk holding the copy folder {dest} is full; free some space there "
                        "(or lower keep) and run the copy again. The unfinished copy was removed "
                        "and the archive is unchanged.")
    if isinstance(exc, PermissionError):
        return CopyDestinationProblem(f"The copy folder {dest} cannot be written to (permission "
                                      "denied); give the office user write access to it.")
    return CopyDestinationProblem(f"Writing the copy to {dest} failed ({exc.strerror or exc}): "
                                  "is the disk still plugged in? The unfinished copy was "
                                  "removed and the archive is unchanged.")


def _stream_copy(src: Path, dst: Path, dest: Path, done: int, total: int,
                 progress: Progress | None,
                 reader_class: type[DatabaseFileReader] = DatabaseFileReader) -> tuple[int, str]:
    """Copy one file chunk by chunk (memory stays flat), fsync it; (size, sha256). Read
    around SQLite's locked bytes at 1 GiB, which Windows refuses to read (exporter.dbfile)."""
    sha = hashlib.sha256()
    size = 0
    try:
        reader = reader_class(src)
    except OSError as exc:
        raise ExporterError(f"The archive file {src} cannot be read ({exc.strerror or exc}); "
                            "no copy was made.") from exc
    with reader:
        try:
            writer = create_private(dst)  # 0600 from the first byte
        except OSError as exc:
            raise _write_error(exc, dest) from exc
        with writer:
            while True:
                try:
                    block = reader.read(CHUNK)
                except OSError as exc:
                    raise ExporterError(f"Reading the archive file {src} failed "
                                        f"({exc.strerror or exc}); run 'exporter verify'. No "
                                        "copy was made.") from exc
                if not block:
                    break
                sha.update(block)
                size += len(block)
                try:
                    writer.write(block)
                except OSError as exc:
                    raise _write_error(exc, dest) from exc
                if progress is not None:
                    progress(done + size, total)
            try:
                writer.flush()
                os.fsync(writer.fileno())
                _drop_cache(writer)
            except OSError as exc:
                raise _write_error(exc, dest) from exc
    return size, sha.hexdigest()


def _write_snapshot(archive: Archive, keys: Path, partial: Path, dest: Path,
                    progress: Progress | None) -> list[dict[str, Any]]:
    """The archive (through SQLite's backup API, exporter.copies_base) and its .keys file
    into the folder ``partial``, each fsynced; their manifest entries."""
    db = partial / archive.path.name
    total = _snapshot_size(archive) + keys.stat().st_size

    def step(done: int, _pages_total: int) -> None:
        if progress is not None:
            progress(done, total)

    try:
        _backup_snapshot(archive, db, step if progress is not None else None)
        make_private(db)  # as private as the archive it copies
        with open(db, "rb+") as fh:  # connect() syncs too (FULL); this covers the last close
            os.fsync(fh.fileno())
            _drop_cache(fh)
        size, digest = _sha256_of(db)
    except _DB_ERRORS as exc:
        raise _backup_error(exc, dest) from exc
    except OSError as exc:
        raise _write_error(exc, dest) from exc
    keys_size, keys_digest = _stream_copy(keys, partial / keys.name, dest, size, total,
                                          progress)
    try:
        make_private(partial / keys.name)
    except OSError as exc:
        raise _write_error(exc, dest) from exc
    return [{"name": db.name, "size": size, "sha256": digest},
            {"name": keys.name, "size": keys_size, "sha256": keys_digest}]


def _backup_error(exc: BaseException, dest: Path) -> ExporterError:
    """SQLite's error while writing the snapshot into the copy folder, in plain words."""
    if "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", None) == 13:
        return _write_error(OSError(errno.ENOSPC, "disk full"), dest)
    return CopyDestinationProblem(f"Writing the copy to {dest} failed ({exc}): is the disk "
                                  "still plugged in? The unfinished copy was removed and the "
                                  "archive is unchanged.")


def _sha256_of(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()
