"""Files are stored once per content hash, in bounded chunks, whole or not at all."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Iterator

import pytest

from exporter.archive import CHUNK_SIZE, Archive, Record


def _stream(total: int, block: int = 256 * 1024) -> Iterator[bytes]:
    seed = hashlib.sha256(b"seed").digest()
    for i in range(0, total, block):
        yield (seed * (block // 32 + 1))[: min(block, total - i)]


def test_file_round_trip_and_dedup(archive: Archive) -> None:
    run = archive.begin_run()
    body = bytes(range(256)) * 20_000  # ~5 MB, not a multiple of the chunk size
    info = archive.put_file(run, io.BytesIO(body), media_type="application/pdf")
    assert info.size == len(body) and info.hash == hashlib.sha256(body).hexdigest()
    assert info.chunks == -(-len(body) // CHUNK_SIZE)
    again = archive.put_file(run, [body[:100], body[100:]])
    assert again.hash == info.hash
    assert archive.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    assert b"".join(archive.read_file(info.hash)) == body
    archive.put_batch(run, "salesforce", "ContentVersion",
                      [Record("068A", {"Title": "Care plan"}, files={"VersionData": info.hash})])
    assert archive.files_of("salesforce", "ContentVersion", "068A") == {"VersionData": info.hash}
    assert archive.verify() == []


def test_memory_stays_flat_for_a_large_file(archive: Archive) -> None:
    run = archive.begin_run()
    total = 64 * 1024 * 1024
    tracemalloc.start()
    try:
        info = archive.put_file(run, _stream(total))
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        size = sum(len(c) for c in archive.read_file(info.hash))
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total
    # A few chunks' worth, whatever the file's size (64 MB here).
    assert peak_write < 8 * CHUNK_SIZE, peak_write
    assert peak_read < 8 * CHUNK_SIZE, peak_read


def test_a_failing_stream_leaves_no_partial_file(archive: Archive) -> None:
    run = archive.begin_run()

    def broken() -> Iterator[bytes]:
        yield b"x" * (3 * CHUNK_SIZE)
        raise ConnectionError("network dropped")

    with pytest.raises(ConnectionError):
        archive.put_file(run, broken())
    assert archive.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert archive.conn.execute("SELECT count(*) FROM file_chunks").fetchone()[0] == 0
