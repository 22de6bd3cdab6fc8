"""``restore --verify``: read the target back and compare it with the archive, through the
mapping, field by field and reference by reference."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.archive import Archive, IdMapEntry
from exporter.restore.answers import guarded
from exporter.restore.engine import expand, select_rules, target_identity
from exporter.restore.mapping import Mapping_, ObjectRule
from exporter.restore.plan import Context, Planned, check_mapping, order_rules, plan_records
from exporter.restore.same import foreign_id, wanted
from exporter.restore.target_links import linked_in_target
from exporter.restore.transforms import same
from exporter.writer import Writer, chunks

__all__ = ["Mismatch", "VerifyReport", "same", "verify_restore"]

READ_BATCH = 100


@dataclass
class Mismatch:
    object: str
    source_id: str
    target_id: str | None
    field: str
    expected: Any
    found: Any


@dataclass
class VerifyReport:
    records: int = 0
    records_matching: int = 0
    fields: int = 0
    fields_matching: int = 0
    links: int = 0
    links_matching: int = 0
    stale_links: int = 0  # associations or lookups to records the source no longer links to
    #: per target object: records the target holds beyond those this restore wrote there
    #: (duplicates of restored records, or records from elsewhere)
    extras: dict[str, int] = field(default_factory=dict)
    #: per target object: records beyond the first that carry one source id
    duplicates: dict[str, int] = field(default_factory=dict)
    per_object: dict[str, tuple[int, int]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def record_rate(self) -> float:
        return 100.0 * self.records_matching / self.records if self.records else 100.0

    @property
    def field_rate(self) -> float:
        total = self.fields + self.links
        return 100.0 * (self.fields_matching + self.links_matching) / total if total else 100.0

    def summary(self) -> str:
        return (f"{self.records_matching} of {self.records} records match "
                f"({_percent(self.record_rate)}); {self.fields_matching + self.links_matching} "
                f"of {self.fields + self.links} fields and references match "
                f"({_percent(self.field_rate)})"
                + (f"; {self.stale_links} stale references" if self.stale_links else "")
                + "".join(f"; {n} duplicate {obj} (one source record, several in the "
                          "target)" for obj, n in self.duplicates.items() if n)
                + "".join(f"; {n} more {obj} in the target than restored"
                          for obj, n in self.extras.items() if n))


def _percent(rate: float) -> str:
    """One decimal, rounded down: 1 field in 8,000 that does not match reads 99.9%, never a
    100.0% beside a mismatch."""
    return f"{math.floor(rate * 10) / 10:.1f}%"
class _Files:
    """Archived files' digests in the algorithm a target gives its own in (SHA-256 is the
    archive's; another, such as Salesforce's MD5, is computed from the archived bytes)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.cache: dict[tuple[str, str], str] = {}

    @staticmethod
    def expected(p: Planned, every: bool) -> list[str]:
        """The SHA-256 of each file the record must carry: those it was given to send (a
        note's attachments), or every one where the target keeps them all."""
        shas = [s for s in (p.file_hash or "").split(",") if s]
        return shas if every else shas[:1 + len(p.more_files)]

    def digest(self, sha: str, algorithm: str) -> str:
        if algorithm == "sha256":
            return sha
        if (sha, algorithm) not in self.cache:
            h = hashlib.new(algorithm, usedforsecurity=False)
            for chunk in self.archive.read_file(sha):
                h.update(chunk)
            self.cache[(sha, algorithm)] = h.hexdigest()
        return self.cache[(sha, algorithm)]

    def same(self, expected: list[str], found: list[str]) -> bool:
        if len(expected) != len(found):
            return False
        for sha, got in zip(expected, found, strict=True):
            algorithm, _, value = got.partition(":")
            if algorithm not in hashlib.algorithms_available or \
                    self.digest(sha, algorithm) != value.lower():
                return False
        return True


