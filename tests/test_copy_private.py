"""A copy in a folder is as private as the archive it copies: its dated folder 0700, the
encrypted archive and its .keys file 0600 (found by the reliability campaign's canaries: they
were left 0644 for anyone on the computer or the share to take)."""

from __future__ import annotations

import stat
import sys

import pytest

from tests.conftest import Cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes (ACLs on Windows)")


def test_a_folder_copy_is_readable_by_its_owner_only(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    dest = run_cli.tmp / "usb"
    dest.mkdir()
    result = run_cli("copy", "--to", str(dest))
    assert result.exit_code == 0, result.output
    (copy,) = [p for p in dest.iterdir() if p.is_dir()]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o700
    for name in ("archive.db", "archive.db.keys"):
        assert stat.S_IMODE((copy / name).stat().st_mode) == 0o600, name
