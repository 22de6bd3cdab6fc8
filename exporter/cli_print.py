"""``exporter export`` and ``exporter print``: archived records out as plain files (jsonl,
csv) and care plans as PDF or HTML. Both write unencrypted health data, on purpose."""

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
    State,
    check_as_of,
    err,
    exit_code_for,
    handle_errors,
    out,
    pass_state,
)

__all__ = ["clients", "export", "layout_bar", "print_"]


# -- export ------------------------------------------------------------------------------


@click.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), required=True,
              help="jsonl: one file; csv: one file per stream.")
@click.option("--stream", "streams", multiple=True,
              help="Only this stream (e.g. Account or salesforce/Account); repeatable.")
@click.option("--as-of", callback=check_as_of,
              help="A run number or a date (2026-11-30): the data as it was then.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="File (jsonl, or csv with one --stream) or folder to write.")
@click.option("--include-deleted", is_flag=True,
              help="Deleted records too, each with when it was found deleted and how (the "
                   "vendor said so, or exporter's id check no longer found it).")
@pass_state
@handle_errors
def export(state: State, fmt: str, streams: tuple[str, ...], as_of: str | None,
           out_path: Path, include_deleted: bool) -> None:
    """Write archived records out as plain files, on purpose.

    The files are NOT encrypted: they hold health data. Every export is written to the
    archive's audit log.

    \b
    Example:
      exporter export --format csv --stream Medication__c --out medications.csv
      exporter export --format jsonl --include-deleted --out everything.jsonl
    """
    from exporter.export import export_archive

    with state.open() as archive:
        try:
            result = export_archive(archive, fmt, out_path, list(streams) or None, as_of,
                                    include_deleted)
        except OSError as exc:
            raise errors.write_error(exc, f"the export {out_path}", "nothing was exported (no "
                                     "half-written file is left); free some space or choose "
                                     "another folder.") from exc
    out.print(f"Exported {result.records} records to {len(result.files)} file(s):")
    for p in result.files:
        out.print(f"  {p}")
    out.print("These files are not encrypted: keep them safe and delete them when done.")


# -- print -------------------------------------------------------------------------------


@contextlib.contextmanager
def layout_bar(wanted: bool, label: str = "Laying out care plans"
                ) -> Iterator[Callable[[int, int], None] | None]:
    """A bar counting the clients laid out, for a binder printed at a terminal (20-30 s for
    100 clients); not at a terminal (a script, a scheduled print), a plain line at each tenth
    and at least every 15 seconds, so that minutes of work are never silent."""
    if not wanted:
        yield None
        return
    if not err.is_terminal:
        yield _layout_lines(label)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True)
    task = bar.add_task("clients", total=None)

    def advanced(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advanced


def _layout_lines(label: str) -> Callable[[int, int], None]:
    import time

    began = last = time.monotonic()
    shown = -1

    def advanced(done: int, total: int) -> None:
        nonlocal last, shown
        now = time.monotonic()
        tenth = done * 10 // total if total else 10
        if tenth > shown or now - last >= 15 or done == total:
            shown, last = tenth, now
            err.print(f"{label}: {done} of {total} clients "
                      f"({now - began:.0f} s)", markup=False, highlight=False)

    return advanced


@click.command("print")
@click.argument("client", required=False)
@click.option("--all", "everyone", is_flag=True,
              help="Every client in the binder (active clients): one PDF with a table of "
              "contents, or one file per client with --split.")
@click.option("--as-of", callback=check_as_of,
              help="A run number or a date (2026-11-30): the plan as it was then.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "html"]), default="pdf",
              show_default=True, help="PDF to print, or HTML to open in a browser.")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="File (or folder) to write; default: careplan-<number>-<time>.pdf here.")
@click.option("--paper", type=click.Choice(["letter", "a4"]), default="letter",
              show_default=True, help="Paper size.")
@click.option("--split", is_flag=True, help="With --all: one file per client in the --out "
              "folder instead of one binder.")
@click.option("--definition", "definition_path", type=click.Path(path_type=Path),
              help="A care-plan view definition (TOML), or hubspot (built in: clients kept "
              "in HubSpot); default: the config's [careplan] definition, else the built-in "
              "one for the sandbox agency.")
