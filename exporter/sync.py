"""The nightly sync: every configured source's streams into the archive, in one run.

One failing stream or source never stops the others (the run ends ``partial``); each batch is
stored with its cursor in one transaction, so a killed sync resumes where its last commit
ended. Deletions are looked for every run: a stream that can tell cheaply which archived ids
are gone (``Stream.find_deleted``: a count first, merges, archived records' edges) does so each
night; the full id list is compared with ``--full``, after a reset, and every
``reconcile_every_days`` days or ``reconcile_every_runs`` runs, whichever comes first. A stream that
others depend on is read again from where a run left its dependents unfinished (:class:`_Resume`).
One item a vendor refuses alone is archived in part and retried on later runs; no run marks
more than ``max_delete_share`` of a stream deleted (:class:`_DeletionGuard`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Protocol, cast

from exporter.archive import Archive, BatchResult, Record, canonical_json
from exporter.connector import Batch, Connector, FileBody, SourceState, Stream
from exporter.errors import (
    SHAPE_ERRORS,
    ConfigError,
    DeletionsHeld,
    ExporterError,
    ItemRefused,
    QuotaExhausted,
    SecretInConfig,
    SourceError,
    TransientError,
)
from exporter.sync_processes import recipe_for
from exporter.sync_rules import (
    RECONCILE_EVERY_DAYS,
    RECONCILE_EVERY_RUNS,
    RECONCILE_MAX_SHARE,
    Rules,
)
from exporter.sync_workers import Desk, Proxy, WorkerLost, run_side_by_side

__all__ = ["NullProgress", "Progress", "SourceReport", "StreamReport", "SyncReport", "run_sync"]

log = logging.getLogger("exporter.sync")

@dataclass
class StreamReport:
    source: str
    stream: str
    status: str = "ok"  # ok | failed
    new: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    files: int = 0
    reconciled: bool = False  # the full id list was compared
    #: The stream's cheap nightly check for deletions ran (``Stream.find_deleted``).
    deletions_checked: bool = False
    resynced: bool = False
    seconds: float = 0.0
    error: str | None = None
    #: Items the vendor refused in part this run (record id -> its reason); kept, retried.
    failed_items: dict[str, str] = field(default_factory=dict)
    #: Ids the id check marked deleted (what ``export --include-deleted`` tells apart from
    #: the vendor's own tombstones).
    id_check_deleted: list[str] = field(default_factory=list)

    def add(self, result: BatchResult) -> None:
        self.new += result.new
        self.changed += result.changed
        self.deleted += result.deleted
        self.unchanged += result.unchanged

    @property
    def changed_anything(self) -> bool:
        """Worth a line in the nightly output: something changed, failed or was refused."""
        return bool(self.status != "ok" or self.new or self.changed or self.deleted
                    or self.files or self.failed_items)

    def summary(self) -> str:
        if self.status != "ok":
            return f"{self.source} {self.stream}: FAILED: {self.error}"
        extra = " (hard deletes checked)" if self.reconciled else ""
        files = f", {self.files} files" if self.files else ""
        refused = (f", {len(self.failed_items)} item(s) not read in full"
                   if self.failed_items else "")
        return (f"{self.source} {self.stream}: {self.new} new, {self.changed} changed, "
                f"{self.deleted} deleted, {self.unchanged} unchanged{files}{refused}{extra} "
                f"in {self.seconds:.1f} s")


@dataclass
class SourceReport:
    name: str
    status: str = "ok"  # ok | partial | failed
    error: str | None = None
    streams: list[StreamReport] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    #: Discovery asked the vendor what exists (``Connector.rediscover``), not its cache.
    rediscovered: bool = False


@dataclass
class SyncReport:
    run_id: int
    status: str = "ok"
    sources: list[SourceReport] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for cron's mail and the log: the verdict, the totals, the duration."""
        words = {"ok": "finished", "partial": "finished PARTIALLY", "failed": "FAILED"}
        streams = [r for s in self.sources for r in s.streams]
        total = {k: sum(getattr(r, k) for r in streams)
                 for k in ("new", "changed", "deleted", "files")}
        failed = [s.name for s in self.sources if s.status != "ok"]
        bad = f"; not complete: {', '.join(failed)}" if failed else ""
        quiet = len([r for r in streams if not r.changed_anything])
        return (f"Sync run {self.run_id} {words.get(self.status, self.status)}. "
                f"{len(self.sources)} source(s), {len(streams)} stream(s): {total['new']:,} "
                f"new, {total['changed']:,} changed, {total['deleted']:,} deleted, "
                f"{total['files']:,} files; {quiet} stream(s) unchanged{bad}; "
                f"{self.seconds:.0f} s.")

    def stats(self) -> dict[str, Any]:
        return {
            "sources": {s.name: {"status": s.status, "error": s.error, "usage": s.usage,
                                 "rediscovered": s.rediscovered} for s in self.sources},
            "streams": {f"{r.source}/{r.stream}": {k: v for k, v in asdict(r).items()
                                                   if k not in ("source", "stream")}
                        for s in self.sources for r in s.streams},
        }


