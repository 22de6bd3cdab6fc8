"""The ``exporter`` command line. Commands are thin: they unlock, call library code, and print.

Only this module prints and chooses exit codes (EXIT_CODES, listed in the README too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from exporter import __version__, errors
from exporter.archive import Archive
from exporter.config import (
    Config,
    CopyTarget,
    default_archive_path,
    default_config_path,
    default_log_dir,
    load_config,
    write_config,
)
from exporter.copies import CopyDestinationProblem
from exporter.keys import (
    Credential,
    KeyFile,
    Passphrase,
    RecoveryKey,
    create_key_file,
    write_private_file,
)
from exporter.logs import setup_logging
from exporter.sandbox.cli import sandbox
from exporter.schedule import schedule

log = logging.getLogger("exporter.cli")

#: Exit codes, most specific first. Documented in README.md ("Exit codes").
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.ConfigError, 3),
    (errors.KeyNeeded, 3),
    (errors.WrongKey, 4),
    (errors.ArchiveLocked, 5),
    (errors.KeySlotsDamaged, 6),
    (errors.ArchiveDamaged, 6),
    (errors.UnsupportedFormat, 7),
    (errors.ArchiveNotFound, 8),
    (errors.NotFound, 9),
    (errors.DiskFull, 10),
    (CopyDestinationProblem, 14),
    (errors.ObjectStoreError, 14),
    (errors.NotifyError, 15),  # only 'notify --test' lets it through; a sync never does
    (errors.ExporterError, 1),
]
EXIT_OK = 0
EXIT_SYNC_PARTIAL = 11
EXIT_SYNC_FAILED = 12
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_DAMAGED = 6
EXIT_COPY_FAILED = 14
EXIT_NOTIFY_FAILED = 15
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True, markup=False)  # markup only where asked
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def exit_code_for(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


class State:
    """What the global options say; commands ask it for the config and for an open archive."""

    def __init__(self, config_path: Path | None, key_file: Path | None, recovery: bool) -> None:
        self.config_path = config_path
        self.key_file = key_file
        self.recovery = recovery
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            setup_logging(self._config.log_dir or default_log_dir())
        return self._config

    def credential(self) -> Credential:
        """--key-file, else the config's key file, else a recovery key if asked for, else
        EXPORTER_PASSPHRASE, else a prompt on a terminal."""
        if self.key_file is not None:
            return KeyFile(self.key_file)
        if self.recovery:
            text = os.environ.get("EXPORTER_RECOVERY_KEY")
            if not text:
                if not sys.stdin.isatty():
                    raise errors.KeyNeeded("Set EXPORTER_RECOVERY_KEY to use the recovery key "
                                           "when not running at a terminal.")
                text = click.prompt("Recovery key", hide_input=True)
            return RecoveryKey.of(text)
        if self.config.key_file is not None:
            return KeyFile(self.config.key_file)
        text = os.environ.get("EXPORTER_PASSPHRASE")
        if text:
            return Passphrase.of(text)
        if sys.stdin.isatty():
            return Passphrase.of(click.prompt("Passphrase", hide_input=True))
        raise errors.KeyNeeded(
            "The archive is locked and no passphrase was given: set EXPORTER_PASSPHRASE, "
            "give --key-file, or set key_file in the config file.")

    def open(self, write: bool = False) -> Archive:
        return Archive.open(self.config.archive, self.credential(), write=write)


def handle_errors(fn: F) -> F:
    """Turn our errors into one plain sentence and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.ExporterError as exc:
            log.warning("%s: %s", type(exc).__name__, exc)
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
            raise SystemExit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err.print("Stopped. Anything not yet committed was rolled back; run the command "
                      "again to continue.")
            raise SystemExit(EXIT_INTERRUPTED) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            log.error("unexpected error\n%s", traceback.format_exc())
            from exporter.logs import log_file

            where = log_file() or "the log file"
            err.print(f"Error: exporter hit an unexpected problem ({type(exc).__name__}). "
                      f"Nothing was lost; the details are in {where}. Please send that file to "
                      "whoever supports exporter.")
            raise SystemExit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exporter")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              envvar="EXPORTER_CONFIG", help="Config file (default: the platform's config "
              "directory, see 'exporter init').")
@click.option("--key-file", type=click.Path(path_type=Path), envvar="EXPORTER_KEY_FILE",
              help="Unlock the archive with this key file instead of a passphrase.")
@click.option("--recovery", is_flag=True,
              help="Unlock with the recovery key (prompted, or EXPORTER_RECOVERY_KEY).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, key_file: Path | None,
        recovery: bool) -> None:
    """Keep an encrypted copy of the agency's cloud data on this computer.

    \b
    Example:
      exporter init --archive D:/exporter/archive.db
      exporter status
    """
    ctx.obj = State(config_path, key_file, recovery)


# -- init --------------------------------------------------------------------------------


def _new_passphrase(prompt: str = "New passphrase") -> str | None:
    text = os.environ.get("EXPORTER_PASSPHRASE")
    if text:
        return text
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise errors.ConfigError(f"The config file {path} cannot be read ({exc}); fix or "
                                 "remove it.") from None


def _recovery_lines(key: str) -> list[str]:
    groups = key.split("-")
    return ["-".join(groups[:4]), "-".join(groups[4:])]


