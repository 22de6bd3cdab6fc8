"""Custom objects for the HubSpot restore writer: the portal's schemas (read once per run,
``GET /crm/v3/schemas``) and the schema a mapping declares, created where the portal lacks
it (``POST /crm/v3/schemas``, one call per missing object) with every property it lists,
the ``source_record_id`` unique property its records are upserted by, and a default
association type to each object it is associated with.
"""

from __future__ import annotations

from typing import Any

from connectors.hubspot.client import HubSpotClient
from exporter.errors import RequestRefused
from exporter.writer import ObjectInfo, ObjectSchema

__all__ = ["PROPERTY_TYPES", "CustomObjects", "property_spec"]

#: A mapping's property types as HubSpot's (type, fieldType).
PROPERTY_TYPES = {"string": ("string", "text"), "text": ("string", "textarea"),
                  "number": ("number", "number"), "date": ("date", "date"),
                  "datetime": ("datetime", "date"), "bool": ("enumeration", "booleancheckbox")}
#: HubSpot's object type ids of the standard objects a custom object is associated with.
STANDARD_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5",
                "products": "0-7", "line_items": "0-8", "calls": "0-48", "emails": "0-49",
                "meetings": "0-47", "notes": "0-46", "tasks": "0-27"}
BOOL_OPTIONS = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]


def property_spec(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """A property definition as HubSpot's properties and schemas APIs take it."""
    ptype, field_type = PROPERTY_TYPES.get(kind, PROPERTY_TYPES["string"])
    spec: dict[str, Any] = {"name": name, "label": name.replace("_", " ").capitalize(),
                            "type": ptype, "fieldType": field_type, **extra}
    if ptype == "enumeration":
        spec["options"] = BOOL_OPTIONS
    return spec


class CustomObjects:
    """The portal's custom objects by name (also by ``objectTypeId`` and fully qualified
    name), read once; :meth:`ensure` creates a missing one."""

    def __init__(self, client: HubSpotClient, source_key: str) -> None:
        self.client = client
        self.source_key = source_key
        self._known: dict[str, dict[str, Any]] | None = None

    def known(self) -> dict[str, dict[str, Any]]:
        if self._known is None:
            body = self.client.call_json("Listing HubSpot custom object schemas",
                                         self.client.schemas.get_all) or {}
            self._known = {}
            for schema in body.get("results", []):
                self._add(schema)
        return self._known

    def _add(self, schema: dict[str, Any]) -> None:
        assert self._known is not None
        for key in ("name", "objectTypeId", "fullyQualifiedName"):
            if isinstance(schema.get(key), str):
                self._known[schema[key]] = schema

    def names(self) -> list[str]:
        return list(dict.fromkeys(str(s["name"]) for s in self.known().values()))

    def path(self, name: str) -> str:
        """How API paths name the object ``name``: a custom object by its ``objectTypeId``
        (HubSpot infers no object type from a custom object's plain name), a standard one
        (or one the portal lacks, which HubSpot then refuses) by its name."""
        if name in STANDARD_IDS:
            return name
        found = self.known().get(name)
        return str(found["objectTypeId"]) if found and found.get("objectTypeId") else name

    def planned(self, obj: str, schema: ObjectSchema) -> ObjectInfo:
        """The object as :meth:`ensure` will make it: its properties, upserted by the
        source key."""
        fields = {n: PROPERTY_TYPES.get(k, PROPERTY_TYPES["string"])[0]
                  for n, k in schema.properties.items()}
        options = {n: frozenset({"true", "false"}) for n, k in schema.properties.items()
                   if k == "bool"}
        return ObjectInfo(obj, {**fields, self.source_key: "string"}, self.source_key,
                          options, keys=frozenset({self.source_key}))

    def _type_id(self, name: str) -> str:
        if name in STANDARD_IDS:
            return STANDARD_IDS[name]
        found = self.known().get(name)
        if found is None:
            raise RequestRefused(f"The HubSpot object {name} that a custom object is to be "
                                 "associated with does not exist; restore it first.")
        return str(found["objectTypeId"])

    def default_type(self, obj: str, to_object: str) -> int | None:
        """The default association type id from ``obj`` to ``to_object`` where one of them
        is a custom object whose schema lists it (None when unknown without a call)."""
        if self._known is None:
            return None
        ids = {n: STANDARD_IDS.get(n) or str((self._known.get(n) or {}).get("objectTypeId"))
               for n in (obj, to_object)}
        for name in (obj, to_object):
            for a in (self._known.get(name) or {}).get("associations") or []:
                if (a.get("fromObjectTypeId"), a.get("toObjectTypeId")) == \
                        (ids[obj], ids[to_object]) and str(a.get("id", "")).isdigit():
                    return int(a["id"])
        return None

    def ensure(self, obj: str, schema: ObjectSchema) -> bool:
        """Create ``obj`` unless the portal has it; True when it was created now."""
        if obj in self.known():
            return False
        props = [property_spec(n, k) for n, k in schema.properties.items()]
        if self.source_key not in schema.properties:
            props.append(property_spec(self.source_key, "string", hasUniqueValue=True,
                                       label="Exporter source id"))
        body = {"name": obj, "labels": {"singular": schema.singular, "plural": schema.plural},
                "primaryDisplayProperty": schema.primary,
                "requiredProperties": list(schema.required),
                "searchableProperties": list(schema.searchable),
                "properties": props,
                "associatedObjects": [self._type_id(a) for a in schema.associated]}
        try:
            made = self.client.call_json(f"Creating the HubSpot custom object {obj}",
                                         self.client.schemas.create, body)
        except RequestRefused as exc:
            if exc.status != 409:
                raise
            self._known = None  # made meanwhile (another run): read the schemas again
            return False
        self._add(made or {"name": obj})
        return True
