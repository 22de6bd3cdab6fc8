"""SDK clients for looking at a restore target from the tests (the sandbox credentials)."""

from __future__ import annotations

from typing import Any

import hubspot
from simple_salesforce import Salesforce

from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox


def salesforce(sb: Sandbox) -> Any:
    c = CREDENTIALS["salesforce"]
    return Salesforce(username=c["username"], password=c["password"],
                      security_token=c["security_token"],
                      session=LoopbackSession(sb.urls["salesforce"]))


def hubspot_client(sb: Sandbox) -> Any:
    return hubspot.Client.create(access_token=CREDENTIALS["hubspot"]["access_token"],
                                 host=sb.urls["hubspot"])


def hubspot_path(sb: Sandbox, obj: str) -> str:
    """How HubSpot's API paths name ``obj``: a custom object by its ``objectTypeId`` (from
    its schema: HubSpot refuses the plain name there), any other object by its name."""
    for schema in hubspot_client(sb).crm.schemas.core_api.get_all().results:
        if schema.name == obj:
            return str(schema.object_type_id)
    return obj


def google_service(sb: Sandbox, api: str) -> Any:
    """A google-api-python-client service (``drive``, ``sheets`` or ``calendar``) on the
    sandbox."""
    import google.oauth2.credentials
    import google_auth_httplib2
    from googleapiclient.discovery import build

    from exporter.transport import LoopbackHttp

    base = sb.urls["google"]
    creds = google.oauth2.credentials.Credentials(token=CREDENTIALS["google"]["token"])
    http = google_auth_httplib2.AuthorizedHttp(creds, http=LoopbackHttp(base))
    endpoint = {"drive": "/drive/v3/", "sheets": "/", "calendar": "/calendar/v3/"}[api]
    return build(api, {"drive": "v3", "sheets": "v4", "calendar": "v3"}[api], http=http,
                 static_discovery=True,
                 client_options={"api_endpoint": base + endpoint}, cache_discovery=False)
