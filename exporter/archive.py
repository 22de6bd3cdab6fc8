"""The encrypted archive: one SQLCipher 4 database that keeps every version of every record.

The format is ``archive_schema.sql`` (``PRAGMA user_version``); docs/design.md describes it.
This module is the library API the rest of exporter uses:

    archive = Archive.open(path, KeyFile(key_path), write=True)
    run = archive.begin_run()
    archive.put_batch(run, "salesforce", "Account", records, cursor={"SystemModstamp": ...})
    archive.finish_run(run, "ok")
    archive.records("salesforce", "Account", as_of=run)

Writers hold the archive's OS lock (exporter.lock) for as long as they are open; readers do
not. Every database error, sqlcipher3's own exception classes included, is turned into one of
exporter.errors' types at this boundary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import getpass
import hashlib
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import sqlcipher3
import sqlite_utils

from exporter import __version__
from exporter.errors import (
    ArchiveDamaged,
    ArchiveLocked,
    ArchiveNotFound,
    DiskFull,
    ExporterError,
    KeySlotsDamaged,
    NotFound,
    UnsupportedFormat,
)
from exporter.keys import (
    Credential,
    KeyFile,
    KeySlots,
    MasterKey,
    create_key_file,
    read_key_file,
    slots_path_for,
)
from exporter.lock import ArchiveLock
from exporter.record import Record, canonical_json

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "Archive",
    "BatchResult",
    "FileInfo",
    "IdMapEntry",
    "Record",
    "Run",
    "Version",
    "canonical_json",
]

FORMAT_VERSION = 2
CHUNK_SIZE = 1 << 20
#: SQL that takes an archive from version N to N + 1, keyed by N.
MIGRATIONS: dict[int, str] = {
    # 1 -> 2: the restore id map (see archive_schema.sql).
    1: """
