"""What a restore target holds, read only through the vendor SDKs (simple-salesforce, the
HubSpot SDK) with the sandbox credentials: no exporter code decides what is there."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox import Sandbox
from tests.restore_support import hubspot_client, hubspot_path, salesforce

KEY_SF = "Exporter_Source_Id__c"
KEY_HS = "source_record_id"


def salesforce_rows(sb: Sandbox, obj: str, fields: Iterable[str]) -> list[dict[str, Any]]:
    """Every live record of ``obj`` in the org, with ``fields``."""
    columns = ", ".join(dict.fromkeys(["Id", *fields]))
    return list(salesforce(sb).query_all(f"SELECT {columns} FROM {obj}")["records"])


def hubspot_rows(sb: Sandbox, obj: str, props: Iterable[str],
                 to: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every live record of ``obj`` in the portal, with ``props`` and associations."""
    client, after, out, path = hubspot_client(sb), None, [], hubspot_path(sb, obj)
    while True:
        kw: dict[str, Any] = {"limit": 100, "properties": list(props)}
        if to:
            kw["associations"] = list(to)
        if after:
            kw["after"] = after
        page = json.loads(client.crm.objects.basic_api.get_page(
            path, _preload_content=False, **kw).data)
        out += page["results"]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return out


def hubspot_property(sb: Sandbox, obj: str, name: str) -> dict[str, Any] | None:
    """A property's definition in the portal (None: there is none)."""
    body = json.loads(hubspot_client(sb).crm.properties.core_api.get_all(
        hubspot_path(sb, obj), _preload_content=False).data)
    return next((p for p in body["results"] if p["name"] == name), None)


def duplicates(values: Iterable[Any]) -> int:
    """Records beyond the first that share a value (empty values are not compared)."""
    return sum(n - 1 for v, n in Counter(values).items() if v not in (None, "") and n > 1)


# -- the independent checker: a restore target compared with its source, both read through
#    the vendor SDKs only, by what each mapping promises (written out here, not read from
#    the mapping files) ----------------------------------------------------------------------

@dataclass
class Expected:
    """What one target object must hold: per source id, the source id of the parent it must
    link to (None: none), and the SHA-256 of the file it must carry (if any)."""

    obj: str
    parents: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    target_id: str
    source_id: str  # '' when the record carries none
    parents: set[str]  # the source ids of the records it links to (of the checked kind)
    file_sha: str | None = None


def tally(expected: Expected, rows: list[Row]) -> Counter[str]:
    """duplicates, extras (no or an unknown source id), missing, wrong links (the expected
    parent absent), stale links (parents beyond the expected one), files checked and files
    whose bytes differ."""
    out: Counter[str] = Counter()
    by_source: dict[str, list[Row]] = {}
    for row in rows:
        if row.source_id in expected.parents:
            by_source.setdefault(row.source_id, []).append(row)
        else:
            out["extras"] += 1
    out["duplicates"] = sum(len(v) - 1 for v in by_source.values())
    for sid, parent in expected.parents.items():
        found = by_source.get(sid)
        if not found:
            out["missing"] += 1
            continue
        row = found[0]
        want = {parent} if parent else set()
        out["wrong_links"] += not want <= row.parents
        out["stale_links"] += len(row.parents - want)
        if sid in expected.files:
            out["files"] += 1
            out["bad_files"] += row.file_sha != expected.files[sid]
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def salesforce_target(sb: Sandbox, obj: str, link: str | None = None,
                      body: str | None = None) -> list[Row]:
    """Every record of ``obj`` in the org with the source id it carries, the source id its
    lookup ``link`` points at, and the bytes of its file field ``body``."""
    fields = [KEY_SF] + ([f"{link[:-1]}r.{KEY_SF}"] if link else [])
    sf = salesforce(sb)
    rows = []
    for r in salesforce_rows(sb, obj, fields):
        parent = (r.get(f"{link[:-1]}r") or {}).get(KEY_SF) if link else None
        digest = None
        if body:
            got = sf.session.get(f"{sf.base_url}sobjects/{obj}/{r['Id']}/{body}",
                                 headers=sf.headers, timeout=30)
            digest = sha(got.content)
        rows.append(Row(r["Id"], r.get(KEY_SF) or "", {parent} if parent else set(), digest))
    return rows


def hubspot_target(sb: Sandbox, obj: str, to: str | None = None,
                   files: bool = False) -> list[Row]:
    """Every record of ``obj`` in the portal with the source id it carries, the source ids
    of the ``to`` records it is associated with, and the bytes of its attached file."""
    import requests

    parents = {str(r["id"]): r["properties"].get(KEY_HS) or ""
               for r in hubspot_rows(sb, to, [KEY_HS])} if to else {}
    client = hubspot_client(sb)
    rows = []
    for r in hubspot_rows(sb, obj, [KEY_HS, "hs_attachment_ids"], [to] if to else []):
        linked = {parents.get(str(a["id"]), "?") for a in
                  ((r.get("associations") or {}).get(to) or {}).get("results", [])}
        digest = None
        attached = (r["properties"] or {}).get("hs_attachment_ids")
        if files and attached:
            url = client.files.files_api.get_signed_url(attached.split(";")[0]).url
            digest = sha(requests.get(url, timeout=30).content)
        rows.append(Row(str(r["id"]), (r["properties"] or {}).get(KEY_HS) or "", linked,
                        digest))
    return rows


def hubspot_custom_objects(sb: Sandbox) -> dict[str, dict[str, Any]]:
    """The portal's custom-object schemas by name (``GET /crm/v3/schemas`` through the SDK)."""
    body = json.loads(hubspot_client(sb).crm.schemas.core_api.get_all(
        _preload_content=False).data)
    return {s["name"]: s for s in body["results"]}


def hubspot_records_by_source(sb: Sandbox, obj: str, props: Iterable[str],
                              to: str | None = None) -> dict[str, dict[str, Any]]:
    """The records of ``obj`` (a custom object too) by the source id they carry: their
    ``props`` and, under ``@parents``, the source ids of the ``to`` records they are
    associated with."""
    parents = {str(r["id"]): r["properties"].get(KEY_HS) or ""
               for r in hubspot_rows(sb, to, [KEY_HS])} if to else {}
    out: dict[str, dict[str, Any]] = {}
    for r in hubspot_rows(sb, obj, [KEY_HS, *props], [to] if to else []):
        props_of = dict(r["properties"] or {})
        props_of["@parents"] = {parents.get(str(a["id"]), "?") for a in
                                ((r.get("associations") or {}).get(to) or {}).get("results", [])
                                } if to else set()
        out[props_of.get(KEY_HS) or f"?{r['id']}"] = props_of
    return out
