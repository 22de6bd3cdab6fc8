"""The OAuth 2.0 authorization server the Salesforce and Google emulators share: the
authorization code grant with PKCE (RFC 7636, S256 only) on a loopback redirect (RFC 8252
§7.3: any port on 127.0.0.1, [::1] or localhost), and the refresh-token grant.

The sandbox's one user is always signed in and always consents, so the authorize endpoint
answers at once with a 302 to the redirect URI, ``?code=...&state=...``, as the vendor's page
does after "Allow". What is checked is what a real server checks and a client gets wrong:

- authorize: ``response_type=code``, the sandbox's ``client_id``, a loopback ``redirect_uri``
  (anything else is refused with a 400 page, never redirected to), ``code_challenge`` with
  ``code_challenge_method=S256``;
- token (authorization_code): the code exists, is used once, is fresh (10 minutes), was
  issued to this client for this very ``redirect_uri``, and SHA-256 of ``code_verifier``
  matches the challenge; a client secret, when the client sends one, must be right;
- token (refresh_token): a refresh token this server issued, to this client.

Not emulated: scopes (any requested scope is granted), consent screens, revocation.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sandbox.http import Request, Response

__all__ = ["AuthorizationServer", "is_loopback_redirect"]

CODE_LIFETIME = 600.0
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def is_loopback_redirect(uri: str) -> bool:
    """Whether ``uri`` is an http redirect to this computer (RFC 8252 §7.3)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and port is not None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    issued: float


class AuthorizationServer:
    """Codes and refresh tokens of one emulator. ``new_access_token`` makes the access token
    the emulator's API then accepts (a Salesforce session, a Google bearer token)."""

    def __init__(self, client_id: str, client_secret: str,
                 new_access_token: Callable[[], str]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.new_access_token = new_access_token
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> client id
        self._lock = threading.Lock()

    def authorize(self, request: Request) -> Response:
        """GET authorize: a 302 back to the loopback redirect with a code, or a 400 page."""
        arg = request.arg
        redirect = arg("redirect_uri") or ""
        if arg("client_id") != self.client_id:
            return _page(400, "error=invalid_client_id: this app is not known here.")
        if not is_loopback_redirect(redirect):
            return _page(400, "error=redirect_uri_mismatch: the redirect_uri must be "
                         "http://127.0.0.1:<port>/ (a loopback address).")
        if arg("response_type") != "code":
            return _redirect(redirect, {"error": "unsupported_response_type",
                                        "state": arg("state")})
        challenge = arg("code_challenge") or ""
        if arg("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
            return _redirect(redirect, {"error": "invalid_request", "state": arg("state"),
                                        "error_description": "PKCE S256 code_challenge "
                                        "required"})
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(self.client_id, redirect, challenge, arg("scope") or "",
                                      time.monotonic())
        return _redirect(redirect, {"code": code, "state": arg("state")})

    def grant(self, form: Mapping[str, str], client_id: str | None,
              client_secret: str | None) -> tuple[dict[str, Any] | None, str]:
        """The token grant: (fields to answer with, "") or (None, the OAuth error code)."""
        if client_id != self.client_id:
            return None, "invalid_client"
        if client_secret is not None and client_secret != self.client_secret:
            return None, "invalid_client"
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "refresh_token":
            with self._lock:
                known = self._refresh.get(form.get("refresh_token") or "")
            if known != client_id:
                return None, "invalid_grant"
            return {"access_token": self.new_access_token(), "token_type": "Bearer"}, ""
        return None, "unsupported_grant_type"

    def _code_grant(self, form: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
        with self._lock:
            # Popped before any check: a code is spent by its first use, right or wrong.
            code = self._codes.pop(form.get("code") or "", None)
        if code is None or time.monotonic() - code.issued > CODE_LIFETIME:
            return None, "invalid_grant"
        if form.get("redirect_uri") != code.redirect_uri:
            return None, "invalid_grant"
        verifier = form.get("code_verifier") or ""
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
                s256(verifier), code.challenge):
            return None, "invalid_grant"
        refresh = secrets.token_urlsafe(40)
        with self._lock:
            self._refresh[refresh] = code.client_id
        return {"access_token": self.new_access_token(), "refresh_token": refresh,
                "token_type": "Bearer", "scope": code.scope}, ""


def _redirect(uri: str, params: dict[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(302, b"", {"Location": f"{uri}{'&' if '?' in uri else '?'}{query}"})


def _page(status: int, text: str) -> Response:
    return Response.raw(f"<!doctype html><title>Sign-in refused</title><p>{text}</p>".encode(),
                        "text/html; charset=utf-8", status)
