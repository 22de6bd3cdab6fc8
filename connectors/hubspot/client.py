"""The one HubSpot client, used by reading (the connector's streams) and by restore writes
(the writer) alike: the private-app token, the quota guard, retries and the one error
mapping, over hubspot-api-client.

Quota (:class:`Quota`): HubSpot reports a portal's budgets on every response, errors
included, in ``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining`` and ``-Secondly`` /
``-Secondly-Remaining`` (headers matched without regard to case, whole numbers only). The
daily counter is the portal's, not the client's: a restore after a sync continues from what
the sync consumed. Before each call:

- fewer than ``daily_reserve`` calls left for today -> :class:`QuotaExhausted` (the run
  stops, resumably), so the agency's other integrations keep their share;
- at most one call left in the current second -> wait out the rest of that second instead
  of spending a try on HubSpot's 429.

Retries: the SDK's own urllib3 retries are off (``Retry(total=0)``, ``Retry-After`` not
honoured there); the shared :class:`~exporter.retry.RetryPolicy` retries
:class:`TransientError` (429 with its ``Retry-After`` in seconds, 5xx, timeouts, dropped
connections, a body the SDK cannot read) on every method, POST included.

Error mapping (:func:`source_error`), the one place SDK and transport exceptions become
exporter's, each raised ``from`` its cause::

    ApiException 401, 403                   -> AuthError      (new private-app token / scopes)
    ApiException 429 policyName DAILY       -> QuotaExhausted (wait for tomorrow)
    ApiException 429 (secondly), 5xx, 0     -> TransientError (retried, Retry-After honoured)
    other ApiException (400, 404, 409, ...) -> RequestRefused (status and HubSpot's category)
    timeouts, refused or dropped, cut short -> TransientError (urllib3 MaxRetryError, ...)
    a body the SDK cannot validate          -> TransientError (malformed: retried, then fails)

Where the two clients this one replaces disagreed, it does what HubSpot documents: the
daily 429 is told by its ``policyName`` field (not by the word DAILY anywhere in the
body); ``Retry-After`` is a number of seconds (anything else leaves the wait to the
backoff); the headers are read on error responses too; the daily reserve and the pacing
apply to reads and writes alike.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import hubspot
import requests
import urllib3
from urllib3.util.retry import Retry

from exporter.errors import (
    AuthError,
    ConfigError,
    QuotaExhausted,
    RequestRefused,
    SourceError,
    TransientError,
)
from exporter.redact import redact
from exporter.retry import RetryPolicy
from exporter.settings import Setting
from exporter.transport import LoopbackSession

__all__ = ["BASE_URL", "DAILY_RESERVE", "READING", "TIMEOUT", "WRITING", "HubSpotClient",
           "Purpose", "Quota", "source_error"]

DEFAULT_URL = "https://api.hubapi.com"
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, socket.timeout, TimeoutError, ConnectionError,
                    http.client.HTTPException, requests.exceptions.RequestException)
RENEW_ADVICE = ("create a new private-app access token in HubSpot (Settings > Integrations > "
                "Private Apps) and update the hubspot access_token in exporter's settings")

#: Settings of the client, shared by the connector's and the writer's tables.
BASE_URL = Setting("base_url", "url", "HubSpot's API address (another one for the "
                   "sandbox)", default=DEFAULT_URL)
TIMEOUT = Setting("timeout", "number", "Seconds to wait for HubSpot to answer one call",
                  default=60, minimum=1)
DAILY_RESERVE = Setting("daily_reserve", "integer", "Stop (to resume later) when fewer of "
                        "the portal's daily API calls are left, keeping them for other tools",
                        default=1000, minimum=0)


@dataclass(frozen=True)
class Purpose:
    """What a client is for, as its messages say it: the config table that holds its token,
    the scopes to grant, and what happens after a quota stop."""

    who: str
    scopes: str
    resume: str


READING = Purpose("source", "read scopes it needs (CRM objects, owners, files)",
                  "the next sync will continue where this one stopped")
WRITING = Purpose("restore target", "write scopes it needs (CRM objects, properties, "
                  "associations, files)", "run the restore again tomorrow: it continues "
                  "where this one stopped")

_HEADERS = (("daily_limit", "X-HubSpot-RateLimit-Daily"),
            ("daily_remaining", "X-HubSpot-RateLimit-Daily-Remaining"),
            ("secondly_limit", "X-HubSpot-RateLimit-Secondly"),
            ("secondly_remaining", "X-HubSpot-RateLimit-Secondly-Remaining"))


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict keeps the sender's case
        lower = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lower), None)
    return None if value is None else str(value).strip()


class Quota:
    """The portal's API budgets as HubSpot last reported them (None: not reported yet)."""

    def __init__(self, daily_reserve: int) -> None:
        self.daily_reserve = daily_reserve
        self.daily_limit: int | None = None
        self.daily_remaining: int | None = None
        self.secondly_limit: int | None = None
        self.secondly_remaining: int | None = None
        self._secondly_at = 0.0  # monotonic time the secondly figure was read

    def note(self, headers: Any) -> None:
        """Read the rate-limit headers of a response (success or error)."""
        if not headers:
            return
        for attr, name in _HEADERS:
            text = _header(headers, name)
            if text is not None and text.isdigit():
                setattr(self, attr, int(text))
                if attr == "secondly_remaining":
                    self._secondly_at = time.monotonic()

    def check(self, purpose: Purpose) -> None:
        """QuotaExhausted when fewer than ``daily_reserve`` calls are left for today."""
        left = self.daily_remaining
        if left is not None and left < self.daily_reserve:
            raise QuotaExhausted(
                f"Only {left} HubSpot API calls are left for today, under the reserve of "
                f"{self.daily_reserve} kept for the agency's other tools; {purpose.resume}.")

    def pace(self) -> None:
        """Wait out the rest of the second when HubSpot said at most one call is left in it:
        cheaper than a 429 and its retry."""
        if self.secondly_remaining is None or self.secondly_remaining > 1:
            return
        wait = 1.0 - (time.monotonic() - self._secondly_at)
        if wait > 0:
            time.sleep(wait)


