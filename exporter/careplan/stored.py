"""Care plans ready before they are needed: after each successful sync, the PDF of every
client whose plan changed is rendered again and stored in the archive (``rendered_plans``,
encrypted like every page), so that printing one client, or the binder, lays out nothing
when it matters, cloud down or not.

    result = prerender(archive, definition, workers=2)   # the nightly job, after the sync
    pdf = client_pdf(archive, definition, "C-00001")     # the care-plan desk's Print (PDF)

``client_pdf(archive, definition, client, paper="letter") -> bytes`` is what the desk calls:
one client's current care plan (``client``: a :class:`~exporter.careplan.build.Client`, or a
name or number as ``exporter print`` takes them; a client deleted upstream gives its last
plan under the "deleted in <vendor>" banner) as one PDF. It is the stored PDF while its
inputs hash matches the plan built now (see :mod:`exporter.careplan.planstore`), else the
plan laid out now, and stored for next time when the archive can be written. ``a4`` paper
and stale data (no successful sync for ``stale_after_hours``: the warning goes on every
page) are always laid out now. It writes no file and no audit entry: the caller records
who printed what (``exporter print`` does, with its file names).

:func:`prerender` does the night's work. Every client of the roster (active, discharged,
and deleted upstream) has its plan built and hashed; those whose hash differs from the
stored one are laid out (in ``workers`` processes when there are several) and stored, each
in its own short transaction, laid out outside it: a kill leaves each client's old PDF or
its new one, and the next run finishes the rest. Clients gone from the roster lose their
row. A complete pre-render then records (``archive_meta``) the finished run, the day and the
definition it checked every plan against: until another run starts, the day turns or the
definition changes, a print serves the stored PDFs without building any plan (a single
print, or the binder, then costs reading the PDFs). Otherwise a print builds each plan and
compares its hash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.careplan.build import ArchiveView, CarePlan, Client, all_clients, build_care_plan
from exporter.careplan.definition import Definition, DefinitionError, check_against
from exporter.careplan.planstore import (
    STORED_PAPER,
    clear_checked,
    client_key,
    context_hash,
    drop_plans,
    inputs_hash,
    mark_checked,
    newest_run,
    store_plan,
    stored_hashes,
    stored_info,
)
from exporter.careplan.printing import (
    choose_plans,
    data_run,
    day_start,
    deleted_banner,
    plan_pdfs,
    print_info,
)
from exporter.careplan.render import PrintInfo, Progress, iter_pdfs, render_html
from exporter.careplan.roster import deleted_clients
from exporter.errors import NotFound

__all__ = ["PARALLEL_FROM", "PrerenderResult", "client_pdf", "configured_definition",
           "prerender"]

#: Changed clients from which worker processes pay for their start-up (~1 s each).
PARALLEL_FROM = 4


@dataclass
class PrerenderResult:
    """What a pre-render did: plans laid out and stored, plans still current, rows removed
    (clients gone from the roster), the sync run whose data they show, seconds taken."""

    rendered: int = 0
    unchanged: int = 0
    removed: int = 0
    run_id: int | None = None
    seconds: float = 0.0


def configured_definition(config: Any, path: Path | None = None) -> Definition:
    """``path``, else the config's ``[careplan] definition``, else the built-in one."""
    from exporter.careplan.parse import BUILT_IN, built_in_definition, load_definition

    table = config.raw.get("careplan")
    configured = table.get("definition") if isinstance(table, dict) else None
    if path is None and isinstance(configured, str):
        path = (config.path.parent / configured).expanduser()
        if configured in BUILT_IN and not path.exists():  # a built-in one by name
            return built_in_definition(configured)
    return load_definition(path)


@dataclass(frozen=True)
class _Target:
    key: str
    plan: CarePlan
    info: PrintInfo
    run_id: int


