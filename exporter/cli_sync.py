"""``exporter sync``, ``check`` and ``connectors``: the nightly job (the sync, the copies made
after it, its alert email), the check that tonight's job can run, and the installed
connectors."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from exporter import errors
from exporter.cli_base import (
    EXIT_SYNC_FAILED,
    State,
    echo_out,
    err,
    handle_errors,
    out,
    pass_state,
)
from exporter.cli_copies import ConsoleEvents

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
    failed it ends "failed" (exit 12). A source, copy or [notify] whose settings are wrong
    (a misspelt key included) is reported and skipped the same way (a secret pasted into the
    config, or a misspelt table name, still stops the run). Shows progress bars at a
    terminal; otherwise (cron, Task Scheduler) a one-line summary, then one line per stream
    that changed. Then every [[copies]] with after_sync = true is made (see 'exporter
    copy'); a failed copy keeps the sync and, if the sync itself succeeded, exits 14.

    \b
    Example:
      exporter sync
      exporter sync --source salesforce --full
    """
    from exporter.nightly import run_nightly
    from exporter.progress import progress_for

    state.set_aside = True  # a wrong copy or mail setting is skipped, not the whole night
    config = state.config  # a config that does not load cannot say where to send an alert
    with progress_for(err) as progress:
        result = run_nightly(config, state.credential, sources=sources, full=full,
                             progress=progress, events=ConsoleEvents())
    if result.exit_code:
        raise SystemExit(result.exit_code)


@click.command()
@pass_state
@handle_errors
def check(state: State) -> None:
    """Test everything tonight's job needs, and say what to fix: each source's credentials
    and reach, the key file that unlocks the archive unattended (when one is set), each
    [[copies]] destination (the folder is there and can be written to; the object store's
    bucket answers to its keys) and the [notify] settings (nothing is sent: use
    'exporter notify --test' for that). Nothing is written to the archive. A source with a
    setting exporter does not know is refused (exit 3; the nightly sync skips that source).
    Warnings (!) name what the scheduled job will miss: secrets in environment variables or
    the keyring that it cannot see on this computer, no [notify], no [[copies]].

    \b
    Example:
      exporter check
    """
    from exporter.nightly import readiness
    from exporter.sources import build_connector, unknown_key_problem

    config = state.config
    if not config.sources:
        raise errors.ConfigError(f"No sources are configured in {config.path}; add a "
                                 "[sources.NAME] table (see README).")
    failures = 0

    def mark(ok: bool, text: str) -> None:
        nonlocal failures
        failures += not ok
        out.print(f"{'[green]✓[/]' if ok else '[red]✗[/]'} {escape(text)}", markup=True)

    refused = 0
    for name, table in config.sources.items():
        problem = unknown_key_problem(config.path, name, table)
        if problem:
            refused += 1
            mark(False, f"{name}: {problem}")
            continue
        try:
            connector = build_connector(name, table, config.path)
            results = connector.check()
            connector.close()
        except errors.ExporterError as exc:
            mark(False, f"{name}: {exc}")
            continue
        for r in results:
            mark(r.ok, f"{name}: {r.what}" + ("" if r.ok else f": {r.detail}"))
    for what, ok, text in readiness(config):
        mark(ok, f"{what}: {text}")
    _warn_unattended(config)
    if refused:
        raise errors.ConfigError(f"{refused} source(s) have a setting that exporter does not "
                                 "know; fix the line(s) marked ✗ above, then run 'exporter "
                                 "check' again.")
    if failures:
        raise SystemExit(EXIT_SYNC_FAILED)
    out.print("Every source answered" + (", and the rest is ready." if config.copies or
                                         config.notify or config.key_file else "."))


def _warn_unattended(config: Any) -> None:
    """What the scheduled job will miss (env or keyring secrets it cannot see here, no
    [notify], no [[copies]]): warnings, never a failure."""
    from exporter.unattended import unattended_warnings

    for warning in unattended_warnings(config):
        out.print(f"[yellow]![/] {escape(warning)}", markup=True)


@click.command()
@click.option("--streams", "show_streams", is_flag=True,
              help="Also ask each configured source for its streams (uses the network).")
@click.option("--settings", "show_settings", is_flag=True,
              help="Also list every setting of the config file, of each connector and of each "
              "restore target.")
@click.option("--markdown", is_flag=True,
              help="With --settings: print docs/settings.md (Markdown) instead.")
@pass_state
@handle_errors
def connectors(state: State, show_streams: bool, show_settings: bool, markdown: bool) -> None:
    """List the installed connectors and restore targets, and their settings.

    Built-in ones and plugins are found the same way (entry points); a plugin that fails to
    load is listed with the reason.

    \b
    Example:
      exporter connectors --settings
      exporter connectors --streams
    """
    from exporter.plugin import CONNECTORS, TARGETS, load_plugins

    if markdown:
        from exporter.config_schema import settings_document

        if not show_settings:
            raise click.UsageError("--markdown goes with --settings.")
        echo_out(settings_document(), nl=False)
        return
    if show_settings:
        _print_core_settings()
    for group, kind in ((CONNECTORS, "connector"), (TARGETS, "restore target")):
        loaded = load_plugins(group)
        for type_name, cls in sorted(loaded.classes.items()):
            doc = (cls.__doc__ or "").strip().splitlines()
            out.print(f"[bold]{escape(type_name)}[/] {kind} "
                      f"({escape(loaded.addresses[type_name])}): "
                      f"{escape(doc[0]) if doc else ''}", markup=True)
            if getattr(cls, "known_streams", ()):
                out.print("  streams: " + ", ".join(cls.known_streams))
            if show_settings:
                _print_settings(cls.settings)
        for type_name, problem in sorted(loaded.problems.items()):
            out.print(f"[red]{escape(type_name)}[/] {kind}: failed to load ({escape(problem)})",
                      markup=True)
    if show_streams:
        _print_streams(state)


def _print_core_settings() -> None:
    from exporter.config_schema import TABLES

    for name, (settings, what, repeated) in TABLES.items():
        if settings:
            title = f"[[{name}]]" if repeated else f"[{name}]"
            out.print(f"[bold]{escape(title)}[/]: {escape(what)}", markup=True)
            _print_settings(settings)


def _print_settings(settings: Any) -> None:
    for s in settings:
        flags = ["secret reference" if s.secret else s.type]
        flags += ["required"] if s.required else []
        flags += [f"default {s.default!r}"] if s.default is not None else []
        out.print(f"  {s.name} ({', '.join(flags)}): {s.help}")


def _print_streams(state: State) -> None:
    from exporter.sources import build_connector

    for name, table in state.config.sources.items():
        connector = build_connector(name, table, state.config.path)
        try:
            names = [s.name for s in connector.streams()]
        finally:
            connector.close()
        out.print(f"source {name}: {len(names)} streams: {', '.join(names)}")