def write_recovery_sheet(path: Path, key: str, archive: Path) -> None:
    """A printable page with the recovery key (HTML, or PDF when the name ends in .pdf)."""
    lines = "<br>".join(_recovery_lines(key))
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Recovery key</title>
<style>body{{font-family:sans-serif;margin:2cm;font-size:14pt}}
.key{{font-family:monospace;font-size:24pt;letter-spacing:2px;border:2px solid #000;
padding:1cm;margin:1cm 0}}</style></head><body>
<h1>exporter recovery key</h1>
<p>This key opens the encrypted archive <b>{archive.name}</b> when nobody knows the
passphrase. Keep this page locked away, apart from the computer. Anyone holding it and a copy
of the archive can read every client's records.</p>
<div class="key">{lines}</div>
<p>To use it: <code>exporter --recovery status</code>, then type the key.
Then set a new passphrase with <code>exporter --recovery keys passwd</code>.</p>
</body></html>"""
    if path.suffix.lower() == ".pdf":
        from weasyprint import HTML

        data = HTML(string=html).write_pdf()
        write_private_file(path, data or b"")
    else:
        write_private_file(path, html.encode("utf-8"))


@cli.command()
@click.option("--archive", "archive_path", type=click.Path(path_type=Path),
              help="Where to keep the archive (default: the platform's data directory).")
@click.option("--key-file", "init_key_file", type=click.Path(path_type=Path),
              help="Also create a key file for unattended nightly runs (kept 0600).")
@click.option("--recovery-sheet", type=click.Path(path_type=Path),
              help="Also write the recovery key as a printable page (.html or .pdf).")
@pass_state
@handle_errors
def init(state: State, archive_path: Path | None, init_key_file: Path | None,
         recovery_sheet: Path | None) -> None:
    """Create the config file, the encrypted archive and its keys.

    Asks for a passphrase twice (or reads EXPORTER_PASSPHRASE), and prints the recovery key
    once: write it on paper and keep it safe.

    \b
    Example:
      exporter init --archive D:/exporter/archive.db --key-file D:/exporter/archive.key
    """
    config_path = state.config_path or default_config_path()
    existing: dict[str, Any] = {}
    if config_path.exists():
        existing = _read_toml(config_path)
        if "archive" in existing:
            raise errors.ConfigError(f"exporter is already set up: the config file "
                                     f"{config_path} exists. Use it, or pass --config with a "
                                     "new path.")
    archive_path = (archive_path or default_archive_path()).expanduser().resolve()
    key_file = init_key_file or state.key_file
    if key_file is not None:
        key_file = key_file.expanduser().resolve()
    passphrase = _new_passphrase()
    if not passphrase and key_file is None:
        raise errors.KeyNeeded("A passphrase is needed: set EXPORTER_PASSPHRASE, run at a "
                               "terminal, or give --key-file for a key file.")
    if key_file is not None and not key_file.exists():
        create_key_file(key_file)
    archive, recovery = Archive.create(archive_path, passphrase=passphrase, key_file=key_file)
    with archive:
        data: dict[str, Any] = existing | {
            "archive": {"path": str(archive_path), "stale_after_hours": 36}}
        if key_file is not None:
            data["archive"]["key_file"] = str(key_file)
        write_config(config_path, data)
        if recovery_sheet is not None:
            write_recovery_sheet(recovery_sheet, recovery, archive_path)
            archive.audit("init.recovery_sheet", {"path": str(recovery_sheet)})
    out.print(f"Created the encrypted archive {archive_path}")
    out.print(f"Config file: {config_path}")
    if key_file is not None:
        out.print(f"Key file for unattended runs: {key_file} (keep it private; back it up)")
    out.print("\nRecovery key (write it down now and keep it somewhere safe; it is shown only "
              "once):\n")
    for line in _recovery_lines(recovery):
        out.print(f"    {line}")
    if recovery_sheet is not None:
        out.print(f"\nThe recovery key was also written to {recovery_sheet}: print it, then "
                  "delete the file.")


# -- status, verify, history -------------------------------------------------------------


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


@cli.command()
@pass_state
@handle_errors
def status(state: State) -> None:
    """Say in plain words what the archive holds and how the last runs went.

    \b
    Example:
      exporter status
    """
    from exporter import notify as alerts

    with state.open() as archive:
        runs = archive.runs()
        counts = archive.counts()
        stale = alerts.stale_sources(runs, list(state.config.sources),
                                     state.config.stale_after_hours)
        out.print(f"Archive: {archive.path} ({_size(archive.size_bytes())}, encrypted)")
        if not runs:
            out.print("No runs yet: the archive is empty. Run 'exporter sync' to fill it.")
        else:
            last = runs[0]
            out.print(f"Runs: {len(runs)}. The last one (run {last.id}, {last.kind}) started "
                      f"{last.started_at[:16].replace('T', ' ')} UTC and ended {last.status}.")
            for source, run in sorted(last_success(runs).items()):
                out.print(f"Last successful sync of {source}: run {run.id}, "
                          f"{(run.finished_at or run.started_at)[:16].replace('T', ' ')} UTC.")
        _print_last_copies(archive, state.config)
        if counts:
            table = Table(title="Records", title_justify="left")
            for col in ("source", "stream", "records", "deleted", "versions kept"):
                table.add_column(col, justify="left" if col in ("source", "stream") else "right")
            for c in counts:
                table.add_row(c["source"], c["stream"], str(c["current"]), str(c["deleted"]),
                              str(c["versions"]))
            out.print(table)
    if stale:
        names = ", ".join(source for source, _ in stale)
        out.print(f"Warning: no complete sync of {names} for more than "
                  f"{state.config.stale_after_hours:g} hours: check that the nightly job still "
                  "runs, then run 'exporter sync'.")
        _alert_stale(state.config, stale, alerts.last_good_sync(runs))


def _print_last_copies(archive: Archive, config: Config) -> None:
    """The last copy per destination (from the audit log), flagged when it is stale."""
    last: dict[str, dict[str, Any]] = {}
    for entry in archive.audit_entries("copy"):  # oldest first
        where = entry["detail"].get("destination")
        if entry["action"] == "copy" and isinstance(where, str):
            last[where] = entry
    now = dt.datetime.now(dt.UTC)
    for where, entry in sorted(last.items()):
        out.print(f"Last copy to {where}: {entry['at'][:16].replace('T', ' ')} UTC "
                  f"({entry['detail'].get('folder')}).")
        try:
            age = (now - dt.datetime.fromisoformat(entry["at"])).total_seconds() / 3600
        except ValueError:
            continue
        if age > config.stale_after_hours:
            out.print(f"Warning: the last copy to {where} is {age:.0f} hours old (more than "
                      f"{config.stale_after_hours:g}): check that the copy still runs there "
                      "(is the USB disk plugged in?) and run 'exporter copy'.")
    for target in config.copies:
        if target.where not in last:
            out.print(f"Warning: no copy has been made to {target.where} ({target.name}) yet: "
                      "run 'exporter copy'.")


def last_success(runs: list[Any]) -> dict[str, Any]:
    """Per source, the newest run in which that source synced fully."""
    found: dict[str, Any] = {}
    for run in runs:  # newest first
        for source, info in (run.stats.get("sources") or {}).items():
            if source not in found and isinstance(info, dict) and info.get("status") == "ok":
                found[source] = run
    return found


@cli.command()
@pass_state
@handle_errors
def verify(state: State) -> None:
    """Check the whole archive: encryption, structure, every record and file.

    Exits 0 when all is sound, 6 when something is damaged (and says what).

    \b
    Example:
      exporter verify
    """
    with state.open() as archive:
        problems = archive.verify(progress=lambda msg: err.print(f"… {msg}"))
        try:
            archive.audit("verify", {"problems": len(problems)})
        except errors.ExporterError:
            if not problems:
                raise  # a sound archive must take the audit entry; a damaged one may refuse
    if problems:
        err.print(f"[bold red]The archive is damaged:[/] {len(problems)} problem(s) found. "
                  "Restore it from your second copy.", markup=True)
        for p in problems[:50]:
            err.print(f"  - {p}")
        raise SystemExit(EXIT_DAMAGED)
    out.print("The archive is sound: every page, record version and file checked out.")


@cli.command()
@click.argument("source")
@click.argument("stream")
@click.argument("record_id")
@pass_state
@handle_errors
def history(state: State, source: str, stream: str, record_id: str) -> None:
    """Show every archived version of one record.

    \b
    Example:
      exporter history salesforce Medication__c a0B5e00000AbCdEFGH
    """
    import json

    with state.open() as archive:
        versions = archive.history(source, stream, record_id)
        archive.audit("history", {"source": source, "stream": stream, "record": record_id})
    for v in versions:
        until = f"until run {v.superseded_run}" if v.superseded_run else "current"
        what = "deleted" if v.deleted else "version"
        out.print(f"[bold]{what} from run {v.first_run}[/] ({until}, first seen "
                  f"{v.seen_at[:19].replace('T', ' ')} UTC)", markup=True)
        if v.data is not None:
            out.print(json.dumps(v.data, indent=2, ensure_ascii=False, sort_keys=True))


# -- export ------------------------------------------------------------------------------


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), required=True,
              help="jsonl: one file; csv: one file per stream.")
@click.option("--stream", "streams", multiple=True,
              help="Only this stream (e.g. Account or salesforce/Account); repeatable.")
@click.option("--as-of", help="A run number or a date (2026-11-30): the data as it was then.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="File (jsonl, or csv with one --stream) or folder to write.")
@pass_state
@handle_errors
def export(state: State, fmt: str, streams: tuple[str, ...], as_of: str | None,
           out_path: Path) -> None:
    """Write archived records out as plain files, on purpose.

    The files are NOT encrypted: they hold health data. Every export is written to the
    archive's audit log.

    \b
    Example:
      exporter export --format csv --stream Medication__c --out medications.csv
    """
    from exporter.export import export_archive

    with state.open() as archive:
        result = export_archive(archive, fmt, out_path, list(streams) or None, as_of)
    out.print(f"Exported {result.records} records to {len(result.files)} file(s):")
    for p in result.files:
        out.print(f"  {p}")
    out.print("These files are not encrypted: keep them safe and delete them when done.")


# -- keys --------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Manage the passphrases, key files and recovery key that open the archive.

    \b
    Example:
      exporter keys list
    """


