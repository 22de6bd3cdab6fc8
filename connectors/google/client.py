"""The one Google client: credentials, the SDK services over one authorized transport,
calls and paged listings through the shared retry policy, chunked downloads, and the one
mapping from what google-api-python-client and google-auth raise to exporter's errors.

Credentials (:func:`credentials`), first match wins:

- ``service_account_file`` (+ ``delegated_user`` for domain-wide delegation);
- ``authorized_user_file`` (an OAuth client's saved sign-in, with its refresh token);
- ``token`` and/or ``refresh_token`` (+ ``client_id``, ``client_secret``, ``token_uri``).

Error mapping (:func:`source_error`)::

    HttpError 401, RefreshError            -> AuthError      (reconnect the account)
    HttpError 403 insufficient permissions -> AuthError      (grant access)
    HttpError 403 daily/project quota      -> QuotaExhausted (wait for tomorrow)
    HttpError 429, 403 rate limits, 5xx    -> TransientError (retried, Retry-After honoured)
    HttpError 410 (Calendar sync token)    -> CursorExpired  (the caller resyncs)
    other HttpError (400, 404, ...)        -> RequestRefused
    timeouts, dropped or truncated bodies  -> TransientError
    a body that is not a JSON object       -> TransientError (the SDK returns HTML as a str)

The SDK's own retries are off (``num_retries=0``): :class:`exporter.retry.RetryPolicy`
retries, so the quota arithmetic and backoff are the same for every call and every vendor.

Not covered: batch requests (they ignore ``api_endpoint``), shared drives.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import google.auth.exceptions
import google.oauth2.credentials
import google.oauth2.service_account
import google_auth_httplib2
import httplib2
import requests
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import build_http

from exporter.errors import (
    AuthError,
    ConfigError,
    CursorExpired,
    QuotaExhausted,
    RequestRefused,
    SourceError,
    TransientError,
)
from exporter.private_files import read_private
from exporter.retry import RetryPolicy
from exporter.settings import Setting
from exporter.transport import LoopbackHttp

__all__ = ["CREDENTIAL_SETTINGS", "READ_SCOPES", "WRITE_SCOPES", "GoogleClient", "credentials",
           "source_error"]

READ_SCOPES = (
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
)
#: A restore writes spreadsheets only (and finds them through Drive).
WRITE_SCOPES = (
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/spreadsheets",
)
ENDPOINTS = {"drive": "/drive/v3/", "sheets": "/", "calendar": "/calendar/v3/"}
VERSIONS = {"drive": "v3", "sheets": "v4", "calendar": "v3"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError"}
QUOTA_REASONS = {"dailyLimitExceeded", "quotaExceeded", "dailyLimitExceededUnreg"}
PERMISSION_REASONS = {"insufficientPermissions", "forbidden", "appNotAuthorizedToFile",
                      "insufficientFilePermissions", "domainPolicy"}
# OSError covers socket timeouts, refused or reset connections and TLS failures.
TRANSPORT_ERRORS = (httplib2.HttpLib2Error, OSError, http.client.HTTPException,
                    requests.exceptions.RequestException, google.auth.exceptions.TransportError)
OAUTH_REFRESH_URL = "https://oauth2.googleapis.com/token"


#: How to sign in and reach Google: settings of the connector and of the Sheets restore
#: target alike.
CREDENTIAL_SETTINGS: tuple[Setting, ...] = (
    Setting("token", "secret", "An OAuth access token (refreshed with refresh_token when it "
            "expires)", secret=True),
    Setting("refresh_token", "secret", "An OAuth refresh token, with client_id and "
            "client_secret", secret=True),
    Setting("client_id", "string", "The OAuth client id that issued the refresh token"),
    Setting("client_secret", "secret", "The OAuth client's secret", secret=True),
    Setting("token_uri", "string", "Where OAuth tokens are refreshed",
            default=OAUTH_REFRESH_URL),
    Setting("service_account_file", "path", "A service account's JSON key file, readable "
            "only by its owner (chmod 600)"),
    Setting("delegated_user", "string", "With service_account_file: the Workspace user to "
            "act as (domain-wide delegation)"),
    Setting("authorized_user_file", "path", "An OAuth sign-in saved as JSON (with its "
            "refresh token), readable only by its owner (chmod 600)"),
    Setting("base_url", "url", "Where the Google APIs are (e.g. the sandbox's URL); "
            "default: Google itself"),
    Setting("timeout", "number", "Seconds to wait for an answer", default=60, minimum=1),
    Setting("retry_attempts", "integer", "Tries per request when Google is busy or the "
            "connection fails", default=6, minimum=1),
    Setting("retry_base_delay", "number", "Seconds before the first retry; doubles each time",
            default=0.5, minimum=0),
)


# -- errors ---------------------------------------------------------------------------------

def _reason(exc: HttpError) -> str:
    try:
        details = exc.error_details
        if isinstance(details, list) and details and isinstance(details[0], dict):
            return str(details[0].get("reason", ""))
    except (AttributeError, TypeError):
        pass
    return ""


def _retry_after(exc: HttpError) -> float | None:
    try:
        value = exc.resp.get("retry-after")
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None  # an HTTP-date: let the backoff decide


def _http_error(exc: HttpError, what: str) -> SourceError:
    status, reason = exc.resp.status, _reason(exc)
    if status == 401:
        return AuthError("Google refused the saved sign-in (401); reconnect the Google "
                         "account and update the token.")
    if status == 410:
        return CursorExpired(f"{what}: the sync token expired.")
    if status == 429 or status >= 500 or (status == 403 and reason in RATE_REASONS):
        return TransientError(f"{what} answered {status} {reason}".strip(), _retry_after(exc))
    if status == 403 and reason in QUOTA_REASONS:
        return QuotaExhausted("The Google API quota for today is used up; the next "
                              "sync will continue, or raise the quota in Google Cloud.")
    if status == 403 and reason in PERMISSION_REASONS:
        return AuthError(f"{what} was refused: the Google account lacks access; grant it "
                         "(the scopes exporter asks for) and try again.")
    return RequestRefused(f"{what} failed with Google error {status} {reason}".strip()
                          + "; check the settings (ids, calendars, spreadsheets).",
                          status, reason)


def source_error(exc: BaseException, what: str) -> SourceError:
    """The one mapping from SDK and transport exceptions to exporter's errors; anything it
    does not know is re-raised as it is (a bug, not a vendor problem)."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return AuthError("Google refused the saved sign-in (the access token is wrong, expired "
                         "or revoked); reconnect the Google account and update the token.")
    if isinstance(exc, HttpError):
        return _http_error(exc, what)
    if isinstance(exc, TRANSPORT_ERRORS):
        return TransientError(f"{what}: the connection failed or timed out "
                              f"({type(exc).__name__})")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):  # an undecodable body
        return TransientError(f"{what}: Google sent a response that cannot be read")
    raise exc


