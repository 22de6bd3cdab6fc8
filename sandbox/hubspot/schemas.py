"""Custom-object schemas: ``/crm/v3/schemas`` (and the SDK's ``/crm-object-schemas/v3/schemas``):
list, get (by name, ``objectTypeId`` or fully qualified name) and create, as HubSpot's
schemas API documents them. A created object answers with ``objectTypeId`` ``2-<n>`` and
``fullyQualifiedName`` ``p<portalId>_<name>``, and then works through the objects, batch,
search, properties and v4 association endpoints like the portal's own ``care_recipients``,
named there by its ``objectTypeId`` or fully qualified name (never its plain name).
A second create of a name the portal has is 409. Not emulated: schema update and delete,
and requiredProperties enforced on record writes.

Each handler is a function of the emulator and the request, run under its lock.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.http import Request, Response
from sandbox.hubspot.portal import PortalAPI
from sandbox.hubspot.schema import (
    COMMON,
    CUSTOM_NAME,
    CUSTOM_SCHEMA_ID,
    ENGAGEMENT,
    EPOCH_ISO,
    property_definition,
)
from sandbox.hubspot.store import custom_type, iso

__all__ = ["create_schema", "schema", "schema_json", "schemas"]

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: The portal's own custom object (seeded with the agency): what its schema shows.
BUILTIN_META: dict[str, Any] = {
    "labels": {"singular": "Care recipient", "plural": "Care recipients"},
    "primaryDisplayProperty": "client_name", "requiredProperties": ["client_number"],
    "searchableProperties": ["client_number", "client_name"],
    "secondaryDisplayProperties": ["client_number"], "createdAt": EPOCH_ISO,
}
FIRST_ASSOC_ID = 500  # custom association type ids: above HubSpot's, below user labels (1001+)


def _meta(em: PortalAPI, name: str) -> dict[str, Any]:
    return em.portal.store.schemas.get(name) or BUILTIN_META


def _assoc_name(em: PortalAPI, tname: str) -> str:
    store = em.portal.store
    if tname == CUSTOM_NAME or tname in store.schemas:
        return str(_meta(em, tname)["labels"]["singular"]).lower().replace(" ", "_")
    return store.object_types[tname].singular


def schema_json(em: PortalAPI, name: str) -> dict[str, Any]:
    """A custom object's schema as ``GET /crm/v3/schemas/{objectType}`` returns it."""
    store = em.portal.store
    ot, meta = store.object_types[name], _meta(em, name)
    made = meta["createdAt"]
    associations = [
        {"id": str(tid), "name": f"{_assoc_name(em, a)}_to_{_assoc_name(em, b)}",
         "fromObjectTypeId": store.object_types[a].type_id,
         "toObjectTypeId": store.object_types[b].type_id, "createdAt": made, "updatedAt": made}
        for (a, b), tid in store.default_assoc.items() if name in (a, b)
    ]
    return {
        "id": ot.type_id.split("-")[1], "objectTypeId": ot.type_id, "name": name,
        "fullyQualifiedName": ot.singular, "labels": meta["labels"],
        "primaryDisplayProperty": meta["primaryDisplayProperty"],
        "requiredProperties": meta["requiredProperties"],
        "searchableProperties": meta["searchableProperties"],
        "secondaryDisplayProperties": meta["secondaryDisplayProperties"],
        "properties": list(store.properties[name].values()), "associations": associations,
        "metaType": "PORTAL_SPECIFIC", "archived": False, "createdAt": made, "updatedAt": made,
    }


def _custom_names(em: PortalAPI) -> list[str]:
    return [CUSTOM_NAME, *em.portal.store.schemas]


def schemas(em: PortalAPI, request: Request) -> Response:
    return Response.json({"results": [schema_json(em, n) for n in _custom_names(em)]})


def schema(em: PortalAPI, request: Request) -> Response:
    raw = request.params["type"]
    name = em.portal.store.aliases.get(raw) or em.portal.store.aliases.get(raw.lower())
    if name not in _custom_names(em):
        raise em._fail(404, f"Unable to find object type {raw}", "OBJECT_NOT_FOUND")
    return Response.json(schema_json(em, str(name)))


