"""``exporter sync``, ``check`` and ``connectors``: the nightly job (the sync, the copies made
after it, its alert email), the check that tonight's job can run, and the installed
connectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from rich.markup import escape

from exporter import errors
from exporter.archive import Archive
from exporter.cli_alerts import _alert_after_sync, _alert_sync_error
from exporter.cli_base import (
    EXIT_COPY_FAILED,
    EXIT_SYNC_FAILED,
    EXIT_SYNC_PARTIAL,
    State,
    err,
    handle_errors,
    out,
    pass_state,
)
from exporter.cli_copies import _make_copies, _open_destination

__all__ = ["check", "connectors", "sync"]


@click.command()
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


@click.command()
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
        from exporter.notify import resolve_password, tls_context

        try:
            resolve_password(config.notify)
            if config.notify.ca_file is not None:
                tls_context(config.notify)  # a ca_file that cannot be used is found now
            yield "alert email", True, (f"settings complete, to {', '.join(config.notify.to)} "
                                        "(run 'exporter notify --test' to send a test message)")
        except errors.ExporterError as exc:
            yield "alert email", False, str(exc)


@click.command()
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
    from exporter.plugin import CONNECTORS, load_plugins
    from exporter.sources import build_connector

    loaded = load_plugins(CONNECTORS)
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