def raise_mapped(exc: BaseException, what: str) -> NoReturn:
    """Raise :func:`source_error` of ``exc`` with ``exc`` kept as its cause."""
    err = source_error(exc, what)
    if err is exc:
        raise err
    raise err from exc


GOOGLE_FILE_LIMIT = 64 * 1024  # a service-account JSON key is about 2.4 KB

# -- credentials ------------------------------------------------------------------------------

def _private_file(path_text: str, key: str) -> str:
    """The path of a Google key file after checking it is small and private to the user."""
    path = Path(path_text).expanduser()
    read_private(path, f"Google {key}", GOOGLE_FILE_LIMIT, ConfigError)
    return str(path)


def credentials(config: Mapping[str, Any], secrets: Mapping[str, str],
                scopes: tuple[str, ...] = READ_SCOPES) -> Any:
    """google-auth credentials from the settings (see the module docstring)."""
    if config.get("service_account_file"):
        path = _private_file(str(config["service_account_file"]), "service_account_file")
        try:
            creds = google.oauth2.service_account.Credentials.from_service_account_file(
                path, scopes=list(scopes))
        except (ValueError, OSError, google.auth.exceptions.GoogleAuthError) as exc:
            raise ConfigError(f"The Google service account file {path} is not a valid key "
                              "file; download a new JSON key.") from exc
        subject = config.get("delegated_user")
        return creds.with_subject(str(subject)) if subject else creds
    if config.get("authorized_user_file"):
        path = _private_file(str(config["authorized_user_file"]), "authorized_user_file")
        try:
            return google.oauth2.credentials.Credentials.from_authorized_user_file(
                path, scopes=list(scopes))
        except (ValueError, OSError) as exc:
            raise ConfigError(f"The Google authorized user file {path} is not valid; sign in "
                              "again to create it.") from exc
    if not secrets.get("token") and not secrets.get("refresh_token"):
        raise ConfigError("The Google settings need token (or refresh_token with client_id and "
                          "client_secret), service_account_file or authorized_user_file.")
    return google.oauth2.credentials.Credentials(
        token=secrets.get("token"), refresh_token=secrets.get("refresh_token"),
        client_id=config.get("client_id"), client_secret=secrets.get("client_secret"),
        token_uri=config.get("token_uri") or OAUTH_REFRESH_URL, scopes=list(scopes))


# -- the client -------------------------------------------------------------------------------

