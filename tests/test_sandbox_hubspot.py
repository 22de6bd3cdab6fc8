"""The HubSpot emulator, driven by the real hubspot-api-client over HTTP on 127.0.0.1.

Most tests serve only the HubSpot emulator (``EmulatorServer``) over a small agency; one
test goes through :class:`Sandbox` (state file round trip). Client-side validation of the
SDK's models is on (its default), so a missing required field in a response fails a test.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hubspot
import hubspot.crm.contacts
import pytest
import requests
import urllib3
from hubspot.crm.associations.v4 import models as v4m
from hubspot.crm.objects import PublicObjectSearchRequest
from hubspot.crm.objects import models as om
from urllib3.util.retry import Retry

from sandbox import CREDENTIALS, Sandbox
from sandbox.agency import Agency, ChangeSet
from sandbox.faults import FaultPlan
from sandbox.http import EmulatorServer, RequestLog
from sandbox.hubspot import HubSpotEmulator
from sandbox.hubspot.schema import CUSTOM_FQN, CUSTOM_TYPE_ID, TYPES
from sandbox.hubspot.store import iso, to_ms

TOKEN = CREDENTIALS["hubspot"]["access_token"]
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
Upsert = om.BatchInputSimplePublicObjectBatchInputUpsert
Creates = om.BatchInputSimplePublicObjectBatchInputForCreate
Create = om.SimplePublicObjectInputForCreate
STANDARD = ["contacts", "companies", "deals", "tickets", "products", "line_items", "notes",
            "tasks", "calls", "meetings", "emails"]


@dataclass
class Portal:
    agency: Agency
    emulator: HubSpotEmulator
    faults: FaultPlan
    log: RequestLog
    url: str

    def client(self, **kwargs: Any) -> hubspot.Client:
        # hubspot-api-client 12.0.0 ships client_side_validation=False: turn it on, so a
        # response missing a required field (or with a bad enum) raises in these tests
        return hubspot.Client.create(access_token=TOKEN, host=self.url,
                                     client_side_validation=True, **kwargs)

    def advance(self, days: int) -> ChangeSet:
        with self.emulator.lock:
            changes = self.agency.advance(days)
            self.emulator.advance(changes)
        return changes

    def live(self, type_name: str) -> int:
        ts = self.emulator.portal.store.types[type_name]
        return sum(1 for r in ts.records.values() if r.archived_at is None)


def _serve(clients: int, seed: int = 7) -> Iterator[Portal]:
    agency = Agency(clients=clients, seed=seed, start=START)
    faults, log = FaultPlan(), RequestLog()
    emulator = HubSpotEmulator(agency, faults)
    server = EmulatorServer(emulator, log).start()
    try:
        yield Portal(agency, emulator, faults, log, server.base_url)
    finally:
        faults.clear()
        server.stop()


@pytest.fixture(scope="module")
def ro() -> Iterator[Portal]:
    """A read-only portal shared by the module's read tests (never written to)."""
    yield from _serve(25)


@pytest.fixture
def rw() -> Iterator[Portal]:
    """A fresh portal a test may write to and advance."""
    yield from _serve(20)


@pytest.fixture
def empty() -> Iterator[Portal]:
    yield from _serve(0)


def page_all(client: hubspot.Client, type_name: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    after = None
    while True:
        page = client.crm.objects.basic_api.get_page(type_name, limit=100, after=after, **kwargs)
        out.extend(page.results)
        if page.paging is None:
            return out
        after = page.paging.next.after


def search(client: hubspot.Client, type_name: str, **body: Any) -> Any:
    return client.crm.objects.search_api.do_search(type_name, PublicObjectSearchRequest(**body))


def search_all(client: hubspot.Client, type_name: str, **body: Any) -> list[Any]:
    out: list[Any] = []
    after = None
    while True:
        page = search(client, type_name, limit=200, after=after, **body)
        out.extend(page.results)
        if page.paging is None:
            return out
        after = page.paging.next.after


# -- listing and reading ----------------------------------------------------------------


def test_every_object_type_pages_to_the_end(ro: Portal) -> None:
    client = ro.client()
    for type_name in [*STANDARD, CUSTOM_FQN]:
        rows = page_all(client, type_name)
        ids = [int(r.id) for r in rows]
        resolved = "care_recipients" if type_name == CUSTOM_FQN else type_name
        assert len(ids) == ro.live(resolved) > 0, type_name
        assert ids == sorted(set(ids))
        assert all(isinstance(r, om.SimplePublicObjectWithAssociations) for r in rows)
    # the contacts API and the custom object's type id reach the same records
    contacts = client.crm.contacts.get_all()
    assert len(contacts) == ro.live("contacts")
    assert len(page_all(client, CUSTOM_TYPE_ID)) == ro.live("care_recipients")


def test_list_limit_and_unknown_type_are_400(ro: Portal) -> None:
    client = ro.client()
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        client.crm.objects.basic_api.get_page("contacts", limit=101)
    assert err.value.status == 400
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        client.crm.objects.basic_api.get_page("spaceships")
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_properties_default_requested_empty_and_long(ro: Portal) -> None:
    client = ro.client()
    page = client.crm.contacts.basic_api.get_page(limit=100)
    assert set(page.results[0].properties) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname",
        "hs_lastmodifieddate"}
    rows = page_all(client, "contacts", properties=["client_number", "relationship",
                                                    "access_notes", "email", "nonexistent"])
    clients = [r for r in rows if r.properties["relationship"] == "Client"]
    assert len(clients) == 25
    assert all(r.properties["client_number"].startswith("C-") for r in rows)
    assert "nonexistent" not in rows[0].properties
    assert any(r.properties["email"] is None for r in clients)  # no email: null, not ""
    assert any(r.properties["access_notes"] == "" for r in clients)  # an empty string kept
    assert max(len(r.properties["access_notes"] or "") for r in clients) > 1000
    names = "".join(r.properties.get("firstname") or "" for r in page_all(
        client, "contacts", properties=["firstname"]))
    assert not names.isascii()
    sample = rows[0]
    assert sample.properties["lastmodifieddate"] == sample.properties["hs_lastmodifieddate"]
    assert sample.properties["createdate"].endswith("Z") and len(
        sample.properties["createdate"]) == len("2024-01-01T00:00:00.000Z")
    assert sample.updated_at == dt.datetime.fromisoformat(
        sample.properties["lastmodifieddate"].replace("Z", "+00:00"))
    deals = page_all(client, "deals", properties=["dealname", "services", "amount", "pipeline",
                                                   "client_number", "hubspot_owner_id"])
    assert any(";" in d.properties["services"] for d in deals)
    assert all(d.properties["dealname"].endswith(d.properties["services"].replace(";", ", "))
               for d in deals)
    owners = {o.id for o in client.crm.owners.owners_api.get_page().results}
    assert {d.properties["hubspot_owner_id"] for d in deals} <= owners