def _targets(archive: Any, definition: Definition, now: dt.datetime) -> Iterator[_Target]:
    """Each client's current plan as a print of it would build it (see choose_plans)."""
    info, synced = print_info(archive, definition, None, now, float("inf"))
    info = dataclasses.replace(stored_info(info), stale="")
    view = ArchiveView(archive, None, bulk=True)
    seen: set[str] = set()
    for client in all_clients(view, definition):
        key = client_key(definition, client)
        seen.add(key)
        yield _Target(key, build_care_plan(view, definition, client, day_start(now)), info,
                      synced.id)
    for gone in deleted_clients(archive, definition):
        key = client_key(definition, gone.client)
        if key in seen:
            continue
        try:
            then = data_run(archive, gone.deleted_run - 1)
        except NotFound:  # deleted before any sync finished: nothing to show
            continue
        seen.add(key)
        banner = deleted_banner(gone, then.id)
        old, _ = print_info(archive, definition, gone.deleted_run - 1, now, float("inf"))
        old = dataclasses.replace(stored_info(old), historical=banner)
        anchor = dt.datetime.fromisoformat(then.finished_at or then.started_at)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=dt.UTC)
        plan = build_care_plan(ArchiveView(archive, gone.deleted_run - 1, bulk=False),
                               definition, gone.client, anchor)
        yield _Target(key, plan, old, then.id)


def prerender(archive: Any, definition: Definition, *, workers: int = 1,
              progress: Progress | None = None, now: dt.datetime | None = None
              ) -> PrerenderResult:
    """Render and store the plans that changed (this module's docstring); ``progress(done,
    total)`` is called as each changed plan is stored."""
    began = time.monotonic()
    problems = check_against(definition, archive)
    if problems:
        raise DefinitionError(f"The care-plan definition {definition.path} does not fit this "
                              f"archive: {'; '.join(problems)}.")
    now = now or dt.datetime.now(dt.UTC)
    newest = newest_run(archive)
    result = PrerenderResult(run_id=data_run(archive, None).id)
    stored = stored_hashes(archive)
    changed: list[tuple[_Target, str]] = []
    keys: set[str] = set()
    for target in _targets(archive, definition, now):
        keys.add(target.key)
        digest = inputs_hash(definition, target.plan, target.info, STORED_PAPER)
        if stored.get(target.key, ("", ""))[0] == digest:
            result.unchanged += 1
        else:
            changed.append((target, digest))
    gone = sorted(set(stored) - keys)
    if changed or gone:  # rows about to change: prints build and compare until the end
        clear_checked(archive)
    if gone:
        drop_plans(archive, gone)
        result.removed = len(gone)
    htmls = (render_html([t.plan], t.info, STORED_PAPER) for t, _ in changed)
    pool = workers if len(changed) >= PARALLEL_FROM else 1
    # Laid out outside any transaction; each plan stored as soon as it is ready.
    for (target, digest), pdf in zip(changed, iter_pdfs(list(htmls), pool), strict=True):
        store_plan(archive, target.key, digest, target.run_id, pdf)
        result.rendered += 1
        if progress is not None:
            progress(result.rendered, len(changed))
    if newest is not None and newest[1] is not None and newest_run(archive) == newest:
        # Every plan checked against a finished run's data: prints may skip building them.
        mark_checked(archive, newest, day_start(now).isoformat(), context_hash(definition))
    result.seconds = time.monotonic() - began
    return result


def client_pdf(archive: Any, definition: Definition, client: Client | str,
               paper: str = STORED_PAPER, *, stale_after_hours: float = 36.0,
               now: dt.datetime | None = None) -> bytes:
    """One client's current care plan as a PDF: stored when fresh, else laid out now (this
    module's docstring)."""
    query = client.record_id if isinstance(client, Client) else client
    job = choose_plans(archive, definition, query=query, stale_after_hours=stale_after_hours,
                       now=now)
    return plan_pdfs(archive, definition, job, paper)[0]
