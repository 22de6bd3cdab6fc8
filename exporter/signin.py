"""Sign in with the browser: the OAuth 2.0 authorization code grant with PKCE (RFC 7636,
S256) on a loopback redirect (RFC 8252 §7.3), as ``sf org login web`` and ``gcloud auth
login`` do. Nobody copies a security token or a service-account key by hand.

1. A one-use listener starts on ``http://127.0.0.1:<random port>/`` (loopback only).
2. The browser opens the vendor's authorize page with ``client_id``, that ``redirect_uri``,
   a random ``state`` and ``code_challenge = BASE64URL(SHA256(code_verifier))``.
3. The person signs in and allows; the vendor redirects the browser to the listener with
   ``code`` and ``state``. A wrong ``state`` (another page's redirect) is refused.
4. The code is exchanged at the token endpoint with the ``code_verifier``, which never left
   this process: a code seen by anyone else is useless to them.

What is kept is the refresh token (a secret: stored like any other, never logged); each
nightly run trades it for a short-lived access token (the connectors' refresh-token login).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from exporter.errors import SignInFailed

__all__ = ["Provider", "Tokens", "exchange_code", "pkce_pair", "sign_in"]

log = logging.getLogger("exporter.signin")

SIGN_IN_TIMEOUT = 300.0  # seconds the person has to sign in
_DONE_PAGE = (b"<!doctype html><meta charset=utf-8><title>exporter</title><p>Signed in. You "
              b"can close this tab and go back to exporter.</p>")


@dataclass(frozen=True)
class Provider:
    """A vendor's authorization server: where to send the browser and where to trade the
    code. ``extra`` are vendor parameters (Google: ``access_type=offline``)."""

    name: str
    authorize_url: str
    token_url: str
    scope: str
    extra: dict[str, str] = field(default_factory=dict)
    #: 0: any free port (RFC 8252; Google). Salesforce compares the redirect with the
    #: connected app's callback URL, port included: a fixed one, registered there.
    redirect_port: int = 0
    redirect_path: str = "/"


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint answered. The tokens never show in a repr or a log."""

    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    instance_url: str | None = None  # Salesforce: the org's own address


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge): 86 characters of 512 random bits, within the
    43-128 RFC 7636 allows."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Listener:
    """The loopback redirect target: answers one redirect, then the caller closes it."""

    def __init__(self, port: int = 0, path: str = "/") -> None:
        self.query: dict[str, str] | None = None
        self.arrived = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # the query holds the code: never logged

            def do_GET(self) -> None:  # http.server's name
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if "code" not in query and "error" not in query:
                    self.send_error(404)  # a favicon or a stray request: keep waiting
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_DONE_PAGE)))
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                if listener.query is None:
                    listener.query = query
                    listener.arrived.set()

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="exporter-sign-in")

    def __enter__(self) -> _Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _code_from(query: dict[str, str] | None, state: str, provider: Provider) -> str:
    if query is None:
        raise SignInFailed(f"The {provider.name} sign-in was not finished in time; run "
                           "'exporter setup' again and sign in within 5 minutes.")
    if "error" in query:
        raise SignInFailed(f"{provider.name} did not sign you in ({query['error'][:80]}); run "
                           "'exporter setup' again and choose Allow.")
    if not secrets.compare_digest(query.get("state", ""), state):
        raise SignInFailed(f"The answer from {provider.name} did not match this sign-in; run "
                           "'exporter setup' again.")
    return query["code"]


def sign_in(provider: Provider, client_id: str, client_secret: str | None = None, *,
            say: Callable[[str], None] = print, open_url: Callable[[str], Any] | None = None,
            timeout: float = SIGN_IN_TIMEOUT,
            session: requests.Session | None = None) -> Tokens:
    """Open the vendor's sign-in page, wait for the redirect, trade the code: the tokens.
    ``say`` shows the address too, for when no browser opens (a remote session)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    try:
        listening = _Listener(provider.redirect_port, provider.redirect_path)
    except OSError as exc:
        raise SignInFailed(f"The sign-in could not wait for {provider.name}'s answer on port "
                           f"{provider.redirect_port} ({exc.strerror or exc}); close the "
                           "program using it and try again.") from exc
    with listening as listener:
        params = {"response_type": "code", "client_id": client_id,
                  "redirect_uri": listener.redirect_uri, "scope": provider.scope,
                  "state": state, "code_challenge": challenge,
                  "code_challenge_method": "S256", **provider.extra}
        url = f"{provider.authorize_url}?{urlencode(params)}"
        say(f"Sign in to {provider.name} in your browser. If no browser opens, open this "
            f"address yourself: {url}")
        (open_url or webbrowser.open)(url)
        listener.arrived.wait(timeout)
        code = _code_from(listener.query, state, provider)
        redirect_uri = listener.redirect_uri
    tokens = exchange_code(provider, client_id, client_secret, code, verifier, redirect_uri,
                           session=session)
    log.info("signed in to %s in the browser (a refresh token was issued)", provider.name)
    return tokens


def exchange_code(provider: Provider, client_id: str, client_secret: str | None, code: str,
                  verifier: str, redirect_uri: str, *,
                  session: requests.Session | None = None) -> Tokens:
    """Trade an authorization code and its PKCE verifier for tokens."""
    form = {"grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": redirect_uri, "code_verifier": verifier}
    if client_secret:
        form["client_secret"] = client_secret
    answer = post_token(provider.token_url, form, provider.name, session)
    refresh = answer.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise SignInFailed(f"{provider.name} signed you in but gave no refresh token, so the "
                           "nightly job could not sign in alone; check that the app may "
                           "ask for offline access (refresh_token scope).")
    return Tokens(refresh_token=refresh, access_token=str(answer.get("access_token", "")),
                  instance_url=answer.get("instance_url"))


def post_token(url: str, form: dict[str, str], vendor: str,
               session: requests.Session | None = None) -> dict[str, Any]:
    """POST a grant to a token endpoint: its JSON answer, or SignInFailed in plain words
    (the answer's error code only: its body may echo what was sent)."""
    try:
        response = (session or requests).post(url, data=form, timeout=60)
    except requests.RequestException as exc:
        raise SignInFailed(f"{vendor}'s sign-in service could not be reached "
                           f"({type(exc).__name__}); check the network and try again.") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SignInFailed(f"{vendor}'s sign-in service sent an answer exporter does not "
                           f"understand (HTTP {response.status_code}); try again later.")
    if response.status_code != 200 or "access_token" not in answer:
        error = str(answer.get("error") or response.status_code)[:60]
        raise SignInFailed(f"{vendor} refused the sign-in ({error}); run 'exporter setup' "
                           "again to sign in anew.")
    return answer
