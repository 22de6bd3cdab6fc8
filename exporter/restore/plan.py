"""Planning a restore: checking a mapping against the archive and the target, ordering the
objects parents first, and turning archived records into the payloads to write."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.archive import Archive, IdMapEntry, canonical_json
from exporter.errors import MappingError
from exporter.record import utf8_text
from exporter.restore.clients import client_label
from exporter.restore.files import attached_files, name_files, record_files
from exporter.restore.links import through, two_hops
from exporter.restore.mapping import LinkRule, Mapping_, ObjectRule
from exporter.restore.target_links import check_target_link, target_link
from exporter.restore.transforms import MISSING, TransformError, apply, flatten, get_path
from exporter.settings import did_you_mean
from exporter.writer import FileItem, Link, ObjectInfo, Writer

__all__ = ["Context", "Planned", "check_mapping", "client_label", "order_rules",
           "plan_records", "with_parents"]

SAMPLE = 500  # records read per stream to learn its fields when no schema was archived


@dataclass
class Planned:
    """One archived record as it will be written."""

    source_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    deferred: list[tuple[LinkRule, str]] = field(default_factory=list)  # (link, parent id)
    file: FileItem | None = None
    file_hash: str | None = None
    more_files: list[FileItem] = field(default_factory=list)  # file = "*": the others
    error: str | None = None
    #: What is left out of a record written all the same (a parent not restored): reported.
    notes: list[str] = field(default_factory=list)
    client: str = ""  # the client it belongs to ("name (number)"), for the error report
    created: Any = None  # same-vendor: the archived creation time (``same.created``)
    #: same-vendor: the whole record's digest, kept when only what differs is sent
    fixed_digest: str | None = None

    def digest(self, with_deferred: list[Link] | None = None) -> str:
        if self.fixed_digest is not None:
            return self.fixed_digest
        links = sorted((ln.name, ln.to_object, ln.to_id) for ln in
                       [*self.links, *(with_deferred or [])])
        body = {"fields": self.fields, "links": links, "file": self.file_hash}
        # utf8_text: half an emoji hashed as its \u escape (the same bytes for any other text)
        return hashlib.sha256(utf8_text(canonical_json(body))[1]).hexdigest()


@dataclass
class Context:
    """Everything a restore plans with: the archive (as of a run), the mapping, the target
    and the id map held in memory."""

    archive: Archive
    mapping: Mapping_
    writer: Writer
    target: str
    as_of: int | None = None
    dry_run: bool = False  # parents that would be created count as restored
    identity: str = ""  # the target's own identity (Writer.identity): keys the id map
    #: same-vendor: the fields rolled back on records the target still holds ("*": all)
    rollback: frozenset[str] | None = None
    client: str | None = None  # --client: only the records of clients whose name has it
    infos: dict[str, ObjectInfo] = field(default_factory=dict)
    ids: dict[tuple[str, str], dict[str, IdMapEntry]] = field(default_factory=dict)
    _parents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _key_index: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    _unique: dict[tuple[str, str], dict[str, tuple[str, str]]] = field(default_factory=dict)
    _selected: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[str, list[str]]] = field(default_factory=dict)
    #: (object, field) -> why the target did not take new options there (unlisted = add)
    unaddable: dict[tuple[str, str], str] = field(default_factory=dict)
    found: dict[Any, Any] = field(default_factory=dict)  # caches: target_links, clients

    def first_holder(self, obj: str, name: str, value: Any, holder: tuple[str, str]) -> bool:
        """Whether ``holder`` (stream, id) is the first record of this restore to claim a
        value of the target's unique field ``name`` (compared case-insensitively)."""
        seen = self._unique.setdefault((obj, name), {})
        return seen.setdefault(str(value).lower(), holder) == holder

    def would_restore(self, rule: ObjectRule, record_id: str) -> bool:
        key = (rule.stream, rule.object)
        if key not in self._selected:
            self._selected[key] = {rid for rid, _d in self.records(rule)}
        return record_id in self._selected[key]

    @property
    def source(self) -> str:
        return self.mapping.source

    def id_map(self, stream: str, obj: str) -> dict[str, IdMapEntry]:
        key = (stream, obj)
        if key not in self.ids:
            self.ids[key] = {e.source_id: e for e in self.archive.id_map(
                self.target, self.source, stream, obj, identity=self.identity)}
        return self.ids[key]

    def parent(self, stream: str, record_id: str) -> Mapping[str, Any] | None:
        if stream not in self._parents:
            self._parents[stream] = dict(self.archive.records(self.source, stream, self.as_of))
        data = self._parents[stream].get(record_id)
        return data if isinstance(data, Mapping) else None

    def records(self, rule: ObjectRule) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for rid, data in self.archive.records(self.source, rule.stream, self.as_of):
            if data is not None and self.selected(rule, data):
                yield rid, data

    def selected(self, rule: ObjectRule, data: Mapping[str, Any]) -> bool:
        for path, allowed in rule.where.items():
            value = get_path(data, path, self.mapping.prefix)
            value = None if value is MISSING else value
            if not any(value == a or (a is not None and str(value) == str(a)) for a in allowed):
                return False
        return all(get_path(data, p, self.mapping.prefix) not in (MISSING, None, "")
                   for p in rule.require)

    def _via(self, link: LinkRule, data: Mapping[str, Any], stream: str) -> list[str]:
        """The associated records (by id) that the parent's rule restores: the first, or
        every one with ``every``."""
        assert link.via is not None
        rid = get_path(data, "@id")
        rule = self.parent_rule(link)
        ids = _edges(self, link.via, stream, link.to_stream, link.type_id).get(str(rid), [])
        found = two_hops(self, link, ids) if link.by is not None else \
            [to_id for to_id in ids if self.would_restore(rule, to_id)]
        return found if link.every else found[:1]

    def parent_ids(self, link: LinkRule, data: Mapping[str, Any], stream: str) -> list[str]:
        """Every archived id the link points at (several only for ``every``)."""
        if link.through is not None:
            return through(self, link, data)
        if link.via is not None:
            return self._via(link, data, stream)
        pid = self.parent_id(link, data, stream)
        return [] if pid is None else [pid]

    def parent_rule(self, link: LinkRule) -> ObjectRule:
        if link.in_target:  # a record already in the target: no rule of this mapping
            return ObjectRule("@target", str(link.to_object), [])
        rules = [r for r in self.mapping.objects if r.stream == link.to_stream
                 and (link.to_object is None or r.object == link.to_object)]
        if len(rules) != 1:
            raise MappingError(f"The link {link.name} -> {link.to_stream} must name one "
                               f"mapped object (to_object = ...): found {len(rules)}.")
        return rules[0]

    def parent_id(self, link: LinkRule, data: Mapping[str, Any], stream: str) -> str | None:
        """The archived id of the record a link points at (None: the link is empty)."""
        prefix = self.mapping.prefix
        if link.through is not None:
            return next(iter(through(self, link, data)), None)
        if link.path is not None:
            value = get_path(data, link.path, prefix)
            return None if value in (MISSING, None, "") else str(value)
        if link.via is not None:
            return next(iter(self._via(link, data, stream)), None)
        assert link.by is not None and link.on is not None
        value = get_path(data, link.by, prefix)
        if value in (MISSING, None, ""):
            return None
        rule = self.parent_rule(link)
        key = (rule.stream, rule.object, link.on)
        if key not in self._key_index:
            index: dict[str, str] = {}
            for rid, pdata in self.records(rule):
                pv = get_path(pdata, link.on, prefix)
                if pv not in (MISSING, None, ""):
                    index.setdefault(str(pv), rid)
            self._key_index[key] = index
        return self._key_index[key].get(str(value))


