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


def relationship(lookup: str) -> str:
    """The SOQL relationship name of a lookup field: ``Client__c`` -> ``Client__r``, a
    standard ``AccountId`` -> ``Account``."""
    return f"{lookup[:-1]}r" if lookup.endswith("__c") else lookup.removesuffix("Id")


def salesforce_target(sb: Sandbox, obj: str, link: str | None = None,
                      body: str | None = None) -> list[Row]:
    """Every record of ``obj`` in the org with the source id it carries, the source id its
    lookup ``link`` points at, and the bytes of its file field ``body``."""
    rel = relationship(link) if link else ""
    fields = [KEY_SF] + ([f"{rel}.{KEY_SF}"] if link else [])
    sf = salesforce(sb)
    rows = []
    for r in salesforce_rows(sb, obj, fields):
        parent = (r.get(rel) or {}).get(KEY_SF) if link else None
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


# -- Google (Calendar visits, the caregiver roster, Drive documents), read from the source
#    through google-api-python-client and compared with HubSpot ------------------------------

@dataclass
class GooglePromises:
    """What a Google source promises: per visit (source id) its client number, caregiver
    email and name; the roster's emails; per client document (source id) its client number
    and the SHA-256 of its bytes (a Google Doc's Word export)."""

    visits: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    roster: list[str] = field(default_factory=list)
    documents: dict[str, tuple[str, str]] = field(default_factory=dict)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def google_promises(sb: Sandbox) -> GooglePromises:
    from tests.restore_support import google_service

    out = GooglePromises()
    cal = google_service(sb, "calendar")
    for c in cal.calendarList().list().execute()["items"]:
        token = None
        while True:
            page = cal.events().list(calendarId=c["id"], singleEvents=True,
                                     pageToken=token).execute()
            for ev in page.get("items", []):
                number = ((ev.get("extendedProperties") or {}).get("private") or {}).get(
                    "client_number")
                if number and ev.get("status") != "cancelled":
                    who = (ev.get("attendees") or [{}])[0]
                    out.visits[f"google/calendar_events/{ev['id']}"] = (
                        number, who.get("email", ""), who.get("displayName", ""))
            token = page.get("nextPageToken")
            if not token:
                break
    drive, sheets = google_service(sb, "drive"), google_service(sb, "sheets")
    token = None
    while True:
        page = drive.files().list(pageToken=token, fields="nextPageToken, files(id, name, "
                                  "mimeType, trashed, properties)").execute()
        for f in page["files"]:
            number = (f.get("properties") or {}).get("client_number")
            if f["name"] == "Caregiver Roster":
                rows = sheets.spreadsheets().values().get(
                    spreadsheetId=f["id"], range="Roster").execute()["values"]
                col = rows[0].index("Email")
                out.roster += [r[col] for r in rows[1:] if len(r) > col]
            if not number or f.get("trashed") or f["mimeType"].endswith(".folder"):
                continue
            if f["mimeType"] == "application/vnd.google-apps.document":
                data = drive.files().export(fileId=f["id"], mimeType=DOCX).execute()
            else:
                data = drive.files().get_media(fileId=f["id"]).execute()
            out.documents[f"google/drive_files/{f['id']}"] = (number, sha(data))
        token = page.get("nextPageToken")
        if not token:
            return out


