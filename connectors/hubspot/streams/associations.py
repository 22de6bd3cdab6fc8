"""The ``associations`` stream: HubSpot v4 associations, one record per edge and direction.

Key ``<fromType>/<fromId>/<toType>/<toId>/<typeId>`` (stream names, e.g.
``notes/10234/contacts/10012/202``); data ``{fromObjectType, fromObjectId, toObjectType,
toObjectId, associationTypeId, category, label}`` as v4 returns each association type.

It declares ``depends_on`` = the object streams: it reads the ids they listed or found
changed in this run, so the base connector orders it after them.

Why one record per edge rather than per object type stream: an edge belongs to two objects
and may carry several labels (type ids); one flat stream keyed by the whole edge is what a
restore replays with ``batch/create``, and a removed edge is a tombstone of exactly that key.

How it is read (``POST /crm/v4/associations/{from}/{to}/batch/read``, 1,000 ids a call):

- full runs: every live id of every object type (the ids the object streams just listed,
  else a listing), to every other type;
- incremental runs: the ids the object streams found changed in this run, and — since
  HubSpot stores both directions but only the new record's modified date moves — the other
  end of each of their edges is read back towards the changed type (so a new note's
  ``contacts -> notes`` edge arrives with its ``notes -> contacts`` edge);
- only the type pairs that had edges at the last full read are asked on incremental runs
  (kept in the stream's cursor, ``{"pairs": [[from, to], ...], "types": [...]}``): 11 other
  types per changed type would otherwise cost a dozen calls each night for nothing; a type
  the cursor does not list (one the portal could not read then) is read in full, to every
  other type, the first night it is there;
- a run that stopped after the object streams committed but before this stream finished
  (a kill, repeated 5xx) leaves nothing undone: the sync engine reads the object streams
  again from where that run found them (its resume marks, ``exporter.sync``), so the next
  run's ``seen`` holds those changes too;
- edges of records archived, merged away or purged are tombstoned the same night
  (:meth:`AssociationsStream.find_deleted`, from what the object streams found gone, no
  call); removed edges and edges added between two unchanged records are found by the full
  id check (``reconcile_every_days`` / ``reconcile_every_runs``, or ``--full``), which reads
  every edge of the ids the object streams listed in the same run (one listing, not two).
"""

from __future__ import annotations

import array
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.streams.objects import ObjectStream
from exporter.connector import Batch, Stream
from exporter.errors import SourceError
from exporter.record import Record

__all__ = ["ASSOCIATION_SCHEMA", "AssociationsStream"]

BATCH = 1000  # v4 batch/read inputs per call
KEEP_EDGES = 3_000_000  # edges kept for reconciliation after a full read (72 MB at most)
ASSOCIATION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "fromObjectType", "fromObjectId", "toObjectType", "toObjectId",
                 "associationTypeId"],
    "properties": {
        "id": {"type": "string"},
        "fromObjectType": {"type": "string"}, "fromObjectId": {"type": "string"},
        "toObjectType": {"type": "string"}, "toObjectId": {"type": "string"},
        "associationTypeId": {"type": "integer"},
        "category": {"type": ["string", "null"]},
        "label": {"type": ["string", "null"]},
    },
}


def _edges(from_type: str, from_id: str, to_type: str,
           rows: Iterable[dict[str, Any]]) -> Iterator[Record]:
    """Records of v4 ``to`` rows read as raw JSON (``toObjectId``, ``associationTypes``)."""
    for row in rows:
        to_id = str(row["toObjectId"])
        for spec in row.get("associationTypes") or []:
            type_id = int(spec["typeId"])
            key = f"{from_type}/{from_id}/{to_type}/{to_id}/{type_id}"
            yield Record(key, {"id": key, "fromObjectType": from_type, "fromObjectId": from_id,
                               "toObjectType": to_type, "toObjectId": to_id,
                               "associationTypeId": type_id, "category": spec.get("category"),
                               "label": spec.get("label")})


