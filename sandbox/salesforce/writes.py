"""Writes to the emulated Salesforce org: create, update, upsert, delete and sObject
Collections with ``allOrNone``, validated the way Salesforce validates them.

Errors per record are ``{"statusCode", "message", "fields"}`` (the Collections shape); a
single REST write turns them into the REST error array ``[{"message", "errorCode",
"fields"}]``. Checked: unknown fields (INVALID_FIELD), read-only fields
(INVALID_FIELD_FOR_INSERT_UPDATE), required fields (REQUIRED_FIELD_MISSING), lookups to
missing, deleted or wrong-type records (INVALID_CROSS_REFERENCE_KEY, MALFORMED_ID),
duplicate unique external ids (DUPLICATE_VALUE), restricted picklists, e-mail syntax,
text lengths, dates, numbers and base64 bodies. Not checked: validation rules, triggers,
field-level security, sharing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from sandbox.http import HTTPError, Response
from sandbox.salesforce import activities, sales
from sandbox.salesforce.schema import PREFIXES, USER_ID, FieldDef, ObjectDef
from sandbox.salesforce.soql import NUMBER_TYPES, TEXT_TYPES, sf_datetime
from sandbox.salesforce.store import OrgStore, make_id, normalize_id

__all__ = ["WriteError", "Writer"]

ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled "
               "back because not all records were valid and the request was using AllOrNone "
               "header", "fields": []}


def _err(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


class WriteError(Exception):
    """A rejected write: the per-record errors, the REST status, and for an upsert that
    matched several rows, their ids (answered with 300)."""

    def __init__(self, errors: list[dict[str, Any]], status: int = 400,
                 matches: list[str] | None = None) -> None:
        super().__init__(errors[0]["message"] if errors else "error")
        self.errors = errors
        self.status = status
        self.matches = matches or []

    def http(self) -> HTTPError:
        return HTTPError(Response.json(
            [{"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
             for e in self.errors], status=self.status))


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Writer:
    """Applies writes to an :class:`OrgStore`; the caller holds the emulator's lock."""

    def __init__(self, store: OrgStore) -> None:
        self.store = store
        # undo entries (object, id, old record, old blob, old bin entry) while an
        # allOrNone collection runs; None otherwise
        self.journal: list[tuple[str, str, Any, Any, Any]] | None = None

    # -- single-record operations ---------------------------------------------------------

    def create(self, obj: ObjectDef, body: dict[str, Any]) -> dict[str, Any]:
        if not obj.createable:
            raise WriteError([_err("INVALID_TYPE_FOR_OPERATION",
                                   f"entity type {obj.name} does not support insert")])
        if any(k.lower() == "id" for k in body):
            raise WriteError([_err("INVALID_FIELD", "cannot specify Id in an insert call",
                                   ["Id"])])
        values, blob = self._clean(obj, body, creating=True)
        errors = activities.check(self.store, obj.name, values, None)
        if errors:
            raise WriteError(errors)
        when = self.store.write_stamp()
        sales.check(self.store, obj.name, values, None, when)
        if obj.name == "ContentVersion":
            path = str(values.get("PathOnClient"))
            values.update(FileExtension=path.rpartition(".")[2].lower() if "." in path else None,
                          ContentSize=len(blob or b""), IsLatest=True,
                          ContentDocumentId=make_id("069", self.store.counters.get("068", 0) + 1))
        if obj.name == "Attachment":
            values["BodyLength"] = len(blob or b"")
        rec = self.store.insert(obj.name, values, when)
        self._remember(obj.name, rec["Id"], None)
        if blob is not None:
            self.store.set_body(rec["Id"], blob)
        if obj.name == "ContentVersion":
            for link in activities.link_new_version(self.store, rec, when):
                self._remember("ContentDocumentLink", link["Id"], None)
        return rec

    def update(self, obj: ObjectDef, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        rec = self._existing(obj, record_id)
        values, blob = self._clean(obj, body, creating=False, self_id=rec["Id"])
        errors = activities.check(self.store, obj.name, values, rec)
        if errors:
            raise WriteError(errors)
        if obj.name == "Attachment" and blob is not None:
            values["BodyLength"] = len(blob)
        self._remember(obj.name, rec["Id"], rec)
        when = self.store.write_stamp()
        sales.check(self.store, obj.name, values, rec, when)
        self.store.update(obj.name, rec, values, when)
        if blob is not None:
            self.store.set_body(rec["Id"], blob)
        return self.store.records[obj.name][rec["Id"]]

    def matches(self, obj: ObjectDef, ext: FieldDef, value: str) -> list[dict[str, Any]]:
        """Live records whose external id ``ext`` equals ``value`` (case-insensitively)."""
        if ext.name == "Id":
            found = self.store.find(value)
            ok = found is not None and found[0] == obj.name and not found[1]["IsDeleted"]
            return [found[1]] if ok and found else []
        if ext.unique:
            rec = self.store.by_unique(obj.name, ext.name, value)
            return [rec] if rec is not None else []
        want = value.lower()
        return [r for r in self.store.rows(obj.name, False)
                if r.get(ext.name) is not None and str(r[ext.name]).lower() == want]

    def upsert(self, obj: ObjectDef, ext_name: str, value: str,
               body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        ext = obj.field(ext_name)
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise WriteError([_err("NOT_FOUND", "Provided external ID field does not exist or "
                                   f"is not accessible: {ext_name}")], status=404)
        if not value:
            raise WriteError([_err("MISSING_ARGUMENT", f"{ext.name} not specified")])
        body = {k: v for k, v in body.items() if k.lower() != ext.name.lower()}
        found = self.matches(obj, ext, value)
        if len(found) > 1:
            ids = [r["Id"] for r in found]
            raise WriteError([_err("DUPLICATE_EXTERNAL_ID", f"{ext.name}: more than one record "
                                   f"found for external id field: {ids}", [ext.name])],
                             status=300, matches=ids)
        if found:
            return self.update(obj, found[0]["Id"], body), False
        if ext.name == "Id":
            raise WriteError([_err("NOT_FOUND", "The requested resource does not exist")], 404)
        return self.create(obj, {**body, ext.name: value}), True

    def delete(self, obj: ObjectDef, record_id: str) -> None:
        """Soft delete into the recycle bin; a client's clinical rows go with it
        (Client__c is master-detail)."""
        rec = self._existing(obj, record_id)
        refused = sales.delete_refused(self.store, rec["Id"]) if obj.name == "Account" else None
        if refused is not None:
            raise WriteError([refused])
        when = self.store.write_stamp()
        doomed = [(obj.name, rec)]
        if obj.name == "Account":
            doomed += [(o, r) for o, r in self.store.children(rec["Id"]) if not r["IsDeleted"]]
            doomed += activities.dependents(self.store, rec["Id"])
            doomed += sales.dependents(self.store, rec["Id"])
        for name, row in doomed:
            self._remember(name, row["Id"], row)
            self.store.soft_delete(name, row, when)

    # -- sObject Collections --------------------------------------------------------------

    def collection(self, op: str, records: list[Any], all_or_none: bool,
                   obj: ObjectDef | None = None, ext: str | None = None) -> list[dict[str, Any]]:
        self.journal = [] if all_or_none else None
        results: list[dict[str, Any]] = []
        try:
            for item in records:
                results.append(self._one(op, item, obj, ext))
            if all_or_none and not all(r["success"] for r in results):
                self._rollback()
                results = [r if not r["success"] else
                           {**{k: v for k, v in r.items() if k == "id" and op != "create"},
                            "success": False, "errors": [dict(ROLLED_BACK)]}
                           for r in results]
        finally:
            self.journal = None
        return results

    def _one(self, op: str, item: Any, obj: ObjectDef | None, ext: str | None) -> dict[str, Any]:
        rid: str | None = None
        try:
            if not isinstance(item, dict):
                raise WriteError([_err("JSON_PARSER_ERROR", "each record must be an object")])
            if op in ("update", "delete"):
                rid = str(item.get("id") or item.get("Id") or "")
                target = self._type(item, rid)
                body = {k: v for k, v in item.items() if k.lower() != "id"}
                if op == "delete":
                    self.delete(target, rid)
                else:
                    self.update(target, rid, body)
                return {"id": normalize_id(rid) or rid, "success": True, "errors": []}
            if op == "create":
                rec = self.create(self._type(item, None), item)
                return {"id": rec["Id"], "success": True, "errors": []}
            assert obj is not None and ext is not None
            value = next((v for k, v in item.items() if k.lower() == ext.lower()), None)
            rec, created = self.upsert(obj, ext, "" if value is None else str(value), item)
            return {"id": rec["Id"], "success": True, "errors": [], "created": created}
        except WriteError as exc:
            out: dict[str, Any] = {"success": False, "errors": exc.errors}
            if rid:
                out = {"id": rid, **out}
            return out

    def _type(self, item: dict[str, Any], record_id: str | None) -> ObjectDef:
        """The object a collection record names in ``attributes.type`` (or its id prefix)."""
        attrs = item.get("attributes")
        name = attrs.get("type") if isinstance(attrs, dict) else None
        if name is None and record_id:
            name = PREFIXES.get(record_id[:3])
        obj = self.store.objects_lower.get(str(name).lower()) if name else None
        if obj is None:
            raise WriteError([_err("INVALID_TYPE", "Must send a concrete entity type.")])
        return obj

    # -- helpers --------------------------------------------------------------------------

    def _existing(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        if normalize_id(record_id) is None:
            raise WriteError([_err("MALFORMED_ID", f"malformed id {record_id}")])
        found = self.store.find(record_id)
        if found is None or found[0] != obj.name:
            raise WriteError([_err("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")],
                             status=404)
        if found[1]["IsDeleted"]:
            raise WriteError([_err("ENTITY_IS_DELETED", "entity is deleted")], status=404)
        return found[1]

    def _remember(self, obj: str, record_id: str, old: dict[str, Any] | None) -> None:
        if self.journal is not None:
            self.journal.append((obj, record_id, old, self.store.blobs.get(record_id),
                                 self.store.bin.get(record_id)))

    def _rollback(self) -> None:
        assert self.journal is not None
        store = self.store
        for obj, rid, old, blob, binned in reversed(self.journal):
            if old is None:
                store.remove(obj, rid)
                continue
            store.put(obj, old)
            store.restore_extras(rid, blob, binned)

    def _clean(self, obj: ObjectDef, body: dict[str, Any], creating: bool,
               self_id: str | None = None) -> tuple[dict[str, Any], bytes | None]:
        """Validated wire values for the fields in ``body`` and the decoded file body."""
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        blob: bytes | None = None
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                errors.append(_err("INVALID_FIELD", f"No such column '{key}' on sobject of "
                                   f"type {obj.name}", [key]))
                continue
            if not (f.createable if creating else f.updateable):
                errors.append(_err("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update "
                                   f"fields: {f.name}. Please check the security settings of "
                                   "this field and verify that it is read/write for your "
                                   "profile or permission set.", [f.name]))
                continue
            try:
                value = self._coerce(f, raw)
            except _Bad as exc:
                errors.append(_err(exc.code, exc.message, [f.name]))
                continue
            if f.type == "base64":
                blob = value
            else:
                values[f.name] = value
        if obj.name == "ContentVersion" and creating and not values.get("Title"):
            path = str(values.get("PathOnClient") or "")
            values["Title"] = path.rsplit("/", 1)[-1].rpartition(".")[0] or path or None
        required = [f.name for f in obj.fields if f.required and (
            (creating and values.get(f.name) is None and not (f.type == "base64" and blob))
            or (f.name in values and values[f.name] is None))]
        if required:
            errors.append(_err("REQUIRED_FIELD_MISSING",
                               f"Required fields are missing: [{', '.join(required)}]", required))
        for f in obj.fields:
            value = values.get(f.name)
            if f.unique and value is not None:
                other = self.store.by_unique(obj.name, f.name, str(value))
                if other is not None and other["Id"] != self_id:
                    errors.append(_err("DUPLICATE_VALUE", f"duplicate value found: {f.name} "
                                       f"duplicates value on record with id: {other['Id']}",
                                       [f.name]))
        if errors:
            raise WriteError(errors)
        return values, blob

    def _coerce(self, f: FieldDef, raw: Any) -> Any:
        if raw is None or raw == "":
            if f.type == "boolean":
                return False
            return None
        kind = f.type
        if kind == "multipicklist" and isinstance(raw, list):
            raw = ";".join(str(v) for v in raw)
        if kind in TEXT_TYPES:
            if isinstance(raw, (dict, list)):
                raise _Bad("JSON_PARSER_ERROR", f"Cannot deserialize {f.name} from an object")
            text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) \
                else str(raw)
            if f.length and len(text) > f.length:
                raise _Bad("STRING_TOO_LONG", f"{f.name}: data value too large: "
                           f"{text[:20]}... (max length={f.length})")
            if kind == "email" and ("@" not in text or " " in text.strip()):
                raise _Bad("INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {text}")
            if f.restricted and text not in f.picklist:
                raise _Bad("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{f.name}: bad value for restricted picklist field: {text}")
            return text
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false"):
                return str(raw).lower() == "true"
            raise _Bad("JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean: {raw}")
        if kind == "date":
            try:
                return dt.date.fromisoformat(str(raw)).isoformat()
            except ValueError:
                raise _Bad("JSON_PARSER_ERROR", f"Cannot deserialize instance of date from "
                           f"VALUE_STRING value {raw}") from None
        if kind == "datetime":
            value = sf_datetime(str(raw))
            if value is None:
                raise _Bad("JSON_PARSER_ERROR", f"Cannot deserialize instance of datetime from "
                           f"VALUE_STRING value {raw}")
            return value
        if kind in NUMBER_TYPES:
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise _Bad("JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind}: "
                           f"{raw}") from None
            return int(number) if kind == "int" else number
        if kind == "reference":
            return self._reference(f, str(raw))
        if kind == "base64":
            try:
                return base64.b64decode(str(raw), validate=True)
            except (binascii.Error, ValueError):
                raise _Bad("JSON_PARSER_ERROR", f"{f.name}: invalid base64 data") from None
        raise _Bad("INVALID_FIELD", f"cannot write a field of type {kind}")

    def _reference(self, f: FieldDef, raw: str) -> str:
        full = normalize_id(raw)
        if full is None:
            raise _Bad("MALFORMED_ID", f"{f.name}: id value of incorrect type: {raw}")
        if full[:15] == USER_ID[:15] and "User" in f.reference_to:
            return USER_ID  # the org's one user (as the org reads it back: its own suffix)
        if "ContentDocument" in f.reference_to:
            if not activities.document_exists(self.store, full):
                raise _Bad("INVALID_CROSS_REFERENCE_KEY",
                           f"{f.name}: invalid cross reference id")
            return full
        found = self.store.find(full)
        if found is not None and len(f.reference_to) > 1 \
                and found[0] not in f.reference_to:
            # a polymorphic lookup given a record of a type it cannot point at
            raise _Bad("FIELD_INTEGRITY_EXCEPTION", f"{'/'.join(f.reference_to)} ID: id "
                       f"value of incorrect type: {full}")
        if found is None or found[0] not in f.reference_to or found[1]["IsDeleted"]:
            raise _Bad("INVALID_CROSS_REFERENCE_KEY", f"{f.name}: invalid cross reference id")
        return full
