"""The one Salesforce client, used by reading (the streams) and by restore writes alike.

Every SDK call goes through :meth:`SalesforceClient.call`, which (1) refuses to start when
the daily API usage seen in ``Sforce-Limit-Info`` has reached our share (the quota guard,
``QuotaExhausted``), (2) runs the call under the shared :class:`~exporter.retry.RetryPolicy`
after mapping the SDK's exceptions with :func:`map_error` (the one place they become
exporter's errors, the cause kept), and (3) logs in again once when the session expired and
the SDK gave up (its own re-login is unbounded on some paths, so this one is bounded: one
fresh login per call, then ``AuthError``).

The quota is the org's, not the client's: Salesforce counts every API call of the org in a
rolling 24 hours and reports the count, this call included, on every response
(``Sforce-Limit-Info: api-usage=18/15000``, perhaps followed by ``; per-app-api-usage=...``).
A sync and a restore into the same org therefore read the same counter, and both stop by the
same rule: a call is made only if the usage it brings (``used + 1``) stays within
``api_share_limit`` of the daily limit.

Response headers (``Retry-After``, ``Sforce-Limit-Info``) are read by a ``requests``
response hook on the SDK's session, because the SDK's exceptions do not carry headers and
Bulk 2.0 and file downloads do not update ``sf.api_usage``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
import xml.parsers.expat
from collections.abc import Callable, Generator, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceOperationError,
)

from exporter.errors import (
    AuthError,
    BulkFailed,
    ConfigError,
    QueryTimeout,
    QuotaExhausted,
    RequestRefused,
    SessionExpired,
    SourceError,
    TransientError,
)
from exporter.private_files import read_private
from exporter.redact import redact, remember
from exporter.retry import RetryPolicy
from exporter.settings import Setting
from exporter.transport import LOGIN_HOSTS, LoopbackSession

__all__ = ["CLIENT_SETTINGS", "SalesforceClient", "map_error"]

T = TypeVar("T")
DOWNLOAD_CHUNK = 1 << 20

#: The settings of the client, shared by ``[sources.X]`` and ``[targets.X]`` tables of type
#: salesforce: login (one of the flows in :meth:`SalesforceClient._login_kwargs`), where to
#: reach, the quota share and the request timeout.
CLIENT_SETTINGS: tuple[Setting, ...] = (
    Setting("username", "string", "The Salesforce user exporter logs in as"),
    Setting("password", "secret", "That user's password", secret=True),
    Setting("security_token", "secret", "The user's security token (SOAP and OAuth password "
            "logins)", secret=True),
    Setting("client_id", "string", "The connected app's consumer key (OAuth password, JWT "
            "bearer and client credentials logins)"),
    Setting("client_secret", "secret", "The connected app's consumer secret (OAuth password "
            "and client credentials logins)", secret=True),
    Setting("private_key", "secret", "The connected app's private key, PEM (JWT bearer "
            "login)", secret=True),
    Setting("private_key_file", "path", "A file holding that private key instead (JWT bearer "
            "login); it must be readable by its owner only (0600)"),
    Setting("refresh_token", "secret", "A refresh token from the browser sign-in of 'exporter "
            "setup', with client_id (and client_secret if the connected app requires it); "
            "each run trades it for a session", secret=True),
    Setting("session_id", "secret", "An existing session id, with instance_url (no login; "
            "the session cannot be renewed)", secret=True),
    Setting("instance_url", "string", "The org's instance, e.g. agency.my.salesforce.com "
            "(JWT bearer and session_id logins)"),
    Setting("domain", "string", 'Where to log in: "login", "test" (sandboxes) or '
            '"<mydomain>.my" (client credentials)', default="login"),
    Setting("base_url", "url", "An http URL on this computer (exporter's sandbox or a test "
            "double) that every Salesforce URL is sent to"),
    Setting("api_version", "string", "The Salesforce API version", default="59.0"),
    Setting("api_share_limit", "number", "Stop (resumably) before the org's daily API usage "
            "seen in Sforce-Limit-Info goes over this share of its daily limit",
            default=0.8, minimum=0, maximum=1),
    Setting("timeout", "number", "Seconds to wait for each answer", default=120),
)
_DEFAULTS = {s.name: s.default for s in CLIENT_SETTINGS}


def _error_code(content: Any) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body (a JSON array), or ("", text); the
    message without a secret, should the answer quote the request back."""
    code, message = _code_and_message(content)
    return code, redact(message)


