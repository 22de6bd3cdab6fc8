"""A full disk ends a write with DiskFull and leaves the archive as it was.

SQLite reports a full disk as SQLITE_FULL; ``PRAGMA max_page_count`` makes the same error
happen at a chosen size, which is how this test fills the "disk"."""

from __future__ import annotations

import io

import pytest

from exporter.archive import Archive, Record
from exporter.errors import DiskFull


def test_disk_full_mid_batch_leaves_the_archive_as_it_was(archive: Archive) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "s", "t", [Record(str(i), {"i": i}) for i in range(100)],
                      cursor={"i": 100})
    before = archive.counts()
    pages = archive.conn.execute("PRAGMA page_count").fetchone()[0]
    archive.conn.execute(f"PRAGMA max_page_count = {pages + 5}")
    big = [Record(f"big{i}", {"text": "x" * 2000}) for i in range(500)]
    with pytest.raises(DiskFull, match=r"disk .* is full"):
        archive.put_batch(run, "s", "t", big, cursor={"i": 600})
    with pytest.raises(DiskFull):
        archive.put_file(run, io.BytesIO(b"y" * 3_000_000))
    assert archive.counts() == before
    assert archive.get_cursor("s", "t") == {"i": 100}
    archive.conn.execute("PRAGMA max_page_count = 1073741823")
    assert archive.verify() == []
    # Space is back: the same batch goes in whole.
    assert archive.put_batch(run, "s", "t", big).new == 500
