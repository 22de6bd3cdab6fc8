"""The print job behind ``exporter print``: choose the clients, build their care plans from
the archive (as of a run, if asked), render HTML or PDF, write the files (0600, atomically)
and record the print in the archive's audit log.

    result = print_care_plans(archive, load_definition(), query="Zoë Müller")
    result = print_care_plans(archive, definition, everyone=True, out=Path("binder.pdf"))

Health data leaves the archive only here, on purpose: a file is renamed into place only after
its audit entry is written, so nothing is printed without a trace.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exporter import winfs
from exporter.archive import Archive, Run
from exporter.careplan.build import (
    ArchiveView,
    CarePlan,
    Client,
    binder_clients,
    build_care_plan,
    find_clients,
)
from exporter.careplan.definition import Definition, DefinitionError, check_against
from exporter.careplan.planstore import (
    STORED_PAPER,
    all_checked,
    client_key,
    context_hash,
    fresh_pdf,
    inputs_hash,
    load_plan,
    stored_info,
    try_store,
)
from exporter.careplan.render import (
    PrintInfo,
    Progress,
    assemble_binder,
    render_html,
    render_pdfs,
)
from exporter.careplan.roster import DeletedClient, find_deleted
from exporter.errors import AmbiguousClient, NotFound
from exporter.filenames import safe_file_name
from exporter.private_files import make_private, private_folder

__all__ = ["PlanJob", "PrintResult", "choose_plans", "data_run", "day_start", "deleted_banner",
           "plan_pdfs", "print_care_plans", "print_info"]

FORMATS = ("pdf", "html")
PAPERS = ("letter", "a4")


@dataclass
class PrintResult:
    files: list[Path] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    as_of_run: int | None = None
    data_run: int | None = None
    stale: str = ""


def data_run(archive: Archive, as_of: int | None) -> Run:
    """The last successful sync at or before ``as_of`` (the newest partial one when no run
    finished fully)."""
    runs = [r for r in archive.runs() if r.kind == "sync" and (as_of is None or r.id <= as_of)]
    for wanted in (("ok",), ("partial",)):
        for run in runs:  # newest first
            if run.status in wanted and run.finished_at:
                return run
    raise NotFound("The archive holds no synced data yet (or none as of that run); run "
                   "'exporter sync' first.")


def _moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def day_start(moment: dt.datetime) -> dt.datetime:
    """Midnight (this computer's time zone) of the day ``moment`` falls on."""
    return moment.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


def _when(moment: dt.datetime) -> str:
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname() or ''}".strip()


def _age(hours: float) -> str:
    if hours < 48:
        return f"{hours:.0f} hours"
    return f"{hours / 24:.0f} days"