def _code_and_message(content: Any) -> tuple[str, str]:
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or "")
    return "", str(content)[:200]


def map_error(exc: BaseException, what: str, retry_after: float | None,
              resume: str = "the sync goes on tomorrow") -> SourceError:
    """The one place SDK and transport exceptions become exporter's SourceErrors (the
    caller raises the result ``from exc``). ``resume`` says what happens after a used-up
    quota ("the sync goes on tomorrow")."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        code = exc.code
        if isinstance(code, int) and (code == 429 or code >= 500):
            return TransientError(f"the Salesforce login service answered {code}")
        # The SDK's own text, not its class-level `message` template ("{content}").
        why = (getattr(exc, "auth_message", "") or "").strip() or "no reason given"
        return AuthError(f"Salesforce refused the login ({code}: {why}); check the "
                         "username, password and security token (or the connected app's "
                         "client id, secret or key) in the config.")
    if isinstance(exc, SalesforceExpiredSession):
        return SessionExpired("The Salesforce session expired and could not be renewed.")
    if isinstance(exc, SalesforceError):
        return _map_status(exc, what, retry_after, resume)
    if isinstance(exc, SalesforceOperationError):
        return BulkFailed(f"Salesforce's Bulk API failed during {what} ({str(exc)[:200]})")
    if isinstance(exc, requests.Timeout):
        return TransientError("Salesforce did not answer in time")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"the connection to Salesforce failed ({type(exc).__name__})")
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError,
                        xml.parsers.expat.ExpatError)):
        # json decode errors are ValueErrors; missing keys mean a cut or foreign body
        return TransientError(f"Salesforce sent a malformed response ({type(exc).__name__})")
    raise exc


def _map_status(exc: SalesforceError, what: str, retry_after: float | None,
                resume: str) -> SourceError:
    code, message = _error_code(exc.content)
    status = exc.status
    # 403 REQUEST_LIMIT_EXCEEDED is the daily limit; a 429 with the same code is a
    # concurrency limit, over in seconds: retried.
    if code == "REQUEST_LIMIT_EXCEEDED" and status == 403:
        return QuotaExhausted(f"Salesforce says the organisation's daily API limit is used "
                              f"up; {resume}, when the limit resets.")
    if status == 429 or status >= 500:
        return TransientError(f"Salesforce answered {status} {code}".strip(), retry_after)
    if code == "QUERY_TIMEOUT":
        return QueryTimeout(f"Salesforce stopped {what} as running too long; try again "
                            "later.")
    if status == 403:
        return AuthError(f"Salesforce refused {what} ({code}: {message}); the exporter "
                         "user needs 'API Enabled' and access to every object it uses.")
    return RequestRefused(f"Salesforce refused {what} ({status} {code}: {message}); check "
                          "the object and field names in the config or the mapping.",
                          status, code)


def _maybe_applied(err: SourceError, exc: BaseException) -> bool:
    """Whether a call that failed with ``exc`` (mapped to ``err``) may have been applied all
    the same: a 5xx, a cut or malformed answer may; a 429, 401 or 4xx never was."""
    if isinstance(exc, SalesforceError):
        return exc.status >= 500
    return isinstance(err, TransientError)


class _TimedSession(requests.Session):
    """The SDK's session for https: a default timeout on every request (the SDK sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class _TimedLoopbackSession(LoopbackSession):
    """:class:`LoopbackSession` (the one URL rewriter) with a default timeout."""

    def __init__(self, base_url: str, timeout: float, extra_hosts: tuple[str, ...]) -> None:
        super().__init__(base_url, extra_hosts)
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _read_key_file(path: str) -> str:
    """The PEM private key for the JWT flow, after checking it is small and private."""
    data = read_private(Path(path), "Salesforce private key file", 64 * 1024, ConfigError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"The Salesforce private key file {path} is not a PEM key; use "
                          "the server.key file made for the connected app.") from None


