"""``exporter copy``: second copies of the archive in folders or object stores, listing and
checking them, and ``--fetch`` to get one back. Also the copy helpers ``sync`` and ``check``
use (``ConsoleEvents``: the nightly job's events as plain lines)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from exporter import errors
from exporter.cli_base import (
    EXIT_DAMAGED,
    State,
    _size,
    err,
    exit_code_for,
    handle_errors,
    log,
    out,
    pass_state,
)
from exporter.clock import local_time
from exporter.config import Config, CopyTarget
from exporter.nightly import choose_copies, open_destination, run_copies

__all__ = ["copy"]


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


class ConsoleEvents:
    """The nightly job's events as plain lines (and a byte bar for a big copy at a
    terminal)."""

    def sync_finished(self, report: Any) -> None:
        # The summary first: cron mails it, and most nights it is all there is to read.
        out.print(report.summary(), markup=False, highlight=False)
        for src in report.sources:
            if src.status != "ok":
                out.print(f"  {src.name}: {src.status}: {src.error}", markup=False)
        if not out.is_terminal:  # at a terminal the progress bars showed every stream
            for src in report.sources:
                for stream in src.streams:
                    if stream.changed_anything:
                        out.print(stream.summary(), markup=False, highlight=False)

    def copy_progress(self, label: str) -> contextlib.AbstractContextManager[Any]:
        return _copy_bar(label)

    def copy_made(self, target: CopyTarget, result: Any) -> None:
        there = "1 copy" if result.kept == 1 else f"{result.kept} copies"
        out.print(f"Copied the archive ({_size(result.size)}) to {result.folder}; verified; "
                  f"{there} kept there.")
        if result.kept > 1:
            out.print("The older copies there still open with the passphrases and key files "
                      "they were made with, even ones removed or rotated since, until they "
                      "expire.")
        for problem in result.problems:
            err.print(f"Warning: {problem}.")

    def copy_failed(self, target: CopyTarget, exc: errors.ExporterError) -> None:
        err.print(f"[bold red]Error:[/] the copy to {escape(target.where)} failed: "
                  f"{escape(str(exc))}", markup=True)

    def alert_sent(self, alert: Any, to: Any) -> None:
        out.print(f"Alert email sent to {', '.join(to)}: {alert.subject}")

    def alert_not_sent(self, alert: Any, why: str) -> None:
        err.print(f"Warning: the alert email could not be sent: {why}")

    def setting_skipped(self, what: str, why: str) -> None:
        err.print(f"[bold red]Error:[/] {escape(what)} skipped: {escape(why)}", markup=True)

    def render_progress(self) -> contextlib.AbstractContextManager[Any]:
        from exporter.cli_print import layout_bar

        return layout_bar(True, "Rendering the care plans that changed")

    def plans_rendered(self, result: Any) -> None:
        out.print(f"Care plans rendered: {result.rendered} ({result.unchanged} unchanged"
                  f"{f', {result.removed} removed' if result.removed else ''}), stored in the "
                  "archive for printing.", markup=False, highlight=False)

    def plans_not_rendered(self, why: str) -> None:
        err.print(f"Warning: the care plans were not rendered ahead ({why}); the sync is kept, "
                  "and printing lays them out when asked.", markup=False, highlight=False)


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
            found = list_copies(open_destination(target), archive_id, check=check)
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
            newest = (f"newest run {run.get('id')} of {local_time(run.get('started_at'))}"
                      if isinstance(run, dict) else "no runs")
            line = (f"  {info.name}: made {local_time(info.created_at)}, "
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
    [target] = choose_copies(state.config, to)
    return open_destination(target), target.where


def _fetch_credential(state: State) -> Any:
    """What checks a fetched copy's signed manifest: --key-file, --recovery or
    EXPORTER_PASSPHRASE, else the config's key file if there is one; None: no check (the
    office PC, its config and key file may be gone)."""
    from exporter.keys import KeyFile, Passphrase

    if state.key_file is not None or state.recovery:
        return state.credential()
    if os.environ.get("EXPORTER_PASSPHRASE"):
        return Passphrase.of(os.environ["EXPORTER_PASSPHRASE"])
    try:
        key_file = state.config.key_file
    except errors.ConfigError:
        return None
    return KeyFile(key_file) if key_file is not None and key_file.exists() else None


_SIGNED = {True: "; its signed manifest checked out with your key",
           False: " (its manifest is not signed: a copy made by an older exporter)",
           None: " (give --key-file, --recovery or EXPORTER_PASSPHRASE to also check its "
                 "signed manifest)"}


def _fetch(state: State, name: str, to: str | None, into: Path | None) -> None:
    from exporter.copies import check_destination, fetch_copy

    if not to or into is None:
        raise click.UsageError("--fetch needs --to (where the copy is: a configured copy's "
                               "name, its s3:// url, or a folder) and --into (an empty folder "
                               "for the archive).")
    source, where = _fetch_source(state, to)
    check_destination(source)
    with _copy_bar(f"fetching {name}") as progress:
        result = fetch_copy(source, name, into, progress=progress,
                            credential=_fetch_credential(state))
    log.info("fetched copy %s from %s into %s", result.copy.name, where, result.folder)
    out.print(f"Fetched the copy {result.copy.name} (made "
              f"{local_time(result.copy.created_at)}, {_size(result.size)}) from "
              f"{where} into {result.folder}; every file matches its manifest"
              f"{_SIGNED[result.signed]}.")
    out.print(f"Next: point [archive] path at {result.archive} and unlock it with your "
              "passphrase, key file or recovery key (then run 'exporter verify').")


@click.command()
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
    if fetch is not None:
        _fetch(state, fetch, to, into)
        return
    if into is not None:
        raise click.UsageError("--into goes with --fetch.")
    config = state.config
    targets = choose_copies(config, to)
    if listing or check:
        _list_copies(config, targets, check)
        return
    failures = run_copies(config, state.credential, targets, ConsoleEvents())
    if failures:
        raise SystemExit(failures[0])
