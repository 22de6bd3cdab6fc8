"""Files (attachments, Drive documents): stored once per SHA-256, in chunks, in one
transaction, and linked to the record versions that refer to them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from exporter.archive.base import ArchiveBase
from exporter.archive.database import now
from exporter.errors import ArchiveDamaged, NotFound

__all__ = ["CHUNK_SIZE", "FileInfo", "Files", "link_files", "rechunk", "verify_files"]

CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    hash: str  # SHA-256, hex
    size: int
    chunks: int
    media_type: str | None


class Files(ArchiveBase):
    def put_file(self, run_id: int | None, content: IO[bytes] | Iterable[bytes],
                 media_type: str | None = None) -> FileInfo:
        """Store a file from a stream or an iterable of byte strings, in chunks, in one
        transaction. Memory stays bounded by the chunk size; a file already stored (same
        SHA-256) is kept once."""
        self._require_write()
        sha = hashlib.sha256()
        size = seq = 0
        with self.transaction():
            self.conn.execute("SAVEPOINT put_file")
            placeholder = os.urandom(32)  # the real hash is known only at the end
            file_id = self.db.table("files").insert({
                "hash": placeholder, "size": 0, "chunks": 0, "media_type": media_type,
                "first_run": run_id, "stored_at": now()}).last_rowid
            for chunk in rechunk(content, CHUNK_SIZE):
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

    def files_of(self, source: str, stream: str, record_id: str,
                 as_of: int | None = None) -> dict[str, str]:
        """The files linked to the current version of a record, or to the version it had as
        of run ``as_of``: name -> SHA-256 hex."""
        sid = self._stream_id(source, stream, create=False)
        if as_of is None:
            when, params = "v.superseded_run IS NULL", [sid, record_id]
        else:
            when = "v.first_run <= ? AND (v.superseded_run IS NULL OR v.superseded_run > ?)"
            params = [sid, record_id, as_of, as_of]
        rows = self._query(
            "SELECT l.name, f.hash FROM versions v JOIN file_links l ON l.version_id = v.id "
            "JOIN files f ON f.id = l.file_id WHERE v.stream_id = ? AND v.record_id = ? "
            f"AND {when}", params)
        return {r[0]: r[1].hex() for r in rows}


def link_files(archive: ArchiveBase, sid: int | None, record_id: str,
               files: Mapping[str, str]) -> None:
    """Link the current version of a record to stored files (inside the batch's transaction)."""
    conn = archive.conn
    vid = conn.execute("SELECT id FROM versions WHERE stream_id = ? AND record_id = ? "
                       "AND superseded_run IS NULL", (sid, record_id)).fetchone()[0]
    links = []
    for name, hexhash in files.items():
        row = conn.execute("SELECT id FROM files WHERE hash = ?",
                           (bytes.fromhex(hexhash),)).fetchone()
        if row is None:
            raise NotFound(f"File {hexhash} is not in the archive; store it before the record.")
        links.append({"version_id": vid, "name": name, "file_id": row[0]})
    archive.db.table("file_links").insert_all(links)


def verify_files(conn: Any) -> list[str]:
    """Every file's chunks are all there, in order, and hash to the file's SHA-256."""
    problems = []
    for file_id, digest, size, chunks in conn.execute(
            "SELECT id, hash, size, chunks FROM files").fetchall():
        sha = hashlib.sha256()
        got = n = 0
        for seq, data in conn.execute(
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


def rechunk(content: IO[bytes] | Iterable[bytes], size: int) -> Iterator[bytes]:
    """Chunks of exactly ``size`` bytes (the last may be shorter) from a stream or iterable."""
    if hasattr(content, "read"):
        yield from _read_chunks(content, size)
        return
    buf = bytearray()
    for piece in content:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _read_chunks(reader: Any, size: int) -> Iterator[bytes]:
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
