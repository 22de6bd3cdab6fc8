"""Reading records: how a field's wire value is computed (compound address, calculated
age, file body URLs, checksums), the record shape of the REST API, field paths through a
parent lookup, and SOQL run over the store (used by REST query and Bulk 2.0 alike).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.activities import CDL_RESTRICTION, cdl_filtered
from sandbox.salesforce.org import Getter, OrgAPI
from sandbox.salesforce.schema import FieldDef, ObjectDef
from sandbox.salesforce.soql import SoqlError, compile_where, parse
from sandbox.salesforce.store import normalize_id

__all__ = ["Column", "RecordReader"]


@dataclass
class Column:
    """A selected or filtered field: ``Name`` or a parent's ``Client__r.Client_Number__c``."""

    name: str  # canonical path, the Bulk CSV header
    field: FieldDef  # the leaf field
    get: Getter  # row -> wire value (through the lookup for parent fields)
    leaf: Getter  # the leaf object's record -> wire value
    rel: str | None = None  # relationship name for parent fields
    rel_type: str = ""  # the parent object
    ref: str = ""  # the lookup field on the row


class RecordReader(OrgAPI):
    """Records as the API shows them, and SOQL over the store."""

    def _getter(self, f: FieldDef, obj: str, ver: str) -> Callable[[dict[str, Any]], Any]:
        """How a field's wire value is read from a stored record (compound, calculated and
        binary fields are computed)."""
        if f.type == "address":
            def address(rec: dict[str, Any]) -> Any:
                parts = {k: rec.get("Billing" + k[0].upper() + k[1:]) for k in
                         ("city", "country", "postalCode", "state", "street")}
                if all(v is None for v in parts.values()):
                    return None
                return {**parts, "geocodeAccuracy": None, "latitude": None, "longitude": None}
            return address
        if f.type == "base64":
            return lambda rec: f"/services/data/v{ver}/sobjects/{obj}/{rec['Id']}/{f.name}"
        if f.name == "Age__c":
            today = self.today or self.agency.now.date()

            def age(rec: dict[str, Any]) -> Any:
                born = rec.get("Birthdate__c")
                return None if born is None else float(
                    int((today - _date(born)).days / 365.2425))
            return age
        if f.formula and f.formula.count(".") == 1 and "__r." in f.formula:
            rel, leaf = f.formula.split(".")
            ref = next(x for x in self.store.objects_lower[obj.lower()].fields
                       if x.relationship_name == rel)
            parents, ref_name = self.store.records[ref.reference_to[0]], ref.name

            def parent_field(rec: dict[str, Any]) -> Any:
                return (parents.get(rec.get(ref_name) or "") or {}).get(leaf)
            return parent_field
        if f.name == "Checksum":
            return lambda rec: self.store.checksum(rec["Id"])
        name = f.name
        return lambda rec: rec.get(name)

    def _record(self, obj: ObjectDef, rec: dict[str, Any], ver: str,
                fields: list[FieldDef] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {
            "type": obj.name, "url": f"/services/data/v{ver}/sobjects/{obj.name}/{rec['Id']}"}}
        for f in fields or obj.fields:
            out[f.name] = self._getter(f, obj.name, ver)(rec)
        return out

    def _column(self, obj: ObjectDef, name: str, pos: int, text: str, ver: str) -> Column:
        """Resolve a field path of the query; unknown ones raise Salesforce's errors."""
        rel, _, leaf_name = name.rpartition(".")
        if "." in rel:
            raise SoqlError("MALFORMED_QUERY", "relationship paths deeper than one parent are "
                            "not supported by the sandbox", text, pos)
        if not rel:
            f = _field(obj, name, pos, text)
            getter = self._getter(f, obj.name, ver)
            return Column(f.name, f, getter, getter)
        ref = next((f for f in obj.fields if f.relationship_name
                    and f.relationship_name.lower() == rel.lower()), None)
        parent = self.store.objects_lower.get(ref.reference_to[0].lower()) if ref else None
        if ref is None or parent is None:
            raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{rel}' in field "
                            "path. If you are attempting to use a custom relationship, be sure "
                            "to append the '__r' after the custom relationship name. Please "
                            "reference your WSDL or the describe call for the appropriate "
                            "names.", text, pos)
        f = _field(parent, leaf_name, pos, text)
        leaf = self._getter(f, parent.name, ver)
        table, ref_name = self.store.records[parent.name], ref.name

        def through(rec: dict[str, Any]) -> Any:
            row = table.get(rec.get(ref_name) or "")
            return None if row is None else leaf(row)

        return Column(f"{ref.relationship_name}.{f.name}", f, through, leaf,
                      ref.relationship_name, parent.name, ref_name)

    def _run_soql(self, text: str, include_deleted: bool, ver: str
                  ) -> tuple[ObjectDef, list[Column], list[dict[str, Any]], bool]:
        """Parse and run a query: (object, selected columns, matching rows, count-only)."""
        q = parse(text)
        obj = self.store.objects_lower.get(q.sobject.lower())
        if obj is None or obj.name in self.refuse_query:
            raise SoqlError("INVALID_TYPE", f"sObject type '{q.sobject}' is not supported. If "
                            "you are attempting to use a custom object, be sure to append the "
                            "'__c' after the entity name. Please reference your WSDL or the "
                            "describe call for the appropriate names.", text, q.sobject_pos)
        if not obj.queryable:
            raise SoqlError("INVALID_TYPE_FOR_OPERATION",
                            f"entity type {obj.name} does not support query", text, q.sobject_pos)
        if obj.name == "ContentDocumentLink" and not cdl_filtered(q.where):
            raise SoqlError("MALFORMED_QUERY", CDL_RESTRICTION)

        def resolve(name: str, pos: int) -> tuple[Getter, str]:
            col = self._column(obj, name, pos, text, ver)
            if col.field.type in ("address", "base64"):
                raise SoqlError("INVALID_FIELD", f"field '{col.field.name}' can not be "
                                "filtered in a query call", text, pos)
            return col.get, col.field.type

        def norm_id(value: str) -> str:
            return normalize_id(value) or value  # a malformed id simply matches nothing

        selected: dict[str, Column] = {}
        for name, pos in q.fields:
            col = self._column(obj, name, pos, text, ver)
            selected.setdefault(col.name, col)
        rows = self.store.rows(obj.name, include_deleted)
        if q.where is not None:
            pred = compile_where(q.where, resolve, text, norm_id)
            rows = [r for r in rows if pred(r)]
        for item in reversed(q.order):  # stable sorts, last key first
            get, _ = resolve(item.field, item.pos)
            present = [r for r in rows if get(r) is not None]
            nulls = [r for r in rows if get(r) is None]
            fold = (lambda v: v.lower()) if isinstance(
                next((get(r) for r in present), None), str) else (lambda v: v)
            present.sort(key=lambda r: fold(get(r)), reverse=item.desc)
            rows = present + nulls if item.nulls_last else nulls + present
        rows = rows[q.offset:]
        if q.limit is not None:
            rows = rows[: q.limit]
        return obj, list(selected.values()), rows, q.count


def _field(obj: ObjectDef, name: str, pos: int, text: str) -> FieldDef:
    f = obj.field(name)
    if f is None:
        raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If "
                        "you are attempting to use a custom field, be sure to append the '__c' "
                        "after the custom field name. Please reference your WSDL or the "
                        "describe call for the appropriate names.", text, pos)
    return f


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)
