"""Every folder exporter makes for something private is owner-only (0700), whatever the umask:
the config's and the key file's folders made by ``init`` (the key file's is the "private
folder" the README tells the office to keep it in), a folder for a new key file, and the
folders that prints, exports and drill reports are written into. A folder that was already
there is left as it was. The real command line, synced from the sandbox over loopback."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes (ACLs: test_acl)"),
              pytest.mark.usefixtures("open_umask")]


@pytest.fixture
def synced(run_cli: Cli) -> Iterator[Cli]:
    run_cli.config = run_cli.tmp / "home" / ".config" / "exporter" / "config.toml"
    run_cli.key_file = run_cli.tmp / "home" / "private" / "exporter" / "archive.key"
    with Sandbox(clients=3, seed=4) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        assert run_cli("sync").exit_code == 0
        yield run_cli


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def _new_folders(top: Path, below: Path) -> dict[str, str]:
    """``top`` and every folder from it up to (not including) ``below``, with its mode."""
    found = {}
    for folder in (top, *top.parents):
        if folder == below:
            return found
        found[str(folder.relative_to(below))] = _mode(folder)
    raise AssertionError(f"{top} is not below {below}")


def test_init_makes_the_config_and_key_file_folders_owner_only(synced: Cli) -> None:
    home = synced.tmp / "home"
    assert _new_folders(synced.config.parent, home) == {
        ".config/exporter": "0o700", ".config": "0o700"}
    assert _new_folders(synced.key_file.parent, home) == {
        "private/exporter": "0o700", "private": "0o700"}
    spare = synced.tmp / "spare" / "archive.key"
    assert synced("keys", "add", "--key-file", str(spare)).exit_code == 0
    assert _mode(spare.parent) == "0o700"


def test_prints_exports_and_drill_reports_go_into_owner_only_folders(synced: Cli) -> None:
    tmp = synced.tmp
    existing = tmp / "Documents"
    existing.mkdir(mode=0o755)
    plan = tmp / "prints" / "monday" / "plan.html"
    result = synced("print", "C-00001", "--format", "html", "--out", str(plan))
    assert result.exit_code == 0, result.output
    binder = tmp / "binder" / "split"
    result = synced("print", "--all", "--split", "--format", "html", "--out", str(binder))
    assert result.exit_code == 0, result.output
    exports = tmp / "exports" / "today"
    result = synced("export", "--format", "csv", "--out", str(exports))
    assert result.exit_code == 0, result.output
    result = synced("export", "--format", "jsonl", "--stream", "salesforce/Account", "--out",
                    str(existing / "accounts.jsonl"))
    assert result.exit_code == 0, result.output
    usb = tmp / "usb"
    usb.mkdir()
    with synced.config.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[[copies]]\nname = "usb"\npath = "{usb.as_posix()}"\n')
    assert synced("copy").exit_code == 0
    reports = tmp / "drills" / "2026"
    result = synced("drill", "--report-dir", str(reports))
    assert result.exit_code == 0, result.output
    made = {}
    for folder in (plan.parent, binder, exports, reports):
        made.update(_new_folders(folder, tmp))
    assert made == dict.fromkeys(["prints/monday", "prints", "binder/split", "binder",
                                  "exports/today", "exports", "drills/2026", "drills"], "0o700")
    assert _mode(existing) == "0o755"  # the user's own folder is left as it was