class _Verifier:
    """Compares one rule's records at a time, counting into one report; the first ``keep``
    mismatches are kept, in the order they are found."""

    def __init__(self, ctx: Context, writer: Writer, keep: int) -> None:
        self.ctx = ctx
        self.writer = writer
        self.keep = keep
        self.report = VerifyReport()
        #: per object, read from the target alone: source id carried -> target ids
        self.holders: dict[str, dict[str, list[str]] | None] = {}
        self.everyone: dict[str, dict[str, str]] = {}  # object -> target id -> source id
        self.expected: dict[str, set[str]] = {}  # object -> source ids this verify plans
        self.files = _Files(ctx.archive)

    def census(self, obj: str) -> dict[str, list[str]] | None:
        """The object's records as the target holds them, grouped by the source id each
        carries (None: the target cannot tell; verify then reads by the id map only)."""
        if obj not in self.holders:
            carried = self.writer.carried(obj)
            by_source: dict[str, list[str]] | None = None
            if carried is not None:
                self.everyone[obj] = carried
                by_source = {}
                for tid, sid in carried.items():
                    if sid:
                        by_source.setdefault(sid, []).append(tid)
            self.holders[obj] = by_source
        return self.holders[obj]

    def target_id(self, rule: ObjectRule, p: Planned, entry: IdMapEntry | None) -> str | None:
        """The record standing for ``p``: the one carrying its source id (the id map's, if
        several do), else the id map's (a record restored before it carried one)."""
        known = entry.target_id if entry else None
        census = self.census(rule.object)
        if census is None:
            return known
        sid = f"{self.ctx.source}/{rule.stream}/{p.source_id}"
        self.expected.setdefault(rule.object, set()).add(sid)
        holders = census.get(sid) or []
        if holders:
            return known if known in holders else holders[0]
        return known if known in self.everyone[rule.object] else None

    def miss(self, m: Mismatch) -> None:
        if len(self.report.mismatches) < self.keep:
            self.report.mismatches.append(m)

    def rule(self, rule: ObjectRule) -> None:
        ids = self.ctx.id_map(rule.stream, rule.object)
        everything = []
        for p in plan_records(self.ctx, rule):
            if wanted(self.ctx, p):
                everything.append(p)
            else:  # another client's (--client): neither checked nor extra
                self.expected.setdefault(rule.object, set()).add(
                    f"{self.ctx.source}/{rule.stream}/{p.source_id}")
        for p in everything:  # records that could not be mapped or linked are not restored
            if p.error is not None:
                self.report.records += 1
                self.miss(Mismatch(rule.object, p.source_id, None, "(record)", "restored",
                                   f"not restored: {p.error}"))
        planned = [p for p in everything if p.error is None]
        good = 0
        for batch in chunks(planned, READ_BATCH):
            good += self.batch(rule, ids, batch)
        self.report.per_object[rule.label] = (good, len(everything))

    def batch(self, rule: ObjectRule, ids: dict[str, IdMapEntry], batch: list[Planned]) -> int:
        """Read one batch back from the target; the number of records that match."""
        tids = {p.source_id: self.target_id(rule, p, ids.get(p.source_id)) for p in batch}
        names = sorted({k for p in batch for k in p.fields})
        link_names = {ln.name: self.ctx.parent_rule(ln).object for ln in rule.links}
        found = self.writer.read(rule.object, [t for t in tids.values() if t], names,
                                 link_names)
        with_files = [str(tids[p.source_id]) for p in batch
                      if p.file is not None and tids[p.source_id] in found]
        digests = self.writer.file_digests(rule.object, with_files) if with_files else None
        if digests is not None:  # the bytes themselves are compared: sizes are not needed
            for held in with_files:
                found[held] = {**found[held], "@file_digests": digests.get(held, [])}
        good = 0
        for p in batch:
            self.report.records += 1
            tid = tids[p.source_id]
            got = found.get(tid) if tid else None
            if got is None:
                self.miss(Mismatch(rule.object, p.source_id, tid, "(record)", "restored",
                                   "missing"))
                self.report.fields += len(p.fields)
                self.report.links += len(p.links) + len(p.deferred)
                continue
            fields_ok = self.fields(rule, p, tid, got)
            links_ok = self.links(rule, p, tid, got.get("@links", {}),
                                  got.get("@link_types"))
            if fields_ok and links_ok:
                self.report.records_matching += 1
                good += 1
        return good

    def fields(self, rule: ObjectRule, p: Planned, tid: str | None,
               got: Mapping[str, Any]) -> bool:
        report, ok = self.report, True
        for name, value in p.fields.items():
            report.fields += 1
            if same(value, got.get(name)) or self._foreign_key(name, got.get(name)):
                report.fields_matching += 1
            else:
                ok = False
                self.miss(Mismatch(rule.object, p.source_id, tid, name, value, got.get(name)))
        if p.file is not None and "@file_digests" in got:  # the same bytes, by hash
            report.fields += 1
            expected = self.files.expected(p, self.writer.keeps_every_file)
            if self.files.same(expected, got["@file_digests"]):
                report.fields_matching += 1
            else:
                ok = False
                self.miss(Mismatch(rule.object, p.source_id, tid, "(file bytes)",
                                   expected, got["@file_digests"]))
        elif p.file is not None and "@file_size" in got:  # the file came through whole
            report.fields += 1
            if same(p.file.size, got["@file_size"]):
                report.fields_matching += 1
            else:
                ok = False
                self.miss(Mismatch(rule.object, p.source_id, tid, "(file size)", p.file.size,
                                   got["@file_size"]))
        return ok

    def _foreign_key(self, name: str, found: Any) -> bool:
        """Into its own source, a record holding another source's id (a HubSpot migration
        filled the org) keeps it: the same-vendor restore does not overwrite it."""
        return bool(self.ctx.mapping.same) and name == self.writer.source_key \
            and foreign_id(self.ctx, found)

    def links(self, rule: ObjectRule, p: Planned, tid: str | None,
              links: Mapping[str, Any], types: Mapping[str, Any] | None = None) -> bool:
        report, ok = self.report, True
        for link, pid in p.deferred:  # in a cycle: resolved through the id map
            parent = self.ctx.parent_rule(link)
            pe = self.ctx.id_map(parent.stream, parent.object).get(pid)
            report.links += 1
            if pe is not None and pe.target_id in links.get(link.name, []):
                report.links_matching += 1
            else:
                ok = False
                self.miss(Mismatch(rule.object, p.source_id, tid, link.name,
                                   pe.target_id if pe else None, links.get(link.name)))
        for ln in p.links:
            report.links += 1
            typed = ln.type_id is None or types is None or ln.type_id in (
                types.get(ln.to_object) or {}).get(ln.to_id, [])
            if ln.to_id in links.get(ln.name, []) and typed:
                report.links_matching += 1
            else:
                ok = False
                self.miss(Mismatch(rule.object, p.source_id, tid, ln.name, ln.to_id,
                                   links.get(ln.name)))
        return self.stale(rule, p, tid, links) and ok

    def stale(self, rule: ObjectRule, p: Planned, tid: str | None,
              links: Mapping[str, Any]) -> bool:
        """References the target holds beyond those the source has (an old physician left
        beside the new one): each a mismatch."""
        expected: dict[str, set[str]] = {}
        for ln in p.links:
            expected.setdefault(ln.to_object, set()).add(ln.to_id)
        by_name = {ln.name: ln.to_object for ln in p.links}
        extra = {name: sorted(set(links.get(name) or []) - expected[obj])
                 for name, obj in by_name.items()}
        for name, ids in extra.items():
            if ids:
                self.report.stale_links += len(ids)
                self.miss(Mismatch(rule.object, p.source_id, tid, name,
                                   sorted(expected[by_name[name]]), links.get(name)))
        return not any(extra.values())


