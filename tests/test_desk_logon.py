"""``exporter desk --install-at-logon``: the desk started by itself like the nightly job
(Task Scheduler at logon, a launchd agent, cron @reboot), planned purely and installed end to
end against the stand-in crontab program of tests/test_schedule.py."""

from __future__ import annotations

import plistlib
import sys
import xml.etree.ElementTree as ET

import pytest

from exporter.desk.logon import (
    MARKER,
    desk_argv,
    launch_agent_plist,
    logon_task_xml,
    plan_reboot,
    reboot_line,
)
from tests.conftest import Cli
from tests.test_schedule import FAKE_CRONTAB, OTHER_LINES

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def test_the_windows_task_starts_the_desk_at_logon_with_no_time_limit() -> None:
    argv = [r"C:\Program Files\exporter\exporter.exe", "--config", r"C:\Users\office\c.toml",
            "desk", "--lan"]
    text = logon_task_xml(argv, r"OFFICE\maria")
    root = ET.fromstring(text.split("\n", 1)[1])  # noqa: S314 (our own text)
    trigger = root.find("t:Triggers/t:LogonTrigger", NS)
    assert trigger is not None and trigger.findtext("t:UserId", namespaces=NS) == \
        r"OFFICE\maria"
    assert root.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT0S"
    assert root.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == argv[0]
    assert root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) == \
        r"--config C:\Users\office\c.toml desk --lan"


def test_the_mac_agent_runs_at_load_and_logs() -> None:
    plist = plistlib.loads(launch_agent_plist(["/usr/local/bin/exporter", "desk"], "/tmp/d.log"))
    assert plist["RunAtLoad"] is True and plist["ProgramArguments"][-1] == "desk"
    assert plist["StandardErrorPath"] == "/tmp/d.log"


def test_the_cron_line_is_replaced_and_removed_leaving_other_lines() -> None:
    line = reboot_line(["/opt/exporter", "--config", "/home/o/100% sure.toml", "desk"],
                       "/home/o/logs/desk.log")
    assert line.startswith("@reboot /opt/exporter --config '/home/o/100\\% sure.toml' desk")
    assert line.endswith(MARKER)
    table = plan_reboot(OTHER_LINES, line)
    assert table == OTHER_LINES + "\n" + line + "\n"
    assert plan_reboot(table, line).count(MARKER) == 1
    assert plan_reboot(table, None) == OTHER_LINES + "\n"
    assert desk_argv("/c.toml", 8443, True)[-6:] == ["--config", "/c.toml", "desk", "--port",
                                                     "8443", "--lan"]


@pytest.mark.skipif(sys.platform == "win32", reason="cron is not on Windows")
def test_install_and_remove_through_the_command(run_cli: Cli,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    run_cli.init(passphrase=None)
    bin_dir = run_cli.tmp / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "crontab").write_text(FAKE_CRONTAB)
    (bin_dir / "crontab").chmod(0o755)
    table = run_cli.tmp / "crontab.txt"
    table.write_bytes(OTHER_LINES.encode())
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(table))
    with run_cli.config.open("a") as fh:
        fh.write(f'\n[log]\ndir = "{(run_cli.tmp / "logs").as_posix()}"\n')
    done = run_cli("desk", "--install-at-logon", "--lan")
    assert done.exit_code == 0, done.output
    assert "starts with this computer" in done.output
    text = table.read_bytes().decode()
    assert text.startswith(OTHER_LINES)
    (ours,) = [x for x in text.splitlines() if x.endswith(MARKER)]
    assert ours.startswith("@reboot ") and f"--config {run_cli.config} desk --lan" in ours
    removed = run_cli("desk", "--remove-from-logon")
    assert removed.exit_code == 0 and "no longer starts" in removed.output
    assert table.read_bytes().decode() == OTHER_LINES + "\n"
