"""Salesforce logins: the SOAP ``login`` call and the OAuth token flows (password, client
credentials, JWT bearer: the JWT's ``iss``/``sub`` are checked, its signature and expiry
are NOT; the web server flow with PKCE and the refresh-token grant, checked by
:mod:`sandbox.oauth`). Each successful login opens a session the REST API then accepts.

The web server flow answers ``instance_url`` with the emulator's own scheme and address
(``http://127.0.0.1:PORT``), as Salesforce answers its own https instance.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.agency import Agency
from sandbox.credentials import CREDENTIALS
from sandbox.faults import FaultPlan
from sandbox.http import Request, Response
from sandbox.oauth import AuthorizationServer
from sandbox.salesforce.org import ORG_ID, USER_ID, OrgAPI

__all__ = ["LoginAPI"]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
BAD_LOGIN = "Invalid username, password, security token; or user locked out."


class LoginAPI(OrgAPI):
    """The login endpoints, which answer without a session."""

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(agency, faults)
        creds = _credentials()
        self.oauth = AuthorizationServer(creds["client_id"], creds["client_secret"],
                                         self._new_session)

    def _authorize(self, request: Request) -> Response:
        return self.oauth.authorize(request)

    def _new_session(self) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(32)}"
        with self.lock:
            self.sessions.add(token)
        return token

    def _instance(self) -> str:
        return urlsplit(self.base_url).netloc

    def _login(self, request: Request) -> Response:
        creds = _credentials()
        try:
            root = ET.fromstring(request.body)  # noqa: S314 - loopback test double
        except ET.ParseError:
            return _soap_fault("INVALID_LOGIN", BAD_LOGIN)
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        if values.get("username") != creds["username"] or values.get("password") != \
                creds["password"] + creds["security_token"]:
            return _soap_fault("INVALID_LOGIN", BAD_LOGIN)
        ver = request.params["ver"]
        host = self._instance()
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            f'"{SOAP_NS}" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse>'
            f"<result><metadataServerUrl>https://{host}/services/Soap/m/{ver}/{ORG_ID[:15]}"
            f"</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true"
            f"</sandbox><serverUrl>https://{host}/services/Soap/u/{ver}/{ORG_ID[:15]}"
            f"</serverUrl><sessionId>{self._new_session()}</sessionId><userId>{USER_ID}"
            f"</userId><userInfo><organizationId>{ORG_ID}</organizationId><userName>"
            f"{creds['username']}</userName></userInfo></result></loginResponse>"
            f"</soapenv:Body></soapenv:Envelope>")
        return Response.raw(xml.encode("utf-8"), "text/xml; charset=utf-8")

    def _token(self, request: Request) -> Response:
        creds = _credentials()
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        grant = form.get("grant_type", "")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        if grant in ("authorization_code", "refresh_token"):
            return self._web_grant(form, client_id, secret)
        if grant == "password":
            ok_password = form.get("password") in (creds["password"], creds["password"]
                                                   + creds["security_token"])
            ok = (client_id == creds["client_id"] and secret == creds["client_secret"]
                  and form.get("username") == creds["username"] and ok_password)
        elif grant == "client_credentials":
            ok = client_id == creds["client_id"] and secret == creds["client_secret"]
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _jwt_claims(form.get("assertion", ""))
            ok = claims.get("iss") == creds["client_id"] and claims.get("sub") == creds["username"]
        else:
            return Response.json({"error": "unsupported_grant_type",
                                  "error_description": "grant type not supported"}, 400)
        if not ok:
            return Response.json({"error": "invalid_grant",
                                  "error_description": "authentication failure"}, 400)
        host = self._instance()
        return Response.json({
            "access_token": self._new_session(), "instance_url": f"https://{host}",
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}", "token_type": "Bearer",
            "issued_at": str(int(self.agency.now.timestamp() * 1000)),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode()})


    def _web_grant(self, form: dict[str, str], client_id: str | None,
                   secret: str | None) -> Response:
        answer, error = self.oauth.grant(form, client_id, secret)
        if answer is None:
            text = {"invalid_grant": "expired access/refresh token",
                    "invalid_client": "invalid client credentials"}.get(error, "bad request")
            return Response.json({"error": error, "error_description": text}, 400)
        answer.pop("scope", None)
        answer.update({
            "instance_url": self.base_url,
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}",
            "issued_at": str(int(self.agency.now.timestamp() * 1000)),
            "signature": base64.b64encode(secrets.token_bytes(32)).decode()})
        return Response.json(answer)


def _credentials() -> dict[str, str]:
    return CREDENTIALS["salesforce"]


def _soap_fault(code: str, message: str) -> Response:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
           'xmlns:sf="urn:fault.partner.soap.sforce.com" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
           f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
           '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
           f"<sf:exceptionCode>{code}</sf:exceptionCode>"
           f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
           "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response.raw(xml.encode("utf-8"), "text/xml; charset=utf-8", status=500)


def _jwt_claims(assertion: str) -> dict[str, Any]:
    """The JWT's payload, unverified (the sandbox trusts any well-formed token)."""
    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}