_NOT_MODIFIED = object()
COMPOSITE_QUERIES = 5  # query subrequests one Composite call may hold


def _validator(date: str | None) -> str:
    """The ``If-Modified-Since`` to send next time: the server's time of this answer (the
    local clock without one) less a second, so that a change made in the same second as the
    read (HTTP dates have whole seconds) is not taken for unchanged."""
    when = None
    if date:
        try:
            when = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            when = None
    if when is None or when.tzinfo is None:
        when = dt.datetime.now(dt.UTC)
    return email.utils.format_datetime(when.astimezone(dt.UTC) - dt.timedelta(seconds=1),
                                       usegmt=True)


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (Salesforce sends seconds; anything else is ignored)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class SalesforceClient:
    """A logged-in simple-salesforce client with retries, one bounded re-login and the
    daily quota guard. ``resume`` finishes the quota messages: what happens next (a sync
    goes on tomorrow; a restore is run again)."""

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, str],
                 policy: RetryPolicy, log: logging.Logger,
                 resume: str = "the sync goes on tomorrow") -> None:
        self.config = config
        self.secrets = secrets
        self.policy = policy
        self.log = log
        self.resume = resume
        self.version = str(self._get("api_version"))
        self.share = float(self._get("api_share_limit"))
        self.timeout = float(self._get("timeout"))
        self.used: int | None = None  # the org's API calls in the last 24 h, as last seen
        self.total: int | None = None  # the org's daily limit, as last seen
        self.requests = 0
        self._date: str | None = None  # the Date header of the latest answer
        self.logins = 0
        self._retry_after: float | None = None
        self._sf: Salesforce | None = None
        self._refused: AuthError | None = None
        self.session = self._session()
        self.session.hooks["response"].append(self._on_response)

    def _get(self, name: str) -> Any:
        value = self.config.get(name)
        return _DEFAULTS.get(name) if value is None else value

    # -- session and login -------------------------------------------------------------

    def _session(self) -> requests.Session:
        base_url = str(self.config.get("base_url") or "")
        if base_url.startswith("http://"):
            hosts = (*LOGIN_HOSTS, f"{self._get('domain')}.salesforce.com")
            return _TimedLoopbackSession(base_url, self.timeout, hosts)
        return _TimedSession(self.timeout)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests += 1
        self._retry_after = _retry_after(response.headers.get("Retry-After"))
        self._date = response.headers.get("Date")
        info = response.headers.get("Sforce-Limit-Info")
        if info:
            # The SDK's parser reads "api-usage=N/M" with or without a per-app part after it.
            usage = Salesforce.parse_api_usage(info).get("api-usage")
            if usage is not None:
                self.used, self.total = usage.used, usage.total

    def _login_kwargs(self) -> dict[str, Any]:
        """The SDK constructor's arguments for the configured login flow."""
        c, s = self.config, self.secrets
        kw: dict[str, Any] = {"version": self.version, "session": self.session,
                              "domain": str(self._get("domain")),
                              "object_pairs_hook": dict}  # plain dicts: faster than OrderedDict
        username = c.get("username")
        client_id = c.get("client_id")
        key = s.get("private_key")
        if key is None and c.get("private_key_file"):
            key = _read_key_file(str(c["private_key_file"]))
        if "session_id" in s and c.get("instance_url"):
            kw.update(session_id=s["session_id"], instance_url=c["instance_url"])
        elif client_id and "refresh_token" in s:
            pass  # login() trades the refresh token for a session on each attempt
        elif username and client_id and key:
            kw.update(username=username, consumer_key=client_id, privatekey=key)
            if c.get("instance_url"):
                kw["instance_url"] = c["instance_url"]
        elif username and client_id and "client_secret" in s and "password" in s:
            kw.update(username=username, consumer_key=client_id,
                      consumer_secret=s["client_secret"],
                      password=s["password"] + s.get("security_token", ""))
        elif username and "password" in s:
            kw.update(username=username, password=s["password"],
                      security_token=s.get("security_token", ""))
        elif client_id and "client_secret" in s:
            kw.update(consumer_key=client_id, consumer_secret=s["client_secret"])
        else:
            raise ConfigError("Salesforce needs username + password (+ security_token), or "
                              "client_id + client_secret, or username + client_id + "
                              "private_key, or session_id + instance_url, or a browser "
                              "sign-in ('exporter setup'); see the Salesforce settings "
                              "('exporter connectors --settings').")
        return kw

    def _refreshed(self, kw: dict[str, Any]) -> dict[str, Any]:
        """``kw`` with a fresh session from the refresh-token grant (the browser sign-in):
        the token endpoint answers ``access_token`` and the org's ``instance_url``."""
        if "session_id" in kw or "refresh_token" not in self.secrets or \
                not self.config.get("client_id"):
            return kw
        form = {"grant_type": "refresh_token", "refresh_token": self.secrets["refresh_token"],
                "client_id": str(self.config["client_id"])}
        if "client_secret" in self.secrets:
            form["client_secret"] = self.secrets["client_secret"]
        url = f"https://{self._get('domain')}.salesforce.com/services/oauth2/token"
        response = self.session.post(url, data=form, headers={"Accept": "application/json"})
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 429 or response.status_code >= 500 or \
                not isinstance(answer, dict):
            raise TransientError(f"the Salesforce sign-in service answered "
                                 f"{response.status_code}", self._retry_after)
        if response.status_code != 200 or not answer.get("access_token") or \
                not answer.get("instance_url"):
            error = str(answer.get("error") or response.status_code)[:60]
            raise AuthError(f"Salesforce refused the saved browser sign-in ({error}); run "
                            "'exporter setup' again to sign in to Salesforce.")
        return dict(kw, session_id=answer["access_token"], instance_url=answer["instance_url"])

    def login(self) -> Salesforce:
        kwargs = self._login_kwargs()

        def attempt() -> Salesforce:
            try:
                return Salesforce(**self._refreshed(kwargs))
            except Exception as exc:
                err = map_error(exc, "the Salesforce login", self._retry_after, self.resume)
                if err is exc:
                    raise
                raise err from exc

        self._sf = self.policy.call("Logging in to Salesforce", attempt)
        remember(self._sf.session_id)  # a bearer token, never to be shown (exporter.redact)
        self.logins += 1
        return self._sf

    @property
    def sf(self) -> Salesforce:
        return self._sf or self.login()

    # -- the quota guard and calls ----------------------------------------------------------

    def check_share(self) -> None:
        """QuotaExhausted if one more call would take the org's usage past our share."""
        if self.used is None or not self.total:
            return  # not known before the first answer
        if self.used + 1 > self.share * self.total:
            raise QuotaExhausted(
                f"Salesforce API use today is {self.used} of {self.total} calls, the "
                f"{self.share:.0%} share exporter may use (api_share_limit); {self.resume}, "
                "or raise api_share_limit in the config.")

    def call(self, what: str, fn: Callable[[Salesforce], T],
             before_retry: Callable[[], None] | None = None) -> T:
        """``fn(sf)`` with the quota guard, the shared retries and one bounded re-login.
        ``before_retry`` runs before a retry that follows an answer which may have been
        applied (a 5xx, a cut answer): a create looks up what it may have made."""
        if self._refused is not None:
            raise self._refused  # sessions die at once: stop asking (no login storm)
        uncertain = False
        for relogin in (False, True):
            def attempt() -> T:
                nonlocal uncertain
                if uncertain and before_retry is not None:
                    before_retry()
                self.check_share()
                self._retry_after = None
                try:
                    return fn(self.sf)
                except Exception as exc:
                    err = map_error(exc, what, self._retry_after, self.resume)
                    uncertain = _maybe_applied(err, exc)
                    if err is exc:
                        raise
                    raise err from exc
            try:
                return self.policy.call(what, attempt)
            except SessionExpired:
                if relogin:
                    break
                self.log.info("Salesforce session expired during %s; logging in again", what)
                self.login()
        self._refused = AuthError("Salesforce keeps refusing exporter's session right after "
                                  "logging in; check that the user may use the API and is not "
                                  "frozen.")
        raise self._refused

    def rest(self, what: str, path: str, method: str = "GET", body: Any = None,
             before_retry: Callable[[], None] | None = None) -> Any:
        """A REST call (``path`` under ``/services/data/vNN.N/``); its JSON answer."""
        if method == "GET" and body is None:
            return self.call(what, lambda sf: sf.restful(path), before_retry)
        return self.call(what, lambda sf: sf.restful(path, method=method, json=body),
                         before_retry)

    def revalidate(self, what: str, path: str,
                   cached: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, Any] | None]:
        """A describe (``path``) read again only if it changed: with ``cached`` ({"at": an
        HTTP date, "body": the JSON}), the GET carries ``If-Modified-Since`` and a 304 Not
        Modified gives (cached body, None); otherwise (the JSON, the new cache entry)."""
        headers = {"If-Modified-Since": str(cached["at"])} if cached else {}

        def fetch(sf: Salesforce) -> Any:
            try:
                return sf.restful(path, headers=headers)
            except SalesforceError as exc:
                if exc.status == 304 and cached:
                    return _NOT_MODIFIED
                raise

        self._date = None
        body = self.call(what, fetch)
        if body is _NOT_MODIFIED:
            assert cached is not None
            return cached["body"], None
        return body, {"at": _validator(self._date), "body": body}

    def first_pages(self, queries: Mapping[str, str], page_size: int) -> dict[str, Any]:
        """{key: the first page} of several REST queries (live rows), sent 5 to a Composite
        call (one API call each); a query that failed is left out. Later pages: :meth:`more`."""
        keys = list(queries)
        out: dict[str, Any] = {}
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        for at in range(0, len(keys), COMPOSITE_QUERIES):
            chunk = keys[at : at + COMPOSITE_QUERIES]
            body = {"allOrNone": False, "compositeRequest": [
                {"method": "GET", "referenceId": f"q{i}", "httpHeaders": headers,
                 "url": f"/services/data/v{self.version}/query/?" + urlencode(
                     {"q": queries[key]})}
                for i, key in enumerate(chunk)]}
            answer = self.rest("several queries", "composite", "POST", body)
            for item in (answer or {}).get("compositeResponse") or []:
                ref, page = str(item.get("referenceId", "")), item.get("body")
                if (item.get("httpStatusCode") == 200 and ref[1:].isdigit()
                        and int(ref[1:]) < len(chunk) and isinstance(page, Mapping)):
                    out[chunk[int(ref[1:])]] = page
        return out

    def more(self, page: Mapping[str, Any], page_size: int) -> Iterator[Any]:
        """The pages after ``page`` (from :meth:`first_pages` or :meth:`query`)."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        while not page.get("done", True):
            page = self.call("the next page of a Salesforce query",
                             partial(_query_more, url=str(page["nextRecordsUrl"]),
                                     headers=headers))
            yield page

    def query(self, soql: str, page_size: int,
              include_deleted: bool = True) -> Generator[Any, None, None]:
        """Each page (the JSON dict) of a REST query, queryAll by default."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        page = self.call("a query", lambda sf: _checked(
            sf.query(soql, include_deleted=include_deleted, headers=headers)))
        while True:
            yield page
            if page.get("done", True):
                return
            page = self.call("the next page of a Salesforce query",
                             partial(_query_more, url=str(page["nextRecordsUrl"]),
                                     headers=headers))

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a small REST query (live rows only), read in one retried unit."""
        return self.call("a Salesforce query",
                         lambda sf: list(_checked(sf.query_all(soql))["records"]))

    def bulk_query(self, obj: str, soql: str, max_records: int, wait: int,
                   include_deleted: bool = True) -> Iterator[str]:
        """CSV pages of a Bulk API 2.0 queryAll (query without ``include_deleted``). Any
        failure is a :class:`BulkFailed`, as a broken generator cannot be resumed: the caller
        falls back to REST."""
        self.check_share()
        try:
            handler = getattr(self.sf.bulk2, obj)
            run = handler.query_all if include_deleted else handler.query
            yield from run(soql, max_records=max_records, wait=wait)
        except SourceError:
            raise
        except Exception as exc:
            err = map_error(exc, f"the Bulk API query of {obj}", self._retry_after,
                            self.resume)
            if isinstance(err, (QuotaExhausted, AuthError)):
                raise err from exc
            raise BulkFailed(f"{err}") from exc

    # -- files ---------------------------------------------------------------------------

    def download(self, path: str, size: int | None) -> Iterator[bytes]:
        """A file body, streamed in chunks. A connection cut mid-body is retried with a new
        request that skips the bytes already handed on (bodies of a version never change);
        ``size`` (when known) catches bodies that end early."""
        sent = 0
        cuts = 0
        while True:
            response = self.call(f"downloading {path}",
                                 lambda sf: self._get_stream(sf, path, size))
            try:
                skip = sent
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if chunk:
                        sent += len(chunk)
                        yield chunk
                if size is not None and sent != size:
                    raise SourceError(f"Salesforce sent {sent} bytes of {path}, expected {size}; "
                                      "try the sync again later.")
                return
            except requests.RequestException as exc:
                self.log.info("download of %s cut after %d bytes (%s); resuming", path, sent,
                              type(exc).__name__)
                cuts += 1
                self.policy.retries += 1
                if cuts >= self.policy.attempts:
                    raise SourceError(f"Downloading {path} from Salesforce kept failing after "
                                      f"{cuts} tries; try the sync again later.") from exc
                time.sleep(self.policy.base_delay * cuts)
            finally:
                response.close()

    def _get_stream(self, sf: Salesforce, path: str, size: int | None) -> requests.Response:
        url = f"https://{sf.sf_instance}/services/data/v{self.version}/{path}"
        response = self.session.get(url, headers=sf.headers, stream=True)
        if response.status_code == 401:
            response.close()
            raise SessionExpired("The Salesforce session expired.")
        if response.status_code >= 300:
            try:
                content = response.json()
            except ValueError:
                content = response.text
            response.close()
            raise SalesforceGeneralError(response.url, response.status_code, "download",
                                         content)
        length = response.headers.get("Content-Length")
        if size is not None and length is not None and length != str(size):
            response.close()  # an error page in place of the body: retried
            raise ValueError(f"a body of {length} bytes where {size} were expected")
        return response

    def usage(self) -> dict[str, Any]:
        return {"requests": self.requests, "logins": self.logins, "api_used": self.used,
                "api_limit": self.total, "retries": self.policy.retries}

    def close(self) -> None:
        self.session.close()


def _query_more(sf: Salesforce, url: str, headers: dict[str, str]) -> Any:
    return _checked(sf.query_more(url, identifier_is_url=True, headers=headers))


def _checked(page: Any) -> Any:
    """A query page with its required keys, or a malformed-response error (retried)."""
    if not isinstance(page, Mapping) or not isinstance(page.get("records"), list):
        raise ValueError("query page without records")
    if not page.get("done", True) and not page.get("nextRecordsUrl"):
        raise ValueError("query page without nextRecordsUrl")
    return page
