"""The Tooling API's ``CustomField`` create, the one Tooling call the restore makes: a
custom field added to one of the org's objects (the org's own copy of the schema), as a
user with "Customize Application" may. ``Text`` (up to 255, External ID and Unique as
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


class ToolingAPI(OrgAPI):
    """``POST /services/data/vNN.N/tooling/sobjects/CustomField``."""

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
        return self._created()

    def _activity_field(self, name: str, meta: dict[str, Any]) -> Response:
        """One field for both Task and Event, as an Activity custom field is."""
        if any(self.store.objects[o].field(name) is not None for o in ACTIVITY):
            raise sf_error(400, "DUPLICATE_DEVELOPER_NAME", "There is already a field named "
                           f"{name.removesuffix('__c')} on Activity.")
        made = _field_def(name, meta)
        for obj in ACTIVITY:
            self.store.add_field(obj, made)
            self.schema_changed[obj] = dt.datetime.now(dt.UTC)
        return self._created()

    def _created(self) -> Response:
        self._serial += 1
        fid = make_id("00N", self._serial)
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