def google_in_hubspot(sb: Sandbox, promised: GooglePromises) -> Counter[str]:
    """The portal read through the HubSpot SDK against what Google promises: meetings
    (once each, linked to their client's contact, found by client number, and to their
    caregiver's contact, by email), caregivers (once each, every roster email), documents
    (notes on their client with equal bytes). Counts every way it can be wrong."""
    import requests

    out: Counter[str] = Counter()
    contacts = {str(c["id"]): c["properties"] for c in hubspot_rows(
        sb, "contacts", [KEY_HS, "client_number", "relationship", "email", "contact_type"])}
    caregivers = [p for p in contacts.values()
                  if (p.get(KEY_HS) or "").startswith("google/sheet_rows/")]
    out["caregivers"] = len(caregivers)
    out["caregivers_unlabelled"] = sum(p.get("contact_type") != "Caregiver" for p in caregivers)
    out["roster_missing"] = len(set(promised.roster) - {p.get("email") for p in caregivers})
    out["duplicates"] += duplicates(p.get("email") for p in caregivers)

    def number(value: Any) -> str:  # "c00001" is client C-00001, as the agency writes it
        return "".join(ch for ch in str(value) if ch.isalnum()).upper()

    def client_of(ids: list[str]) -> set[str]:
        return {number(contacts[i].get("client_number")) for i in ids if i in contacts
                and contacts[i].get("relationship") == "Client"}

    def emails_of(ids: list[str]) -> set[str]:
        return {str(contacts[i].get("email")) for i in ids if i in contacts
                and contacts[i].get("relationship") != "Client"}

    meetings = hubspot_rows(sb, "meetings", [KEY_HS, "caregiver_name"], ["contacts"])
    seen = Counter((m["properties"] or {}).get(KEY_HS) or "" for m in meetings)
    out["duplicates"] += sum(n - 1 for sid, n in seen.items() if sid and n > 1)
    out["extras"] += sum(n for sid, n in seen.items() if sid.startswith("google/")
                         and sid not in promised.visits)
    for m in meetings:
        sid = (m["properties"] or {}).get(KEY_HS) or ""
        if sid not in promised.visits:
            continue
        client, email, name = promised.visits[sid]
        linked = [str(a["id"]) for a in
                  ((m.get("associations") or {}).get("contacts") or {}).get("results", [])]
        out["visits"] += 1
        out["wrong_client"] += client_of(linked) != {number(client)}
        out["wrong_caregiver"] += emails_of(linked) != {email}
        out["caregiver_unnamed"] += m["properties"].get("caregiver_name") != name
    out["missing"] += len(set(promised.visits) - set(seen))
    files_api = hubspot_client(sb).files.files_api
    notes = hubspot_rows(sb, "notes", [KEY_HS, "hs_attachment_ids"], ["contacts"])
    noted = Counter((n["properties"] or {}).get(KEY_HS) or "" for n in notes)
    out["duplicates"] += sum(k - 1 for sid, k in noted.items() if sid and k > 1)
    out["missing"] += len(set(promised.documents) - set(noted))
    for n in notes:
        sid = (n["properties"] or {}).get(KEY_HS) or ""
        if sid not in promised.documents:
            continue
        client, digest = promised.documents[sid]
        linked = [str(a["id"]) for a in
                  ((n.get("associations") or {}).get("contacts") or {}).get("results", [])]
        out["documents"] += 1
        out["wrong_client"] += client_of(linked) != {number(client)}
        attached = (n["properties"] or {}).get("hs_attachment_ids")
        url = files_api.get_signed_url(attached.split(";")[0]).url \
            if attached else None
        out["bad_files"] += url is None or sha(requests.get(url, timeout=30).content) != digest
    return out