@keys.command("list")
@pass_state
@handle_errors
def keys_list(state: State) -> None:
    """List the key slots (never the keys themselves).

    \b
    Example:
      exporter keys list
    """
    with state.open() as archive:
        table = Table()
        for col in ("id", "kind", "label", "created", "protection"):
            table.add_column(col)
        for slot in archive.slots.slots:
            kdf = slot["kdf"]
            prot = {"argon2id": f"Argon2id m={kdf.get('memory_kib')} KiB t={kdf.get('iterations')}",
                    "scrypt": f"scrypt n={kdf.get('n')} r={kdf.get('r')}"}.get(
                        kdf.get("name"), "random key (high entropy)")
            table.add_row(slot["id"], slot["kind"], slot.get("label", ""),
                          slot.get("created", "")[:10], prot)
        out.print(table)


@keys.command("add")
@click.option("--passphrase", "add_passphrase", is_flag=True,
              help="Add a passphrase (asked twice, or EXPORTER_NEW_PASSPHRASE).")
@click.option("--key-file", "add_key_file", type=click.Path(path_type=Path),
              help="Create a new key file here and add it.")
@click.option("--label", default=None, help="A name for the slot, e.g. a person's name.")
@pass_state
@handle_errors
def keys_add(state: State, add_passphrase: bool, add_key_file: Path | None,
             label: str | None) -> None:
    """Add a passphrase or a key file that also opens the archive.

    \b
    Example:
      exporter keys add --passphrase --label "finance officer"
      exporter keys add --key-file D:/exporter/nightly.key
    """
    if add_passphrase == (add_key_file is not None):
        raise click.UsageError("Give exactly one of --passphrase or --key-file.")
    with state.open(write=True) as archive:
        master, slots = archive.master, archive.slots
        if add_key_file is not None:
            key = create_key_file(add_key_file.expanduser().resolve())
            slot_id = slots.add_key_file(master, key, label or f"key file {add_key_file.name}")
        else:
            text = os.environ.get("EXPORTER_NEW_PASSPHRASE") or (
                click.prompt("New passphrase", hide_input=True, confirmation_prompt=True)
                if sys.stdin.isatty() else None)
            if not text:
                raise errors.KeyNeeded("Set EXPORTER_NEW_PASSPHRASE or run at a terminal to "
                                       "add a passphrase.")
            slot_id = slots.add_passphrase(master, text, label or "passphrase")
        slots.save(master)
        archive.audit("keys.add", {"slot": slot_id})
    out.print(f"Added key slot {slot_id}.")


@keys.command("remove")
@click.argument("slot_id")
@pass_state
@handle_errors
def keys_remove(state: State, slot_id: str) -> None:
    """Remove a key slot (the last passphrase or key file cannot be removed).

    \b
    Example:
      exporter keys remove 3f9a0c1b2d4e
    """
    with state.open(write=True) as archive:
        try:
            archive.slots.remove(slot_id)
        except ValueError as exc:
            msg = (f"There is no key slot {slot_id}; 'exporter keys list' shows them."
                   if "no key slot" in str(exc) else
                   "That is the last passphrase or key file; add another before removing it.")
            raise errors.ConfigError(msg) from None
        archive.slots.save(archive.master)
        archive.audit("keys.remove", {"slot": slot_id})
    out.print(f"Removed key slot {slot_id}.")


