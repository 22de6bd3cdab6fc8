"""Starting the desk by itself (``exporter desk --install-at-logon``), like the nightly job:

- Windows: a Task Scheduler task with a logon trigger (created from XML with ``schtasks``),
  no time limit, never two at once;
- macOS: a launchd agent (``~/Library/LaunchAgents/org.exporter.desk.plist``, RunAtLoad),
  started at each logon;
- Linux: an ``@reboot`` line in the user's crontab (cron has no logon event: the desk starts
  with the computer), found again by its marker comment.

The desk then unlocks the archive with the config's key file, as the nightly job does. The
planners are pure (testable anywhere); exporter.schedule's runners carry them out.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from exporter.schedule import (
    crontab_program,
    no_cron,
    program_argv,
    read_crontab,
    run_schtasks,
    windows_quote,
    windows_user,
    write_crontab,
)

__all__ = ["TASK", "desk_argv", "install", "launch_agent_plist", "logon_task_xml",
           "plan_reboot", "reboot_line", "remove"]

TASK = "exporter-desk"
MARKER = f"# {TASK} (managed by 'exporter desk --install-at-logon')"
AGENT = "org.exporter.desk"


def desk_argv(config: str, port: int | None, lan: bool) -> list[str]:
    args = [*program_argv(), "--config", config, "desk"]
    if port:
        args += ["--port", str(port)]
    return [*args, "--lan"] if lan else args


def reboot_line(argv: list[str], log: str) -> str:
    command = " ".join(shlex.quote(a).replace("%", "\\%") for a in argv)
    return f"@reboot {command} >> {shlex.quote(log).replace('%', chr(92) + '%')} 2>&1 {MARKER}"


def plan_reboot(existing: str, line: str | None) -> str:
    """The crontab with our line replaced by ``line`` (or removed when None); every other
    line byte for byte."""
    kept = [x for x in existing.splitlines(keepends=True) if not x.rstrip("\r\n").endswith(
        MARKER)]
    if line is None:
        return "".join(kept)
    if kept and not kept[-1].endswith(("\n", "\r")):
        kept[-1] += "\n"
    return "".join(kept) + line + "\n"


def logon_task_xml(argv: list[str], user: str | None) -> str:
    """A Task Scheduler task that starts the desk when ``user`` logs on."""
    user_line = f"<UserId>{xml_escape(user)}</UserId>" if user else ""
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>exporter: the care-plan desk {xml_escape(MARKER[2:])}</Description>
    <URI>\\{TASK}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>{user_line}
    </LogonTrigger>
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
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{xml_escape(argv[0])}</Command>
      <Arguments>{xml_escape(windows_quote(argv[1:]))}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def launch_agent_plist(argv: list[str], log: str) -> bytes:
    return plistlib.dumps({"Label": AGENT, "ProgramArguments": argv, "RunAtLoad": True,
                           "StandardOutPath": log, "StandardErrorPath": log})


def _agent_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{AGENT}.plist"


def install(argv: list[str], log: Path) -> str:
    """Set the desk to start by itself; what was done, in a sentence."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        fd, xml = tempfile.mkstemp(suffix=".xml")
        os.close(fd)
        try:
            Path(xml).write_text(logon_task_xml(argv, windows_user()), encoding="utf-16")
            code, said = run_schtasks(["schtasks", "/Create", "/F", "/TN", TASK, "/XML", xml])
        finally:
            os.unlink(xml)
        if code != 0:
            from exporter.errors import NoScheduler

            raise NoScheduler(f"Task Scheduler refused the task ({said}); nothing was changed.")
        return f"The desk now starts when you log on to Windows (task '{TASK}')."
    if sys.platform == "darwin":
        path = _agent_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(launch_agent_plist(argv, str(log)))
        return f"The desk now starts when you log in to this Mac ({path})."
    program = crontab_program()
    if program is None:
        raise no_cron(None)
    write_crontab(program, plan_reboot(read_crontab(program), reboot_line(argv, str(log))))
    return (f"The desk now starts with this computer (cron @reboot); its output goes to "
            f"{log}.")


def remove() -> str:
    if sys.platform == "win32":
        code, said = run_schtasks(["schtasks", "/Delete", "/F", "/TN", TASK])
        return ("The desk no longer starts by itself." if code == 0 else
                f"There was no task '{TASK}' to remove ({said}).")
    if sys.platform == "darwin":
        path = _agent_path()
        existed = path.exists()
        path.unlink(missing_ok=True)
        return "The desk no longer starts by itself." if existed else "Nothing to remove."
    program = crontab_program()
    if program is None:
        raise no_cron(None)
    existing = read_crontab(program)
    if MARKER not in existing:
        return "Nothing to remove: the desk was not set to start by itself."
    write_crontab(program, plan_reboot(existing, None))
    return "The desk no longer starts by itself."
