"""Running a restore: archived records written to a target through a mapping, parents
first, in the target's batch size, with the id map kept in the archive.

Per batch: items the target cannot upsert by a unique key are first recorded as pending
in the id map; then the batch is written; then, in one transaction, the id map gets each
success's target id and payload hash, and pending rows of records the target refused are
dropped. A killed restore therefore resumes without creating anything twice (pending rows
are looked up in the target first), and a re-run sends only what changed.

One record's failure never stops the run: it goes to the error report (with the vendor's
message) and the run ends ``partial``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exporter.archive import Archive, IdMapEntry
from exporter.clock import local_time
from exporter.errors import AuthError, MappingError, QuotaExhausted, SourceError
from exporter.redact import redact
from exporter.restore.answers import guarded, trusted
from exporter.restore.deletions import DELETION_MODES, carry_deletions, deleted_since
from exporter.restore.mapping import Mapping_, ObjectRule
from exporter.restore.plan import (
    Context,
    Planned,
    check_mapping,
    order_rules,
    plan_records,
    unlisted,
    with_parents,
)
from exporter.restore.report import (
    ErrorRow,
    NullRestoreProgress,
    ObjectReport,
    RestoreProgress,
    RestoreReport,
    write_errors,
)
from exporter.restore.same import claim, wanted
from exporter.settings import did_you_mean
from exporter.writer import Link, ObjectInfo, WriteItem, Writer, WriteResult, chunks

__all__ = ["ErrorRow", "ObjectReport", "RestoreProgress", "RestoreReport", "expand",
           "run_restore", "select_rules", "target_identity"]

log = logging.getLogger("exporter.restore")


def expand(mapping: Mapping_, archive: Archive, source: str | None = None) -> Mapping_:
    """A concrete mapping: ``source = "*"`` becomes ``source`` (or the archive's only
    source), and a ``stream = "*"`` rule one rule per archived stream of that source
    (target object = stream name), e.g. for the any->CSV mapping. An ``optional`` rule
    whose stream the archive lacks (a custom object the portal never had) is left out."""
    import dataclasses

    sources = sorted({src for src, _s in archive.streams()})
    chosen = source or (mapping.source if mapping.source != "*" else None)
    if chosen is None:
        if len(sources) != 1:
            raise MappingError(f"The mapping {mapping.path.name} fits any source: name one "
                               f"with --source ({', '.join(sources) or 'none archived'}).")
        chosen = sources[0]
    elif mapping.source not in ("*", chosen):
        raise MappingError(f"The mapping {mapping.path.name} is for the source "
                           f"{mapping.source}, not {chosen}.")
    rules: list[ObjectRule] = []
    archived = set(archive.streams())
    for rule in mapping.objects:
        if rule.stream != "*":
            if not rule.optional or (chosen, rule.stream) in archived:
                rules.append(rule)
            continue
        taken = {r.stream for r in mapping.objects}
        rules += [dataclasses.replace(rule, stream=stream, object=stream, fields=[],
                                      all_fields=True)
                  for src, stream in archive.streams() if src == chosen and stream not in taken]
    client = mapping.client or mapping.clients.get(chosen, {})
    return dataclasses.replace(mapping, source=chosen, objects=rules, client=client)


def select_rules(mapping: Mapping_, only: Iterable[str] | None) -> list[ObjectRule]:
    """The mapping's rules for the streams (or target objects) named in ``only``."""
    wanted = list(only or [])
    if not wanted:
        return list(mapping.objects)
    names = {r.stream for r in mapping.objects} | {r.object for r in mapping.objects}
    for name in wanted:
        if name not in names:
            raise MappingError(f"--only {name}: the mapping {mapping.path.name} has no such "
                               "stream or object" + did_you_mean(name, names))
    return [r for r in mapping.objects if r.stream in wanted or r.object in wanted]