@keys.command("passwd")
@click.argument("slot_id", required=False)
@pass_state
@handle_errors
def keys_passwd(state: State, slot_id: str | None) -> None:
    """Change a passphrase (re-wraps the key; the data is not re-encrypted).

    Unlock as usual (the current passphrase, a key file or --recovery); the new passphrase is
    asked twice, or read from EXPORTER_NEW_PASSPHRASE.

    \b
    Example:
      exporter keys passwd
    """
    with state.open(write=True) as archive:
        slots = archive.slots
        candidates = [s for s in slots.slots if s["kind"] == "passphrase"
                      and (slot_id is None or s["id"] == slot_id)]
        if slot_id is not None and not candidates:
            raise errors.ConfigError(f"There is no passphrase slot {slot_id}; 'exporter keys "
                                     "list' shows them.")
        if len(candidates) > 1:
            raise errors.ConfigError("There are several passphrases; name the slot to change "
                                     "('exporter keys list' shows them).")
        text = os.environ.get("EXPORTER_NEW_PASSPHRASE") or (
            click.prompt("New passphrase", hide_input=True, confirmation_prompt=True)
            if sys.stdin.isatty() else None)
        if not text:
            raise errors.KeyNeeded("Set EXPORTER_NEW_PASSPHRASE or run at a terminal to change "
                                   "the passphrase.")
        label = candidates[0].get("label", "passphrase") if candidates else "passphrase"
        new_id = slots.add_passphrase(archive.master, text, label)
        if candidates:
            slots.slots = [s for s in slots.slots if s["id"] != candidates[0]["id"]]
        slots.save(archive.master)
        archive.audit("keys.passwd", {"slot": new_id,
                                      "replaced": candidates[0]["id"] if candidates else None})
    out.print("The passphrase was changed.")


@keys.command("recovery")
@pass_state
@handle_errors
def keys_recovery(state: State) -> None:
    """Replace the recovery key with a new one (the old one stops working).

    \b
    Example:
      exporter keys recovery
    """
    with state.open(write=True) as archive:
        key = archive.slots.set_recovery(archive.master)
        archive.slots.save(archive.master)
        archive.audit("keys.recovery", {})
    out.print("New recovery key (write it down now; it is shown only once):\n")
    for line in _recovery_lines(key):
        out.print(f"    {line}")


# -- sync, check, connectors ------------------------------------------------------------


@cli.command()
@click.option("--source", "sources", multiple=True,
              help="Only this configured source (repeatable); default: all of them.")
@click.option("--full", is_flag=True,
              help="Read everything again and check for hard deletes (slower).")
@pass_state
@handle_errors
def sync(state: State, sources: tuple[str, ...], full: bool) -> None:
    """Copy every configured source into the archive (the nightly job).

    Only what changed since the last run is fetched; deletions are recorded. One failing
    source never stops the others: the run then ends "partial" (exit 11); if every source
    failed it ends "failed" (exit 12). Shows progress bars at a terminal and one line per
    stream otherwise (for cron and Task Scheduler). Then every [[copies]] with
    after_sync = true is made (see 'exporter copy'); a failed copy keeps the sync and, if
    the sync itself succeeded, exits 14.

    \b
    Example:
      exporter sync
      exporter sync --source salesforce --full
    """
    config = state.config  # a config that does not load cannot say where to send an alert
    alerted: list[bool] = []
    try:
        _sync(state, sources, full, alerted)
    except errors.ExporterError as exc:
        if not alerted:
            _alert_sync_error(config, str(exc))
        raise
    except Exception as exc:  # a bug: say so in the mail too (the details stay in the log)
        if not alerted:
            _alert_sync_error(config, f"exporter hit an unexpected problem "
                              f"({type(exc).__name__}); the details are in its log file.")
        raise


def _sync(state: State, sources: tuple[str, ...], full: bool, alerted: list[bool]) -> None:
    from exporter import notify as alerts
    from exporter.progress import progress_for
    from exporter.sources import build_connectors
    from exporter.sync import run_sync

    config = state.config
    connectors = build_connectors(config, sources)
    every = float(config.raw.get("sync", {}).get("reconcile_every_days", 7))
    credential = state.credential()
    copy_failures: list[int] = []
    problems: list[alerts.Problem] = []
    with Archive.open(config.archive, credential, write=True) as archive:
        # Checked before the run: if this run fails too, its alert says how old the data is.
        stale = alerts.stale_sources(archive.runs(), list(config.sources),
                                     config.stale_after_hours) if config.notify else []
        with progress_for(err) as progress:
            report = run_sync(archive, connectors, full=full, reconcile_every_days=every,
                              progress=progress)
        words = {"ok": "finished", "partial": "finished PARTIALLY", "failed": "FAILED"}
        out.print(f"Sync run {report.run_id} {words.get(report.status, report.status)}.")
        for src in report.sources:
            if src.status != "ok":
                out.print(f"  {src.name}: {src.status}: {src.error}")
        if report.status in ("ok", "partial"):
            # Still under the write lock: the copies hold exactly what this sync archived.
            copy_failures = _make_copies(archive, credential,
                                         [t for t in config.copies if t.after_sync],
                                         problems=problems)
        last_good = alerts.last_good_sync(archive.runs()) if config.notify else None
    alerted.append(True)  # from here on, the run's own alert (if any) tells what happened
    if config.notify is not None:  # after the lock is released: a slow mail server holds nothing
        _alert_after_sync(config, report, problems, stale, last_good)
    if report.status == "partial":
        raise SystemExit(EXIT_SYNC_PARTIAL)
    if report.status == "failed":
        raise SystemExit(EXIT_SYNC_FAILED)
    if copy_failures:
        raise SystemExit(EXIT_COPY_FAILED)


@cli.command()
@pass_state
@handle_errors
def check(state: State) -> None:
    """Test everything tonight's job needs, and say what to fix: each source's credentials
    and reach, the key file that unlocks the archive unattended (when one is set), each
    [[copies]] destination (the folder is there and can be written to; the object store's
    bucket answers to its keys) and the [notify] settings (nothing is sent: use
    'exporter notify --test' for that). Nothing is written to the archive.

    \b
    Example:
      exporter check
    """
    from exporter.sources import build_connector

    config = state.config
    if not config.sources:
        raise errors.ConfigError(f"No sources are configured in {config.path}; add a "
                                 "[sources.NAME] table (see README).")
    failures = 0

    def mark(ok: bool, text: str) -> None:
        nonlocal failures
        failures += not ok
        out.print(f"{'[green]✓[/]' if ok else '[red]✗[/]'} {escape(text)}", markup=True)

    for name, table in config.sources.items():
        try:
            connector = build_connector(name, table, config.path)
            results = connector.check()
            connector.close()
        except errors.ExporterError as exc:
            mark(False, f"{name}: {exc}")
            continue
        for r in results:
            mark(r.ok, f"{name}: {r.what}" + ("" if r.ok else f": {r.detail}"))
    for what, ok, text in _readiness(state):
        mark(ok, f"{what}: {text}")
    if failures:
        raise SystemExit(EXIT_SYNC_FAILED)
    out.print("Every source answered" + (", and the rest is ready." if config.copies or
                                         config.notify or config.key_file else "."))


