"""What the scheduled nightly job will miss that a command typed at a terminal does not.

``check`` and ``schedule`` run in the office manager's session; the nightly job does not:

- cron starts it with a near-empty environment, so ``{ env = "NAME" }`` secrets exported in a
  shell or a profile are not there (the job would skip that source every night);
- on Linux the keyring (Secret Service) lives on the login session's D-Bus, which a cron job
  cannot reach, so ``{ keyring = ... }`` fails under cron;
- Task Scheduler gives a task the user's saved environment variables (set once with ``setx``
  or System Properties), not ones set in a console window; and a task that runs "whether the
  user is logged on or not" may find Credential Manager closed.

Also said: no ``[notify]`` (nobody hears of a failed night) and no ``[[copies]]`` (the only
copy is on this computer). Each warning is one plain sentence with what to do; none stops
anything.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

from exporter.config import Config

__all__ = ["unattended_warnings"]


def _references(config: Config) -> Iterator[tuple[str, str, str, str]]:
    """(where, setting, kind, name) for each env or keyring secret reference the nightly job
    reads: in the sources, the copies and [notify]."""
    tables: list[tuple[str, Any]] = [(f"[sources.{name}]", table)
                                     for name, table in config.sources.items()]
    copies = config.raw.get("copies", [])
    for n, table in enumerate(copies if isinstance(copies, list) else [], 1):
        label = table.get("name") if isinstance(table, Mapping) else None
        tables.append((f"[[copies]] {label}" if isinstance(label, str)
                       else f"[[copies]] number {n}", table))
    tables.append(("[notify]", config.raw.get("notify")))
    for where, table in tables:
        if not isinstance(table, Mapping):
            continue
        for key, value in table.items():
            if isinstance(value, Mapping) and len(value) == 1:
                kind, name = next(iter(value.items()))
                if kind in ("env", "keyring") and isinstance(name, str):
                    yield where, key, kind, name


def _secret_warning(where: str, key: str, kind: str, name: str, platform: str) -> str | None:
    file_ref = f'{key} = {{ file = "secrets/{key}.txt" }}'
    if kind == "env" and platform == "win32":
        return (f"{where} {key} comes from the environment variable {name}: the scheduled task "
                f"sees it only if it is saved for your Windows account (setx {name} ..., or "
                "System Properties > Environment Variables), not if it was set in a console "
                f"window; or keep it in a file only you can read ({file_ref}).")
    if kind == "env":
        return (f"{where} {key} comes from the environment variable {name}, which the nightly "
                f"job does not see (cron starts it without your session's variables): keep it "
                f"in a file only you can read instead ({file_ref}, chmod 600).")
    if platform == "win32":
        return (f"{where} {key} comes from Windows Credential Manager ({name}): that works "
                "while you are logged on; a task that runs whether you are logged on or not "
                "('exporter schedule --logged-off') may find it closed. Try one night logged "
                f"off, or keep it in a file only you can read ({file_ref}).")
    if platform.startswith("linux"):
        return (f"{where} {key} comes from the keyring ({name}), which a cron job cannot "
                "open on Linux (the keyring needs your desktop session): keep it in a file "
                f"only you can read instead ({file_ref}, chmod 600).")
    return None  # macOS: the login keychain is open to the user's cron jobs once logged in


def unattended_warnings(config: Config, platform: str | None = None) -> list[str]:
    """The sentences ``check`` and ``schedule`` print about tonight's job (``platform`` as
    ``sys.platform``; the current one by default)."""
    platform = platform or sys.platform
    warnings = [w for ref in _references(config)
                if (w := _secret_warning(*ref, platform)) is not None]
    if config.notify is None and not config.set_aside:
        warnings.append(f"No one will be told when the nightly job fails: add a [notify] "
                        f"table with your email to {config.path} (see README), then run "
                        "'exporter notify --test'.")
    if not config.raw.get("copies"):
        warnings.append(f"The archive is only on this computer: add a [[copies]] table to "
                        f"{config.path} (a USB disk, a NAS or an object store; see README), "
                        "so that a lost or broken computer does not lose it.")
    return warnings
