"""The Google sandbox's state and the plumbing every call goes through: the bearer-token
check, Google's JSON error shapes (Drive/Calendar and Sheets), injected 429/403/5xx faults,
page tokens and query arguments, time travel and saved state. The API surfaces
(``drive``, ``sheets``, ``calendar``) build on :class:`WorkspaceAPI`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sandbox.agency import Agency, ChangeSet
from sandbox.credentials import CREDENTIALS
from sandbox.faults import Fault, FaultPlan
from sandbox.google.agency_data import GoogleStore
from sandbox.google.query import apply_mask, parse_fields
from sandbox.http import Emulator, HTTPError, Request, Response

__all__ = ["WorkspaceAPI", "fail", "google_error", "sheets_error"]

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ALREADY_EXISTS", 410: "GONE", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def google_error(status: int, message: str, reason: str, domain: str = "global",
                 location: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """Google's classic error body (Drive, Calendar, and what the SDK's retry logic reads)."""
    item: dict[str, Any] = {"message": message, "domain": domain, "reason": reason}
    if location:
        item["location"] = location
        item["locationType"] = "header" if location == "Authorization" else "parameter"
    body = {"error": {"code": status, "message": message, "errors": [item],
                      "status": STATUS_NAMES.get(status, "UNKNOWN")}}
    return Response.json(body, status=status, headers=headers)


def fail(status: int, message: str, reason: str, **kw: Any) -> HTTPError:
    return HTTPError(google_error(status, message, reason, **kw))


def sheets_error(status: int, message: str) -> HTTPError:
    """The newer shape Sheets v4 uses: no ``errors`` list."""
    return HTTPError(Response.json({"error": {"code": status, "message": message,
                                              "status": STATUS_NAMES.get(status, "UNKNOWN")}},
                                   status=status))


def encode_token(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
    except (ValueError, UnicodeDecodeError):
        return None


def int_arg(req: Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.arg(name)
    try:
        value = default if raw is None or raw == "" else int(raw)
    except ValueError:
        raise fail(400, f"Invalid value '{raw}'. Values must be within the range: "
                        f"[{low}, {high}]", "invalid", location=name) from None
    if not low <= value <= high:
        raise fail(400, f"Invalid value '{raw}'. Values must be within the range: "
                        f"[{low}, {high}]", "invalid", location=name)
    return value


def bool_arg(req: Request, name: str, default: bool = False) -> bool:
    raw = req.arg(name)
    return default if raw is None else raw.lower() == "true"


class WorkspaceAPI(Emulator):
    """The workspace every API surface works on; :class:`GoogleEmulator` adds the routes."""

    vendor = "google"

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(faults)
        self.agency = agency
        self.token = CREDENTIALS["google"]["token"]
        self.issued_tokens: set[str] = set()  # access tokens from the OAuth token endpoint
        self.store = GoogleStore(agency)
        self._uploads: dict[str, dict[str, Any]] = {}  # resumable upload sessions
        self._order: dict[str, tuple[int, list[dict[str, Any]], list[int]]] = {}
        self._ical: dict[str, dict[str, str]] = {}

    def _guard(self, endpoint: str, handler: Callable[[Request], Response]
               ) -> Callable[[Request], Response]:
        """Check the bearer token, decode path parameters, hold the store lock."""
        def run(req: Request) -> Response:
            auth = req.headers.get("authorization", "")
            if auth != f"Bearer {self.token}" and not (
                    auth.startswith("Bearer ") and auth[7:] in self.issued_tokens):
                raise HTTPError(google_error(
                    401, "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                    "authError", location="Authorization"))
            req.params = {k: unquote(v) for k, v in req.params.items()}
            req.params["_endpoint"] = endpoint
            with self.lock:
                return handler(req)
        return run

    # -- framework hooks ----------------------------------------------------------------

    def fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        if fault.kind == "rate_limit" and fault.status == 403:
            return google_error(403, "User Rate Limit Exceeded", "userRateLimitExceeded",
                                domain="usageLimits", headers=headers)
        if fault.kind == "rate_limit":
            return google_error(429, "Rate Limit Exceeded", "rateLimitExceeded",
                                domain="usageLimits", headers=headers)
        status = fault.status or 503
        message = {500: "Internal Error", 502: "Bad Gateway",
                   503: "The service is currently unavailable."}.get(status, "Backend Error")
        return google_error(status, message, "backendError", headers=headers)

    def not_found(self, request: Request) -> Response:
        return google_error(404, f"Not Found: {request.path}", "notFound")

    def advance(self, changes: ChangeSet) -> None:
        with self.lock:
            self.store.advance(changes)
            self._ical.clear()

    def dump_state(self) -> dict[str, Any]:
        """The whole store, JSON-serialisable; a live view: serialise it before the next write."""
        with self.lock:
            return self.store.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        # dump_state() is a live view of the store: copy, so two emulators never share dicts.
        state = json.loads(json.dumps(state))
        with self.lock:
            self.store.load(state)
            self._order.clear()
            self._ical.clear()

    def _mask(self, req: Request, obj: dict[str, Any], default: str | None) -> Response:
        fields = req.arg("fields") or default
        if fields:
            try:
                obj = apply_mask(obj, parse_fields(fields))
            except ValueError as exc:
                raise fail(400, f"Invalid field selection {fields}: {exc}", "invalidParameter",
                           location="fields") from None
        return Response.json(obj)
