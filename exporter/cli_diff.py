"""``exporter diff``: what changed between two runs or dates, from the archive alone."""

from __future__ import annotations

import json

import click

from exporter.cli_base import State, check_as_of, echo_out, handle_errors, out, pass_state

__all__ = ["diff"]


@click.command()
@click.option("--from", "start", required=True, callback=check_as_of,
              help="A run number or a date (2026-11-30): the earlier point.")
@click.option("--to", "end", callback=check_as_of,
              help="A run number or a date: the later point (default: the archive now).")
@click.option("--client", default=None,
              help="Only the records about clients whose name or number contains this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@pass_state
@handle_errors
def diff(state: State, start: str, end: str | None, client: str | None,
         as_json: bool) -> None:
    """Show what was created, changed and deleted between two runs or dates.

    Each changed record is listed field by field, before -> after.

    \b
    Example:
      exporter diff --from 2026-11-28 --to 2026-11-30
      exporter diff --from 40 --client "C-00012" --json
    """
    from exporter.diff import diff_runs

    with state.open() as archive:
        result = diff_runs(archive, start, end, client)
        archive.audit("diff", {"from": start, "to": end, "client": client,
                               "changes": len(result.changes)})
    if as_json:
        echo_out(json.dumps(result.as_json(), ensure_ascii=False, indent=2, default=str))
        return
    out.print(result.summary(), markup=False)
    where = None
    for change in result.changes:
        if (change.source, change.stream) != where:
            where = (change.source, change.stream)
            out.print(f"{change.source} {change.stream}:", markup=False)
        out.print(f"  {change.line()}", markup=False)