class Progress(Protocol):
    def stream_started(self, source: str, stream: str) -> None: ...
    def advanced(self, source: str, stream: str, records: int) -> None: ...
    def stream_finished(self, report: StreamReport) -> None: ...
    def source_finished(self, report: SourceReport) -> None: ...


class NullProgress:
    def stream_started(self, source: str, stream: str) -> None:
        pass

    def advanced(self, source: str, stream: str, records: int) -> None:
        pass

    def stream_finished(self, report: StreamReport) -> None:
        pass

    def source_finished(self, report: SourceReport) -> None:
        pass


class _DeletionGuard:
    """What one run would mark deleted in one stream, by every path (tombstones a connector
    sends, archived listings, the id check); past the share, the deletions are held."""

    def __init__(self, archive: Archive, source: str, stream: str, share: float) -> None:
        self.archive = archive
        self.source = source
        self.stream = stream
        self.share = share
        self.live: set[str] | None = None  # the live ids archived, read at the first deletion
        self.doomed: set[str] = set()  # marked deleted in this run
        self.held: set[str] = set()

    def admit(self, ids: Iterable[str]) -> bool:
        """Whether these deletions may be stored; once one is held, every later one is too."""
        if self.live is None:
            self.live = self.archive.record_ids(self.source, self.stream)
        new = {i for i in ids if i in self.live} - self.doomed
        base = len(self.live)
        if self.held or (new and len(self.doomed) + len(new) > self.share * base):
            self.held |= new
            return False
        self.doomed |= new
        return True

    def error(self) -> DeletionsHeld:
        total = len(self.doomed | self.held)
        return DeletionsHeld(
            f"{self.source} would have {total} of the {len(self.live or ())} {self.stream} "
            f"records archived marked deleted in one run, more than max_delete_share "
            f"({self.share:.0%}) allows, so exporter held these deletions and did not mark the "
            "rest deleted; if they really were deleted, set max_delete_share = 1 in the "
            "[sync] section of the config for one sync.")


