"""Issue 15: the audit log's head is anchored outside the archive (in the authenticated .keys
file, and in each copy's manifest), so removing entries and re-chaining the rest, or putting
back an older archive, is found by verify; export writes its audit entry before its files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.errors import ArchiveLocked
from exporter.export import export_archive
from exporter.keys import KeyFile
from exporter.record import canonical_json
from tests.conftest import Cli


def _rechain(arc: Archive) -> None:
    """What a key holder can do inside the archive: recompute every hash after a deletion."""
    prev = b""
    rows = arc.conn.execute("SELECT id, at, actor, action, detail, run_id FROM audit_log "
                            "ORDER BY id").fetchall()
    arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for aid, at, actor, action, detail, run_id in rows:
        entry = {"at": at, "actor": actor, "action": action, "detail": json.loads(detail),
                 "run_id": run_id}
        digest = hashlib.sha256(prev + canonical_json(entry).encode()).digest()
        arc.conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?",
                         (prev or None, digest, aid))
        prev = digest


def test_a_truncated_and_rechained_audit_log_is_found_by_verify(run_cli: Cli) -> None:
    run_cli.init()
    for _ in range(3):
        assert run_cli("keys", "add", "--key-file",
                       str(run_cli.tmp / f"k{_}.key")).exit_code == 0
    assert run_cli("verify").exit_code == 0
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        triggers = [r[0] for r in arc.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")]
        arc.conn.execute("BEGIN IMMEDIATE")
        _rechain(arc)  # drops the append-only triggers first
        last = arc.conn.execute("SELECT max(id) FROM audit_log").fetchone()[0]
        arc.conn.execute("DELETE FROM audit_log WHERE id >= ?", (last - 1,))
        _rechain(arc)
        for sql in triggers:
            arc.conn.execute(sql)
        arc.conn.execute("COMMIT")
        arc._lock.release()  # leave without anchoring: the attacker's tool is not exporter
        arc._lock = None
    result = run_cli("verify")
    assert result.exit_code != 0, result.output
    assert "audit log has" in result.output and "entries were removed" in result.output


def test_export_writes_its_audit_entry_before_its_file(run_cli: Cli, tmp_path: Path) -> None:
    run_cli.init()
    out = tmp_path / "out"
    out.mkdir()
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as reader, \
            Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as writer:
        reader.conn.execute("PRAGMA busy_timeout = 50")
        writer.conn.execute("BEGIN IMMEDIATE")  # the audit entry cannot be written now
        try:
            with pytest.raises(ArchiveLocked):
                export_archive(reader, "jsonl", out / "x.jsonl")
        finally:
            writer.conn.execute("ROLLBACK")
    assert list(out.iterdir()) == []  # no plaintext without its audit entry


def test_each_copy_manifest_records_the_audit_head(run_cli: Cli) -> None:
    run_cli.init()
    dest = run_cli.tmp / "usb"
    dest.mkdir()
    assert run_cli("copy", "--to", str(dest)).exit_code == 0
    [folder] = [p for p in dest.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        entries = arc.audit_entries()
    head = manifest["audit_head"]
    assert head["entries"] >= 1 and head["entries"] <= len(entries)
    assert len(head["hash"]) == 64