class _Run:
    def __init__(self, ctx: Context, report: RestoreReport, progress: RestoreProgress) -> None:
        self.ctx = ctx
        self.report = report
        self.progress = progress
        self.run_id = report.run_id

    @property
    def writer(self) -> Writer:
        return self.ctx.writer

    def fail(self, rule: ObjectRule, sid: str, message: str, rep: ObjectReport,
             client: str = "") -> None:
        rep.failed += 1  # a vendor's message may quote the request: no secret kept
        self.report.errors.append(ErrorRow(rule.object, rule.stream, sid, redact(message),
                                           client))

    def partial(self, rule: ObjectRule, p: Planned, result: WriteResult,
                rep: ObjectReport) -> None:
        """A record written with something left out: each omission to the error report."""
        notes = [*p.notes, *(f"written without {name}: {message}"
                             for name, message in result.refused.items())]
        rep.partial += bool(notes)
        self.report.errors += [ErrorRow(rule.object, rule.stream, p.source_id, redact(n),
                                        p.client) for n in notes]

    def entry(self, rule: ObjectRule, sid: str, target_id: str | None,
              digest: str | None) -> IdMapEntry:
        return IdMapEntry(self.ctx.source, rule.stream, sid, rule.object, target_id, digest)

    def restore(self, rule: ObjectRule, dry_run: bool) -> tuple[ObjectReport, list[Planned]]:
        ctx = self.ctx
        rep = ObjectReport(rule.stream, rule.object)
        ids = ctx.id_map(rule.stream, rule.object)
        info = ctx.infos[rule.object]
        if ctx.mapping.unlisted_values == "add" and info.options and not dry_run:
            info = self._add_options(rule)
        new: list[Planned] = []
        changed: list[tuple[Planned, str]] = []
        deferred: list[Planned] = []
        known: list[tuple[Planned, str]] = []
        rollback = bool(ctx.mapping.same) and ctx.rollback is not None
        for item in plan_records(ctx, rule):
            if not wanted(ctx, item):
                continue
            rep.records += 1
            if item.error is not None:
                self.fail(rule, item.source_id, item.error, rep, item.client)
                continue
            if item.deferred:
                deferred.append(item)
            entry = ids.get(item.source_id)
            digest = item.digest(self._resolved(item))
            if entry is not None and entry.target_id is not None and rollback:
                known.append((item, entry.target_id))  # read again: values to roll back
            elif entry is not None and entry.target_id is not None:
                if entry.hash == digest:
                    rep.unchanged += 1
                else:
                    changed.append((item, entry.target_id))
            else:
                new.append(item)
        if ctx.mapping.same and (new or known):
            new = self._same(rule, [*known, *((p, None) for p in new)], changed, rep,
                             dry_run)
        if dry_run:
            rep.created, rep.updated = len(new), len(changed)
            return rep, []
        self.progress.started(rule.label, len(new) + len(changed))
        pending = [p for p in new if p.source_id in ids]  # written by a killed run, maybe
        if len(pending) < len(new) and info.upsert is None \
                and (rule.match or self.writer.source_key in info.fields) \
                and (self.writer.count(rule.object) or 0) > self._known(rule.object):
            # Records in the target that this id map does not know (an archive copy older
            # than the restore, a lost one): each is looked up (by the source id it carries,
            # else by its match fields) before it is created, never duplicated.
            pending = list(new)
        if pending and info.upsert is None:
            found = self._find(rule, pending)
            rep.recovered = len(found)
            changed += [(p, found[p.source_id]) for p in pending if p.source_id in found]
            new = [p for p in new if p.source_id not in found]
        for batch in chunks([(p, None) for p in new] + changed, self.writer.batch_size):
            self._write(rule, batch, rep, create_pending=info.upsert is None)
            self.progress.advanced(rule.label, len(batch))
        return rep, deferred

    def _add_options(self, rule: ObjectRule) -> ObjectInfo:
        """``unlisted_values = "add"``: the values of the rule's records outside the
        target's options are added to them where the target allows it, before the records
        are fitted; where it does not, why goes with each record's report line."""
        ctx = self.ctx
        info = ctx.infos[rule.object]
        wanted: dict[str, set[str]] = {}
        for item in plan_records(ctx, rule, fit=False):
            if item.error is None:
                for name, bad in unlisted(info, item.fields).items():
                    wanted.setdefault(name, set()).update(bad)
        if not wanted:
            return info
        refused = self.writer.add_options(rule.object, {k: sorted(v)
                                                        for k, v in wanted.items()})
        for name, why in refused.items():
            ctx.unaddable[(rule.object, name)] = why
        for name in sorted(set(wanted) - set(refused)):
            self.report.added_options[f"{rule.object}.{name}"] = sorted(wanted[name])
        info = self.writer.describe(rule.object) or info
        ctx.infos[rule.object] = info
        return info

    def _same(self, rule: ObjectRule, items: list[tuple[Planned, str | None]],
              changed: list[tuple[Planned, str]], rep: ObjectReport,
              dry_run: bool) -> list[Planned]:
        """A restore into its own source: the records the target still holds are those
        records (adopted: given their source id; relinked or rolled back where they
        differ); the rest are created again. Returns the ones to create."""
        got = claim(self.ctx, rule, items, self._resolved)
        self.report.diff += got.diff
        rep.unchanged += len(got.unchanged)
        changed += got.update
        if dry_run:  # children link to the records claimed, as they will
            self.ctx.id_map(rule.stream, rule.object).update({
                p.source_id: self.entry(rule, p.source_id, tid, None)
                for p, tid in got.update + got.unchanged})
        if not dry_run and (got.update or got.unchanged):
            source = f"{self.ctx.source}/{rule.stream}/"
            self.writer.adopt(rule.object, {tid: source + p.source_id
                                            for p, tid in got.update + got.unchanged
                                            if tid not in got.foreign})
            ids = self.ctx.id_map(rule.stream, rule.object)
            entries = [self.entry(rule, p.source_id, tid, p.digest())
                       for p, tid in got.unchanged]
            self.ctx.archive.put_id_map(self.ctx.target, entries, self.run_id,
                                        self.ctx.identity)
            ids.update({e.source_id: e for e in entries})
        return got.new

    def _known(self, obj: str) -> int:
        """Records of ``obj`` this target's id map holds (from every stream)."""
        return len({e.target_id for e in self.ctx.archive.id_map(
            self.ctx.target, target_object=obj, identity=self.ctx.identity) if e.target_id})

    def _resolved(self, item: Planned) -> list[Link]:
        """The deferred links of an item whose parents are restored by now."""
        out = []
        for link, pid in item.deferred:
            parent = self.ctx.parent_rule(link)
            entry = self.ctx.id_map(parent.stream, parent.object).get(pid)
            if entry is not None and entry.target_id is not None:
                out.append(Link(link.name, parent.object, entry.target_id, link.type_id,
                                link.label))
        return out

    def _find(self, rule: ObjectRule, pending: list[Planned]) -> dict[str, str]:
        taken = {e.target_id for e in self.ctx.id_map(rule.stream, rule.object).values()
                 if e.target_id}
        found: dict[str, str] = {}
        for batch in chunks(pending, self.writer.batch_size):
            items = [WriteItem(p.source_id, p.fields, p.links) for p in batch]
            for key, tid in self.writer.find(rule.object, items, rule.match).items():
                if tid not in taken:
                    found[key] = tid
                    taken.add(tid)
        return found

    def _write(self, rule: ObjectRule, batch: list[tuple[Planned, str | None]],
               rep: ObjectReport, create_pending: bool) -> None:
        archive, ids = self.ctx.archive, self.ctx.id_map(rule.stream, rule.object)
        info = self.ctx.infos[rule.object]
        key = rule.key or (info.upsert if info.upsert == self.writer.source_key else None)
        items = [WriteItem(p.source_id, p.fields, p.links, tid,
                           key_value=(str(p.fields.get(key)) if key else None),
                           key_field=key, file=p.file, attempted=p.source_id in ids,
                           more_files=p.more_files, client=p.client)
                 for p, tid in batch]
        # Creates that cannot be repeated safely are recorded as pending first: records of
        # a target without a unique key, and files (uploads are never upserts).
        fresh = [self.entry(rule, p.source_id, None, None) for p, tid in batch
                 if tid is None and p.source_id not in ids
                 and (create_pending or p.file is not None)]
        if fresh:
            archive.put_id_map(self.ctx.target, fresh, self.run_id, self.ctx.identity)
            for e in fresh:
                ids[e.source_id] = e
        try:
            results = self.writer.write(rule.object, items, rule.match)
        except (AuthError, QuotaExhausted):
            raise  # every later call would fail the same way: stop, resumable
        except SourceError as exc:  # pending rows stay: looked up next run
            for p, _tid in batch:
                self.fail(rule, p.source_id, str(exc), rep, p.client)
            return
        by_key = trusted(results, [p.source_id for p, _t in batch],
                         {e.target_id: s for s, e in ids.items() if e.target_id})
        done: list[IdMapEntry] = []
        refused: list[IdMapEntry] = []
        for p, tid in batch:
            result = by_key.get(p.source_id)
            if result is None or result.error is not None or not result.target_id:
                message = result.error if result is not None and result.error else \
                    "the target did not answer for this record"
                self.fail(rule, p.source_id, message, rep, p.client)
                # A refused create was not made; keep a file's row pending all the same,
                # since its upload may have gone through before the record was refused.
                if tid is None and p.source_id in ids and ids[p.source_id].target_id is None \
                        and p.file is None and not (result is not None and result.unsure):
                    refused.append(ids.pop(p.source_id))
                continue
            created = tid is None and (result.created or info.upsert is None)
            rep.created += created
            rep.updated += not created
            rep.files += p.file is not None
            self.partial(rule, p, result, rep)
            done.append(self.entry(rule, p.source_id, result.target_id,
                                   p.digest(self._resolved(p))))
        with archive.transaction():
            archive.put_id_map(self.ctx.target, done, self.run_id, self.ctx.identity)
            archive.drop_id_map(self.ctx.target, refused, self.ctx.identity)
        for e in done:
            ids[e.source_id] = e

    def deletions(self, ordered: list[ObjectRule], mode: str, dry_run: bool) -> None:
        """Records deleted from the source since they were restored, children first."""
        if mode not in DELETION_MODES:
            raise MappingError(f"--deletions {mode}: use one of {', '.join(DELETION_MODES)}.")
        reports = {(r.stream, r.object): r for r in self.report.objects}
        for rule in reversed(ordered):
            rep = reports[(rule.stream, rule.object)]
            if dry_run:
                rep.deleted = len(deleted_since(self.ctx, rule)) if mode != "keep" else 0
                continue
            done = carry_deletions(self.ctx, rule, mode, self.run_id, self.writer.batch_size)
            rep.deleted += done.done
            for sid, message in done.failed:
                self.fail(rule, sid, f"deleted from the source, but: {message}", rep)

    def relink(self, rule: ObjectRule, deferred: list[Planned], rep: ObjectReport) -> None:
        """The second pass: references that closed a cycle, now that every parent exists."""
        ids = self.ctx.id_map(rule.stream, rule.object)
        todo = []
        for p in deferred:
            entry = ids.get(p.source_id)
            links = self._resolved(p)
            if entry is None or entry.target_id is None or not links \
                    or entry.hash == p.digest(links):  # linked already
                continue
            todo.append((p, entry.target_id, links))
        for batch in chunks(todo, self.writer.batch_size):
            items = [WriteItem(p.source_id, {}, links, tid) for p, tid, links in batch]
            try:
                results = {r.key: r for r in self.writer.link(rule.object, items)}
            except SourceError as exc:
                for p, _tid, _links in batch:
                    self.fail(rule, p.source_id, str(exc), rep, p.client)
                continue
            done = []
            for p, tid, links in batch:
                r = results.get(p.source_id)
                if r is None or r.error:
                    self.fail(rule, p.source_id, r.error if r and r.error else "not linked",
                              rep, p.client)
                    continue
                rep.linked += 1
                done.append(self.entry(rule, p.source_id, tid, p.digest(links)))
            self.ctx.archive.put_id_map(self.ctx.target, done, self.run_id,
                                        self.ctx.identity)
            for e in done:
                ids[e.source_id] = e


