"""The restore id map in the archive (format version 2, keyed by the target's identity too
since version 3) and the migrations from versions 1 and 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.archive import FORMAT_VERSION, Archive, IdMapEntry
from exporter.errors import ArchiveLocked, UnsupportedFormat
from exporter.keys import KeyFile
from exporter.lock import ArchiveLock


def _make_v1(archive_path: Path, key_path: Path) -> None:
    """A version-1 archive: today's schema with the version-2 additions taken away."""
    arc, _ = Archive.create(archive_path, key_file=key_path)
    run = arc.begin_run()
    arc.put_batch(run, "salesforce", "Account", [("001A", {"Name": "Ada"})])
    arc.finish_run(run, "ok")
    for later in ("id_map", "staff", "rendered_plans"):  # added by versions 2 and 4
        arc.conn.execute(f"DROP TABLE {later}")
    arc.conn.execute("PRAGMA user_version = 1")
    arc.close()


def test_format_version_is_4(archive: Archive) -> None:
    assert FORMAT_VERSION == 4
    assert archive.conn.execute("PRAGMA user_version").fetchone()[0] == 4


def test_v1_archive_is_migrated_by_a_writer_and_refused_read_only(
        archive_path: Path, key_path: Path) -> None:
    _make_v1(archive_path, key_path)
    with ArchiveLock(archive_path), pytest.raises(ArchiveLocked):
        Archive.open(archive_path, KeyFile(key_path), write=True)  # a sync is running: not now
    with pytest.raises(UnsupportedFormat, match=r"older exporter.*exporter sync"):
        Archive.open(archive_path, KeyFile(key_path))  # a reader never upgrades it
    with Archive.open(archive_path, KeyFile(key_path), write=True) as arc:  # a writer does
        assert arc.conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert [e["detail"] for e in arc.audit_entries("migrate")] == [
            {"migration": "restore_id_map", "to_version": 2},
            {"migration": "id_map_target_identity", "to_version": 3},
            {"migration": "desk_tables", "to_version": 4}]
        assert list(arc.records("salesforce", "Account")) == [("001A", {"Name": "Ada"})]
    with Archive.open(archive_path, KeyFile(key_path), write=True) as arc:
        arc.put_id_map("hs", [IdMapEntry("salesforce", "Account", "001A", "contacts", "51",
                                         "ab")])
        assert arc.verify() == []
        assert len(arc.audit_entries("migrate")) == 3  # not migrated twice
    with Archive.open(archive_path, KeyFile(key_path)) as ro:
        assert ro.id_map("hs")[0].target_id == "51"


def test_id_map_put_replace_filter_and_drop(archive: Archive) -> None:
    rows = [IdMapEntry("salesforce", "Account", str(i), "contacts", None, None)
            for i in range(3)]
    archive.put_id_map("hs", rows, run_id=None)
    assert all(e.target_id is None for e in archive.id_map("hs"))
    archive.put_id_map("hs", [IdMapEntry("salesforce", "Account", "1", "contacts", "77", "h1")])
    got = {e.source_id: e.target_id for e in archive.id_map("hs", "salesforce", "Account")}
    assert got == {"0": None, "1": "77", "2": None}
    assert archive.id_map("other") == []
    assert archive.id_map("hs", target_object="notes") == []
    archive.drop_id_map("hs", rows[:1])
    assert [e.source_id for e in archive.id_map("hs")] == ["1", "2"]


def test_id_map_rolls_back_with_its_transaction(archive: Archive) -> None:
    with pytest.raises(RuntimeError), archive.transaction():
        archive.put_id_map("hs", [IdMapEntry("s", "x", "1", "o", "9", "h")])
        raise RuntimeError("the batch's bookkeeping failed")
    assert archive.id_map("hs") == []


V2_ID_MAP = """CREATE TABLE id_map (
    target TEXT NOT NULL, source TEXT NOT NULL, stream TEXT NOT NULL,
    source_id TEXT NOT NULL, target_object TEXT NOT NULL, target_id TEXT, hash TEXT,
    run_id INTEGER REFERENCES runs (id), updated_at TEXT NOT NULL,
    PRIMARY KEY (target, source, stream, source_id, target_object)) WITHOUT ROWID"""


def test_v2_id_map_is_migrated_with_its_rows_kept_for_any_identity(tmp_path: Path) -> None:
    from exporter.archive.format import layout, reference_schema

    arc, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    arc.conn.execute("DROP TABLE id_map")
    arc.conn.execute(V2_ID_MAP)
    arc.conn.execute("CREATE INDEX id_map_by_target_id ON id_map (target, target_object, "
                     "target_id)")
    arc.conn.execute("INSERT INTO id_map VALUES ('hs', 'salesforce', 'Account', '001A', "
                     "'contacts', '51', 'ab', NULL, '2026-12-01T00:00:00Z')")
    arc.conn.execute("DROP TABLE staff")  # version 4's tables
    arc.conn.execute("DROP TABLE rendered_plans")
    arc.conn.execute("PRAGMA user_version = 2")
    arc.close()
    with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as arc:
        assert layout(arc.conn) == reference_schema().layout
        assert [e.target_id for e in arc.id_map("hs")] == ["51"]
        assert arc.id_map_identities("hs") == [""]  # written before identities were kept
        assert arc.id_map("hs", identity="hubspot:portal/7") == []
        assert arc.adopt_id_map("hs", "hubspot:portal/7") == 1
        assert [e.target_id for e in arc.id_map("hs", identity="hubspot:portal/7")] == ["51"]


def test_one_name_keeps_a_map_per_target_identity(archive: Archive) -> None:
    row = IdMapEntry("salesforce", "Account", "001A", "contacts", "51", "ab")
    archive.put_id_map("hs", [row], identity="hubspot:portal/1")
    archive.put_id_map("hs", [IdMapEntry(*{**row.__dict__, "target_id": "9"}.values())],
                       identity="hubspot:portal/2")
    assert [e.target_id for e in archive.id_map("hs", identity="hubspot:portal/1")] == ["51"]
    assert [e.target_id for e in archive.id_map("hs", identity="hubspot:portal/2")] == ["9"]
    archive.drop_id_map("hs", [row], identity="hubspot:portal/1")
    assert archive.id_map_identities("hs") == ["hubspot:portal/2"]
