"""The HubSpot connector's client side: the SDK client, the one error mapping, calls through
the shared retry policy with the rate-limit headers read, and models turned into JSON.

Error mapping (:func:`source_error`), from what hubspot-api-client and urllib3 raise::

    ApiException 401, 403                  -> AuthError      (new private-app token / scopes)
    ApiException 429 policyName DAILY      -> QuotaExhausted (wait for tomorrow)
    ApiException 429 (secondly), 5xx, 0    -> TransientError (retried, Retry-After honoured)
    other ApiException (400, 404, ...)     -> SourceError
    timeouts, refused or dropped, cut short -> TransientError (urllib3 MaxRetryError, ...)
    a body the SDK cannot validate         -> TransientError (malformed: retried, then fails)

The SDK's own urllib3 retries are switched off (``Retry(total=0)`` without honouring
``Retry-After``): the shared :class:`~exporter.retry.RetryPolicy` is the one place retries
happen. The daily budget is read from ``X-HubSpot-RateLimit-Daily-Remaining`` after every
call; below ``daily_reserve`` the next call raises :class:`QuotaExhausted` instead of
spending what the agency's other integrations need.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

import hubspot
import requests
import urllib3
from urllib3.util.retry import Retry

from exporter.errors import AuthError, ConfigError, QuotaExhausted, SourceError, TransientError
from exporter.retry import RetryPolicy
from exporter.transport import LoopbackSession

__all__ = ["HubSpotApi", "iso", "parse_ms", "source_error", "to_json"]

TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, socket.timeout, TimeoutError, ConnectionError,
                    http.client.HTTPException, requests.exceptions.RequestException)
RENEW_ADVICE = ("create a new private-app access token in HubSpot (Settings > Integrations > "
             "Private Apps) and update the hubspot access_token in exporter's settings")


def iso(value: dt.datetime) -> str:
    """A datetime as HubSpot writes it: ``2024-01-01T00:00:00.000Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def parse_ms(text: str) -> int:
    """Epoch millis of a HubSpot ISO timestamp (or of a millis string)."""
    if text.isdigit():
        return int(text)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def ms_iso(ms: int) -> str:
    return iso(dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms))


def to_json(value: Any) -> Any:
    """An SDK model as the JSON HubSpot sent: wire names (``createdAt``), datetimes in
    HubSpot's ISO form, optional fields the response left out stay out (None at the top of
    a model); values inside ``properties`` are kept as sent, nulls included."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    names = getattr(value, "attribute_map", None)
    if names is None:
        return str(value)
    out = {}
    for attr, wire in names.items():
        item = getattr(value, attr)
        if item is not None:
            out[wire] = to_json(item)
    return out


def _body(exc: Any) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None  # an HTTP-date: let the backoff decide


def _is_api_exception(exc: BaseException) -> bool:
    # every sub-package of the SDK has its own ApiException class: match on shape and origin
    return (type(exc).__module__.startswith("hubspot.")
            and isinstance(getattr(exc, "status", None), int))


def source_error(exc: BaseException, what: str) -> SourceError:
    """The one mapping from SDK and transport exceptions to exporter's errors."""
    if isinstance(exc, SourceError):
        return exc
    if _is_api_exception(exc):
        status: int = exc.status  # type: ignore[attr-defined]
        body = _body(exc)
        message = str(body.get("message") or getattr(exc, "reason", "") or "").strip()
        if status == 401:
            return AuthError(f"HubSpot refused the access token (401); {RENEW_ADVICE}.")
        if status == 403:
            return AuthError(f"{what} was refused (403: {message}); give the private app the "
                             "read scopes it needs (CRM objects, owners, files) and try again.")
        if status == 429 and body.get("policyName") == "DAILY":
            return QuotaExhausted("The HubSpot API limit for today is used up; the next sync "
                                  "will continue where this one stopped.")
        if status == 429 or status >= 500 or status == 0:
            return TransientError(f"{what} answered {status} {message}".strip(),
                                  _retry_after(getattr(exc, "headers", None)))
        return SourceError(f"{what} failed: HubSpot answered {status} ({message}).")
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return source_error(exc.reason or urllib3.exceptions.HTTPError(str(exc)), what)
    if isinstance(exc, urllib3.exceptions.TimeoutError | socket.timeout | TimeoutError):
        return TransientError(f"{what} timed out")
    if isinstance(exc, TRANSPORT_ERRORS):
        return TransientError(f"{what}: the connection failed or was cut short "
                              f"({type(exc).__name__})")
    if isinstance(exc, ValueError | TypeError | KeyError):
        # client-side validation of a body that is not what HubSpot sends (HTML, cut JSON)
        return TransientError(f"{what}: HubSpot sent a malformed response")
    return SourceError(f"{what} failed unexpectedly ({type(exc).__name__}).")


