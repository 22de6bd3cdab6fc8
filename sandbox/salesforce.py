"""Salesforce emulator: the REST API (v any.N), Bulk API 2.0 query and the logins that
simple-salesforce 1.12.10 speaks, over the agency's clients and clinical records.

Emulated: SOAP login and OAuth token flows (password, client credentials, JWT bearer: the
JWT's ``iss``/``sub`` are checked, its signature and expiry are NOT); describeGlobal and
describe; SOQL query/queryAll with nextRecordsUrl paging (``soql.py`` has the subset);
``updated``/``deleted``; retrieve, create, update, upsert by external id, delete; sObject
Collections; ContentVersion/Attachment bodies; Bulk API 2.0 query jobs with CSV results;
``limits``; the ``Sforce-Limit-Info`` usage header, a daily limit (``daily_limit``) and the
faults ``session_expired`` and ``request_limit`` besides the generic ones.

Not emulated: child-relationship sub-queries, SOSL search, Bulk ingest jobs, Bulk 1.0,
Metadata and Tooling APIs, composite graph/batch/tree, record types, sharing. Data model
and time travel: ``salesforce_data.py`` and ``docs/sandbox-salesforce.md``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import secrets
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.agency import Agency, ChangeSet
from sandbox.faults import Fault, FaultPlan
from sandbox.http import Emulator, HTTPError, Request, Response
from sandbox.salesforce_data import (
    OBJECTS_LOWER,
    FieldDef,
    ObjectDef,
    OrgStore,
    advance,
    describe_global_entry,
    describe_object,
    make_id,
    normalize_id,
    populate,
)
from sandbox.salesforce_writes import WriteError, Writer
from sandbox.soql import SoqlError, compile_where, parse, sf_datetime

__all__ = ["SalesforceEmulator"]

V = r"/services/data/v(?P<ver>\d+\.\d+)"
ORG_ID = "00DDn0000000001EAA"
USER_ID = "005Dn0000000001AAA"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
BATCH_MIN, BATCH_MAX = 200, 2000
MAX_CURSORS = 64  # open query locators kept; older ones answer INVALID_QUERY_LOCATOR
MAX_JOBS = 200  # Bulk query jobs kept (each holds its result rows)
BAD_LOGIN = "Invalid username, password, security token; or user locked out."
Handler = Callable[[Request], Response]
Getter = Callable[[dict[str, Any]], Any]


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None,
             headers: dict[str, str] | None = None) -> HTTPError:
    """Salesforce's REST error: a JSON array of {message, errorCode[, fields]}."""
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return HTTPError(Response.json([body], status=status, headers=headers))


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


