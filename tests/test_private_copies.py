"""Copies and fetched archives are owner-only (issue 15): a copy folder written into a shared
USB disk or NAS folder, and an archive fetched back from a folder or an object store, are 0600
files in 0700 folders, whatever the umask; other accounts of the computer cannot read them.
Real files, the real command line, the S3 emulator over loopback."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.test_copies import PASSPHRASE, _fill
from tests.test_copies_s3 import ENV, S3, _add_s3_copy, s3  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes (ACLs: test_acl)"),
              pytest.mark.usefixtures("open_umask")]


@pytest.fixture
def filled(run_cli: Cli) -> Cli:
    run_cli.init(passphrase=PASSPHRASE)
    _fill(run_cli)
    return run_cli


def _modes(top: Path) -> dict[str, str]:
    """Every file and folder under ``top`` (itself included) and its permission bits."""
    found = {".": oct(stat.S_IMODE(top.stat().st_mode))}
    for path in top.rglob("*"):
        found[str(path.relative_to(top))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def _private(modes: dict[str, str], top: Path) -> list[str]:
    """What in ``modes`` other accounts could read or enter."""
    return [f"{name} {mode}" for name, mode in modes.items()
            if int(mode, 8) & 0o077 or (name != "." and (top / name).is_file()
                                        and int(mode, 8) != 0o600)]


def test_a_folder_copy_is_owner_only(filled: Cli) -> None:
    dest = filled.tmp / "nas-share"
    dest.mkdir(mode=0o777)
    result = filled("copy", "--to", str(dest))
    assert result.exit_code == 0, result.output
    [folder] = [p for p in dest.iterdir() if p.is_dir()]
    modes = _modes(folder)
    assert sorted(modes) == [".", "MANIFEST.json", "archive.db", "archive.db.keys"]
    assert _private(modes, folder) == []
    assert modes["."] == "0o700"


def test_a_fetched_copy_is_owner_only_in_a_new_or_an_existing_folder(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    assert filled("copy", "--to", str(dest)).exit_code == 0
    new = filled.tmp / "new-pc" / "exporter"
    result = filled("copy", "--fetch", "latest", "--to", str(dest), "--into", str(new))
    assert result.exit_code == 0, result.output
    assert _private(_modes(new), new) == []
    assert stat.S_IMODE(new.parent.stat().st_mode) == 0o700  # created by the fetch too

    existing = filled.tmp / "Documents"
    existing.mkdir(mode=0o755)
    result = filled("copy", "--fetch", "latest", "--to", str(dest), "--into", str(existing))
    assert result.exit_code == 0, result.output
    modes = _modes(existing)
    assert modes.pop(".") == "0o755"  # the user's own folder is left as it was
    assert modes == {"archive.db": "0o600", "archive.db.keys": "0o600"}


def test_an_archive_fetched_from_an_object_store_is_owner_only(filled: Cli,
                                                               s3: S3) -> None:  # noqa: F811
    endpoint, _creds, _emulator = s3
    _add_s3_copy(filled, endpoint)
    assert filled("copy", env=ENV).exit_code == 0
    existing = filled.tmp / "restored"
    existing.mkdir(mode=0o755)
    result = filled("copy", "--fetch", "latest", "--to", "b2", "--into", str(existing), env=ENV)
    assert result.exit_code == 0, result.output
    modes = _modes(existing)
    modes.pop(".")
    assert modes == {"archive.db": "0o600", "archive.db.keys": "0o600"}
