"""``exporter schedule``: set up, show and remove the nightly ``exporter sync`` job.

cron on Linux and macOS (one line in the user's crontab, found again by its marker comment),
Task Scheduler on Windows (a task created from XML with ``schtasks /Create /XML``, so that it
also runs after a missed start and wakes the computer).

The platform logic is pure and testable anywhere: :func:`plan_cron` and
:func:`plan_cron_removal` turn the existing crontab text into the new one, :func:`task_xml`
and :func:`plan_schtasks` build the task and the ``schtasks`` argument lists. Thin runners
(:func:`read_crontab`, :func:`write_crontab`, :func:`run_schtasks`) execute them.

The command itself (``exporter schedule``) is :mod:`exporter.cli_schedule`.
"""

from __future__ import annotations

import ntpath
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as xml_escape

from exporter import errors
from exporter.errors import NoScheduler

__all__ = [
    "MARKER_SUFFIX",
    "CronPlan",
    "Job",
    "NoScheduler",
    "SchtasksPlan",
    "find_cron_line",
    "marker",
    "parse_time",
    "plan_cron",
    "plan_cron_removal",
    "plan_schtasks",
    "program_argv",
    "task_xml",
    "windows_quote",
]

DEFAULT_TASK = "exporter-nightly"
MARKER_SUFFIX = "(managed by 'exporter schedule')"
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")




# -- what runs every night ---------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """The nightly job: ``program --config CONFIG [--key-file KEY] sync`` at ``hour:minute``.

    Paths are plain strings so that Windows paths can be planned on Linux and back."""

    program: tuple[str, ...]  # the exporter entry point: a console script, or python -m exporter
    config: str
    hour: int
    minute: int
    log: str  # cron: where the output is appended; {date} becomes the day (a file a day)
    task_name: str = DEFAULT_TASK
    key_file: str | None = None  # only when given on the command line, not in the config

    def argv(self) -> list[str]:
        args = [*self.program, "--config", self.config]
        if self.key_file:
            args += ["--key-file", self.key_file]
        return [*args, "sync"]

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def parse_time(text: str) -> tuple[int, int]:
    """``HH:MM`` on a 24-hour clock; ValueError with a plain sentence otherwise."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"The time must be HH:MM on a 24-hour clock, e.g. --at 02:30 "
                         f"(not '{text}').")
    return int(match.group(1)), int(match.group(2))


def program_argv(platform: str | None = None, executable: str | None = None) -> list[str]:
    """This installation's ``exporter``: the console script beside the Python running now
    (``Scripts\\exporter.exe`` on Windows), else ``python -m exporter``. Absolute, and not
    resolved through symlinks (a virtual environment's python is one)."""
    platform = platform or sys.platform
    exe = executable or os.path.abspath(sys.executable)
    if platform == "win32":
        folder = ntpath.dirname(exe)
        for candidate in (ntpath.join(folder, "exporter.exe"),
                          ntpath.join(folder, "Scripts", "exporter.exe")):
            if os.path.isfile(candidate):
                return [candidate]
        return [exe, "-m", "exporter"]
    script = os.path.join(os.path.dirname(exe), "exporter")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [exe, "-m", "exporter"]


# -- cron ---------------------------------------------------------------------------------


def marker(task_name: str = DEFAULT_TASK) -> str:
    """The comment that ends our crontab line: how we find it again."""
    return f"# {task_name} {MARKER_SUFFIX}"


def _cron_quote(text: str) -> str:
    # cron turns an unescaped % into a newline, even inside shell quotes; \% is a plain %.
    return shlex.quote(text).replace("%", "\\%")


def cron_line(job: Job) -> str:
    """Our crontab line (no newline): the time, the command quoted for /bin/sh, the output
    appended to the log file (so cron mails nobody), and the marker comment."""
    for value in (*job.argv(), job.log):
        if "\n" in value or "\r" in value:
            raise errors.ConfigError("A path for the nightly job contains a line break; cron "
                                     "cannot run it. Move the file to a plain folder name.")
    command = " ".join(_cron_quote(a) for a in job.argv())
    return (f"{job.minute} {job.hour} * * * {command} >> {_cron_log(job.log)} 2>&1 "
            f"{marker(job.task_name)}")


#: What the shell puts for {date} in the log's name: the day, as exporter's own log files
#: name it (exporter.logs deletes both kinds after [log] keep_days). Never renamed, so cron's
#: shell and a concurrent exporter never get in each other's way.
_SHELL_DATE = '"$(date +%Y-%m-%d)"'


def _cron_log(log: str) -> str:
    """The log path quoted for cron and sh, with each {date} left for the shell to fill."""
    return _SHELL_DATE.replace("%", "\\%").join(
        _cron_quote(part) if part else "" for part in log.split("{date}"))


def _is_ours(line: str, task_name: str) -> bool:
    return line.rstrip("\r\n").endswith(marker(task_name)) and not line.lstrip().startswith("#")


def find_cron_line(existing: str, task_name: str = DEFAULT_TASK) -> str | None:
    """Our line in a crontab (without its newline), or None."""
    for line in existing.splitlines():
        if _is_ours(line, task_name):
            return line
    return None


