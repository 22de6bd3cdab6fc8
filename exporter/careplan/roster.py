"""Who the clients are: active (in the binder), discharged, or deleted upstream.

A client deleted in the vendor's system is not lost: the archive keeps the last version, and
:func:`find_deleted` finds it by name or number, with the run before the deletion (what
``print`` prints, under a "deleted in <vendor> on <date>" banner)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.careplan.build import (
    ArchiveView,
    Client,
    _client,
    _matches,
    all_clients,
    pick_client,
)
from exporter.careplan.model import Definition
from exporter.errors import NotFound

__all__ = ["STATUSES", "DeletedClient", "deleted_clients", "find_deleted", "roster",
           "vendor_name"]

STATUSES = ("active", "discharged", "deleted")

_VENDORS = {"salesforce": "Salesforce", "hubspot": "HubSpot", "google": "Google"}


def vendor_name(source: str) -> str:
    return _VENDORS.get(source, source)


@dataclass(frozen=True)
class DeletedClient:
    """A client whose record was deleted upstream: its last archived version."""

    client: Client
    vendor: str
    deleted_run: int
    deleted_at: str  # UTC ISO time of the sync that found it gone


def _deleted(archive: Any, definition: Definition, as_of: int | None
             ) -> Iterator[DeletedClient]:
    c = definition.client
    source, stream = c.stream.split("/", 1)
    for rid, (run, at, _) in sorted(archive.deletions(source, stream, as_of=as_of).items()):
        kept = [v for v in archive.history(source, stream, rid)
                if v.data is not None and not v.deleted]
        if not kept or not _matches(kept[-1].data, c.where, c.exclude):
            continue
        client = _client(definition, rid, kept[-1].data)
        if client is not None:
            yield DeletedClient(client, vendor_name(source), run, at)


def deleted_clients(archive: Any, definition: Definition, as_of: int | None = None
                    ) -> list[DeletedClient]:
    """Every client deleted upstream (as of a run), with its last archived version."""
    return list(_deleted(archive, definition, as_of))


def find_deleted(archive: Any, definition: Definition, query: str,
                 as_of: int | None = None) -> DeletedClient | None:
    """The deleted client ``query`` means (a name or number), or None; several raise
    AmbiguousClient as for clients still there."""
    gone = {d.client.record_id: d for d in _deleted(archive, definition, as_of)}
    if not gone:
        return None
    try:
        chosen = pick_client([d.client for d in gone.values()], definition, query)
    except NotFound:
        return None
    return gone[chosen.record_id]


def roster(archive: Any, definition: Definition, status: str | None = None,
           as_of: int | None = None) -> list[tuple[Client, str, str | None]]:
    """(client, status, deleted-at UTC time or None) for every client, by name: active ones
    (the binder's), discharged ones, and those deleted upstream; ``status`` keeps one kind."""
    rows: list[tuple[Client, str, str | None]] = []
    if status in (None, "active", "discharged"):
        for client in all_clients(ArchiveView(archive, as_of), definition):
            kind = ("active" if _matches(client.data, definition.binder_where, {})
                    else "discharged")
            if status in (None, kind):
                rows.append((client, kind, None))
    if status in (None, "deleted"):
        rows += [(d.client, "deleted", d.deleted_at)
                 for d in _deleted(archive, definition, as_of)]
    return sorted(rows, key=lambda r: (r[0].name.casefold(), r[0].key))