def _body(exc: Any) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Any) -> float | None:
    try:
        value = _header(headers, "Retry-After") if headers is not None else None
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None  # an HTTP-date: let the backoff decide


def _is_api_exception(exc: BaseException) -> bool:
    # every sub-package of the SDK has its own ApiException class: match on shape and origin
    return (type(exc).__module__.startswith("hubspot.")
            and isinstance(getattr(exc, "status", None), int))


def _api_error(exc: Any, what: str, purpose: Purpose) -> SourceError:
    status: int = exc.status
    body = _body(exc)
    # HubSpot's words, without a secret should the answer quote the request back
    message = redact(str(body.get("message") or getattr(exc, "reason", "") or "").strip())
    if status == 401:
        return AuthError(f"HubSpot refused the access token (401); {RENEW_ADVICE}.")
    if status == 403:
        return AuthError(f"{what} was refused (403: {message}); give the private app the "
                         f"{purpose.scopes} and try again.")
    if status == 429 and body.get("policyName") == "DAILY":
        return QuotaExhausted(f"The HubSpot API limit for today is used up; {purpose.resume}.")
    if status == 429 or status >= 500 or status == 0:
        return TransientError(f"{what} answered {status} {message}".strip(),
                              _retry_after(getattr(exc, "headers", None)))
    return RequestRefused(f"{what} failed: HubSpot answered {status} ({message}).", status,
                          str(body.get("category") or ""))


def source_error(exc: BaseException, what: str, purpose: Purpose = READING) -> SourceError:
    """The one mapping from SDK and transport exceptions to exporter's errors (raise it
    ``from exc``)."""
    if isinstance(exc, SourceError):
        return exc
    if _is_api_exception(exc):
        return _api_error(exc, what, purpose)
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return source_error(exc.reason or urllib3.exceptions.HTTPError(str(exc)), what, purpose)
    if isinstance(exc, urllib3.exceptions.TimeoutError | socket.timeout | TimeoutError):
        return TransientError(f"{what} timed out")
    if isinstance(exc, TRANSPORT_ERRORS):
        return TransientError(f"{what}: the connection failed or was cut short "
                              f"({type(exc).__name__})")
    if isinstance(exc, ValueError | TypeError | KeyError):
        # client-side validation of a body that is not what HubSpot sends (HTML, cut JSON)
        return TransientError(f"{what}: HubSpot sent a malformed response")
    return SourceError(f"{what} failed unexpectedly ({type(exc).__name__}).")