def _readiness(state: State) -> Iterator[tuple[str, bool, str]]:
    """(what, ok, one sentence) for the parts of the nightly job beyond the sources."""
    import tempfile

    from exporter.copies import check_destination
    from exporter.keys import KeyFile, KeySlots, slots_path_for

    config = state.config
    if config.key_file is not None:
        try:
            KeySlots.load(slots_path_for(config.archive)).unlock(KeyFile(config.key_file))
            yield "key file", True, f"{config.key_file} unlocks the archive"
        except errors.ExporterError as exc:
            yield "key file", False, str(exc)
    for target in config.copies:
        what = f"copy {target.name}"
        try:
            dest = _open_destination(target)
            check_destination(dest)
            if isinstance(dest, Path):
                with tempfile.NamedTemporaryFile(dir=dest, prefix=".exporter-check-"):
                    pass
                yield what, True, f"the folder {dest} is there and can be written to"
            else:
                yield what, True, f"{dest.url} answers to its keys"
        except errors.ExporterError as exc:
            yield what, False, str(exc)
        except OSError as exc:
            yield what, False, (f"the folder {target.path} cannot be written to "
                                f"({exc.strerror or exc}).")
    if config.notify is not None:
        from exporter.notify import resolve_password

        try:
            resolve_password(config.notify)
            yield "alert email", True, (f"settings complete, to {', '.join(config.notify.to)} "
                                        "(run 'exporter notify --test' to send a test message)")
        except errors.ExporterError as exc:
            yield "alert email", False, str(exc)


@cli.command()
@click.option("--streams", "show_streams", is_flag=True,
              help="Also ask each configured source for its streams (uses the network).")
@pass_state
@handle_errors
def connectors(state: State, show_streams: bool) -> None:
    """List the installed connectors (built-in and plugins) and their streams.

    \b
    Example:
      exporter connectors --streams
    """
    from exporter.connector import load_connectors
    from exporter.sources import build_connector

    loaded = load_connectors()
    for type_name, cls in sorted(loaded.classes.items()):
        doc = (cls.__doc__ or "").strip().splitlines()
        out.print(f"[bold]{escape(type_name)}[/] ({cls.__module__}): "
                  f"{escape(doc[0]) if doc else ''}", markup=True)
        if cls.known_streams:
            out.print("  streams: " + ", ".join(cls.known_streams))
    for type_name, problem in sorted(loaded.problems.items()):
        out.print(f"[red]{escape(type_name)}[/]: failed to load ({escape(problem)})",
                  markup=True)
    if show_streams:
        for name, table in state.config.sources.items():
            connector = build_connector(name, table, state.config.path)
            try:
                names = [s.name for s in connector.streams()]
            finally:
                connector.close()
            out.print(f"source {name}: {len(names)} streams: {', '.join(names)}")


# -- alert emails ([notify]) ---------------------------------------------------------------


def _copy_label(target: CopyTarget) -> str:
    """How an alert names a copy: its name, or the folder's last part for an ad-hoc folder."""
    if target.path is not None and target.name == str(target.path):
        return target.path.name or target.name
    return target.name


def _send_alert(config: Config, alert: Any) -> bool:
    """Send ``alert`` if [notify] asks for it. A mail that cannot be sent is logged and one
    warning line on stderr: it never changes the command's exit code or loses its work."""
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or not alerts.wanted(settings, alert):
        return False
    try:
        alerts.send(settings, alert)
    except errors.ExporterError as exc:
        log.warning("alert email %r not sent: %s: %s", alert.kind, type(exc).__name__, exc)
        err.print(f"Warning: the alert email could not be sent: {exc}")
        return False
    except Exception as exc:  # never lose a sync for a mail
        log.error("alert email %r not sent\n%s", alert.kind, traceback.format_exc())
        err.print(f"Warning: the alert email could not be sent ({type(exc).__name__}); the "
                  "details are in the log file.")
        return False
    out.print(f"Alert email sent to {', '.join(settings.to)}: {alert.subject}")
    return True


def _alert_after_sync(config: Config, report: Any, problems: list[Any],
                      stale: list[tuple[str, str | None]], last_good: str | None) -> None:
    """One alert for the run (its outcome and the copies after it); a stale-data alert only
    when the run's own alert is not wanted, at most once a day."""
    import datetime as dt

    from exporter import notify as alerts

    settings = config.notify
    assert settings is not None
    state = alerts.NotifyState.for_archive(config.archive)
    if report.status == "ok":
        state.record_good_sync(last_good or dt.datetime.now(dt.UTC).isoformat())
    stale_hours = None
    if stale and report.status != "ok":
        ages = [h for h in (alerts.hours_since(when) for _, when in stale) if h is not None]
        stale_hours = max(ages) if ages else None
    alert = alerts.sync_alert(settings, report, problems, last_good, stale_hours)
    if alerts.wanted(settings, alert):
        if _send_alert(config, alert) and stale:
            state.mark_stale_sent()  # that mail said how old the data is: no second one today
    elif stale and report.status != "ok":
        _alert_stale(config, stale, last_good)


def _alert_stale(config: Config, stale: list[tuple[str, str | None]],
                 last_good: str | None) -> None:
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or "stale" not in settings.on:
        return
    state = alerts.NotifyState.for_archive(config.archive)
    if not state.stale_due():
        log.info("stale-data alert already sent today; not sending another")
        return
    if _send_alert(config, alerts.stale_alert(settings, stale, config.stale_after_hours,
                                              last_good or state.last_good_sync)):
        state.mark_stale_sent()


def _alert_sync_error(config: Config, message: str) -> None:
    """The alert for a sync that stopped before it could finish (the archive would not open,
    is locked, the disk is full ...): exporter's plain message."""
    from exporter import notify as alerts

    if config.notify is None:
        return
    last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
    _send_alert(config, alerts.error_alert(config.notify, message, last_good))


@cli.command("notify")
@click.option("--test", "send_test", is_flag=True,
              help="Send a test message to the [notify] addresses and say whether it worked "
              "(exit 15 if it could not be sent).")