def google_in_salesforce(sb: Sandbox, promised: GooglePromises) -> Counter[str]:
    """The org read through simple-salesforce against what Google promises: Events (once
    each, WhatId the client's Account by client number, WhoId the caregiver's Contact by
    email), caregiver Contacts (once each, every roster email, titled Caregiver), documents
    (ContentVersions published to their client's Account with equal bytes)."""
    out: Counter[str] = Counter()

    def number(value: Any) -> str:
        return "".join(ch for ch in str(value) if ch.isalnum()).upper()

    accounts = {r["Id"]: number(r["Client_Number__c"])
                for r in salesforce_rows(sb, "Account", ["Client_Number__c"])}
    contacts = salesforce_rows(sb, "Contact", [KEY_SF, "Email", "Title"])
    caregivers = [c for c in contacts if (c.get(KEY_SF) or "").startswith("google/sheet_rows/")]
    emails = {c["Id"]: c["Email"] for c in caregivers}
    out["caregivers"] = len(caregivers)
    out["caregivers_unlabelled"] = sum(c.get("Title") != "Caregiver" for c in caregivers)
    out["roster_missing"] = len(set(promised.roster) - set(emails.values()))
    out["duplicates"] += duplicates(emails.values())
    events = salesforce_rows(sb, "Event", [KEY_SF, "WhatId", "WhoId", "Description"])
    seen = Counter(e.get(KEY_SF) or "" for e in events)
    out["duplicates"] += sum(n - 1 for sid, n in seen.items() if sid and n > 1)
    out["extras"] += sum(n for sid, n in seen.items() if sid.startswith("google/")
                         and sid not in promised.visits)
    out["missing"] += len(set(promised.visits) - set(seen))
    for e in events:
        sid = e.get(KEY_SF) or ""
        if sid in promised.visits:
            client, email, name = promised.visits[sid]
            out["visits"] += 1
            out["wrong_client"] += accounts.get(e.get("WhatId")) != number(client)
            out["wrong_caregiver"] += emails.get(e.get("WhoId")) != email
            out["caregiver_unnamed"] += name not in (e.get("Description") or "")
    sf = salesforce(sb)
    docs = salesforce_rows(sb, "ContentVersion", [KEY_SF, "FirstPublishLocationId",
                                                  "ContentDocumentId"])
    shared: dict[str, set[str]] = {}  # document -> the Accounts it is linked to
    ids = ", ".join(f"'{a}'" for a in accounts)
    for link in sf.query_all("SELECT ContentDocumentId, LinkedEntityId FROM "
                             f"ContentDocumentLink WHERE LinkedEntityId IN ({ids})")["records"]:
        shared.setdefault(link["ContentDocumentId"], set()).add(link["LinkedEntityId"])
    noted = Counter(d.get(KEY_SF) or "" for d in docs)
    out["duplicates"] += sum(k - 1 for sid, k in noted.items() if sid and k > 1)
    out["missing"] += len(set(promised.documents) - set(noted))
    for d in docs:
        sid = d.get(KEY_SF) or ""
        if sid in promised.documents:
            client, digest = promised.documents[sid]
            out["documents"] += 1
            out["wrong_client"] += accounts.get(d.get("FirstPublishLocationId")) != number(client)
            out["wrong_client"] += {accounts[a] for a in shared.get(
                d["ContentDocumentId"], set())} != {number(client)}
            got = sf.session.get(f"{sf.base_url}sobjects/ContentVersion/{d['Id']}/VersionData",
                                 headers=sf.headers, timeout=30)
            out["bad_files"] += sha(got.content) != digest
    return out
def salesforce_activities(sb: Sandbox, obj: str, fields: Iterable[str] = ()
                          ) -> tuple[list[Row], dict[str, dict[str, Any]]]:
    """Every Task or Event in the org with the source id it carries and the source id of
    the Account it is on (WhatId naming that Account; another WhatId is a wrong link
    '?<id>'), and each row's ``fields`` by target id."""
    rows, data = [], {}
    for r in salesforce_rows(sb, obj, [KEY_SF, "WhatId", "AccountId", f"Account.{KEY_SF}",
                                       *fields]):
        account = (r.get("Account") or {}).get(KEY_SF) or "?"
        what = r.get("WhatId")
        parents = set() if not what else {account} if what == r.get("AccountId") \
            else {f"?{what}"}
        rows.append(Row(r["Id"], r.get(KEY_SF) or "", parents))
        data[r["Id"]] = r
    return rows, data


def salesforce_file_links(sb: Sandbox) -> list[Row]:
    """Every ContentVersion in the org with the source id it carries, the source ids of
    the Accounts its document is shared with (ContentDocumentLink, queried by document as
    Salesforce requires) and the SHA-256 of its bytes."""
    sf = salesforce(sb)
    accounts = {r["Id"]: r.get(KEY_SF) or "?" for r in salesforce_rows(sb, "Account", [KEY_SF])}
    versions = salesforce_rows(sb, "ContentVersion", [KEY_SF, "ContentDocumentId"])
    linked: dict[str, set[str]] = {}
    docs = [v["ContentDocumentId"] for v in versions]
    for start in range(0, len(docs), 100):
        named = ", ".join(f"'{d}'" for d in docs[start:start + 100])
        for link in sf.query_all("SELECT ContentDocumentId, LinkedEntityId FROM "
                                 f"ContentDocumentLink WHERE ContentDocumentId IN ({named})"
                                 )["records"]:
            if link["LinkedEntityId"] in accounts:
                linked.setdefault(link["ContentDocumentId"], set()).add(
                    accounts[link["LinkedEntityId"]])
    rows = []
    for v in versions:
        got = sf.session.get(f"{sf.base_url}sobjects/ContentVersion/{v['Id']}/VersionData",
                             headers=sf.headers, timeout=30)
        rows.append(Row(v["Id"], v.get(KEY_SF) or "", linked.get(v["ContentDocumentId"],
                                                                   set()), sha(got.content)))
    return rows
