"""What every part of an open archive shares: the keyed connection and its sqlite-utils
``Database``, the write lock, transactions, and the (source, stream) ids."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from exporter.archive.database import DB_ERRORS, database, translated
from exporter.keys import KeySlots, MasterKey
from exporter.lock import ArchiveLock

__all__ = ["ArchiveBase"]


class ArchiveBase:
    """The connection and its bookkeeping; :class:`exporter.archive.Archive` adds the rest.

    sqlite-utils is used only inside :meth:`transaction` (``BEGIN IMMEDIATE`` under our write
    lock), where its own ``atomic()`` becomes a savepoint: it never opens a deferred
    transaction of its own on the archive."""

    def __init__(self, path: Path, conn: Any, archive_id: str, slots: KeySlots,
                 master: MasterKey, lock: ArchiveLock | None) -> None:
        self.path = path
        self.conn = conn
        self.db = database(conn)
        self.archive_id = archive_id
        self.slots = slots
        self.master = master
        self._lock = lock
        self._stream_ids: dict[tuple[str, str], int] = {}
        self._in_txn = False
        #: Opened immutable from read-only media: nothing can be written, not even the audit log.
        self.read_only_media = False

    def close(self) -> None:
        try:
            with contextlib.suppress(*DB_ERRORS):
                self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Self:
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
        with translated(self.path):
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_txn = True
            try:
                yield
            except BaseException:
                self._in_txn = False
                with contextlib.suppress(*DB_ERRORS):
                    self.conn.execute("ROLLBACK")
                raise
            self._in_txn = False
            self.conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with translated(self.path):
            return list(self.conn.execute(sql, params).fetchall())

    def _stream_id(self, source: str, stream: str, create: bool = True) -> int | None:
        key = (source, stream)
        if key in self._stream_ids:
            return self._stream_ids[key]
        rows = self._query("SELECT id FROM streams WHERE source = ? AND stream = ?", key)
        if rows:
            self._stream_ids[key] = int(rows[0][0])
        elif create:
            with self.transaction():
                table = self.db.table("streams").insert({"source": source, "stream": stream})
            self._stream_ids[key] = int(table.last_rowid or 0)
        else:
            return None
        return self._stream_ids[key]

    def streams(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in
                self._query("SELECT source, stream FROM streams ORDER BY source, stream")]

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total
