"""New records for the HubSpot restore writer, created with their associations inline.

A record new to the id map is created with ``POST /crm/v3/objects/{type}/batch/create``,
each input carrying its associations (``associations: [{to: {id}, types:
[{associationCategory, associationTypeId}]}]``, as HubSpot documents for batch create), so
the record and its links cost one call per 100 records instead of an upsert and a v4
association batch per object pair. A link is inlined when its type id is known without a
call: HubSpot's documented default type ids between its own objects, the ones a custom
object's schema lists, an explicit type id, or a label's (read or made once per run).

Whatever the create does not answer with a record (a ``source_record_id`` a record already
has, after a re-run from an older archive copy or a kill mid-batch; a refused property) goes
on to the upsert path, which finds the record by its key, so a re-run never duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.schemas import CustomObjects
from exporter.errors import AuthError, QuotaExhausted, RequestRefused, SourceError
from exporter.writer import Link, WriteItem, WriteResult

__all__ = ["DEFAULT_TYPE_IDS", "answered", "create_linked", "inline_type", "label_type"]

#: A HubSpot record id: digits (anything else in an answer is not one).
RECORD_ID = re.compile(r"[0-9]{1,30}")


def answered(body: Any, key: str = "results") -> list[dict[str, Any]]:
    """The results (or errors) of a batch answer that have the shape HubSpot documents: a
    list of objects, each result with a record id and its properties an object. Anything
    else (a list where an object was, an id of another type) is left out, so that the
    record is looked up by its key, or fails, rather than take a wrong id."""
    got = body.get(key) if isinstance(body, dict) else None
    if not isinstance(got, list):
        return []
    rows = [r for r in got if isinstance(r, dict)]
    if key != "results":
        return rows
    return [{**r, "id": str(r["id"])} for r in rows
            if isinstance(r.get("id"), str | int) and not isinstance(r.get("id"), bool)
            and RECORD_ID.fullmatch(str(r["id"]))
            and isinstance(r.get("properties") or {}, dict)]

#: HubSpot's documented default (HUBSPOT_DEFINED) association type ids between its own
#: objects, as ``batch/associate/default`` would use them.
DEFAULT_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("tickets", "contacts"): 16, ("contacts", "tickets"): 15,
    ("tickets", "deals"): 28, ("deals", "tickets"): 27,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("notes", "contacts"): 202, ("contacts", "notes"): 201,
    ("notes", "companies"): 190, ("companies", "notes"): 189,
    ("notes", "deals"): 214, ("notes", "tickets"): 228,
    ("tasks", "contacts"): 204, ("tasks", "deals"): 216,
    ("calls", "contacts"): 194, ("calls", "deals"): 206,
    ("meetings", "contacts"): 200, ("meetings", "deals"): 212,
    ("emails", "contacts"): 198, ("emails", "deals"): 210,
    ("contacts", "contacts"): 449,
}


class HubSpotWriter(Protocol):
    """What of the writer a create uses (the writer itself, without importing it)."""

    client: HubSpotClient
    custom: CustomObjects

    def _label_type(self, obj: str, to_object: str, label: str) -> int: ...

    def _at(self, obj: str) -> str: ...

    def _props(self, item: WriteItem, key: str,
               extra: Mapping[str, dict[str, str]]) -> dict[str, str]: ...


def inline_type(writer: HubSpotWriter, obj: str, link: Link) -> dict[str, Any] | None:
    """The association type of ``link`` as batch create takes it, or None when it is not
    known without a call (the link is then made by the v4 association batch)."""
    if link.label is not None:
        return {"associationCategory": "USER_DEFINED",
                "associationTypeId": writer._label_type(obj, link.to_object, link.label)}
    if link.type_id is not None:
        return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": link.type_id}
    if (obj, link.to_object) in DEFAULT_TYPE_IDS:
        return {"associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": DEFAULT_TYPE_IDS[(obj, link.to_object)]}
    found = writer.custom.default_type(obj, link.to_object)
    if found is None:
        return None
    return {"associationCategory": "USER_DEFINED", "associationTypeId": found}


def create_linked(writer: HubSpotWriter, obj: str, key: str, items: list[WriteItem],
                  results: dict[str, WriteResult],
                  extra: Mapping[str, dict[str, str]]) -> dict[str, list[Link]]:
    """Creates ``items`` (at most 100) with their inlinable links; fills ``results`` for
    the records created and returns, for each, the links still to be made apart. Items left
    without a result are for the upsert path."""
    inputs, left = [], {}
    for item in items:
        assoc, rest = [], []
        for link in item.links:
            spec = inline_type(writer, obj, link)
            if spec is None:
                rest.append(link)
            else:
                assoc.append({"to": {"id": link.to_id}, "types": [spec]})
        left[item.key] = rest
        inputs.append({"properties": writer._props(item, key, extra), "associations": assoc})
    try:
        body = writer.client.call_json(f"Creating {len(items)} HubSpot {obj}",
                                       writer.client.objects_batch.create,
                                       writer._at(obj), {"inputs": inputs})
    except SourceError as exc:
        if isinstance(exc, AuthError | QuotaExhausted):
            raise
        return {}  # refused whole (a conflict, a bad input): the upsert path says why
    by_value = {item.key_value or item.key: item for item in items}
    made: dict[str, list[Link]] = {}
    for r in answered(body):
        hit = by_value.get(str((r.get("properties") or {}).get(key)))
        if hit is not None and hit.key not in results:
            results[hit.key] = WriteResult(hit.key, r["id"], True)
            made[hit.key] = left[hit.key]
    return made


def label_type(client: HubSpotClient, obj: str, to_object: str, label: str,
               create_first: bool) -> int:
    """The type id of the portal's own association label (v4 association definitions),
    created when missing: "Emergency contact" between contacts. One call where the portal's
    state is known: created at once (``create_first``: an object the restore has just set
    up, in a portal it never wrote to; the create answers with the pair's labels), read
    first elsewhere; the other call only when the first finds nothing (a label made by
    hand, or one not made yet)."""
    api = client.sdk.crm.associations.v4.schema.definitions_api

    def read() -> list[dict[str, Any]]:
        body = client.call_json(f"Reading the {obj}-{to_object} association labels",
                                api.get_all, obj, to_object) or {}
        return [r for r in body.get("results", []) if r.get("label") == label]

    def create() -> list[dict[str, Any]]:
        name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
        try:
            body = client.call_json(
                f"Creating the {obj}-{to_object} association label '{label}'",
                api.create, obj, to_object, {"label": label, "name": name}) or {}
        except RequestRefused as exc:
            if exc.status not in (400, 409):  # not "it exists already"
                raise
            return []
        return [r for r in body.get("results", []) if r.get("label") == label]

    first, then = (create, read) if create_first else (read, create)
    found = first() or then()
    if not found:
        raise SourceError(f"HubSpot did not make the association label '{label}' between "
                          f"{obj} and {to_object}; try again later.")
    return int(found[0]["typeId"])
