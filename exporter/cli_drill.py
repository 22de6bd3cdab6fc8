"""``exporter drill``: the fire drill, written down (:mod:`exporter.drill`)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from exporter.cli_base import State, handle_errors, out, pass_state

__all__ = ["EXIT_DRILL_FAILED", "drill"]

#: The drill ran but a check failed (its report says which).
EXIT_DRILL_FAILED = 21


@click.command()
@click.option("--from", "source", metavar="NAME",
              help="The configured copy to fetch from; default: the newest copy in any of "
              "the [[copies]].")
@click.option("--client", help="The client whose care plan is printed (name or number); "
              "default: the first in the binder.")
@click.option("--report-dir", type=click.Path(path_type=Path),
              help="Where the dated report goes; default: a 'drills' folder beside the "
              "archive.")
@click.option("--by", help="Who performed the drill (default: this computer's user name).")
@click.option("--definition", "definition_path", type=click.Path(path_type=Path),
              help="Care-plan definition file (default: [careplan] definition, or built in).")
@pass_state
@handle_errors
def drill(state: State, source: str | None, client: str | None, report_dir: Path | None,
          by: str | None, definition_path: Path | None) -> None:
    """Test that the archive can be recovered. The newest copy is fetched, opened with the
    configured key and verified, and one care plan is printed from it, timed.

    A dated report (HTML and PDF: what was checked, how long recovery took, by whom) is
    written, and the drill is recorded in the archive's audit log: the evidence for a
    contingency-plan test. Nothing fetched or printed is kept. Exits 0 when every check
    passed, 21 when one failed (the report says which).

    \b
    Example:
      exporter drill --by "Mary (office manager)"
      exporter drill --from b2 --report-dir E:/drills
    """
    from exporter.cli_print import _definition
    from exporter.drill import run_drill, write_report

    config = state.config
    definition = _definition(state, definition_path)
    result = run_drill(config, state.credential, definition, source=source, client=client,
                       by=by)
    folder = report_dir or config.archive.parent / "drills"
    files = write_report(result, folder)
    with state.open() as archive:
        archive.audit("drill", {
            "ok": result.ok, "seconds": round(result.seconds, 1), "by": result.by,
            "destination": result.where, "copy": result.copy, "client": result.client,
            "checks": [[c.what, c.ok] for c in result.checks],
            "report": [str(f) for f in files]})
    for check in result.checks:
        mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
        out.print(f"{mark} {escape(check.what)}: {escape(check.detail)}", markup=True)
    verdict = "PASSED" if result.ok else "FAILED"
    out.print(f"Drill {verdict} in {result.seconds:.1f} s. Report: "
              f"{', '.join(str(f) for f in files)} (recorded in the audit log).")
    if not result.ok:
        raise SystemExit(EXIT_DRILL_FAILED)