def test_get_by_id_id_property_and_associations(ro: Portal) -> None:
    client = ro.client()
    contact = next(r for r in page_all(client, "contacts", properties=["email", "relationship"])
                   if r.properties["email"] and r.properties["relationship"] == "Client")
    same = client.crm.contacts.basic_api.get_by_id(
        contact.properties["email"], id_property="email", properties=["client_number"],
        associations=["companies", "notes", "deals"])
    assert same.id == contact.id
    assert set(same.associations) == {"companies", "notes", "deals"}
    types = {a.type for a in same.associations["companies"].results}
    assert {"contact_to_company", "contact_to_company_primary"} <= types
    with pytest.raises(hubspot.crm.contacts.ApiException) as err:
        client.crm.contacts.basic_api.get_by_id("999999999")
    assert err.value.status == 404


# -- writes -----------------------------------------------------------------------------


def test_create_update_archive_and_archived_listing(rw: Portal) -> None:
    client = rw.client()
    company = page_all(client, "companies")[0]
    created = client.crm.objects.basic_api.create("contacts", Create(
        properties={"firstname": "Zoë", "lastname": "Ó Súilleabháin", "email": "zoe@example.org",
                    "date_of_birth": "1941-02-03"},
        associations=[{"to": {"id": company.id}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    assert isinstance(created, om.SimplePublicObject)
    assert created.properties["firstname"] == "Zoë"
    links = client.crm.associations.v4.basic_api.get_page("contacts", created.id, "companies")
    assert [r.to_object_id for r in links.results] == [company.id]
    updated = client.crm.objects.basic_api.update(
        "contacts", created.id, om.SimplePublicObjectInput(properties={"phone": "(555) 555-0100"}))
    assert updated.properties["phone"] == "(555) 555-0100"
    assert updated.updated_at > created.updated_at
    with pytest.raises(hubspot.crm.objects.ApiException) as err:  # email is unique
        client.crm.objects.basic_api.create("contacts", Create(
            properties={"email": "ZOE@example.org"}))
    assert err.value.status == 409
    client.crm.objects.basic_api.archive("contacts", created.id)
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        client.crm.objects.basic_api.get_by_id("contacts", created.id)
    assert err.value.status == 404
    assert created.id not in {r.id for r in page_all(client, "contacts")}
    archived = page_all(client, "contacts", archived=True)
    gone = next(r for r in archived if r.id == created.id)
    assert gone.archived is True and gone.archived_at is not None
    assert gone.updated_at == updated.updated_at  # archiving does not bump the modified date
    again = client.crm.objects.basic_api.get_by_id("contacts", created.id, archived=True)
    assert again.archived_at == gone.archived_at


def test_single_create_with_unknown_property_is_400(rw: Portal) -> None:
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        rw.client().crm.objects.basic_api.create("notes", Create(
            properties={"hs_note_body": "x", "favourite_colour": "blue"}))
    assert err.value.status == 400
    assert "PROPERTY_DOESNT_EXIST" in json.loads(err.value.body)["message"]


def test_batch_create_read_update_upsert_archive(rw: Portal) -> None:
    batch = rw.client().crm.objects.batch_api
    made = batch.create("deals", Creates(inputs=[
        {"properties": {"dealname": f"Deal {i}", "amount": str(100 * i), "dealstage": "closedwon",
                        "source_record_id": f"sf-{i}"}} for i in range(3)]))
    assert isinstance(made, om.BatchResponseSimplePublicObject) and made.status == "COMPLETE"
    ids = [r.id for r in made.results]
    read = batch.read("deals", om.BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in [*ids, "404404"]], properties=["dealname", "amount"],
        properties_with_history=[]))
    assert isinstance(read, om.BatchResponseSimplePublicObjectWithErrors)  # a 207
    assert sorted(r.id for r in read.results) == sorted(ids)
    assert read.num_errors == 1 and read.errors[0].category == "OBJECT_NOT_FOUND"
    upd = batch.update("deals", om.BatchInputSimplePublicObjectBatchInput(inputs=[
        {"id": ids[0], "properties": {"dealstage": "closedlost"}}]))
    assert upd.results[0].properties["dealstage"] == "closedlost"
    ups = batch.upsert("deals", Upsert(inputs=[
        {"idProperty": "source_record_id", "id": "sf-1", "properties": {"amount": "999"}},
        {"idProperty": "source_record_id", "id": "sf-9", "properties": {"dealname": "New"}}]))
    assert isinstance(ups, om.BatchResponseSimplePublicUpsertObject)
    by_new = {r.new: r for r in ups.results}
    assert by_new[False].id == ids[1] and by_new[False].properties["amount"] == "999"
    assert by_new[True].properties["source_record_id"] == "sf-9"
    partial = batch.create("deals", Creates(inputs=[
        {"properties": {"dealname": "ok"}}, {"properties": {"dealname": "bad", "colour": "x"}},
        {"properties": {"dealname": "bad", "dealstage": "not-a-stage"}}]))
    assert isinstance(partial, om.BatchResponseSimplePublicObjectWithErrors)
    assert len(partial.results) == 1 and partial.num_errors == 2
    codes = [e.errors[0].code for e in partial.errors]
    assert codes == ["PROPERTY_DOESNT_EXIST", "INVALID_OPTION"]
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        batch.create("deals", Creates(
            inputs=[{"properties": {"dealname": str(i)}} for i in range(101)]))
    assert err.value.status == 400
    batch.archive("deals", om.BatchInputSimplePublicObjectId(inputs=[{"id": i} for i in ids]))
    after = batch.read("deals", om.BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=[], properties_with_history=[]))
    assert after.results == [] and after.num_errors == 1


# -- search -----------------------------------------------------------------------------


def test_search_operators_groups_sorts_and_total(ro: Portal) -> None:
    client = ro.client()
    deals = page_all(client, "deals", properties=["amount", "closedate", "dealstage"])
    amounts = sorted(float(d.properties["amount"]) for d in deals)
    mid = amounts[len(amounts) // 2]
    gte = search_all(client, "deals", filter_groups=[{"filters": [
        {"propertyName": "amount", "operator": "GTE", "value": str(mid)}]}], properties=["amount"],
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}])
    assert [float(d.properties["amount"]) for d in gte] == sorted(
        (a for a in amounts if a >= mid), reverse=True)
    lt = search(client, "deals", filter_groups=[{"filters": [
        {"propertyName": "amount", "operator": "LT", "value": str(mid)}]}], limit=1)
    assert lt.total + len(gte) == len(deals)
    either = search(client, "deals", filter_groups=[
        {"filters": [{"propertyName": "amount", "operator": "LTE", "value": str(amounts[0])}]},
        {"filters": [{"propertyName": "amount", "operator": "GT", "value": str(amounts[-2])}]}])
    assert either.total == 2
    lo, hi = sorted(d.properties["closedate"] for d in deals)[3:5]
    between = search(client, "deals", filter_groups=[{"filters": [
        {"propertyName": "closedate", "operator": "BETWEEN", "value": str(to_ms(lo)),
         "highValue": hi}]}])
    assert between.total == sum(lo <= d.properties["closedate"] <= hi for d in deals)
    contacts = page_all(client, "contacts", properties=["email", "relationship"])
    with_email = search(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "email", "operator": "HAS_PROPERTY"}]}])
    without = search(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "email", "operator": "NOT_HAS_PROPERTY"}]}])
    assert with_email.total + without.total == len(contacts) and without.total > 0
    family = search(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "relationship", "operator": "IN", "values": ["daughter", "SON"]},
        {"propertyName": "relationship", "operator": "NEQ", "value": "Son"}]}],
        properties=["relationship"])
    assert family.total == sum(c.properties["relationship"] == "Daughter" for c in contacts)
    eq = search(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "hs_object_id", "operator": "EQ", "value": contacts[3].id}]}])
    assert [r.id for r in eq.results] == [contacts[3].id]
    with pytest.raises(hubspot.crm.objects.ApiException) as err:
        search(client, "contacts", limit=201)
    assert err.value.status == 400
    token = search(client, "notes", filter_groups=[{"filters": [
        {"propertyName": "hs_note_body", "operator": "CONTAINS_TOKEN", "value": "*intake*"}]}])
    assert token.total == 25  # one intake note per client
    mail = next(c.properties["email"] for c in contacts if c.properties["email"])
    free = search(client, "contacts", query=mail.split("@")[0].upper())
    assert free.total >= 1 and all(mail.split("@")[0] in (r.properties["email"] or "")
                                   for r in free.results)


