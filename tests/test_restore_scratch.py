"""Issue 15: restored attachments never pass through a place another account could reach. The
CSV target writes each file to a new, randomly named ``.part`` file beside it (O_EXCL, 0600,
no symlink followed), so a symlink planted at the old fixed ``.part`` name redirects nothing;
the HubSpot writer, whose SDK uploads from a path, never uses the shared temporary folder
(here made unusable: any file created there would fail). Real SQLCipher archives, the HubSpot
SDK over loopback to the sandbox."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive, Record
from exporter.private_files import scratch_root
from exporter.restore import load_mapping, run_restore
from exporter.restore.csv_target import CsvWriter
from exporter.restore.target import build_writer
from sandbox import Sandbox
from tests.test_restore_vendors import _sync, _target

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")
PLAN = b"%PDF-1.4 care plan of a client"


@pytest.fixture
def no_temp_folder(tmp_path: Path) -> Iterator[Path]:
    """The shared temporary folder replaced by a plain file: anything that tries to create a
    file or folder there fails at once."""
    blocker = tmp_path / "not-a-temp-folder"
    blocker.write_text("")
    before = tempfile.tempdir
    tempfile.tempdir = str(blocker)
    try:
        yield blocker
    finally:
        tempfile.tempdir = before


@posix_only
def test_a_symlink_planted_at_the_part_path_is_not_followed(archive: Archive,
                                                            tmp_path: Path) -> None:
    run = archive.begin_run()
    info = archive.put_file(run, [PLAN], "application/pdf")
    archive.put_batch(run, "salesforce", "ContentVersion", [Record(
        "068A", {"Id": "068A", "Title": "Plan", "PathOnClient": "plan.pdf"},
        files={"VersionData": info.hash})])
    archive.finish_run(run, "ok")
    out = tmp_path / "restored"
    folder = out / "files" / "ContentVersion"
    folder.mkdir(parents=True)
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"not yours")
    (folder / "068A-plan.pdf.part").symlink_to(victim)

    old = os.umask(0o022)
    try:
        report = run_restore(archive, CsvWriter("all", {"path": str(out)}, {}),
                             load_mapping("any_to_csv"), target="all")
    finally:
        os.umask(old)
    assert report.status == "ok"
    assert victim.read_bytes() == b"not yours"
    dest = folder / "068A-plan.pdf"
    assert not dest.is_symlink() and dest.read_bytes() == PLAN
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["068A-plan.pdf", "068A-plan.pdf.part"]


def test_a_hubspot_restore_with_files_never_uses_the_temporary_folder(
        tmp_path: Path, no_temp_folder: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    with archive, Sandbox(clients=2, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        _sync(archive, src, "salesforce", tmp_path)
        assert list(archive.records("salesforce", "ContentVersion"))
        writer = build_writer("hs", _target(dst, "hubspot", tmp_path), tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="hs")
        assert report.status == "ok", report.errors[:3]
        assert archive.id_map("hs", "salesforce", "ContentVersion")
    assert no_temp_folder.is_file()
    assert stat.S_IMODE(scratch_root().stat().st_mode) & 0o077 == 0
