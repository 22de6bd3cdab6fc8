"""A client's care plan for the desk: the page's plan and its PDF, from the archive.

:func:`client_pdf` is the ONE place the desk produces a client's PDF. A current plan is the
one the nightly pre-render stored in the archive (``rendered_plans``, through
:func:`exporter.careplan.stored.client_pdf`, which lays it out now only when the stored one is
no longer the plan); an as-of plan and a deleted client's last plan are laid out now, as
``exporter print`` does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from exporter.careplan.build import ArchiveView, CarePlan, Client, build_care_plan
from exporter.careplan.model import Definition
from exporter.careplan.printing import print_info
from exporter.careplan.render import PrintInfo, render_pdf
from exporter.careplan.roster import DeletedClient
from exporter.clock import local_time, parse_utc

__all__ = ["PlanView", "client_pdf", "client_plan"]


@dataclass(frozen=True)
class PlanView:
    """One client's plan as the desk shows it, with what every page says about it."""

    plan: CarePlan
    info: PrintInfo
    data_run: int  # the sync run the plan shows


def client_plan(archive: Any, definition: Definition, client: Client, *,
                as_of: int | None = None, deleted: DeletedClient | None = None,
                stale_after_hours: float = 36.0, now: dt.datetime | None = None,
                latest: ArchiveView | None = None) -> PlanView:
    """The care plan of ``client`` now, as of run ``as_of``, or, for a client deleted
    upstream, as it was in the run before the deletion (flagged as such). ``latest`` is a
    view of the newest data to reuse (its streams read and indexed once, not per client)."""
    now = now or dt.datetime.now(dt.UTC)
    if deleted is not None and (as_of is None or as_of >= deleted.deleted_run):
        as_of = deleted.deleted_run - 1
    info, synced = print_info(archive, definition, as_of, now, stale_after_hours)
    if deleted is not None and as_of == deleted.deleted_run - 1:
        info = replace(info, historical=(
            f"DELETED in {deleted.vendor} on {local_time(deleted.deleted_at)}: this is the "
            f"last archived care plan (sync run {synced.id}), not a current one."))
    view = latest if latest is not None and as_of is None else ArchiveView(
        archive, as_of, bulk=False)
    # Visits are "the next 14 days" from the moment the data describes.
    anchor = (parse_utc(synced.finished_at or synced.started_at) or now) if as_of else now
    plan = build_care_plan(view, definition, client, anchor)
    return PlanView(plan, info, synced.id)


def client_pdf(archive: Any, definition: Definition, client: Client, paper: str = "letter",
               *, as_of: int | None = None, deleted: DeletedClient | None = None,
               stale_after_hours: float = 36.0, latest: ArchiveView | None = None) -> bytes:
    """The PDF of one client's care plan, exactly as ``exporter print`` gives it."""
    if as_of is None and deleted is None:
        from exporter.careplan.stored import client_pdf as stored_pdf

        return stored_pdf(archive, definition, client, paper,
                          stale_after_hours=stale_after_hours)
    shown = client_plan(archive, definition, client, as_of=as_of, deleted=deleted,
                        stale_after_hours=stale_after_hours, latest=latest)
    return render_pdf([shown.plan], shown.info, paper)