def _edges(ctx: Context, via: str, from_type: str, to_type: str,
           type_id: int | None = None) -> dict[str, list[str]]:
    """From id -> to ids, from an archived associations stream (one record per edge:
    fromObjectType, fromObjectId, toObjectType, toObjectId, associationTypeId); with
    ``type_id``, only the edges of that association type (HubSpot's "Primary" company)."""
    key = (via if type_id is None else f"{via}#{type_id}", from_type, to_type)
    if key not in ctx.edges:
        edges: dict[str, list[str]] = {}
        for _rid, edge in ctx.archive.records(ctx.source, via, ctx.as_of):
            if edge and edge.get("fromObjectType") == from_type \
                    and edge.get("toObjectType") == to_type \
                    and (type_id is None or str(edge.get("associationTypeId")) == str(type_id)):
                edges.setdefault(str(edge["fromObjectId"]), []).append(str(edge["toObjectId"]))
        ctx.edges[key] = {k: sorted(set(v)) for k, v in edges.items()}
    return ctx.edges[key]


def _source_fields(archive: Archive, source: str, stream: str) -> set[str]:
    """Field paths a stream's records have: its archived JSON Schema plus a sample."""
    known: set[str] = set()
    schema = archive.get_schema(source, stream)
    if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
        known.update(schema["properties"])
    for n, (_rid, data) in enumerate(archive.records(source, stream)):
        if n >= SAMPLE:
            break
        flat = flatten(data)
        known.update(flat)
        for name in flat:  # parents of nested paths too ("BillingAddress")
            parts = name.split(".")
            known.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return known


