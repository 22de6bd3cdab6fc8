"""The CRM batch API, ``/crm/v3/objects/{type}/batch/{create,read,update,upsert,archive}``:
at most 100 inputs; a 207 answer carries the per-input errors.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import HTTPError, Request, Response
from sandbox.hubspot.objects import ObjectsAPI
from sandbox.hubspot.store import iso

__all__ = ["BatchAPI"]

BATCH_MAX = 100


class BatchAPI(ObjectsAPI):
    """Batches of CRM records."""

    def _batch(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        op = request.params["op"]
        body = self._body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise self._fail(400, "inputs is required", "VALIDATION_ERROR")
        if len(inputs) > BATCH_MAX:
            raise self._fail(400, f"Batch input array size must be less than or equal to "
                             f"{BATCH_MAX}", "VALIDATION_ERROR",
                             context={"inputs": [str(len(inputs))]})
        ids = [str(i.get("id")) for i in inputs if op != "create"]
        if op in ("update", "upsert") and len(set(ids)) != len(ids):
            raise self._fail(400, "Duplicate IDs found in batch input", "VALIDATION_ERROR")
        started = iso(self._now_ms())
        if op == "archive":
            for item in inputs:
                rec = self.portal.store.types[tname].records.get(int(item["id"]))
                if rec is not None:
                    self.portal.store.archive(tname, rec, self._stamp())
            return Response(204)
        if op == "read":
            results, errors = self._batch_read(tname, body)
            status = 200
        else:
            results, errors = [], []
            for item in inputs:
                handler = self._batch_upsert_named if op == "upsert" else getattr(
                    self, f"_batch_{op}")
                outcome = handler(tname, item)
                (errors if "status" in outcome else results).append(outcome)
            status = 201 if op == "create" else 200
        results, errors = self.in_any_order(results), self.in_any_order(errors)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(self._now_ms())}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            status = 207
        return Response.json(out, status=status)

    def _input_error(self, errors: list[dict[str, Any]]) -> dict[str, Any]:
        names = [e["name"] for e in errors]
        return self._standard_error(
            "VALIDATION_ERROR", "; ".join(e["message"] for e in errors), {"propertyName": names},
            [{"message": e["message"], "code": e["code"], "context": {"propertyName": [e["name"]]}}
             for e in errors])

    def _batch_read(self, tname: str, body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        ts = self.portal.store.types[tname]
        names = self._prop_names(tname, list(body.get("properties") or []))
        id_prop = body.get("idProperty")
        results, missing = [], []
        for item in body["inputs"]:
            raw = str(item["id"])
            if id_prop and id_prop != "hs_object_id":
                rec = ts.find_unique(id_prop, raw)
            else:
                rec = ts.records.get(int(raw)) if raw.isdigit() else None
            if rec is None or rec.archived_at is not None:
                missing.append(raw)
            else:
                results.append(self._obj(tname, rec, names))
        errors = []
        if missing:
            singular = self.portal.store.object_types[tname].singular
            errors.append(self._standard_error(
                "OBJECT_NOT_FOUND", f"Could not get some {singular.upper()} objects, "
                "they may be deleted or not exist. Check that ids are valid.", {"ids": missing}))
        return results, errors

    def _batch_create(self, tname: str, item: dict[str, Any]) -> dict[str, Any]:
        props, errors = self._clean(tname, item.get("properties"))
        if errors:
            return self._input_error(errors)
        conflict = self._unique_conflict(tname, props)
        if conflict:
            return self._standard_error("CONFLICT", conflict, {})
        try:
            links = self._inline_associations(tname, item.get("associations") or [])
        except HTTPError:
            return self._standard_error("VALIDATION_ERROR", "invalid association", {})
        rec = self._write_new(tname, props)
        for to_type, to_id, type_id in links:
            self.portal.store.associate(tname, rec.id, to_type, to_id, type_id)
        return self._obj(tname, rec, self._prop_names(tname, list(props)))

    def _batch_update(self, tname: str, item: dict[str, Any]) -> dict[str, Any]:
        raw = str(item["id"])
        ts = self.portal.store.types[tname]
        id_prop = item.get("idProperty")
        rec = (ts.find_unique(id_prop, raw) if id_prop else
               ts.records.get(int(raw)) if raw.isdigit() else None)
        if rec is None or rec.archived_at is not None:
            return self._standard_error("OBJECT_NOT_FOUND", f"Object {raw} not found",
                                        {"ids": [raw]})
        props, errors = self._clean(tname, item.get("properties"))
        if errors:
            return self._input_error(errors)
        conflict = self._unique_conflict(tname, props, rec)
        if conflict:
            return self._standard_error("CONFLICT", conflict, {"ids": [raw]})
        self.portal.store.update(tname, rec, props, self._stamp())
        return self._obj(tname, rec, self._prop_names(tname, list(props)))

    def _batch_upsert(self, tname: str, item: dict[str, Any]) -> dict[str, Any]:
        """Upsert by a unique property (``idProperty``): update the match, else create one
        with that property set; results carry ``new``."""
        raw = str(item["id"])
        id_prop = item.get("idProperty") or "hs_object_id"
        ts = self.portal.store.types[tname]
        if id_prop != "hs_object_id" and id_prop not in ts.unique:
            return self._standard_error(
                "VALIDATION_ERROR", f"{id_prop} is not a unique property of {tname}",
                {"idProperty": [id_prop]})
        rec = ts.find_unique(id_prop, raw)
        if rec is not None:
            result = self._batch_update(tname, {"id": str(rec.id),
                                                "properties": item.get("properties")})
            if "status" not in result:
                result["new"] = False
            return result
        if id_prop == "hs_object_id":
            return self._standard_error("OBJECT_NOT_FOUND", f"Object {raw} not found",
                                        {"ids": [raw]})
        props = {**dict(item.get("properties") or {}), id_prop: raw}
        result = self._batch_create(tname, {"properties": props})
        if "status" not in result:
            result["new"] = True
        return result

    def _batch_upsert_named(self, tname: str, item: dict[str, Any]) -> dict[str, Any]:
        """An upsert's error names the input's ``id`` (the ``idProperty`` value) in its
        context, as HubSpot's do: answers come in any order."""
        result = self._batch_upsert(tname, item)
        if "status" in result:
            result["context"] = {**result.get("context", {}), "ids": [str(item["id"])]}
        return result
