"""Crash safety (SIGKILL at random moments) and the single-writer lock."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.errors import ArchiveLocked
from exporter.keys import KeyFile

WRITER = Path(__file__).with_name("crash_writer.py")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def _start(archive: Path, key: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(WRITER), str(archive), str(key), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() in ("writing", "holding"), proc.stderr.read() if proc.stderr else ""
    return proc


def test_sigkill_at_random_moments_never_leaves_a_partial_batch(
        archive: Archive, archive_path: Path, key_path: Path) -> None:
    archive.close()
    rng = random.Random(2026)
    kills = 0
    for _ in range(22):
        proc = _start(archive_path, key_path, "write")
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        with Archive.open(archive_path, KeyFile(key_path), write=True) as arc:
            # The killed run is marked interrupted once a writer opens the archive.
            assert all(r.status != "running" for r in arc.runs())
            assert arc.verify() == []
            cursor = arc.get_cursor("crash", "batches")
            records = dict(arc.records("crash", "batches"))
            if cursor is None:
                assert records == {}
                continue
            last = cursor["batch"]
            assert records.pop("counter") == {"batch": last}
            by_batch: dict[int, list[dict[str, object]]] = collections.defaultdict(list)
            for data in records.values():
                assert data is not None
                by_batch[int(data["batch"])].append(data)  # type: ignore[call-overload]
            # Every committed batch is whole, with its cursor; nothing beyond the cursor.
            assert sorted(by_batch) == list(range(last + 1))
            for rows in by_batch.values():
                assert len(rows) == rows[0]["size"]
    assert kills >= 20
    with Archive.open(archive_path, KeyFile(key_path)) as arc:
        assert arc.verify() == []
        assert sum(r.status == "interrupted" for r in arc.runs()) == kills


def test_second_writer_is_refused_and_a_dead_holders_lock_is_taken_over(
        archive: Archive, archive_path: Path, key_path: Path, run_cli: object) -> None:
    archive.close()
    proc = _start(archive_path, key_path, "hold")
    try:
        with pytest.raises(ArchiveLocked) as caught:
            Archive.open(archive_path, KeyFile(key_path), write=True)
        assert f"in use by PID {proc.pid}" in str(caught.value)
        # Readers are not blocked.
        with Archive.open(archive_path, KeyFile(key_path)) as reader:
            assert reader.runs() == []
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # The holder died without unlocking: its lock is taken over.
    with Archive.open(archive_path, KeyFile(key_path), write=True) as arc:
        assert arc.writable


def test_cli_reports_the_lock_with_its_exit_code(run_cli) -> None:  # type: ignore[no-untyped-def]
    run_cli.init()
    proc = _start(run_cli.archive, run_cli.key_file, "hold")
    try:
        result = run_cli("keys", "add", "--key-file", str(run_cli.tmp / "second.key"))
        assert result.exit_code == 5
        assert f"in use by PID {proc.pid}" in result.output
        assert "Traceback" not in result.output
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
