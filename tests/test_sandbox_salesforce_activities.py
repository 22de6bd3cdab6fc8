"""The Salesforce emulator's activities (Task, Event) and file sharing
(ContentDocumentLink), driven by the real simple-salesforce over loopback HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.test_sandbox_salesforce import Org

USER = "005Dn0000000001AAA"


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org(clients=12)
    yield o
    o.stop()


@pytest.fixture
def sf(org: Org) -> Salesforce:
    return org.sf()


def accounts(sf: Salesforce) -> list[str]:
    return [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Client_Number__c")[
        "records"]]


def error(exc: pytest.ExceptionInfo[SalesforceMalformedRequest]) -> dict[str, Any]:
    content = exc.value.content
    assert isinstance(content, list)
    return dict(content[0])


def test_describe_activities_and_links(sf: Salesforce) -> None:
    listed = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert listed["Task"]["replicateable"] and listed["Event"]["queryable"]
    assert listed["ContentDocumentLink"]["queryable"]
    assert not listed["ContentDocumentLink"]["replicateable"]
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["WhatId"]["polymorphicForeignKey"] and "Account" in task["WhatId"]["referenceTo"]
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["Status"]["defaultValue"] == "Not Started" and not task["Status"]["nillable"]
    assert [v["value"] for v in task["TaskSubtype"]["picklistValues"]] == [
        "Task", "Email", "Call"]
    assert not task["TaskSubtype"]["updateable"] and not task["AccountId"]["createable"]
    event = {f["name"] for f in sf.Event.describe()["fields"]}
    assert {"StartDateTime", "EndDateTime", "ActivityDateTime", "DurationInMinutes",
            "Location", "IsAllDayEvent", "WhatId", "WhoId", "OwnerId"} <= event
    cdl = {f["name"] for f in sf.ContentDocumentLink.describe()["fields"]}
    assert cdl == {"Id", "IsDeleted", "SystemModstamp", "ContentDocumentId", "LinkedEntityId",
                   "ShareType", "Visibility"}


def test_the_org_holds_logged_calls_visits_and_file_links(sf: Salesforce) -> None:
    calls = sf.query("SELECT Id, WhatId, AccountId, TaskSubtype, Status, "
                     "CallDurationInSeconds FROM Task")["records"]
    visits = sf.query("SELECT Id, WhatId, StartDateTime, EndDateTime, DurationInMinutes "
                      "FROM Event")["records"]
    assert len(calls) == 3 and len(visits) == 3  # clients 1, 5, 9 and 2, 6, 10
    assert all(c["TaskSubtype"] == "Call" and c["Status"] == "Completed"
               and c["WhatId"] == c["AccountId"] for c in calls)
    assert all(v["DurationInMinutes"] == 60 and v["EndDateTime"] > v["StartDateTime"]
               for v in visits)
    docs = sf.query("SELECT ContentDocumentId, FirstPublishLocationId FROM ContentVersion")[
        "records"]
    assert docs
    for doc in docs:
        links = sf.query("SELECT LinkedEntityId, ShareType FROM ContentDocumentLink WHERE "
                         f"ContentDocumentId = '{doc['ContentDocumentId']}'")["records"]
        assert sorted((r["LinkedEntityId"], r["ShareType"]) for r in links) == sorted(
            [(USER, "I"), (doc["FirstPublishLocationId"], "V")])


def test_tasks_default_derive_and_refuse_as_salesforce_does(sf: Salesforce) -> None:
    client = accounts(sf)[3]
    made = sf.Task.create({"Subject": "Call: daughter about Tuesday", "WhatId": client,
                           "TaskSubtype": "Call", "Status": "Completed",
                           "CallDurationInSeconds": 240, "ActivityDate": "2026-01-04"})
    row = sf.Task.get(made["id"])
    assert (row["Priority"], row["OwnerId"], row["AccountId"], row["IsClosed"]) == (
        "Normal", USER, client, True)
    plain = sf.Task.get(sf.Task.create({"Subject": "Order gloves"})["id"])
    assert (plain["TaskSubtype"], plain["Status"], plain["AccountId"]) == (
        "Task", "Not Started", None)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Task.update(made["id"], {"TaskSubtype": "Email"})
    assert error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as exc:  # WhoId is a person, never a client
        sf.Task.create({"Subject": "x", "WhoId": client})
    assert error(exc)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Task.create({"Subject": "x", "TaskSubtype": "Visit"})
    assert error(exc)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Task.create({"Subject": "Bath", "IsRecurrence": True, "RecurrenceType": "RecursWeekly",
                        "RecurrenceStartDateOnly": "2026-01-05"})
    err = error(exc)
    assert err["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert set(err["fields"]) == {"RecurrenceEndDateOnly", "RecurrenceInterval",
                                  "RecurrenceDayOfWeekMask"}
    weekly = sf.Task.create({"Subject": "Bath", "WhatId": client, "IsRecurrence": True,
                             "RecurrenceType": "RecursWeekly", "RecurrenceInterval": 1,
                             "RecurrenceDayOfWeekMask": 2 + 8,  # Monday and Wednesday
                             "RecurrenceStartDateOnly": "2026-01-05",
                             "RecurrenceEndDateOnly": "2026-06-30"})
    got = sf.query(f"SELECT IsRecurrence, RecurrenceDayOfWeekMask FROM Task WHERE WhatId = "
                   f"'{client}' AND IsRecurrence = true")["records"]
    assert [(r["IsRecurrence"], r["RecurrenceDayOfWeekMask"]) for r in got] == [(True, 10)]
    assert weekly["success"]


def test_events_keep_start_end_and_duration_consistent(sf: Salesforce) -> None:
    client = accounts(sf)[0]
    made = sf.Event.create({"Subject": "Home visit", "WhatId": client,
                            "StartDateTime": "2026-01-06T09:30:00Z", "DurationInMinutes": 90})
    row = sf.Event.get(made["id"])
    assert row["EndDateTime"] == "2026-01-06T11:00:00.000+0000"
    assert row["ActivityDateTime"] == row["StartDateTime"] == "2026-01-06T09:30:00.000+0000"
    assert (row["ActivityDate"], row["AccountId"], row["IsAllDayEvent"]) == (
        "2026-01-06", client, False)
    sf.Event.update(made["id"], {"EndDateTime": "2026-01-06T10:00:00Z"})
    assert sf.Event.get(made["id"])["DurationInMinutes"] == 30
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Event.create({"Subject": "Visit", "StartDateTime": "2026-01-06T09:30:00Z"})
    assert error(exc)["fields"] == ["DurationInMinutes"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Event.create({"Subject": "Visit", "DurationInMinutes": 30})
    assert error(exc)["fields"] == ["ActivityDateTime"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Event.create({"Subject": "Visit", "StartDateTime": "2026-01-06T09:30:00Z",
                         "EndDateTime": "2026-01-06T08:00:00Z"})
    assert error(exc)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    day = sf.Event.get(sf.Event.create({"Subject": "Family day", "IsAllDayEvent": True,
                                        "ActivityDate": "2026-01-10"})["id"])
    assert (day["DurationInMinutes"], day["EndDateTime"]) == (
        1440, "2026-01-11T00:00:00.000+0000")


def test_composite_writes_and_soql_over_activities(sf: Salesforce) -> None:
    first, second = accounts(sf)[:2]
    answer = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Task"}, "Subject": "Email: rota", "WhatId": first,
             "TaskSubtype": "Email", "Status": "Completed"},
            {"attributes": {"type": "Event"}, "Subject": "Visit", "WhatId": second,
             "StartDateTime": "2026-01-07T14:00:00Z", "EndDateTime": "2026-01-07T15:00:00Z"},
            {"attributes": {"type": "Event"}, "Subject": "Visit, no end", "WhatId": second,
             "StartDateTime": "2026-01-07T14:00:00Z"}]})
    assert [r["success"] for r in answer] == [True, True, False]
    assert answer[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    emails = sf.query(f"SELECT Id FROM Task WHERE TaskSubtype = 'Email' AND AccountId = "
                      f"'{first}'")["records"]
    assert [r["Id"] for r in emails] == [answer[0]["id"]]
    visits = sf.query(f"SELECT DurationInMinutes FROM Event WHERE WhatId = '{second}' AND "
                      "StartDateTime >= 2026-01-07T00:00:00Z")["records"]
    assert [r["DurationInMinutes"] for r in visits] == [60]


def test_content_document_links_need_their_filter_and_link_once(sf: Salesforce) -> None:
    first, second = accounts(sf)[:2]
    body = base64.b64encode(b"consent form").decode()
    version = sf.ContentVersion.create({"Title": "Consent", "PathOnClient": "consent.pdf",
                                        "VersionData": body, "FirstPublishLocationId": first})
    doc = sf.ContentVersion.get(version["id"])["ContentDocumentId"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM ContentDocumentLink")
    assert error(exc)["errorCode"] == "MALFORMED_QUERY"
    assert "Implementation restriction" in error(exc)["message"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.query(f"SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId != '{doc}'")
    link = sf.ContentDocumentLink.create({"ContentDocumentId": doc, "LinkedEntityId": second})
    assert link["success"]
    rows = sf.query(f"SELECT ContentDocumentId, ShareType, Visibility FROM "
                    f"ContentDocumentLink WHERE LinkedEntityId IN ('{first}', '{second}') "
                    f"AND ContentDocumentId = '{doc}'")["records"]
    assert sorted((r["ShareType"], r["Visibility"]) for r in rows) == [
        ("V", "AllUsers"), ("V", "AllUsers")]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.ContentDocumentLink.create({"ContentDocumentId": doc, "LinkedEntityId": second})
    assert error(exc)["errorCode"] == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.ContentDocumentLink.create({"ContentDocumentId": "069Dn0000000999AAA",
                                       "LinkedEntityId": second})
    assert error(exc)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.ContentDocumentLink.create({"LinkedEntityId": second})
    assert error(exc)["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.ContentDocumentLink.update(link["id"], {"LinkedEntityId": first})
    assert error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_deleting_a_client_deletes_its_activities_and_file_links(sf: Salesforce) -> None:
    client = accounts(sf)[0]  # C-00001: a logged call
    assert sf.query(f"SELECT COUNT() FROM Task WHERE AccountId = '{client}'")["totalSize"] == 1
    sf.ContentVersion.create({"Title": "Intake", "PathOnClient": "intake.txt",
                              "VersionData": base64.b64encode(b"x").decode(),
                              "FirstPublishLocationId": client})
    sf.Account.delete(client)
    assert sf.query(f"SELECT COUNT() FROM Task WHERE AccountId = '{client}'")["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM ContentDocumentLink WHERE LinkedEntityId = "
                    f"'{client}'")["totalSize"] == 0
    binned = sf.query_all(f"SELECT Id FROM Task WHERE AccountId = '{client}' AND "
                          "IsDeleted = true", include_deleted=True)["records"]
    assert len(binned) == 1


def test_activity_custom_fields_serve_task_and_event_alike(sf: Salesforce) -> None:
    meta = {"label": "Source", "type": "Text", "length": 255, "externalId": True,
            "unique": True}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("tooling/sobjects/CustomField", method="POST",
                   json={"FullName": "Task.Source__c", "Metadata": meta})
    assert error(exc)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    sf.restful("tooling/sobjects/CustomField", method="POST",
               json={"FullName": "Activity.Source__c", "Metadata": meta})
    for obj in ("Task", "Event"):
        fields = {f["name"]: f for f in sf.restful(f"sobjects/{obj}/describe")["fields"]}
        assert fields["Source__c"]["externalId"] and fields["Source__c"]["unique"]
    task = sf.restful("composite/sobjects/Task/Source__c", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Task"}, "Source__c": "hs/1",
                                         "Subject": "Call"}]})
    again = sf.restful("composite/sobjects/Task/Source__c", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Task"}, "Source__c": "hs/1",
                                         "Subject": "Call, edited"}]})
    assert task[0]["created"] and not again[0]["created"] and again[0]["id"] == task[0]["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("tooling/sobjects/CustomField", method="POST",
                   json={"FullName": "Activity.Source__c", "Metadata": meta})
    assert error(exc)["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