def _full(path: str, prefix: str) -> str:
    return path[1:] if path.startswith("@") else prefix + path


class _MappingCheck:
    """The checks of :func:`check_mapping`, collecting problems in the order they are found."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.mapping = ctx.mapping
        self.problems: list[str] = []
        self.streams = [s for src, s in ctx.archive.streams() if src == ctx.mapping.source]
        self._fields_of: dict[str, set[str]] = {}

    def known(self, stream: str) -> set[str]:
        if stream not in self._fields_of:
            self._fields_of[stream] = _source_fields(self.ctx.archive, self.mapping.source,
                                                     stream)
        return self._fields_of[stream]

    def full(self, path: str) -> str:
        return _full(path, self.mapping.prefix)

    def check_path(self, stream: str, path: str, what: str) -> None:
        names = self.known(stream)
        prefix = self.mapping.prefix
        parts = path.split(".")  # "attendees.0.email": the list field is what is known
        path = ".".join(parts[:next((i for i, p in enumerate(parts) if p.isdigit()),
                                    len(parts))])
        if names and self.full(path) not in names:
            shown = {n[len(prefix):] if n.startswith(prefix) else "@" + n for n in names}
            self.problems.append(f"{what}: {stream} has no field '{path}'"
                                 + did_you_mean(path, shown))

    def fields(self, rule: ObjectRule, used: set[str]) -> None:
        where = rule.label
        for f in rule.fields:
            stream = f.parent_stream if f.parent else rule.stream
            if f.parent:
                self.check_path(rule.stream, f.parent, where)
                used.add(self.full(f.parent))
                if stream not in self.streams:
                    self.problems.append(
                        f"{where}: field {f.target} reads a parent from unknown stream "
                        f"'{stream}'" + did_you_mean(str(stream), self.streams))
                    continue
            for path in f.paths:
                if f.optional and self.full(path) not in self.known(str(stream)):
                    continue
                self.check_path(str(stream), path, f"{where}, field {f.target}")
                if not f.parent:
                    used.add(self.full(path))
        for path in rule.where:
            self.check_path(rule.stream, path, f"{where}, where")

    def links(self, rule: ObjectRule, used: set[str]) -> None:
        where = rule.label
        for link in rule.links:
            own = link.through or rule.stream  # the stream the link is read from
            if link.through is not None:
                self.check_path(own, str(link.through_field), f"{where}, link {link.name}")
            for lp in (link.path, link.by):
                # with via, by is a field of the associated records
                read = link.to_stream if link.via is not None else own
                if lp:
                    self.check_path(read, lp, f"{where}, link {link.name}")
                    if read == rule.stream:
                        used.add(self.full(lp))
            if link.via is not None and link.via not in self.streams:
                self.problems.append(
                    f"{where}: link {link.name} reads associations from unknown stream "
                    f"'{link.via}'" + did_you_mean(link.via, self.streams))
            if link.in_target:
                self.problems += [f"{where}: {p}" for p in check_target_link(self.ctx, link)]
                continue
            try:
                self.ctx.parent_rule(link)
            except MappingError as exc:
                self.problems.append(f"{where}: {exc}")

    def target(self, rule: ObjectRule, info: ObjectInfo) -> None:
        """The target fields written, the key and the match fields exist and fit."""
        where, ctx, problems = rule.label, self.ctx, self.problems
        targets = [f.target for f in rule.fields]
        written = [*targets, *(info.fields if rule.copy_fields else [])]
        if rule.key and rule.key not in targets:
            targets.append(rule.key)
        targets += [ln.name for ln in rule.links if ln.type_id is None
                    and ln.name in info.fields]
        targets += list(rule.unique.values()) + list(rule.unlisted.values())
        made = rule.key == ctx.writer.source_key  # created by the restore when missing
        for name in targets:
            if name not in info.fields and name not in rule.create_fields \
                    and not (made and name == rule.key):
                problems.append(f"{where}: the target object {rule.object} has no field "
                                f"'{name}'" + did_you_mean(name, info.fields))
        for name in rule.match:
            if name not in written and name not in [ln.name for ln in rule.links]:
                problems.append(f"{where}: match field '{name}' is not written")
        if rule.key and not made and info.upsert is not None \
                and rule.key not in {info.upsert, *info.keys} and info.upsert != "id":
            problems.append(f"{where}: {ctx.target} finds {rule.object} records by "
                            f"'{info.upsert}', so key must be '{info.upsert}'")
        if rule.key and not made and info.upsert is None and rule.key not in info.fields:
            problems.append(f"{where}: the key '{rule.key}' is not a field of {rule.object}")
        if not rule.key and not rule.match and info.upsert is None:
            problems.append(f"{where}: give key = (a unique field) or match = [fields] so "
                            "a re-run finds the records already restored")

    def unmapped(self, rule: ObjectRule, used: set[str]) -> list[str]:
        """The stream's top-level fields that no rule reads and the mapping does not ignore."""
        mapping = self.mapping
        ignored = {self.full(i) for i in mapping.ignore}
        plen = len(mapping.prefix)
        return sorted(
            n[plen:] for n in {n for n in self.known(rule.stream) if "." not in n[plen:]
                               and n.startswith(mapping.prefix)}
            - used - ignored - {mapping.prefix.rstrip(".")}
            - {u.rsplit(".", 1)[0] for u in used if "." in u[plen:]})


