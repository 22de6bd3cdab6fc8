"""Links a restore resolves in more than one step: through the records that name a record
(the notes a HubSpot file is attached to), and from associated records by a shared key (a
call associated with a family contact belongs to the client with that contact's client
number). :class:`exporter.restore.plan.Context` calls these for links that ask for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from exporter.archive import Archive
from exporter.restore.mapping import LinkRule, Mapping_
from exporter.restore.transforms import MISSING, get_path

__all__ = ["through", "two_hops"]


class _Context(Protocol):
    archive: Archive
    mapping: Mapping_
    as_of: int | None
    edges: dict[tuple[str, str, str], dict[str, list[str]]]

    @property
    def source(self) -> str: ...

    def parent(self, stream: str, record_id: str) -> Mapping[str, Any] | None: ...

    def parent_id(self, link: LinkRule, data: Mapping[str, Any], stream: str) -> str | None: ...

    def parent_ids(self, link: LinkRule, data: Mapping[str, Any], stream: str) -> list[str]: ...


def two_hops(ctx: _Context, link: LinkRule, associated: list[str]) -> list[str]:
    """The parents whose ``on`` field equals the ``by`` field of the associated records
    (each parent once, in the order found)."""
    plain = replace(link, via=None)
    found: list[str] = []
    for to_id in associated:
        other = ctx.parent(link.to_stream, to_id)
        pid = None if other is None else ctx.parent_id(plain, other, link.to_stream)
        if pid is not None and pid not in found:
            found.append(pid)
    return found


def _referrers(ctx: _Context, stream: str, field: str) -> dict[str, list[str]]:
    """Record id -> the ids of the ``stream`` records naming it in ``field`` (a list of ids
    joined by commas or semicolons, as HubSpot's hs_attachment_ids)."""
    key = ("@through", stream, field)
    if key not in ctx.edges:
        index: dict[str, list[str]] = {}
        for rid, data in ctx.archive.records(ctx.source, stream, ctx.as_of):
            named = get_path(data, field, ctx.mapping.prefix)
            if named in (MISSING, None):
                continue
            for one in str(named).replace(";", ",").split(","):
                if one.strip():
                    index.setdefault(one.strip(), []).append(rid)
        ctx.edges[key] = index
    return ctx.edges[key]


def through(ctx: _Context, link: LinkRule, data: Mapping[str, Any]) -> list[str]:
    """The link resolved from the first record of ``link.through`` naming this one whose
    own link leads somewhere."""
    assert link.through is not None and link.through_field is not None
    inner = replace(link, through=None, through_field=None)
    rid = get_path(data, "@id")
    for ref_id in _referrers(ctx, link.through, link.through_field).get(str(rid), []):
        ref = ctx.parent(link.through, ref_id)
        found = [] if ref is None else ctx.parent_ids(inner, ref, link.through)
        if found:
            return found
    return []
