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