class _StreamSync:
    """Stores one stream's batches, files first."""

    def __init__(self, archive: Archive, run_id: int, source: str, stream: Stream,
                 progress: Progress, max_delete_share: float = RECONCILE_MAX_SHARE) -> None:
        self.archive = archive
        self.run_id = run_id
        self.source = source
        self.stream = stream
        self.progress = progress
        self.report = StreamReport(source, stream.name)
        self.stored: set[str] = set()  # ids stored this run
        self.guard = _DeletionGuard(archive, source, stream.name, max_delete_share)

    def store(self, batch: Batch) -> None:
        given: list[Record] = batch.records
        cursor: Any = batch.cursor
        if batch.partial:
            given = self._merged(given)
        gone = [rec.id for rec in given if rec.deleted]
        if (gone and not self.guard.admit(gone)) or self.guard.held:
            # held: the rest is stored, the cursor stays before the held deletions, so the
            # next run reads them again
            given, cursor = [rec for rec in given if not rec.deleted], None
        records = [self._with_files(rec, batch.files.get(rec.id, [])) for rec in given]
        kwargs = {} if cursor is None else {"cursor": cursor}
        result = self.archive.put_batch(self.run_id, self.source, self.stream.name, records,
                                        **kwargs)
        self.report.add(result)
        self.stored.update(rec.id for rec in records)
        if batch.reset:
            self.report.resynced = True
        self.progress.advanced(self.source, self.stream.name, len(records))

    def _merged(self, parts: list[Record]) -> list[Record]:
        """The archived records these partial ones change (their values merged in, their
        files kept); the unchanged and the unknown are left out."""
        out: list[Record] = []
        for part in parts:
            if part.id in self.stored:  # read in full this run: its values are newer
                continue
            current = self.archive.current(self.source, self.stream.name, part.id)
            if current is None or current[0] is None or part.data is None:
                continue
            data = json.loads(current[0])
            if all(data.get(k) == v for k, v in part.data.items()):
                continue
            data.update(part.data)
            out.append(Record(part.id, data, False, current[1] or None))
        return out

    def _with_files(self, rec: Record, bodies: list[Any]) -> Record:
        if not bodies or rec.deleted:
            return rec
        current = self.archive.current(self.source, self.stream.name, rec.id)
        known = current[1] if current and current[0] == canonical_json(rec.data) else {}
        hashes: dict[str, str] = {}
        for body in bodies:
            if body.name in known:  # same record content, file already archived
                hashes[body.name] = known[body.name]
                continue
            try:
                info = self._put(body)
            except ItemRefused as exc:
                # this body alone: the record is archived with what could be read, its
                # earlier versions keep their bodies, and the item is tried again later
                log.warning("%s %s %s: %s", self.source, self.stream.name, rec.id, exc)
                self.report.failed_items[rec.id] = str(exc)
                fallback = body.fallback
                if fallback is None or fallback.name in hashes:
                    continue
                try:
                    info, body = self._put(fallback), fallback
                except ItemRefused:
                    continue
            hashes[body.name] = info.hash
        return Record(rec.id, rec.data, rec.deleted, hashes)

    def _put(self, body: FileBody) -> Any:
        info = self.archive.put_file(self.run_id, body.read_ahead(), body.media_type)
        self.report.files += 1
        return info

    def retry_failed(self, connector: Connector) -> None:
        """Read again the items refused on earlier runs that this run did not bring."""
        again = sorted(set(self.archive.failed_items(self.source, self.stream.name))
                       - self.stored)
        if again:
            for batch in connector.retry_items(self.stream, again):
                self.store(Batch(batch.records, None, batch.files))

    def keep_failed(self) -> None:
        """Keep the items still refused: this run's, and earlier ones it did not re-read."""
        earlier = self.archive.failed_items(self.source, self.stream.name)
        left = {i: r for i, r in earlier.items() if i not in self.stored}
        left.update(self.report.failed_items)
        if left or earlier:
            self.archive.set_failed_items(self.source, self.stream.name, left)

    def reconcile(self, connector: Connector) -> None:
        """Compare the source's full id list with the archive's live ids."""
        live = set(connector.list_ids(self.stream))
        archived = self.archive.record_ids(self.source, self.stream.name)
        self._tombstone(archived - live)
        self.report.reconciled = True

    def check_deleted(self, connector: Connector) -> None:
        """The stream's cheap check for deletions, when it has one (see
        :meth:`exporter.connector.Stream.find_deleted`)."""
        archived = self.archive.record_ids(self.source, self.stream.name)
        found = connector.find_deleted(self.stream, archived)
        if found is None:
            return
        self._tombstone(set(found) & archived)
        self.report.deletions_checked = True

    def _tombstone(self, missing: set[str]) -> None:
        if missing and not self.guard.admit(missing):
            raise self.guard.error()
        if missing:
            gone = sorted(missing)
            self.report.add(self.archive.tombstone(self.run_id, self.source, self.stream.name,
                                                   gone))
            self.report.id_check_deleted = sorted({*self.report.id_check_deleted, *gone})


class _Resume:
    """Streams that others depend on are read again, on the next run, from the cursor they
    had before a run whose dependents did not all finish (killed, or failed): HubSpot
    associations read the ids their object streams found changed in the same run, so the
    changes of an interrupted night would otherwise never get their edges read."""

    def __init__(self, archive: Archive, source: str, streams: list[Stream]) -> None:
        self.archive = archive
        self.source = source
        self.waiting: dict[str, set[str]] = {}  # dependency -> dependents not yet finished
        for s in streams:
            for dep in s.depends_on:
                self.waiting.setdefault(dep, set()).add(s.name)
        self.marks = archive.resume_marks(source) if self.waiting else {}

    def start(self, stream: Stream, cursor: Any) -> tuple[Any, bool]:
        """The cursor to read ``stream`` from, and whether it is an older, resumed one."""
        if stream.name not in self.waiting:
            return cursor, False
        if stream.name in self.marks:
            mark = self.marks[stream.name]
            return mark, mark != cursor
        self.archive.set_resume_mark(self.source, stream.name, cursor)
        return cursor, False

    def finished(self, report: StreamReport) -> None:
        if report.status != "ok":
            return
        for dep, dependents in self.waiting.items():
            if report.stream in dependents:
                dependents.discard(report.stream)
                if not dependents:  # every reader of dep's changes has them all now
                    self.archive.clear_resume_mark(self.source, dep)


#: No vendor's record id (composite ones included: an association's) is anywhere near this.
MAX_ID_CHARS = 1024