def _archived(ctx: Context, rules: list[ObjectRule], obj: str) -> set[str]:
    """Into its own source (a same-vendor mapping), the archived records of ``obj``'s
    streams, which are the target's own records even before a restore gives them their
    source id (one narrowed by --client or --only leaves the others be): never extras."""
    if not ctx.mapping.same:
        return set()
    return {rid for r in rules if r.object == obj
            for rid, _data in ctx.archive.records(ctx.source, r.stream, ctx.as_of)}


def _extras(ctx: Context, rules: list[ObjectRule], verifier: _Verifier) -> dict[str, int]:
    """The target read on its own, beyond the id map: per mapped object, how many records it
    holds that this restore did not write: duplicates (a re-run from an older archive copy
    that created them again), records carrying another source id (that no restore from
    this archive wrote there) or none (from elsewhere).
    Where the target cannot list its records' source ids, by count."""
    out: dict[str, int] = {}
    report = verifier.report
    for obj in sorted({r.object for r in rules}):
        written = {e.target_id for r in ctx.mapping.objects if r.object == obj
                   for e in ctx.id_map(r.stream, r.object).values() if e.target_id}
        # what other restores from this archive wrote into this target (another mapping:
        # Google's visits into the portal the Salesforce restore filled)
        restored = {e.target_id for e in ctx.archive.id_map(
            ctx.target, target_object=obj, identity=ctx.identity) if e.target_id}
        census = verifier.census(obj)
        own = _archived(ctx, rules, obj)
        if census is None:
            held = verifier.writer.count(obj)
            if held is not None:
                out[obj] = max(0, held - len(written | own | restored))
            continue
        report.duplicates[obj] = sum(len(t) - 1 for t in census.values() if len(t) > 1)
        mine = {f"{ctx.source}/{r.stream}/" for r in ctx.mapping.objects if r.object == obj}
        checked = {f"{ctx.source}/{r.stream}/" for r in rules if r.object == obj}
        expected = verifier.expected.get(obj, set())
        theirs = linked_in_target(ctx, obj) | own  # the clients a Google restore links to
        strangers = sum(
            1 for tid, sid in verifier.everyone[obj].items() if tid not in theirs and (
            (not sid and tid not in written)
            or (sid and not any(sid.startswith(m) for m in mine) and tid not in restored)
            or (sid and any(sid.startswith(c) for c in checked) and sid not in expected)))
        out[obj] = report.duplicates[obj] + strangers
    return out


def verify_restore(archive: Archive, writer: Writer, mapping: Mapping_, *, target: str,
                   only: Iterable[str] | None = None, as_of: str | int | None = None,
                   keep: int = 50, source: str | None = None,
                   client: str | None = None) -> VerifyReport:
    """Compare every mapped record with what the target holds now (with ``client``, the
    records a restore with that ``--client`` writes)."""
    mapping = expand(mapping, archive, source)
    rules = select_rules(mapping, only)
    writer = guarded(writer)  # an answer of an unexpected shape: a plain SourceError
    ctx = Context(archive, mapping, writer, target, archive.resolve_as_of(as_of),
                  identity=target_identity(archive, writer, target, adopt=False),
                  client=client)
    writer.prepare(list(dict.fromkeys(r.object for r in rules)))  # describes read ahead
    check_mapping(ctx, rules)
    verifier = _Verifier(ctx, writer, keep)
    for rule in order_rules(ctx, rules):
        verifier.rule(rule)
    report = verifier.report
    report.extras = _extras(ctx, rules, verifier)
    archive.audit("restore.verify", {"target": target, "mapping": mapping.path.name,
                                     "records": report.records,
                                     "records_matching": report.records_matching,
                                     "field_rate": round(report.field_rate, 3)})
    return report