@click.option("--prerender", is_flag=True,
              help="Print nothing: render the care plans that changed since they were last "
              "stored, and store them in the archive for fast printing (as every successful "
              "sync does).")
@pass_state
@handle_errors
def print_(state: State, client: str | None, everyone: bool, as_of: str | None, fmt: str,
           out_path: Path | None, paper: str, split: bool, definition_path: Path | None,
           prerender: bool) -> None:
    """Print a client's care plan from the archive, with no network.

    CLIENT is a name or an id (client number or record id), in any case, with or without
    accents; a name that fits several clients lists them. The file holds health data: it is
    written readable by you only, and every print is written to the archive's audit log.

    \b
    Example:
      exporter print "zoe muller"
      exporter print C-00001 --as-of 2026-11-28 --paper a4
      exporter print --all --out binder.pdf
      exporter print --prerender
    """
    from exporter.careplan.printing import print_care_plans
    from exporter.errors import AmbiguousClient

    if prerender:
        if client is not None or everyone or as_of or split:
            raise click.UsageError("--prerender goes alone (with --definition at most).")
        _prerender(state, definition_path)
        return
    if everyone == (client is not None):
        raise click.UsageError("Give a CLIENT (name or number) or --all.")
    if split and not everyone:
        raise click.UsageError("--split goes with --all.")
    config = state.config
    definition = _definition(state, definition_path)
    with state.open() as archive, layout_bar(everyone and fmt == "pdf") as progress:
        try:
            result = print_care_plans(
                archive, definition, query=client, everyone=everyone, as_of=as_of, fmt=fmt,
                out=out_path, paper=paper, split=split,
                stale_after_hours=config.stale_after_hours, workers=os.cpu_count() or 1,
                progress=progress)
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


def _definition(state: State, definition_path: Path | None) -> Any:
    """--definition, else the config's [careplan] definition, else the built-in one."""
    from exporter.careplan.stored import configured_definition

    return configured_definition(state.config, definition_path)


def _prerender(state: State, definition_path: Path | None) -> None:
    """``print --prerender``: the nightly job's rendering, by hand, audited."""
    from exporter.careplan.stored import prerender

    definition = _definition(state, definition_path)
    with state.open() as archive:
        with layout_bar(True, "Rendering the care plans that changed") as progress:
            result = prerender(archive, definition, workers=os.cpu_count() or 1,
                               progress=progress)
        archive.audit("prerender", {
            "rendered": result.rendered, "unchanged": result.unchanged,
            "removed": result.removed, "data_run": result.run_id,
            "definition": definition.path})
    out.print(f"Care plans rendered: {result.rendered} ({result.unchanged} unchanged"
              f"{f', {result.removed} removed' if result.removed else ''}) in "
              f"{result.seconds:.0f} s, stored in the archive for printing.")


@click.command()
@click.option("--status", "status", type=click.Choice(["active", "discharged", "deleted"]),
              help="Only these clients: active (in the binder), discharged, or deleted "
              "upstream; default: all.")
@click.option("--definition", "definition_path", type=click.Path(path_type=Path),
              help="Care-plan definition file (default: [careplan] definition, or built in).")
@pass_state
@handle_errors
def clients(state: State, status: str | None, definition_path: Path | None) -> None:
    """List the clients in the archive: number, name, and whether they are active,
    discharged or deleted upstream (with the date). Any of them can be printed by name or
    number with 'exporter print'.

    \b
    Example:
      exporter clients
      exporter clients --status deleted
    """
    from exporter.careplan.roster import roster
    from exporter.clock import local_time

    definition = _definition(state, definition_path)
    with state.open() as archive:
        rows = roster(archive, definition, status)
        # Names, statuses and discharge or deletion dates are health data shown on screen:
        # an access like a print, so it is audited like one.
        archive.audit("clients", {"status": status or "all", "clients": len(rows),
                                  "definition": definition.path})
    for client, kind, deleted_at in rows:
        when = f" on {local_time(deleted_at)}" if deleted_at else ""
        out.print(f"{client.display_key}  {client.name}  {kind}{when}", markup=False,
                  highlight=False)
    out.print(f"{len(rows)} client(s).")
