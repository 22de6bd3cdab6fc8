"""``exporter restore``: the archive into a new vendor (HubSpot, Salesforce or CSV files)
through a mapping, with ``--dry-run`` and ``--verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from exporter.cli_base import (
    EXIT_NOT_MATCHING,
    EXIT_SYNC_FAILED,
    EXIT_SYNC_PARTIAL,
    State,
    check_as_of,
    err,
    handle_errors,
    out,
    pass_state,
)
from exporter.errors import QuotaExhausted, SourceError, TargetQuotaStopped, TargetStopped

__all__ = ["restore"]


class _RestoreLines:
    """Restore progress: a bar per target object at a terminal, one line each otherwise."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                            console=console, transient=True) if console.is_terminal else None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _RestoreLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()  # also after Ctrl-C or an error: the cursor comes back

    def started(self, label: str, total: int | None) -> None:
        if self.bar is not None:
            self.bar.start()  # a bar that is never started is never drawn
            self.tasks[label] = self.bar.add_task(label, total=total or 0)

    def advanced(self, label: str, records: int) -> None:
        if self.bar is not None and label in self.tasks:
            self.bar.advance(self.tasks[label], records)

    def finished(self, label: str, summary: str) -> None:
        if self.bar is not None and label in self.tasks:
            self.bar.remove_task(self.tasks.pop(label))
        self.console.print(summary, markup=False, highlight=False)


def _say_clients(archive: Any, mapping: Any, client: str, as_of: str | None,
                 source: str | None, dry_run: bool) -> None:
    """Names the clients ``--client`` keeps before anything is written; stops when it keeps
    none, or several whose values a roll-back into the archive's own source would change."""
    from exporter.restore.clients import choose_clients
    from exporter.restore.engine import expand

    hits = choose_clients(archive, expand(mapping, archive, source), client,
                          archive.resolve_as_of(as_of), one=bool(mapping.same) and not dry_run)
    if hits:
        more = f" and {len(hits) - 10} more" if len(hits) > 10 else ""
        who = "; ".join(hits[:10]) + more
        out.print(f"{'Planning' if dry_run else 'Restoring'} only the records of "
                  f"{who if len(hits) == 1 else f'{len(hits)} clients: {who}'}.",
                  markup=False, highlight=False)
def _print_additions(report: Any, target: str) -> None:
    """The parents ``--only`` brought along, and what the restore added to the target."""
    if report.parents_added:
        out.print("Also restored, as the records asked for link to them: "
                  + ", ".join(report.parents_added) + ".", markup=False)
    changed = _target_changes(report)
    if changed:
        out.print(f"Added to {target} for this restore: {changed}.", markup=False)


def _target_changes(report: Any) -> str:
    """What the restore added to the target's own setup (custom objects, fields, values of
    option lists): the office sees it changed their CRM, not only in the run's stats."""
    parts = []
    if report.created_objects:
        parts.append("custom objects " + ", ".join(report.created_objects))
    made = [f"{obj}.{name}" for obj, names in sorted(report.created_fields.items())
            for name in names]
    if made:
        parts.append("fields " + ", ".join(made))
    parts += [f"the option{'s' if len(values) > 1 else ''} {', '.join(map(repr, values))} "
              f"of {name}" for name, values in sorted(report.added_options.items())]
    return "; ".join(parts)


@click.command()
@click.option("--to", "target", required=True,
              help="A restore target configured as [targets.NAME] (hubspot, salesforce, csv "
              "or google_sheets).")
@click.option("--mapping", "mapping_name", required=True,
              help="A mapping file (TOML), or a bundled one: salesforce_to_hubspot, "
              "hubspot_to_salesforce, salesforce_to_salesforce, hubspot_to_hubspot, "
              "google_to_hubspot, google_to_salesforce, any_to_csv.")
@click.option("--only", "only", multiple=True,
              help="Only these streams or target objects (repeatable, or comma-separated).")
@click.option("--as-of", callback=check_as_of,
              help="A run number or a date (2026-11-30): the data as it was then.")
@click.option("--dry-run", is_flag=True,
              help="Write nothing: print the plan (counts, unmapped fields, invalid records).")
@click.option("--verify", is_flag=True,
              help="Read the target back and compare it with the archive, field by field.")
@click.option("--source", "source", default=None,
              help="The archived source, for mappings that fit any source (any_to_csv).")
@click.option("--errors", "errors_path", type=click.Path(path_type=Path),
              help="Where to write the per-record error report (CSV; default beside the "
              "archive).")
@click.option("--deletions", type=click.Choice(["archive", "delete", "keep"]),
              default="archive", show_default=True,
              help="Records deleted from the archive's source since they were restored: put "
              "in the target's inactive or archived state, deleted, or kept as they are.")
@click.option("--fields", "fields", multiple=True,
              help="Same-vendor restore into the archive's own source: roll these fields "
              "back to their archived values (repeatable, or comma-separated).")