class HubSpotClient:
    """One portal, one token: the SDK's API objects (each built once: every SDK property
    access builds a new connection pool), :meth:`call` for models, :meth:`call_json` for raw
    JSON, signed file downloads, and the :class:`Quota` they all respect."""

    def __init__(self, token: str, *, purpose: Purpose = READING, base_url: str = DEFAULT_URL,
                 timeout: float = 60.0, daily_reserve: int = 1000,
                 policy: RetryPolicy | None = None, log: logging.Logger | None = None) -> None:
        self.purpose = purpose
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.quota = Quota(daily_reserve)
        self.policy = policy or RetryPolicy()
        self.log = log or logging.getLogger("exporter.connectors.hubspot")
        # no urllib3 retries: not on 429 with Retry-After, not on read errors (the policy does)
        retry = Retry(total=0, read=0, connect=0, status=0, redirect=0,
                      respect_retry_after_header=False, raise_on_status=False)
        self.sdk = hubspot.Client.create(access_token=token, host=self.base_url, retry=retry,
                                         client_side_validation=True)
        self.requests = 0
        self._session: requests.Session | None = None

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], secrets: Mapping[str, str],
                      purpose: Purpose, policy: RetryPolicy,
                      log: logging.Logger | None = None) -> HubSpotClient:
        """A client for a ``[sources.X]`` or ``[targets.X]`` table (its checked settings)."""
        token = secrets.get("access_token")
        if not token:
            raise ConfigError(f"The HubSpot {purpose.who} has no access_token; {RENEW_ADVICE}.")
        return cls(token, purpose=purpose, base_url=str(config.get("base_url") or DEFAULT_URL),
                   timeout=float(config.get("timeout", 60)),
                   daily_reserve=int(config.get("daily_reserve", 1000)), policy=policy, log=log)

    # -- the SDK's API objects ---------------------------------------------------------------

    @cached_property
    def objects(self) -> Any:
        return self.sdk.crm.objects.basic_api

    @cached_property
    def objects_batch(self) -> Any:
        return self.sdk.crm.objects.batch_api

    @cached_property
    def search(self) -> Any:
        return self.sdk.crm.objects.search_api

    @cached_property
    def properties(self) -> Any:
        return self.sdk.crm.properties.core_api

    @cached_property
    def properties_batch(self) -> Any:
        return self.sdk.crm.properties.batch_api

    @cached_property
    def schemas(self) -> Any:
        return self.sdk.crm.schemas.core_api

    @cached_property
    def owners(self) -> Any:
        return self.sdk.crm.owners.owners_api

    @cached_property
    def assoc_batch(self) -> Any:
        return self.sdk.crm.associations.v4.batch_api

    @cached_property
    def assoc_basic(self) -> Any:
        return self.sdk.crm.associations.v4.basic_api

    @cached_property
    def files(self) -> Any:
        return self.sdk.files.files_api

    # -- calls -------------------------------------------------------------------------------

    def api_request(self, method: str, path: str) -> requests.Response:
        """The SDK's generic request (an API it has no class for), one try. The SDK prints
        a failed connection to stdout ("HTTP error occurred: ..."): that goes to the log,
        never between exporter's own lines on the office manager's screen."""
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                return self.sdk.api_request({"method": method, "path": path,
                                             "base_url": self.base_url})
        finally:
            if printed.getvalue().strip():
                self.log.info("HubSpot SDK: %s", printed.getvalue().strip())

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` (an SDK ``*_with_http_info`` method) through the retry policy; returns the
        response model."""

        def once() -> Any:
            data, _status, headers = self._send(what, fn, args, kwargs)
            self.quota.note(headers)
            if data is None:  # a status the SDK's response map lacks
                raise TransientError(f"{what}: HubSpot sent an unexpected response")
            return data

        return self.policy.call(what, once)

    def call_json(self, what: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = False,
                  **kwargs: Any) -> Any:
        """``fn`` (a plain SDK method) returning the raw response, which skips building a
        model per record; returns the decoded JSON body (None: no body, or a 404 when
        ``missing_ok``)."""

        def once() -> Any:
            try:
                response = self._send(what, fn, args, {**kwargs, "_preload_content": False})
            except RequestRefused as exc:
                if missing_ok and exc.status == 404:
                    return None
                raise
            self.quota.note(response.headers)
            try:
                body = response.data  # read only now: a cut body fails here, not in the SDK
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                raise TransientError(f"{what}: HubSpot's answer was cut off") from exc
            if not body and getattr(response, "status", 200) != 204:
                # Only "204 No Content" answers with nothing; an empty 200 is a cut answer,
                # never "no results" (read as that, it marked live associations deleted).
                raise TransientError(f"{what}: HubSpot sent an empty answer")
            return _decode(body, what)

        return self.policy.call(what, once)

    def _send(self, what: str, fn: Callable[..., Any], args: tuple[Any, ...],
              kwargs: Mapping[str, Any]) -> Any:
        self.quota.check(self.purpose)
        self.quota.pace()
        self.requests += 1
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except Exception as exc:  # one mapping for everything the SDK raises
            self.quota.note(getattr(exc, "headers", None))
            raise source_error(exc, what, self.purpose) from exc

    # -- signed file URLs --------------------------------------------------------------------

    def session(self) -> requests.Session:
        """For signed file URLs (no bearer token: the URL carries its own signature)."""
        if self._session is None:
            self._session = (LoopbackSession(self.base_url, extra_hosts=())
                             if self.base_url.startswith("http://") else requests.Session())
        return self._session

    def fetch_signed(self, url: str, what: str) -> requests.Response:
        """The streamed response of a signed file URL (200 only; the caller closes it)."""
        try:
            response = self.session().get(url, stream=True, timeout=self.timeout)
        except Exception as exc:
            raise source_error(exc, what, self.purpose) from exc
        self.quota.note(response.headers)
        if response.status_code != 200:
            response.close()
            status = response.status_code
            if status == 429 or status >= 500:
                raise TransientError(f"{what} answered {status}")
            raise RequestRefused(f"{what} failed: the file server answered {status}; the next "
                                 "try will ask for a new link.", status)
        return response

    # -- the rest ----------------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        """Calls made, retries, and the daily budget as HubSpot last reported it."""
        return {"requests": self.requests, "retries": self.policy.retries,
                "daily_remaining": self.quota.daily_remaining,
                "daily_limit": self.quota.daily_limit}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _decode(body: bytes | None, what: str) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise TransientError(f"{what}: HubSpot sent a malformed response") from exc