def _vendor_batches(connector: Connector, stream: Stream, cursor: Any, full: bool,
                    source: str) -> Iterator[Batch]:
    """``connector.read``, with an answer of an unexpected shape failing this stream (its
    cause in the log), not the run: the vendor sent it, and the next sync asks again."""
    batches = iter(connector.read(stream, cursor, full=full))
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except SHAPE_ERRORS as exc:
            raise _shape_error(source, stream) from exc
        if any(not isinstance(r.id, str) or not 0 < len(r.id) <= MAX_ID_CHARS
               for r in batch.records):
            # Archived, such an id would stand for a record of its own while the cursor moves
            # past the real one, which the next nights would then not read again.
            raise _shape_error(source, stream)
        yield batch


def _shape_error(source: str, stream: Stream) -> TransientError:
    return TransientError(f"{source} {stream.name}: the vendor sent an answer of an unexpected "
                          "shape (the log has the details); the next sync asks again.")


def _read_stream(archive: Archive, run_id: int, connector: Connector, sync: _StreamSync,
                 resume: _Resume, rules: Rules) -> None:
    name, stream, full = sync.source, sync.stream, rules.full
    try:
        schema = connector.schema(stream)  # some connectors ask the vendor for it
    except SHAPE_ERRORS as exc:
        raise _shape_error(name, stream) from exc
    archive.put_schema(run_id, name, stream.name, schema)
    cursor, resumed = resume.start(stream, archive.get_cursor(name, stream.name))
    if resumed:
        log.info("%s %s: read again from where an unfinished run left its dependents",
                 name, stream.name)
    try:
        for batch in _vendor_batches(connector, stream, None if full else cursor, full, name):
            sync.store(batch)
        sync.retry_failed(connector)
    finally:
        sync.keep_failed()
    if sync.guard.held:
        raise sync.guard.error()
    if stream.reconcile:
        if rules.id_check_due(archive, f"{name}/{stream.name}", sync.report.resynced):
            sync.reconcile(connector)
        else:
            sync.check_deleted(connector)


class _ArchiveState(SourceState):
    """A connector's state kept in the archive, so that it travels with the data it covers."""

    def __init__(self, archive: Archive, source: str) -> None:
        super().__init__()
        self.archive = archive
        self.source = source

    def get(self, key: str) -> Any:
        return self.archive.source_state(self.source, key)

    def put(self, key: str, value: Any) -> None:
        self.archive.set_source_state(self.source, key, value)


def _sync_source(archive: Archive, run_id: int, name: str, connector: Connector, rules: Rules,
                 progress: Progress) -> SourceReport:
    report = SourceReport(name)
    connector.state = _ArchiveState(archive, name)
    connector.rediscover = rules.id_check_due(archive, name, False,
                                              ("sources", "rediscovered"))
    try:
        streams = connector.streams()
        report.rediscovered = connector.rediscover
    except (SourceError, ConfigError) as exc:
        # A setting read only now (a key file) fails this source, not the run.
        if isinstance(exc, SecretInConfig):
            raise
        report.status, report.error = "failed", str(exc)
        return report
    resume = _Resume(archive, name, streams)
    for stream in streams:
        sync = _StreamSync(archive, run_id, name, stream, progress, rules.max_delete_share)
        report.streams.append(sync.report)
        progress.stream_started(name, stream.name)
        started = time.perf_counter()
        try:
            _read_stream(archive, run_id, connector, sync, resume, rules)
        except QuotaExhausted as exc:
            sync.report.status, sync.report.error = "failed", str(exc)
            report.status, report.error = "partial", str(exc)
            sync.report.seconds = time.perf_counter() - started
            progress.stream_finished(sync.report)
            break  # the quota is the source's, not the stream's: stop asking
        except SourceError as exc:
            sync.report.status, sync.report.error = "failed", str(exc)
        sync.report.seconds = time.perf_counter() - started
        resume.finished(sync.report)
        log.info("%s", sync.report.summary())
        progress.stream_finished(sync.report)
    failed = [s for s in report.streams if s.status != "ok"]
    if failed and report.status == "ok":
        report.status = "failed" if len(failed) == len(report.streams) else "partial"
        more = f" ({len(failed) - 1} more stream(s) failed too)" if len(failed) > 1 else ""
        report.error = report.error or f"{failed[0].stream}: {failed[0].error}{more}"
    refused = [s for s in report.streams if s.failed_items]
    if refused and report.status == "ok":
        first = refused[0]
        report.status = "partial"
        report.error = (f"{first.stream}: {len(first.failed_items)} item(s) could not be read "
                        f"in full and will be tried again next run; "
                        f"{next(iter(first.failed_items.values()))}")
    return report