@dataclass(frozen=True)
class CronPlan:
    """A crontab before and after: ``text`` is the whole new table."""

    text: str
    line: str | None  # our line after (None when removed)
    old_line: str | None  # our line before, if there was one

    @property
    def changed(self) -> bool:
        return self.line != self.old_line


def plan_cron(existing: str, job: Job) -> CronPlan:
    """The crontab with our line in it: an old line of ours is replaced where it stood (any
    duplicates dropped); every other line is kept byte for byte; else ours is appended."""
    new = cron_line(job)
    old = find_cron_line(existing, job.task_name)
    lines = existing.splitlines(keepends=True)
    out: list[str] = []
    placed = False
    for line in lines:
        if _is_ours(line, job.task_name):
            if not placed:
                ending = line[len(line.rstrip("\r\n")):] or "\n"
                out.append(new + ending)
                placed = True
            continue
        out.append(line)
    if not placed:
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += "\n"  # cron needs every line to end; only a missing newline is added
        out.append(new + "\n")
    return CronPlan(text="".join(out), line=new, old_line=old)


def plan_cron_removal(existing: str, task_name: str = DEFAULT_TASK) -> CronPlan:
    """The crontab without our line; every other line byte for byte."""
    old = find_cron_line(existing, task_name)
    kept = [line for line in existing.splitlines(keepends=True) if not _is_ours(line, task_name)]
    return CronPlan(text="".join(kept), line=None, old_line=old)


def crontab_program() -> str | None:
    return shutil.which("crontab")


def no_cron(job: Job | None) -> NoScheduler:
    line = f": {cron_line(job)}" if job is not None else "."
    return NoScheduler("This computer has no cron (the 'crontab' program): install cron, or "
                       f"run 'exporter sync' from your own scheduler{line}")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def read_crontab(program: str) -> str:
    """The current user's crontab (empty if there is none)."""
    try:
        done = subprocess.run([program, "-l"], capture_output=True, timeout=60, check=False)
    except OSError as exc:
        raise NoScheduler(f"The crontab program ({program}) could not be run "
                          f"({exc.strerror}); install cron or fix its permissions.") from exc
    if done.returncode == 0:
        return _decode(done.stdout)
    message = _decode(done.stderr).strip()
    if "no crontab" in message.lower():
        return ""
    raise NoScheduler(f"cron would not show your crontab "
                      f"({message or f'exit code {done.returncode}'}); ask whoever looks after "
                      "this computer to allow you to use cron.")


def write_crontab(program: str, text: str) -> None:
    """Install ``text`` as the current user's crontab (``crontab -``)."""
    try:
        done = subprocess.run([program, "-"], input=text.encode("utf-8", "surrogateescape"),
                              capture_output=True, timeout=60, check=False)
    except OSError as exc:
        raise NoScheduler(f"The crontab program ({program}) could not be run "
                          f"({exc.strerror}); install cron or fix its permissions.") from exc
    if done.returncode != 0:
        message = _decode(done.stderr).strip() or f"exit code {done.returncode}"
        raise NoScheduler(f"cron refused the new crontab ({message}); nothing was changed. "
                          "Ask whoever looks after this computer to allow you to use cron.")


# -- Windows Task Scheduler ---------------------------------------------------------------


def windows_quote(args: Sequence[str]) -> str:
    """A Windows command line for ``args`` (the MS C runtime rules a program uses to split
    its command line): quotes around arguments with spaces, backslashes doubled only before
    a quote."""
    parts = []
    for arg in args:
        if arg and not any(c in arg for c in ' \t"'):
            parts.append(arg)
            continue
        result, backslashes = ['"'], 0
        for ch in arg:
            if ch == "\\":
                backslashes += 1
            elif ch == '"':
                result.append("\\" * (2 * backslashes + 1) + '"')
                backslashes = 0
            else:
                result.append("\\" * backslashes + ch)
                backslashes = 0
        result.append("\\" * (2 * backslashes) + '"')
        parts.append("".join(result))
    return " ".join(parts)


def _cmd_quote(arg: str) -> str:
    """One argument for a line typed into cmd.exe or PowerShell (task and user names)."""
    return f'"{arg}"' if any(c in arg for c in ' \t&|<>^()') else arg


def task_xml(job: Job, user: str | None = None) -> str:
    """The Task Scheduler definition (schema 1.2, Windows 7 and later): daily at the time,
    started as soon as possible after a missed start (StartWhenAvailable), waking the computer
    (WakeToRun), also on battery, never two at once, stopped after 12 hours. It runs as
    ``user`` while that user is logged on; see :func:`plan_schtasks` for the other option."""
    argv = job.argv()
    command, arguments = argv[0], windows_quote(argv[1:])
    user_line = f"\n      <UserId>{xml_escape(user)}</UserId>" if user else ""
    workdir = ntpath.dirname(job.config)
    description = f"exporter: the nightly sync of the encrypted archive {MARKER_SUFFIX}"
    workdir_line = (f"\n      <WorkingDirectory>{xml_escape(workdir)}</WorkingDirectory>"
                    if workdir else "")
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{xml_escape(description)}</Description>
    <URI>\\{xml_escape(job.task_name)}</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2024-01-01T{job.at}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">{user_line}
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>true</WakeToRun>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{xml_escape(command)}</Command>
      <Arguments>{xml_escape(arguments)}</Arguments>{workdir_line}
    </Exec>
  </Actions>