def _prepare_target(ctx: Context, ordered: list[ObjectRule], report: RestoreReport) -> None:
    """The custom objects the mapping's schemas declare (where missing), the fields the
    mapping creates, and on every object written the field its records
    carry their source id in (a HubSpot unique property, a Salesforce external id), so that
    any later run, from any archive copy, finds them by it."""
    writer = ctx.writer
    fields: dict[str, dict[str, str]] = {}
    fresh: set[str] = set()
    for rule in ordered:
        wanted = dict(rule.create_fields)
        if rule.schema is not None:
            if writer.ensure_object(rule.object, rule.schema):
                report.created_objects.append(rule.object)
                fresh.add(rule.object)
            wanted = {**rule.schema.properties, **wanted}
        fields.setdefault(rule.object, {}).update(wanted)
    # One pass over every object, so that a target can batch the additions (a HubSpot
    # property batch per object, a Salesforce Tooling composite for all of them).
    made = writer.ensure(fields, [r.object for r in ordered if not r.all_fields])
    for obj, names in made.items():
        report.created_fields.setdefault(obj, []).extend(names)
    for obj in {*made, *fresh}:
        info = writer.describe(obj)
        if info is not None:
            ctx.infos[obj] = info


def _has_work(ctx: Context, rule: ObjectRule) -> bool:
    """Whether the rule has a record to restore, or one restored before (whose deletion
    or relink it may carry)."""
    return next(iter(ctx.records(rule)), None) is not None \
        or bool(ctx.id_map(rule.stream, rule.object))