class AssociationsStream(Stream):
    """Edges for sets of ids through v4 batch/read; after the object streams it reads from."""

    name = "associations"
    primary_key = "id"
    reconcile = True
    schema = ASSOCIATION_SCHEMA
    description = "v4 associations, one record per edge"

    def __init__(self, client: HubSpotClient, objects: Mapping[str, ObjectStream],
                 log: logging.Logger) -> None:
        super().__init__(depends_on=tuple(objects))
        self.client = client
        self.readers = dict(objects)
        self.log = log
        # the edges a full read found in this run, packed (24 bytes an edge), so that the
        # reconciliation right after it needs no second read; None when not kept
        self._edges: array.array[int] | None = None

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        """Edges of this run's changed records (all records when ``full`` or on the first
        run). The cursor keeps the type pairs that had edges at the last full read; later
        runs ask only those pairs (a new kind of pair is found by the next ``--full``)."""
        known = cursor.get("pairs") if isinstance(cursor, dict) else None
        covered = cursor.get("types") if isinstance(cursor, dict) else None
        full = full or not isinstance(known, list)
        # types the last full read did not have (a portal that gained access to deals):
        # read in full now, to every other type
        fresh = set() if full or not isinstance(covered, list) else set(self.readers) - {
            str(t) for t in covered}
        pairs = {(str(a), str(b)) for a, b in known or []}
        found: set[tuple[str, str]] = set()
        targets: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        names = list(self.readers)
        packed = array.array("q") if full else None
        for name, reader in self.readers.items():
            ids: Iterable[int]
            whole = full or name in fresh
            if reader.listed_all:  # a full listing: ascending, no repeats
                ids = reader.seen
            elif whole:
                ids = (int(i) for i in reader.ids())
            else:  # this run's changes: few, maybe repeated by the lookback
                ids = sorted(set(reader.seen))
            to = None if whole else [b for a, b in sorted(pairs) if a == name and
                                     b in self.readers]
            if to == []:
                continue
            for batch in self._read_ids(name, ids, to):
                for rec in batch.records:
                    data = rec.data or {}
                    to_name = str(data["toObjectType"])
                    found.add((name, to_name))
                    if packed is not None and len(packed) < KEEP_EDGES * 3:
                        packed.extend((int(data["fromObjectId"]), int(data["toObjectId"]),
                                       names.index(name) << 48 | names.index(to_name) << 32
                                       | int(data["associationTypeId"])))
                    if not full:
                        targets[to_name][name].add(int(data["toObjectId"]))
                yield batch
        # the far end of each new or changed edge, read back towards the changed type
        for to_name, by_type in targets.items():
            if to_name not in self.readers:
                continue
            done = set(self.readers[to_name].seen)
            for from_name, ids in by_type.items():
                # a fresh type's pair was not asked for the changed ids either
                rest = sorted(ids if from_name in fresh else ids - done)
                if rest:
                    yield from self._read_ids(to_name, rest, [from_name])
        if full or fresh:
            if not full:  # edges go both ways: the fresh types' pairs, reversed, too
                found |= pairs | {(b, a) for a, b in found if a in fresh}
            yield Batch([], cursor={"pairs": sorted([a, b] for a, b in found),
                                    "types": sorted(self.readers)})
            if packed is not None and len(packed) < KEEP_EDGES * 3:
                self._edges = packed

    def ids(self) -> Iterator[str]:
        if self._edges is not None:  # a full read just ran: its edges are the live ones
            names = list(self.readers)
            edges = self._edges
            for i in range(0, len(edges), 3):
                kind = edges[i + 2]
                yield (f"{names[kind >> 48]}/{edges[i]}/{names[(kind >> 32) & 0xFFFF]}/"
                       f"{edges[i + 1]}/{kind & 0xFFFFFFFF}")
            return
        for name, reader in self.readers.items():
            for batch in self._read_ids(name, (int(i) for i in reader.ids()), None):
                for rec in batch.records:
                    yield rec.id

    def find_deleted(self, archived: AbstractSet[str]) -> list[str]:
        """The nightly check, without a call: the archived edges one of whose ends the object
        streams found gone in this run (archived, merged away, purged). Edges removed between
        two live records wait for the full check (``reconcile_every_days`` / ``_runs``)."""
        gone: list[str] = []
        for key in archived:
            parts = key.split("/")
            if len(parts) != 5:
                continue
            for name, rid in ((parts[0], parts[1]), (parts[2], parts[3])):
                reader = self.readers.get(name)
                if reader is not None and reader.found_gone(rid):
                    gone.append(key)
                    break
        return gone

    def _read_ids(self, from_name: str, ids: Iterable[int],
                  only: list[str] | None) -> Iterator[Batch]:
        chunk: list[int] = []
        for rid in ids:
            chunk.append(rid)
            if len(chunk) == BATCH:
                yield from self._read_chunk(from_name, chunk, only)
                chunk = []
        if chunk:
            yield from self._read_chunk(from_name, chunk, only)

    def _read_chunk(self, from_name: str, chunk: list[int],
                    only: list[str] | None) -> Iterator[Batch]:
        from_api = self.readers[from_name].ot.api_name
        for to_name in only or [n for n in self.readers if n != from_name]:
            to_api = self.readers[to_name].ot.api_name
            body = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[{"id": str(i)} for i in chunk])
            what = f"Reading HubSpot associations {from_name} -> {to_name}"
            page = self.client.call_json(what, self.client.assoc_batch.get_page,
                                         from_api, to_api, body) or {}
            self._check_errors(page, what)
            records: list[Record] = []
            for result in page.get("results") or []:
                from_id = str(result["from"]["id"])
                records.extend(_edges(from_name, from_id, to_name, result.get("to") or []))
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:  # more than one page of edges for this object
                    records.extend(self._rest(from_name, from_id, to_name, str(after)))
            if records:
                yield Batch(records)

    def _rest(self, from_name: str, from_id: str, to_name: str,
              after: str | None) -> Iterator[Record]:
        what = f"Reading HubSpot associations of {from_name} {from_id}"
        from_api = self.readers[from_name].ot.api_name
        to_api = self.readers[to_name].ot.api_name
        while after:
            page = self.client.call_json(what, self.client.assoc_basic.get_page,
                                         from_api, from_id, to_api, after=after,
                                         limit=500) or {}
            yield from _edges(from_name, from_id, to_name, page.get("results") or [])
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if nxt == after:
                raise SourceError(f"{what}: HubSpot returned the same page twice.")
            after = nxt

    @staticmethod
    def _check_errors(page: dict[str, Any], what: str) -> None:
        """A 207 lists ids without associations (normal); any other error fails the read."""
        for err in page.get("errors") or []:
            sub = str(err.get("subCategory") or "")
            if "NO_ASSOCIATIONS_FOUND" not in sub:
                raise SourceError(f"{what} failed: {err.get('message') or 'error'}.")