@pass_state
@handle_errors
def notify_command(state: State, send_test: bool) -> None:
    """Alert emails: who is told when the nightly job fails, and a test message.

    Configured in the config file's [notify] table (see README). Without --test, shows the
    settings; with --test, sends a test message through the mail server now. Exit 15 means
    the test message could not be sent (the message says why).

    \b
    Example:
      exporter notify --test
    """
    from exporter import notify as alerts

    config = state.config
    settings = config.notify
    if settings is None:
        raise errors.ConfigError(f"No alert emails are set up: add a [notify] table to "
                                 f"{config.path} with to, from, smtp_host, username and "
                                 "password (see README).")
    login = f", logging in as {settings.username}" if settings.username else ""
    out.print(f"Alert emails go to {', '.join(settings.to)} from {settings.sender} through "
              f"{settings.smtp_host}:{settings.smtp_port} ({settings.security}{login}), on: "
              f"{', '.join(settings.on)}.")
    if not send_test:
        out.print("Run 'exporter notify --test' to send a test message.")
        return
    alert = alerts.test_alert(settings,
                              alerts.NotifyState.for_archive(config.archive).last_good_sync)
    try:
        alerts.send(settings, alert)
    except errors.NotifyError as exc:
        log.warning("test email not sent: %s", exc)
        raise errors.NotifyError(f"The test email could not be sent. {exc}") from None
    log.info("test email sent to %s", ", ".join(settings.to))
    out.print(f"Sent a test email to {', '.join(settings.to)} ('{alert.subject}'). It worked "
              "on this side: check that it arrived (look in the junk folder too).")


# -- copy --------------------------------------------------------------------------------


_BIG_COPY = 64 << 20  # show a progress bar from this many bytes on


@contextlib.contextmanager
def _copy_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A byte progress bar for a big copy at a terminal; nothing otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True)
    tasks: list[Any] = []

    def advanced(done: int, total: int) -> None:
        if total < _BIG_COPY:
            return
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(label, total=total))
        bar.update(tasks[0], completed=done)

    try:
        yield advanced
    finally:
        bar.stop()


def _open_destination(target: CopyTarget) -> Any:
    """The folder, or the object store with its secrets resolved now (not before: a missing
    variable for a store must not break other commands)."""
    if target.url:
        from exporter.copies import open_store

        return open_store(target)
    return target.path


def _make_copies(archive: Archive, credential: Credential, targets: list[CopyTarget],
                 opened: dict[str, Any] | None = None,
                 problems: list[Any] | None = None) -> list[int]:
    """Make each copy, one plain line each; returns the exit codes of those that failed (and
    adds each failure to ``problems``, for the alert email)."""
    from exporter.copies import make_copy
    from exporter.notify import Problem

    failures = []
    for target in targets:
        try:
            dest = (opened or {}).get(target.name) or _open_destination(target)
            with _copy_bar(f"copying to {target.name}") as progress:
                result = make_copy(archive, credential, dest, keep=target.keep,
                                   progress=progress)
        except errors.ExporterError as exc:
            log.warning("copy to %s: %s: %s", target.where, type(exc).__name__, exc)
            err.print(f"[bold red]Error:[/] the copy to {escape(target.where)} failed: "
                      f"{escape(str(exc))}", markup=True)
            failures.append(exit_code_for(exc))
            if problems is not None:
                problems.append(Problem(f"the copy to {_copy_label(target)}", str(exc)))
            continue
        there = "1 copy" if result.kept == 1 else f"{result.kept} copies"
        out.print(f"Copied the archive ({_size(result.size)}) to {result.folder}; verified; "
                  f"{there} kept there.")
        for problem in result.problems:
            err.print(f"Warning: {problem}.")
    return failures


def _chosen_copies(config: Config, to: str | None) -> list[CopyTarget]:
    if to is None:
        if not config.copies:
            raise errors.ConfigError(
                f"No copies are configured in {config.path}: add a [[copies]] table with the "
                "folder to copy to (see README), or give a folder with --to.")
        return list(config.copies)
    for target in config.copies:
        if target.name == to:
            return [target]
    if to.startswith("s3://"):  # a store's keys live in the config: it must be configured
        for target in config.copies:
            if target.url == to.rstrip("/"):
                return [target]
        raise errors.ConfigError(
            f"{to} is not a configured copy in {config.path}: add a [[copies]] table with "
            "url, endpoint_url, access_key_id and secret_access_key for it (see README).")
    folder = Path(to).expanduser()
    if not folder.exists() and not any(sep in to for sep in ("/", "\\", ":")):
        names = ", ".join(t.name for t in config.copies) or "none"
        raise errors.ConfigError(f"There is no copy named '{to}' in {config.path} (configured: "
                                 f"{names}), and no folder '{to}' here.")
    folder = folder.resolve()
    for target in config.copies:  # a configured folder given by its path keeps its settings
        if target.path == folder:
            return [target]
    return [CopyTarget(name=str(folder), path=folder)]


def _archive_id_of(config: Config) -> str | None:
    """The archive's id from its .keys file (no unlocking needed), if it is there."""
    from exporter.keys import KeySlots, slots_path_for

    try:
        return KeySlots.load(slots_path_for(config.archive)).archive_id
    except errors.ExporterError:
        return None


def _list_copies(config: Config, targets: list[CopyTarget], check: bool) -> None:
    from exporter.copies import list_copies

    archive_id = _archive_id_of(config)
    damaged = missing = 0
    for target in targets:
        try:
            found = list_copies(_open_destination(target), archive_id, check=check)
        except errors.ExporterError as exc:
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
            missing = missing or exit_code_for(exc)
            continue
        named = "" if target.name == target.where else f" ({target.name})"
        out.print(f"{target.where}{named}: {len(found)} "
                  f"{'copy' if len(found) == 1 else 'copies'} of this archive"
                  f"{'' if archive_id else ' (the archive is not there: every copy is listed)'}.")
        for info in found:
            run = info.newest_run
            newest = (f"newest run {run.get('id')} of {str(run.get('started_at', ''))[:16]}"
                      .replace("T", " ") + " UTC" if isinstance(run, dict) else "no runs")
            line = (f"  {info.name}: made {info.created_at[:16].replace('T', ' ')} UTC, "
                    f"{_size(info.size)}, {newest}")
            if info.problems:
                damaged += 1
                line += f"; DAMAGED: {'; '.join(info.problems)}"
            elif info.problems is not None:
                line += "; checked: every file matches its manifest"
            out.print(line)
    if damaged:
        err.print(f"[bold red]{damaged} damaged copy(ies) found.[/] Delete them and make a new "
                  "copy with 'exporter copy'; the other copies are fine.", markup=True)
        raise SystemExit(EXIT_DAMAGED)
    if missing:
        raise SystemExit(missing)


