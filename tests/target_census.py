"""What a restore target holds, read only through the vendor SDKs (simple-salesforce, the
HubSpot SDK) with the sandbox credentials: no exporter code decides what is there."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sandbox import Sandbox
from tests.restore_support import hubspot_client, salesforce


def salesforce_rows(sb: Sandbox, obj: str, fields: Iterable[str]) -> list[dict[str, Any]]:
    """Every live record of ``obj`` in the org, with ``fields``."""
    columns = ", ".join(dict.fromkeys(["Id", *fields]))
    return list(salesforce(sb).query_all(f"SELECT {columns} FROM {obj}")["records"])


def hubspot_rows(sb: Sandbox, obj: str, props: Iterable[str],
                 to: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every live record of ``obj`` in the portal, with ``props`` and associations."""
    client, after, out = hubspot_client(sb), None, []
    while True:
        kw: dict[str, Any] = {"limit": 100, "properties": list(props)}
        if to:
            kw["associations"] = list(to)
        if after:
            kw["after"] = after
        page = json.loads(client.crm.objects.basic_api.get_page(
            obj, _preload_content=False, **kw).data)
        out += page["results"]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return out


def hubspot_property(sb: Sandbox, obj: str, name: str) -> dict[str, Any] | None:
    """A property's definition in the portal (None: there is none)."""
    body = json.loads(hubspot_client(sb).crm.properties.core_api.get_all(
        obj, _preload_content=False).data)
    return next((p for p in body["results"] if p["name"] == name), None)


def duplicates(values: Iterable[Any]) -> int:
    """Records beyond the first that share a value (empty values are not compared)."""
    return sum(n - 1 for v, n in Counter(values).items() if v not in (None, "") and n > 1)
