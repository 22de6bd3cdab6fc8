"""Deals and tickets: HubSpot -> Salesforce as Opportunities and Cases on the client's
Account, field by field, and a re-run that creates nothing. Source and target are read
through the vendor SDKs only (tests.target_census); the expected values are written out
here, not read from the mapping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from exporter.restore import load_mapping, run_restore, verify_restore
from sandbox import Sandbox
from tests.restore_support import salesforce, synced_archive, target_writer
from tests.target_census import Expected, hubspot_rows, salesforce_rows, salesforce_target, tally

#: HubSpot's default deal pipeline -> Salesforce's default sales process
STAGES = {"appointmentscheduled": "Prospecting", "qualifiedtobuy": "Qualification",
          "presentationscheduled": "Value Proposition",
          "decisionmakerboughtin": "Id. Decision Makers", "contractsent": "Negotiation/Review",
          "closedwon": "Closed Won", "closedlost": "Closed Lost"}
#: HubSpot's default support pipeline (1 New, 2 Waiting on contact, 3 Waiting on us, 4 Closed)
STATUS = {"1": "New", "2": "Working", "3": "Working", "4": "Closed"}
PRIORITY = {"HIGH": "High", "MEDIUM": "Medium", "LOW": "Low"}
CLEAN = {"duplicates": 0, "extras": 0, "missing": 0, "wrong_links": 0, "stale_links": 0}


def _clients(src: Sandbox) -> dict[str, str]:
    """contact id -> the source id of its client's contact (by the client number)."""
    contacts = hubspot_rows(src, "contacts", ["relationship", "client_number"])
    clients = {c["properties"]["client_number"]: f"hubspot/contacts/{c['id']}"
               for c in contacts if c["properties"].get("relationship") == "Client"}
    return {str(c["id"]): clients[c["properties"]["client_number"]] for c in contacts
            if c["properties"].get("client_number") in clients}


def _promised(src: Sandbox, stream: str, props: list[str]
              ) -> tuple[Expected, dict[str, dict[str, Any]]]:
    client_of = _clients(src)
    expected, values = Expected(stream), {}
    for r in hubspot_rows(src, stream, props, ["contacts"]):
        linked = [str(a["id"]) for a in r["associations"]["contacts"]["results"]]
        key = f"hubspot/{stream}/{r['id']}"
        expected.parents[key] = next(client_of[i] for i in linked if i in client_of)
        values[key] = r["properties"]
    return expected, values


def _day(iso: str) -> str:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).date().isoformat()


def test_deals_and_tickets_become_opportunities_and_cases(tmp_path: Path) -> None:
    with Sandbox(clients=12, seed=41) as src, Sandbox(clients=0, seed=42) as dst:
        src.advance(30)  # HubSpot's churn: some deals lost, amounts changed
        mapping = load_mapping("hubspot_to_salesforce")
        with synced_archive(tmp_path, src, "hubspot") as archive:
            writer = target_writer(tmp_path, dst, "salesforce")
            report = run_restore(archive, writer, mapping, target="t")
            assert report.status == "ok", report.errors[:3]
            assert verify_restore(archive, writer, mapping, target="t").record_rate == 100.0
            again = run_restore(archive, writer, mapping, target="t")
            assert (again.total("created"), again.total("updated")) == (0, 0)
        deals, deal_props = _promised(src, "deals", ["dealname", "amount", "closedate",
                                                     "dealstage", "services"])
        tickets, ticket_props = _promised(src, "tickets", [
            "subject", "content", "hs_pipeline_stage", "hs_ticket_priority"])
        assert len(deals.parents) >= 12 and tickets.parents
        assert {p["dealstage"] for p in deal_props.values()} >= {"closedwon", "closedlost"}
        for expected, obj in ((deals, "Opportunity"), (tickets, "Case")):
            counts = tally(expected, salesforce_target(dst, obj, "AccountId"))
            assert {k: counts[k] for k in CLEAN} == CLEAN, obj
        opps = {r["Exporter_Source_Id__c"]: r for r in salesforce_rows(dst, "Opportunity", [
            "Exporter_Source_Id__c", "Name", "Amount", "CloseDate", "StageName", "Description",
            "IsWon"])}
        for key, p in deal_props.items():
            got = opps[key]
            assert (got["Name"], got["Amount"], got["CloseDate"], got["StageName"]) == (
                p["dealname"], float(p["amount"]), _day(p["closedate"]),
                STAGES[p["dealstage"]]), key
            assert got["IsWon"] == (p["dealstage"] == "closedwon")
            assert all(s in got["Description"] for s in p["services"].split(";"))
        cases = {r["Exporter_Source_Id__c"]: r for r in salesforce_rows(dst, "Case", [
            "Exporter_Source_Id__c", "Subject", "Description", "Status", "Priority"])}
        for key, p in ticket_props.items():
            assert (cases[key]["Subject"], cases[key]["Description"], cases[key]["Status"],
                    cases[key]["Priority"]) == (
                p["subject"], p["content"], STATUS[p["hs_pipeline_stage"]],
                PRIORITY[p["hs_ticket_priority"]]), key
        # the checker sees a planted stranger and a case moved to another client
        sf = salesforce(dst)
        sf.Opportunity.create({"Name": "Walk-in", "StageName": "Prospecting",
                               "CloseDate": "2026-01-01"})
        key = next(iter(tickets.parents))
        other = next(r["Id"] for r in salesforce_rows(dst, "Account", ["Exporter_Source_Id__c"])
                     if r["Exporter_Source_Id__c"] != tickets.parents[key])
        sf.Case.update(cases[key]["Id"], {"AccountId": other})
        assert tally(deals, salesforce_target(dst, "Opportunity", "AccountId"))["extras"] == 1
        moved = tally(tickets, salesforce_target(dst, "Case", "AccountId"))
        assert (moved["wrong_links"], moved["stale_links"]) == (1, 1)