class SalesforceEmulator(Emulator):
    vendor = "salesforce"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        self.agency = agency
        self.store = OrgStore(agency.seed, agency.now)
        populate(self.store, agency)
        self.writer = Writer(self.store)
        self.sessions: set[str] = set()
        self.cursors: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.api_usage = 0
        self.daily_limit = 15000  # calls a day; every call after that answers 403
        self.bulk_polls = 0  # job polls that still answer InProgress before JobComplete
        # REST queries matching more rows than this answer QUERY_TIMEOUT (None: never)
        self.query_timeout_rows: int | None = None
        self._serial = 0
        self._routes_setup()

    # -- routing ------------------------------------------------------------------------

    def _routes_setup(self) -> None:
        self.add_route("POST", r"/services/Soap/u/(?P<ver>\d+\.\d+)(/.*)?", "login", self._login)
        self.add_route("POST", r"/services/oauth2/token", "oauth_token", self._token)
        self.add_route("GET", r"/services/data/?", "versions", self._versions)  # no auth, as real
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", V + r"/limits/?", "limits", self._limits),
            ("GET", V + r"/sobjects/?", "describe_global", self._describe_global),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/describe/?", "describe", self._describe),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/updated/?", "updated", self._updated),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/deleted/?", "deleted", self._deleted),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/?", "sobject", self._sobject_info),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "retrieve", self._retrieve),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/(?P<b>[^/]+)/?", "retrieve",
             self._retrieve),
            ("POST", V + r"/sobjects/(?P<obj>\w+)/?", "create", self._create),
            ("PATCH", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "update", self._update),
            ("PATCH", V + r"/sobjects/(?P<obj>\w+)/(?P<a>\w+)/(?P<b>[^/]+)/?", "upsert",
             self._upsert),
            ("DELETE", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "delete", self._delete),
            ("GET", V + r"/(?P<kind>query|queryAll)/?", "query", self._query),
            ("GET", V + r"/(?:query|queryAll)/(?P<locator>[\w]+-\d+)/?", "query_more",
             self._query_more),
            ("POST", V + r"/composite/sobjects/?", "composite", self._composite),
            ("PATCH", V + r"/composite/sobjects/?", "composite", self._composite),
            ("DELETE", V + r"/composite/sobjects/?", "composite", self._composite),
            ("PATCH", V + r"/composite/sobjects/(?P<obj>\w+)/(?P<ext>\w+)/?", "composite",
             self._composite),
            ("POST", V + r"/jobs/query/?", "bulk_create", self._bulk_create),
            ("GET", V + r"/jobs/query/?", "bulk_list", self._bulk_list),
            ("GET", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_job),
            ("PATCH", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_abort),
            ("DELETE", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_delete),
            ("GET", V + r"/jobs/query/(?P<job>\w+)/results/?", "bulk_results",
             self._bulk_results),
        ]
        for method, pattern, endpoint, handler in api:
            self.add_route(method, pattern, endpoint, self._api(endpoint, handler))

    def _api(self, endpoint: str, handler: Handler) -> Handler:
        """Session check, limits and faults, usage counting and the usage header."""
        def run(request: Request) -> Response:
            with self.lock:
                try:
                    self._check_session(request, endpoint)
                    if self.faults.take("request_limit", self.vendor, endpoint, request.path) \
                            or self.api_usage >= self.daily_limit:
                        raise sf_error(403, "REQUEST_LIMIT_EXCEEDED",
                                       "TotalRequests Limit exceeded.")
                    self.api_usage += 1
                    response = handler(request)
                except HTTPError as exc:
                    response = exc.response
                except ValueError as exc:
                    # a parameter or body the handlers could not read: Salesforce answers 400
                    response = sf_error(400, "JSON_PARSER_ERROR", f"{exc}").response
                response.headers["Sforce-Limit-Info"] = self._usage()
                return response
        return run

    def _usage(self) -> str:
        return f"api-usage={self.api_usage}/{self.daily_limit}"

    def _check_session(self, request: Request, endpoint: str) -> None:
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else ""
        if token not in self.sessions:
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.faults.take("session_expired", self.vendor, endpoint, request.path):
            self.sessions.discard(token)  # the SDK must log in again
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def not_found(self, request: Request) -> Response:
        return Response.json([{"errorCode": "NOT_FOUND",
                               "message": "The requested resource does not exist"}], status=404)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {"Sforce-Limit-Info": self._usage()}
        if fault.kind == "rate_limit":
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return Response.json([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message":
                                   "ConcurrentPerOrgLongTxn Limit exceeded."}], 429, headers)
        status = fault.status or 503
        if status == 503:
            body = [{"errorCode": "SERVER_UNAVAILABLE",
                     "message": "Server temporarily unavailable. Please try again later."}]
        else:
            body = [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error "
                     "occurred. Please include this ErrorId if you contact support: "
                     "1234567890-12345 (-987654321)"}]
        return Response.json(body, status, headers)

    # -- logins -------------------------------------------------------------------------

    def _new_session(self) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(32)}"
        with self.lock:
            self.sessions.add(token)
        return token

    def _instance(self) -> str:
        return urlsplit(self.base_url).netloc

    def _login(self, request: Request) -> Response:
        creds = _credentials()
        try:
            root = ET.fromstring(request.body)  # noqa: S314 - loopback test double
        except ET.ParseError:
            return _soap_fault("INVALID_LOGIN", BAD_LOGIN)
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        if values.get("username") != creds["username"] or values.get("password") != \
                creds["password"] + creds["security_token"]:
            return _soap_fault("INVALID_LOGIN", BAD_LOGIN)
        ver = request.params["ver"]
        host = self._instance()
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            f'"{SOAP_NS}" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse>'
            f"<result><metadataServerUrl>https://{host}/services/Soap/m/{ver}/{ORG_ID[:15]}"
            f"</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true"
            f"</sandbox><serverUrl>https://{host}/services/Soap/u/{ver}/{ORG_ID[:15]}"
            f"</serverUrl><sessionId>{self._new_session()}</sessionId><userId>{USER_ID}"
            f"</userId><userInfo><organizationId>{ORG_ID}</organizationId><userName>"
            f"{creds['username']}</userName></userInfo></result></loginResponse>"
            f"</soapenv:Body></soapenv:Envelope>")
        return Response.raw(xml.encode("utf-8"), "text/xml; charset=utf-8")

    def _token(self, request: Request) -> Response:
        creds = _credentials()
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        grant = form.get("grant_type", "")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        if grant == "password":
            ok_password = form.get("password") in (creds["password"], creds["password"]
                                                   + creds["security_token"])
            ok = (client_id == creds["client_id"] and secret == creds["client_secret"]
                  and form.get("username") == creds["username"] and ok_password)
        elif grant == "client_credentials":
            ok = client_id == creds["client_id"] and secret == creds["client_secret"]
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _jwt_claims(form.get("assertion", ""))
            ok = claims.get("iss") == creds["client_id"] and claims.get("sub") == creds["username"]
        else:
            return Response.json({"error": "unsupported_grant_type",
                                  "error_description": "grant type not supported"}, 400)
        if not ok:
            return Response.json({"error": "invalid_grant",
                                  "error_description": "authentication failure"}, 400)
        host = self._instance()
        return Response.json({
            "access_token": self._new_session(), "instance_url": f"https://{host}",
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}", "token_type": "Bearer",
            "issued_at": str(int(self.agency.now.timestamp() * 1000)),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode()})

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

    def _object(self, name: str) -> ObjectDef:
        obj = OBJECTS_LOWER.get(name.lower())
        if obj is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def _describe_global(self, request: Request) -> Response:
        ver = request.params["ver"]
        return Response.json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            describe_global_entry(o, ver) for o in OBJECTS_LOWER.values()]})

    def _describe(self, request: Request) -> Response:
        return Response.json(describe_object(self._object(request.params["obj"]),
                                             request.params["ver"]))

    def _sobject_info(self, request: Request) -> Response:
        obj = self._object(request.params["obj"])
        return Response.json({"objectDescribe": describe_global_entry(obj, request.params["ver"]),
                              "recentItems": []})

    # -- reading records ----------------------------------------------------------------

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
            today = self.agency.now.date()

            def age(rec: dict[str, Any]) -> Any:
                born = rec.get("Birthdate__c")
                return None if born is None else float(
                    int((today - _date(born)).days / 365.2425))
            return age
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
        parent = OBJECTS_LOWER.get(ref.reference_to[0].lower()) if ref else None
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
        obj = OBJECTS_LOWER.get(q.sobject.lower())
        if obj is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{q.sobject}' is not supported. If "
                            "you are attempting to use a custom object, be sure to append the "
                            "'__c' after the entity name. Please reference your WSDL or the "
                            "describe call for the appropriate names.", text, q.sobject_pos)
        if not obj.queryable:
            raise SoqlError("INVALID_TYPE_FOR_OPERATION",
                            f"entity type {obj.name} does not support query", text, q.sobject_pos)

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

    def _query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        ver = request.params["ver"]
        try:
            obj, fields, rows, count = self._run_soql(text, request.params["kind"] == "queryAll",
                                                      ver)
        except SoqlError as exc:
            raise sf_error(400, exc.code, exc.render()) from None
        limit = self.query_timeout_rows
        if limit is not None and len(self.store.records[obj.name]) > limit and len(rows) > limit:
            # a big, non-selective REST query: Salesforce gives up; Bulk 2.0 still works
            raise sf_error(400, "QUERY_TIMEOUT", "Your query request was running for too long.")
        if count:
            return Response.json({"totalSize": len(rows), "done": True, "records": []})
        self._serial += 1
        cursor = make_id("01g", self._serial)
        self.cursors[cursor] = {"obj": obj, "fields": fields, "rows": rows}
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return self._page(cursor, 0, request)

    def _query_more(self, request: Request) -> Response:
        cursor, _, offset = request.params["locator"].rpartition("-")
        if cursor not in self.cursors:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self.cursors.move_to_end(cursor)
        return self._page(cursor, int(offset), request)

    def _page(self, cursor: str, offset: int, request: Request) -> Response:
        """One page; its size comes from this request's Sforce-Query-Options header."""
        state, ver = self.cursors[cursor], request.params["ver"]
        size = _batch_size(request.headers.get("sforce-query-options", ""))
        rows = state["rows"]
        page = rows[offset: offset + size]
        body: dict[str, Any] = {"totalSize": len(rows), "done": offset + size >= len(rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{ver}/query/{cursor}-{offset + size}"
        body["records"] = [self._project(state["obj"], rec, state["fields"], ver)
                           for rec in page]
        return Response.json(body)

    def _project(self, obj: ObjectDef, rec: dict[str, Any], columns: list[Column],
                 ver: str) -> dict[str, Any]:
        """A REST query record: attributes, fields, and parents as nested records."""
        out: dict[str, Any] = {"attributes": {
            "type": obj.name, "url": f"/services/data/v{ver}/sobjects/{obj.name}/{rec['Id']}"}}
        for col in columns:
            if col.rel is None:
                out[col.name] = col.get(rec)
                continue
            parent = self.store.records[col.rel_type].get(rec.get(col.ref) or "")
            if parent is None:
                out[col.rel] = None
                continue
            nested = out.get(col.rel)
            if nested is None:
                nested = out[col.rel] = {"attributes": {"type": col.rel_type, "url": (
                    f"/services/data/v{ver}/sobjects/{col.rel_type}/{parent['Id']}")}}
            nested[col.field.name] = col.leaf(parent)
        return out

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

    def _live(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        found = self.store.find(record_id)
        if found is None or found[0] != obj.name:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if found[1]["IsDeleted"]:
            raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return found[1]

    # -- writes -------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
        if not isinstance(body, dict):
            raise sf_error(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body")
        return body

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
        self.writer.delete(obj, request.params["a"])
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

    # -- Bulk API 2.0 query -------------------------------------------------------------

    def _bulk_create(self, request: Request) -> Response:
        body = self._body(request)
        operation, text = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll") or not isinstance(text, str):
            raise sf_error(400, "INVALIDJOB", "operation must be query or queryAll, with a query")
        delimiter = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
                     "BACKQUOTE": "`"}.get(body.get("columnDelimiter", "COMMA"))
        if delimiter is None or body.get("lineEnding", "LF") not in ("LF", "CRLF"):
            raise sf_error(400, "INVALIDJOB", "invalid columnDelimiter or lineEnding")
        try:
            obj, fields, rows, _ = self._run_soql(text, operation == "queryAll",
                                                  request.params["ver"])
        except SoqlError as exc:
            raise sf_error(400, "INVALIDJOB", exc.render()) from None
        self._serial += 1
        job_id = make_id("750", self._serial)
        now = self.store.write_stamp()
        job: dict[str, Any] = {
            "id": job_id, "operation": operation, "object": obj.name,
            "createdById": USER_ID, "createdDate": now, "systemModstamp": now,
            "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(request.params["ver"]), "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        }
        compound = [c.name for c in fields if c.field.type in ("address", "base64")]
        self.jobs[job_id] = {"info": job, "fields": fields, "rows": rows, "polls": 0,
                             "delimiter": delimiter, "error": None if not compound else
                             "FUNCTIONALITY_NOT_ENABLED: Selecting compound data not supported "
                             f"in Bulk Query ({', '.join(compound)})"}
        while len(self.jobs) > MAX_JOBS:  # oldest first: dicts keep insertion order
            del self.jobs[next(iter(self.jobs))]
        return Response.json(job)

    def _job(self, request: Request) -> dict[str, Any]:
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _bulk_job(self, request: Request) -> Response:
        job = self._job(request)
        info = job["info"]
        if info["state"] not in ("Aborted", "Failed", "JobComplete"):
            job["polls"] += 1
            info["state"] = "InProgress" if job["polls"] <= self.bulk_polls else (
                "Failed" if job["error"] else "JobComplete")
        out = dict(info, jobType="V2Query", retries=0, totalProcessingTime=0,
                   numberRecordsProcessed=len(job["rows"]) if info["state"] == "JobComplete"
                   else 0)
        if job["error"] and info["state"] == "Failed":
            out["errorMessage"] = job["error"]
        return Response.json(out)

    def _bulk_list(self, request: Request) -> Response:
        return Response.json({"done": True, "nextRecordsUrl": None,
                              "records": [j["info"] for j in self.jobs.values()]})

    def _bulk_abort(self, request: Request) -> Response:
        job = self._job(request)
        if self._body(request).get("state") == "Aborted":
            job["info"]["state"] = "Aborted"
        return Response.json(job["info"])

    def _bulk_delete(self, request: Request) -> Response:
        self._job(request)
        del self.jobs[request.params["job"]]
        return Response(204)

    def _bulk_results(self, request: Request) -> Response:
        job = self._job(request)
        if job["info"]["state"] != "JobComplete":
            raise sf_error(400, "INVALIDJOB", f"Job is not complete: {job['info']['state']}")
        size = max(1, int(request.arg("maxRecords") or 50000))
        locator = request.arg("locator") or ""
        offset = int(base64.b64decode(locator).decode()) if locator else 0
        rows = job["rows"][offset: offset + size]
        nxt = offset + size if offset + size < len(job["rows"]) else None
        info = job["info"]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=job["delimiter"], quoting=csv.QUOTE_ALL,
                            lineterminator="\r\n" if info["lineEnding"] == "CRLF" else "\n")
        writer.writerow([c.name for c in job["fields"]])
        for rec in rows:
            writer.writerow([_csv_value(c.get(rec)) for c in job["fields"]])
        headers = {"Sforce-NumberOfRecords": str(len(rows)), "Sforce-Locator":
                   "null" if nxt is None else base64.b64encode(str(nxt).encode()).decode()}
        return Response.raw(out.getvalue().encode("utf-8"), "text/csv; charset=UTF-8",
                            headers=headers)

    # -- time travel and state ----------------------------------------------------------

    def advance(self, changes: ChangeSet) -> None:
        with self.lock:
            advance(self.store, self.agency, changes)
            self.api_usage = 0  # a new day: the daily allowance is back

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {"store": self.store.dump(), "api_usage": self.api_usage}

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.store.load(state["store"])
            self.api_usage = int(state.get("api_usage", 0))
            self.cursors.clear()
            self.jobs.clear()


# -- helpers -----------------------------------------------------------------------------

def _credentials() -> dict[str, str]:
    from sandbox import CREDENTIALS  # the package imports this module first

    return CREDENTIALS["salesforce"]


def _field(obj: ObjectDef, name: str, pos: int, text: str) -> FieldDef:
    f = obj.field(name)
    if f is None:
        raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If "
                        "you are attempting to use a custom field, be sure to append the '__c' "
                        "after the custom field name. Please reference your WSDL or the "
                        "describe call for the appropriate names.", text, pos)
    return f


def _soap_fault(code: str, message: str) -> Response:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
           'xmlns:sf="urn:fault.partner.soap.sforce.com" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
           f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
           '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
           f"<sf:exceptionCode>{code}</sf:exceptionCode>"
           f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
           "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response.raw(xml.encode("utf-8"), "text/xml; charset=utf-8", status=500)


def _jwt_claims(assertion: str) -> dict[str, Any]:
    """The JWT's payload, unverified (the sandbox trusts any well-formed token)."""
    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}


def _batch_size(options: str) -> int:
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(BATCH_MIN, min(BATCH_MAX, int(value)))
    return BATCH_MAX


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _iso_utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def _fmt(value: Any) -> str:
    return sf_datetime(value.isoformat()) or ""
