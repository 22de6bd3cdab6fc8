"""The encrypted archive: one SQLCipher 4 database that keeps every version of every record.

The format is ``archive_schema.sql`` (``PRAGMA user_version``); docs/design.md describes it.
This package is the library API the rest of exporter uses:

    archive = Archive.open(path, KeyFile(key_path), write=True)
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", records, cursor={"SystemModstamp": ...})
    archive.finish_run(run, "ok")
    archive.records("salesforce", "Account", as_of=run)

Writers hold the archive's OS lock (exporter.lock) for as long as they are open; readers do
not. Every database error, sqlcipher3's own exception classes included, is turned into one of
exporter.errors' types at this boundary.

The parts, by responsibility:

- ``database``: the keyed connection, sqlite-utils over it, database errors translated;
- ``format``: archive_schema.sql and the named migrations;
- ``opening``: create, unlock, open, migrate, verify; the :class:`Archive` class;
- ``base``: transactions and stream ids, shared by the parts below;
- ``records``: record versions, cursors, schema snapshots;
- ``files``: chunked files and their links to versions;
- ``runs``, ``audit``, ``idmap``: runs, the hash-chained audit log, the restore id map.
"""

from __future__ import annotations

from exporter.archive.database import DB_ERRORS, translate_db_error
from exporter.archive.files import CHUNK_SIZE, FileInfo
from exporter.archive.format import FORMAT_VERSION, MIGRATIONS, schema_sql
from exporter.archive.idmap import IdMapEntry
from exporter.archive.opening import Archive
from exporter.archive.records import BatchResult, Version
from exporter.archive.runs import RUN_STATUSES, Run
from exporter.record import Record, canonical_json

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "MIGRATIONS",
    "RUN_STATUSES",
    "Archive",
    "BatchResult",
    "FileInfo",
    "IdMapEntry",
    "Record",
    "Run",
    "Version",
    "canonical_json",
    "schema_sql",
    "translate_db_error",
]

#: Kept for code that catches database errors itself (exporter.copies, tests).
_DB_ERRORS = DB_ERRORS
