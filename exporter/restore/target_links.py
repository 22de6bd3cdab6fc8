"""Links to records already in the target, found there by a shared key.

A Google visit or Drive document belongs to a client whose record is not in the Google
archive: the client was restored into the target from Salesforce or HubSpot (or was there
all along). A link ``to = "@target"`` finds that parent in the target itself: the
``to_object`` records whose field ``on`` holds the value at the source field ``by``
(compared through a care-plan normaliser such as ``client_number``, the rule by which the
care plan finds a client's visits), among those with the values ``where`` names:

    [[objects.links]]
    to = "@target"
    by = "extendedProperties.private.client_number"
    to_object = "contacts"
    on = "client_number"
    where = { relationship = "Client" }
    normalise = "client_number"
    name = "client"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exporter.careplan.model import NORMALISERS
from exporter.errors import MappingError, ParentsNotInTarget
from exporter.restore.mapping import LinkRule
from exporter.restore.transforms import MISSING, get_path
from exporter.writer import Link

__all__ = ["check_target_link", "linked_in_target", "target_link"]


def _norm(link: LinkRule) -> Callable[[str], str]:
    return NORMALISERS[link.normalise or "exact"]


def _index(ctx: Any, link: LinkRule) -> dict[str, list[str]]:
    """Normalised key value -> target ids, read from the target once per restore."""
    assert link.on is not None and link.to_object is not None
    where = dict(link.target_where or {})
    key = (link.to_object, link.on, tuple(sorted((k, str(v)) for k, v in where.items())),
           link.normalise)
    if key not in ctx.found:
        got = ctx.writer.lookup(link.to_object, link.on, where)
        if got is None:
            raise MappingError(f"The target {ctx.target} cannot look {link.to_object} up by "
                               f"{link.on}: the link {link.name} needs a target that can.")
        norm = _norm(link)
        index: dict[str, list[str]] = {}
        for value, ids in got.items():
            index.setdefault(norm(str(value)), []).extend(ids)
        ctx.found[key] = {k: sorted(set(v)) for k, v in index.items()}
    found: dict[str, list[str]] = ctx.found[key]
    return found


def check_target_link(ctx: Any, link: LinkRule) -> list[str]:
    """Problems with a link into the target (its object or field missing); a target that
    holds none of the records it links to stops the restore before anything is written."""
    assert link.to_object is not None and link.on is not None
    info = ctx.writer.describe(link.to_object)
    if info is None:
        return [f"link {link.name}: the target {ctx.target} has no object '{link.to_object}'"]
    missing = [f for f in [link.on, *(link.target_where or {})] if f not in info.fields]
    if missing:
        return [f"link {link.name}: the target's {link.to_object} have no field '{missing[0]}'"]
    if not _index(ctx, link):
        where = " ".join(f"{k} = {v}" for k, v in (link.target_where or {}).items())
        raise ParentsNotInTarget(
            f"The target {ctx.target} holds no {link.to_object}{' with ' + where if where else ''}"
            f" that have a {link.on}, so nothing restored from {ctx.source} could be linked "
            f"to its {link.name}: restore the clients first (from Salesforce or HubSpot, "
            "or the archive's copy of them), then run this restore again.")
    return []


def target_link(ctx: Any, link: LinkRule, data: Mapping[str, Any], item: Any) -> None:
    """Adds the link to the record's target parent, or notes why it is written without."""
    assert link.by is not None
    value = get_path(data, link.by, ctx.mapping.prefix)
    if value in (MISSING, None, ""):
        return
    ids = _index(ctx, link).get(_norm(link)(str(value)), [])
    assert link.to_object is not None
    if ids:
        item.links.append(Link(link.name, link.to_object, ids[0], link.type_id, link.label))
        return
    item.notes.append(
        f"written without its link to {link.to_object} ({link.name}): the target holds no "
        f"{link.to_object} with {link.on} '{value}'; restore that client into the target "
        "first (from Salesforce or HubSpot), and a re-run links it")


def linked_in_target(ctx: Any, obj: str) -> set[str]:
    """The target's own records of ``obj`` that links ``to = "@target"`` were looked up
    among (the clients Google's visits link to): not records this restore left extra."""
    return {tid for rule in ctx.mapping.objects for link in rule.links
            if link.in_target and link.to_object == obj
            for ids in _index(ctx, link).values() for tid in ids}
