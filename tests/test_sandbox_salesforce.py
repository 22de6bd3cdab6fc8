"""The Salesforce emulator driven by the real, unmodified simple-salesforce over loopback HTTP.

Each test builds its own small org (construction takes milliseconds) so tests that write,
travel in time or inject faults never see each other's changes; no fixed ports, no files
outside tmp_path.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox
from sandbox.agency import Agency, ChangeSet
from sandbox.faults import FaultPlan
from sandbox.http import EmulatorServer, RequestLog
from sandbox.salesforce import SalesforceEmulator
from sandbox.salesforce.soql import SoqlError, parse

CREDS = CREDENTIALS["salesforce"]
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
SF_DATETIME = "%Y-%m-%dT%H:%M:%S.%f%z"


class Org:
    """One emulator on an ephemeral port plus the SDK pointed at it."""

    def __init__(self, clients: int, seed: int = 7) -> None:
        self.agency = Agency(clients=clients, seed=seed, start=START)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.em = SalesforceEmulator(self.agency, self.faults)
        self.server = EmulatorServer(self.em, self.log).start()
        self.url = self.server.base_url

    def sf(self, version: str = "59.0") -> Salesforce:
        return Salesforce(username=CREDS["username"], password=CREDS["password"],
                          security_token=CREDS["security_token"], version=version,
                          session=LoopbackSession(self.url))

    def advance(self, days: int) -> ChangeSet:
        with self.em.lock:
            changes = self.agency.advance(days)
            self.em.advance(changes)
        return changes

    def stop(self) -> None:
        self.faults.clear()
        self.server.stop()


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org(clients=25)
    yield o
    o.stop()


@pytest.fixture
def sf(org: Org) -> Salesforce:
    return org.sf()


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["Id"] for r in records]


def md5(data: bytes) -> Any:
    return hashlib.md5(data)  # noqa: S324 - Salesforce's ContentVersion.Checksum is MD5


def parse_sf_datetime(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, SF_DATETIME)


# -- logins ------------------------------------------------------------------------------

def test_soap_login_gives_a_working_session_and_bad_password_is_invalid_login(org: Org) -> None:
    sf = org.sf()
    assert sf.sf_instance == org.url.removeprefix("http://")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 25
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(username=CREDS["username"], password="wrong", security_token="x",
                   session=LoopbackSession(org.url))
    assert exc.value.code == "INVALID_LOGIN"


def test_oauth_password_client_credentials_and_jwt_flows(org: Org) -> None:
    password = Salesforce(username=CREDS["username"], password=CREDS["password"],
                          consumer_key=CREDS["client_id"], consumer_secret=CREDS["client_secret"],
                          session=LoopbackSession(org.url))
    assert password.query("SELECT COUNT() FROM Physician__c")["totalSize"] > 0
    host = "sunrise.my.salesforce.com"
    client_creds = Salesforce(consumer_key=CREDS["client_id"],
                              consumer_secret=CREDS["client_secret"], domain="sunrise.my",
                              session=LoopbackSession(org.url, extra_hosts=(host,)))
    assert client_creds.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    jwt_sf = Salesforce(username=CREDS["username"], consumer_key=CREDS["client_id"],
                        privatekey=pem, session=LoopbackSession(org.url))
    assert jwt_sf.query("SELECT Id FROM Account LIMIT 2")["totalSize"] == 2
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(username=CREDS["username"], consumer_key="someone-else", privatekey=pem,
                   session=LoopbackSession(org.url))
    assert exc.value.code == "invalid_grant"
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username=CREDS["username"], password=CREDS["password"],
                   consumer_key=CREDS["client_id"], consumer_secret="nope",
                   session=LoopbackSession(org.url))


def test_unknown_session_is_401_invalid_session_id(org: Org) -> None:
    sf = Salesforce(session_id="00Dbogus!AQ", instance_url=org.url.replace("http", "https"),
                    session=LoopbackSession(org.url))
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT Id FROM Account")
    assert exc.value.content == [{"message": "Session expired or invalid",
                                  "errorCode": "INVALID_SESSION_ID"}]


# -- describe ----------------------------------------------------------------------------

def test_describe_global_and_describe_have_the_documented_shapes(sf: Salesforce) -> None:
    glob = sf.describe()
    assert {"encoding", "maxBatchSize", "sobjects"} <= set(glob)
    entries = {o["name"]: o for o in glob["sobjects"]}
    for entry in entries.values():
        assert {"name", "label", "custom", "queryable", "retrieveable", "replicateable",
                "createable", "updateable", "deletable", "urls", "keyPrefix"} <= set(entry)
        assert all(isinstance(entry[k], bool) for k in ("queryable", "replicateable", "custom"))
    assert entries["AccountChangeEvent"]["queryable"] is False
    assert entries["RecentlyViewed"]["replicateable"] is False
    assert entries["Care_Plan__c"]["custom"] is True
    assert entries["Account"]["keyPrefix"] == "001"

    account = sf.Account.describe()
    assert {"fields", "childRelationships", "recordTypeInfos", "name", "keyPrefix"} <= set(account)
    fields = {f["name"]: f for f in account["fields"]}
    for f in fields.values():
        assert {"name", "label", "type", "length", "nillable", "createable", "updateable",
                "calculated", "externalId", "unique", "referenceTo", "relationshipName",
                "picklistValues"} <= set(f)
        assert isinstance(f["referenceTo"], list) and isinstance(f["picklistValues"], list)
    assert fields["BillingAddress"]["type"] == "address"
    assert fields["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert fields["Primary_Physician__c"]["referenceTo"] == ["Physician__c"]
    assert fields["Primary_Physician__c"]["relationshipName"] == "Primary_Physician__r"
    assert fields["Client_Number__c"]["externalId"] and fields["Client_Number__c"]["unique"]
    assert fields["Age__c"]["calculated"] is True
    assert fields["Services__c"]["type"] == "multipicklist"
    assert [p["value"] for p in fields["Status__c"]["picklistValues"]] == ["Active", "Discharged"]
    assert {c["childSObject"] for c in account["childRelationships"]} >= {
        "Care_Plan__c", "Medication__c", "ContentVersion"}
    meds = {f["name"]: f for f in sf.Medication__c.describe()["fields"]}
    assert meds["Active__c"]["type"] == "boolean" and meds["Times__c"]["type"] == "multipicklist"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()


# -- query -------------------------------------------------------------------------------

def test_query_shapes_compound_fields_nulls_and_attributes(sf: Salesforce) -> None:
    result = sf.query("SELECT Id, Name, BillingAddress, BillingCity, Email__c, Birthdate__c, "
                      "SystemModstamp, Services__c FROM Account")
    assert set(result) == {"totalSize", "done", "records"} and result["done"] is True
    rec = result["records"][0]
    assert rec["attributes"] == {"type": "Account",
                                 "url": f"/services/data/v59.0/sobjects/Account/{rec['Id']}"}
    assert len(rec["Id"]) == 18 and rec["Id"].startswith("001")
    assert set(rec["BillingAddress"]) == {"city", "country", "geocodeAccuracy", "latitude",
                                          "longitude", "postalCode", "state", "street"}
    assert rec["BillingAddress"]["city"] == rec["BillingCity"]
    parse_sf_datetime(rec["SystemModstamp"])  # 2024-01-01T00:00:00.000+0000 format
    assert rec["SystemModstamp"].endswith("+0000")
    emails = [r["Email__c"] for r in result["records"]]
    assert None in emails and "" not in emails  # empty -> null, as Salesforce does
    assert any(";" in (r["Services__c"] or "") for r in result["records"])


def test_soql_where_in_or_order_limit_and_count(sf: Salesforce) -> None:
    everything = sf.query("SELECT Id, Name, Status__c, Gender__c, Birthdate__c, SystemModstamp, "
                          "Email__c FROM Account")["records"]
    cutoff = sorted(r["SystemModstamp"] for r in everything)[10]
    literal = cutoff.replace(".000+0000", "Z")
    got = sf.query(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal}")["records"]
    assert set(ids(got)) == {r["Id"] for r in everything if r["SystemModstamp"] >= cutoff}
    got = sf.query("SELECT Id FROM Account WHERE (Gender__c = 'female' AND Email__c != null) "
                   "OR Birthdate__c < 1940-01-01")["records"]
    assert set(ids(got)) == {r["Id"] for r in everything if (
        r["Gender__c"] == "Female" and r["Email__c"] is not None) or r["Birthdate__c"] <
        "1940-01-01"}
    two = [everything[0]["Id"][:15], everything[3]["Id"]]  # 15-char ids match too
    got = sf.query(f"SELECT Id FROM Account WHERE Id IN ('{two[0]}', '{two[1]}')")["records"]
    assert ids(got) == [everything[0]["Id"], everything[3]["Id"]]
    ordered = sf.query("SELECT Id, Birthdate__c FROM Account ORDER BY Birthdate__c DESC, Id "
                       "LIMIT 5")["records"]
    births = [r["Birthdate__c"] for r in ordered]
    assert births == sorted((r["Birthdate__c"] for r in everything), reverse=True)[:5]
    count = sf.query("SELECT COUNT() FROM Account WHERE Status__c IN ('Active')")
    assert count == {"totalSize": sum(r["Status__c"] == "Active" for r in everything),
                     "done": True, "records": []}
    like = sf.query("SELECT Name FROM Account WHERE Name LIKE 'm%'")["records"]
    assert like and all(r["Name"].lower().startswith("m") for r in like)


def test_parent_relationship_fields_in_rest_and_bulk(sf: Salesforce) -> None:
    soql = ("SELECT Id, Dose__c, Client__r.Client_Number__c, Client__r.Name FROM Medication__c "
            "WHERE Client__r.Client_Number__c = 'C-00002' ORDER BY Client__r.Name, Id")
    rows = sf.query(soql)["records"]
    assert rows and all(r["Client__r"]["Client_Number__c"] == "C-00002" for r in rows)
    parent = rows[0]["Client__r"]
    assert parent["attributes"]["type"] == "Account" and set(parent) == {
        "attributes", "Client_Number__c", "Name"}
    account = sf.query("SELECT Id, Name FROM Account WHERE Client_Number__c = 'C-00002'")
    assert parent["Name"] == account["records"][0]["Name"]
    no_doctor = sf.Account.create({"Name": "No Doctor"})["id"]
    got = sf.query(f"SELECT Primary_Physician__r.Name FROM Account WHERE Id = '{no_doctor}'")
    assert got["records"][0]["Primary_Physician__r"] is None
    csv_rows = [row for chunk in sf.bulk2.Medication__c.query(soql, wait=0.01)
                for row in csv.DictReader(io.StringIO(chunk))]
    assert [r["Client__r.Client_Number__c"] for r in csv_rows] == ["C-00002"] * len(rows)
    for bad, code in (("SELECT Client__x.Name FROM Medication__c", "INVALID_FIELD"),
                      ("SELECT Client__r.Nope FROM Medication__c", "INVALID_FIELD"),
                      ("SELECT Client__r.Owner.Name FROM Medication__c", "MALFORMED_QUERY")):
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.query(bad)
        assert exc.value.content[0]["errorCode"] == code


def test_soql_errors_are_salesforce_shaped(sf: Salesforce) -> None:
    cases = {
        "SELECT Id, Nope__c FROM Account": ("INVALID_FIELD", "No such column 'Nope__c'"),
        "SELECT Id FROM Nope__c": ("INVALID_TYPE", "sObject type 'Nope__c' is not supported"),
        "SELECT Id FROM Account WHERE": ("MALFORMED_QUERY", "unexpected token"),
        "SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'":
            ("INVALID_FIELD", "should not be enclosed in quotes"),
        "SELECT Id FROM AccountChangeEvent": ("INVALID_TYPE_FOR_OPERATION", "does not support"),
    }
    for soql, (code, text) in cases.items():
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.query(soql)
        error = exc.value.content[0]
        assert set(error) == {"message", "errorCode"}
        assert error["errorCode"] == code and text in error["message"], soql
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id, Nope__c FROM Account")
    assert "ERROR at Row:1:Column:12" in exc.value.content[0]["message"]


def test_soql_parser_unit() -> None:
    q = parse("select Id from Account where (A = 1 or B != 'x') and not C in (true) "
              "order by Id desc nulls last limit 5 offset 2")
    assert q.sobject == "Account" and q.limit == 5 and q.offset == 2
    assert q.order[0].desc and q.order[0].nulls_last
    assert parse("SELECT Client__r.Name FROM Care_Plan__c").fields == [("Client__r.Name", 7)]
    for bad in ("SELECT FROM Account", "SELECT Id FROM Account LIMIT x", "SELECT Id FROM A WHERE "
                "Name = 'open", "SELECT Id FROM A WHERE B", "SELECT MAX(Id) FROM A"):
        with pytest.raises(SoqlError):
            parse(bad)


def test_paging_query_and_query_all_to_the_end_with_small_batches() -> None:
    org = Org(clients=70)
    try:
        sf = org.sf()
        org.advance(3)
        total = sf.query("SELECT COUNT() FROM Care_Task__c")["totalSize"]
        assert total > 400  # several pages of 200
        first = sf.query("SELECT Id FROM Care_Task__c",
                         headers={"Sforce-Query-Options": "batchSize=200"})
        assert len(first["records"]) == 200 and first["done"] is False
        assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
        got = sf.query_all("SELECT Id, SystemModstamp FROM Care_Task__c",
                           headers={"Sforce-Query-Options": "batchSize=200"})
        assert got["totalSize"] == total == len(set(ids(got["records"])))
        assert org.log.count("salesforce", "query_more") >= total // 200
        live = sf.query_all("SELECT Id FROM Medication__c")["records"]
        every = sf.query_all("SELECT Id, IsDeleted FROM Medication__c", include_deleted=True,
                             headers={"Sforce-Query-Options": "batchSize=200"})["records"]
        deleted = [r["Id"] for r in every if r["IsDeleted"]]
        assert deleted and not set(deleted) & set(ids(live))
        assert len(every) == len(live) + len(deleted)
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.query_more("01gDn00000000ZZZZZ-200")
        assert exc.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    finally:
        org.stop()


# -- time travel -------------------------------------------------------------------------

def test_time_travel_edits_soft_and_hard_deletes_and_replication_endpoints() -> None:
    org = Org(clients=40, seed=11)
    try:
        sf = org.sf()
        before = {r["Id"]: r["SystemModstamp"] for r in sf.query_all(
            "SELECT Id, SystemModstamp FROM Account")["records"]}
        now0 = org.agency.now
        changes = org.advance(3)
        assert changes.stopped_medications and changes.edited_clients and changes.new_clients
        accounts = {r["Client_Number__c"]: r for r in sf.query_all(
            "SELECT Id, Client_Number__c, SystemModstamp, Status__c FROM Account")["records"]}
        for number in changes.edited_clients:
            rec = accounts[number]
            assert rec["SystemModstamp"] > before[rec["Id"]]
        for number in changes.discharged:
            assert accounts[number]["Status__c"] == "Discharged"
        for number in changes.new_clients:
            assert accounts[number]["Id"] not in before
        new_files = sf.query(f"SELECT Id FROM ContentVersion WHERE FirstPublishLocationId = "
                             f"'{accounts[changes.new_clients[0]]['Id']}'")["records"]
        assert len(new_files) == 1
        keys = "', '".join(changes.stopped_medications)
        soft = sf.query_all(f"SELECT Id, IsDeleted FROM Medication__c WHERE Medication_Key__c IN "
                            f"('{keys}')", include_deleted=True)["records"]
        assert soft and all(r["IsDeleted"] for r in soft)
        assert sf.query(f"SELECT COUNT() FROM Medication__c WHERE Medication_Key__c IN "
                        f"('{keys}')")["totalSize"] == 0
        start, end = now0, org.agency.now + dt.timedelta(minutes=1)
        deleted = sf.Medication__c.deleted(start, end)
        assert set(deleted) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
        assert {d["id"] for d in deleted["deletedRecords"]} >= set(ids(soft))
        updated = sf.Account.updated(start, end)
        assert set(updated) == {"ids", "latestDateCovered"}
        changed = {rid for rid, r in ((a["Id"], a) for a in accounts.values())
                   if r["SystemModstamp"] > before.get(rid, "")}
        assert set(updated["ids"]) == changed
        assert not set(updated["ids"]) & {d["id"] for d in deleted["deletedRecords"]}
        stamps = Counter(r["SystemModstamp"] for r in sf.query_all(
            "SELECT SystemModstamp FROM Care_Task__c")["records"])
        assert max(stamps.values()) > 1  # cursor ties exist

        org.advance(5)  # crosses day 7: the recycle bin is emptied
        after = sf.query_all("SELECT Id FROM Medication__c", include_deleted=True)["records"]
        assert not set(ids(soft)) & set(ids(after))  # hard-deleted: gone from queryAll too
        deleted = sf.Medication__c.deleted(start, org.agency.now + dt.timedelta(minutes=1))
        assert not set(ids(soft)) & {d["id"] for d in deleted["deletedRecords"]}
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.Account.updated(org.agency.now - dt.timedelta(days=40), org.agency.now)
        assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    finally:
        org.stop()


def test_advance_survives_clients_the_org_no_longer_holds() -> None:
    org = Org(clients=20, seed=11)
    try:
        sf = org.sf()
        accounts = sf.query_all("SELECT Id FROM Account")["records"]
        for acc in accounts:  # an operator deleted every client through the API
            sf.Account.delete(acc["Id"])
        changes = org.advance(3)
        assert changes.discharged or changes.edited_clients or changes.stopped_medications
        live = sf.query_all("SELECT Client_Number__c FROM Account")["records"]
        assert {r["Client_Number__c"] for r in live} == set(changes.new_clients)
    finally:
        org.stop()


def test_concurrent_clients_are_served_consistently(org: Org) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> tuple[int, int]:
        sf = org.sf()
        sf.Physician__c.create({"Name": f"Dr. Thread {i}"})
        rows = sf.query_all("SELECT Id FROM Care_Task__c",
                            headers={"Sforce-Query-Options": "batchSize=200"})["records"]
        return len(rows), len(set(ids(rows)))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(12)))
    assert len(set(results)) == 1 and results[0][0] == results[0][1] > 0
    sf = org.sf()
    made = sf.query("SELECT Name FROM Physician__c WHERE Name LIKE 'Dr. Thread %'")
    assert made["totalSize"] == 12


def test_same_seed_same_org_and_state_round_trip(tmp_path: Any) -> None:
    a = SalesforceEmulator(Agency(clients=15, seed=5, start=START))
    b = SalesforceEmulator(Agency(clients=15, seed=5, start=START))
    c = SalesforceEmulator(Agency(clients=15, seed=6, start=START))
    assert a.dump_state() == b.dump_state() != c.dump_state()
    org = Org(clients=15)
    try:
        sf = org.sf()
        org.advance(2)
        acc = sf.Account.create({"Name": "Round Trip", "Client_Number__c": "RT-1"})["id"]
        sf.ContentVersion.create({"PathOnClient": "note.txt", "FirstPublishLocationId": acc,
                                  "VersionData": base64.b64encode(b"hello").decode()})
        state = json.loads(json.dumps(org.em.dump_state()))
        path = tmp_path / "sf.json"
        path.write_text(json.dumps(state), encoding="utf-8")
        twin = Org(clients=0)
        try:
            twin.em.load_state(json.loads(path.read_text(encoding="utf-8")))
            assert twin.em.dump_state() == state
            sf2 = twin.sf()
            soql = "SELECT Id, Name, SystemModstamp, IsDeleted FROM Medication__c ORDER BY Id"
            assert sf2.query_all(soql, include_deleted=True) == sf.query_all(
                soql, include_deleted=True)
            cv = sf2.query("SELECT Id, Checksum FROM ContentVersion WHERE Title = 'note'")
            assert cv["records"][0]["Checksum"] == md5(b"hello").hexdigest()
        finally:
            twin.stop()
    finally:
        org.stop()


def test_sandbox_serves_salesforce_and_advances_it(tmp_path: Any) -> None:
    with Sandbox(clients=10, seed=2) as sb:
        sf = Salesforce(username=CREDS["username"], password=CREDS["password"],
                        security_token=CREDS["security_token"],
                        session=LoopbackSession(sb.urls["salesforce"]))
        before = sf.query("SELECT COUNT() FROM Account")["totalSize"]
        changes = sb.advance(4)
        after = sf.query("SELECT COUNT() FROM Account")["totalSize"]
        assert after == before + len(changes.new_clients) == len(sb.agency.clients)
        assert sb.log.count("salesforce", "query") == 2


# -- Bulk API 2.0 ------------------------------------------------------------------------

def test_bulk2_query_end_to_end_with_locators(org: Org) -> None:
    sf = org.sf()
    org.em.bulk_polls = 1  # first poll says InProgress
    chunks = list(sf.bulk2.Care_Task__c.query("SELECT Id, Day__c, Notes__c FROM Care_Task__c",
                                               max_records=50, wait=0.01))
    rows = [row for chunk in chunks for row in csv.DictReader(io.StringIO(chunk))]
    total = sf.query("SELECT COUNT() FROM Care_Task__c")["totalSize"]
    assert len(chunks) == -(-total // 50) and len(rows) == total
    assert set(rows[0]) == {"Id", "Day__c", "Notes__c"}
    assert "" in {r["Notes__c"] for r in rows}  # nulls are empty cells
    assert org.log.count("salesforce", "bulk_job") >= 2
    org.advance(3)
    all_rows = [row for chunk in sf.bulk2.Medication__c.query_all(
        "SELECT Id, IsDeleted FROM Medication__c", wait=0.01)
        for row in csv.DictReader(io.StringIO(chunk))]
    assert "true" in {r["IsDeleted"] for r in all_rows}
    with pytest.raises(SalesforceOperationError):  # compound fields: not in Bulk
        list(sf.bulk2.Account.query("SELECT Id, BillingAddress FROM Account", wait=0.01))
    session = LoopbackSession(org.url)
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    job = session.post(f"{org.url}/services/data/v59.0/jobs/query", headers=headers,
                       json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    assert {"id", "operation", "object", "state", "createdDate", "contentType",
            "lineEnding", "columnDelimiter", "apiVersion"} <= set(job)
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    res = session.get(f"{org.url}/services/data/v59.0/jobs/query/{job['id']}/results",
                      headers=headers)
    assert res.status_code == 400  # not complete before a poll
    info = session.get(f"{org.url}/services/data/v59.0/jobs/query/{job['id']}",
                       headers=headers).json()
    assert info["state"] == "InProgress" and info["jobType"] == "V2Query"


# -- writes ------------------------------------------------------------------------------

def test_rest_create_retrieve_update_upsert_delete(org: Org) -> None:
    sf = org.sf()
    physician = sf.Physician__c.create({"Name": "Dr. New", "Practice__c": "Clinic"})
    assert physician["success"] is True and physician["errors"] == []
    acc = sf.Account.create({"Name": "Ada Lovelace", "Client_Number__c": "C-90001",
                             "Primary_Physician__c": physician["id"], "Email__c": "",
                             "Services__c": "Respite;Companionship"})["id"]
    got = sf.Account.get(acc)
    assert got["Name"] == "Ada Lovelace" and got["Status__c"] == "Active"
    assert got["Email__c"] is None and got["IsDeleted"] is False
    assert parse_sf_datetime(got["CreatedDate"]) > org.agency.now
    assert sf.Account.update(acc, {"Phone": "(555) 555-0100"}) == 204
    again = sf.Account.get(acc)
    assert again["Phone"] == "(555) 555-0100" and again["SystemModstamp"] > got["SystemModstamp"]
    assert sf.Account.get_by_custom_id("Client_Number__c", "C-90001")["Id"] == acc
    assert sf.Medication__c.upsert("Medication_Key__c/C-90001-M1", {
        "Name": "Aspirin", "Client__c": acc, "Dose__c": "81 mg"}) == 201
    assert sf.Medication__c.upsert("Medication_Key__c/C-90001-M1", {"Dose__c": "100 mg"}) == 200
    med = sf.Medication__c.get_by_custom_id("Medication_Key__c", "C-90001-M1")
    assert med["Dose__c"] == "100 mg" and med["Active__c"] is True
    raw = sf.Medication__c.upsert("Medication_Key__c/C-90001-M1", {"Dose__c": "75 mg"},
                                  raw_response=True)
    assert raw.status_code == 200 and raw.json()["created"] is False
    codes = Counter(r["ICD10_Code__c"] for r in sf.query_all(
        "SELECT ICD10_Code__c FROM Diagnosis__c")["records"])
    shared = next(c for c, n in codes.items() if n > 1)  # ICD10_Code__c: external, not unique
    with pytest.raises(SalesforceMoreThanOneRecord) as many:
        sf.Diagnosis__c.upsert(f"ICD10_Code__c/{shared}", {"Name": "x"})
    assert len(many.value.content) == codes[shared]
    assert sf.Account.delete(acc) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get(acc)
    assert exc.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    cascade = sf.query_all(f"SELECT Id, IsDeleted FROM Medication__c WHERE Client__c = '{acc}'",
                           include_deleted=True)["records"]
    assert cascade and all(r["IsDeleted"] for r in cascade)


def test_rest_write_errors(sf: Salesforce) -> None:
    cases: list[tuple[str, dict[str, Any], str, list[str]]] = [
        ("Care_Plan__c", {"Client__c": "001Dn00000000ZZAAA", "Name": "x"},
         "INVALID_CROSS_REFERENCE_KEY", ["Client__c"]),
        ("Account", {"Client_Number__c": "C-99"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Account", {"Name": "x", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
        ("Account", {"Name": "x", "Client_Number__c": "C-00001"}, "DUPLICATE_VALUE",
         ["Client_Number__c"]),
        ("Account", {"Name": "x", "SystemModstamp": "2024-01-01T00:00:00Z"},
         "INVALID_FIELD_FOR_INSERT_UPDATE", ["SystemModstamp"]),
        ("Account", {"Name": "x", "Status__c": "Sleeping"},
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status__c"]),
    ]
    for obj, body, code, fields in cases:
        with pytest.raises(SalesforceMalformedRequest) as exc:
            getattr(sf, obj).create(body)
        error = exc.value.content[0]
        assert set(error) == {"message", "errorCode", "fields"}
        assert (error["errorCode"], error["fields"]) == (code, fields), body
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.update("001Dn00000000ZZAAA", {"Name": "x"})


def test_composite_collections_results_and_all_or_none(sf: Salesforce) -> None:
    acc = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    before = sf.query("SELECT COUNT() FROM Allergy__c")["totalSize"]

    def allergy(name: str, client: str = acc) -> dict[str, Any]:
        return {"attributes": {"type": "Allergy__c"}, "Name": name, "Client__c": client,
                "Severity__c": "Mild"}

    mixed = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [allergy("Pollen"), allergy("Dust", "001Dn00000000ZZAAA")]})
    assert mixed[0]["success"] is True and set(mixed[0]) == {"id", "success", "errors"}
    assert mixed[1]["success"] is False
    assert set(mixed[1]["errors"][0]) == {"statusCode", "message", "fields"}
    assert mixed[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    rolled = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [allergy("Mold"), allergy("Cats", "bad-id")]})
    assert [r["success"] for r in rolled] == [False, False]
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert sf.query("SELECT COUNT() FROM Allergy__c")["totalSize"] == before + 1
    med = {"attributes": {"type": "Medication__c"}, "Name": "Zinc", "Client__c": acc,
           "Medication_Key__c": "ROLLBACK-1"}
    rolled = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [med, {**med, "Medication_Key__c": "ROLLBACK-2",
                                             "Active__c": "maybe"}]})
    assert [r["success"] for r in rolled] == [False, False]
    assert sf.Medication__c.create({k: v for k, v in med.items() if k != "attributes"})[
        "success"]  # the rolled-back key is free again
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Allergy__c"}, "id": mixed[0]["id"], "Severity__c": "Severe"}]})
    assert updated == [{"id": mixed[0]["id"], "success": True, "errors": []}]
    upserted = sf.restful("composite/sobjects/Medication__c/Medication_Key__c", method="PATCH",
                          json={"allOrNone": False, "records": [
                              {"attributes": {"type": "Medication__c"}, "Medication_Key__c":
                               "C-00001-M1", "Dose__c": "1 tablet"},
                              {"attributes": {"type": "Medication__c"}, "Medication_Key__c":
                               "NEW-1", "Name": "Zinc", "Client__c": acc}]})
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={
            "records": [allergy(f"A{i}") for i in range(201)]})
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    gone = sf.restful("composite/sobjects", method="DELETE",
                      params={"ids": mixed[0]["id"], "allOrNone": "false"})
    assert gone[0]["success"] is True
    assert sf.query("SELECT COUNT() FROM Allergy__c")["totalSize"] == before


def test_empty_org_accepts_creates_and_upserts_and_serves_them_back() -> None:
    org = Org(clients=0)
    try:
        sf = org.sf()
        assert sf.query("SELECT Id FROM Account") == {"totalSize": 0, "done": True, "records": []}
        phys = sf.Physician__c.create({"Name": "Dr. Restore"})["id"]
        assert sf.Account.upsert("Client_Number__c/C-00001", {
            "Name": "Restored Client", "Primary_Physician__c": phys,
            "Birthdate__c": "1931-02-03", "BillingCity": "Salem"}) == 201
        acc = sf.Account.get_by_custom_id("Client_Number__c", "C-00001")
        result = sf.restful("composite/sobjects/Medication__c/Medication_Key__c", method="PATCH",
                            json={"allOrNone": True, "records": [
                                {"attributes": {"type": "Medication__c"}, "Medication_Key__c":
                                 f"C-00001-M{i}", "Name": f"Drug {i}", "Client__c": acc["Id"],
                                 "Times__c": "08:00;18:00", "Active__c": True}
                                for i in range(1, 4)]})
        assert all(r["success"] and r["created"] for r in result)
        pdf = b"%PDF-1.4 restored care plan"
        cv = sf.ContentVersion.create({"Title": "Care plan", "PathOnClient": "plan.pdf",
                                       "VersionData": base64.b64encode(pdf).decode(),
                                       "FirstPublishLocationId": acc["Id"]})["id"]
        row = sf.query(f"SELECT Id, ContentSize, Checksum, FileExtension, VersionData FROM "
                       f"ContentVersion WHERE Id = '{cv}'")["records"][0]
        assert (row["ContentSize"], row["FileExtension"]) == (len(pdf), "pdf")
        assert row["Checksum"] == md5(pdf).hexdigest()
        assert sf.ContentVersion.get_base64(cv, base64_field="VersionData") == pdf
        meds = sf.query("SELECT Name, Times__c FROM Medication__c ORDER BY Name")["records"]
        assert [m["Name"] for m in meds] == ["Drug 1", "Drug 2", "Drug 3"]
        got = sf.query("SELECT BillingAddress, Age__c FROM Account")["records"][0]
        assert got["BillingAddress"]["city"] == "Salem" and got["Age__c"] > 90
    finally:
        org.stop()


# -- files -------------------------------------------------------------------------------

def test_file_bodies_match_size_and_checksum(sf: Salesforce) -> None:
    files = sf.query_all("SELECT Id, ContentSize, Checksum, PathOnClient, "
                         "FirstPublishLocationId FROM ContentVersion")["records"]
    assert files and all(f["FirstPublishLocationId"].startswith("001") for f in files)
    assert max(f["ContentSize"] for f in files) > 3_000_000  # a few large signed PDFs
    by_size = sorted(files, key=lambda f: f["ContentSize"])
    for f in [*by_size[:3], by_size[-1]]:
        data = sf.ContentVersion.get_base64(f["Id"], base64_field="VersionData")
        assert len(data) == f["ContentSize"] and data.startswith(b"%PDF")
        assert md5(data).hexdigest() == f["Checksum"]
    atts = sf.query("SELECT Id, BodyLength, Body, ParentId FROM Attachment")["records"]
    assert atts
    body = sf.Attachment.get_base64(atts[0]["Id"])
    assert len(body) == atts[0]["BodyLength"] and atts[0]["Body"].endswith("/Body")


# -- limits and faults -------------------------------------------------------------------

def test_usage_header_limits_endpoint_and_daily_limit(org: Org) -> None:
    sf = org.sf()
    sf.query("SELECT Id FROM Account LIMIT 1")
    used = sf.api_usage["api-usage"]
    assert used.total == 15000 and used.used == org.em.api_usage
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - org.em.api_usage
    org.em.daily_limit = org.em.api_usage + 1
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    org.advance(1)  # a new day
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 25


def test_rate_limit_and_server_error_faults(org: Org) -> None:
    sf = org.sf()
    session = LoopbackSession(org.url)
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    url = f"{org.url}/services/data/v59.0/query/?q=SELECT+Id+FROM+Account"
    org.faults.add("salesforce", "rate_limit", endpoint="query", retry_after=2)
    res = session.get(url, headers=headers)
    assert res.status_code == 429 and res.headers["Retry-After"] == "2"
    assert res.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Sforce-Limit-Info" in res.headers
    org.faults.add("salesforce", "rate_limit", endpoint="query")
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account")
    assert exc.value.status == 429 and isinstance(exc.value.content, list)
    org.faults.add("salesforce", "server_error", endpoint="query")
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account")
    assert exc.value.status == 503
    assert exc.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    org.faults.add("salesforce", "server_error", endpoint="query", status=500)
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Account")
    assert exc.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    org.faults.add("salesforce", "request_limit", endpoint="query")
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Account")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 25  # faults spent
    org.faults.clear()


def test_session_expiry_mid_paging_then_sdk_relogin() -> None:
    org = Org(clients=70)
    try:
        sf = org.sf()
        total = sf.query("SELECT COUNT() FROM Care_Task__c")["totalSize"]
        org.faults.add("salesforce", "session_expired", endpoint="query_more", after=1)
        old = sf.session_id
        got = sf.query_all("SELECT Id FROM Care_Task__c",
                           headers={"Sforce-Query-Options": "batchSize=200"})
        assert len(set(ids(got["records"]))) == total
        assert sf.session_id != old and org.log.count("salesforce", "login") == 2
        assert len([e for e in org.log.entries if e.status == 401]) == 1
        # SDK quirk: its retry after re-login drops the caller's headers, so the page
        # fetched after the expiry comes in the default size, not batchSize=200
        org.faults.add("salesforce", "session_expired", endpoint="query_more")
        first = sf.query("SELECT Id FROM Care_Task__c",
                         headers={"Sforce-Query-Options": "batchSize=200"})
        rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True,
                             headers={"Sforce-Query-Options": "batchSize=200"})
        assert len(first["records"]) == 200 and len(rest["records"]) == total - 200 > 200
        assert org.log.count("salesforce", "login") == 3
    finally:
        org.stop()


def test_slow_timeout_truncated_and_malformed_responses(org: Org) -> None:
    sf = org.sf()
    org.faults.add("salesforce", "slow", endpoint="query", delay=0.2)
    started = time.perf_counter()
    assert sf.query("SELECT COUNT() FROM Account", timeout=5)["totalSize"] == 25
    assert time.perf_counter() - started >= 0.2
    org.faults.add("salesforce", "timeout", endpoint="query", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        sf.query("SELECT Id FROM Account", timeout=0.3)
    org.faults.add("salesforce", "truncated", endpoint="query")
    with pytest.raises((requests.exceptions.RequestException, ValueError)):
        sf.query("SELECT Id, Name FROM Account")
    org.faults.add("salesforce", "malformed", endpoint="query")
    with pytest.raises(ValueError):
        sf.query("SELECT Id FROM Account")
    org.faults.clear()
    time.sleep(0.8)  # let the timed-out handler finish before the server stops
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 25


def test_query_timeout_on_large_non_selective_queries_but_not_in_bulk(org: Org) -> None:
    sf = org.sf()
    org.em.query_timeout_rows = 100
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Care_Task__c")
    assert exc.value.content[0]["errorCode"] == "QUERY_TIMEOUT"
    assert sf.query("SELECT Id FROM Care_Task__c WHERE Day__c = 'Mon'")["totalSize"] <= 100
    chunks = list(sf.bulk2.Care_Task__c.query("SELECT Id FROM Care_Task__c", wait=0.01))
    assert sum(chunk.count("\n") - 1 for chunk in chunks) > 100


def test_other_api_versions_and_retrieve_with_fields(org: Org) -> None:
    sf = org.sf(version="60.0")
    rec = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]
    assert rec["attributes"]["url"].startswith("/services/data/v60.0/")
    got = sf.Account.get(rec["Id"], params={"fields": "Name,Client_Number__c"})
    assert set(got) == {"attributes", "Name", "Client_Number__c"}


# -- scale -------------------------------------------------------------------------------

def test_query_all_at_scale_returns_every_row_once() -> None:
    """Speed is bench/emulators.py's to measure (start-up and records/s, with their targets);
    here, that query_all over many pages returns every row exactly once."""
    SalesforceEmulator(Agency(clients=100, seed=1, start=START))
    org = Org(clients=1200)
    try:
        sf = org.sf()
        rows = sf.query_all("SELECT Id, Name, Client__c, Day__c, Time__c, Task__c, Notes__c, "
                            "SystemModstamp FROM Care_Task__c")["records"]
        assert len(rows) > 5000 and len({r["Id"] for r in rows}) == len(rows)
    finally:
        org.stop()


# -- conformance -------------------------------------------------------------------------

def check(value: dict[str, Any], spec: dict[str, Any]) -> None:
    """``value`` has at least ``spec``'s keys, each of the given type(s)."""
    missing = set(spec) - set(value)
    assert not missing, missing
    for key, kind in spec.items():
        assert isinstance(value[key], kind), (key, value[key])


