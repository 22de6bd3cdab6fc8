"""The HubSpot portal's record store: CRM objects as HubSpot v3 models them (``id``,
string-valued ``properties``, ``createdAt``/``updatedAt``, ``archived``/``archivedAt``),
unique-value indexes, v4 associations, the write clock and the saved state. It knows
nothing of HTTP. Merges (the loser gone everywhere, its edges moved to the winner, which names it
in ``hs_merged_object_ids``) and GDPR deletes (purged: gone everywhere) are emulated. Not
emulated: property history, pipelines API, lists, imports/exports.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.schema import (
    ALIASES,
    DEFAULT_ASSOC,
    LABELLED_ASSOC,
    TYPES,
    ObjectType,
    builtin_properties,
    inverse_type_id,
)

__all__ = ["MERGED", "Record", "Store", "TypeStore", "custom_type", "iso", "to_ms"]

MERGED = "hs_merged_object_ids"  # the winner of a merge names the merged ids here

def custom_type(meta: dict[str, Any], unique: tuple[str, ...]) -> ObjectType:
    """A custom object's type from its schema: ``singular`` holds its fully qualified name
    (``p<portal>_<name>``), as for the built-in custom object."""
    return ObjectType(meta["name"], meta["objectTypeId"], meta["fullyQualifiedName"],
                      "hs_lastmodifieddate", ("hs_createdate", "hs_lastmodifieddate",
                                              "hs_object_id"), unique)


# -- the store ------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    id: int
    props: dict[str, str]  # set, non-system values ("" is a value, as HubSpot keeps it)
    created: int  # epoch millis
    updated: int
    archived_at: int | None = None


_EPOCH = dt.datetime(1970, 1, 1)  # naive UTC: isoformat() then has no offset to strip


def iso(ms: int) -> str:
    """Epoch millis as HubSpot's ISO form, ``2024-01-01T00:00:00.000Z``."""
    return (_EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def to_ms(value: str | int | float | dt.datetime | dt.date) -> int:
    """Millis from epoch millis (string or number), ISO datetime or ISO date."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return to_ms(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))
    if isinstance(value, int | float):
        return int(value)
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


@dataclass
class TypeStore:
    """The records of one object type, ids ascending, with unique-value indexes."""

    ot: ObjectType
    records: dict[int, Record] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    unique: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, rec: Record) -> None:
        self.records[rec.id] = rec
        if not self.order or rec.id > self.order[-1]:
            self.order.append(rec.id)
        else:
            bisect.insort(self.order, rec.id)
        self.index(rec)

    def add_unique(self, prop: str) -> None:
        """Declare ``prop`` unique (a new property with ``hasUniqueValue``) and index it."""
        self.unique.setdefault(prop, {})
        for rec in self.records.values():
            if rec.archived_at is None:
                self.index(rec)

    def index(self, rec: Record) -> None:
        for prop, idx in self.unique.items():
            value = rec.props.get(prop)
            if value:
                idx[value.lower() if prop == "email" else value] = rec.id

    def unindex(self, rec: Record) -> None:
        for prop, idx in self.unique.items():
            value = rec.props.get(prop)
            key = value.lower() if value and prop == "email" else value
            if key and idx.get(key) == rec.id:
                del idx[key]

    def find_unique(self, prop: str, value: str) -> Record | None:
        if prop == "hs_object_id":
            rec = self.records.get(int(value)) if value.isdigit() else None
        else:
            rid = self.unique.get(prop, {}).get(value.lower() if prop == "email" else value)
            rec = self.records.get(rid) if rid is not None else None
        return rec if rec is not None and rec.archived_at is None else None

    def iter_from(self, after: int, archived: bool) -> Iterator[Record]:
        """Records with id >= ``after``, ascending; only archived ones when ``archived``."""
        for rid in self.order[bisect.bisect_left(self.order, after):]:
            rec = self.records[rid]
            if (rec.archived_at is not None) == archived:
                yield rec


class Store:
    """Every object type's records, the associations between them, owners and files."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.types: dict[str, TypeStore] = {}
        self.properties = builtin_properties()
        # the portal's object types: the built-in ones, then the custom objects its schemas
        # API creates (``sandbox.hubspot.schemas``), each with its aliases and default
        # association type ids
        self.object_types: dict[str, ObjectType] = dict(TYPES)
        self.aliases: dict[str, str] = dict(ALIASES)
        self.default_assoc: dict[tuple[str, str], int] = dict(DEFAULT_ASSOC)
        self.schemas: dict[str, dict[str, Any]] = {}  # custom objects created: name -> meta
        for name, ot in TYPES.items():
            ts = TypeStore(ot)
            ts.unique = {p: {} for p in ot.unique}
            self.types[name] = ts
        # (type, id) -> to_type -> to_id -> association type ids (from this side)
        self.assoc: dict[tuple[str, int], dict[str, dict[int, list[int]]]] = {}
        self.labels: dict[tuple[str, str], dict[int, str]] = {}  # the portal's own labels
        self.next_id = 10001
        self.version = 0  # bumped on every mutation (search caches key on it)
        self.clock = 0  # the latest write stamp, epoch millis

    def add_type(self, ot: ObjectType, meta: dict[str, Any],
                 assoc: list[tuple[str, int, int]]) -> None:
        """Register a custom object type (its records, aliases and default association type
        ids to and from each associated type); ``meta`` is what its schema shows."""
        self.object_types[ot.name] = ot
        self.types[ot.name] = TypeStore(ot, unique={p: {} for p in ot.unique})
        for alias in (ot.name, ot.type_id, ot.singular, ot.name.lower(), "p_" + ot.name):
            self.aliases[alias] = ot.name
        for to_type, forward, back in assoc:
            self.default_assoc[(ot.name, to_type)] = forward
            self.default_assoc[(to_type, ot.name)] = back
        self.schemas[ot.name] = meta

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def stamp(self, now_ms: int) -> int:
        """A unique, increasing write time at or after the sandbox clock's ``now``."""
        self.clock = max(now_ms, self.clock + 1)
        return self.clock

    def value(self, type_name: str, rec: Record, prop: str) -> str | None:
        """A property's value as the API shows it (system properties derived)."""
        if prop == "hs_object_id":
            return str(rec.id)
        if prop in ("createdate", "hs_createdate"):
            return rec.props.get(prop) or iso(rec.created)
        if prop == "hs_lastmodifieddate" or (prop == "lastmodifieddate"
                                            and type_name == "contacts"):
            return iso(rec.updated)
        return rec.props.get(prop)

    def create(self, type_name: str, props: dict[str, str], stamp: int,
               created: int | None = None) -> Record:
        rec = Record(self.new_id(), props, created if created is not None else stamp, stamp)
        self.types[type_name].add(rec)
        self.version += 1
        return rec

    def update(self, type_name: str, rec: Record, props: dict[str, str], stamp: int) -> None:
        ts = self.types[type_name]
        ts.unindex(rec)
        rec.props.update(props)
        ts.index(rec)
        rec.updated = max(rec.updated, stamp)
        self.version += 1

    def archive(self, type_name: str, rec: Record, stamp: int) -> None:
        """Archive as HubSpot does: ``archivedAt`` set, the last-modified date unchanged."""
        if rec.archived_at is None:
            self.types[type_name].unindex(rec)
            rec.archived_at = stamp
            self.version += 1

    def purge(self, type_name: str, rec: Record) -> None:
        """Remove a record for good (a GDPR delete): no listing, archived or not, shows it."""
        ts = self.types[type_name]
        ts.unindex(rec)
        del ts.records[rec.id]
        ts.order.remove(rec.id)
        for to_type, ids in list(self.assoc.pop((type_name, rec.id), {}).items()):
            for to_id in ids:
                self.assoc.get((to_type, to_id), {}).get(type_name, {}).pop(rec.id, None)
        self.version += 1

    def merge(self, type_name: str, winner: Record, loser: Record, stamp: int) -> None:
        """Merge as HubSpot does: the loser's edges move to the winner, the loser's id is gone
        everywhere, and the winner lists it in ``hs_merged_object_ids`` (its modified date
        moves)."""
        edges = [(to_type, to_id, types) for to_type, ids in
                 self.assoc.get((type_name, loser.id), {}).items() for to_id, types in ids.items()]
        merged = [i for i in (winner.props.get(MERGED) or "").split(";") if i]
        merged += [str(loser.id), *[i for i in (loser.props.get(MERGED) or "").split(";") if i]]
        self.purge(type_name, loser)
        mine = self.assoc.get((type_name, winner.id), {})
        for to_type, to_id, types in edges:
            if (to_type, to_id) != (type_name, winner.id):
                for tid in types:
                    if to_type == "companies" and LABELLED_ASSOC.get(
                            (type_name, to_type), {}).get(tid) == "Primary" and any(
                            tid in got for got in mine.get(to_type, {}).values()):
                        tid = self.default_assoc[(type_name, to_type)]  # the winner's stays
                    self.associate(type_name, winner.id, to_type, to_id, tid)
        self.update(type_name, winner, {MERGED: ";".join(merged)}, stamp)

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int,
                  type_id: int | None = None) -> int:
        """Add an association in both directions; returns the type id used from this side."""
        tid = type_id if type_id is not None else self.default_assoc.get((from_type, to_type), 0)
        back = inverse_type_id(from_type, to_type, tid, self.labels, self.default_assoc)
        if LABELLED_ASSOC.get((from_type, to_type), {}).get(tid) == "Primary":
            if to_type == "companies":
                self._move_primary(from_type, from_id, to_type, to_id, tid)
            elif from_type == "companies":
                self._move_primary(to_type, to_id, from_type, from_id, back)
        for (a, aid, b, bid, t) in ((from_type, from_id, to_type, to_id, tid),
                                    (to_type, to_id, from_type, from_id, back)):
            types = self.assoc.setdefault((a, aid), {}).setdefault(b, {}).setdefault(bid, [])
            if t not in types:
                types.append(t)
        self.version += 1
        return tid

    def _move_primary(self, a: str, aid: int, b: str, bid: int, t: int) -> None:
        """A record has one primary company: HubSpot moves the label from the old one, which
        stays associated without it (its default, unlabelled type)."""
        back = inverse_type_id(a, b, t, self.labels, self.default_assoc)
        plain, plain_back = self.default_assoc[(a, b)], self.default_assoc[(b, a)]
        for other, types in self.assoc.get((a, aid), {}).get(b, {}).items():
            if other == bid or t not in types:
                continue
            types[:] = [x for x in types if x != t] or [plain]
            there = self.assoc.get((b, other), {}).get(a, {}).get(aid, [])
            there[:] = [x for x in there if x != back] or [plain_back]

    def dissociate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        for (a, aid, b, bid) in ((from_type, from_id, to_type, to_id),
                                 (to_type, to_id, from_type, from_id)):
            self.assoc.get((a, aid), {}).get(b, {}).pop(bid, None)
        self.version += 1

    def associations(self, type_name: str, rec_id: int,
                     to_type: str) -> list[tuple[int, list[int]]]:
        """Live (non-archived) associated ids of ``to_type``, ascending, with their type ids."""
        targets = self.assoc.get((type_name, rec_id), {}).get(to_type, {})
        records = self.types[to_type].records
        return [(tid, targets[tid]) for tid in sorted(targets)
                if tid in records and records[tid].archived_at is None]

    # -- state ------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id, "clock": self.clock, "properties": self.properties,
            "schemas": [[meta, list(self.object_types[name].unique),
                         [[b, fwd, self.default_assoc[(b, name)]]
                          for (a, b), fwd in self.default_assoc.items() if a == name]]
                        for name, meta in self.schemas.items()],
            "records": {name: [[r.id, r.props, r.created, r.updated, r.archived_at]
                               for r in (ts.records[i] for i in ts.order)]
                        for name, ts in self.types.items()},
            "labels": [[a, b, tid, label] for (a, b), got in self.labels.items()
                       for tid, label in got.items()],
            "assoc": [[a, aid, b, bid, types] for (a, aid), tos in self.assoc.items()
                      for b, ids in tos.items() for bid, types in ids.items()],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.reset()  # every index is rebuilt from the rows
        self.next_id, self.clock = state["next_id"], state["clock"]
        for meta, unique, assoc in state.get("schemas", []):
            self.add_type(custom_type(meta, tuple(unique)), meta,
                          [(b, int(f), int(r)) for b, f, r in assoc])
        self.properties = state["properties"]
        for name, defs in self.properties.items():
            self.types[name].unique = {p: {} for p, d in defs.items() if d["hasUniqueValue"]}
        for name, rows in state["records"].items():
            ts = self.types[name]
            for rid, props, created, updated, archived_at in rows:
                rec = Record(rid, props, created, updated, archived_at)
                ts.records[rid] = rec
                ts.order.append(rid)
                if archived_at is None:
                    ts.index(rec)
            ts.order.sort()
        for a, b, tid, label in state.get("labels", []):
            self.labels.setdefault((a, b), {})[int(tid)] = label
        for a, aid, b, bid, types in state["assoc"]:
            self.assoc.setdefault((a, aid), {}).setdefault(b, {})[bid] = list(types)
