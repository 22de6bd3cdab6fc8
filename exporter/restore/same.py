"""Same-vendor restore into its own source (``same = { created = ... }`` in the mapping):
an archived record whose id the target still holds, created at the archived time, IS that
record. It is left as it is, except for references to parents created again (relinked)
and, with ``--fields``, ``--only`` or ``--client``, the values being rolled back; records
deleted since are created again (and carry their source id, like any restored record).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.restore.clients import client_matches
from exporter.restore.mapping import ObjectRule
from exporter.restore.plan import Context, Planned
from exporter.restore.transforms import same
from exporter.writer import Link, chunks

__all__ = ["Claimed", "claim", "wanted"]

READ = 100


@dataclass
class Claimed:
    new: list[Planned] = field(default_factory=list)  # not in the target: created again
    update: list[tuple[Planned, str]] = field(default_factory=list)  # reduced to the changes
    unchanged: list[tuple[Planned, str]] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)  # "Account 001... (name): Phone: a -> b"
    #: held records carrying another source's id (put there by a restore from another
    #: vendor: the org a HubSpot migration filled): they keep it, so that restore's re-runs
    #: and its verify still find them
    foreign: set[str] = field(default_factory=set)


def foreign_id(ctx: Context, carried: Any) -> bool:
    """Whether a held record's source id is another source's (a restore from another vendor
    put it there: the org a HubSpot migration filled), which a same-vendor restore keeps."""
    return isinstance(carried, str) and bool(carried) \
        and not carried.startswith(f"{ctx.source}/")


def wanted(ctx: Context, item: Planned) -> bool:
    """Whether ``--client`` keeps the record: its client matches, or it has none (a record
    shared by several clients, such as a physician)."""
    return not ctx.client or not item.client or client_matches(ctx.client, item.client)


def _rolled(ctx: Context, name: str) -> bool:
    return ctx.rollback is not None and ("*" in ctx.rollback or name in ctx.rollback)


def claim(ctx: Context, rule: ObjectRule, items: list[tuple[Planned, str | None]],
          resolved: Callable[[Planned], list[Link]]) -> Claimed:
    """Sorts records into those the target holds (the same record: what differs is listed
    and sent) and those it lost (created again). A record the id map knows (its target id
    given) is read by that id; another by its archived id, and is the same record only if
    created at the archived time (ids of another portal can coincide)."""
    created = ctx.mapping.same["created"]
    link_names = {ln.name: ctx.parent_rule(ln).object for ln in rule.links}
    names = sorted({k for p, _t in items for k in p.fields} | {created})
    found: dict[str, dict[str, Any]] = {}
    for batch in chunks(items, READ):
        found.update(ctx.writer.read(rule.object, [t or p.source_id for p, t in batch],
                                     names, link_names))
    out = Claimed()
    keys = {rule.key, ctx.writer.source_key} - {None}
    for p, known in items:
        got = found.get(known or p.source_id)
        if got is None or (known is None and not same(p.created, got.get(created))):
            out.new.append(p)
            continue
        tid = known or p.source_id
        full = p.digest(resolved(p))
        if foreign_id(ctx, got.get(ctx.writer.source_key or "")):
            out.foreign.add(tid)
        changes = {k: v for k, v in p.fields.items()
                   if k not in keys and _rolled(ctx, k) and not same(v, got.get(k))}
        current = got.get("@links") or {}
        relink = [ln for ln in p.links if ln.to_id not in (current.get(ln.name) or [])]
        if not changes and not relink:
            out.unchanged.append((replace(p, fixed_digest=full), tid))
            continue
        who = f"{rule.object} {tid}" + (f" ({p.client})" if p.client else "")
        out.diff += [f"{who}: {k}: {_shown(got.get(k))} -> {_shown(v)}"
                     for k, v in changes.items()]
        out.diff += [f"{who}: {ln.name} linked again to {ln.to_object} {ln.to_id}"
                     for ln in relink]
        moved = any(ln.name in ctx.infos[rule.object].create_only for ln in relink)
        # A record moved to a parent created again is written anew (whole), else only
        # what differs is sent.
        kept = {k: v for k, v in p.fields.items() if moved or k in changes or (
            k in keys and not (k == ctx.writer.source_key and tid in out.foreign))}
        # The record held keeps its attachments: they are not uploaded again.
        held = not moved and rule.attach is not None
        out.update.append((replace(p, fields=kept, fixed_digest=full,
                                   file=None if held else p.file,
                                   more_files=[] if held else p.more_files), tid))
    return out


def _shown(value: Any) -> str:
    text = "(empty)" if value in (None, "") else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