def _properties(em: PortalAPI, name: str, specs: Any, made: str) -> dict[str, dict[str, Any]]:
    """The new object's property definitions: HubSpot's own, then the schema's."""
    if not isinstance(specs, list):
        raise em._fail(400, "properties must be a list", "VALIDATION_ERROR")
    own = [s for s in [*COMMON, *ENGAGEMENT[:1]] if s[0] != "source_record_id"]
    defs = {s[0]: property_definition(s, False, made) for s in own}
    for spec in specs:
        pname, label = str(spec.get("name") or ""), str(spec.get("label") or "")
        if not NAME.match(pname) or not label:
            raise em._fail(400, f"Property {pname!r} needs a valid name and a label",
                           "VALIDATION_ERROR")
        if pname in defs:
            raise em._fail(400, f"Property {pname} is defined twice or is HubSpot's own",
                           "VALIDATION_ERROR")
        options = [(str(o["value"]), str(o["label"])) for o in spec.get("options") or []]
        ptype, ftype = str(spec.get("type") or "string"), str(spec.get("fieldType") or "text")
        if ptype == "enumeration" and not options:
            raise em._fail(400, f"Property {pname} is an enumeration without options",
                           "VALIDATION_ERROR")
        definition = property_definition((pname, label, ptype, ftype, options),
                                         bool(spec.get("hasUniqueValue")), made,
                                         hubspot_defined=False)
        definition.update(groupName=spec.get("groupName") or f"{name}_information",
                          description=spec.get("description") or "")
        defs[pname] = definition
    return defs


def _associated(em: PortalAPI, targets: Any) -> list[str]:
    """``associatedObjects`` ("CONTACT", "0-1", "2-123", a fully qualified name) as types."""
    aliases = em.portal.store.aliases
    out = []
    for raw in targets or []:
        text = str(raw)
        found = aliases.get(text) or aliases.get(text.lower())
        if found is None:
            raise em._fail(400, f"Unable to infer object type from: {text}", "VALIDATION_ERROR")
        out.append(found)
    return list(dict.fromkeys(out))


def _check_listed(em: PortalAPI, body: dict[str, Any], defs: dict[str, Any]) -> None:
    primary = body.get("primaryDisplayProperty")
    named = [n for key in ("requiredProperties", "searchableProperties",
                           "secondaryDisplayProperties") for n in body.get(key) or []]
    named += [primary] if primary else []
    unknown = sorted({str(n) for n in named if n not in defs})
    if unknown:
        raise em._fail(400, f"Properties {unknown} are not defined in the schema's properties",
                       "VALIDATION_ERROR")


def create_schema(em: PortalAPI, request: Request) -> Response:
    """``POST /crm/v3/schemas``: a new custom object, its properties and associations."""
    body = em._body(request)
    store = em.portal.store
    name = str(body.get("name") or "")
    labels = body.get("labels") or {}
    if not NAME.match(name) or not labels.get("singular") or not labels.get("plural"):
        raise em._fail(400, "name (letters, digits and underscores, starting with a letter) "
                       "and labels.singular and labels.plural are required", "VALIDATION_ERROR")
    if name in store.aliases or name.lower() in store.aliases:
        raise em._fail(409, f"Object type with name '{name}' already exists",
                       "OBJECT_ALREADY_EXISTS")
    made = iso(em._stamp())
    defs = _properties(em, name, body.get("properties") or [], made)
    _check_listed(em, body, defs)
    targets = _associated(em, body.get("associatedObjects"))
    type_id = f"2-{int(CUSTOM_SCHEMA_ID) + 1 + len(store.schemas)}"
    meta = {
        "name": name, "objectTypeId": type_id, "fullyQualifiedName": f"p{em.portal_id}_{name}",
        "labels": {"singular": str(labels["singular"]), "plural": str(labels["plural"])},
        "primaryDisplayProperty": body.get("primaryDisplayProperty") or "hs_object_id",
        "requiredProperties": list(body.get("requiredProperties") or []),
        "searchableProperties": list(body.get("searchableProperties") or []),
        "secondaryDisplayProperties": list(body.get("secondaryDisplayProperties") or []),
        "createdAt": made,
    }
    used = [t for t in store.default_assoc.values() if FIRST_ASSOC_ID <= t < 1000]
    next_id = max([FIRST_ASSOC_ID - 1, *used]) + 1
    assoc = []
    for to_type in targets:
        assoc.append((to_type, next_id, next_id + 1))
        next_id += 2
    unique = tuple(p for p, d in defs.items() if d["hasUniqueValue"])
    store.add_type(custom_type(meta, unique), meta, assoc)
    store.properties[name] = defs
    store.version += 1
    return Response.json(schema_json(em, name), status=201)
