"""Records and their versions, the cursors committed with them, and schema snapshots.

The hot path (:meth:`Records.put_batch`) writes versions with a plain ``executemany`` rather
than sqlite-utils' ``insert_all``, and its cursor with a plain upsert statement rather than
``table.upsert()``: docs/design.md ("sqlite-utils in the archive") has the figures from
bench/archive.py. Lookups by many ids are cut into statements of at most
sqlite-utils' ``SQLITE_MAX_VARS`` variables, the limit its ``insert_all`` sizes batches by.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils.db import SQLITE_MAX_VARS
from sqlite_utils.utils import chunks

from exporter.archive.base import ArchiveBase
from exporter.archive.database import now, translated
from exporter.archive.files import link_files
from exporter.errors import NotFound
from exporter.record import Record, canonical_json

__all__ = ["KEEP", "BatchResult", "Records", "Version", "verify_versions"]

KEEP: Any = object()  # "leave the cursor as it is"
_Prepared = dict[str, tuple[Record, bytes, str | None]]


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


@dataclass
class _Changes:
    """What a batch writes: versions superseded, new versions, file links."""

    supersede: list[tuple[int, int]]
    inserts: list[tuple[Any, ...]]
    links: list[tuple[str, Mapping[str, str]]]


def _prepare(records: Iterable[Record | tuple[str, Mapping[str, Any] | None]]) -> _Prepared:
    prepared: _Prepared = {}
    for item in records:
        rec = item if isinstance(item, Record) else Record(str(item[0]), item[1])
        digest, text = rec.content_hash()
        prepared[str(rec.id)] = (rec, digest, text)  # the last of duplicate ids wins
    return prepared


def _classify(prepared: _Prepared, current: dict[str, tuple[int, bytes]], sid: int | None,
              run_id: int, result: BatchResult) -> _Changes:
    """Compare each record with its current version; count and collect what changed."""
    changes = _Changes([], [], [])
    seen_at = now()
    for rid, (rec, digest, text) in prepared.items():
        cur = current.get(rid)
        if cur is not None and cur[1] == digest:
            result.unchanged += 1
            continue
        if cur is None and rec.deleted and rec.data is None:
            continue  # nothing known about it, nothing to tombstone
        if cur is not None:
            changes.supersede.append((run_id, cur[0]))
        if rec.deleted:
            result.deleted += 1
        elif cur is None:
            result.new += 1
        else:
            result.changed += 1
        changes.inserts.append((sid, rid, run_id, int(rec.deleted), digest, text, seen_at))
        if rec.files:
            changes.links.append((rid, rec.files))
    return changes


class Records(ArchiveBase):
    def put_batch(self, run_id: int, source: str, stream: str,
                  records: Iterable[Record | tuple[str, Mapping[str, Any] | None]],
                  cursor: Any = KEEP) -> BatchResult:
        """Store a batch of records for (source, stream) and, in the same transaction, the
        stream's cursor. Only changed records get a new version."""
        self._require_write()
        prepared = _prepare(records)
        result = BatchResult()
        with self.transaction():
            sid = self._stream_id(source, stream)
            changes = _classify(prepared, self._current_hashes(sid, list(prepared)), sid,
                                run_id, result)
            if changes.supersede:
                self.conn.executemany("UPDATE versions SET superseded_run = ? WHERE id = ?",
                                      changes.supersede)
            if changes.inserts:
                self.conn.executemany(
                    "INSERT INTO versions (stream_id, record_id, first_run, deleted, hash, data, "
                    "seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)", changes.inserts)
            for rid, files in changes.links:
                link_files(self, sid, rid, files)
            if cursor is not KEEP:
                self.conn.execute(
                    "INSERT INTO cursors (stream_id, value, run_id, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                    "value = excluded.value, run_id = excluded.run_id, "
                    "updated_at = excluded.updated_at",
                    (sid, canonical_json(cursor), run_id, now()))
        return result

    def _current_hashes(self, sid: int | None, ids: list[str]) -> dict[str, tuple[int, bytes]]:
        out: dict[str, tuple[int, bytes]] = {}
        for chunk in chunks(ids, SQLITE_MAX_VARS - 1):  # one variable is the stream id
            some = list(chunk)
            marks = ",".join("?" * len(some))
            for vid, rid, digest in self.conn.execute(
                f"SELECT id, record_id, hash FROM versions WHERE stream_id = ? "
                f"AND superseded_run IS NULL AND record_id IN ({marks})", [sid, *some]):
                out[rid] = (vid, digest)
        return out

    def tombstone(self, run_id: int, source: str, stream: str, ids: Iterable[str],
                  cursor: Any = KEEP) -> BatchResult:
        """Mark records deleted (e.g. found missing by an id reconciliation)."""
        return self.put_batch(run_id, source, stream,
                              [Record(str(i), None, deleted=True) for i in ids], cursor=cursor)

    def get_cursor(self, source: str, stream: str) -> Any:
        sid = self._stream_id(source, stream, create=False)
        rows = self._query("SELECT value FROM cursors WHERE stream_id = ?", (sid,))
        return json.loads(rows[0][0]) if rows else None

    # -- resume marks: where a dependency stream must be read again from -------------------
    # Kept in archive_meta under "resume:" + canonical JSON [source, stream], value
    # {"cursor": ...}: the stream's cursor before the first run whose dependent streams did
    # not all finish (docs/design.md, "Streams that depend on others").

    def resume_marks(self, source: str) -> dict[str, Any]:
        """{stream: the cursor it had before its dependents were last left unfinished}."""
        out: dict[str, Any] = {}
        for key, value in self._query("SELECT key, value FROM archive_meta "
                                      "WHERE substr(key, 1, 7) = 'resume:'"):
            src, stream = json.loads(key[7:])
            if src == source:
                out[stream] = json.loads(value)["cursor"]
        return out

    def set_resume_mark(self, source: str, stream: str, cursor: Any) -> None:
        """Remember ``cursor`` unless a mark is already kept (the older one wins)."""
        self._require_write()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO archive_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                ("resume:" + canonical_json([source, stream]),
                 canonical_json({"cursor": cursor})))

    def clear_resume_mark(self, source: str, stream: str) -> None:
        self._require_write()
        with self.transaction():
            self.conn.execute("DELETE FROM archive_meta WHERE key = ?",
                              ("resume:" + canonical_json([source, stream]),))

    # -- source state: what a connector keeps between runs besides cursors (describes) --
    # Kept in archive_meta under "state:" + canonical JSON [source, key].

    def source_state(self, source: str, key: str) -> Any:
        """The value a connector kept under ``key`` (None if none)."""
        rows = self._query("SELECT value FROM archive_meta WHERE key = ?",
                           ("state:" + canonical_json([source, key]),))
        return json.loads(rows[0][0]) if rows else None

    def set_source_state(self, source: str, key: str, value: Any) -> None:
        self._require_write()
        with self.transaction():
            self.conn.execute("INSERT INTO archive_meta (key, value) VALUES (?, ?) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                              ("state:" + canonical_json([source, key]), canonical_json(value)))

    # -- failed items: records a vendor refused in part, tried again on later runs ------

    def failed_items(self, source: str, stream: str) -> dict[str, str]:
        """{record id: the vendor's reason} of the stream's items still to be tried again."""
        rows = self._query("SELECT value FROM archive_meta WHERE key = ?",
                           ("failed:" + canonical_json([source, stream]),))
        return dict(json.loads(rows[0][0])) if rows else {}

    def set_failed_items(self, source: str, stream: str, items: Mapping[str, str]) -> None:
        self._require_write()
        key = "failed:" + canonical_json([source, stream])
        with self.transaction():
            if items:
                self.conn.execute("INSERT INTO archive_meta (key, value) VALUES (?, ?) "
                                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                  (key, canonical_json(dict(items))))
            else:
                self.conn.execute("DELETE FROM archive_meta WHERE key = ?", (key,))

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
        with translated(self.path):
            cur = self.conn.execute(f"SELECT record_id, data FROM versions WHERE stream_id = ? "
                                    f"AND {where} ORDER BY record_id", params)
            for rid, text in cur:
                yield rid, (None if text is None else json.loads(text))

    def deletions(self, source: str, stream: str, as_of: int | None = None
                  ) -> dict[str, tuple[int, str, bool]]:
        """{record id: (run, its start time, whether the tombstone kept vendor data)} of the
        records deleted now (or as of run ``as_of``)."""
        sid = self._stream_id(source, stream, create=False)
        if sid is None:
            return {}
        if as_of is None:
            where, params = "v.superseded_run IS NULL", [sid]
        else:
            where = "v.first_run <= ? AND (v.superseded_run IS NULL OR v.superseded_run > ?)"
            params = [sid, as_of, as_of]
        rows = self._query(
            f"SELECT v.record_id, v.first_run, r.started_at, v.data IS NOT NULL FROM versions v "
            f"JOIN runs r ON r.id = v.first_run WHERE v.stream_id = ? AND v.deleted = 1 "
            f"AND {where}", params)
        return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}

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

    # -- schema snapshots: the shape the data had, per run, stored once per hash ---------

    def put_schema(self, run_id: int, source: str, stream: str, schema: Any) -> None:
        self._require_write()
        text = canonical_json(schema)
        digest = hashlib.sha256(text.encode()).digest()
        with self.transaction():
            sid = self._stream_id(source, stream)
            self.db.table("schema_blobs").insert({"hash": digest, "data": text}, ignore=True)
            self.db.table("schema_snapshots").insert(
                {"run_id": run_id, "stream_id": sid, "hash": digest}, replace=True)

    def get_schema(self, source: str, stream: str, as_of: int | None = None) -> Any:
        sid = self._stream_id(source, stream, create=False)
        rows = self._query(
            "SELECT b.data FROM schema_snapshots s JOIN schema_blobs b ON b.hash = s.hash "
            "WHERE s.stream_id = ? AND s.run_id <= ? ORDER BY s.run_id DESC LIMIT 1",
            (sid, as_of if as_of is not None else 2**62))
        return json.loads(rows[0][0]) if rows else None


def verify_versions(conn: Any) -> list[str]:
    """Every version's hash recomputed from its data and linked files."""
    problems = []
    for vid, rid, deleted, digest, text in conn.execute(
            "SELECT v.id, v.record_id, v.deleted, v.hash, v.data FROM versions v"):
        try:
            data = None if text is None else json.loads(text)
        except ValueError:
            problems.append(f"version {vid} of record {rid} does not decode")
            continue
        files = conn.execute(
            "SELECT l.name, f.hash FROM file_links l JOIN files f ON f.id = l.file_id "
            "WHERE l.version_id = ?", (vid,)).fetchall()
        rec = Record(rid, data, bool(deleted), {n: h.hex() for n, h in files} or None)
        if rec.content_hash()[0] != digest:
            problems.append(f"version {vid} of record {rid} does not match its hash")
    return problems
