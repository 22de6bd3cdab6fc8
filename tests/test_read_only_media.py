"""An archive on read-only media (a write-protected copy) can be read: status, verify, print,
export, history and keys list work, and write nothing beside it; sync, key changes and copy
say plainly that it cannot be changed (exit 16) instead of an unexpected error.

The folder is made read-only for real: a read-only tmpfs mount when the tests run as root
(root ignores file modes), else ``chmod 0555``. As root without the right to mount, the
tests are skipped and say why."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive, Record
from exporter.errors import NotWritable
from exporter.keys import KeyFile
from tests.conftest import Cli
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)


@contextlib.contextmanager
def read_only_copy(folder: Path) -> Iterator[Path]:
    """The files of ``folder`` in a folder nobody can write to (the tests' user included)."""
    target = folder.with_name(folder.name + "-ro")
    target.mkdir()
    if os.geteuid() != 0:
        for f in folder.iterdir():
            shutil.copy2(f, target / f.name)
        target.chmod(0o555)
        try:
            yield target
        finally:
            target.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(target)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("running as root, which ignores file modes, and mount is not allowed: "
                    "no read-only folder can be made here")
    try:
        for f in folder.iterdir():
            shutil.copy2(f, target / f.name)
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


@pytest.fixture
def write_protected(run_cli: Cli) -> Iterator[Path]:
    """A read-only copy of an archive with one run, and a config file pointing at it."""
    src = run_cli.tmp / "archive"
    src.mkdir()
    arc, _ = Archive.create(src / "archive.db", key_file=run_cli.key_file)
    run = arc.begin_run()
    arc.put_batch(run, "salesforce", "Account", [Record("001A", {"Name": "Ada Lovelace"})],
                  cursor={"at": 1})
    arc.finish_run(run, "ok")
    arc.close()
    with read_only_copy(src) as ro:
        run_cli.config.write_text(
            f'[archive]\npath = "{ro / "archive.db"}"\nkey_file = "{run_cli.key_file}"\n\n'
            f'[[copies]]\npath = "{run_cli.tmp / "copies"}"\n', encoding="utf-8")
        (run_cli.tmp / "copies").mkdir()
        yield ro


def test_a_write_protected_archive_can_be_read(run_cli: Cli, write_protected: Path) -> None:
    before = sorted(p.name for p in write_protected.iterdir())
    for args in (["status"], ["verify"], ["keys", "list"],
                 ["history", "salesforce", "Account", "001A"]):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert "Ada Lovelace" in run_cli("history", "salesforce", "Account", "001A").output
    out = run_cli.tmp / "export.jsonl"
    result = run_cli("export", "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Ada Lovelace" in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in write_protected.iterdir()) == before


def test_changing_a_write_protected_archive_is_refused_plainly(
        run_cli: Cli, write_protected: Path) -> None:
    for args in (["keys", "add", "--key-file", str(run_cli.tmp / "second.key")],
                 ["keys", "recovery"], ["copy"]):
        result = run_cli(*args)
        assert result.exit_code == 16, (args, result.output)
        assert "read-only media" in result.output and "unexpected" not in result.output
    with pytest.raises(NotWritable, match="read-only media"):
        Archive.open(write_protected / "archive.db", KeyFile(run_cli.key_file), write=True)


def test_a_killed_writers_changes_on_read_only_media_are_refused_not_ignored(
        run_cli: Cli) -> None:
    """An immutable open would read the main file only: the -wal file's commits would be
    missing from what is shown, so the open is refused and says what to do."""
    src = run_cli.tmp / "archive"
    src.mkdir()
    arc, _ = Archive.create(src / "archive.db", key_file=run_cli.key_file)
    arc.close()
    writer = Path(__file__).resolve().parents[1] / "reliability" / "wal_child.py"
    subprocess.run([sys.executable, str(writer), str(src / "archive.db"),
                    str(run_cli.key_file), "3", "b"], check=False, timeout=120)
    with read_only_copy(src) as ro:
        run_cli.config.write_text(f'[archive]\npath = "{ro / "archive.db"}"\n'
                                  f'key_file = "{run_cli.key_file}"\n', encoding="utf-8")
        result = run_cli("status")
        assert result.exit_code == 16, result.output
        assert "writable folder" in result.output


def test_care_plans_print_from_a_write_protected_copy(run_cli: Cli, agency: Agency) -> None:  # noqa: F811
    """The README's promise: print from the copy on a write-protected USB disk."""
    src = run_cli.tmp / "usb"
    src.mkdir()
    for name in ("a.db", "a.db.keys"):
        shutil.copy2(agency.dir / name, src / name)
    key = agency.dir / "a.key"
    with read_only_copy(src) as ro:
        run_cli.config.write_text(f'[archive]\npath = "{ro / "a.db"}"\nkey_file = "{key}"\n',
                                  encoding="utf-8")
        pdf = run_cli.tmp / "plan.pdf"
        result = run_cli("print", "C-00001", "--out", str(pdf))
        assert result.exit_code == 0, result.output
        assert pdf.read_bytes().startswith(b"%PDF")
        assert sorted(p.name for p in ro.iterdir()) == ["a.db", "a.db.keys"]