def target_identity(archive: Archive, writer: Writer, target: str, adopt: bool) -> str:
    """The identity the id map of ``target`` is read under: the writer's identity of its
    target. Rows of this name written before format 3 (identity '') stand for this target
    only when it holds a sample of their records (the same portal as before: adopted when
    ``adopt``, else read as they are); a new, empty portal under the old name starts afresh."""
    identity = writer.identity()
    if not identity or archive.id_map_identities(target) != [""]:
        return identity
    legacy = [e for e in archive.id_map(target, identity="") if e.target_id]
    if not legacy:
        return identity
    obj = legacy[0].target_object
    sample = [str(e.target_id) for e in legacy if e.target_object == obj][:20]
    if len(writer.read(obj, sample, [], {})) != len(sample):
        return identity
    if not adopt:
        return ""
    archive.adopt_id_map(target, identity)
    return identity


def run_restore(archive: Archive, writer: Writer, mapping: Mapping_, *, target: str,
                only: Iterable[str] | None = None, as_of: str | int | None = None,
                dry_run: bool = False, errors_path: Path | None = None,
                progress: RestoreProgress | None = None,
                source: str | None = None, deletions: str = "archive",
                fields: Iterable[str] | None = None,
                client: str | None = None) -> RestoreReport:
    """Restore the archive (as of a run or date) into ``writer``'s target through
    ``mapping``. With ``dry_run`` nothing is written anywhere: the report is the plan.

    A same-vendor mapping into its own source rolls back, on records the target still
    holds, the ``fields`` named (every field when ``only`` or ``client`` narrow the
    restore instead); ``client`` keeps the records of clients whose name contains it."""
    started = time.monotonic()
    progress = progress or NullRestoreProgress()
    writer = guarded(writer)  # an answer of an unexpected shape: a plain SourceError
    if mapping.target is not None and writer.name and mapping.target != writer.name \
            and mapping.target != getattr(writer, "import_for", None):
        raise MappingError(f"The mapping {mapping.path.name} is written for a {mapping.target} "
                           f"target, but {target} is a {writer.name} target.")
    mapping = expand(mapping, archive, source)
    rules = select_rules(mapping, only)
    run_as_of = archive.resolve_as_of(as_of)
    if fields and not mapping.same:
        raise MappingError("--fields rolls values back in a restore into the archive's own "
                           "source: use a same-vendor mapping (salesforce_to_salesforce, "
                           "hubspot_to_hubspot).")
    rollback = frozenset(fields) if fields else \
        (frozenset({"*"}) if (only or client) and mapping.same else None)
    ctx = Context(archive, mapping, writer, target, run_as_of, dry_run=dry_run,
                  identity=target_identity(archive, writer, target, adopt=not dry_run),
                  rollback=rollback, client=client)
    report = RestoreReport(target, mapping.path.name, dry_run=dry_run)
    if run_as_of is not None:
        report.as_of = f"run {run_as_of} ({local_time(archive.run(run_as_of).started_at)})"
    chosen = rules
    rules = with_parents(ctx, rules)
    report.parents_added = [r.label for r in rules if r not in chosen]
    # A rule with nothing to write or to carry a deletion to (no record in the archive, none
    # restored before) costs the target nothing: no describe, no new field, no custom object.
    # Its mapping is still checked against the archive.
    idle = [r for r in rules if not _has_work(ctx, r)]
    active = [r for r in rules if r not in idle]
    writer.prepare(list(dict.fromkeys(r.object for r in active)))  # describes read ahead
    report.unmapped = check_mapping(ctx, rules, idle)
    rules = active
    report.unmapped_streams = sorted(
        {st for src, st in archive.streams() if src == mapping.source}
        - {r.stream for r in mapping.objects})
    ordered = order_rules(ctx, rules)
    if not dry_run:
        report.run_id = archive.begin_run("restore")
    run = _Run(ctx, report, progress)
    deferred: list[tuple[ObjectRule, ObjectReport, list[Planned]]] = []
    try:
        if not dry_run:
            _prepare_target(ctx, ordered, report)
        for rule in ordered:
            rep, later = run.restore(rule, dry_run)
            report.objects.append(rep)
            if later:
                deferred.append((rule, rep, later))
            if not later:
                progress.finished(rule.label, rep.summary(dry_run))
        for rule, rep, later in deferred:
            run.relink(rule, later, rep)
            progress.finished(rule.label, rep.summary(dry_run))
        run.deletions(ordered, deletions, dry_run)
        report.objects += [ObjectReport(r.stream, r.object) for r in idle]  # 0 records
    except BaseException as exc:
        if report.run_id is not None:
            report.calls = writer.calls()
            archive.finish_run(report.run_id, "interrupted" if isinstance(
                exc, KeyboardInterrupt) else "failed", report.stats(), redact(str(exc))[:500])
            archive.audit("restore", {**_audit(report, ctx, only, as_of), "status": "failed"},
                          run_id=report.run_id)
        raise
    report.seconds = time.monotonic() - started
    return _finish(ctx, report, errors_path, only, as_of)


