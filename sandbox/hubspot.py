"""HubSpot emulator: CRM v3 objects, search, properties and schemas, v4 associations, owners
and files, over HTTP, for the unmodified ``hubspot-api-client`` (12.x).

    client = hubspot.Client.create(access_token=CREDENTIALS["hubspot"]["access_token"],
                                   host=sandbox.urls["hubspot"])

What is emulated (the data model is in :mod:`sandbox.hubspot_data` and
``docs/sandbox-hubspot.md``):

- ``/crm/v3/objects/{type}``: list (``limit`` <= 100, ``after``, ``properties``,
  ``associations``, ``archived``), get, create (inline associations), update, archive, and
  ``batch/{create,read,update,upsert,archive}`` (<= 100 inputs; 207 with per-input errors);
  types by name, singular, ``objectTypeId`` or fully qualified name.
- ``/crm/v3/objects/{type}/search``: filter groups, the usual operators, sorts, free-text
  ``query``, ``limit`` <= 200, the 10,000-result paging cap, and the ``search_lag`` fault.
- ``/crm/v3/properties/{type}`` (list, get, create), ``/crm/v3/schemas`` (and the SDK's
  ``/crm-object-schemas/v3/schemas``), ``/crm/v3/owners/``.
- ``/crm/v4``: association lists, batch read/create/archive/associate-default, labels.
- ``/files/v3/files``: search, get, signed URL (served by this emulator, HMAC-signed and
  expiring on the sandbox clock), multipart upload, archive.
- Bearer-token auth (401 otherwise), rate-limit headers and budgets (429 with
  ``policyName``), and HubSpot-shaped bodies for injected 429/5xx faults.

Not emulated: OAuth, property history, pipelines, merges, imports/exports, lists, webhooks,
folders API, HTTP range requests on file downloads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sandbox import hubspot_extras
from sandbox.agency import Agency, ChangeSet
from sandbox.faults import Fault, FaultPlan
from sandbox.http import Emulator, HTTPError, Request, Response
from sandbox.hubspot_data import (
    ALIASES,
    DEFAULT_ASSOC,
    LABELLED_ASSOC,
    TYPE_ID_PAIRS,
    TYPES,
    Portal,
    Record,
    assoc_label,
    iso,
    to_ms,
)
from sandbox.hubspot_search import SearchError, search_ids

__all__ = ["HubSpotEmulator"]

BATCH_MAX = 100
SEARCH_CAP = 10_000
READ_ONLY = frozenset({"hs_object_id", "hs_lastmodifieddate", "lastmodifieddate", "hs_createdate"})
Handler = Callable[[Request], Response]


class HubSpotEmulator(Emulator):
    vendor = "hubspot"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        self.agency = agency
        self.portal = Portal(agency.seed)
        self.portal.populate(agency)
        #: Request budgets; HubSpot's are ~19/s and 250k-1M/day: the sandbox is generous.
        self.secondly_limit = 1000
        self.daily_limit = 1_000_000
        self._rate_lock = threading.Lock()
        self._second = 0
        self._second_count = 0
        self._day: dt.date | None = None
        self._day_count = 0
        self._correlation = itertools.count(1)
        self._search_cache: dict[str, tuple[Any, list[int]]] = {}
        self._signing_key = hashlib.sha256(f"hubspot-signing:{agency.seed}".encode()).digest()
        from sandbox import CREDENTIALS  # late: the package imports this module

        self._token = CREDENTIALS["hubspot"]["access_token"]
        self._add_routes()

    # -- plumbing ---------------------------------------------------------------------------

    def _add_routes(self) -> None:
        obj = r"/crm/v3/objects/(?P<type>[^/]+)"
        v4 = r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)"
        v4o = r"/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations"
        x = _Bound(self)  # the handlers in hubspot_extras, bound to this emulator
        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", obj, "objects.list", self._list),
            ("POST", obj, "objects.create", self._create),
            ("POST", obj + "/search", "search", self._search),
            ("POST", obj + "/batch/(?P<op>create|read|update|upsert|archive)", "objects.batch",
             self._batch),
            ("GET", obj + "/(?P<id>[^/]+)", "objects.get", self._get),
            ("PATCH", obj + "/(?P<id>[^/]+)", "objects.update", self._update),
            ("DELETE", obj + "/(?P<id>[^/]+)", "objects.archive", self._archive),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)", "properties", x.properties),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)", "properties.create",
             x.create_property),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)/batch/create", "properties.batch_create",
             x.create_properties),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", "properties.get",
             x.property),
            ("GET", r"/crm(?:-object-schemas)?/v3/schemas", "schemas", x.schemas),
            ("GET", r"/crm(?:-object-schemas)?/v3/schemas/(?P<type>[^/]+)", "schemas.get",
             x.schema),
            ("GET", r"/crm/v3/owners/?", "owners", x.owners),
            ("GET", r"/crm/v3/owners/(?P<id>\d+)", "owners.get", x.owner),
            ("GET", v4o + "/(?P<to>[^/]+)", "associations.list", x.assoc_list),
            ("PUT", v4o + "/default/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.default",
             x.assoc_put_default),
            ("PUT", v4o + "/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.put", x.assoc_put),
            ("DELETE", v4o + "/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.delete",
             x.assoc_delete),
            ("POST", v4 + "/batch/read", "associations.batch_read", x.assoc_batch_read),
            ("POST", v4 + "/batch/create", "associations.batch_create", x.assoc_batch_create),
            ("POST", v4 + "/batch/associate/default", "associations.batch_default",
             x.assoc_batch_default),
            ("POST", v4 + "/batch/archive", "associations.batch_archive",
             x.assoc_batch_archive),
            ("GET", v4 + "/labels", "associations.labels", x.assoc_labels),
            ("GET", r"/files/v3/files/search", "files.search", x.files_search),
            ("POST", r"/files/v3/files", "files.upload", x.files_upload),
            ("GET", r"/files/v3/files/(?P<id>\d+)", "files.get", x.file_get),
            ("DELETE", r"/files/v3/files/(?P<id>\d+)", "files.archive", x.file_archive),
            ("GET", r"/files/v3/files/(?P<id>\d+)/signed-url", "files.signed_url",
             x.file_signed_url),
        ]
        for method, pattern, endpoint, handler in routes:
            self.add_route(method, pattern, endpoint, self._wrap(handler, auth=True))
        # the signed URL carries its own credential and is fetched without the bearer token
        self.add_route("GET", r"/signed-files/(?P<id>\d+)/(?P<name>[^/]+)", "files.download",
                       self._wrap(x.file_download, auth=False, locked=False))

    def _wrap(self, handler: Handler, auth: bool, locked: bool = True) -> Handler:
        """Count the request against the budgets, check the token, run the handler under the
        store lock, turn bad input into HubSpot's 400, and add the rate-limit headers."""

        def run(request: Request) -> Response:
            policy, headers = self._count_request()
            # the SDK percent-encodes path parameters (an email as idProperty value)
            request.params = {k: unquote(v) for k, v in request.params.items()}
            try:
                if policy is not None:
                    response = self._rate_limited(policy, None)
                elif auth and request.headers.get("authorization") != f"Bearer {self._token}":
                    response = self._error(401, "Authentication credentials not found. This API "
                                           "supports OAuth 2.0 authentication and you can find "
                                           "more details at https://developers.hubspot.com/docs"
                                           "/methods/auth/oauth-overview",
                                           "INVALID_AUTHENTICATION")
                elif locked:
                    with self.lock:
                        response = handler(request)
                else:
                    response = handler(request)
            except HTTPError as exc:
                response = exc.response
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                response = self._error(400, f"Invalid input: {exc}", "VALIDATION_ERROR")
            response.headers.update(headers)
            return response

        return run

    def _count_request(self) -> tuple[str | None, dict[str, str]]:
        with self._rate_lock:
            second = int(time.monotonic())  # the secondly window is real time, as HubSpot's
            if second != self._second:
                self._second, self._second_count = second, 0
            day = self.agency.now.date()  # the daily budget resets with the sandbox's day
            if day != self._day:
                self._day, self._day_count = day, 0
            self._second_count += 1
            self._day_count += 1
            headers = {
                "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit
                                                               - self._day_count)),
                "X-HubSpot-RateLimit-Secondly": str(self.secondly_limit),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, self.secondly_limit
                                                                  - self._second_count)),
            }
            if self._second_count > self.secondly_limit:
                return "SECONDLY", headers
            if self._day_count > self.daily_limit:
                return "DAILY", headers
            return None, headers

    def _correlation_id(self) -> str:
        high = (self.agency.seed & (2**64 - 1)) << 64  # deterministic per seed, unique per call
        return str(uuid.UUID(int=high | next(self._correlation)))

    def _error(self, status: int, message: str, category: str, **extra: Any) -> Response:
        body = {"status": "error", "message": message, "correlationId": self._correlation_id(),
                "category": category, **extra}
        return Response.json(body, status=status)

    def _fail(self, status: int, message: str, category: str, **extra: Any) -> HTTPError:
        return HTTPError(self._error(status, message, category, **extra))

    def _rate_limited(self, policy: str, retry_after: float | None) -> Response:
        what = "secondly" if policy == "SECONDLY" else "daily"
        headers = {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
        body = {"status": "error", "message": f"You have reached your {what} limit.",
                "errorType": "RATE_LIMIT", "correlationId": self._correlation_id(),
                "policyName": policy, "groupName": "sandbox-private-app"}
        return Response.json(body, status=429, headers=headers)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """HubSpot's bodies for injected faults. ``Retry-After`` is whole seconds (urllib3
        rejects fractions), so a ``retry_after`` of 0.2 is sent as 1."""
        _, headers = self._count_request()
        if fault.kind == "rate_limit":
            response = self._rate_limited("SECONDLY", fault.retry_after)
        else:
            status = fault.status or 503
            category = "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
            message = ("internal error" if status == 500 else
                       "The service is temporarily unavailable. Please try again later.")
            response = self._error(status, message, category)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(math.ceil(fault.retry_after))
        response.headers.update(headers)
        return response

    def not_found(self, request: Request) -> Response:
        return self._error(404, f"Unable to find resource {request.method} {request.path}",
                           "OBJECT_NOT_FOUND")

    # -- the emulator contract --------------------------------------------------------------

    def advance(self, changes: ChangeSet) -> None:
        with self.lock:
            self.portal.advance(self.agency, changes)
            self._search_cache.clear()

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {"format": 1, "seed": self.agency.seed, "portal": self.portal.dump()}

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.portal = Portal(state["seed"])
            self.portal.load(state["portal"])
            self._search_cache.clear()

    # -- helpers ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return to_ms(self.agency.now)

    def _stamp(self) -> int:
        """A write's timestamp: the sandbox clock, strictly increasing across writes."""
        return self.portal.store.stamp(self._now_ms())

    def _type(self, name: str) -> str:
        resolved = ALIASES.get(name) or ALIASES.get(name.lower())
        if resolved is None:
            raise self._fail(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
        return resolved

    def _body(self, request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise self._fail(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        return body

    def _record(self, tname: str, raw_id: str, id_property: str | None = None,
                archived: bool = False) -> Record:
        ts = self.portal.store.types[tname]
        if id_property and id_property != "hs_object_id":
            rec = ts.find_unique(id_property, raw_id)
        else:
            rec = ts.records.get(int(raw_id)) if raw_id.isdigit() else None
        if rec is None or (rec.archived_at is not None) != archived:
            raise self._fail(404, "resource not found", "OBJECT_NOT_FOUND")
        return rec

    def _prop_names(self, tname: str, requested: list[str]) -> list[str]:
        """The properties a read returns: the type's default set when none are asked for;
        always the id and the created/modified dates."""
        ot = TYPES[tname]
        always = ["hs_object_id", "createdate", "hs_lastmodifieddate"]
        if tname == "contacts":
            always.append("lastmodifieddate")
        defs = self.portal.store.properties[tname]
        wanted = [p for p in requested if p in defs] if requested else list(ot.default_props)
        return list(dict.fromkeys([*wanted, *always]))

    def _obj(self, tname: str, rec: Record, names: list[str],
             assoc: list[str] | None = None) -> dict[str, Any]:
        value = self.portal.store.value
        out: dict[str, Any] = {
            "id": str(rec.id), "properties": {n: value(tname, rec, n) for n in names},
            "createdAt": iso(rec.created), "updatedAt": iso(rec.updated),
            "archived": rec.archived_at is not None,
        }
        if rec.archived_at is not None:
            out["archivedAt"] = iso(rec.archived_at)
        if assoc:
            found: dict[str, Any] = {}
            for to_name in assoc:
                to_type = ALIASES.get(to_name)
                if to_type is None:
                    continue
                results = [{"id": str(tid), "type": self._assoc_name(tname, to_type, t)}
                           for tid, types in self.portal.store.associations(tname, rec.id, to_type)
                           for t in types]
                if results:
                    found[to_name] = {"results": results}
            if found:
                out["associations"] = found
        return out

    def _assoc_name(self, from_type: str, to_type: str, type_id: int) -> str:
        label = assoc_label(from_type, to_type, type_id)
        base = f"{TYPES[from_type].singular}_to_{TYPES[to_type].singular}"
        return base if label is None else f"{base}_{label.lower()}"

    def _spec(self, from_type: str, to_type: str, type_id: int) -> dict[str, Any]:
        label = assoc_label(from_type, to_type, type_id)
        hubspot = DEFAULT_ASSOC.get((from_type, to_type)) == type_id or label is not None
        return {"category": "HUBSPOT_DEFINED" if hubspot else "USER_DEFINED", "typeId": type_id,
                "label": label}

    def _clean(self, tname: str, props: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Validate written properties as HubSpot does: unknown names, enumeration options,
        numbers and dates. Returns the values to store (dates normalised) and the errors."""
        defs = self.portal.store.properties[tname]
        clean: dict[str, str] = {}
        errors: list[dict[str, Any]] = []
        for name, raw in dict(props or {}).items():
            spec = defs.get(name)
            if spec is None:
                errors.append({"code": "PROPERTY_DOESNT_EXIST", "name": name,
                               "message": f'Property "{name}" does not exist'})
                continue
            if name in READ_ONLY:
                continue  # calculated by HubSpot: silently not written
            value = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
            problem = self._invalid(spec, value)
            if problem:
                errors.append({"code": problem[0], "name": name, "message": problem[1]})
                continue
            if value and spec["type"] == "datetime":
                value = iso(to_ms(value))
            elif value and spec["type"] == "date":
                value = iso(to_ms(value))[:10]
            clean[name] = value
        return clean, errors

    @staticmethod
    def _invalid(spec: dict[str, Any], value: str) -> tuple[str, str] | None:
        if not value:
            return None
        kind = spec["type"]
        try:
            if kind == "number":
                float(value)
            elif kind in ("datetime", "date"):
                to_ms(value)
        except ValueError:
            code = "INVALID_DATE" if kind != "number" else "INVALID_DECIMAL"
            return code, f"{value!r} was not a valid {kind} for property {spec['name']}"
        options = {o["value"] for o in spec["options"]}
        if kind == "enumeration" and options:
            bad = [v for v in value.split(";") if v not in options]
            if bad:
                return ("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: "
                        f"{sorted(options)}")
        return None

    def _validation_error(self, tname: str, errors: list[dict[str, Any]]) -> HTTPError:
        detail = [{"isValid": False, "message": e["message"], "error": e["code"],
                   "name": e["name"]} for e in errors]
        return self._fail(400, f"Property values were not valid: {json.dumps(detail)}",
                          "VALIDATION_ERROR")

    def _unique_conflict(self, tname: str, props: dict[str, str],
                         rec: Record | None = None) -> str | None:
        ts = self.portal.store.types[tname]
        for prop in ts.unique:
            value = props.get(prop)
            other = ts.find_unique(prop, value) if value else None
            if other is not None and other is not rec:
                return f"{TYPES[tname].singular} already exists. Existing ID: {other.id}"
        return None

    def _write_new(self, tname: str, props: dict[str, str]) -> Record:
        return self.portal.store.create(tname, props, self._stamp())

    # -- objects: list, get, create, update, archive ----------------------------------------------

    def _list(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        limit = int(request.arg("limit") or 10)
        if not 1 <= limit <= 100:
            raise self._fail(400, "limit must be between 1 and 100", "VALIDATION_ERROR")
        after = request.arg("after") or "0"
        if not after.isdigit():
            raise self._fail(400, f"Invalid after: {after}", "VALIDATION_ERROR")
        archived = (request.arg("archived") or "false").lower() == "true"
        names = self._prop_names(tname, request.args("properties"))
        assoc = request.args("associations")
        page: list[Record] = []
        more = None
        for rec in self.portal.store.types[tname].iter_from(int(after), archived):
            if len(page) == limit:
                more = rec
                break
            page.append(rec)
        body: dict[str, Any] = {"results": [self._obj(tname, r, names, assoc) for r in page]}
        if more is not None:
            body["paging"] = {"next": {"after": str(more.id), "link": (
                f"{self.base_url}{request.path}?after={more.id}")}}
        return Response.json(body)

    def _get(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        archived = (request.arg("archived") or "false").lower() == "true"
        rec = self._record(tname, request.params["id"], request.arg("idProperty"), archived)
        names = self._prop_names(tname, request.args("properties"))
        return Response.json(self._obj(tname, rec, names, request.args("associations")))

    def _create(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        body = self._body(request)
        props, errors = self._clean(tname, body.get("properties"))
        if errors:
            raise self._validation_error(tname, errors)
        conflict = self._unique_conflict(tname, props)
        if conflict:
            raise self._fail(409, conflict, "CONFLICT")
        links = self._inline_associations(tname, body.get("associations") or [])
        rec = self._write_new(tname, props)
        for to_type, to_id, type_id in links:
            self.portal.store.associate(tname, rec.id, to_type, to_id, type_id)
        names = self._prop_names(tname, list(props))
        return Response.json(self._obj(tname, rec, names), status=201)

    def _inline_associations(self, tname: str, specs: list[Any]) -> list[tuple[str, int, int]]:
        """Resolve ``[{"to": {"id"}, "types": [{"associationTypeId"}]}]`` to target types."""
        out = []
        for spec in specs:
            to_id = int(spec["to"]["id"])
            for t in spec.get("types") or []:
                type_id = int(t["associationTypeId"])
                to_type = self._target_type(tname, type_id, to_id)
                out.append((to_type, to_id, type_id))
        return out

    def _target_type(self, tname: str, type_id: int, to_id: int) -> str:
        pair = TYPE_ID_PAIRS.get(type_id)
        candidates = [pair[1]] if pair and pair[0] == tname else []
        candidates += [b for (a, b), labels in LABELLED_ASSOC.items()
                       if a == tname and type_id in labels]
        candidates += list(TYPES)  # ids are unique across types here: find the target by id
        for to_type in candidates:
            rec = self.portal.store.types[to_type].records.get(to_id)
            if rec is not None and rec.archived_at is None:
                return to_type
        raise self._fail(400, f"association type {type_id} to object {to_id} is not valid "
                         f"for {tname}", "VALIDATION_ERROR")

    def _update(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        rec = self._record(tname, request.params["id"], request.arg("idProperty"))
        props, errors = self._clean(tname, self._body(request).get("properties"))
        if errors:
            raise self._validation_error(tname, errors)
        conflict = self._unique_conflict(tname, props, rec)
        if conflict:
            raise self._fail(409, conflict, "CONFLICT")
        self.portal.store.update(tname, rec, props, self._stamp())
        return Response.json(self._obj(tname, rec, self._prop_names(tname, list(props))))

    def _archive(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        rec = self._record(tname, request.params["id"])
        self.portal.store.archive(tname, rec, self._stamp())
        return Response(204)

    # -- batch -------------------------------------------------------------------------------------

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
                outcome = getattr(self, f"_batch_{op}")(tname, item)
                (errors if "status" in outcome else results).append(outcome)
            status = 201 if op == "create" else 200
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(self._now_ms())}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            status = 207
        return Response.json(out, status=status)

    def _standard_error(self, category: str, message: str, context: dict[str, list[str]],
                        details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"status": "error", "category": category, "message": message,
                "context": context, "links": {}, "errors": details or []}

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
            errors.append(self._standard_error(
                "OBJECT_NOT_FOUND", f"Could not get some {TYPES[tname].singular.upper()} objects, "
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

    # -- search ------------------------------------------------------------------------------------

    def _search(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        body = self._body(request)
        limit = int(body.get("limit") or 10)
        if not 1 <= limit <= 200:
            raise self._fail(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= SEARCH_CAP:
            # HubSpot refuses to page past 10,000 results of one query (wording: ours)
            raise self._fail(400, f"Paging past {SEARCH_CAP} results is not supported. Narrow "
                             "the search with filters (for example on hs_object_id or the "
                             "last-modified date) and search again.", "VALIDATION_ERROR")
        now = max(self._now_ms(), self.portal.store.clock)
        lag = self.faults.active("search_lag", self.vendor)
        visible_until = now - int(lag.delay * 1000) if lag is not None else None
        query = {k: body.get(k) for k in ("filterGroups", "sorts", "query")}
        key = (json.dumps(query, sort_keys=True), self.portal.store.version, visible_until)
        cached = self._search_cache.get(tname)
        if cached is not None and cached[0] == key:
            ids = cached[1]
        else:
            try:
                ids = search_ids(self.portal.store, tname, query, visible_until)
            except SearchError as exc:
                raise self._fail(400, str(exc), "VALIDATION_ERROR") from exc
            self._search_cache[tname] = (key, ids)
        names = self._prop_names(tname, list(body.get("properties") or []))
        records = self.portal.store.types[tname].records
        page = [self._obj(tname, records[i], names) for i in ids[after:after + limit]]
        out: dict[str, Any] = {"total": len(ids), "results": page}
        if after + limit < len(ids):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(out)


class _Bound:
    """``x.name`` is ``hubspot_extras.name`` with the emulator as its first argument."""

    def __init__(self, emulator: HubSpotEmulator) -> None:
        self.emulator = emulator

    def __getattr__(self, name: str) -> Handler:
        return functools.partial(getattr(hubspot_extras, name), self.emulator)
