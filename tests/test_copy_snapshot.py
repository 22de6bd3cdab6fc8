"""Copies are made through SQLite's backup API, not by reading the live file (issue 12,
point 8 and Deliver): a real SQLCipher archive past 1 GiB (where SQLite locks 512 bytes on
Windows, which plain reads of the file fail on), copied while another process holds a read
transaction on it (as a `print` or `status` running during the nightly copy would).

Reading the file needed a WAL checkpoint into the main file first, which that reader holds
off: the copy gave up with "busy". The backup reads the pages through SQLite, sees the
newest commit (still in the WAL) and needs no checkpoint.

The archive is built once per module: 1.1 GiB of random blobs, about 10-20 s here; the copy
(backup, fsync, hashing, read-back, quick_check) about as long again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.archive.database import connect
from exporter.copies import list_copies, make_copy
from exporter.dbfile import LOCKED_RANGE
from exporter.keys import KeyFile

MIB = 1024**2


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("big-archive")
    path, key = folder / "archive.db", folder / "archive.key"
    started = time.monotonic()
    archive, _recovery = Archive.create(path, key_file=key)
    with archive:
        conn = archive.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE padding (id INTEGER PRIMARY KEY, blob BLOB)")
        for _ in range(1100):
            conn.execute("INSERT INTO padding (blob) VALUES (randomblob(?))", (MIB,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size > LOCKED_RANGE[1] + 64 * MIB
    print(f"the 1.1 GiB archive took {time.monotonic() - started:.0f} s to build")
    yield path, key


def test_a_copy_past_1_gib_with_another_reader_open_is_a_verified_archive(
        big_archive: tuple[Path, Path], tmp_path: Path) -> None:
    path, key_file = big_archive
    dest = tmp_path / "usb"
    dest.mkdir()
    with Archive.open(path, KeyFile(key_file), write=True) as archive:
        reader = connect(path, archive.master.sqlcipher_key(archive.archive_id))
        try:
            reader.execute("BEGIN")  # another process's read, pinned at this state
            assert reader.execute("SELECT count(*) FROM padding").fetchone() == (1100,)
            archive.audit("newest", {"after": "the reader began"})  # only in the WAL now
            started = time.monotonic()
            result = make_copy(archive, KeyFile(key_file), dest, keep=2)
            took = time.monotonic() - started
            reader.execute("COMMIT")
        finally:
            reader.close()
    print(f"copy of {result.size / MIB:.0f} MiB made and verified in {took:.0f} s")
    folder = Path(result.folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json", "archive.db", "archive.db.keys"]  # no -wal, -shm or journal left
    assert (folder / "archive.db").stat().st_size > LOCKED_RANGE[1]
    [info] = list_copies(dest, check=True)
    assert info.problems == []
    manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["files"][0]["size"] == (folder / "archive.db").stat().st_size
    with Archive.open(folder / "archive.db", KeyFile(key_file)) as copy:
        assert copy.archive_id == archive.archive_id
        assert [e["detail"] for e in copy.audit_entries("newest")] == [
            {"after": "the reader began"}]  # the commit the reader did not see is there
        assert copy.conn.execute("SELECT count(*), sum(length(blob)) FROM padding"
                                 ).fetchone() == (1100, 1100 * MIB)
