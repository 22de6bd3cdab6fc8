"""The Salesforce emulator's Opportunity and Case (standard objects, empty in the agency's
org), driven by the real simple-salesforce over loopback HTTP, and a sync of an org that
has some."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from exporter.archive import Archive
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(clients=4, seed=31) as box:
        yield box


def _account(sf: Salesforce, n: int = 0) -> str:
    return str(sf.query("SELECT Id FROM Account ORDER BY Client_Number__c")["records"][n]["Id"])


def _fields(sf: Salesforce, obj: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in getattr(sf, obj).describe()["fields"]}


def test_describe_has_salesforce_defaults(sb: Sandbox) -> None:
    sf = salesforce(sb)
    listed = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert listed["Opportunity"]["keyPrefix"] == "006" and listed["Case"]["keyPrefix"] == "500"
    assert listed["Opportunity"]["replicateable"] and listed["Case"]["queryable"]
    opp = _fields(sf, "Opportunity")
    assert [v["value"] for v in opp["StageName"]["picklistValues"]] == [
        "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
        "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
        "Negotiation/Review", "Closed Won", "Closed Lost"]
    required = {n for n, f in opp.items() if f["createable"] and not f["nillable"]
                and not f["defaultedOnCreate"]}
    assert required == {"Name", "StageName", "CloseDate"}
    assert (opp["Amount"]["type"], opp["Amount"]["scale"]) == ("currency", 2)
    assert not opp["IsWon"]["createable"] and not opp["IsClosed"]["updateable"]
    assert opp["AccountId"]["referenceTo"] == ["Account"]
    case = _fields(sf, "Case")
    assert [v["value"] for v in case["Status"]["picklistValues"]] == [
        "New", "Working", "Escalated", "Closed"]
    assert [v["value"] for v in case["Priority"]["picklistValues"]] == ["High", "Medium", "Low"]
    assert [v["value"] for v in case["Origin"]["picklistValues"]] == ["Phone", "Email", "Web"]
    assert case["Status"]["defaultValue"] == "New"
    number = case["CaseNumber"]
    assert number["autoNumber"] and number["nameField"] and not number["createable"]


def test_derived_fields_and_case_numbers(sb: Sandbox) -> None:
    sf = salesforce(sb)
    acc = _account(sf)
    won = sf.Opportunity.create({"Name": "Care", "StageName": "Closed Won",
                                 "CloseDate": "2026-03-01", "AccountId": acc, "Amount": 1250.5})
    open_ = sf.Opportunity.create({"Name": "More care", "StageName": "Prospecting",
                                   "CloseDate": "2026-04-01", "AccountId": acc})
    rows = {r["Id"]: r for r in sf.query(
        "SELECT Id, IsWon, IsClosed, Probability, ForecastCategory, Amount, Account.Id "
        "FROM Opportunity")["records"]}
    assert (rows[won["id"]]["IsWon"], rows[won["id"]]["IsClosed"],
            rows[won["id"]]["Probability"], rows[won["id"]]["Amount"]) == (True, True, 100, 1250.5)
    assert (rows[open_["id"]]["IsWon"], rows[open_["id"]]["IsClosed"],
            rows[open_["id"]]["ForecastCategory"]) == (False, False, "Pipeline")
    sf.Opportunity.update(open_["id"], {"StageName": "Closed Lost"})
    lost = sf.Opportunity.get(open_["id"])
    assert (lost["IsClosed"], lost["IsWon"], lost["Probability"]) == (True, False, 0)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.create({"Name": "No stage"})
    assert exc.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.create({"Name": "x", "StageName": "Prospecting",
                               "CloseDate": "2026-01-01", "IsWon": True})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    first = sf.Case.create({"Subject": "Caregiver arrived late", "AccountId": acc})
    second = sf.Case.create({"Subject": "Billing question", "Priority": "High",
                             "Origin": "Phone", "AccountId": acc})
    sf.Case.update(second["id"], {"Status": "Closed"})
    cases = {r["Id"]: r for r in sf.query(
        "SELECT Id, CaseNumber, Status, Priority, IsClosed, ClosedDate FROM Case")["records"]}
    assert [cases[c["id"]]["CaseNumber"] for c in (first, second)] == ["00001001", "00001002"]
    assert (cases[first["id"]]["Status"], cases[first["id"]]["Priority"],
            cases[first["id"]]["IsClosed"], cases[first["id"]]["ClosedDate"]) == (
        "New", "Medium", False, None)
    assert cases[second["id"]]["IsClosed"] and cases[second["id"]]["ClosedDate"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Case.create({"Subject": "x", "CaseNumber": "1"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_collections_tooling_and_account_deletion(sb: Sandbox) -> None:
    sf = salesforce(sb)
    acc, other = _account(sf, 0), _account(sf, 1)
    made = sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": "Opportunity.Source__c", "Metadata": {
            "type": "Text", "length": 255, "label": "Source", "externalId": True,
            "unique": True}})
    assert made["success"]
    answer = sf.restful("composite/sobjects/Opportunity/Source__c", method="PATCH", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Opportunity"}, "Source__c": "s1", "Name": "A",
             "StageName": "Qualification", "CloseDate": "2026-01-01", "AccountId": acc},
            {"attributes": {"type": "Opportunity"}, "Source__c": "s2", "Name": "B",
             "StageName": "Closed Won", "CloseDate": "2026-01-01", "AccountId": other}]})
    assert [a["created"] for a in answer] == [True, True]
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 1
    sf.Case.create({"Subject": "Missed visit", "AccountId": other})
    sf.Account.delete(acc)  # its opportunity goes with it, into the recycle bin
    assert sf.query("SELECT Source__c FROM Opportunity")["records"][0]["Source__c"] == "s2"
    assert sf.query_all("SELECT Id FROM Opportunity WHERE IsDeleted = true",
                        include_deleted=True)["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as exc:  # an Account with cases stays
        sf.Account.delete(other)
    assert exc.value.content[0]["errorCode"] == "DELETE_FAILED"


def test_sync_archives_opportunities_and_cases(sb: Sandbox, tmp_path: Path) -> None:
    sf = salesforce(sb)
    acc = _account(sf)
    opp = sf.Opportunity.create({"Name": "Care", "StageName": "Closed Won",
                                 "CloseDate": "2026-03-01", "AccountId": acc, "Amount": 99})
    case = sf.Case.create({"Subject": "Late", "AccountId": acc, "Priority": "Low"})
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    with archive:
        table = sb.source_configs(tmp_path / "s")["salesforce"]
        report = run_sync(archive, {"salesforce": build_connector(
            "salesforce", table, tmp_path / "c.toml")})
        assert report.status == "ok"
        opps = dict(archive.records("salesforce", "Opportunity"))
        cases = dict(archive.records("salesforce", "Case"))
    assert opps[opp["id"]]["AccountId"] == acc and opps[opp["id"]]["IsWon"] is True
    assert opps[opp["id"]]["Amount"] == 99
    assert cases[case["id"]]["CaseNumber"] == "00001001"
    assert cases[case["id"]]["Priority"] == "Low"