@pytest.fixture
def big_org() -> Iterator[Org]:
    o = Org(clients=40)  # about 275 care tasks: more than one page of 200
    yield o
    o.stop()


def test_conformance_of_documented_shapes(big_org: Org) -> None:
    org = big_org
    sf = org.sf()
    session = LoopbackSession(org.url)
    base = f"{org.url}/services/data/v59.0"
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    page = session.get(f"{base}/query", params={"q": "SELECT Id, Name FROM Care_Task__c"},
                       headers={**auth, "Sforce-Query-Options": "batchSize=200"})
    assert page.headers["Content-Type"].startswith("application/json")
    assert page.headers["Sforce-Limit-Info"].startswith("api-usage=")
    body = page.json()
    check(body, {"totalSize": int, "done": bool, "records": list, "nextRecordsUrl": str})
    check(body["records"][0], {"attributes": dict, "Id": str, "Name": str})
    check(body["records"][0]["attributes"], {"type": str, "url": str})
    glob = session.get(f"{base}/sobjects/", headers=auth).json()
    check(glob, {"encoding": str, "maxBatchSize": int, "sobjects": list})
    check(glob["sobjects"][0], {"name": str, "label": str, "custom": bool, "queryable": bool,
                                "retrieveable": bool, "replicateable": bool, "createable": bool,
                                "updateable": bool, "deletable": bool, "urls": dict})
    desc = session.get(f"{base}/sobjects/Care_Plan__c/describe", headers=auth).json()
    check(desc, {"name": str, "fields": list, "childRelationships": list,
                 "recordTypeInfos": list, "keyPrefix": str})
    for f in desc["fields"]:
        check(f, {"name": str, "label": str, "type": str, "length": int, "nillable": bool,
                  "createable": bool, "updateable": bool, "calculated": bool,
                  "externalId": bool, "unique": bool, "referenceTo": list,
                  "relationshipName": (str, type(None)), "picklistValues": list})
    client = next(f for f in desc["fields"] if f["name"] == "Client__c")
    assert (client["type"], client["referenceTo"], client["relationshipName"]) == (
        "reference", ["Account"], "Client__r")
    errors = [
        session.get(f"{base}/query", params={"q": "SELECT Nope FROM Account"}, headers=auth),
        session.get(f"{base}/sobjects/Account/001Dn00000000ZZAAA", headers=auth),
        session.get(f"{base}/nothing/here", headers=auth),
        session.get(f"{base}/sobjects/", headers={"Authorization": "Bearer nope"}),
        session.post(f"{base}/sobjects/Account/", json={"Name": None}, headers=auth),
    ]
    assert [e.status_code for e in errors] == [400, 404, 404, 401, 400]
    for e in errors:
        assert isinstance(e.json(), list) and len(e.json()) == 1
        check(e.json()[0], {"message": str, "errorCode": str})
    job = session.post(f"{base}/jobs/query", headers=auth, json={
        "operation": "queryAll", "query": "SELECT Id FROM Medication__c"}).json()
    check(job, {"id": str, "operation": str, "object": str, "state": str, "createdDate": str,
                "apiVersion": float, "contentType": str, "lineEnding": str})
    info = session.get(f"{base}/jobs/query/{job['id']}", headers=auth).json()
    check(info, {"state": str, "jobType": str, "numberRecordsProcessed": int, "retries": int})
    assert info["state"] == "JobComplete"
    results = session.get(f"{base}/jobs/query/{job['id']}/results",
                          params={"maxRecords": 10}, headers=auth)
    assert results.headers["Content-Type"].startswith("text/csv")
    assert results.headers["Sforce-NumberOfRecords"] == "10"
    assert results.headers["Sforce-Locator"] not in ("", "null")
    composite = session.post(f"{base}/composite/sobjects", headers=auth, json={"records": [
        {"attributes": {"type": "Physician__c"}, "Name": "Dr. Shape"},
        {"attributes": {"type": "Physician__c"}}]}).json()
    check(composite[0], {"id": str, "success": bool, "errors": list})
    check(composite[1], {"success": bool, "errors": list})
    check(composite[1]["errors"][0], {"statusCode": str, "message": str, "fields": list})
    versions = session.get(f"{org.url}/services/data/").json()  # no session needed
    assert {"label", "url", "version"} <= set(versions[0])
    limits = session.get(f"{base}/limits/", headers=auth).json()
    check(limits["DailyApiRequests"], {"Max": int, "Remaining": int})
