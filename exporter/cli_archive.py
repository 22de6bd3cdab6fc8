"""``exporter init``, ``status``, ``verify`` and ``history``: create the archive, its config
file and its keys; say what it holds, how the last runs and copies went, whether it is sound,
and every version of one record."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from exporter import errors
from exporter.archive import Archive
from exporter.cli_base import (
    EXIT_DAMAGED,
    State,
    _size,
    err,
    handle_errors,
    out,
    pass_state,
)
from exporter.cli_recovery import present_recovery_key
from exporter.clock import local_time
from exporter.config import Config, default_archive_path, default_config_path, write_config
from exporter.health import last_success
from exporter.keys import (
    create_key_file,
    generate_recovery_key,
    require_strong_passphrase,
    write_private_file,
)
from exporter.private_files import private_folder

__all__ = [
    "history",
    "init",
    "last_success",
    "status",
    "verify",
]


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
                                 "remove it.") from exc


@click.command()
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
    once: write it on paper and keep it safe (at a terminal you are asked to type its last
    group back). The key is shown before the archive is created: if it cannot be shown,
    nothing is created. Running init again after it was interrupted finishes the job.

    \b
    Example:
      exporter init --archive D:/exporter/archive.db \
        --key-file C:/Users/office/AppData/Local/exporter/archive.key
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
        if (key_file.exists() or key_file.is_symlink()) and not archive_path.exists():
            if _made_by_an_unfinished_init(key_file):
                key_file.unlink()  # never opened anything: no archive was made with it
            else:
                raise errors.ConfigError(
                    f"A file already exists at {key_file}: init never reuses a key file for a "
                    "new archive (someone else may hold a copy of it); choose a new path for "
                    "--key-file, or move that file away.")
    _refuse_unusable_paths(archive_path, key_file, config_path)
    passphrase = _new_passphrase()
    if passphrase:
        require_strong_passphrase(passphrase)
    if not passphrase and key_file is None:
        raise errors.KeyNeeded("A passphrase is needed: set EXPORTER_PASSPHRASE, run at a "
                               "terminal, or give --key-file for a key file.")
    if recovery_sheet is not None and recovery_sheet.suffix.lower() == ".pdf":
        from exporter.pdf_engine import load_weasyprint

        load_weasyprint()  # refuse before anything is created, not after the key is made
    interrupted = _interrupted_init(archive_path, passphrase, key_file)
    recovery = generate_recovery_key()
    try:
        present_recovery_key(recovery, recovery_sheet, archive_path,
                             "nothing was created; run 'exporter init' again where its "
                             "output can be seen and written.")
    except BaseException:
        if interrupted is not None:
            interrupted.close()
        raise
    try:
        archive = _create_or_finish(archive_path, passphrase, key_file, recovery, interrupted)
        with archive:
            data: dict[str, Any] = existing | {
                "archive": {"path": str(archive_path), "stale_after_hours": 36,
                            "id": archive.archive_id}}
            if archive.fingerprint is not None:  # pins the archive (exporter/archive/pin.py)
                data["archive"]["fingerprint"] = archive.fingerprint
            if key_file is not None:
                data["archive"]["key_file"] = str(key_file)
            write_config(config_path, data)
            if key_file is not None:
                _init_marker(key_file).unlink(missing_ok=True)
            if recovery_sheet is not None:
                archive.audit("init.recovery_sheet", {"path": str(recovery_sheet)})
    except OSError as exc:
        raise errors.write_error(exc, f"the archive or config file ({archive_path}, "
                                 f"{config_path})", "free some space or choose another "
                                 "folder, then run 'exporter init' again.") from exc
    out.print(f"\nCreated the encrypted archive {archive_path}; the recovery key above opens "
              "it.")
    out.print(f"Config file: {config_path}")
    if key_file is not None:
        out.print(f"Key file for unattended runs: {key_file} (keep it private; back it up)")


def _refuse_unusable_paths(archive_path: Path, key_file: Path | None, config_path: Path
                           ) -> None:
    """Refuse, before the recovery key is shown and before anything is created, an archive
    path that is a folder, and a file whose folder cannot be made (a file in the way, no
    permission): found afterwards, the office would hold a recovery key for nothing."""
    then = "nothing was created; choose another path, then run 'exporter init' again."
    if archive_path.is_dir():
        raise errors.NotWritable(f"{archive_path} is a folder, not an archive file; give "
                                 f"--archive a file name in it (e.g. {archive_path / 'archive.db'}"
                                 f"); {then}")
    for what, path in (("the archive", archive_path), ("the key file", key_file),
                       ("the config file", config_path)):
        if path is None:
            continue
        folder = path.absolute().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the nearest folder that exists: init makes the rest
        if not folder.is_dir():
            raise errors.NotWritable(f"The folder for {what} ({path.parent}) cannot be made: "
                                     f"{folder} is a file; {then}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise errors.NotWritable(f"The folder for {what} ({path.parent}) could not be "
                                     f"written (a read-only disk, or no permission at "
                                     f"{folder}); {then}")


def _init_marker(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".init-pending")


def _made_by_an_unfinished_init(key_file: Path) -> bool:
    return _init_marker(key_file).exists() and not key_file.is_symlink() and key_file.is_file()


def _interrupted_init(path: Path, passphrase: str | None, key_file: Path | None) -> Archive | None:
    """The archive an interrupted init left at ``path`` (no config file names it, it opens
    with the credentials given, it holds no run), to be finished; None if there is none."""
    if not path.exists():
        return None
    from exporter.keys import KeyFile, Passphrase

    credential = (KeyFile(key_file) if key_file is not None and key_file.exists()
                  else Passphrase.of(passphrase) if passphrase else None)
    refusal = errors.ConfigError(f"There is already an archive at {path}; use it, or choose "
                                 "another path with --archive.")
    if credential is None:
        raise refusal
    try:
        archive = Archive.open(path, credential, write=True)
    except errors.WrongKey as exc:
        raise refusal from exc
    if archive.runs():
        archive.close()
        raise refusal
    return archive


def _create_or_finish(path: Path, passphrase: str | None, key_file: Path | None,
                      recovery: str, interrupted: Archive | None) -> Archive:
    """Create the archive with the recovery key already shown, or put that key into the
    archive an interrupted init left."""
    if interrupted is not None:
        interrupted.slots.set_recovery(interrupted.master, recovery)
        interrupted.save_slots()
        interrupted.audit("init.finished", {})
        return interrupted
    if key_file is not None and not key_file.exists():
        # Marked first: a run stopped before the archive exists leaves a key file that the
        # next init knows as its own (it opened nothing) instead of refusing it.
        private_folder(key_file.parent, exist_ok=True)
        write_private_file(_init_marker(key_file), b"")
        create_key_file(key_file)
    archive, _ = Archive.create(path, passphrase=passphrase, key_file=key_file,
                                recovery=recovery)
    return archive


# -- status, verify, history -------------------------------------------------------------


@click.command()
@click.option("--check", is_flag=True,
              help="For monitoring: exit 18 if the data is stale, 12 if the last sync failed "
              "(11: partial), 14 if a copy is overdue; 0 if all is well.")
@pass_state
@handle_errors
def status(state: State, check: bool) -> None:
    """Say whether the archive is backed up, what it holds and how the last runs went.

    The first line says "Backed up as of <time>", or what is wrong; times are this
    computer's local time. With --check the exit code says it too, for monitoring.

    \b
    Example:
      exporter status
      exporter status --check
    """
    from exporter import notify as alerts
    from exporter.health import assess

    with state.open() as archive:
        runs = archive.runs()
        counts = archive.counts()
        copies = _last_copies(archive)
        verdict = assess(state.config, runs, {w: e["at"] for w, e in copies.items()})
        out.print(verdict.headline)
        stale = alerts.stale_sources(runs, list(state.config.sources),
                                     state.config.stale_after_hours)
        out.print(f"Archive: {archive.path} ({_size(archive.size_bytes())}, encrypted)")
        _print_runs(runs)
        _print_last_copies(copies, state.config)
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
        from exporter.cli_copies import ConsoleEvents
        from exporter.nightly import alert_stale

        alert_stale(state.config, stale, alerts.last_good_sync(runs), ConsoleEvents())
    if check and verdict.code:
        raise SystemExit(verdict.code)


def _print_runs(runs: list[Any]) -> None:
    if not runs:
        out.print("No runs yet: the archive is empty. Run 'exporter sync' to fill it.")
        return
    last = runs[0]
    out.print(f"Runs: {len(runs)}. The last one (run {last.id}, {last.kind}) started "
              f"{local_time(last.started_at)} and ended {last.status}.")
    for source, run in sorted(last_success(runs).items()):
        out.print(f"Last successful sync of {source}: run {run.id}, "
                  f"{local_time(run.finished_at or run.started_at)}.")


def _last_copies(archive: Archive) -> dict[str, dict[str, Any]]:
    """The last copy per destination, from the audit log."""
    last: dict[str, dict[str, Any]] = {}
    for entry in archive.audit_entries("copy"):  # oldest first
        where = entry["detail"].get("destination")
        if entry["action"] == "copy" and isinstance(where, str):
            last[where] = entry
    return last


def _print_last_copies(last: dict[str, dict[str, Any]], config: Config) -> None:
    """The last copy per destination, flagged when it is stale."""
    now = dt.datetime.now(dt.UTC)
    for where, entry in sorted(last.items()):
        out.print(f"Last copy to {where}: {local_time(entry['at'])} "
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


@click.command()
@click.option("--accept-rollback", is_flag=True,
              help="You restored an older copy on purpose: check it, then accept it as the "
              "newest (exit 23 refused it as older than this computer last saw). Audited.")
@pass_state
@handle_errors
def verify(state: State, accept_rollback: bool) -> None:
    """Check the whole archive: encryption, structure, every record and file.

    Exits 0 when all is sound, 6 when something is damaged (and says what).

    \b
    Example:
      exporter verify
      exporter verify --accept-rollback
    """
    with state.open(write=accept_rollback, accept_rollback=True) as archive:
        problems = archive.verify(progress=lambda msg: err.print(f"… {msg}"))
        rolled_back = archive.rollback_problem
        if accept_rollback and not problems:
            was, now = archive.accept_rollback()
            out.print(f"Accepted this archive as the newest: it ends at run {now}"
                      + (f" (this computer had seen run {was})." if was is not None else "."))
        try:
            archive.audit("verify", {"problems": len(problems)})
        except errors.ExporterError:
            if not problems:
                raise  # a sound archive must take the audit entry; a damaged one may refuse
    if rolled_back and not accept_rollback:
        if not problems:
            raise errors.ArchiveRolledBack(rolled_back)
        problems.append(rolled_back)
    if problems:
        err.print(f"[bold red]The archive is damaged:[/] {len(problems)} problem(s) found. "
                  "Restore it from your second copy.", markup=True)
        for p in problems[:50]:
            err.print(f"  - {p}")
        raise SystemExit(EXIT_DAMAGED)
    out.print("The archive is sound: every page, record version and file checked out.")


@click.command()
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
                  f"{local_time(v.seen_at, seconds=True)})", markup=True)
        if v.data is not None:
            out.print(json.dumps(v.data, indent=2, ensure_ascii=False, sort_keys=True))
