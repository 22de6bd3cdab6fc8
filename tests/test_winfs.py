"""Renames that another process's handle makes fail for a moment (issue 12 point 9): on
Windows OneDrive, Defender and the indexer open fresh files, and a rename fails with
PermissionError until they let go. A renamer that meets that a given number of times, then
renames for real."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.winfs import Renamer, hide


class HeldForAMoment(Renamer):
    def __init__(self, failures: int, really_pause: bool = False) -> None:
        self.failures = failures
        self.really_pause = really_pause
        self.attempts = 0
        self.pauses: list[float] = []

    def rename(self, src: Path, dst: Path) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise PermissionError(32, "The process cannot access the file because it is being "
                                      "used by another process")
        super().rename(src, dst)

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if self.really_pause:
            super().pause(seconds)


def _partial(tmp_path: Path) -> tuple[Path, Path]:
    partial = tmp_path / ".partial-abc-20261130-023000-42"
    partial.mkdir()
    (partial / "archive.db").write_bytes(b"ciphertext")
    return partial, tmp_path / "archive-20261130-023000"


def test_a_rename_held_a_few_times_is_retried_with_growing_pauses(tmp_path: Path) -> None:
    partial, final = _partial(tmp_path)
    renamer = HeldForAMoment(failures=3, really_pause=True)
    started = time.monotonic()
    renamer.replace(partial, final)
    assert renamer.attempts == 4 and renamer.pauses == [0.05, 0.1, 0.2]
    assert time.monotonic() - started >= 0.35  # it really waited between attempts
    assert (final / "archive.db").read_bytes() == b"ciphertext" and not partial.exists()


def test_a_rename_held_for_good_gives_up_after_about_eight_seconds(tmp_path: Path) -> None:
    partial, final = _partial(tmp_path)
    renamer = HeldForAMoment(failures=1000)
    with pytest.raises(PermissionError):
        renamer.replace(partial, final)
    assert renamer.attempts == len(Renamer.delays) + 1
    assert renamer.pauses == sorted(renamer.pauses) and 6 <= sum(renamer.pauses) <= 10
    assert partial.exists() and not final.exists()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    renamer = HeldForAMoment(failures=0)
    with pytest.raises(FileNotFoundError):
        renamer.replace(tmp_path / "missing", tmp_path / "b")
    assert renamer.attempts == 1 and renamer.pauses == []


def test_hide_leaves_a_folder_usable(tmp_path: Path) -> None:
    partial, _ = _partial(tmp_path)
    hide(partial)  # FILE_ATTRIBUTE_HIDDEN on Windows; the leading dot elsewhere
    assert (partial / "archive.db").read_bytes() == b"ciphertext"


# -- point 12: files replaced while another process has them open --------------------------


def test_a_private_file_held_a_few_times_is_replaced_after_retries(tmp_path: Path) -> None:
    """Keys, config and notify state are all written by write_private_file."""
    from exporter.keys import write_private_file

    path = tmp_path / "notify-state.json"
    write_private_file(path, b"old")
    renamer = HeldForAMoment(failures=3)
    write_private_file(path, b"new", renamer=renamer)
    assert path.read_bytes() == b"new" and renamer.attempts == 4
    assert renamer.pauses == [0.05, 0.1, 0.2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notify-state.json"]  # no temp left
    held = HeldForAMoment(failures=1000)
    with pytest.raises(PermissionError):
        write_private_file(path, b"newer", renamer=held)
    assert held.attempts == len(Renamer.delays) + 1
    assert path.read_bytes() == b"new"  # the old content stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notify-state.json"]


def _immutable(path: Path, on: bool) -> bool:
    """``chattr +i``: the kernel then refuses a rename over the file with EPERM (a
    PermissionError, as Windows gives for a held file) until it is cleared."""
    import shutil
    import subprocess

    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, "+i" if on else "-i", str(path)], capture_output=True)
    return done.returncode == 0


def test_the_config_replaced_while_the_os_refuses_for_a_moment(tmp_path: Path) -> None:
    """No stand-in at all: the OS itself refuses the rename over the config for 0.3 s (an
    immutable file, where chattr is allowed), as Windows does while Defender or a second
    exporter holds it; write_config rides it out."""
    import threading

    from exporter.config import write_config

    path = tmp_path / "config.toml"
    write_config(path, {"archive": {"path": "a.db"}})
    if not _immutable(path, True):
        pytest.skip("chattr +i is not allowed here (needs CAP_LINUX_IMMUTABLE)")
    release = threading.Timer(0.3, _immutable, (path, False))
    release.start()
    try:
        write_config(path, {"archive": {"path": "b.db"}})
    finally:
        release.join()
        _immutable(path, False)
    assert 'path = "b.db"' in path.read_text(encoding="utf-8")
