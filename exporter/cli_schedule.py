"""``exporter schedule``: set up, show and remove the nightly ``exporter sync`` job (cron on
Linux and macOS, Task Scheduler on Windows). The planners and runners are
:mod:`exporter.schedule`; this module checks the unattended key file, calls them and prints."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from exporter import errors
from exporter.cli_base import State, handle_errors, out
from exporter.errors import NoScheduler
from exporter.schedule import (
    DEFAULT_TASK,
    LAST_RUN_RESULTS,
    TASK_NAME,
    Job,
    SchtasksPlan,
    cron_line,
    crontab_program,
    find_cron_line,
    last_run_result,
    marker,
    no_cron,
    parse_time,
    password_refused,
    plan_cron,
    plan_cron_removal,
    plan_schtasks,
    program_argv,
    read_crontab,
    run_schtasks,
    windows_user,
    write_crontab,
)

__all__ = ["schedule", "unattended_key_file"]


# -- the unattended credential --------------------------------------------------------------


def unattended_key_file(state: State) -> tuple[Path, bool]:
    """The key file the nightly run will unlock with, checked the way ``sync`` unlocks: the
    global --key-file (then passed on to the job: second value True), else the config's
    key_file. A passphrase cannot be typed at 02:30 and EXPORTER_PASSPHRASE is not set
    there, so without a key file the job is refused. The key file must open this archive's
    key slots (nothing else is opened or written)."""
    from exporter.config import default_config_path
    from exporter.keys import KeyFile, KeySlots, read_key_file, slots_path_for

    config = state.config
    given = state.key_file is not None
    key_file = state.key_file.expanduser().absolute() if state.key_file else config.key_file
    if key_file is None:
        # The user's own config folder, as init's --key-file: beside the archive, whoever
        # takes the archive's disk or folder would take its key too.
        suggestion = default_config_path().parent / "nightly.key"
        typed = f'"{suggestion}"' if " " in str(suggestion) else str(suggestion)  # C:\Users\Jo Ann
        raise errors.KeyNeeded(
            f"The nightly job could not unlock the archive: {config.path} has no key_file, and "
            "nobody is there at night to type a passphrase. Add a key file first: run "
            f"'exporter keys add --key-file {typed}', put key_file = "
            f"\"{suggestion.as_posix()}\" under [archive] in {config.path}, then run "
            "'exporter schedule' again.")
    read_key_file(key_file)  # a plain sentence (exit 4) if missing or not a key file
    if not config.archive.exists():
        raise errors.ArchiveNotFound(f"There is no archive at {config.archive}; run "
                                     "'exporter init' first, or check the archive path in the "
                                     "config file.")
    KeySlots.load(slots_path_for(config.archive)).unlock(KeyFile(key_file))
    return key_file, given


# -- the command --------------------------------------------------------------------------


def _state(ctx: click.Context) -> State:
    state = ctx.find_object(State)
    if state is None:  # run on its own: the same defaults the main group reads
        key = os.environ.get("EXPORTER_KEY_FILE")
        config = os.environ.get("EXPORTER_CONFIG")
        state = State(Path(config) if config else None, Path(key) if key else None, False)
    return state


def _check_time(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_task_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not TASK_NAME.match(value):
        raise click.BadParameter("The task name may hold only letters, digits, '.', '-' and "
                                 f"'_' (up to 64), e.g. {DEFAULT_TASK}.")
    return value


def _job(state: State, at: tuple[int, int], task_name: str,
         key_file: Path | None) -> Job:
    from exporter.config import default_log_dir

    config = state.config
    log_dir = config.log_dir or default_log_dir()
    return Job(program=tuple(program_argv()), config=str(config.path.expanduser().absolute()),
               hour=at[0], minute=at[1], log=str(log_dir / f"{task_name}-{{date}}.log"),
               task_name=task_name, key_file=str(key_file) if key_file else None)


@click.command("schedule")
@click.option("--at", "at", default="02:30", show_default=True, metavar="HH:MM",
              callback=_check_time, help="When the nightly job runs (24-hour clock).")
@click.option("--show", is_flag=True,
              help="Only show what would be installed and what is installed now.")
@click.option("--remove", is_flag=True, help="Remove the nightly job (only ours).")
@click.option("--task-name", default=DEFAULT_TASK, show_default=True,
              callback=_check_task_name,
              help="The name of the job in cron or Task Scheduler.")
@click.option("--logged-off", is_flag=True,
              help="Windows: also run while nobody is logged on (Task Scheduler asks for "
              "your Windows password and keeps it; exporter never sees it).")
@click.pass_context
@handle_errors
def schedule(ctx: click.Context, at: tuple[int, int], show: bool, remove: bool,
             task_name: str, logged_off: bool) -> None:
    """Run 'exporter sync' every night: cron on Linux and macOS, Task Scheduler on Windows.

    The job runs this installation of exporter with this config file. It unlocks the archive
    with the key file named in the config (key_file under [archive]): without one it is
    refused, as nobody is there at night to type a passphrase. Run it again to change the
    time; only the job exporter made is ever replaced or removed. It warns about what the
    job will miss: secrets in environment variables or the keyring that it cannot see on
    this computer, no [notify], no [[copies]].

    \b
    Example:
      exporter schedule --at 02:30
      exporter schedule --show
      exporter schedule --remove
    """
    if show and remove:
        raise click.UsageError("Give --show or --remove, not both.")
    state = _state(ctx)
    if remove:
        job = None
        key_problem = None
    else:
        key_file: Path | None = None
        key_problem = None
        try:
            path, given = unattended_key_file(state)
            key_file = path if given else None
        except errors.ExporterError as exc:
            if not show:
                raise
            key_problem = str(exc)
        job = _job(state, at, task_name, key_file)
    if sys.platform == "win32":
        _windows(out, job, task_name, show, remove, logged_off)
    else:
        _cron(out, job, task_name, show, remove)
    if key_problem:
        out.print(f"Before installing it: {key_problem}")
    if not remove:
        from exporter.unattended import unattended_warnings

        for warning in unattended_warnings(state.config):
            out.print(f"Warning: {warning}")


def _cron(out: Any, job: Job | None, task_name: str, show: bool, remove: bool) -> None:
    program = crontab_program()
    if show and job is not None:
        out.print(f"Would install (cron, every day at {job.at}):")
        out.print(f"  {cron_line(job)}")
    if program is None:
        if show:  # showing is not installing: there is simply nothing installed
            out.print(f"Installed now: nothing. {no_cron(job)}")
            return
        raise no_cron(job)
    existing = read_crontab(program)
    user = getpass.getuser()
    if show:
        line = find_cron_line(existing, task_name)
        out.print(f"Installed now in the crontab of {user}:")
        out.print(f"  {line}" if line else f"  nothing (no line marked '{marker(task_name)}')")
        return
    if remove:
        plan = plan_cron_removal(existing, task_name)
        if plan.old_line is None:
            out.print(f"There is no nightly job '{task_name}' in the crontab of {user}; "
                      "nothing was changed.")
            return
        write_crontab(program, plan.text)
        out.print(f"Removed the nightly job '{task_name}' from the crontab of {user}; its "
                  "other lines were kept as they were.")
        return
    assert job is not None
    plan = plan_cron(existing, job)
    if not plan.changed:
        out.print(f"The nightly job '{task_name}' is already in the crontab of {user}, every "
                  f"day at {job.at}; nothing was changed.")
        return
    Path(job.log).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_crontab(program, plan.text)
    verb = "Replaced" if plan.old_line else "Installed"
    out.print(f"{verb} the nightly job '{task_name}' in the crontab of {user}: every day at "
              f"{job.at} it runs")
    out.print(f"  {' '.join(shlex.quote(a) for a in job.argv())}")
    today = job.log.replace("{date}", dt.date.today().isoformat())
    out.print(f"Its output goes to a file a day, tonight's {today} (files older than [log] "
              "keep_days are deleted). The computer must be on (not asleep) at "
              f"{job.at}. 'exporter schedule --show' shows the job, 'exporter schedule "
              "--remove' removes it.")


def _windows(out: Any, job: Job | None, task_name: str, show: bool, remove: bool,
             logged_off: bool = False) -> None:
    user = windows_user()
    query = ["schtasks", "/Query", "/TN", task_name, "/FO", "LIST", "/V"]
    if remove:
        code, text = run_schtasks(["schtasks", "/Delete", "/F", "/TN", task_name])
        if code != 0:
            if run_schtasks(query)[0] != 0:
                out.print(f"There is no task '{task_name}' in Task Scheduler; nothing was "
                          "changed.")
                return
            raise NoScheduler(f"Task Scheduler would not remove the task '{task_name}' "
                              f"({text}).")
        out.print(f"Removed the task '{task_name}' from Task Scheduler.")
        return
    assert job is not None
    fd, xml_path = tempfile.mkstemp(prefix=f"{task_name}-", suffix=".xml")
    os.close(fd)
    try:
        plan = plan_schtasks(job, xml_path, user)
        if show:
            out.print(f"Would install (Task Scheduler, every day at {job.at}, as {user}):")
            out.print(f"  {plan.command_line}")
            code, text = run_schtasks(plan.query)
            out.print("Installed now:")
            out.print(f"  {text}" if code == 0 else f"  nothing (no task '{task_name}')")
            out.print("Last Run Result, what each number means:")
            for number, _ in LAST_RUN_RESULTS:
                out.print(f"  {last_run_result(number)}")
            return
        # schtasks reads task XML as UTF-16 (with its byte order mark).
        Path(xml_path).write_text(plan.xml, encoding="utf-16")
        code, text = run_schtasks(plan.create)
        if code != 0:
            raise NoScheduler(f"Task Scheduler would not create the task '{task_name}' "
                              f"({text}); nothing was changed.")
    finally:
        _unlink_quietly(xml_path)
    out.print(f"Installed the task '{task_name}' in Task Scheduler: every day at {job.at} "
              f"(or as soon as possible after, if the computer was off or asleep) it runs")
    out.print(f"  {plan.command_line}")
    out.print("Its exit code shows in the task's Last Run Result column:")
    for code in (0, 11, 12, 14):
        out.print(f"  {last_run_result(code)}")
    if logged_off:
        _store_password(out, plan, user)
        return
    out.print(f"It runs as {user} while {user} is logged on. It must run as the user who owns "
              "the key file. To run it whether the user is logged on or not, run this again "
              "with --logged-off (Task Scheduler asks for the Windows password), or paste this "
              "into an administrator prompt:")
    out.print(f"  {plan.run_as_text()}")


def _store_password(out: Any, plan: SchtasksPlan, user: str | None) -> None:
    """schtasks /Change /RU user /RP: schtasks prompts for the password in this console."""
    import subprocess

    try:
        done = subprocess.run(plan.store_password, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=600, check=False)
        code, text = done.returncode, done.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        code, text = -1, str(exc)
    if code == 0:
        out.print(f"It runs as {user} whether or not {user} is logged on. When the Windows "
                  "password changes, run 'exporter schedule --logged-off' again.")
    else:
        out.print(password_refused(code, text))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
