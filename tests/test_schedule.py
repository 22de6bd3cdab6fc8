"""`exporter schedule`: the pure planners for cron and Task Scheduler, and the real cron path
end to end against a stand-in `crontab` program (a real executable first on PATH that keeps
the table in a file), with a real archive and key file."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exporter.cli import State
from exporter.cli_schedule import schedule
from exporter.config import default_config_path
from exporter.schedule import (
    Job,
    find_cron_line,
    marker,
    parse_time,
    plan_cron,
    plan_cron_removal,
    plan_schtasks,
    program_argv,
    task_xml,
    windows_quote,
)
from tests.conftest import Cli

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="cron is not on Windows")

OTHER_LINES = (
    "# m h  dom mon dow   command\n"
    "MAILTO=office@sunrise-homecare.example\n"
    "PATH=/usr/local/bin:/usr/bin:/bin\n"
    "*/5 * * * * /usr/bin/backup --quiet   \n"   # trailing spaces kept
    "\n"
    "0 7 * * 1 echo 'Montag: Café' \\% > /dev/null\r\n"  # CRLF, non-ASCII, an escaped %
    "@reboot /opt/thing/start"                        # the last line has no newline
)


def _job(**overrides: object) -> Job:
    values: dict[str, object] = dict(
        program=("/opt/exporter/.venv/bin/exporter",), config="/home/office/config.toml",
        hour=2, minute=30, log="/home/office/.local/state/exporter/log/exporter-nightly.log")
    values.update(overrides)
    return Job(**values)  # type: ignore[arg-type]


# -- time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("02:30", (2, 30)), ("2:05", (2, 5)),
                                                ("00:00", (0, 0)), ("23:59", (23, 59))])
def test_times_on_a_24_hour_clock(text: str, expected: tuple[int, int]) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "2:60", "2.30", "0230", "2:30pm", "", "12:5"])
def test_other_times_are_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM on a 24-hour clock"):
        parse_time(text)


# -- cron planner -------------------------------------------------------------------------


def test_our_line_runs_this_exporter_with_the_config_and_appends_to_the_log() -> None:
    line = plan_cron("", _job()).line
    assert line == ("30 2 * * * /opt/exporter/.venv/bin/exporter --config "
                    "/home/office/config.toml sync >> "
                    "/home/office/.local/state/exporter/log/exporter-nightly.log 2>&1 "
                    "# exporter-nightly (managed by 'exporter schedule')")


@posix_only
def test_paths_with_spaces_an_apostrophe_and_percent_survive_cron_and_sh(tmp_path: Path) -> None:
    folder = tmp_path / "O'Brien's Files" / "50% done"
    folder.mkdir(parents=True)
    program = folder / "exporter"
    program.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    program.chmod(0o755)
    config = folder / "my config.toml"
    log = folder / "night log.txt"
    job = _job(program=(str(program),), config=str(config), log=str(log))
    line = plan_cron("", job).line
    assert line is not None
    # What cron does with the line: drop the five time fields, turn \% into %; then sh runs it.
    command = line.split(" ", 5)[5].replace("\\%", "%")
    assert "%" not in line.replace("\\%", "")  # every % is escaped for cron
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=10)
    assert log.read_text().splitlines() == ["--config", str(config), "sync"]


@posix_only
def test_the_nightly_output_goes_to_a_file_named_by_the_day(tmp_path: Path) -> None:
    """The cron output is never one file that grows forever: the shell names it by the day
    (the same date format as exporter's own log files), whatever the folder's name holds."""
    folder = tmp_path / "O'Brien's logs 100%"
    folder.mkdir()
    program = tmp_path / "exporter"
    program.write_text('#!/bin/sh\necho "ran $*"\n')
    program.chmod(0o755)
    job = _job(program=(str(program),), log=str(folder / "exporter-nightly-{date}.log"))
    line = plan_cron("", job).line
    assert line is not None and "%" not in line.replace("\\%", "")
    command = line.split(" ", 5)[5].replace("\\%", "%")
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=10)
    day = dt.date.today().isoformat()
    assert [p.name for p in folder.iterdir()] == [f"exporter-nightly-{day}.log"]
    assert "ran --config" in (folder / f"exporter-nightly-{day}.log").read_text()


def test_other_crontab_lines_are_kept_byte_for_byte() -> None:
    plan = plan_cron(OTHER_LINES, _job())
    assert plan.old_line is None and plan.line is not None
    assert plan.text == OTHER_LINES + "\n" + plan.line + "\n"
    assert plan_cron_removal(plan.text).text == OTHER_LINES + "\n"


def test_a_second_run_replaces_our_line_where_it_stood() -> None:
    first = plan_cron(OTHER_LINES, _job())
    assert first.line is not None
    middle = first.text.replace("@reboot", f"{first.line}\n@reboot", 1)  # ours moved up
    middle = middle[: -len(first.line) - 1]  # and only once
    second = plan_cron(middle, _job(hour=3, minute=15))
    assert second.old_line == first.line
    assert second.changed
    assert second.line is not None and second.line.startswith("15 3 * * * ")
    assert second.text == middle.replace(first.line, second.line)
    assert second.text.count(marker()) == 1
    assert not plan_cron(second.text, _job(hour=3, minute=15)).changed


def test_duplicates_of_our_line_collapse_into_one() -> None:
    line = plan_cron("", _job()).line
    plan = plan_cron(f"{line}\n0 1 * * * other\n{line}\n", _job(minute=45))
    assert plan.text == f"{plan.line}\n0 1 * * * other\n"


def test_removal_leaves_every_other_line_and_other_tasks() -> None:
    theirs = plan_cron("", _job(task_name="exporter-second")).line
    ours = plan_cron("", _job()).line
    disabled = f"# {ours}"  # a line someone commented out is theirs now
    existing = f"{OTHER_LINES}\n{theirs}\n{ours}\n{disabled}\n"
    plan = plan_cron_removal(existing)
    assert plan.old_line == ours
    assert plan.text == f"{OTHER_LINES}\n{theirs}\n{disabled}\n"
    assert find_cron_line(plan.text, "exporter-second") == theirs
    assert plan_cron_removal(plan.text).old_line is None


# -- Task Scheduler planner -----------------------------------------------------------------

WIN_PROGRAM = r"C:\Program Files\Sunrise Exporter\.venv\Scripts\exporter.exe"
WIN_CONFIG = r"C:\Users\Mary O'Neil\AppData\Local\exporter\exporter\config.toml"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def _win_job(**overrides: object) -> Job:
    values: dict[str, object] = {"program": (WIN_PROGRAM,), "config": WIN_CONFIG,
                                 "log": "unused", **overrides}
    return _job(**values)


def test_schtasks_argument_lists_and_the_quoted_command_line() -> None:
    plan = plan_schtasks(_win_job(), r"C:\Temp\exporter-nightly.xml", r"OFFICE\mary")
    assert plan.create == ["schtasks", "/Create", "/F", "/TN", "exporter-nightly", "/XML",
                           r"C:\Temp\exporter-nightly.xml"]
    assert plan.query == ["schtasks", "/Query", "/TN", "exporter-nightly", "/FO", "LIST", "/V"]
    assert plan.delete == ["schtasks", "/Delete", "/F", "/TN", "exporter-nightly"]
    assert plan.command_line == (
        r'"C:\Program Files\Sunrise Exporter\.venv\Scripts\exporter.exe" --config '
        r'"C:\Users\Mary O' "'" r'Neil\AppData\Local\exporter\exporter\config.toml" sync')
    assert plan.run_as_text() == r"schtasks /Change /TN exporter-nightly /RU OFFICE\mary"


@pytest.mark.parametrize("args", [
    [WIN_PROGRAM, "--config", WIN_CONFIG, "sync"],
    [r"C:\My Files\\", 'say "hi"', "", r"a\\b", r"trailing\ "],
])
def test_windows_quoting_follows_the_c_runtime_rules(args: list[str]) -> None:
    # subprocess.list2cmdline is the standard library's implementation of the same rules.
    assert windows_quote(args) == subprocess.list2cmdline(args)


def test_task_xml_runs_daily_catches_up_after_a_missed_start_and_wakes_the_computer() -> None:
    job = _win_job(config=r"C:\Users\A & B\config.toml", hour=2, minute=5)
    text = task_xml(job, r"OFFICE\mary")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    root = ET.fromstring(text.split("\n", 1)[1])  # noqa: S314 (our own text)
    assert root.findtext("t:RegistrationInfo/t:URI", namespaces=NS) == "\\exporter-nightly"
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None
    assert trigger.findtext("t:StartBoundary", namespaces=NS).endswith("T02:05:00")  # type: ignore[union-attr]
    assert trigger.findtext("t:ScheduleByDay/t:DaysInterval", namespaces=NS) == "1"
    settings = {child.tag.split("}")[1]: child.text for child in root.find("t:Settings", NS)}  # type: ignore[union-attr]
    assert settings["StartWhenAvailable"] == "true"
    assert settings["WakeToRun"] == "true"
    assert settings["DisallowStartIfOnBatteries"] == "false"
    assert settings["MultipleInstancesPolicy"] == "IgnoreNew"
    principal = root.find("t:Principals/t:Principal", NS)
    assert principal is not None
    assert principal.findtext("t:UserId", namespaces=NS) == r"OFFICE\mary"
    assert principal.findtext("t:LogonType", namespaces=NS) == "InteractiveToken"
    exec_ = root.find("t:Actions/t:Exec", NS)
    assert exec_ is not None
    assert exec_.findtext("t:Command", namespaces=NS) == WIN_PROGRAM
    assert exec_.findtext("t:Arguments", namespaces=NS) == \
        r'--config "C:\Users\A & B\config.toml" sync'
    assert exec_.findtext("t:WorkingDirectory", namespaces=NS) == r"C:\Users\A & B"


def test_the_task_xml_survives_the_utf16_file_schtasks_reads(tmp_path: Path) -> None:
    path = tmp_path / "task.xml"
    path.write_text(task_xml(_win_job(), "Mary"), encoding="utf-16")
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    root = ET.parse(path).getroot()  # noqa: S314 (our own file)
    assert root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == WIN_PROGRAM


def test_the_entry_point_is_the_console_script_else_python_m_exporter(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    assert program_argv("linux", str(python)) == [str(python), "-m", "exporter"]
    script = python.with_name("exporter")
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert program_argv("linux", str(python)) == [str(script)]
    assert program_argv("win32", r"C:\Python311\python.exe") == \
        [r"C:\Python311\python.exe", "-m", "exporter"]
    this = program_argv()
    assert os.path.isabs(this[0]) and os.path.exists(this[0])


# -- the command, with a stand-in crontab program ------------------------------------------

FAKE_CRONTAB = """#!/bin/sh
# A stand-in for crontab(1): the current user's table lives in $FAKE_CRONTAB_FILE.
case "$1" in
  -l) if [ -f "$FAKE_CRONTAB_FILE" ]; then cat "$FAKE_CRONTAB_FILE";
      else echo "no crontab for office" >&2; exit 1; fi ;;
  -) cat > "$FAKE_CRONTAB_FILE" ;;
  *) echo "fake crontab: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""