def _fetch_source(state: State, to: str) -> tuple[Any, str]:
    """What --fetch reads from: a configured copy (name or URL) or any folder. A folder needs
    no config file at all (the office PC, and its config, may be gone)."""
    folder = Path(to).expanduser()
    if not to.startswith("s3://") and folder.is_dir():
        try:
            names = {t.name for t in state.config.copies}
        except errors.ConfigError:
            names = set()
        if to not in names:
            return folder.resolve(), str(folder.resolve())
    [target] = _chosen_copies(state.config, to)
    return _open_destination(target), target.where


def _fetch(state: State, name: str, to: str | None, into: Path | None) -> None:
    from exporter.copies import check_destination, fetch_copy

    if not to or into is None:
        raise click.UsageError("--fetch needs --to (where the copy is: a configured copy's "
                               "name, its s3:// url, or a folder) and --into (an empty folder "
                               "for the archive).")
    source, where = _fetch_source(state, to)
    check_destination(source)
    with _copy_bar(f"fetching {name}") as progress:
        result = fetch_copy(source, name, into, progress=progress)
    log.info("fetched copy %s from %s into %s", result.copy.name, where, result.folder)
    out.print(f"Fetched the copy {result.copy.name} (made "
              f"{result.copy.created_at[:16].replace('T', ' ')} UTC, {_size(result.size)}) from "
              f"{where} into {result.folder}; every file matches its manifest.")
    out.print(f"Next: point [archive] path at {result.archive} and unlock it with your "
              "passphrase, key file or recovery key (then run 'exporter verify').")


@cli.command()
@click.option("--to", "to", metavar="NAME|FOLDER|URL",
              help="One configured copy (its name or s3:// url), or any folder; default: every "
              "[[copies]] in the config.")
@click.option("--list", "listing", is_flag=True,
              help="List the copies of this archive in each destination instead of copying.")
@click.option("--check", is_flag=True,
              help="List the copies and read every file again against its manifest (from an "
              "object store: download and re-hash; exit 6 if one is damaged).")
@click.option("--fetch", "fetch", metavar="COPY",
              help="Get the copy COPY (its name, or 'latest') back from --to into the folder "
              "--into; needs no archive here.")
@click.option("--into", type=click.Path(path_type=Path),
              help="With --fetch: the folder to put the archive in (created if missing; an "
              "archive already there is never overwritten).")
@pass_state
@handle_errors
def copy(state: State, to: str | None, listing: bool, check: bool, fetch: str | None,
         into: Path | None) -> None:
    """Put a second copy of the archive elsewhere: a USB disk, a NAS share, a synced folder,
    or an S3-compatible object store (Backblaze B2, Wasabi, MinIO, AWS S3).

    Each copy is a dated folder (in a store: a dated prefix) holding the encrypted archive
    and its .keys file (never the key file), checked after it is written; the oldest copies
    beyond the configured 'keep' are deleted. A folder must exist (a missing USB disk exits
    14 and says so); a store must answer with the configured keys (else exit 14). The
    archive is locked while it is copied, so no sync writes meanwhile.

    With --fetch, a copy comes back into an empty folder when this computer's archive is
    gone: its files are checked against the copy's manifest; then point [archive] path at
    it and unlock it as usual.

    \b
    Example:
      exporter copy
      exporter copy --to usb
      exporter copy --to E:/exporter-copies
      exporter copy --list --check
      exporter copy --fetch latest --to b2 --into C:/exporter-restored
    """
    from exporter.copies import check_destination

    if fetch is not None:
        _fetch(state, fetch, to, into)
        return
    if into is not None:
        raise click.UsageError("--into goes with --fetch.")
    config = state.config
    targets = _chosen_copies(config, to)
    if listing or check:
        _list_copies(config, targets, check)
        return
    from exporter import notify as alerts

    failures: list[int] = []
    problems: list[alerts.Problem] = []
    reachable = []
    opened: dict[str, Any] = {}
    for target in targets:  # before unlocking: a missing disk touches nothing
        try:
            dest = _open_destination(target)
            check_destination(dest)
            opened[target.name] = dest
            reachable.append(target)
        except errors.ExporterError as exc:
            log.warning("copy to %s: %s", target.where, exc)
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
            failures.append(exit_code_for(exc))
            problems.append(alerts.Problem(f"the copy to {_copy_label(target)}", str(exc)))
    if reachable:
        credential = state.credential()
        with Archive.open(config.archive, credential, write=True) as archive:
            failures += _make_copies(archive, credential, reachable, opened, problems)
    if problems and config.notify is not None:
        last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
        _send_alert(config, alerts.copy_alert(config.notify, problems, last_good))
    if failures:
        raise SystemExit(failures[0])


# -- print -------------------------------------------------------------------------------


@cli.command("print")
@click.argument("client", required=False)
@click.option("--all", "everyone", is_flag=True,
              help="Every client in the binder (active clients): one PDF with a table of "
              "contents, or one file per client with --split.")
@click.option("--as-of", help="A run number or a date (2026-11-30): the plan as it was then.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "html"]), default="pdf",
              show_default=True, help="PDF to print, or HTML to open in a browser.")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="File (or folder) to write; default: careplan-<number>-<time>.pdf here.")
@click.option("--paper", type=click.Choice(["letter", "a4"]), default="letter",
              show_default=True, help="Paper size.")
@click.option("--split", is_flag=True, help="With --all: one file per client in the --out "
              "folder instead of one binder.")
@click.option("--definition", "definition_path", type=click.Path(path_type=Path),
              help="A care-plan view definition (TOML); default: the config's [careplan] "
              "definition, else the built-in one for the sandbox agency.")
