"""SDK clients for looking at a restore target from the tests (the sandbox credentials)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hubspot
from simple_salesforce import Salesforce

from exporter.archive import Archive
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
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


FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def synced_archive(tmp: Path, src: Sandbox, source: str) -> Archive:
    """A new archive (key file beside it) holding one sync of ``source`` from ``src``."""
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = src.source_configs(tmp / "s1")[source]
    assert run_sync(archive, {source: build_connector(source, table,
                                                       tmp / "c.toml")}).status == "ok"
    return archive


def target_writer(tmp: Path, dst: Sandbox, target: str) -> Any:
    """A writer named "t" into ``dst``'s ``target`` vendor, retrying fast."""
    config = {**dst.source_configs(tmp / "s2")[target], "retry": FAST_RETRY}
    return build_writer("t", config, tmp / "c.toml")
