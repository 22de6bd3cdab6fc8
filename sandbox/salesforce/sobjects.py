"""The sObject API: versions and limits, describeGlobal and describe, retrieve (by id,
by external id, file bodies), ``updated``/``deleted`` replication, create, update, upsert
by external id, delete, and sObject Collections.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any
from urllib.parse import unquote

from sandbox.http import Request, Response
from sandbox.salesforce.org import sf_error
from sandbox.salesforce.records import RecordReader
from sandbox.salesforce.schema import (
    FieldDef,
    ObjectDef,
    describe_global_entry,
    describe_object,
)
from sandbox.salesforce.soql import sf_datetime
from sandbox.salesforce.writes import WriteError

__all__ = ["SObjectAPI"]


class SObjectAPI(RecordReader):
    """Metadata, single records and Collections."""

    # -- metadata -----------------------------------------------------------------------

    def _versions(self, request: Request) -> Response:
        return Response.json([{"label": "Winter '24", "url": "/services/data/v59.0",
                               "version": "59.0"},
                              {"label": "Spring '24", "url": "/services/data/v60.0",
                               "version": "60.0"}])

    def _limits(self, request: Request) -> Response:
        jobs = len(self.jobs)
        return Response.json({
            "DailyApiRequests": {"Max": self.daily_limit,
                                 "Remaining": max(0, self.daily_limit - self.api_usage)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - jobs},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DataStorageMB": {"Max": 1024, "Remaining": 1000},
            "FileStorageMB": {"Max": 10240, "Remaining": 10000},
        })

    def _not_modified(self, request: Request, names: list[str]) -> bool:
        """``If-Modified-Since`` given, and none of these objects' metadata changed after
        it (whole seconds, as HTTP dates have)."""
        since = request.headers.get("if-modified-since")
        if not since:
            return False
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        changed = [self.schema_changed[n].replace(microsecond=0) for n in names
                   if n in self.schema_changed]
        return all(c <= when for c in changed)

    def _entry(self, obj: Any, ver: str, full: bool = False) -> dict[str, Any]:
        out = describe_object(obj, ver) if full else describe_global_entry(obj, ver)
        if obj.name in self.labels:
            out["label"] = self.labels[obj.name]
        return out

    def _describe_global(self, request: Request) -> Response:
        ver = request.params["ver"]
        if self._not_modified(request, [o.name for o in self.store.objects_lower.values()]):
            return Response(304)
        return Response.json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            self._entry(o, ver) for o in self.store.objects_lower.values()]})

    def _describe(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        if obj.name in self.refuse_describe:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if self._not_modified(request, [obj.name]):
            return Response(304)
        return Response.json(self._entry(obj, request.params["ver"], full=True))

    def _sobject_info(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        return Response.json({"objectDescribe": describe_global_entry(obj, request.params["ver"]),
                              "recentItems": []})

    def _window(self, request: Request) -> tuple[str, str]:
        start, end = (sf_datetime(request.arg(k) or "") for k in ("start", "end"))
        if start is None or end is None:
            raise sf_error(400, "INVALID_REPLICATION_DATE", "start and end must be datetimes")
        if end < start:
            raise sf_error(400, "INVALID_REPLICATION_DATE", "EndDate before StartDate")
        oldest = self.agency.now.timestamp() - 30 * 86400
        if start < (sf_datetime(_iso_utc(oldest)) or ""):
            raise sf_error(400, "INVALID_REPLICATION_DATE",
                           "startDate cannot be more than 30 days ago")
        return start, end

    def _updated(self, request: Request) -> Response:
        obj = self._replicateable(request.params["obj"])
        start, end = self._window(request)
        ids = [r["Id"] for r in self.store.rows(obj.name, False)
               if start <= r["SystemModstamp"] <= end]
        return Response.json({"ids": ids, "latestDateCovered": end})

    def _deleted(self, request: Request) -> Response:
        obj = self._replicateable(request.params["obj"])
        start, end = self._window(request)
        dates = [d for o, d in self.store.bin.values() if o == obj.name]
        rows = [{"id": rid, "deletedDate": d} for rid, (o, d) in self.store.bin.items()
                if o == obj.name and start <= d <= end]
        return Response.json({"deletedRecords": rows, "earliestDateAvailable":
                              min(dates) if dates else _fmt(self.store.start),
                              "latestDateCovered": end})

    def _replicateable(self, name: str) -> ObjectDef:
        obj = self._object(name)
        if not obj.replicateable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION",
                           f"entity type {obj.name} does not support replication")
        return obj

    def _retrieve(self, request: Request) -> Response:
        obj, ver = self._object(request.params["obj"]), request.params["ver"]
        a, b = unquote(request.params["a"]), request.params.get("b")
        if b is not None:
            ext = obj.field(a)
            if ext is not None and (ext.external_id or ext.name == "Id"):
                return self._by_external_id(obj, ext, unquote(b), ver)
            blob = obj.field(b)
            if blob is None or blob.type != "base64":
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            rec = self._live(obj, a)
            if rec["Id"] not in self.store.blobs:
                raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            data = self.store.body(rec["Id"])
            ctype = rec.get("ContentType") or "application/octetstream"
            return Response.raw(data, ctype)
        rec = self._live(obj, a)
        fields = [obj.field(n) for n in request.args("fields")] if request.arg("fields") else None
        if fields is not None and None in fields:
            raise sf_error(400, "INVALID_FIELD", "No such column on entity " + obj.name)
        return Response.json(self._record(obj, rec, ver, [f for f in fields or [] if f]
                                          or None))

    def _by_external_id(self, obj: ObjectDef, ext: FieldDef, value: str, ver: str) -> Response:
        matches = self.writer.matches(obj, ext, value)
        if not matches:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(matches) > 1:
            return Response.json([f"/services/data/v{ver}/sobjects/{obj.name}/{r['Id']}"
                                  for r in matches], status=300)
        return Response.json(self._record(obj, matches[0], ver))

    def _create(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        try:
            rec = self.writer.create(obj, self._body(request))
        except WriteError as exc:
            raise exc.http() from None
        return Response.json({"id": rec["Id"], "success": True, "errors": []}, status=201)

    def _update(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        self._live(obj, request.params["a"])
        try:
            self.writer.update(obj, request.params["a"], self._body(request))
        except WriteError as exc:
            raise exc.http() from None
        return Response(204)

    def _upsert(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        ext, value = request.params["a"], unquote(request.params["b"])
        try:
            rec, created = self.writer.upsert(obj, ext, value, self._body(request))
        except WriteError as exc:
            if exc.matches:
                ver = request.params["ver"]
                return Response.json([f"/services/data/v{ver}/sobjects/{obj.name}/{rid}"
                                      for rid in exc.matches], status=300)
            raise exc.http() from None
        return Response.json({"id": rec["Id"], "success": True, "errors": [],
                              "created": created}, status=201 if created else 200)

    def _delete(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        self._live(obj, request.params["a"])
        try:
            self.writer.delete(obj, request.params["a"])
        except WriteError as exc:  # an Account with cases
            raise exc.http() from None
        return Response(204)

    def _composite(self, request: Request) -> Response:
        if request.method == "DELETE":
            ids = request.args("ids")
            if len(ids) > 200:
                raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit "
                               "more than 200 records into this call")
            all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
            return Response.json(self.writer.collection("delete", [{"id": i} for i in ids],
                                                        all_or_none))
        body = self._body(request)
        records = body.get("records")
        if not isinstance(records, list):
            raise sf_error(400, "JSON_PARSER_ERROR", "records must be an array")
        if len(records) > 200:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                           "than 200 records into this call")
        all_or_none = bool(body.get("allOrNone", False))
        if "ext" in request.params:
            obj = self._object(request.params["obj"])
            return Response.json(self.writer.collection("upsert", records, all_or_none, obj,
                                                        request.params["ext"]))
        op = "create" if request.method == "POST" else "update"
        return Response.json(self.writer.collection(op, records, all_or_none))


def _iso_utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def _fmt(value: Any) -> str:
    return sf_datetime(value.isoformat()) or ""
