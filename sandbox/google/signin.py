"""Google's sign-in endpoints on the emulator: ``GET /o/oauth2/v2/auth`` (the consent page,
which always allows) and ``POST /token`` (authorization code with PKCE, refresh token), as
``accounts.google.com`` and ``oauth2.googleapis.com`` answer them. The checks are
:mod:`sandbox.oauth`'s; an access token issued here is then accepted by Drive, Sheets and
Calendar like the fixed sandbox token."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from sandbox.agency import Agency
from sandbox.credentials import CREDENTIALS
from sandbox.faults import FaultPlan
from sandbox.google.workspace import WorkspaceAPI
from sandbox.http import Request, Response
from sandbox.oauth import AuthorizationServer

__all__ = ["SignInAPI"]


class SignInAPI(WorkspaceAPI):
    """The two sign-in routes; :class:`sandbox.google.emulator.GoogleEmulator` adds them."""

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(agency, faults)
        creds = CREDENTIALS["google"]
        self.oauth = AuthorizationServer(creds["client_id"], creds["client_secret"],
                                         self._new_token)

    def _new_token(self) -> str:
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self.lock:
            self.issued_tokens.add(token)
        return token

    def signin_authorize(self, request: Request) -> Response:
        return self.oauth.authorize(request)

    def signin_token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        answer, error = self.oauth.grant(form, form.get("client_id"), form.get("client_secret"))
        if answer is None:
            return Response.json({"error": error, "error_description": "Bad Request"}, 400)
        answer["expires_in"] = 3599
        return Response.json(answer)