def _finish(ctx: Context, report: RestoreReport, errors_path: Path | None,
            only: Iterable[str] | None, as_of: str | int | None) -> RestoreReport:
    """The run's status, its error report, its run record and audit entry."""
    archive, dry_run = ctx.archive, report.dry_run
    report.calls = ctx.writer.calls()
    written = report.total("created") + report.total("updated") + report.total("unchanged")
    if report.errors and not dry_run:  # a plan's failures are "would fail", listed
        report.status = "partial" if written else "failed"
    if errors_path is not None and report.errors and not dry_run:
        write_errors(errors_path, report.errors)
        report.errors_file = errors_path
    if report.run_id is not None:
        archive.finish_run(report.run_id, report.status, report.stats(),
                           f"{len(report.errors)} records failed" if report.errors else None)
    archive.audit("restore", _audit(report, ctx, only, as_of), run_id=report.run_id)
    return report


def _audit(report: RestoreReport, ctx: Context, only: Iterable[str] | None,
           as_of: str | int | None) -> dict[str, Any]:
    counts = {k: report.total(k) for k in ("created", "updated", "unchanged", "failed", "deleted")}
    return {"target": report.target, "mapping": report.mapping, "dry_run": report.dry_run,
            "only": list(only or []), "as_of": as_of, "status": report.status, **counts,
            "client": ctx.client, "fields": None if ctx.rollback is None else sorted(ctx.rollback),
            "errors_file": str(report.errors_file) if report.errors_file else None}