def check_mapping(ctx: Context, rules: list[ObjectRule],
                  idle: Iterable[ObjectRule] = ()) -> dict[str, list[str]]:
    """Check every stream, field and target property the rules name; raise one MappingError
    listing every problem (with the nearest names). Returns the unmapped source fields per
    stream. The target is not asked about ``idle`` rules (nothing to write)."""
    check = _MappingCheck(ctx)
    unmapped: dict[str, list[str]] = {}
    used_by: dict[str, set[str]] = {}
    for rule in rules:
        if rule.stream not in check.streams:
            check.problems.append(
                f"{rule.label}: the archive has no stream '{rule.stream}' from "
                f"{ctx.mapping.source}" + did_you_mean(rule.stream, check.streams))
            continue
        used = used_by.setdefault(rule.stream, set())
        used.update(check.full(p) for p in rule.where)
        if rule.copy_fields:
            used.update(check.known(rule.stream))
        check.fields(rule, used)
        check.links(rule, used)
        if rule in idle:
            unmapped[rule.stream] = check.unmapped(rule, used)
            continue
        info = None
        if rule.schema is not None and rule.object not in ctx.writer.objects():
            info = ctx.writer.planned(rule.object, rule.schema)  # made before writing
        info = info or ctx.writer.describe(rule.object)
        if info is None:
            check.problems.append(
                f"{rule.label}: the target {ctx.target} has no object '{rule.object}'"
                + did_you_mean(rule.object, ctx.writer.objects()))
            continue
        ctx.infos[rule.object] = info
        if not rule.all_fields:
            check.target(rule, info)
        unmapped[rule.stream] = check.unmapped(rule, used)
    if check.problems:
        raise MappingError(f"The mapping {ctx.mapping.path.name} does not fit: "
                           + "; ".join(check.problems))
    _check_rollback(ctx, rules, check)
    if any(r.all_fields for r in rules):
        whole = {r.stream for r in rules if r.all_fields}
        unmapped = {r.stream: [] for r in rules if r.all_fields} | {
            k: v for k, v in unmapped.items() if k not in whole}
    return unmapped


