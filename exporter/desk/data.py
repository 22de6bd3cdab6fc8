"""The archive on the desk's server: opened once with the configured key (as the nightly job
opens it, read-only: the nightly sync keeps writing meanwhile), used from ONE thread (the
pages await it), with the search index rebuilt whenever a new sync run appears.

Reads never take the write lock. Writes (audit entries, staff accounts from the admin pages)
take it only for a moment, and never wait for it: audit entries wait in the sealed journal
(exporter.desk.journal), a staff change is refused with "try again after the nightly job".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from exporter.careplan.build import ArchiveView
from exporter.careplan.model import Definition
from exporter.careplan.printing import data_run
from exporter.careplan.roster import DeletedClient, find_deleted, roster
from exporter.clock import local_time
from exporter.config import Config
from exporter.desk import staff as accounts
from exporter.desk.documents import Document, documents_of, read_document
from exporter.desk.journal import Journal
from exporter.desk.pdfs import PlanView, client_pdf, client_plan
from exporter.desk.search import Entry, SearchIndex
from exporter.desk.visits import Visit, visits_between, week_of
from exporter.errors import ExporterError, NotFound
from exporter.health import assess
from exporter.lock import ArchiveLock

__all__ = ["Banner", "DeskData"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Banner:
    """What every page says about the data: when it was backed up, and any warning."""

    backed_up: str  # "Backed up as of 2026-12-06 02:14 CET"
    warning: str  # the stale-data (or failed sync) banner, "" when all is well


class DeskData:
    """The archive, its search index and its banner, behind one worker thread."""

    def __init__(self, open_archive: Callable[[], Any], definition: Definition,
                 config: Config) -> None:
        self._open = open_archive
        self.definition = definition
        self.config = config
        self.archive: Any = None
        self.journal: Journal | None = None
        self.index = SearchIndex(definition)
        self.banner = Banner("Not backed up yet", "")
        self._seen_run: tuple[Any, ...] | None = None
        #: The newest data, each stream read and indexed once per sync run (shared by every
        #: client page: a plan then costs lookups, not a scan of each stream).
        self.latest: ArchiveView | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="desk-archive")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the archive's thread (SQLite connections are not shared)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call`` for code that is not async (the bench, the command's start)."""
        return self._pool.submit(fn, *args, **kwargs).result()

    # -- on the archive thread ------------------------------------------------------------

    def start(self) -> None:
        self.archive = self._open()
        self.journal = Journal(self.archive)
        self.journal.flush()  # what a desk stopped before could not copy
        self.fresh()

    def stop(self) -> None:
        if self.archive is not None:
            if self.journal is not None:
                self.journal.flush()
            self.archive.close()
            self.archive = None
        self._pool.shutdown(wait=False)

    def fresh(self) -> None:
        """Rebuild the index and the banner when the runs changed (a sync ran)."""
        (mark,) = self.archive._query("SELECT max(id), max(finished_at), count(*) "
                                      "FROM runs")[:1] or [None]
        if mark == self._seen_run:
            return
        rows = roster(self.archive, self.definition)
        self.index = self.index.build(rows)
        self.latest = ArchiveView(self.archive, None, bulk=True)
        self.banner = self._banner()
        self._seen_run = mark
        self._warm()

    def _warm(self) -> None:
        """Read and index the newest data now (seconds at 10,000 clients), by building one
        plan, so that no one waits for it at their first page after a sync."""
        first = next((e for e in self.index.entries if e.status == "active"), None)
        if first is not None:
            try:
                self.plan(first)
            except ExporterError as exc:
                _log.warning("the care plans could not be prepared ahead: %s", exc)

    def tick(self) -> None:
        """Every few seconds: notice a finished sync (and prepare for it), copy the
        journal into the audit log if the write lock is free."""
        self.fresh()
        self.flush()

    def _banner(self) -> Banner:
        runs = self.archive.runs()
        copies = {e["detail"].get("destination"): e["at"]
                  for e in self.archive.audit_entries("copy") if e["action"] == "copy"}
        verdict = assess(self.config, runs, copies)
        try:
            run = data_run(self.archive, None)
            backed = f"Backed up as of {local_time(run.finished_at or run.started_at)}"
        except NotFound:
            backed = "Not backed up yet"
        return Banner(backed, verdict.headline if verdict.code else "")

    def search(self, query: str) -> list[Entry]:
        self.fresh()
        return self.index.search(query)

    def entry(self, token: str) -> Entry | None:
        self.fresh()
        return self.index.by_token.get(token)

    def _deleted(self, entry: Entry) -> DeletedClient | None:
        if entry.status != "deleted":
            return None
        return find_deleted(self.archive, self.definition, entry.client.record_id)

    def plan(self, entry: Entry, as_of: int | None = None) -> PlanView:
        return client_plan(self.archive, self.definition, entry.client, as_of=as_of,
                           deleted=self._deleted(entry), latest=self.latest,
                           stale_after_hours=self.config.stale_after_hours)

    def pdf(self, entry: Entry, paper: str = "letter", as_of: int | None = None) -> bytes:
        return client_pdf(self.archive, self.definition, entry.client, paper, as_of=as_of,
                          deleted=self._deleted(entry), latest=self.latest,
                          stale_after_hours=self.config.stale_after_hours)

    def sync_runs(self) -> list[tuple[int, str]]:
        """(run, local time) of the syncs a plan can be shown as of, newest first."""
        return [(r.id, local_time(r.finished_at or r.started_at)) for r in self.archive.runs()
                if r.kind == "sync" and r.status in ("ok", "partial") and r.finished_at]

    def visits(self, today: dt.date) -> tuple[dict[str, list[Visit]], dict[str, list[Visit]]]:
        """(today's, this week's) visits by caregiver, of active clients."""
        self.fresh()
        first, last = week_of(today)
        active = {e.client.key for e in self.index.entries if e.status == "active"}
        week = visits_between(self.archive, self.definition, first, last, active.__contains__)
        day = {who: kept for who, visits in week.items()
               if (kept := [v for v in visits if v.start.date() == today])}
        return day, week

    def documents(self, entry: Entry) -> list[Document]:
        return documents_of(self.archive, self.definition, entry.client)

    def document_bytes(self, document: Document) -> bytes:
        return b"".join(read_document(self.archive, document))

    # -- staff -------------------------------------------------------------------------------

    def login(self, name: str, password: str) -> accounts.StaffAccount | None:
        return accounts.check_login(self.archive, name, password)

    def role_of(self, name: str) -> str | None:
        rows = self.archive._query("SELECT role FROM staff WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def staff(self) -> list[accounts.StaffAccount]:
        return accounts.list_staff(self.archive)

    def change_staff(self, fn: Callable[..., Any], *args: Any) -> None:
        """A staff change from the admin pages, under the write lock (ArchiveLocked while the
        nightly job holds it: the page says to try again later)."""
        with ArchiveLock(Path(self.archive.path), brief=True):
            fn(self.archive, *args)

    def audit(self, action: str, staff: str, detail: dict[str, Any]) -> None:
        """Seal the entry into the journal, then copy it into the audit log if it can."""
        assert self.journal is not None
        self.journal.add(action, staff, detail)
        self.journal.flush()

    def flush(self) -> int:
        return self.journal.flush() if self.journal is not None else 0