def print_info(archive: Archive, definition: Definition, as_of: int | None, now: dt.datetime,
               stale_after_hours: float) -> tuple[PrintInfo, Run]:
    run = data_run(archive, as_of)
    synced = _moment(run.finished_at or run.started_at)
    data_as_of = f"{_when(synced)} (sync run {run.id})"
    stale = historical = ""
    if as_of is not None:
        historical = (f"HISTORICAL PRINT: the care plan as it was at sync run {run.id} "
                      f"({_when(synced)}), not necessarily the current plan.")
    else:
        hours = (now - synced).total_seconds() / 3600
        limit = definition.stale_after_hours or stale_after_hours
        if hours > limit:
            stale = (f"DATA MAY BE OUT OF DATE: the last successful sync was {_age(hours)} ago "
                     f"(over {limit:g} hours). Check changes with the office.")
    return PrintInfo(_when(now), data_as_of, definition.organisation, stale, historical), run


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A 0600 temporary file beside ``path``, renamed onto it when the block succeeds."""
    private_folder(path.parent, exist_ok=True)  # 0700: what goes in it is health data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".part")
    os.close(fd)
    make_private(Path(tmp))
    try:
        yield Path(tmp)
        winfs.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(tmp: Path, data: bytes) -> None:
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _default_name(clients: list[Client], fmt: str, now: dt.datetime, binder: bool) -> str:
    stamp = now.astimezone().strftime("%Y%m%d-%H%M")
    if binder:
        return f"careplans-{stamp}.{fmt}"
    return safe_file_name(f"careplan-{clients[0].display_key}-{stamp}.{fmt}")


class PlanJob:
    """The clients a print is about, what every page says about them, and their care plans
    (built when first asked for: a print served from stored PDFs may need none)."""

    def __init__(self, clients: list[Client], info: PrintInfo, synced: Run,
                 run_id: int | None, current: bool, day: str,
                 build: Callable[[Client], CarePlan]) -> None:
        self.clients = clients
        self.info = info
        self.synced = synced  # the sync whose data the plans show
        self.run_id = run_id  # the --as-of run (the run before a deletion, for such a client)
        self.current = current  # the current data (no --as-of): a stored plan may serve it
        self.day = day  # the start of the visits window of the current plan (ISO)
        self._build = build
        self._plans: list[CarePlan] | None = None

    @property
    def plans(self) -> list[CarePlan]:
        if self._plans is None:
            self._plans = [self._build(c) for c in self.clients]
        return self._plans


def choose_plans(archive: Archive, definition: Definition, *, query: str | None = None,
                 everyone: bool = False, as_of: str | int | None = None,
                 stale_after_hours: float = 36.0, now: dt.datetime | None = None) -> PlanJob:
    """The care plans of one client (``query``: a name or id; a client deleted upstream:
    its last plan, flagged) or of everyone in the binder, built from the archive."""
    if (query is None) == (not everyone):
        raise ValueError("give a query or everyone=True, not both")
    problems = check_against(definition, archive)
    if problems:
        raise DefinitionError(f"The care-plan definition {definition.path} does not fit this "
                              f"archive: {'; '.join(problems)}.")
    now = now or dt.datetime.now(dt.UTC)
    run_id = archive.resolve_as_of(as_of)
    current = run_id is None
    info, synced = print_info(archive, definition, run_id, now, stale_after_hours)
    view = ArchiveView(archive, run_id, bulk=everyone)
    if everyone:
        clients = binder_clients(view, definition)
    else:
        try:
            clients = [find_clients(view, definition, query or "")]
        except NotFound as exc:  # not there now: deleted upstream? Its last plan, flagged.
            if isinstance(exc, AmbiguousClient):
                raise
            gone = find_deleted(archive, definition, query or "", run_id)
            if gone is None:
                raise
            run_id = gone.deleted_run - 1
            info, synced = print_info(archive, definition, run_id, now, stale_after_hours)
            info = replace(info, historical=deleted_banner(gone, synced.id))
            view, clients = ArchiveView(archive, run_id, bulk=False), [gone.client]
    if not clients:
        raise NotFound("No client is in the binder (none matches the definition's [client] "
                       "binder filter).")
    # Visits are "the next 14 days" from the moment the data describes; for the current
    # plan, from the start of today, so that a plan stored ahead of need stays the plan all
    # day (and a print made in the afternoon still lists the morning's visits).
    anchor = (_moment(synced.finished_at or synced.started_at) if run_id is not None
              else day_start(now))
    return PlanJob(clients, info, synced, run_id, current, day_start(now).isoformat(),
                   functools.partial(build_care_plan, view, definition, now=anchor))


def plan_pdfs(archive: Archive, definition: Definition, job: PlanJob, paper: str = "letter",
              workers: int = 1, progress: Progress | None = None) -> list[bytes]:
    """One PDF per plan: the stored one while it is still the plan (current data, not
    stale, the stored paper), else laid out now (``workers`` processes) and stored for next
    time when it can be; ``progress`` counts the plans laid out."""
    if not job.current or job.info.stale or paper != STORED_PAPER:
        return render_pdfs(job.plans, job.info, paper, workers, progress)
    if all_checked(archive, definition, job.day, paper):  # no plan to build: all current
        stored = [load_plan(archive, client_key(definition, c)) for c in job.clients]
        if all(s is not None for s in stored):
            return [s.pdf for s in stored if s is not None]
    info = stored_info(job.info)
    keys = [client_key(definition, p.client) for p in job.plans]
    digests = [inputs_hash(definition, p, info, paper) for p in job.plans]
    parts = [fresh_pdf(archive, k, d) for k, d in zip(keys, digests, strict=True)]
    missing = [i for i, part in enumerate(parts) if part is None]
    if missing:
        laid_out = render_pdfs([job.plans[i] for i in missing], info, paper, workers,
                               progress)
        context = context_hash(definition, paper)
        for i, pdf in zip(missing, laid_out, strict=True):
            parts[i] = pdf
            try_store(archive, keys[i], digests[i], job.synced.id, pdf, context)
    return [part for part in parts if part is not None]


def print_care_plans(archive: Archive, definition: Definition, *, query: str | None = None,
                     everyone: bool = False, as_of: str | int | None = None,
                     fmt: str = "pdf", out: Path | None = None, paper: str = "letter",
                     split: bool = False, stale_after_hours: float = 36.0,
                     now: dt.datetime | None = None, workers: int = 1,
                     progress: Progress | None = None) -> PrintResult:
    """Print one client (``query``: a name or id) or everyone in the binder (``everyone``);
    ``progress(done, total)`` is called as the clients of a PDF binder are laid out. PDFs
    of current data come from the plans stored ahead of need while they are still the plan
    (:func:`plan_pdfs`)."""
    if fmt not in FORMATS or paper not in PAPERS:
        raise ValueError(f"format {fmt!r} / paper {paper!r}")
    now = now or dt.datetime.now(dt.UTC)
    job = choose_plans(archive, definition, query=query, everyone=everyone, as_of=as_of,
                       stale_after_hours=stale_after_hours, now=now)
    clients, info = job.clients, job.info
    outputs: list[tuple[Path, list[Client]]]
    if everyone and split:
        folder = out or Path(f"careplans-{now.astimezone():%Y%m%d-%H%M}")
        outputs = [(folder / safe_file_name(f"careplan-{c.display_key}.{fmt}"), [c])
                   for c in clients]
    else:
        target = out or Path(_default_name(clients, fmt, now, everyone))
        if target.is_dir():
            target = target / _default_name(clients, fmt, now, everyone)
        outputs = [(target, clients)]
    if fmt == "html":
        by_key = {id(c): p for c, p in zip(clients, job.plans, strict=True)}
        rendered = [(path, _html([by_key[id(c)] for c in group], info, paper,
                                 binder=everyone and not split)) for path, group in outputs]
    else:  # one PDF per client (stored, or laid out in parallel), joined for a binder
        pdfs = plan_pdfs(archive, definition, job, paper, workers, progress)
        if everyone and not split:
            pdfs = [assemble_binder(clients, pdfs, info, paper)]
        rendered = [(path, pdf) for (path, _), pdf in zip(outputs, pdfs, strict=True)]
    result = PrintResult([p for p, _ in rendered], clients, job.run_id, job.synced.id,
                         info.stale)
    _write_audited(archive, definition, result, rendered, fmt, paper)
    return result


def _write_audited(archive: Archive, definition: Definition, result: PrintResult,
                   rendered: list[tuple[Path, bytes]], fmt: str, paper: str) -> None:
    """Write the files, each renamed into place only after the print's audit entry."""
    staged = [_staged(path) for path, _ in rendered]
    tmps = [s.__enter__() for s in staged]
    try:
        for tmp, (_, data) in zip(tmps, rendered, strict=True):
            _write(tmp, data)
        archive.audit("print", {
            "clients": [{"key": c.display_key, "record": c.record_id} for c in result.clients],
            "as_of_run": result.as_of_run, "data_run": result.data_run, "format": fmt,
            "paper": paper, "files": [str(p.resolve()) for p in result.files],
            "definition": definition.path,
        })
    except BaseException as exc:
        for s in staged:
            s.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for s in staged:
        s.__exit__(None, None, None)


def deleted_banner(gone: DeletedClient, data_run: int) -> str:
    return (f"DELETED in {gone.vendor} on {_when(_moment(gone.deleted_at))}: this is the last "
            f"archived care plan (sync run {data_run}), not a current one.")


def _html(plans: list[CarePlan], info: PrintInfo, paper: str, binder: bool) -> bytes:
    toc: list[dict[str, Any]] | None = None
    if binder:
        toc = [{"name": p.client.name, "key": p.client.display_key,
                "birthdate": p.client.birthdate, "page": ""} for p in plans]
    return render_html(plans, info, paper, toc=toc).encode("utf-8")
