"""The emulated org's state and the plumbing every REST call goes through: the session
check, the daily API limit and its ``Sforce-Limit-Info`` header, Salesforce-shaped error and
fault answers, object lookup, request bodies, time travel and saved state. The API
surfaces (``auth``, ``sobjects``, ``query``, ``bulk``) build on :class:`OrgAPI`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sandbox.agency import Agency, ChangeSet
from sandbox.faults import Fault, FaultPlan
from sandbox.http import Emulator, HTTPError, Request, Response, echoed
from sandbox.salesforce.agency_data import advance, populate
from sandbox.salesforce.schema import USER_ID, ObjectDef
from sandbox.salesforce.store import OrgStore
from sandbox.salesforce.writes import Writer

__all__ = ["ORG_ID", "USER_ID", "OrgAPI", "sf_error"]

V = r"/services/data/v(?P<ver>\d+\.\d+)"
ORG_ID = "00DDn0000000001EAA"
Handler = Callable[[Request], Response]
Getter = Callable[[dict[str, Any]], Any]


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None,
             headers: dict[str, str] | None = None) -> HTTPError:
    """Salesforce's REST error: a JSON array of {message, errorCode[, fields]}."""
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return HTTPError(Response.json([body], status=status, headers=headers))


class OrgAPI(Emulator):
    """The org every API surface works on; :class:`SalesforceEmulator` adds the routes."""

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
        #: Objects this user may see listed but not describe, or not query (a profile
        #: without access): Salesforce's 404 NOT_FOUND and 400 INVALID_TYPE answers.
        self.refuse_describe: set[str] = set()
        #: when each object's metadata last changed (If-Modified-Since on describes); the
        #: org's schema predates the sandbox, until relabel() changes it
        self.schema_changed: dict[str, dt.datetime] = {}
        self.labels: dict[str, str] = {}
        #: TODAY() in formulas (Age__c): the agency's date unless set; a new day changes an
        #: age without touching the record's SystemModstamp, as in Salesforce
        self.today: dt.date | None = None
        self.refuse_query: set[str] = set()
        #: Tooling ids (00N...) of custom fields, "Object.Field" -> id, given as asked
        self.field_ids: dict[str, str] = {}

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
        if fault.kind == "echo":
            return Response.json([{"errorCode": "JSON_PARSER_ERROR", "message": echoed(request)}],
                                 fault.status or 400, headers)
        status = fault.status or 503
        if status == 503:
            body = [{"errorCode": "SERVER_UNAVAILABLE",
                     "message": "Server temporarily unavailable. Please try again later."}]
        else:
            body = [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error "
                     "occurred. Please include this ErrorId if you contact support: "
                     "1234567890-12345 (-987654321)"}]
        return Response.json(body, status, headers)

    def _object(self, name: str) -> ObjectDef:
        obj = self.store.objects_lower.get(name.lower())
        if obj is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def _live(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        found = self.store.find(record_id)
        if found is None or found[0] != obj.name:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if found[1]["IsDeleted"]:
            raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return found[1]

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
        if not isinstance(body, dict):
            raise sf_error(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body")
        return body

    # -- time travel and state ----------------------------------------------------------

    def relabel(self, obj: str, label: str) -> None:
        """Change an object's label (a metadata change an admin makes): its describe and
        the object list are modified as of now."""
        self.labels[obj] = label
        self.schema_changed[obj] = dt.datetime.now(dt.UTC)

    def add_object(self, obj: ObjectDef) -> None:
        """A custom object an admin creates (empty): listed by describeGlobal, which is
        modified as of now."""
        with self.lock:
            self.store.objects[obj.name] = obj
            self.store.objects_lower[obj.name.lower()] = obj
            self.store.records[obj.name] = {}
            self.schema_changed[obj.name] = dt.datetime.now(dt.UTC)

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
