"""`exporter status`: its first line says whether the archive is backed up (local time), and
`status --check` exits non-zero for monitoring when it is not."""

from __future__ import annotations

import os
import re
import time
import tomllib
from collections.abc import Iterator

import pytest

from exporter.archive import Archive, Record
from exporter.config import write_config
from exporter.keys import KeyFile
from tests.conftest import Cli


@pytest.fixture
def zone() -> Iterator[str]:
    """This machine in a made-up zone five hours behind UTC (a POSIX TZ: no tzdata needed)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "XYZ+5"
    time.tzset()
    yield "XYZ"
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def _sync_run(cli_: Cli, status: str = "ok") -> str:
    """A sync run of one source, as the nightly job records it; returns its UTC start."""
    with Archive.open(cli_.archive, KeyFile(cli_.key_file), write=True) as arc:
        run = arc.begin_run("sync")
        arc.put_batch(run, "salesforce", "Account", [Record("001", {"Name": "Sunrise"})])
        source = "ok" if status == "ok" else "failed"
        arc.finish_run(run, status, stats={"sources": {"salesforce": {"status": source}}},
                       error=None if status == "ok" else "salesforce: the password was refused")
        return str(arc.runs()[0].started_at)


def _edit(cli_: Cli, change: dict[str, object]) -> None:
    data = tomllib.loads(cli_.config.read_text())
    data.update(change)
    write_config(cli_.config, data)


def test_fresh_data_says_backed_up_as_of_local_time(run_cli: Cli, zone: str) -> None:
    run_cli.init()
    started = _sync_run(run_cli)
    result = run_cli("status", "--check")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Backed up as of ") and first.endswith("every source synced.")
    assert zone in first and "UTC" not in result.output
    # The run started at `started` (UTC); the line shows it five hours earlier.
    utc_hour = int(started[11:13])
    shown = re.search(r"started \d{4}-\d\d-\d\d (\d\d):\d\d XYZ", result.output)
    assert shown is not None and int(shown.group(1)) == (utc_hour - 5) % 24


def test_stale_data_exits_18(run_cli: Cli) -> None:
    run_cli.init()
    _sync_run(run_cli)
    _edit(run_cli, {"archive": {**tomllib.loads(run_cli.config.read_text())["archive"],
                                "stale_after_hours": 0.0002}})
    time.sleep(1.0)
    result = run_cli("status", "--check")
    assert result.exit_code == 18, result.output
    assert result.output.startswith("NOT backed up since ")
    assert run_cli("status").exit_code == 0  # without --check: a report, not a verdict


def test_no_sync_yet_exits_18(run_cli: Cli) -> None:
    run_cli.init()
    result = run_cli("status", "--check")
    assert result.exit_code == 18, result.output
    assert result.output.startswith("NOT backed up yet")


def test_a_copy_overdue_exits_14(run_cli: Cli) -> None:
    run_cli.init()
    _sync_run(run_cli)
    usb = run_cli.tmp / "usb"
    usb.mkdir()
    _edit(run_cli, {"copies": [{"name": "usb", "path": str(usb)}]})
    result = run_cli("status", "--check")
    assert result.exit_code == 14, result.output
    first = result.output.splitlines()[0]
    assert "the copy to usb is overdue (none has been made yet)" in first
    assert run_cli("copy").exit_code == 0
    result = run_cli("status", "--check")
    assert result.exit_code == 0, result.output
    assert "its copy is up to date" in result.output.splitlines()[0]


def test_a_failed_last_run_exits_12(run_cli: Cli) -> None:
    run_cli.init()
    _sync_run(run_cli)
    _sync_run(run_cli, "failed")
    result = run_cli("status", "--check")
    assert result.exit_code == 12, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Backed up as of ") and "FAILED" in first
    assert "the password was refused" in first