def _one_source(archive: Archive, run_id: int, name: str, connector: Connector, rules: Rules,
                progress: Progress, desk: Desk | None) -> SourceReport:
    """One source's sync; with a ``desk`` (in a worker thread), its archive and progress calls
    run on the writer's thread."""
    if desk is not None:
        archive, progress = cast(Archive, Proxy(archive, desk)), cast(Progress,
                                                                      Proxy(progress, desk))
    try:
        src = _sync_source(archive, run_id, name, connector, rules, progress)
    finally:
        connector.close()
    src.usage = connector.usage()
    progress.source_finished(src)
    return src


def _in_child(run_id: int, name: str, rules: Rules, archive: Archive, progress: Progress,
              connector: Connector) -> SourceReport:
    return _one_source(archive, run_id, name, connector, rules, progress, None)


def _side_by_side(archive: Archive, run_id: int, connectors: Mapping[str, Connector],
                  rules: Rules, progress: Progress, processes: bool) -> list[SourceReport]:
    """Each source in a worker of its own: a process (when its connector can be built again
    there) or a thread; a process that ended without finishing fails its source alone."""
    recipes = {n: recipe_for(c) if processes else None for n, c in connectors.items()}
    done = run_side_by_side(
        [(n, partial(_one_source, archive, run_id, n, c, rules, progress))
         for n, c in connectors.items() if recipes[n] is None],
        [(n, partial(_in_child, run_id, n, rules), r) for n, r in recipes.items() if r],
        {"archive": archive, "progress": progress})
    for name, result in done.items():
        if recipes[name] is not None:
            connectors[name].close()  # built here, read there: nothing of it was used here
        if isinstance(result, WorkerLost):
            done[name] = lost = SourceReport(name, "failed", result.message)
            progress.source_finished(lost)
    return [cast(SourceReport, done[name]) for name in connectors]


def run_sync(archive: Archive, connectors: Mapping[str, Connector], *, full: bool = False,
             reconcile_every_days: float = RECONCILE_EVERY_DAYS,
             reconcile_every_runs: int = RECONCILE_EVERY_RUNS,
             max_delete_share: float = RECONCILE_MAX_SHARE, progress: Progress | None = None,
             unusable: Mapping[str, str] | None = None, concurrent: bool = True,
             workers: str = "threads") -> SyncReport:
    """Sync every source in ``connectors`` into ``archive`` (opened for writing) as one run,
    the sources side by side (``concurrent``: a worker each reading, this thread writing;
    ``workers`` "threads" or "processes", see :mod:`exporter.sync_workers`), reported in the
    order given.
    ``unusable`` names the sources whose config is wrong (with the message): each is recorded
    as failed in the run, so that the rest is archived and the run ends partial.
    No stream has more than ``max_delete_share`` of its records marked deleted in the run;
    deletions past it are held (the stream fails, the run ends partial)."""
    progress = progress or NullProgress()
    rules = Rules(full, dt.timedelta(days=reconcile_every_days), max_delete_share,
                   reconcile_every_runs)
    run_id = archive.begin_run("sync")
    report = SyncReport(run_id)
    began = time.perf_counter()
    status = "failed"
    for name, why in (unusable or {}).items():
        report.sources.append(SourceReport(name, "failed", why))
        progress.source_finished(report.sources[-1])
    try:
        if concurrent and len(connectors) > 1:
            report.sources.extend(_side_by_side(archive, run_id, connectors, rules, progress,
                                                workers == "processes"))
        else:
            report.sources.extend(_one_source(archive, run_id, name, connector, rules,
                                              progress, None)
                                  for name, connector in connectors.items())
        states = {s.status for s in report.sources}
        if not report.sources or states == {"failed"}:
            report.status = "failed"
        elif states == {"ok"}:
            report.status = "ok"
        else:
            report.status = "partial"
        status = report.status
    except (KeyboardInterrupt, SystemExit):
        status = "interrupted"
        raise
    except ExporterError as exc:
        # Archive problems (disk full, damage) end the run; what was committed stays.
        report.status = status = "failed"
        report.sources.append(SourceReport("archive", "failed", str(exc)))
        raise
    finally:
        report.seconds = time.perf_counter() - began
        errors = [f"{s.name}: {s.error}" for s in report.sources if s.error]
        try:
            archive.finish_run(run_id, status, report.stats(), "; ".join(errors) or None)
        except ExporterError:
            log.exception("could not record the end of run %s", run_id)
    return report