def _check_rollback(ctx: Context, rules: list[ObjectRule], check: _MappingCheck) -> None:
    """``--fields`` names fields of the records restored: a misspelt one rolled nothing
    back while the run ended "0 updated" (exit 0), as if the values were back."""
    if not ctx.rollback or "*" in ctx.rollback:
        return
    prefix = ctx.mapping.prefix
    known = {f for r in rules if r.object in ctx.infos for f in ctx.infos[r.object].fields}
    known |= {k.removeprefix(prefix) for r in rules if r.stream in check.streams
              for k in check.known(r.stream)}
    unknown = sorted(n for n in ctx.rollback if n not in known)
    if unknown and known:
        raise MappingError(f"--fields {', '.join(unknown)}: no record this restore writes "
                           "has such a field" + did_you_mean(unknown[0], known)
                           + "; nothing was written.")


def with_parents(ctx: Context, rules: list[ObjectRule]) -> list[ObjectRule]:
    """The rules plus those of every parent they link to (``--only Medication__c`` restores
    the clients its records belong to, or finds them already restored, never drops them)."""
    out = list(rules)
    for rule in out:  # grows while it is walked: parents of parents too
        for link in rule.links:
            try:
                parent = ctx.parent_rule(link)
            except MappingError:
                continue  # check_mapping reports it, with every other problem
            if parent not in out:
                out.append(parent)
    return [r for r in ctx.mapping.objects if r in out]


def order_rules(ctx: Context, rules: list[ObjectRule]) -> list[ObjectRule]:
    """Parents before children (Kahn's algorithm over the links); a cycle is broken at the
    rule with the fewest waiting parents, whose links into the cycle are marked deferred
    (written by a second, update pass)."""
    deps: dict[int, set[int]] = {}
    for i, rule in enumerate(rules):
        deps[i] = set()
        for link in rule.links:
            parent = ctx.parent_rule(link)
            if parent in rules and parent is not rule:
                deps[i].add(rules.index(parent))
            elif parent is rule:
                deps[i].add(i)  # a self-reference is a cycle of one
    done: list[int] = []
    while len(done) < len(rules):
        ready = [i for i in deps if i not in done and deps[i] <= set(done)]
        if not ready:
            waiting = [i for i in deps if i not in done]
            pick = min(waiting, key=lambda i: (len(deps[i] - set(done)), i))
            rule = rules[pick]
            rule.links = [
                LinkRule(**{**ln.__dict__, "deferred": True})
                if rules.index(ctx.parent_rule(ln)) not in done else ln
                for ln in rule.links]
            deps[pick] = set(done)
            ready = [pick]
        done.append(ready[0])
    return [rules[i] for i in done]