def test_search_by_modified_date_in_millis_or_iso(ro: Portal) -> None:
    client = ro.client()
    notes = page_all(client, "notes")
    cutoff = sorted(n.properties["hs_lastmodifieddate"] for n in notes)[len(notes) // 2]
    expected = {n.id for n in notes if n.properties["hs_lastmodifieddate"] >= cutoff}
    for value in (cutoff, str(to_ms(cutoff))):
        hits = search_all(client, "notes", filter_groups=[{"filters": [
            {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": value}]}],
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}])
        assert {h.id for h in hits} == expected
        stamps = [h.properties["hs_lastmodifieddate"] for h in hits]
        assert stamps == sorted(stamps)
    contacts = search_all(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GT", "value": "0"}]}])
    assert len(contacts) == ro.live("contacts")
    modified = [c.properties["lastmodifieddate"] for c in contacts]
    assert len(set(modified)) < len(modified)  # ties on the cursor value exist


def test_search_caps_paging_at_10000() -> None:
    for portal in _serve(1200, seed=3):
        client = portal.client()
        assert portal.live("notes") > 10_000
        page = search(client, "notes", limit=200, after="9800")
        assert page.total == portal.live("notes") and len(page.results) == 200
        assert page.paging.next.after == "10000"
        with pytest.raises(hubspot.crm.objects.ApiException) as err:
            search(client, "notes", limit=200, after=page.paging.next.after)
        assert err.value.status == 400
        assert "10000" in json.loads(err.value.body)["message"]


def test_search_lag_hides_recent_writes(rw: Portal) -> None:
    client = rw.client()
    rw.faults.add("hubspot", "search_lag", delay=600, times=-1)
    try:
        made = client.crm.objects.basic_api.create("tasks", Create(
            properties={"hs_task_subject": "Lagging", "hs_timestamp": iso(to_ms(START))}))
        by_id = {"filter_groups": [{"filters": [
            {"propertyName": "hs_object_id", "operator": "EQ", "value": made.id}]}]}
        assert search(client, "tasks", **by_id).total == 0
        assert client.crm.objects.basic_api.get_by_id("tasks", made.id).id == made.id
    finally:
        rw.faults.clear()
    assert search(client, "tasks", **by_id).total == 1


# -- time travel ------------------------------------------------------------------------


def test_time_travel_edits_new_records_and_archives(rw: Portal) -> None:
    client = rw.client()
    before = {r.id: r for r in page_all(client, "notes")}
    contacts_before = {r.id for r in page_all(client, "contacts")}
    high_water = max(r.properties["lastmodifieddate"] for r in page_all(client, "contacts"))
    changes = rw.advance(5)
    assert changes.edited_clients
    changed = search_all(client, "contacts", filter_groups=[{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GT", "value": high_water}]}],
        properties=["client_number", "relationship", "phone"])
    numbers = {c.properties["client_number"] for c in changed
               if c.properties["relationship"] == "Client"}
    assert set(changes.edited_clients) | set(changes.new_clients) <= numbers
    for c in changed:
        if c.properties["client_number"] in changes.edited_clients and \
                c.properties["relationship"] == "Client":
            assert c.properties["phone"] == rw.agency.clients[c.properties["client_number"]].phone
    assert {c.id for c in changed} - contacts_before  # new clients' contacts
    after = {r.id: r for r in page_all(client, "notes")}
    archived = {r.id: r for r in page_all(client, "notes", archived=True)}
    assert archived and not set(archived) & set(after)
    for rid, rec in archived.items():
        assert rec.archived_at is not None
        if rid in before:  # archived by time travel: modified date untouched
            assert rec.updated_at == before[rid].updated_at
            assert rec.properties["hs_lastmodifieddate"] == \
                before[rid].properties["hs_lastmodifieddate"]
    hidden = search(client, "notes", filter_groups=[{"filters": [
        {"propertyName": "hs_object_id", "operator": "IN", "values": list(archived)}]}])
    assert hidden.total == 0
    discharged = set(changes.discharged)
    if discharged:
        deals = page_all(client, "deals", properties=["client_number", "dealstage"])
        assert {d.properties["dealstage"] for d in deals
                if d.properties["client_number"] in discharged} == {"closedlost"}


def test_deterministic_for_same_clients_and_seed() -> None:
    def dump(seed: int) -> str:
        agency = Agency(clients=15, seed=seed, start=START)
        em = HubSpotEmulator(agency)
        em.advance(agency.advance(2))
        return json.dumps(em.dump_state(), sort_keys=True)

    assert dump(4) == dump(4)
    assert dump(4) != dump(5)


# -- properties, schemas, owners ------------------------------------------------------------


def test_properties_schemas_and_property_creation(rw: Portal) -> None:
    client = rw.client()
    props = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert {"firstname", "client_number", "relationship", "lastmodifieddate"} <= set(props)
    stages = [o.value for o in props["lifecyclestage"].options]
    assert "customer" in stages and props["email"].has_unique_value
    care = client.crm.properties.core_api.get_all(CUSTOM_FQN).results
    assert {"client_number", "code_status", "care_level"} <= {p.name for p in care}
    assert next(p for p in care if p.name == "client_number").has_unique_value
    made = client.crm.properties.core_api.create("contacts", {
        "name": "legacy_id", "label": "Legacy ID", "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "hasUniqueValue": True})
    assert made.name == "legacy_id" and made.has_unique_value
    with pytest.raises(hubspot.crm.properties.ApiException) as err:
        client.crm.properties.core_api.create("contacts", {
            "name": "legacy_id", "label": "x", "type": "string", "fieldType": "text",
            "groupName": "contactinformation"})
    assert err.value.status == 409
    many = client.crm.properties.batch_api.create("deals", {"inputs": [
        {"name": "payer", "label": "Payer", "type": "enumeration", "fieldType": "select",
         "groupName": "dealinformation", "options": [
             {"label": "Medicaid", "value": "medicaid", "hidden": False},
             {"label": "Private pay", "value": "private", "hidden": False}]},
        {"name": "dealname", "label": "dup", "type": "string", "fieldType": "text",
         "groupName": "dealinformation"}]})
    assert [p.name for p in many.results] == ["payer"] and many.num_errors == 1
    with pytest.raises(hubspot.crm.objects.ApiException) as err:  # options are enforced
        client.crm.objects.basic_api.create("deals", Create(properties={"payer": "cash"}))
    assert "INVALID_OPTION" in json.loads(err.value.body)["message"]
    ups = client.crm.objects.batch_api.upsert("contacts", Upsert(
        inputs=[{"idProperty": "legacy_id", "id": "L-1", "properties": {"firstname": "Ann"}}]))
    assert ups.results[0].new is True
    schemas = client.crm.schemas.core_api.get_all().results
    assert [s.fully_qualified_name for s in schemas] == [CUSTOM_FQN]
    schema = client.crm.schemas.core_api.get_by_id(CUSTOM_TYPE_ID)
    assert schema.object_type_id == CUSTOM_TYPE_ID
    assert {a.to_object_type_id for a in schema.associations} == {"0-1", CUSTOM_TYPE_ID}


def test_owners_page_to_the_end(ro: Portal) -> None:
    api = ro.client().crm.owners.owners_api
    seen, after = [], None
    while True:
        page = api.get_page(limit=4, after=after)
        seen.extend(page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == 6 and len({o.id for o in seen}) == 6
    assert api.get_by_id(int(seen[0].id)).email == seen[0].email


# -- associations v4 ----------------------------------------------------------------------


def test_associations_v4_read_page_create_default_labels(rw: Portal) -> None:
    client = rw.client()
    v4 = client.crm.associations.v4
    care = page_all(client, CUSTOM_FQN, properties=["client_number"])
    contacts = {c.id: c for c in page_all(client, "contacts", properties=["client_number"])}
    link = v4.basic_api.get_page(CUSTOM_FQN, care[0].id, "contacts")
    assert contacts[link.results[0].to_object_id].properties["client_number"] == \
        care[0].properties["client_number"]
    client_contact = link.results[0].to_object_id
    notes = v4.basic_api.get_page("contacts", client_contact, "notes", limit=2)
    assert len(notes.results) == 2 and notes.paging.next.after == "2"
    assert notes.results[0].association_types[0].type_id == 201
    every, after = [], None
    while True:
        page = v4.basic_api.get_page("contacts", client_contact, "notes", limit=2, after=after)
        every.extend(page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(every) == len({r.to_object_id for r in every}) >= 6
    read = v4.batch_api.get_page("contacts", "notes",
        v4m.BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": client_contact}, {"id": "404404"}]))
    assert isinstance(read, v4m.BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert read.results[0]._from.id == client_contact and read.num_errors == 1
    note = client.crm.objects.basic_api.create("notes", Create(
        properties={"hs_note_body": "Restored", "hs_timestamp": "2025-01-01T00:00:00Z"}))
    made = v4.batch_api.create("notes", "contacts",
        v4m.BatchInputPublicAssociationMultiPost(inputs=[
        {"from": {"id": note.id}, "to": {"id": client_contact},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]))
    assert isinstance(made, v4m.BatchResponseLabelsBetweenObjectPair)
    assert made.results[0].from_object_type_id == "0-46"
    deal = page_all(client, "deals")[0]
    default = v4.batch_api.create_default("notes", "deals",
        v4m.BatchInputPublicDefaultAssociationMultiPost(
        inputs=[{"from": {"id": note.id}, "to": {"id": deal.id}}]))
    assert {r.association_spec.association_type_id for r in default.results} == {214, 213}
    back = v4.basic_api.get_page("deals", deal.id, "notes")
    assert note.id in {r.to_object_id for r in back.results}
    labels = v4.schema.definitions_api.get_all("contacts", "companies").results
    assert {(lab.type_id, lab.label) for lab in labels} == {(279, None), (1, "Primary")}


def test_a_contact_has_one_primary_company_and_the_label_moves(rw: Portal) -> None:
    """HubSpot keeps one primary company per contact: a new primary association moves the
    label, and the old company stays associated without it."""
    client = rw.client()
    v4 = client.crm.associations.v4
    made = [client.crm.objects.basic_api.create("companies", Create(
        properties={"name": n})).id for n in ("First practice", "Second practice")]
    contact = client.crm.objects.basic_api.create("contacts", Create(
        properties={"firstname": "Primary", "lastname": "Mover"})).id

    def types(to: str = "companies", start: str = contact, kind: str = "contacts"
              ) -> dict[str, set[int]]:
        page = v4.basic_api.get_page(kind, start, to)
        return {str(r.to_object_id): {t.type_id for t in r.association_types}
                for r in page.results}

    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    v4.basic_api.create("contacts", contact, "companies", made[0], primary)
    assert 1 in types()[made[0]]
    v4.basic_api.create("contacts", contact, "companies", made[1], primary)
    now = types()
    assert 1 in now[made[1]] and 1 not in now[made[0]] and now[made[0]] == {279}
    assert types("contacts", made[0], "companies")[contact] == {280}


# -- files ------------------------------------------------------------------------------------


def test_files_search_signed_url_download_expiry_and_upload(rw: Portal, tmp_path: Path) -> None:
    client = rw.client()
    files_api = client.files.files_api
    seen, after = [], None
    while True:
        page = files_api.do_search(limit=7, after=after)
        seen.extend(page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == len(rw.emulator.portal.files) == 21  # 20 intake forms + 1 consent
    big = next(f for f in seen if "consent" in f.name)
    assert big.size > 5_000_000
    assert files_api.get_by_id(big.id).path == big.path
    signed = files_api.get_signed_url(big.id)
    first = requests.get(signed.url, timeout=10)
    assert first.status_code == 200 and len(first.content) == big.size
    assert first.content.startswith(b"%PDF") and first.content.rstrip().endswith(b"%%EOF")
    again = requests.get(files_api.get_signed_url(big.id).url, timeout=10).content
    assert again == first.content  # deterministic bytes
    tampered = signed.url.replace("Signature=", "Signature=0")
    assert requests.get(tampered, timeout=10).status_code == 403
    rw.advance(1)  # the URL expired on the sandbox clock
    assert requests.get(signed.url, timeout=10).status_code == 403
    source = tmp_path / "care plan.pdf"
    source.write_bytes(b"%PDF-1.4 restored care plan \xe2\x9c\x93")
    uploaded = files_api.upload(file=str(source), folder_path="/Restored",
                                options=json.dumps({"access": "PRIVATE"}))
    assert uploaded.path == "/Restored/care plan.pdf" and uploaded.size == source.stat().st_size
    url = files_api.get_signed_url(uploaded.id).url
    assert requests.get(url, timeout=10).content == source.read_bytes()
    names = files_api.do_search(name="care plan").results
    assert [f.id for f in names] == [uploaded.id]


# -- auth, rate limits, faults ----------------------------------------------------------------


def test_wrong_token_is_401(ro: Portal) -> None:
    bad = hubspot.Client.create(access_token="nope", host=ro.url)
    with pytest.raises(hubspot.crm.contacts.ApiException) as err:
        bad.crm.contacts.basic_api.get_page()
    assert err.value.status == 401
    assert json.loads(err.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_rate_limit_headers_and_budgets(rw: Portal) -> None:
    response = requests.get(f"{rw.url}/crm/v3/objects/contacts",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    daily = int(response.headers["X-HubSpot-RateLimit-Daily-Remaining"])
    assert int(response.headers["X-HubSpot-RateLimit-Secondly"]) == rw.emulator.secondly_limit
    assert "X-HubSpot-RateLimit-Secondly-Remaining" in response.headers
    response = requests.get(f"{rw.url}/crm/v3/objects/contacts",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert int(response.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == daily - 1
    client = rw.client()
    rw.emulator.secondly_limit = 0
    with pytest.raises(hubspot.crm.contacts.ApiException) as err:
        client.crm.contacts.basic_api.get_page()
    assert err.value.status == 429 and json.loads(err.value.body)["policyName"] == "SECONDLY"
    rw.emulator.secondly_limit, rw.emulator.daily_limit = 1000, 0
    with pytest.raises(hubspot.crm.contacts.ApiException) as err:
        client.crm.contacts.basic_api.get_page()
    body = json.loads(err.value.body)
    assert body["policyName"] == "DAILY" and body["errorType"] == "RATE_LIMIT"
    rw.emulator.daily_limit = 1_000_000
    assert client.crm.contacts.basic_api.get_page().results


def test_429_with_and_without_retry_after(rw: Portal) -> None:
    try:
        # Retry-After present: urllib3 (even the SDK's default retries) honours it on a GET
        # (the call succeeds although the fault fired: it was retried; the request log is
        # written after the response is sent, so it is not counted here)
        fault = rw.faults.add("hubspot", "rate_limit", retry_after=0, endpoint="objects.list")
        assert rw.client().crm.contacts.basic_api.get_page().results
        assert fault.fired == 1
        # no Retry-After and no status_forcelist: the SDK raises, with HubSpot's body
        rw.faults.add("hubspot", "rate_limit", endpoint="objects.list")
        with pytest.raises(hubspot.crm.contacts.ApiException) as err:
            rw.client(retry=Retry(total=3, backoff_factor=0)).crm.contacts.basic_api.get_page()
        assert err.value.status == 429 and "Retry-After" not in err.value.headers
        assert json.loads(err.value.body)["message"] == "You have reached your secondly limit."
        # a status_forcelist retries it
        twice = rw.faults.add("hubspot", "rate_limit", endpoint="objects.list", times=2)
        retry = Retry(total=3, status_forcelist=[429], backoff_factor=0)
        assert rw.client(retry=retry).crm.contacts.basic_api.get_page().results
        assert twice.fired == 2
        # POST (search) is retried only when allowed_methods=None
        rw.faults.add("hubspot", "rate_limit", endpoint="search", retry_after=0)
        with pytest.raises(hubspot.crm.objects.ApiException):
            search(rw.client(retry=retry), "contacts")
        again = rw.faults.add("hubspot", "rate_limit", endpoint="search", retry_after=0)
        post_retry = Retry(total=3, status_forcelist=[429], allowed_methods=None, backoff_factor=0)
        assert search(rw.client(retry=post_retry), "contacts").total > 0
        assert again.fired == 1
    finally:
        rw.faults.clear()


def test_5xx_slow_timeout_truncated_malformed(rw: Portal) -> None:
    no_retry = Retry(total=0)
    try:
        rw.faults.add("hubspot", "server_error", status=502)
        with pytest.raises(hubspot.crm.contacts.ApiException) as err:
            rw.client().crm.contacts.basic_api.get_page()
        assert err.value.status == 502
        assert json.loads(err.value.body)["category"] == "SERVICE_UNAVAILABLE"
        rw.faults.add("hubspot", "server_error", status=503, times=2)
        retry = Retry(total=3, status_forcelist=[502, 503], backoff_factor=0)
        assert rw.client(retry=retry).crm.contacts.basic_api.get_page().results
        rw.faults.add("hubspot", "slow", delay=0.3)
        started = time.perf_counter()
        assert rw.client().crm.contacts.basic_api.get_page(_request_timeout=5).results
        assert time.perf_counter() - started >= 0.3
        rw.faults.add("hubspot", "timeout", delay=1.0)
        with pytest.raises(urllib3.exceptions.MaxRetryError) as timeout:
            rw.client(retry=no_retry).crm.contacts.basic_api.get_page(_request_timeout=0.2)
        assert isinstance(timeout.value.reason, urllib3.exceptions.ReadTimeoutError)
        rw.faults.add("hubspot", "truncated")
        with pytest.raises(urllib3.exceptions.MaxRetryError) as cut:
            rw.client(retry=no_retry).crm.contacts.basic_api.get_page()
        assert isinstance(cut.value.reason, urllib3.exceptions.ProtocolError)
        # an HTML body where JSON was expected: a ValueError with validation on; with the
        # SDK's default (validation off) it quietly deserializes to an empty model
        rw.faults.add("hubspot", "malformed")
        with pytest.raises(ValueError):
            rw.client().crm.contacts.basic_api.get_page()
        rw.faults.add("hubspot", "malformed")
        lax = hubspot.Client.create(access_token=TOKEN, host=rw.url)
        assert lax.crm.contacts.basic_api.get_page().results is None
    finally:
        rw.faults.clear()


# -- conformance, state, empty portal, performance ------------------------------------------------


def test_responses_deserialize_through_sdk_models(ro: Portal) -> None:
    """Each response kind through the SDK's models with client-side validation on: a missing
    required field would raise ValueError inside the SDK."""
    client = ro.client()
    config = client.crm.objects.basic_api.api_client.configuration
    assert config.client_side_validation
    with pytest.raises(ValueError):  # validation is live
        om.SimplePublicObject(id="1", properties={}, local_vars_configuration=config)
    assert not hubspot.Client.create(access_token=TOKEN, host=ro.url).crm.objects.basic_api \
        .api_client.configuration.client_side_validation  # the SDK's own default is off
    contact = client.crm.contacts.basic_api.get_page(limit=1).results[0]
    checks = [
        (client.crm.objects.basic_api.get_page("notes", limit=2, associations=["contacts"]),
         om.CollectionResponseSimplePublicObjectWithAssociationsForwardPaging),
        (client.crm.objects.basic_api.get_by_id("contacts", contact.id),
         om.SimplePublicObjectWithAssociations),
        (search(client, "deals", limit=1),
         om.CollectionResponseWithTotalSimplePublicObjectForwardPaging),
        (client.crm.properties.core_api.get_all("deals"),
         hubspot.crm.properties.CollectionResponsePropertyNoPaging),
        (client.crm.schemas.core_api.get_all(),
         hubspot.crm.schemas.CollectionResponseObjectSchemaNoPaging),
        (client.crm.owners.owners_api.get_page(),
         hubspot.crm.owners.CollectionResponsePublicOwnerForwardPaging),
        (client.crm.associations.v4.basic_api.get_page("contacts", contact.id, "notes"),
         v4m.CollectionResponseMultiAssociatedObjectWithLabelForwardPaging),
        (client.files.files_api.do_search(), hubspot.files.CollectionResponseFile),
    ]
    for response, model in checks:
        assert isinstance(response, model), model
    files = checks[-1][0].results
    assert isinstance(client.files.files_api.get_signed_url(files[0].id), hubspot.files.SignedUrl)


def test_dump_load_round_trip_through_sandbox_state(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    with Sandbox(clients=8, seed=2, start=START, state=state) as sb:
        sb.advance(2)
        client = hubspot.Client.create(access_token=TOKEN, host=sb.urls["hubspot"],
                                       client_side_validation=True)
        client.crm.objects.batch_api.upsert("contacts", Upsert(
            inputs=[{"idProperty": "source_record_id", "id": "x-1",
                     "properties": {"firstname": "Ünal"}}]))
        before = sb.hubspot.dump_state()
        rows = [r.to_dict() for r in page_all(client, "contacts", archived=True)]
    with Sandbox(clients=0, seed=2, start=START, state=state) as again:
        assert again.hubspot.dump_state() == before
        client = hubspot.Client.create(access_token=TOKEN, host=again.urls["hubspot"],
                                       client_side_validation=True)
        assert [r.to_dict() for r in page_all(client, "contacts", archived=True)] == rows
        found = client.crm.contacts.basic_api.get_by_id("x-1", id_property="source_record_id",
                                                         properties=["firstname"])
        assert found.properties["firstname"] == "Ünal"
    json.dumps(before)  # JSON-serialisable


def test_empty_portal_accepts_restore_writes(empty: Portal) -> None:
    client = empty.client()
    for type_name in [*STANDARD, CUSTOM_FQN]:
        assert page_all(client, type_name) == []
    assert client.files.files_api.do_search().results == []
    batch = client.crm.objects.batch_api
    people = batch.upsert("contacts", Upsert(inputs=[
        {"idProperty": "source_record_id", "id": f"hs-{i}", "properties": {
            "firstname": name, "client_number": "C-00001"}}
        for i, name in enumerate(["Ana", "Bo"])]))
    assert [r.new for r in people.results] == [True, True]
    contact_ids = [r.id for r in people.results]
    care = batch.upsert(CUSTOM_FQN, Upsert(inputs=[
        {"idProperty": "client_number", "id": "C-00001", "properties": {
            "code_status": "DNR", "care_level": "Level 1 - Companion"}}]))
    assert care.results[0].new is True
    notes = batch.create("notes", Creates(inputs=[
        {"properties": {"hs_note_body": "Restored note", "hs_timestamp": "2024-05-01T10:00:00Z"},
         "associations": [{"to": {"id": contact_ids[0]}, "types": [
             {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]}]))
    note_id = notes.results[0].id
    client.crm.associations.v4.batch_api.create_default(
        CUSTOM_FQN, "contacts",
        v4m.BatchInputPublicDefaultAssociationMultiPost(
            inputs=[{"from": {"id": care.results[0].id}, "to": {"id": contact_ids[0]}}]))
    again = batch.upsert("contacts", Upsert(inputs=[
        {"idProperty": "source_record_id", "id": "hs-0", "properties": {"lastname": "Silva"}}]))
    assert again.results[0].new is False and again.results[0].id == contact_ids[0]
    served = client.crm.contacts.basic_api.get_by_id(
        contact_ids[0], properties=["firstname", "lastname"], associations=["notes", CUSTOM_FQN])
    assert served.properties["lastname"] == "Silva"
    assert [a.id for a in served.associations["notes"].results] == [note_id]
    assert served.associations[CUSTOM_FQN].results[0].id == care.results[0].id
    assert len(page_all(client, "contacts")) == 2


def test_paging_at_scale_returns_every_record_once() -> None:
    """Speed is bench/emulators.py's to measure (start-up and records/s, with their targets);
    here, that paging a large portal returns every live record exactly once."""
    HubSpotEmulator(Agency(clients=100, seed=1, start=START))
    for portal in _serve(400, seed=9):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        count, after, seen = 0, "0", set()
        while after:
            page = session.get(f"{portal.url}/crm/v3/objects/notes", timeout=10, params={
                "limit": "100", "after": after, "properties": "hs_note_body,hs_timestamp"}).json()
            count += len(page["results"])
            seen.update(r["id"] for r in page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
        assert count == len(seen) == portal.live("notes") > 3000
    assert {t.type_id for t in TYPES.values()} >= {"0-1", "0-46", CUSTOM_TYPE_ID}


def test_batch_create_links_inline_by_a_type_id_valid_for_the_pair(empty: Portal) -> None:
    """Batch create takes each input's associations (``to.id`` and ``types``), as HubSpot
    documents; a type id that is not one between the two objects refuses that input."""
    client = empty.client()
    company = client.crm.objects.basic_api.create("companies", Create(
        properties={"name": "Lakeside Practice"}))

    def create(type_id: int) -> dict[str, Any]:
        inputs = [{"properties": {"firstname": f"T{type_id}"}, "associations": [
            {"to": {"id": company.id}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]}]
        return json.loads(client.crm.objects.batch_api.create(
            "contacts", {"inputs": inputs}, _preload_content=False).data)

    made = create(279)  # contact to company
    assert made["results"] and not made.get("errors")
    linked = client.crm.associations.v4.basic_api.get_page(
        "contacts", made["results"][0]["id"], "companies")
    assert [r.to_object_id for r in linked.results] == [company.id]
    refused = create(202)  # note to contact: not a contact-to-company type
    assert not refused["results"] and refused["errors"][0]["category"] == "VALIDATION_ERROR"
