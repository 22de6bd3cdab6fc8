"""The Tooling API's ``CustomField``: create (a custom field added to one of the org's
objects, the org's own copy of the schema, as a user with "Customize Application" may),
query by object and developer name (``SELECT Id, DeveloperName, Metadata FROM CustomField
WHERE EntityDefinition.QualifiedApiName = 'Account' AND DeveloperName = 'Status'``;
``Metadata`` only when one row matches, as Salesforce), and update (``PATCH
tooling/sobjects/CustomField/{Id}`` with the whole ``Metadata``: the sandbox applies a
custom picklist's ``valueSet.valueSetDefinition`` values; a picklist bound to a global
value set has none to edit there). ``Text`` (up to 255, External ID and Unique as
asked: the restore's ``Exporter_Source_Id__c``) and ``LongTextArea`` (256 to 131,072)
fields are emulated; the new field is visible to the API user
at once, as when their profile is given access to new fields (in a real org, field-level
security may hide it: the restore checks the describe after creating it). Task and Event
take custom fields only as Activity fields (``Activity.Field__c``), which both then have.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sandbox.http import Request, Response
from sandbox.salesforce.org import OrgAPI, sf_error
from sandbox.salesforce.schema import FieldDef
from sandbox.salesforce.store import make_id

__all__ = ["ToolingAPI"]

#: Objects that take no custom fields (Salesforce: Attachment has none, nor change events).
NO_CUSTOM_FIELDS = frozenset({"Attachment", "AccountChangeEvent", "RecentlyViewed"})
#: Task and Event share their custom fields: they are created on Activity, never on either.
ACTIVITY = ("Task", "Event")
NAME = re.compile(r"^(?P<obj>\w+)\.(?P<field>[A-Za-z][A-Za-z0-9_]*__c)$")


_QUERY = re.compile(
    r"SELECT\s+(?P<cols>[\w\s,]+?)\s+FROM\s+CustomField\s+WHERE\s+"
    r"EntityDefinition\.QualifiedApiName\s*=\s*'(?P<obj>\w+)'\s+AND\s+"
    r"DeveloperName\s*=\s*'(?P<dev>\w+)'(\s+LIMIT\s+\d+)?\s*", re.IGNORECASE)
_TYPES = {"string": "Text", "textarea": "LongTextArea", "picklist": "Picklist",
          "multipicklist": "MultiselectPicklist", "email": "Email", "phone": "Phone",
          "date": "Date", "datetime": "DateTime", "boolean": "Checkbox", "double": "Number",
          "reference": "Lookup", "url": "Url"}


class ToolingAPI(OrgAPI):
    """``POST /services/data/vNN.N/tooling/sobjects/CustomField``, its query and update."""

    def _field_id(self, obj: str, name: str) -> str:
        """The custom field's Tooling id (00N...), stable for the org's life."""
        key = f"{obj}.{name}"
        if key not in self.field_ids:
            self.field_ids[key] = make_id("00N", 1000 + len(self.field_ids))
        return self.field_ids[key]

    def _metadata(self, f: FieldDef) -> dict[str, Any]:
        meta: dict[str, Any] = {"label": f.label or f.name.removesuffix("__c"),
                                "type": _TYPES.get(f.type, f.type), "length": f.length or None,
                                "externalId": f.external_id, "unique": f.unique,
                                "required": not f.nillable}
        if f.type in ("picklist", "multipicklist"):
            meta["valueSet"] = {"restricted": f.restricted, "valueSetName": None,
                                "valueSetDefinition": {"sorted": False, "value": [
                                    {"fullName": v, "label": v, "default": False}
                                    for v in f.picklist]}}
        return meta

    def _tooling_query(self, request: Request) -> Response:
        hit = _QUERY.fullmatch(request.arg("q") or "")
        if hit is None:
            raise sf_error(400, "MALFORMED_QUERY", "the sandbox's Tooling query takes SELECT "
                           "... FROM CustomField WHERE EntityDefinition.QualifiedApiName = "
                           "'Object' AND DeveloperName = 'Name' only")
        cols = [c.strip() for c in hit["cols"].split(",")]
        unknown = [c for c in cols if c not in ("Id", "DeveloperName", "FullName", "Metadata")]
        if unknown:
            raise sf_error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity "
                           "'CustomField'")
        obj = self.store.objects_lower.get(hit["obj"].lower())
        f = obj.field(f"{hit['dev']}__c") if obj is not None else None
        rows = []
        if obj is not None and f is not None:
            values = {"Id": self._field_id(obj.name, f.name), "DeveloperName": hit["dev"],
                      "FullName": f"{obj.name}.{f.name}", "Metadata": self._metadata(f)}
            rows.append({"attributes": {"type": "CustomField"},
                         **{c: values[c] for c in cols}})
        return Response.json({"size": len(rows), "totalSize": len(rows), "done": True,
                              "entityTypeName": "CustomField", "records": rows})

    def _tooling_update_field(self, request: Request) -> Response:
        full = next((k for k, v in self.field_ids.items() if v == request.params["fid"]),
                    None)
        if full is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        obj_name, _, name = full.partition(".")
        f = self.store.objects[obj_name].field(name)
        meta = self._body(request).get("Metadata")
        if f is None or not isinstance(meta, dict):
            raise sf_error(400, "INVALID_INPUT", "Metadata must be an object")
        if f.type not in ("picklist", "multipicklist") or meta.get("type") != _TYPES[f.type]:
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "The sandbox updates the values "
                           "of custom picklists only")
        vset = meta.get("valueSet") or {}
        values = (vset.get("valueSetDefinition") or {}).get("value")
        if vset.get("valueSetName") or not isinstance(values, list) or not all(
                isinstance(v, dict) and str(v.get("fullName") or "") for v in values):
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "valueSet.valueSetDefinition.value "
                           "must list the picklist's values (a global value set is edited "
                           "as a GlobalValueSet)")
        self.store.set_picklist(obj_name, name, [str(v["fullName"]) for v in values])
        self.schema_changed[obj_name] = dt.datetime.now(dt.UTC)
        return Response(204)

    def _tooling_custom_field(self, request: Request) -> Response:
        body = self._body(request)
        meta = body.get("Metadata")
        full = NAME.match(str(body.get("FullName") or ""))
        if full is None or not isinstance(meta, dict):
            raise sf_error(400, "INVALID_INPUT", "FullName must be Object.Field__c and "
                           "Metadata an object")
        if full["obj"].lower() == "activity":
            return self._activity_field(full["field"], meta)
        obj = self.store.objects_lower.get(full["obj"].lower())
        if obj is not None and obj.name in ACTIVITY:
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", f"Custom fields of {obj.name} "
                           f"are created on Activity: Activity.{full['field']}")
        if obj is None:
            raise sf_error(400, "INVALID_INPUT", f"Entity: {full['obj']} does not exist")
        if obj.name in NO_CUSTOM_FIELDS:
            raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION",
                           f"Cannot add custom fields to {obj.name}")
        if obj.field(full["field"]) is not None:
            raise sf_error(400, "DUPLICATE_DEVELOPER_NAME", "There is already a field named "
                           f"{full['field'].removesuffix('__c')} on {obj.name}.")
        self.store.add_field(obj.name, _field_def(full["field"], meta))
        # its describe (and the object list) are modified as of now: a cached describe
        # revalidated with If-Modified-Since gets the new field, not 304
        self.schema_changed[obj.name] = dt.datetime.now(dt.UTC)
        return self._created(obj.name, full["field"])

    def _activity_field(self, name: str, meta: dict[str, Any]) -> Response:
        """One field for both Task and Event, as an Activity custom field is."""
        if any(self.store.objects[o].field(name) is not None for o in ACTIVITY):
            raise sf_error(400, "DUPLICATE_DEVELOPER_NAME", "There is already a field named "
                           f"{name.removesuffix('__c')} on Activity.")
        made = _field_def(name, meta)
        for obj in ACTIVITY:
            self.store.add_field(obj, made)
            self.schema_changed[obj] = dt.datetime.now(dt.UTC)
        return self._created(ACTIVITY[0], name)

    def _created(self, obj: str, name: str) -> Response:
        fid = self._field_id(obj, name)
        out: dict[str, Any] = {"id": fid, "success": True, "errors": [], "warnings": [],
                               "infos": []}
        return Response.json(out, status=201)


def _field_def(name: str, meta: dict[str, Any]) -> FieldDef:
    """The field a CustomField's Metadata asks for; Salesforce's errors for others."""
    kind, limit = {"Text": ("string", 255), "LongTextArea": ("textarea", 131072)}.get(
        str(meta.get("type")), (None, 0))
    if kind is None:
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "The sandbox creates Text and "
                       f"LongTextArea fields only, not {meta.get('type')}")
    length = int(meta.get("length") or 0)
    if not 1 <= length <= limit or (kind == "textarea" and length < 256):
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION",
                       "Length: value outside of valid range on numeric field: "
                       f"{length}")
    if kind == "textarea" and (meta.get("externalId") or meta.get("unique")):
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION",
                       "A long text area cannot be an external id or unique")
    return FieldDef(name, kind, length=length, external_id=bool(meta.get("externalId")),
                    unique=bool(meta.get("unique")), label=str(meta.get("label") or ""))
