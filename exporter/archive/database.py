"""The SQLCipher connection under the archive, and the one place where database errors become
exporter's errors.

sqlcipher3 raises its own exception classes (``sqlcipher3.dbapi2.Error`` and subclasses), which
code written for the stdlib ``sqlite3`` -- sqlite-utils included -- neither catches nor knows.
:data:`DB_ERRORS` names both families; :func:`translated` turns either into an
:class:`~exporter.errors.ExporterError` at the archive's boundary, keeping the cause.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import getpass
import socket
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlcipher3
import sqlite_utils

from exporter.errors import (
    ArchiveDamaged,
    ArchiveLocked,
    DiskFull,
    ExporterError,
    NotWritable,
)

__all__ = ["DB_ERRORS", "actor", "connect", "database", "now", "sqlite_uri",
           "translate_db_error", "translated"]

#: Every database error class there is: the stdlib's (raised by sqlite-utils itself, e.g.
#: ``transform()``'s foreign-key check) and sqlcipher3's (raised by the connection).
DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, sqlcipher3.dbapi2.Error)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _disk_full(path: Path) -> DiskFull:
    return DiskFull(f"The disk holding {path} is full; free some space and run again "
                    "(nothing was written).")


def _file_size_limit() -> int | None:
    """This process's file-size limit (RLIMIT_FSIZE) in bytes, or None without one. SQLite
    reports a write refused by it (EFBIG) only as "disk I/O error"."""
    try:
        import resource
    except ImportError:  # Windows has no such limit
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def translate_db_error(exc: BaseException, path: Path) -> ExporterError:
    """Map a SQLite/SQLCipher error to our error types (the key is known good here)."""
    text = str(exc).lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if "database or disk is full" in text or code == 13:
        return _disk_full(path)
    if "disk i/o error" in text and _file_size_limit() is not None:
        return NotWritable(f"The archive {path} could not be written: this process may not "
                           f"write files larger than {_file_size_limit()} bytes (a file-size "
                           "limit, 'ulimit -f'); raise or remove the limit and run again "
                           "(nothing was lost).")
    if "locked" in text or "busy" in text:
        return ArchiveLocked(f"The archive {path} is busy with another exporter process; "
                             "wait a minute and try again.")
    if "not a database" in text or "malformed" in text or "hmac" in text or "corrupt" in text:
        return ArchiveDamaged(f"The archive {path} is damaged ({exc}); run 'exporter verify' and "
                              "restore it from your second copy.")
    return ArchiveDamaged(f"The archive {path} could not be read ({exc}); run 'exporter verify'.")


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """Run a block, turning database and full-disk errors into exporter's, cause kept."""
    try:
        yield
    except DB_ERRORS as exc:
        raise translate_db_error(exc, path) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(path) from exc
        raise


def sqlite_uri(path: Path) -> str:
    """A file: URI SQLite accepts for any local path, a Windows drive path (file:///C:/...) or
    a UNC path (file:////nas/share/...: SQLite refuses a host name in the authority)."""
    text = path.resolve().as_posix()
    if not text.startswith("/"):
        text = "/" + text
    return "file://" + urllib.parse.quote(text, safe="/:")


def connect(path: Path, key_hex: str, *, immutable: bool = False) -> Any:
    """A keyed connection in autocommit mode (transactions are explicit: BEGIN IMMEDIATE).
    ``immutable`` opens a file on read-only media: SQLite then creates no -wal or -shm and
    takes no lock (nothing can write there), and reads the main file only.

    ``PRAGMA key`` comes before any statement that reads the file: SQLCipher decides on the
    first read whether the key fits, so nothing may touch the database before it."""
    target, uri = (sqlite_uri(path) + "?mode=ro&immutable=1", True) if immutable else (
        str(path), False)
    conn = sqlcipher3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                              timeout=30)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    conn.execute("PRAGMA temp_store = MEMORY")  # no plaintext temp files
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    # The WAL is truncated at every reset, so frames of an older log never linger after the
    # current one: archive/wal.py can then tell a damaged log from a kill's leftovers.
    conn.execute("PRAGMA journal_size_limit = 0")
    return conn


def database(conn: Any) -> sqlite_utils.Database:
    """sqlite-utils over an already keyed connection (never a path: it would open the file
    without the key). Its plugins are not run on our connection, and it sets no pragmas."""
    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