@pass_state
@handle_errors
def print_(state: State, client: str | None, everyone: bool, as_of: str | None, fmt: str,
           out_path: Path | None, paper: str, split: bool, definition_path: Path | None) -> None:
    """Print a client's care plan from the archive, with no network.

    CLIENT is a name or an id (client number or record id), in any case, with or without
    accents; a name that fits several clients lists them. The file holds health data: it is
    written readable by you only, and every print is written to the archive's audit log.

    \b
    Example:
      exporter print "zoe muller"
      exporter print C-00001 --as-of 2026-11-28 --paper a4
      exporter print --all --out binder.pdf
    """
    from exporter.careplan.build import AmbiguousClient
    from exporter.careplan.definition import load_definition
    from exporter.careplan.printing import print_care_plans

    if everyone == (client is not None):
        raise click.UsageError("Give a CLIENT (name or number) or --all.")
    if split and not everyone:
        raise click.UsageError("--split goes with --all.")
    config = state.config
    table = config.raw.get("careplan")
    configured = table.get("definition") if isinstance(table, dict) else None
    if definition_path is None and isinstance(configured, str):
        definition_path = (config.path.parent / configured).expanduser()
    definition = load_definition(definition_path)
    with state.open() as archive:
        try:
            result = print_care_plans(
                archive, definition, query=client, everyone=everyone, as_of=as_of, fmt=fmt,
                out=out_path, paper=paper, split=split,
                stale_after_hours=config.stale_after_hours, workers=os.cpu_count() or 1)
        except AmbiguousClient as exc:
            err.print(f"[bold red]Error:[/] '{escape(client or '')}' matches "
                      f"{len(exc.candidates)} clients; give the client number:", markup=True)
            for c in exc.candidates:
                err.print(f"  {c.display_key}  {c.name}  (born {c.birthdate or '?'})")
            raise SystemExit(exit_code_for(exc)) from None
    if len(result.files) > 1:
        out.print(f"Wrote {len(result.files)} care plans to {result.files[0].parent}")
    else:
        what = "care plan" if len(result.clients) == 1 else f"{len(result.clients)} care plans"
        out.print(f"Wrote the {what} to {result.files[0]}")
    if result.stale:
        err.print(f"Warning: {result.stale}")
    out.print("The file holds health data: print it, then delete it.")


# -- restore -----------------------------------------------------------------------------


EXIT_NOT_MATCHING = 13


class _RestoreLines:
    """Restore progress: a bar per target object at a terminal, one line each otherwise."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                            console=console, transient=True) if console.is_terminal else None
        self.tasks: dict[str, Any] = {}

    def started(self, label: str, total: int | None) -> None:
        if self.bar is not None:
            self.tasks[label] = self.bar.add_task(label, total=total or 0)

    def advanced(self, label: str, records: int) -> None:
        if self.bar is not None and label in self.tasks:
            self.bar.advance(self.tasks[label], records)

    def finished(self, label: str, summary: str) -> None:
        if self.bar is not None and label in self.tasks:
            self.bar.remove_task(self.tasks.pop(label))
        self.console.print(summary, markup=False, highlight=False)


@cli.command()
@click.option("--to", "target", required=True,
              help="A restore target configured as [targets.NAME] (hubspot, salesforce or csv).")
@click.option("--mapping", "mapping_name", required=True,
              help="A mapping file (TOML), or a bundled one: salesforce_to_hubspot, "
              "hubspot_to_salesforce, any_to_csv.")
@click.option("--only", "only", multiple=True,
              help="Only these streams or target objects (repeatable, or comma-separated).")
@click.option("--as-of", help="A run number or a date (2026-11-30): the data as it was then.")
@click.option("--dry-run", is_flag=True,
              help="Write nothing: print the plan (counts, unmapped fields, invalid records).")
@click.option("--verify", is_flag=True,
              help="Read the target back and compare it with the archive, field by field.")
@click.option("--source", "source", default=None,
              help="The archived source, for mappings that fit any source (any_to_csv).")
@click.option("--errors", "errors_path", type=click.Path(path_type=Path),
              help="Where to write the per-record error report (CSV; default beside the "
              "archive).")
@pass_state
@handle_errors
def restore(state: State, target: str, mapping_name: str, only: tuple[str, ...],
            as_of: str | None, dry_run: bool, verify: bool, source: str | None,
            errors_path: Path | None) -> None:
    """Restore the archive into a new vendor (HubSpot, Salesforce or CSV files).

    Records are written parents first through the mapping; an id map in the archive makes
    a re-run create nothing twice and lets a stopped restore resume. Records the target
    refuses go to an error report (CSV) and the run ends partially (exit 11). With --verify
    the target is read back and the match rate printed (exit 13 below 100%).

    \b
    Example:
      exporter restore --to hubspot --mapping salesforce_to_hubspot --dry-run
      exporter restore --to hubspot --mapping salesforce_to_hubspot --verify
    """
    from exporter.restore import load_mapping, run_restore, verify_restore
    from exporter.restore.target import build_writer, target_table

    config = state.config
    table = target_table(config.raw, target, config.path)
    mapping = load_mapping(mapping_name)
    streams = [s.strip() for item in only for s in item.split(",") if s.strip()]
    with build_writer(target, table, config.path) as writer, \
            state.open(write=not dry_run) as archive:
        report = None
        if not (dry_run and verify):
            default_errors = config.archive.parent / f"restore-{target}-errors.csv"
            report = run_restore(archive, writer, mapping, target=target, only=streams,
                                 as_of=as_of, dry_run=dry_run,
                                 errors_path=errors_path or default_errors,
                                 progress=None if dry_run else _RestoreLines(err),
                                 source=source)
        check = verify_restore(archive, writer, mapping, target=target, only=streams,
                               as_of=as_of, source=source) if verify else None
    if report is not None and report.dry_run:
        out.print(f"Plan for restoring into {target} (nothing was written):")
        for o in report.objects:
            out.print("  " + o.summary(dry_run=True), markup=False)
        for stream, names in report.unmapped.items():
            if names:
                out.print(f"  unmapped fields of {stream}: {', '.join(names)}", markup=False)
        if report.unmapped_streams:
            out.print(f"  streams not in the mapping: {', '.join(report.unmapped_streams)}",
                      markup=False)
        for e in report.errors[:20]:
            out.print(f"  would fail: {e.stream} {e.source_id}: {e.message}", markup=False)
    elif report is not None:
        words = {"ok": "finished", "partial": "finished PARTIALLY", "failed": "FAILED"}
        out.print(f"Restore run {report.run_id} into {target} "
                  f"{words.get(report.status, report.status)}: {report.total('created')} "
                  f"created, {report.total('updated')} updated, {report.total('unchanged')} "
                  f"unchanged, {len(report.errors)} failed, {report.calls} API calls.")
        if report.errors_file is not None:
            out.print(f"The records that failed, with the vendor's message: "
                      f"{report.errors_file}", markup=False)
    if check is not None:
        out.print(f"Verify: {check.summary()}", markup=False)
        for m in check.mismatches[:10]:
            out.print(f"  {m.object} {m.source_id}: {m.field}: expected {m.expected!r}, "
                      f"found {m.found!r}", markup=False)
    if report is not None and report.status == "partial":
        raise SystemExit(EXIT_SYNC_PARTIAL)
    if report is not None and report.status == "failed":
        raise SystemExit(EXIT_SYNC_FAILED)
    if check is not None and check.records_matching < check.records:
        raise SystemExit(EXIT_NOT_MATCHING)


cli.add_command(sandbox)
cli.add_command(schedule)


def main() -> None:
    cli(prog_name="exporter")