def _whole(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a record, flattened; the fields of a ``properties`` object (HubSpot's)
    under their own names ("firstname", not "properties.firstname") where none clashes."""
    flat = flatten(data)
    inner = {k[len("properties."):]: v for k, v in flat.items() if k.startswith("properties.")}
    if set(inner) & set(flat):
        return dict(flat)
    return {**{k: v for k, v in flat.items() if not k.startswith("properties.")}, **inner}


def _copied(ctx: Context, rule: ObjectRule, info: ObjectInfo | None,
            data: Mapping[str, Any]) -> dict[str, Any]:
    """Same vendor (``copy_fields``): every archived field the target can write, under its
    own name; reference fields are left to the rule's links (they point at new ids)."""
    if info is None:
        return {}
    prefix = ctx.mapping.prefix
    skip = {ln.name for ln in rule.links} | {ln.path for ln in rule.links if ln.path} \
        | set(info.read_only) | {ctx.writer.source_key or "", rule.file or ""} \
        | {(rule.attach or {}).get("field", "")}
    return {k[len(prefix):]: v for k, v in flatten(data).items()
            if k.startswith(prefix) and k[len(prefix):] in info.fields
            and k[len(prefix):] not in skip}


def plan_records(ctx: Context, rule: ObjectRule, fit: bool = True) -> Iterator[Planned]:
    """Each selected record of the rule's stream as a payload, or with ``error`` set;
    without ``fit``, its values as mapped, before they are fitted to the target's options
    (and without its files)."""
    info = ctx.infos.get(rule.object)
    prefix = ctx.mapping.prefix
    for rid, data in ctx.records(rule):
        item = Planned(rid)
        try:
            if rule.all_fields:
                item.fields = _whole(data)
            elif rule.copy_fields:
                item.fields = _copied(ctx, rule, info, data)
            else:
                for f in rule.fields:
                    item.fields[f.target] = apply(f, data, prefix, ctx.parent)
        except TransformError as exc:
            item.error = f"cannot be mapped: {exc}"
            item.client = client_label(ctx, rule, rid, data)  # the error report's column
            yield item
            continue
        for name, other in rule.unique.items():
            value = item.fields.get(name)
            if value not in (None, "") and not ctx.first_holder(rule.object, name, value,
                                                                (rule.stream, rid)):
                item.fields[name], item.fields[other] = None, value
        carried = ctx.writer.source_key  # every record carries its source id there
        for key in (rule.key, carried if info is not None and carried in info.fields
                    and not rule.all_fields else None):
            if key and info is not None and key not in item.fields:
                item.fields[key] = f"{ctx.source}/{rule.stream}/{rid}"
        for link in rule.links:
            if link.in_target:
                target_link(ctx, link, data, item)
                continue
            for pid in ctx.parent_ids(link, data, rule.stream):
                _link(ctx, link, pid, item)
        item.client = client_label(ctx, rule, rid, data)
        if ctx.mapping.same:
            got = get_path(data, ctx.mapping.same["created"], prefix)
            item.created = None if got is MISSING else got
        if not fit:
            yield item
            continue
        if item.error is None and info is not None:
            _fit_options(ctx, info, rule, item)
            item.error = _required_missing(info, item.fields)
        if item.error is None:
            files, item.file_hash = record_files(ctx, rule, rid)
            if rule.attach is not None:
                files, item.file_hash, lost = attached_files(ctx, rule, data)
                item.notes += [f"written without its attached file {f}: the archive holds "
                               "no copy of it" for f in lost]
            item.file, item.more_files = (files[0], files[1:]) if files else (None, [])
            if rule.file == "*" and not ctx.writer.keeps_every_file:
                item.more_files = []  # the target keeps one file per record: the first
            if item.file is not None:
                name_files(rule, item.file.name, item.fields)
        yield item


def _link(ctx: Context, link: LinkRule, pid: str, item: Planned) -> None:
    parent_rule = ctx.parent_rule(link)
    entry = ctx.id_map(parent_rule.stream, parent_rule.object).get(pid)
    if entry is not None and entry.target_id is not None:
        item.links.append(Link(link.name, parent_rule.object, entry.target_id, link.type_id,
                               link.label))
    elif link.deferred:
        item.deferred.append((link, pid))
    elif ctx.dry_run and ctx.would_restore(parent_rule, pid):
        item.links.append(Link(link.name, parent_rule.object, "(new)", link.type_id,
                               link.label))
    else:
        # Written without this link, never dropped: a later run links it once the
        # parent is restored (the id map's hash covers the resolved links).
        item.notes.append(f"written without its {link.to_stream} {pid} ({link.name}): not "
                          "restored (not archived, filtered out, or failed)")


def unlisted(info: ObjectInfo, fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """The values of ``fields`` outside the target's options, per field."""
    out: dict[str, list[str]] = {}
    for name, allowed in info.options.items():
        value = fields.get(name)
        if value in (None, ""):
            continue
        values = str(value).split(";") if ";" in str(value) else [str(value)]
        bad = [v for v in values if v not in allowed]
        if bad:
            out[name] = bad
    return out


def _fit_options(ctx: Context, info: ObjectInfo, rule: ObjectRule, item: Planned) -> None:
    """A value outside the target's options (a picklist, an enumeration) never drops the
    record: it goes to the rule's text field for it (``unlisted``), or is left out and
    reported (always, with ``unlisted_values = "report"``; with "add", the values the
    target took are options by now)."""
    fields = item.fields
    for name, bad in unlisted(info, fields).items():
        value = fields[name]
        fields[name] = None
        why = ctx.unaddable.get((rule.object, name))
        if name in rule.unlisted and ctx.mapping.unlisted_values != "report":
            fields[rule.unlisted[name]] = value
        else:
            item.notes.append(f"written without {name}: '{bad[0]}' is not one of the "
                              "target's options" + (f" ({why})" if why else ""))


def _required_missing(info: ObjectInfo, fields: Mapping[str, Any]) -> str | None:
    """Why the target would refuse the record: a required field empty."""
    for name in info.required:
        if name in fields and fields[name] in (None, ""):
            return f"{name} is required by the target but empty"
    return None
