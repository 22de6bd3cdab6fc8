"""What the config file may hold: its tables and each table's declared settings.

:func:`check_tables` refuses a table or key exporter does not know, naming it and the
nearest known one (``[notfy]`` -> did you mean notify?), before anything else reads the
file. The detailed checks of each value stay with the code that reads it
(:mod:`exporter.config`, a connector's declared settings when the source is built).
:func:`settings_document` writes docs/settings.md from the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exporter.errors import ConfigError
from exporter.settings import Setting, settings_markdown, unknown_keys

__all__ = ["TABLES", "check_tables", "settings_document"]

ARCHIVE = (
    Setting("path", "path", "The archive file (relative paths start at the config file's "
            "folder)", required=True),
    Setting("key_file", "path", "A key file that unlocks the archive with no one there (the "
            "nightly job); readable by its owner only"),
    Setting("stale_after_hours", "number", "Warn and alert when a source has had no complete "
            "sync for this long", default=36, minimum=0.01),
    Setting("id", "string", "The archive's id, written by init: an archive with another id "
            "at path is refused (it may have been swapped)"),
    Setting("fingerprint", "string", "The archive's fingerprint, written by init (a hash of a "
            "secret inside the encrypted archive): another archive is refused"),
)
COPIES = (
    Setting("name", "string", "What messages and --to call this copy (default: the folder's "
            "name or the url)"),
    Setting("path", "path", "A folder to copy to: USB disk, NAS share, synced folder (or url)"),
    Setting("url", "string", 'An object store to copy to, "s3://bucket/prefix" (or path)'),
    Setting("endpoint_url", "url", "The store's address, e.g. https://s3.eu-central-003."
            "backblazeb2.com (leave out for AWS)"),
    Setting("region", "string", "The store's region"),
    Setting("access_key_id", "secret", "The store's key id", secret=True),
    Setting("secret_access_key", "secret", "The store's secret key", secret=True),
    Setting("keep", "integer", "Dated copies kept there (the newest ones)", default=7,
            minimum=1),
    Setting("keep_daily", "integer", "Also keep the newest copy of each of the last N days "
            "that have one", default=0, minimum=0),
    Setting("keep_weekly", "integer", "Also keep the newest copy of each of the last N weeks "
            "that have one", default=0, minimum=0),
    Setting("keep_monthly", "integer", "Also keep the newest copy of each of the last N months "
            "that have one", default=0, minimum=0),
    Setting("after_sync", "boolean", "'exporter sync' also makes this copy", default=False),
)
NOTIFY = (
    Setting("to", "string or list", "Who gets the alert emails", required=True),
    Setting("from", "string", "The address the alerts come from", required=True),
    Setting("smtp_host", "string", "The mail server, e.g. smtp.office365.com", required=True),
    Setting("smtp_port", "integer", "The mail server's port (default: 587 for starttls, 465 "
            "for tls, 25 for none)", minimum=1, maximum=65535),
    Setting("security", "string", "How the connection is encrypted (none only to this "
            "computer)", default="starttls", choices=("starttls", "tls", "none")),
    Setting("ca_file", "path", "An internal mail server's CA certificate (PEM); default: the "
            "system's"),
    Setting("username", "string", "The mail login (often the from address)"),
    Setting("password", "secret", "The mail password", secret=True),
    Setting("on", "list", "When to send: failure, partial, copy_failed, stale, success",
            default=["failure", "partial", "copy_failed", "stale"]),
    Setting("agency", "string", "The name in the subject (default: this computer's name)"),
    Setting("on_success", "boolean", "Also mail when the nightly sync succeeded (the same as "
            'adding "success" to on)'),
    Setting("digest_weekday", "string", "Mail a weekly summary on this day (nights backed up "
            "or missed, the archive's size, the copies made); default: none",
            choices=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                     "sunday")),
    Setting("ping_url", "string", "A heartbeat address (Healthchecks-style): the nightly job "
            "pings URL/start, then URL when it succeeded or URL/fail with its summary line, so "
            "that an outside service mails when the job did not run at all"),
)
SYNC = (
    Setting("reconcile_every_days", "number", "How often, in days, every id is listed and "
            "compared, and new Salesforce objects looked for (deletions are also looked for "
            "cheaply every night)", default=7,
            minimum=0, maximum=3650),
    Setting("reconcile_every_runs", "integer", "How often, in sync runs, every id is listed "
            "and compared (whichever of days and runs comes first)", default=7, minimum=1,
            maximum=10_000),
    Setting("max_delete_share", "number", "The largest share of a stream one sync may mark "
            "deleted; more are held and the run ends partial (set 1 for one sync to let a real "
            "mass deletion through)", default=0.5, minimum=0, maximum=1),
    Setting("workers", "string", "How the sources are read side by side: each in a process of "
            "its own (their work spread over the computer's processors) or each in a thread "
            "(at most one processor's worth of work in all)", default="processes",
            choices=("processes", "threads")),
)
LOG = (Setting("dir", "path", "Where the log files go (default: the platform's log folder)"),
       Setting("keep_days", "integer", "Log files (one a day, and the nightly job's output) "
               "older than this many days are deleted", default=30, minimum=1,
               maximum=3650))
CAREPLAN = (
    Setting("definition", "path", "A care-plan view definition (TOML) to print with (default: "
            "the built-in one; \"hubspot\": the built-in one for clients kept in HubSpot)"),
)
DESK = (
    Setting("session_minutes", "number", "The care-plan desk logs staff out after this many "
            "minutes without use", default=15, minimum=0.05, maximum=720),
    Setting("port", "integer", "The port 'exporter desk' serves on (default 8765; --port "
            "overrides it)", default=8765, minimum=1, maximum=65535),
)

#: Table -> (its settings, what it is, repeated: an array of tables [[name]]). ``sources`` and
#: ``targets`` hold one table per source or target, checked against the connector's or
#: writer's own settings when it is built.
TABLES: dict[str, tuple[tuple[Setting, ...], str, bool]] = {
    "archive": (ARCHIVE, "Where the archive is and how it is unlocked unattended.", False),
    "copies": (COPIES, "A second copy elsewhere (`exporter copy`); repeatable.", True),
    "notify": (NOTIFY, "Alert emails when the nightly job fails.", False),
    "sync": (SYNC, "The nightly sync.", False),
    "log": (LOG, "The log files.", False),
    "careplan": (CAREPLAN, "Printing care plans.", False),
    "desk": (DESK, "The care-plan desk (`exporter desk`).", False),
    "sources": ((), "One [sources.NAME] table per source (see the connectors below).", False),
    "targets": ((), "One [targets.NAME] table per restore target (see below).", False),
}


#: Tables read with ``raw.get(name, {})``, whose values nothing else checks: their shape and
#: values are checked here (the others' readers say what is wrong in their own words).
_READ_AS_TABLE = ("sync", "log", "careplan", "desk")


def check_tables(path: Path, raw: Mapping[str, Any]) -> None:
    """Refuse a table or a key that exporter does not know, with the nearest known name."""
    for name, hint in unknown_keys(raw, TABLES):
        raise ConfigError(f"In {path}, there is a table [{name}] that exporter does not "
                          f"know{hint}; fix or remove it (docs/settings.md lists the tables).")
    for name, (settings, _, repeated) in TABLES.items():
        value = raw.get(name)
        if value is None:
            continue
        if name in ("sources", "targets"):
            _check_named_tables(path, name, value)
            continue
        tables = value if repeated and isinstance(value, list) else [value]
        for n, table in enumerate(tables, 1):
            if not isinstance(table, Mapping):
                if name in _READ_AS_TABLE:
                    raise ConfigError(f"In {path}, [{name}] must be a table: a line [{name}] "
                                      "with its settings under it.")
                continue  # the reader of that table says how to write it
            where = f"[[{name}]] number {n}" if repeated else f"[{name}]"
            for key, hint in unknown_keys(table, [s.name for s in settings]):
                raise ConfigError(f"In {path}, {where} has a setting '{key}' that exporter "
                                  f"does not know{hint}; fix or remove it.")
            for setting in settings if name in _READ_AS_TABLE else ():
                why = setting.problem(table[setting.name]) if setting.name in table else None
                if why:
                    raise ConfigError(f"In {path}, {where} {setting.name} {why}.")


def _check_named_tables(path: Path, kind: str, value: Any) -> None:
    one = "source" if kind == "sources" else "target"
    if not isinstance(value, Mapping) or not all(isinstance(t, Mapping) for t in value.values()):
        raise ConfigError(f"In {path}, each {one} is a table of its own, e.g. [{kind}.NAME] "
                          f'with type = "..." under it.')


def settings_document() -> str:
    """docs/settings.md: every table and setting, from the declarations (core tables here,
    connectors' and targets' from the installed plugins)."""
    from exporter.plugin import CONNECTORS, TARGETS, load_plugins

    parts = ["# Settings\n",
             "Every table and setting the config file (`config.toml`) may hold. Generated "
             "from the declarations in the code by `exporter connectors --settings "
             "--markdown`; a test fails when this file is stale. A setting exporter does not "
             "know is refused, with the nearest known name.\n",
             "Secret settings are references, never the secret itself: "
             '`{ env = "NAME" }`, `{ keyring = "service/user" }` or `{ file = "path" }`.\n']
    for name, (settings, what, repeated) in TABLES.items():
        if settings:
            title = f"[[{name}]]" if repeated else f"[{name}]"
            parts.append(settings_markdown(title, what, settings))
    for group, kind in ((CONNECTORS, "sources"), (TARGETS, "targets")):
        for type_name, cls in sorted(load_plugins(group).classes.items()):
            if cls.__module__.split(".")[0] not in ("exporter", "connectors"):
                continue  # third-party plugins document themselves
            doc = (cls.__doc__ or "").strip().splitlines()
            intro = f'`type = "{type_name}"`' + (f": {doc[0]}" if doc else "")
            parts.append(settings_markdown(f"[{kind}.NAME] of type {type_name}", intro,
                                           cls.settings))
    return "\n".join(parts)