CREATE TABLE id_map (
    target         TEXT NOT NULL,
    source         TEXT NOT NULL,
    stream         TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    target_object  TEXT NOT NULL,
    target_id      TEXT,
    hash           TEXT,
    run_id         INTEGER REFERENCES runs (id),
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (target, source, stream, source_id, target_object)
) WITHOUT ROWID;
CREATE INDEX id_map_by_target_id ON id_map (target, target_object, target_id);
""",
}
RUN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")
_DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, sqlcipher3.dbapi2.Error)
_KEEP: Any = object()  # "leave the cursor as it is"
_IN_CHUNK = 500  # ids per IN (...) lookup


def schema_sql() -> str:
    """The text of archive_schema.sql (shipped in the package, or at the repository's top)."""
    packaged = resources.files("exporter").joinpath("archive_schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "archive_schema.sql").read_text(
        encoding="utf-8")




def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"




@dataclass
class BatchResult:
    new: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0

    def add(self, other: BatchResult) -> None:
        self.new += other.new
        self.changed += other.changed
        self.deleted += other.deleted
        self.unchanged += other.unchanged


@dataclass(frozen=True)
class Version:
    record_id: str
    first_run: int
    superseded_run: int | None
    deleted: bool
    data: dict[str, Any] | None
    seen_at: str
    hash: str


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    started_at: str
    finished_at: str | None
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class IdMapEntry:
    """One row of the restore id map: archived record -> target record. ``target_id`` and
    ``hash`` are None while the write is pending (sent, not yet confirmed)."""

    source: str
    stream: str
    source_id: str
    target_object: str
    target_id: str | None
    hash: str | None


@dataclass(frozen=True)
class FileInfo:
    hash: str  # SHA-256, hex
    size: int
    chunks: int
    media_type: str | None


def translate_db_error(exc: BaseException, path: Path) -> ExporterError:
    """Map a SQLite/SQLCipher error to our error types (the key is known good here)."""
    text = str(exc).lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if "database or disk is full" in text or code == 13:
        return DiskFull(f"The disk holding {path} is full; free some space and run again "
                        "(nothing was written).")
    if "locked" in text or "busy" in text:
        return ArchiveLocked(f"The archive {path} is busy with another exporter process; "
                             "wait a minute and try again.")
    if "not a database" in text or "malformed" in text or "hmac" in text or "corrupt" in text:
        return ArchiveDamaged(f"The archive {path} is damaged ({exc}); run 'exporter verify' and "
                              "restore it from your second copy.")
    return ArchiveDamaged(f"The archive {path} could not be read ({exc}); run 'exporter verify'.")


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    try:
        yield
    except _DB_ERRORS as exc:
        raise translate_db_error(exc, path) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull(f"The disk holding {path} is full; free some space and run again "
                           "(nothing was written).") from None
        raise


def _connect(path: Path, key_hex: str) -> Any:
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False,
                              timeout=30)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    conn.execute("PRAGMA temp_store = MEMORY")  # no plaintext temp files
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Archive:
    """An open archive. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, path: Path, conn: Any, archive_id: str, slots: KeySlots,
                 master: MasterKey, lock: ArchiveLock | None) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.archive_id = archive_id
        self.slots = slots
        self.master = master
        self._lock = lock
        self._stream_ids: dict[tuple[str, str], int] = {}
        self._in_txn = False

    # -- opening and closing -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, *, passphrase: str | None = None, key_file: Path | None = None,
               passphrase_kdf: dict[str, Any] | None = None) -> tuple[Archive, str]:
        """Create a new archive with its key-slot file; returns it (open for writing) and the
        recovery key, to be shown once."""
        path = Path(path)
        slots_path = slots_path_for(path)
        if path.exists():
            raise ExporterError(f"There is already an archive at {path}; use it, or choose "
                                "another path with --archive.")
        if slots_path.exists():
            raise ExporterError(f"A key file {slots_path} exists without its archive; move it "
                                "away if it is not needed, then run init again.")
        if not passphrase and key_file is None:
            raise ValueError("a passphrase or a key file is needed")
        path.parent.mkdir(parents=True, exist_ok=True)
        master = MasterKey.generate()
        archive_id = str(uuid.uuid4())
        slots = KeySlots.new(slots_path, archive_id)
        if passphrase:
            slots.add_passphrase(master, passphrase, "passphrase", kdf=passphrase_kdf)
        if key_file is not None:
            key_file = Path(key_file)
            key = read_key_file(key_file) if key_file.exists() else create_key_file(key_file)
            slots.add_key_file(master, key, f"key file {key_file.name}")
        recovery = slots.set_recovery(master)
        # The database is built under a temporary name and renamed into place last, so a
        # crash leaves either nothing or a whole archive.
        tmp = path.with_name(path.name + ".creating")
        for leftover in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            leftover.unlink(missing_ok=True)
        with _translated(path):
            conn = _connect(tmp, master.sqlcipher_key(archive_id))
            try:
                conn.executescript(schema_sql())
                conn.execute("PRAGMA journal_mode = WAL")
                now = _now()
                conn.executemany("INSERT INTO archive_meta (key, value) VALUES (?, ?)", [
                    ("archive_id", archive_id), ("created_at", now),
                    ("created_by", f"exporter {__version__}"),
                ])
            finally:
                conn.close()
            os.chmod(tmp, 0o600)
            slots.save(master)
            os.replace(tmp, path)
        archive = cls.open(path, KeyFile(key_file) if key_file else None, write=True,
                           _unlocked=(master, slots))
        archive.audit("init", {"slots": [s["kind"] for s in slots.slots]})
        return archive, recovery

    @classmethod
    def open(cls, path: Path, credential: Credential | None, *, write: bool = False,
             _unlocked: tuple[MasterKey, KeySlots] | None = None) -> Archive:
        """Unlock and open the archive at ``path``. With ``write=True`` the write lock is
        taken (ArchiveLocked if another process has it)."""
        path = Path(path)
        if not path.exists():
            raise ArchiveNotFound(f"There is no archive at {path}; run 'exporter init' first, "
                                  "or check the archive path in the config file.")
        if _unlocked is not None:
            master, slots = _unlocked
        else:
            if credential is None:
                raise ValueError("credential needed")
            slots = KeySlots.load(slots_path_for(path))
            master, _ = slots.unlock(credential)
        lock = ArchiveLock(path).acquire() if write else None
        try:
            with _translated(path):
                conn = _connect(path, master.sqlcipher_key(slots.archive_id))
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    meta = dict(conn.execute("SELECT key, value FROM archive_meta").fetchall())
                except BaseException:
                    conn.close()
                    raise
            archive = cls(path, conn, slots.archive_id, slots, master, lock)
            if meta.get("archive_id") != slots.archive_id:
                archive.close()
                raise KeySlotsDamaged(f"The key file {slots.path} belongs to another archive; "
                                      "put the right key file beside the archive.")
            if version > FORMAT_VERSION:
                archive.close()
                raise UnsupportedFormat(
                    f"This archive has format version {version}, written by a newer exporter; "
                    f"this exporter ({__version__}) reads up to version {FORMAT_VERSION}. "
                    "Update exporter.")
            if version < FORMAT_VERSION:
                archive._migrate(version)
            if write:
                archive._interrupt_stale_runs()
            return archive
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def _migrate(self, version: int) -> None:
        """Upgrade an older archive in one transaction. A reader takes the write lock just
        for this, so that any command can do it."""
        if self._lock is None:
            try:
                with ArchiveLock(self.path):
                    self._migrate_locked(version)
            except ArchiveLocked:
                raise ArchiveLocked("This archive needs upgrading to the new format, and a "
                                    "sync is running; try again when it has finished.") from None
        else:
            self._migrate_locked(version)

    def _migrate_locked(self, version: int) -> None:
        with self.transaction():
            while version < FORMAT_VERSION:
                step = MIGRATIONS.get(version)
                if step is None:
                    raise UnsupportedFormat(f"This archive has format version {version}, which "
                                            "this exporter cannot upgrade.")
                # Statement by statement: executescript() would commit the open transaction.
                for statement in _statements(step):
                    self.conn.execute(statement)
                version += 1
                self.conn.execute(f"PRAGMA user_version = {version}")
            self.audit("migrate", {"to_version": version})

    def _interrupt_stale_runs(self) -> None:
        # We hold the lock, so a run still marked running belongs to a process that died.
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                (_now(),))

    def close(self) -> None:
        try:
            with contextlib.suppress(*_DB_ERRORS):
                self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def writable(self) -> bool:
        return self._lock is not None

    def _require_write(self) -> None:
        if self._lock is None:
            raise RuntimeError("archive opened read-only")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write (nested calls join the outer transaction)."""
        if self._in_txn:
            yield
            return
        with _translated(self.path):
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_txn = True
            try:
                yield
            except BaseException:
                self._in_txn = False
                with contextlib.suppress(*_DB_ERRORS):
                    self.conn.execute("ROLLBACK")
                raise
            self._in_txn = False
            self.conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with _translated(self.path):
            return list(self.conn.execute(sql, params).fetchall())

    # -- runs ----------------------------------------------------------------------------

    def begin_run(self, kind: str = "sync") -> int:
        self._require_write()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (kind, started_at, status, host, pid, exporter_version) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (kind, _now(), socket.gethostname(), os.getpid(), __version__))
            run_id = int(cur.lastrowid)
            self.audit(f"{kind}.start", {}, run_id=run_id)
        return run_id

    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any] | None = None,
                   error: str | None = None) -> None:
        self._require_write()
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"bad final status {status!r}")
        with self.transaction():
            kind = self._query("SELECT kind FROM runs WHERE id = ?", (run_id,))[0][0]
            self.conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, stats = ?, error = ? WHERE id = ?",
                (status, _now(), canonical_json(dict(stats or {})), error, run_id))
            self.audit(f"{kind}.finish", {"status": status}, run_id=run_id)

    def runs(self, limit: int | None = None) -> list[Run]:
        sql = ("SELECT id, kind, started_at, finished_at, status, stats, error FROM runs "
               "ORDER BY id DESC")
        rows = self._query(sql + (f" LIMIT {int(limit)}" if limit else ""))
        return [Run(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), r[6]) for r in rows]

    def run(self, run_id: int) -> Run:
        for r in self._query("SELECT id, kind, started_at, finished_at, status, stats, error "
                             "FROM runs WHERE id = ?", (run_id,)):
            return Run(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), r[6])
        raise NotFound(f"There is no run {run_id} in this archive; 'exporter status' lists runs.")

    def resolve_as_of(self, value: str | int | None) -> int | None:
        """A run id from a run number, a date (end of that local day) or an ISO time."""
        if value is None or value == "":
            return None
        text = str(value).strip()
        if text.isdigit():
            return self.run(int(text)).id
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                moment = dt.datetime.combine(day, dt.time.max).astimezone()
            else:
                moment = dt.datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    moment = moment.astimezone()
        except ValueError:
            raise NotFound(f"'{text}' is neither a run number nor a date like "
                           "2026-11-30.") from None
        instant = moment.astimezone(dt.UTC).isoformat()
        rows = self._query("SELECT max(id) FROM runs WHERE started_at <= ?", (instant,))
        if rows[0][0] is None:
            raise NotFound(f"The archive holds no data from {text} or earlier.")
        return int(rows[0][0])

    # -- streams, records and cursors -----------------------------------------------------

    def _stream_id(self, source: str, stream: str, create: bool = True) -> int | None:
        key = (source, stream)
        if key in self._stream_ids:
            return self._stream_ids[key]
        rows = self._query("SELECT id FROM streams WHERE source = ? AND stream = ?", key)
        if rows:
            self._stream_ids[key] = int(rows[0][0])
        elif create:
            with self.transaction():
                cur = self.conn.execute("INSERT INTO streams (source, stream) VALUES (?, ?)", key)
            self._stream_ids[key] = int(cur.lastrowid)
        else:
            return None
        return self._stream_ids[key]

    def streams(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in
                self._query("SELECT source, stream FROM streams ORDER BY source, stream")]

    def put_batch(self, run_id: int, source: str, stream: str,
                  records: Iterable[Record | tuple[str, Mapping[str, Any] | None]],
                  cursor: Any = _KEEP) -> BatchResult:
        """Store a batch of records for (source, stream) and, in the same transaction, the
        stream's cursor. Only changed records get a new version."""
        self._require_write()
        prepared: dict[str, tuple[Record, bytes, str | None]] = {}
        for item in records:
            rec = item if isinstance(item, Record) else Record(str(item[0]), item[1])
            digest, text = rec.content_hash()
            prepared[str(rec.id)] = (rec, digest, text)  # the last of duplicate ids wins
        result = BatchResult()
        with self.transaction():
            sid = self._stream_id(source, stream)
            current = self._current_hashes(sid, list(prepared))
            supersede: list[tuple[int, int]] = []
            inserts: list[tuple[Any, ...]] = []
            links: list[tuple[str, Mapping[str, str]]] = []
            now = _now()
            for rid, (rec, digest, text) in prepared.items():
                cur = current.get(rid)
                if cur is not None and cur[1] == digest:
                    result.unchanged += 1
                    continue
                if cur is None and rec.deleted and rec.data is None:
                    continue  # nothing known about it, nothing to tombstone
                if cur is not None:
                    supersede.append((run_id, cur[0]))
                if rec.deleted:
                    result.deleted += 1
                elif cur is None:
                    result.new += 1
                else:
                    result.changed += 1
                inserts.append((sid, rid, run_id, int(rec.deleted), digest, text, now))
                if rec.files:
                    links.append((rid, rec.files))
            if supersede:
                self.conn.executemany("UPDATE versions SET superseded_run = ? WHERE id = ?",
                                      supersede)
            if inserts:
                self.conn.executemany(
                    "INSERT INTO versions (stream_id, record_id, first_run, deleted, hash, data, "
                    "seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)", inserts)
            for rid, files in links:
                self._link_files(sid, rid, files)
            if cursor is not _KEEP:
                self.conn.execute(
                    "INSERT INTO cursors (stream_id, value, run_id, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                    "value = excluded.value, run_id = excluded.run_id, "
                    "updated_at = excluded.updated_at",
                    (sid, canonical_json(cursor), run_id, now))
        return result

    def _current_hashes(self, sid: int | None, ids: list[str]) -> dict[str, tuple[int, bytes]]:
        out: dict[str, tuple[int, bytes]] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for vid, rid, digest in self.conn.execute(
                f"SELECT id, record_id, hash FROM versions WHERE stream_id = ? "
                f"AND superseded_run IS NULL AND record_id IN ({marks})", [sid, *chunk]):
                out[rid] = (vid, digest)
        return out

    def _link_files(self, sid: int | None, record_id: str, files: Mapping[str, str]) -> None:
        vid = self.conn.execute("SELECT id FROM versions WHERE stream_id = ? AND record_id = ? "
                                "AND superseded_run IS NULL", (sid, record_id)).fetchone()[0]
        for name, hexhash in files.items():
            row = self.conn.execute("SELECT id FROM files WHERE hash = ?",
                                    (bytes.fromhex(hexhash),)).fetchone()
            if row is None:
                raise NotFound(f"File {hexhash} is not in the archive; store it before the record.")
            self.conn.execute("INSERT INTO file_links (version_id, name, file_id) VALUES (?, ?, ?)",
                              (vid, name, row[0]))

    def tombstone(self, run_id: int, source: str, stream: str, ids: Iterable[str],
                  cursor: Any = _KEEP) -> BatchResult:
        """Mark records deleted (e.g. found missing by an id reconciliation)."""
        return self.put_batch(run_id, source, stream,
                              [Record(str(i), None, deleted=True) for i in ids], cursor=cursor)

    def get_cursor(self, source: str, stream: str) -> Any:
        sid = self._stream_id(source, stream, create=False)
        rows = self._query("SELECT value FROM cursors WHERE stream_id = ?", (sid,))
        return json.loads(rows[0][0]) if rows else None

    def current(self, source: str, stream: str,
                record_id: str) -> tuple[str | None, dict[str, str]] | None:
        """The current version of a record as (canonical JSON or None, linked files), or None
        if the archive has no version of it (or only a tombstone)."""
        sid = self._stream_id(source, stream, create=False)
        rows = self._query("SELECT id, data FROM versions WHERE stream_id = ? AND record_id = ? "
                           "AND superseded_run IS NULL AND deleted = 0", (sid, record_id))
        if not rows:
            return None
        files = self._query("SELECT l.name, f.hash FROM file_links l JOIN files f "
                            "ON f.id = l.file_id WHERE l.version_id = ?", (rows[0][0],))
        return rows[0][1], {r[0]: r[1].hex() for r in files}

    def record_ids(self, source: str, stream: str) -> set[str]:
        """Ids of the current, not deleted records (for hard-delete reconciliation)."""
        sid = self._stream_id(source, stream, create=False)
        return {r[0] for r in self._query(
            "SELECT record_id FROM versions WHERE stream_id = ? AND superseded_run IS NULL "
            "AND deleted = 0", (sid,))}

    def records(self, source: str, stream: str, as_of: int | None = None,
                include_deleted: bool = False, containing: str | None = None,
                ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(record id, data) of the records as they are now, or as of run ``as_of``,
        streamed in record-id order. ``containing`` keeps only records whose canonical JSON
        text contains that string (a fast pre-filter; callers check the field itself)."""
        sid = self._stream_id(source, stream, create=False)
        if sid is None:
            return
        params: list[Any]
        if as_of is None:
            where, params = "superseded_run IS NULL", [sid]
        else:
            where = "first_run <= ? AND (superseded_run IS NULL OR superseded_run > ?)"
            params = [sid, as_of, as_of]
        if not include_deleted:
            where += " AND deleted = 0"
        if containing is not None:
            where += " AND instr(data, ?) > 0"
            params.append(containing)
        with _translated(self.path):
            cur = self.conn.execute(f"SELECT record_id, data FROM versions WHERE stream_id = ? "
                                    f"AND {where} ORDER BY record_id", params)
            for rid, text in cur:
                yield rid, (None if text is None else json.loads(text))

    def history(self, source: str, stream: str, record_id: str) -> list[Version]:
        sid = self._stream_id(source, stream, create=False)
        rows = self._query(
            "SELECT record_id, first_run, superseded_run, deleted, data, seen_at, hash "
            "FROM versions WHERE stream_id = ? AND record_id = ? ORDER BY id", (sid, record_id))
        if not rows:
            raise NotFound(f"There is no record {record_id} in {source} {stream}; check the "
                           "source, stream and id ('exporter status' lists streams).")
        return [Version(r[0], r[1], r[2], bool(r[3]), None if r[4] is None else json.loads(r[4]),
                        r[5], r[6].hex()) for r in rows]

    def counts(self) -> list[dict[str, Any]]:
        """Per stream: current records, tombstones, and all versions kept."""
        rows = self._query(
            "SELECT s.source, s.stream, "
            "sum(v.superseded_run IS NULL AND v.deleted = 0), "
            "sum(v.superseded_run IS NULL AND v.deleted = 1), count(v.id) "
            "FROM streams s LEFT JOIN versions v ON v.stream_id = s.id "
            "GROUP BY s.id ORDER BY s.source, s.stream")
        return [{"source": r[0], "stream": r[1], "current": r[2] or 0, "deleted": r[3] or 0,
                 "versions": r[4]} for r in rows]

    # -- schema snapshots ------------------------------------------------------------------

    def put_schema(self, run_id: int, source: str, stream: str, schema: Any) -> None:
        self._require_write()
        text = canonical_json(schema)
        digest = hashlib.sha256(text.encode()).digest()
        with self.transaction():
            sid = self._stream_id(source, stream)
            self.conn.execute("INSERT OR IGNORE INTO schema_blobs (hash, data) VALUES (?, ?)",
                              (digest, text))
            self.conn.execute("INSERT OR REPLACE INTO schema_snapshots (run_id, stream_id, hash) "
                              "VALUES (?, ?, ?)", (run_id, sid, digest))

    def get_schema(self, source: str, stream: str, as_of: int | None = None) -> Any:
        sid = self._stream_id(source, stream, create=False)
        rows = self._query(
            "SELECT b.data FROM schema_snapshots s JOIN schema_blobs b ON b.hash = s.hash "
            "WHERE s.stream_id = ? AND s.run_id <= ? ORDER BY s.run_id DESC LIMIT 1",
            (sid, as_of if as_of is not None else 2**62))
        return json.loads(rows[0][0]) if rows else None

    # -- files -----------------------------------------------------------------------------

    def put_file(self, run_id: int | None, content: IO[bytes] | Iterable[bytes],
                 media_type: str | None = None) -> FileInfo:
        """Store a file from a stream or an iterable of byte strings, in chunks, in one
        transaction. Memory stays bounded by the chunk size; a file already stored (same
        SHA-256) is kept once."""
        self._require_write()
        sha = hashlib.sha256()
        size = seq = 0
        placeholder = os.urandom(32)  # the real hash is known only at the end
        with self.transaction():
            self.conn.execute("SAVEPOINT put_file")
            cur = self.conn.execute(
                "INSERT INTO files (hash, size, chunks, media_type, first_run, stored_at) "
                "VALUES (?, 0, 0, ?, ?, ?)", (placeholder, media_type, run_id, _now()))
            file_id = cur.lastrowid
            for chunk in _rechunk(content, CHUNK_SIZE):
                sha.update(chunk)
                size += len(chunk)
                self.conn.execute("INSERT INTO file_chunks (file_id, seq, data) VALUES (?, ?, ?)",
                                  (file_id, seq, chunk))
                seq += 1
            digest = sha.digest()
            existing = self.conn.execute("SELECT id, size, chunks, media_type FROM files "
                                         "WHERE hash = ?", (digest,)).fetchone()
            if existing is not None:
                self.conn.execute("ROLLBACK TO put_file")
                self.conn.execute("RELEASE put_file")
                return FileInfo(digest.hex(), existing[1], existing[2], existing[3])
            self.conn.execute("UPDATE files SET hash = ?, size = ?, chunks = ? WHERE id = ?",
                              (digest, size, seq, file_id))
            self.conn.execute("RELEASE put_file")
        return FileInfo(digest.hex(), size, seq, media_type)

    def file_info(self, hexhash: str) -> FileInfo:
        rows = self._query("SELECT hash, size, chunks, media_type FROM files WHERE hash = ?",
                           (bytes.fromhex(hexhash),))
        if not rows:
            raise NotFound(f"File {hexhash} is not in the archive.")
        return FileInfo(rows[0][0].hex(), rows[0][1], rows[0][2], rows[0][3])

    def read_file(self, hexhash: str) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk (one chunk in memory at a time)."""
        rows = self._query("SELECT id, chunks FROM files WHERE hash = ?", (bytes.fromhex(hexhash),))
        if not rows:
            raise NotFound(f"File {hexhash} is not in the archive.")
        file_id, chunks = rows[0]
        for seq in range(chunks):
            got = self._query("SELECT data FROM file_chunks WHERE file_id = ? AND seq = ?",
                              (file_id, seq))
            if not got:
                raise ArchiveDamaged(f"Part {seq + 1} of file {hexhash} is missing from the "
                                     "archive; run 'exporter verify'.")
            yield bytes(got[0][0])

    def files_of(self, source: str, stream: str, record_id: str) -> dict[str, str]:
        """The files linked to the current version of a record: name -> SHA-256 hex."""
        sid = self._stream_id(source, stream, create=False)
        rows = self._query(
            "SELECT l.name, f.hash FROM versions v JOIN file_links l ON l.version_id = v.id "
            "JOIN files f ON f.id = l.file_id WHERE v.stream_id = ? AND v.record_id = ? "
            "AND v.superseded_run IS NULL", (sid, record_id))
        return {r[0]: r[1].hex() for r in rows}

    # -- restore id map --------------------------------------------------------------------

    def id_map(self, target: str, source: str | None = None, stream: str | None = None,
               target_object: str | None = None) -> list[IdMapEntry]:
        """The id-map rows of a restore target, optionally of one stream and target object."""
        sql = ("SELECT source, stream, source_id, target_object, target_id, hash FROM id_map "
               "WHERE target = ?")
        params: list[Any] = [target]
        for column, value in (("source", source), ("stream", stream),
                              ("target_object", target_object)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return [IdMapEntry(*r) for r in self._query(sql + " ORDER BY source_id", params)]

    def put_id_map(self, target: str, entries: Iterable[IdMapEntry],
                   run_id: int | None = None) -> None:
        """Insert or replace id-map rows (joins an open transaction, so a batch's rows commit
        with the rest of its bookkeeping)."""
        self._require_write()
        now = _now()
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO id_map (target, source, stream, source_id, "
                "target_object, target_id, hash, run_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(target, e.source, e.stream, e.source_id, e.target_object, e.target_id,
                  e.hash, run_id, now) for e in entries])

    def drop_id_map(self, target: str, entries: Iterable[IdMapEntry]) -> None:
        """Forget id-map rows (a pending write the target turned out not to hold)."""
        self._require_write()
        with self.transaction():
            self.conn.executemany(
                "DELETE FROM id_map WHERE target = ? AND source = ? AND stream = ? "
                "AND source_id = ? AND target_object = ?",
                [(target, e.source, e.stream, e.source_id, e.target_object) for e in entries])

    # -- audit log -------------------------------------------------------------------------

    def audit(self, action: str, detail: Mapping[str, Any] | None = None,
              run_id: int | None = None, actor: str | None = None) -> None:
        """Append an entry to the audit log (its own transaction unless one is open)."""
        with self.transaction():
            prev = self.conn.execute(
                "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = prev[0] if prev else b""
            entry = {"at": _now(), "actor": actor or _actor(), "action": action,
                     "detail": dict(detail or {}), "run_id": run_id}
            digest = hashlib.sha256(prev_hash + canonical_json(entry).encode()).digest()
            self.conn.execute(
                "INSERT INTO audit_log (at, actor, action, detail, run_id, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry["at"], entry["actor"], action, canonical_json(entry["detail"]), run_id,
                 prev_hash or None, digest))

    def audit_entries(self, action: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, at, actor, action, detail, run_id FROM audit_log"
        params: tuple[Any, ...] = ()
        if action:
            sql += " WHERE action = ? OR action LIKE ?"
            params = (action, action + ".%")
        rows = self._query(sql + " ORDER BY id", params)
        return [{"id": r[0], "at": r[1], "actor": r[2], "action": r[3],
                 "detail": json.loads(r[4]), "run_id": r[5]} for r in rows]

    # -- checks ----------------------------------------------------------------------------

    def verify(self, progress: Callable[[str], None] | None = None) -> list[str]:
        """Every check there is; returns the problems found, in plain words (empty = sound)."""
        say = progress or (lambda _msg: None)
        problems: list[str] = []
        try:
            say("checking page authentication (cipher_integrity_check)")
            for (row,) in self.conn.execute("PRAGMA cipher_integrity_check"):
                problems.append(f"encrypted page check: {row}")
            say("checking database structure (integrity_check)")
            rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
            if rows != ["ok"]:
                problems.extend(f"database structure: {r}" for r in rows[:20])
            say("checking every record version against its hash")
            problems.extend(self._verify_versions())
            say("checking every file is complete")
            problems.extend(self._verify_files())
            say("checking the audit log chain")
            problems.extend(self._verify_audit())
        except _DB_ERRORS as exc:
            problems.append(f"reading the archive failed: {exc}")
        return problems

    def _verify_versions(self) -> list[str]:
        problems = []
        for vid, rid, deleted, digest, text in self.conn.execute(
                "SELECT v.id, v.record_id, v.deleted, v.hash, v.data FROM versions v"):
            try:
                data = None if text is None else json.loads(text)
            except ValueError:
                problems.append(f"version {vid} of record {rid} does not decode")
                continue
            files = self.conn.execute(
                "SELECT l.name, f.hash FROM file_links l JOIN files f ON f.id = l.file_id "
                "WHERE l.version_id = ?", (vid,)).fetchall()
            rec = Record(rid, data, bool(deleted), {n: h.hex() for n, h in files} or None)
            if rec.content_hash()[0] != digest:
                problems.append(f"version {vid} of record {rid} does not match its hash")
        return problems

    def _verify_files(self) -> list[str]:
        problems = []
        for file_id, digest, size, chunks in self.conn.execute(
                "SELECT id, hash, size, chunks FROM files").fetchall():
            sha = hashlib.sha256()
            got = n = 0
            for seq, data in self.conn.execute(
                    "SELECT seq, data FROM file_chunks WHERE file_id = ? ORDER BY seq", (file_id,)):
                if seq != n:
                    break
                sha.update(data)
                got += len(data)
                n += 1
            if n != chunks or got != size:
                problems.append(f"file {digest.hex()[:12]} is incomplete ({n} of {chunks} parts)")
            elif sha.digest() != digest:
                problems.append(f"file {digest.hex()[:12]} does not match its hash")
        return problems

    def _verify_audit(self) -> list[str]:
        prev = b""
        for aid, at, actor, action, detail, run_id, prev_hash, digest in self.conn.execute(
                "SELECT id, at, actor, action, detail, run_id, prev_hash, hash FROM audit_log "
                "ORDER BY id"):
            entry = {"at": at, "actor": actor, "action": action, "detail": json.loads(detail),
                     "run_id": run_id}
            want = hashlib.sha256(prev + canonical_json(entry).encode()).digest()
            if (prev_hash or b"") != prev or digest != want:
                return [f"audit log entry {aid} was altered or an entry before it was removed"]
            prev = digest
        return []

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total


def _statements(script: str) -> Iterator[str]:
    """The complete SQL statements of a script, in order (triggers' inner ';' included)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def _rechunk(content: IO[bytes] | Iterable[bytes], size: int) -> Iterator[bytes]:
    """Chunks of exactly ``size`` bytes (the last may be shorter) from a stream or iterable."""
    if hasattr(content, "read"):
        reader: Any = content
        while True:
            block = reader.read(size)
            if not block:
                return
            while len(block) < size:  # short reads from pipes and sockets
                more = reader.read(size - len(block))
                if not more:
                    break
                block += more
            yield block
            if len(block) < size:
                return
    else:
        buf = bytearray()
        for piece in content:
            buf += piece
            while len(buf) >= size:
                yield bytes(buf[:size])
                del buf[:size]
        if buf:
            yield bytes(buf)
