"""The archive format and its migrations: only a writer upgrades an older archive, a reader
refuses it and writes nothing; a migrated archive has exactly the layout archive_schema.sql
declares; sqlite-utils works over the SQLCipher connection, its traps guarded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exporter.archive import _DB_ERRORS, FORMAT_VERSION, MIGRATIONS, Archive, IdMapEntry
from exporter.archive.format import layout, migrations_from, reference_schema
from exporter.errors import DiskFull, UnsupportedFormat
from exporter.keys import KeyFile
from exporter.lock import lock_path_for


def _make_v1(archive_path: Path, key_path: Path) -> None:
    arc, _ = Archive.create(archive_path, key_file=key_path)
    run = arc.begin_run()
    arc.put_batch(run, "salesforce", "Account", [("001A", {"Name": "Ada"})])
    arc.finish_run(run, "ok")
    for later in ("id_map", "staff", "rendered_plans"):  # added by versions 2 and 4
        arc.conn.execute(f"DROP TABLE {later}")
    arc.conn.execute("PRAGMA user_version = 1")
    arc.close()


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_read_only_open_refuses_an_older_archive_and_writes_nothing(
        archive_path: Path, key_path: Path) -> None:
    _make_v1(archive_path, key_path)
    lock_path_for(archive_path).unlink()
    before = _snapshot(archive_path.parent)
    with pytest.raises(UnsupportedFormat, match=r"version 1, from an older exporter"):
        Archive.open(archive_path, KeyFile(key_path))
    assert _snapshot(archive_path.parent) == before  # no lock file, no WAL, no byte changed
    with Archive.open(archive_path, KeyFile(key_path), write=True) as arc:
        assert arc.conn.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION


def test_a_migrated_archive_has_the_layout_of_a_new_one(tmp_path: Path) -> None:
    _make_v1(tmp_path / "old.db", tmp_path / "old.key")
    with Archive.open(tmp_path / "old.db", KeyFile(tmp_path / "old.key"), write=True) as old:
        migrated = layout(old.conn)
    new, _ = Archive.create(tmp_path / "new.db", key_file=tmp_path / "new.key")
    with new:
        assert layout(new.conn) == migrated == reference_schema().layout
    assert "id_map" in migrated


def test_migrations_are_named_in_order_and_end_at_the_format_version() -> None:
    assert [m.to_version for m in MIGRATIONS] == list(range(2, FORMAT_VERSION + 1))
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    assert [m.name for m in migrations_from(1)] == ["restore_id_map", "id_map_target_identity",
                                                 "desk_tables"]
    assert migrations_from(FORMAT_VERSION) == []
    with pytest.raises(UnsupportedFormat, match="cannot upgrade"):
        migrations_from(0)


def test_transform_over_sqlcipher_keeps_triggers_and_refuses_without_rowid(
        archive: Archive) -> None:
    schema = reference_schema()
    run = archive.begin_run()
    archive.put_batch(run, "s", "t", [("1", {"a": 1})])
    with archive.transaction():
        schema.transform(archive.db, "runs", defaults={"kind": "sync"})
        schema.transform(archive.db, "audit_log", types={"actor": str})
    assert archive.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert archive.run(run).kind == "sync"
    assert list(archive.records("s", "t")) == [("1", {"a": 1})]
    with pytest.raises(_DB_ERRORS, match="append-only"):  # the triggers were made again
        archive.conn.execute("DELETE FROM audit_log")
    assert archive.verify() == []
    with pytest.raises(ValueError, match="WITHOUT ROWID"), archive.transaction():
        schema.transform(archive.db, "id_map", types={"hash": str})


def test_a_full_disk_inside_sqlite_utils_is_disk_full_and_writes_nothing(
        archive: Archive) -> None:
    archive.put_id_map("hs", [IdMapEntry("s", "t", "0", "o", "9", "h")])
    pages = archive.conn.execute("PRAGMA page_count").fetchone()[0]
    archive.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    rows = [IdMapEntry("s", "t", f"{i:06d}", "o", "x" * 200, "h") for i in range(2000)]
    with pytest.raises(DiskFull, match=r"disk .* is full"):
        archive.put_id_map("hs", rows)  # upsert_all raises sqlcipher3's own error class
    assert [e.source_id for e in archive.id_map("hs")] == ["0"]
    archive.conn.execute("PRAGMA max_page_count = 1073741823")
    archive.put_id_map("hs", rows)
    assert len(archive.id_map("hs")) == 2001