</Task>
"""


@dataclass(frozen=True)
class SchtasksPlan:
    """The ``schtasks`` calls for one job; ``xml`` goes into the file ``create`` names."""

    xml: str
    create: list[str]
    query: list[str]
    delete: list[str]
    run_as: list[str]  # for "Run whether user is logged on or not": pasted by the user
    command_line: str  # what the task runs, as one Windows command line
    store_password: list[str] = field(default_factory=list)  # schtasks prompts for it

    def run_as_text(self) -> str:
        return " ".join(_cmd_quote(a) for a in self.run_as)


def plan_schtasks(job: Job, xml_path: str, user: str | None = None) -> SchtasksPlan:
    """The task's XML and the argument lists for schtasks (no shell: each is one argv)."""
    name = job.task_name
    return SchtasksPlan(
        xml=task_xml(job, user),
        create=["schtasks", "/Create", "/F", "/TN", name, "/XML", xml_path],
        query=["schtasks", "/Query", "/TN", name, "/FO", "LIST", "/V"],
        delete=["schtasks", "/Delete", "/F", "/TN", name],
        # /RU without /RP: schtasks asks for the password itself, so it is never typed on
        # a command line nor seen by exporter.
        run_as=["schtasks", "/Change", "/TN", name, "/RU", user or "<DOMAIN\\user>"],
        command_line=windows_quote(job.argv()),
        # /RP with no value: schtasks itself prompts for the password, in this console
        store_password=["schtasks", "/Change", "/TN", name, "/RU", user or "", "/RP"],
    )


def run_schtasks(argv: list[str]) -> tuple[int, str]:
    """Run schtasks; its exit code and what it printed (in the console's code page)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=120, check=False)
    except OSError as exc:
        raise NoScheduler(f"Task Scheduler (schtasks) could not be run ({exc.strerror}).") \
            from exc
    return done.returncode, (done.stdout + done.stderr).strip()


def windows_user() -> str | None:
    name = os.environ.get("USERNAME")
    domain = os.environ.get("USERDOMAIN")
    if not name:
        return None
    return f"{domain}\\{name}" if domain else name


#: What a number in Task Scheduler's *Last Run Result* column means: exporter's exit codes of
#: the nightly sync (shown in hex there: 0xB is 11), then Task Scheduler's own.
LAST_RUN_RESULTS: tuple[tuple[int, str], ...] = (
    (0, "the sync and the copies completed"),
    (11, "partial: a source could not be read; the rest is archived ('exporter status')"),
    (12, "failed: no source could be read; nothing new was archived ('exporter status')"),
    (14, "the sync completed but a copy failed (a disk not plugged in?)"),
    (3, "a setting is wrong, or the key file is missing from the config"),
    (4, "the key file does not open the archive"),
    (5, "another exporter was writing the archive"),
    (6, "the archive or its .keys file is damaged: run 'exporter verify'"),
    (7, "the archive was written by a newer exporter: update exporter"),
    (8, "the archive is not where the config says"),
    (10, "the disk is full"),
    (1, "an unexpected problem: see the day's exporter log"),
    (0x41301, "Task Scheduler: the task is running now"),
    (0x41303, "Task Scheduler: the task has not run yet"),
    (0x41306, "Task Scheduler: the run was stopped (ran over 12 hours, or ended by hand)"),
    (0x8007052E, "Task Scheduler: the stored Windows password is wrong (it changed?): set it "
                 "again"),
    (0x80070569, "Task Scheduler: this user may not run tasks while logged off (the 'Log on "
                 "as a batch job' right)"),
    (0x800710E0, "Task Scheduler: the run was refused (the user was not logged on, or a "
                 "condition was not met)"),
)


def last_run_result(code: int) -> str:
    """``0xB (11): partial: ...``: a *Last Run Result* number as Task Scheduler shows it,
    with its meaning (an unknown one is said to be unknown)."""
    code &= 0xFFFF_FFFF  # schtasks and PowerShell may show it as a negative int32
    meaning = dict(LAST_RUN_RESULTS).get(code, "not an exporter code; search the number with "
                                         "'Task Scheduler'")
    return f"0x{code:X} ({code}): {meaning}" if code < 0x10000 else f"0x{code:X}: {meaning}"


def password_refused(code: int, text: str) -> str:
    """The plain sentence when schtasks would not store the user's password."""
    why = ("this Windows account may not run tasks while logged off (ask whoever manages the "
           "PC for the 'Log on as a batch job' right, or use an administrator account)"
           if "0x80070569" in text or "logon type" in text.lower() else
           "the password was not accepted, or the prompt was not an administrator's")
    return (f"The task still runs only while you are logged on: {why}; the PC must then stay "
            f"logged in at night (locked is fine) (schtasks said: {text or code}).")