class GoogleClient:
    """The SDK services over one authorized transport, and calls through one retry policy.
    Counts requests for :meth:`usage`. Used by the streams and by the Sheets restore target."""

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger, policy: RetryPolicy | None = None,
                 scopes: tuple[str, ...] = READ_SCOPES) -> None:
        self.log = log
        self.policy = policy or RetryPolicy(
            attempts=int(config.get("retry_attempts", 6)),
            base_delay=float(config.get("retry_base_delay", 0.5)))
        self.requests = 0
        self.chunk_bytes = int(config.get("download_chunk_bytes", 4 * 1024 * 1024))
        timeout = float(config.get("timeout", 60))
        base = str(config.get("base_url") or "").rstrip("/")
        creds = credentials(config, secrets, scopes)
        transport: Any = (LoopbackHttp(base, timeout=timeout) if base.startswith("http://")
                          else build_http())
        if not base.startswith("http://"):
            transport.timeout = timeout
        self.http = google_auth_httplib2.AuthorizedHttp(creds, http=transport)
        self._services: dict[str, Any] = {}
        self._collections: dict[tuple[str, str], Any] = {}
        self._base = base

    def service(self, name: str) -> Any:
        """The SDK service (built lazily from the discovery documents in the package)."""
        if name not in self._services:
            options = {"api_endpoint": self._base + ENDPOINTS[name]} if self._base else None
            self._services[name] = build(name, VERSIONS[name], http=self.http,
                                         static_discovery=True, client_options=options,
                                         cache_discovery=False)
        return self._services[name]

    def collection(self, name: str, collection: str) -> Any:
        """A service's collection (``drive``, ``files``), made once: the SDK builds every
        method of a collection, with its docstring, each time one is asked for (about 5 ms
        of CPU for Drive's files), which per file downloaded was most of a Google sync's CPU."""
        key = (name, collection)
        if key not in self._collections:
            self._collections[key] = getattr(self.service(name), collection)()
        return self._collections[key]

    def call(self, what: str, request: Any) -> dict[str, Any]:
        """Execute one SDK request with retries; the response must be a JSON object."""
        return self.policy.call(what, partial(self.execute, what, request))

    def execute(self, what: str, request: Any) -> dict[str, Any]:
        """One try of one SDK request, errors mapped. For writes that must look before they
        try again (an append whose answer was lost may have been applied): the caller runs
        its own attempts through :attr:`policy`."""
        self.requests += 1
        try:
            result = request.execute(num_retries=0)  # the shared policy retries, not the SDK
        except Exception as exc:  # mapped in one place; unknown kinds re-raise there
            raise_mapped(exc, what)
        if not isinstance(result, dict):  # the SDK hands back a non-JSON body as a str
            raise TransientError(f"{what}: Google sent a malformed response")
        return result

    def pages(self, what: str, make: Callable[[str | None], Any]
              ) -> Iterator[dict[str, Any]]:
        """Every page of a listing; ``make(page_token)`` builds the request. A repeated page
        token is refused instead of looping forever."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.call(what, make(token))
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise SourceError(f"{what}: Google repeated a page token; try again later.")
            seen.add(token)

    def download(self, what: str, request: Any, media_type: str | None = None
                 ) -> Iterator[bytes]:
        """The body of a media request (``get_media``/``export_media``) in Range chunks
        through the SDK's authorized transport, one chunk in memory; each chunk is checked
        (status, Content-Range, length, and for exports the media type) and retried alone."""
        start, total = 0, None
        while total is None or start < total:
            end = start + self.chunk_bytes - 1
            data, total = self.policy.call(what, partial(self._chunk, what, request, start, end,
                                                         media_type))
            if data:
                yield data
            start += len(data)
            if total is None:  # a plain 200: the whole body came at once
                return

    def _chunk(self, what: str, request: Any, start: int, end: int, media_type: str | None
               ) -> tuple[bytes, int | None]:
        self.requests += 1
        headers = dict(request.headers or {})
        headers["range"] = f"bytes={start}-{end}"
        try:
            resp, content = request.http.request(request.uri, "GET", headers=headers)
        except Exception as exc:  # mapped in one place; unknown kinds re-raise there
            raise_mapped(exc, what)
        if resp.status == 416 and resp.get("content-range", "").endswith("/0"):
            return b"", 0  # an empty file
        if resp.status not in (200, 206):
            raise source_error(HttpError(resp, content, uri=request.uri), what)
        ctype = resp.get("content-type", "")
        if media_type and not ctype.startswith(media_type):
            raise TransientError(f"{what}: Google sent {ctype or 'no type'} instead of "
                                 f"{media_type}")
        length = resp.get("content-length")
        if length is not None and "content-encoding" not in resp and int(length) != len(content):
            raise TransientError(f"{what}: the body was cut short")
        if resp.status == 200:
            return content, None
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", resp.get("content-range", ""))
        if (match is None or int(match.group(1)) != start
                or int(match.group(2)) - start + 1 != len(content)):
            raise TransientError(f"{what}: the chunk does not match the range asked for")
        return content, int(match.group(3))

    def usage(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.policy.retries}