class Scheduler:
    """Runs `exporter schedule` through click's runner against a real config, archive and key
    file, with the stand-in crontab first on PATH."""

    def __init__(self, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cli = cli
        self.table = cli.tmp / "crontab.txt"
        self.logs = cli.tmp / "logs"
        bin_dir = cli.tmp / "fake-bin"
        bin_dir.mkdir()
        program = bin_dir / "crontab"
        program.write_text(FAKE_CRONTAB)
        program.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_CRONTAB_FILE", str(self.table))
        with cli.config.open("a") as fh:
            fh.write(f'\n[log]\ndir = "{self.logs.as_posix()}"\n')

    def __call__(self, *args: str) -> Result:
        state = State(self.cli.config, None, False)
        return CliRunner().invoke(schedule, list(args), obj=state, catch_exceptions=False)


def _table(sched: Scheduler) -> str:
    return sched.table.read_bytes().decode("utf-8")


@pytest.fixture
def sched(run_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
    run_cli.init(passphrase=None)  # a key file only: instant, and what a nightly run needs
    return Scheduler(run_cli, monkeypatch)


@posix_only
def test_install_show_replace_remove(sched: Scheduler) -> None:
    sched.table.write_bytes(OTHER_LINES.encode())
    result = sched("--at", "02:30")
    assert result.exit_code == 0, result.output
    assert "Installed the nightly job 'exporter-nightly'" in result.output
    table = _table(sched)
    line = find_cron_line(table)
    assert line is not None and line.startswith("30 2 * * * ")
    assert f"--config {sched.cli.config} sync" in line
    # A file a day (issue 11 point 11): the shell names it by the date; exporter.logs deletes
    # the old ones.
    assert str(sched.logs / "exporter-nightly-") + '"$(date +\\%Y-\\%m-\\%d)".log' in line
    assert sched.logs.is_dir()  # the log folder exists before cron first appends to it
    assert table == OTHER_LINES + "\n" + line + "\n"
    assert re.search(r"Its output goes to a file a day, tonight's "
                     r".*exporter-nightly-\d{4}-\d{2}-\d{2}\.log", result.output)

    before = sched.table.read_bytes()
    shown = sched("--show", "--at", "04:00")
    assert shown.exit_code == 0, shown.output
    assert "Would install (cron, every day at 04:00):\n  0 4 * * * " in shown.output
    assert "Installed now in the crontab of" in shown.output
    assert f"  {line}\n" in shown.output
    assert sched.table.read_bytes() == before

    again = sched("--at", "02:30")
    assert "already in the crontab" in again.output and sched.table.read_bytes() == before

    replaced = sched("--at", "03:15")
    assert replaced.exit_code == 0, replaced.output
    assert "Replaced the nightly job" in replaced.output
    table = _table(sched)
    assert table.count(marker()) == 1
    new_line = find_cron_line(table)
    assert new_line is not None and new_line.startswith("15 3 * * * ")
    assert table == OTHER_LINES + "\n" + new_line + "\n"

    removed = sched("--remove")
    assert removed.exit_code == 0, removed.output
    assert "Removed the nightly job 'exporter-nightly'" in removed.output
    assert _table(sched) == OTHER_LINES + "\n"

    nothing = sched("--remove")
    assert nothing.exit_code == 0 and "nothing was changed" in nothing.output

    shown = sched("--show")
    assert "nothing (no line marked '# exporter-nightly" in shown.output


@posix_only
def test_a_first_crontab_is_created(sched: Scheduler) -> None:
    result = sched()
    assert result.exit_code == 0, result.output
    assert sched.table.read_text() == find_cron_line(sched.table.read_text()) + "\n"  # type: ignore[operator]


@posix_only
def test_no_crontab_program_is_a_plain_sentence_and_exit_3(
        sched: Scheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = sched.cli.tmp / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = sched("--at", "02:30")
    assert result.exit_code == 3
    assert "This computer has no cron (the 'crontab' program): install cron, or run " \
           "'exporter sync' from your own scheduler: 30 2 * * * " in result.output
    assert "Traceback" not in result.output
    assert not sched.table.exists()


@posix_only
def test_a_config_without_a_key_file_is_refused(sched: Scheduler) -> None:
    text = sched.cli.config.read_text()
    sched.cli.config.write_text(re.sub(r"(?m)^key_file = .*\n", "", text))
    result = sched("--at", "02:30")
    assert result.exit_code == 3, result.output
    assert "has no key_file" in result.output
    assert "exporter keys add --key-file" in result.output
    # the key file suggested is in the user's own config folder, never beside the archive
    suggested = re.search(r"'exporter keys add --key-file \"?(.+?)\"?'", result.output)
    assert suggested, result.output
    assert Path(suggested.group(1)).parent == default_config_path().parent
    assert Path(suggested.group(1)).parent != sched.cli.archive.parent
    assert not sched.table.exists()  # crontab was never written
    shown = sched("--show")  # --show still shows, and says what to do first
    assert shown.exit_code == 0, shown.output
    assert "Before installing it:" in shown.output and "has no key_file" in shown.output


@posix_only
def test_a_key_file_that_does_not_open_the_archive_is_refused(sched: Scheduler) -> None:
    from exporter.keys import create_key_file

    other = sched.cli.tmp / "other.key"
    create_key_file(other)
    text = sched.cli.config.read_text().replace(str(sched.cli.key_file), str(other))
    sched.cli.config.write_text(text)
    result = sched("--at", "02:30")
    assert result.exit_code == 4, result.output
    assert "does not open this archive" in result.output
    assert not sched.table.exists()


@posix_only
def test_bad_time_and_show_with_remove_are_usage_errors(sched: Scheduler) -> None:
    result = sched("--at", "25:00")
    assert result.exit_code == 2
    assert "The time must be HH:MM on a 24-hour clock, e.g. --at 02:30" in result.output
    result = sched("--show", "--remove")
    assert result.exit_code == 2 and "not both" in result.output
    result = sched("--task-name", "my task; rm")
    assert result.exit_code == 2 and "letters, digits" in result.output
    assert not sched.table.exists()


@posix_only
def test_standalone_reads_the_config_from_the_environment(sched: Scheduler) -> None:
    result = CliRunner().invoke(schedule, ["--at", "01:00"],
                                env={"EXPORTER_CONFIG": str(sched.cli.config)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert find_cron_line(sched.table.read_text()).startswith("0 1 * * * ")  # type: ignore[union-attr]


@posix_only
def test_show_without_cron_says_so_and_exits_0(
        sched: Scheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    """Showing is not installing: with no cron, nothing is installed, and that is an answer."""
    empty = sched.cli.tmp / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = sched("--show")
    assert result.exit_code == 0, result.output
    assert "Would install (cron, every day at 02:30):" in result.output
    assert "Installed now: nothing. This computer has no cron" in result.output