@click.option("--client", "client", default=None,
              help="Only the records of clients whose name or number contains this; into "
              "the archive's own source their values are rolled back too.")
@pass_state
@handle_errors
def restore(state: State, target: str, mapping_name: str, only: tuple[str, ...],
            as_of: str | None, dry_run: bool, verify: bool, source: str | None,
            errors_path: Path | None, deletions: str, fields: tuple[str, ...],
            client: str | None) -> None:
    """Restore the archive into a new vendor (HubSpot, Salesforce or CSV files).

    Records are written parents first through the mapping; an id map in the archive makes
    a re-run create nothing twice and lets a stopped restore resume. Records the target
    refuses go to an error report (CSV) and the run ends partially (exit 11). With --verify
    the target is read back and the match rate printed (exit 13 below 100%).

    \b
    Example:
      exporter restore --to hubspot --mapping salesforce_to_hubspot --dry-run
      exporter restore --to hubspot --mapping salesforce_to_hubspot --verify
      exporter restore --to salesforce --mapping salesforce_to_salesforce --as-of 2026-11-30
      exporter restore --to salesforce --mapping salesforce_to_salesforce --as-of 41 \
        --fields Phone --dry-run
    """
    from exporter.restore import load_mapping, run_restore, verify_restore
    from exporter.restore.target import build_writer, target_table

    config = state.config
    table = target_table(config.raw, target, config.path)
    mapping = load_mapping(mapping_name)
    streams = [s.strip() for item in only for s in item.split(",") if s.strip()]
    names = [s.strip() for item in fields for s in item.split(",") if s.strip()]
    try:
        with build_writer(target, table, config.path) as writer, \
                state.open(write=not dry_run) as archive, _RestoreLines(err) as lines:
            report = None
            if client and not (dry_run and verify):
                _say_clients(archive, mapping, client, as_of, source, dry_run)
            if not (dry_run and verify):
                default_errors = config.archive.parent / f"restore-{target}-errors.csv"
                report = run_restore(archive, writer, mapping, target=target, only=streams,
                                     as_of=as_of, dry_run=dry_run,
                                     errors_path=errors_path or default_errors,
                                     progress=None if dry_run else lines,
                                     source=source, deletions=deletions, fields=names,
                                     client=client)
            check = verify_restore(archive, writer, mapping, target=target, only=streams,
                                   as_of=as_of, source=source, client=client) \
                if verify else None
    except SourceError as exc:
        # The target refused the sign-in, stopped answering or its quota ran out: every
        # later call would fail the same way. Not an unexpected problem (exit 1).
        stopped = TargetQuotaStopped if isinstance(exc, QuotaExhausted) else TargetStopped
        raise stopped(f"The restore into {target} stopped ({str(exc).rstrip('. ')}); the same "
                      "command, run again, goes on where it stopped.") from exc
    _show(report, check, target, deletions)
    if report is not None and report.status == "partial":
        raise SystemExit(EXIT_SYNC_PARTIAL)
    if report is not None and report.status == "failed":
        raise SystemExit(EXIT_SYNC_FAILED)
    if check is not None and check.records_matching < check.records:
        raise SystemExit(EXIT_NOT_MATCHING)


def _show(report: Any, check: Any, target: str, deletions: str) -> None:
    """The plan, or the restore's summary, then the verify's match rates."""
    if report is not None and report.dry_run:
        out.print(f"Plan for restoring {report.as_of} into {target} (nothing was written):",
                  markup=False)
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
        if report.diff:
            out.print(f"Changes to records the target still holds ({len(report.diff)}):")
        for line in report.diff[:200]:
            out.print(f"  {line}", markup=False)
    elif report is not None:
        words = {"ok": "finished", "partial": "finished PARTIALLY", "failed": "FAILED"}
        out.print(f"Restore run {report.run_id} ({report.as_of}) into {target} "
                  f"{words.get(report.status, report.status)}: {report.total('created')} "
                  f"created, {report.total('updated')} updated, {report.total('unchanged')} "
                  f"unchanged, {report.total('deleted')} deleted since (--deletions "
                  f"{deletions}), {report.total('failed')} failed"
                  + (f", {report.total('partial')} written without a field the target "
                     "refused" if report.total("partial") else "")
                  + f", {report.calls} API calls.")
        _print_additions(report, target)
        if report.errors_file is not None:
            out.print(f"What failed or was left out, with the vendor's message: "
                      f"{report.errors_file}", markup=False)
    if check is not None:
        out.print(f"Verify: {check.summary()}", markup=False)
        for m in check.mismatches[:10]:
            out.print(f"  {m.object} {m.source_id}: {m.field}: expected {_brief(m.expected)}, "
                      f"found {_brief(m.found)}", markup=False)


def _brief(value: Any, limit: int = 100) -> str:
    """A value as one mismatch line shows it: a long one (a visit note of 40,000
    characters) by its beginning and its length, not a screenful per line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(value) if isinstance(value, str) else len(text):,} " \
           "characters)"