class HubSpotApi:
    """The SDK client, its API objects (built once: each SDK property access builds a new
    connection pool), and :meth:`call`."""

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger) -> None:
        token = secrets.get("access_token")
        if not token:
            raise ConfigError(f"The HubSpot source has no access_token; {RENEW_ADVICE}.")
        self.log = log
        self.base_url = str(config.get("base_url") or "https://api.hubapi.com").rstrip("/")
        self.timeout = float(config.get("timeout", 60))
        self.daily_reserve = int(config.get("daily_reserve", 1000))
        self.policy = RetryPolicy(attempts=int(config.get("retry_attempts", 6)),
                                  base_delay=float(config.get("retry_base_delay", 0.5)))
        # no urllib3 retries: not on 429 with Retry-After, not on read errors (the policy does)
        retry = Retry(total=0, read=0, connect=0, status=0, redirect=0,
                      respect_retry_after_header=False, raise_on_status=False)
        self.client = hubspot.Client.create(access_token=token, host=self.base_url,
                                            retry=retry, client_side_validation=True)
        crm = self.client.crm
        self.objects = crm.objects.basic_api
        self.search = crm.objects.search_api
        self.properties = crm.properties.core_api
        self.schemas = crm.schemas.core_api
        self.owners = crm.owners.owners_api
        self.assoc_batch = crm.associations.v4.batch_api
        self.assoc_basic = crm.associations.v4.basic_api
        self.files = self.client.files.files_api
        self.requests = 0
        self.daily_remaining: int | None = None
        self.daily_limit: int | None = None
        self.secondly_remaining: int | None = None
        self._session: requests.Session | None = None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` (an SDK ``*_with_http_info`` method) through the retry policy; returns the
        response model, after reading the rate-limit headers."""

        def once() -> Any:
            self._check_reserve()
            self.requests += 1
            try:
                data, _status, headers = fn(*args, _request_timeout=self.timeout, **kwargs)
            except Exception as exc:  # one mapping for everything the SDK raises
                self._note_headers(getattr(exc, "headers", None))
                raise source_error(exc, what) from None
            self._note_headers(headers)
            if data is None:  # a status the SDK's response map lacks
                raise TransientError(f"{what}: HubSpot sent an unexpected response")
            return data

        return self.policy.call(what, once)

    def _check_reserve(self) -> None:
        if self.daily_remaining is not None and self.daily_remaining < self.daily_reserve:
            raise QuotaExhausted(
                f"Only {self.daily_remaining} HubSpot API calls are left for today, under the "
                f"reserve of {self.daily_reserve} kept for the agency's other tools; the next "
                "sync will continue where this one stopped.")

    def _note_headers(self, headers: Any) -> None:
        if not headers:
            return
        for attr, name in (("daily_remaining", "X-HubSpot-RateLimit-Daily-Remaining"),
                           ("daily_limit", "X-HubSpot-RateLimit-Daily"),
                           ("secondly_remaining", "X-HubSpot-RateLimit-Secondly-Remaining")):
            value = headers.get(name)
            if value is not None and str(value).isdigit():
                setattr(self, attr, int(value))

    def session(self) -> requests.Session:
        """For signed file URLs (no bearer token: the URL carries its own signature)."""
        if self._session is None:
            self._session = (LoopbackSession(self.base_url, extra_hosts=())
                             if self.base_url.startswith("http://") else requests.Session())
        return self._session

    def usage(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.policy.retries,
                "daily_remaining": self.daily_remaining, "daily_limit": self.daily_limit}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
