"""The HubSpot portal's API state and the plumbing every call goes through: request
budgets and the ``X-HubSpot-RateLimit-*`` headers (429 with ``policyName``), bearer-token
auth, HubSpot-shaped error bodies (``correlationId``, ``category``) and fault answers,
object type names, request bodies, association specs, batch and paged answers, time
travel and saved state. The API surfaces (``objects``, ``batch``, ``search``,
``properties``, ``associations``, ``files``) build on :class:`PortalAPI`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sandbox.agency import Agency, ChangeSet
from sandbox.credentials import CREDENTIALS
from sandbox.faults import Fault, FaultPlan
from sandbox.http import Emulator, HTTPError, Request, Response, echoed
from sandbox.hubspot.agency_data import Portal
from sandbox.hubspot.schema import assoc_label
from sandbox.hubspot.store import iso, to_ms

__all__ = ["PortalAPI", "batch_response", "inputs", "offset_page"]

SEARCH_CAP = 10_000
Handler = Callable[[Request], Response]


class PortalAPI(Emulator):
    """The portal every API surface works on; :class:`HubSpotEmulator` adds the routes."""

    vendor = "hubspot"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        self.agency = agency
        self.portal = Portal(agency.seed)
        self.portal.populate(agency)
        #: Request budgets; HubSpot's are ~19/s and 250k-1M/day: the sandbox is generous.
        self.secondly_limit = 1000
        self.daily_limit = 1_000_000
        #: HubSpot answers batch calls in any order; off by default so that answers are
        #: reproducible, on to check that a client matches results by id, never by position.
        self.shuffle_answers = False
        #: The portal's id (account-info): one per portal; tests set it to stand for another.
        self.portal_id = 40_000_000 + agency.seed
        self._shuffler = random.Random(agency.seed)
        self._rate_lock = threading.Lock()
        self._second = 0
        self._second_count = 0
        self._day: dt.date | None = None
        self._day_count = 0
        self._correlation = itertools.count(1)
        self._search_cache: dict[str, tuple[Any, list[int]]] = {}
        self._signing_key = hashlib.sha256(f"hubspot-signing:{agency.seed}".encode()).digest()
        self._token = CREDENTIALS["hubspot"]["access_token"]
        #: Object types the private app has no scope for (a portal without deals access,
        #: say): every call naming one answers HubSpot's 403 MISSING_SCOPES.
        self.denied_types: set[str] = set()

    def without_property(self, name: str) -> None:
        """Take a property off every object type, as a real portal that never had it (the
        sandbox's ``source_record_id``, which a real portal gets only from a restore)."""
        with self.lock:
            store = self.portal.store
            for tname, defs in store.properties.items():
                defs.pop(name, None)
                store.types[tname].unique.pop(name, None)
                for rec in store.types[tname].records.values():
                    rec.props.pop(name, None)

    def in_any_order(self, answers: list[Any]) -> list[Any]:
        """A batch's results or errors, shuffled when ``shuffle_answers`` is on."""
        if not self.shuffle_answers:
            return answers
        out = list(answers)
        self._shuffler.shuffle(out)
        return out

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
                elif auth and (refusal := self._missing_scope(request)) is not None:
                    response = refusal
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

    def _missing_scope(self, request: Request) -> Response | None:
        """HubSpot's answer to a call on an object type the token has no scope for."""
        named = [request.params.get(k) for k in ("type", "from", "to")]
        aliases, kinds = self.portal.store.aliases, self.portal.store.object_types
        types = {aliases.get(n) or aliases.get(n.lower()) for n in named if n}
        denied = sorted(t for t in types if t in self.denied_types)
        if not denied:
            return None
        reading = request.method == "GET" or request.path.endswith(("/search", "/batch/read"))
        scopes = [f"crm.objects.{'custom' if kinds[t].type_id.startswith('2-') else t}."
                  f"{'read' if reading else 'write'}" for t in denied]
        return self._error(
            403, "This app hasn't been granted all required scopes to make this call. Read "
            "more about required scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            errors=[{"message": "One or more of the following scopes are required.",
                     "context": {"requiredGranularScopes": scopes}}],
            links={"scopes": "https://developers.hubspot.com/scopes"})

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
        elif fault.kind == "echo":
            response = self._error(fault.status or 400, echoed(request), "VALIDATION_ERROR")
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

    def _now_ms(self) -> int:
        return to_ms(self.agency.now)

    def _stamp(self) -> int:
        """A write's timestamp: the sandbox clock, strictly increasing across writes."""
        return self.portal.store.stamp(self._now_ms())

    def _type(self, name: str) -> str:
        """The object type a path names. A custom object is named by its ``objectTypeId``
        or fully qualified name (``p_<name>``, ``p<portal>_<name>``): HubSpot refuses its
        plain name in object, batch, search, properties and association paths."""
        aliases = self.portal.store.aliases
        resolved = aliases.get(name) or aliases.get(name.lower())
        if resolved is not None and name.lower() == resolved.lower() \
                and self.portal.store.object_types[resolved].type_id.startswith("2-"):
            resolved = None
        if resolved is None:
            raise self._fail(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
        return resolved

    def _body(self, request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise self._fail(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        return body

    def _assoc_name(self, from_type: str, to_type: str, type_id: int) -> str:
        label = assoc_label(from_type, to_type, type_id, self.portal.store.labels)
        kinds = self.portal.store.object_types
        base = f"{kinds[from_type].singular}_to_{kinds[to_type].singular}"
        return base if label is None else f"{base}_{label.lower()}"

    def _spec(self, from_type: str, to_type: str, type_id: int) -> dict[str, Any]:
        label = assoc_label(from_type, to_type, type_id, self.portal.store.labels)
        user = type_id in self.portal.store.labels.get((from_type, to_type), {})
        return {"category": "USER_DEFINED" if user else "HUBSPOT_DEFINED", "typeId": type_id,
                "label": label}

    def _standard_error(self, category: str, message: str, context: dict[str, list[str]],
                        details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"status": "error", "category": category, "message": message,
                "context": context, "links": {}, "errors": details or []}


def offset_page(items: list[Any], after: int, limit: int, link: str,
                shape: Callable[[Any], Any] | None = None) -> Response:
    """One page of a listing paged by offset, with HubSpot's ``paging.next``."""
    page = items[after : after + limit]
    body: dict[str, Any] = {"results": [shape(x) for x in page] if shape else page}
    if after + limit < len(items):
        body["paging"] = {"next": {"after": str(after + limit),
                                   "link": f"{link}?after={after + limit}"}}
    return Response.json(body)


def inputs(em: PortalAPI, request: Request) -> list[dict[str, Any]]:
    inputs = em._body(request).get("inputs")
    if not isinstance(inputs, list):
        raise em._fail(400, "inputs is required", "VALIDATION_ERROR")
    if len(inputs) > 1000:  # v4 association batches take up to 1,000 inputs
        raise em._fail(
            400, "Batch input array size must be less than or equal to 1000", "VALIDATION_ERROR"
        )
    return inputs


def batch_response(
    em: PortalAPI, results: list[Any], errors: list[Any], status: int
) -> Response:
    now = iso(em._now_ms())
    results, errors = em.in_any_order(results), em.in_any_order(errors)
    out: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    }
    if errors:
        out.update(numErrors=len(errors), errors=errors)
        status = 207
    return Response.json(out, status=status)
