"""``exporter diff``: what changed in the archive between two points (a run number or a
date): the records created, changed (field by field) and deleted, per source and stream,
for every client or one.

Read-only, from the archive alone (no network). Fields every edit touches (modification
stamps) are not reported as changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from exporter.archive import Archive
from exporter.careplan.model import NORMALISERS
from exporter.errors import NoSuchClient
from exporter.restore.transforms import flatten

__all__ = ["Diff", "FieldChange", "RecordChange", "diff_runs"]

#: Stamps that change with every edit: never a change of their own.
STAMPS = frozenset({"LastModifiedDate", "SystemModstamp", "properties.hs_lastmodifieddate",
                    "properties.lastmodifieddate", "updatedAt", "modifiedTime", "updated"})
#: Where a record's name is read for the listing, in order.
NAMES = (("Name",), ("properties.firstname", "properties.lastname"), ("Title",),
         ("properties.name",), ("properties.hs_task_subject",), ("summary",), ("name",),
         ("properties.client_name",))


@dataclass
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass
class RecordChange:
    source: str
    stream: str
    record_id: str
    kind: str  # created | changed | deleted
    name: str = ""
    fields: list[FieldChange] = field(default_factory=list)

    def line(self) -> str:
        who = f"{self.record_id}" + (f" ({self.name})" if self.name else "")
        if self.kind != "changed":
            return f"{self.kind} {who}"
        changes = "; ".join(f"{c.field}: {_shown(c.before)} -> {_shown(c.after)}"
                            for c in self.fields)
        return f"changed {who}: {changes}"


@dataclass
class Diff:
    from_run: int | None
    to_run: int | None
    client: str | None = None
    changes: list[RecordChange] = field(default_factory=list)

    def totals(self) -> Counter[str]:
        return Counter(c.kind for c in self.changes)

    def summary(self) -> str:
        t = self.totals()
        to = f"run {self.to_run}" if self.to_run is not None else "now"
        who = f" for clients matching '{self.client}'" if self.client else ""
        return (f"Between run {self.from_run} and {to}{who}: {t['created']} created, "
                f"{t['changed']} changed, {t['deleted']} deleted.")

    def as_json(self) -> dict[str, Any]:
        return {"from_run": self.from_run, "to_run": self.to_run, "client": self.client,
                "totals": dict(self.totals()), "changes": [asdict(c) for c in self.changes]}


def _shown(value: Any) -> str:
    text = "(empty)" if value in (None, "") else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name(data: Mapping[str, Any]) -> str:
    for keys in NAMES:
        parts = [str(data[k]) for k in keys if data.get(k) not in (None, "")]
        if parts:
            return " ".join(parts)
    return ""


def _fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    return [FieldChange(k, before.get(k), after.get(k))
            for k in sorted(set(before) | set(after))
            if k not in STAMPS and before.get(k) != after.get(k)]


def _stream(source: str, stream: str, before: Mapping[str, dict[str, Any]],
            after: Mapping[str, dict[str, Any]]) -> Iterable[RecordChange]:
    for rid in sorted(set(before) | set(after)):
        old, new = before.get(rid), after.get(rid)
        if old is None and new is not None:
            yield RecordChange(source, stream, rid, "created", _name(new))
        elif new is None and old is not None:
            yield RecordChange(source, stream, rid, "deleted", _name(old))
        elif old is not None and new is not None:
            changed = _fields(old, new)
            if changed:
                yield RecordChange(source, stream, rid, "changed", _name(new), changed)


def _about(client: str, states: list[dict[tuple[str, str], dict[str, dict[str, Any]]]]
           ) -> set[str]:
    """The ids of the records about a client: those with a value containing ``client`` (its
    name or number), those that refer to one of them (a lookup such as ``Client__c``) and
    those associated with one (HubSpot's associations stream). Whatever the case and
    accents ("helene" is Hélène), as ``restore --client`` and ``print`` find a client; a
    name no record holds is an error (exit 9), not an empty list that reads as "nothing
    changed for her"."""
    fold = NORMALISERS["text"]
    needle = fold(client)
    seeds = {rid for state in states for recs in state.values() for rid, flat in recs.items()
             if any(isinstance(v, str) and needle in fold(v) for v in flat.values())}
    if not seeds:
        raise NoSuchClient(f"No record's name or number contains '{client}' in the archive "
                           "between those points ('exporter clients' lists the clients).")
    about = set(seeds)
    for state in states:
        for (_src, _stream), recs in state.items():
            for rid, flat in recs.items():
                ends = {str(flat.get("fromObjectId")), str(flat.get("toObjectId"))}
                if ends & seeds:
                    about |= ends | {rid}
                elif any(isinstance(v, str) and v in seeds for v in flat.values()):
                    about.add(rid)
    return about


def diff_runs(archive: Archive, start: str | int, end: str | int | None = None,
              client: str | None = None) -> Diff:
    """The records created, changed and deleted between run (or date) ``start`` and
    ``end`` (None: the archive as it is now)."""
    a = archive.resolve_as_of(start)
    b = archive.resolve_as_of(end)
    states: list[dict[tuple[str, str], dict[str, dict[str, Any]]]] = [{}, {}]
    for key in archive.streams():
        for state, run in zip(states, (a, b), strict=True):
            state[key] = {rid: flatten(data) for rid, data in archive.records(*key, run)
                          if data is not None}
    out = Diff(a, b, client)
    keep = _about(client, states) if client else None
    for (source, stream) in archive.streams():
        for change in _stream(source, stream, states[0][(source, stream)],
                              states[1][(source, stream)]):
            if keep is None or change.record_id in keep:
                out.changes.append(change)
    return out
