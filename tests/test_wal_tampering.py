"""A damaged byte in the write-ahead log never silently drops committed data: SQLite would
take the first failing frame as the end of the log, so every open (and so ``verify``) checks
the log first and refuses it, leaving the files as they are. What a kill leaves is accepted."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.errors import ArchiveDamaged
from exporter.keys import KeyFile
from tests.conftest import Cli

WRITER = Path(__file__).resolve().parents[1] / "reliability" / "wal_child.py"
BATCHES = 6


def _killed_writer(cli: Cli) -> Path:
    """An archive whose last BATCHES batches live only in its WAL (the writer was killed)."""
    arc, _ = Archive.create(cli.archive, key_file=cli.key_file)
    arc.close()
    cli.config.write_text(f'[archive]\npath = "{cli.archive}"\nkey_file = "{cli.key_file}"\n')
    subprocess.run([sys.executable, str(WRITER), str(cli.archive), str(cli.key_file),
                    str(BATCHES), "b"], check=False, timeout=120)
    wal = Path(f"{cli.archive}-wal")
    assert wal.stat().st_size > 32 + 4 * 4120
    return wal


def _frames(wal: Path) -> list[tuple[int, int]]:
    """(offset, commit size) of each whole frame."""
    data = wal.read_bytes()
    page = struct.unpack(">I", data[8:12])[0]
    out = []
    for off in range(32, len(data) - page - 23, page + 24):
        out.append((off, struct.unpack(">I", data[off + 4:off + 8])[0]))
    return out


def _flip(wal: Path, offset: int, zeros: int | None = None) -> None:
    """Change the byte at ``offset``, or set ``zeros`` bytes from there to zero."""
    data = bytearray(wal.read_bytes())
    if zeros is None:
        data[offset] ^= 0x5A
    else:
        assert any(data[offset:offset + zeros])
        data[offset:offset + zeros] = bytes(zeros)
    wal.write_bytes(bytes(data))


def _where(wal: Path, name: str) -> tuple[int, int | None]:
    frames = _frames(wal)
    commits = [off for off, commit in frames if commit]
    first, last = frames[0][0], commits[-1]
    return {
        "header": (12, None),                        # checkpoint sequence (checksummed)
        "first frame page": (first + 24 + 100, None),
        "middle frame page": (frames[len(frames) // 2][0] + 24 + 2000, None),
        "last commit page": (last + 24 + 4000, None),
        "last commit page number": (last + 3, None),
        "last commit mark removed": (last + 4, 4),
        "last commit checksum": (last + 17, None),
        "last commit salt": (last + 9, None),
    }[name]


def test_a_killed_writers_wal_is_accepted_and_keeps_every_batch(run_cli: Cli) -> None:
    _killed_writer(run_cli)
    result = run_cli("verify")
    assert result.exit_code == 0, result.output
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.get_cursor("wal", "batches") == {"batch": BATCHES - 1}


@pytest.mark.parametrize("where", [
    "header", "first frame page", "middle frame page", "last commit page",
    "last commit page number", "last commit mark removed", "last commit checksum",
    "last commit salt"])
def test_a_damaged_byte_in_the_wal_is_reported_not_dropped(run_cli: Cli, where: str) -> None:
    wal = _killed_writer(run_cli)
    offset, zeros = _where(wal, where)
    _flip(wal, offset, zeros)
    before = wal.read_bytes()
    result = run_cli("verify")
    assert result.exit_code == 6, result.output
    assert "write-ahead log" in result.output and "second copy" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ArchiveDamaged, match="write-ahead log"):
        Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True)
    assert run_cli("status").exit_code == 6
    assert wal.read_bytes() == before  # left as it was: nothing folded in, nothing dropped


def test_frames_an_earlier_log_left_behind_are_accepted(run_cli: Cli) -> None:
    """SQLite rewrites the log from its start after a checkpoint and cuts the file only when
    that first transaction commits: a kill in between leaves the earlier log's frames behind
    the new ones. That is where SQLite's log ends, not damage."""
    earlier = _killed_writer(run_cli).read_bytes()
    Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True).close()  # checkpoint
    subprocess.run([sys.executable, str(WRITER), str(run_cli.archive), str(run_cli.key_file),
                    "2", "b"], check=False, timeout=120)
    wal = Path(f"{run_cli.archive}-wal")
    later = wal.read_bytes()
    assert later[16:24] != earlier[16:24] and len(later) < len(earlier)  # a new log, shorter
    wal.write_bytes(later + earlier[len(later):])
    result = run_cli("verify")
    assert result.exit_code == 0, result.output
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.get_cursor("wal", "batches") == {"batch": 1}  # the later log's last commit
        assert arc.current("wal", "batches", f"b{BATCHES - 1}-0") is not None  # the earlier's


def test_a_commit_of_this_log_after_an_earlier_logs_frame_is_reported(run_cli: Cli) -> None:
    wal = _killed_writer(run_cli)
    frames = _frames(wal)
    data = bytearray(wal.read_bytes())
    middle = frames[len(frames) // 2][0]
    data[middle + 8:middle + 16] = bytes(8)  # its salts, and its checksum too, now foreign
    data[middle + 16:middle + 24] = bytes(8)
    wal.write_bytes(bytes(data))
    result = run_cli("verify")
    assert result.exit_code == 6, result.output
    assert "write-ahead log" in result.output
