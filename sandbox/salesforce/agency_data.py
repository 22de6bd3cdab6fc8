"""The agency's data spread over the Salesforce org, and time travel.

:func:`populate` fills the org as the agency's history left it at the sandbox start.
Time travel (:func:`advance`): new clients (with a signed care-plan PDF for the first),
discharges (one shared stamp per step), edited phones/fall risk, medication dose edits and
additions, stopped medications soft-deleted into the recycle bin, new allergies, edited
care tasks; the bin is emptied (hard delete) when the clock crosses day 7, 14, ... since
the start.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sandbox.agency import Agency, ChangeSet, Client, Medication
from sandbox.salesforce.activities import link_new_version
from sandbox.salesforce.schema import USER_ID
from sandbox.salesforce.store import FILE_NOTES, OrgStore, make_id, stamp

__all__ = ["add_client", "advance", "populate"]

DAY = dt.timedelta(days=1)
BIN_EMPTIED_EVERY = 7  # days since the sandbox start; see OrgStore.advance
BIG_FILES = 3  # care-plan PDFs of several MB, however many clients there are


def _account_values(client: Client, physician_id: str) -> dict[str, Any]:
    return {
        "Name": client.full_name, "Client_Number__c": client.number,
        "Birthdate__c": client.birthdate.isoformat(), "Gender__c": client.gender,
        "Preferred_Language__c": client.language, "Status__c": client.status,
        "Services__c": ";".join(client.services), "Start_Date__c": client.start_date.isoformat(),
        "Discharge_Date__c": client.discharge_date.isoformat() if client.discharge_date else None,
        "Phone": client.phone, "Email__c": client.email or None,  # Salesforce stores null
        "BillingStreet": client.street, "BillingCity": client.city,
        "BillingState": client.state, "BillingPostalCode": client.postal_code,
        "BillingCountry": "United States", "Referral_Source__c": client.referral_source,
        "Primary_Physician__c": physician_id, "Pharmacy_Name__c": client.pharmacy["name"],
        "Pharmacy_Phone__c": client.pharmacy["phone"],
    }


def _medication_values(account_id: str, med: Medication) -> dict[str, Any]:
    return {"Name": med.name, "Client__c": account_id, "Dose__c": med.dose,
            "Route__c": med.route, "Times__c": ";".join(med.times) or None,
            "Prescriber__c": med.prescriber, "PRN_Instructions__c": med.as_needed or None,
            "Active__c": med.active, "Medication_Key__c": med.key}


def _allergy_values(account_id: str, allergy: dict[str, str]) -> dict[str, Any]:
    return {"Name": allergy["substance"], "Client__c": account_id,
            "Substance__c": allergy["substance"], "Reaction__c": allergy["reaction"],
            "Severity__c": allergy["severity"]}


def add_client(store: OrgStore, client: Client, when: str, modstamp: str,
               rng: random.Random, with_file: bool = False) -> str:
    """Account and every child record of one client; returns the Account id.

    The children share the Account's stamps (one transaction), which gives the cursor ties
    a real org has."""
    def ins(obj: str, values: dict[str, Any]) -> dict[str, Any]:
        return store.insert(obj, values, modstamp, created=when)

    key = f"{client.physician['name']}|{client.physician['practice']}"
    if key not in store.physicians:  # physicians are shared by clients
        store.physicians[key] = ins("Physician__c", {
            "Name": client.physician["name"], "Practice__c": client.physician["practice"],
            "Phone__c": client.physician["phone"]})["Id"]
    account = ins("Account", _account_values(client, store.physicians[key]))
    aid = account["Id"]
    ins("Care_Plan__c", {
        "Name": f"Care plan {client.number}", "Client__c": aid,
        "Code_Status__c": client.code_status, "Advance_Directive__c": client.advance_directive,
        "Access_Notes__c": client.access_notes or None, "Diet__c": client.diet,
        "Fall_Risk__c": client.fall_risk, "Safety_Notes__c": client.safety_notes or None,
        "Goals__c": client.goals})
    for med in client.medications:
        rec = ins("Medication__c", _medication_values(aid, med))
        if not med.active:
            store.soft_delete("Medication__c", rec, modstamp)
    for allergy in client.allergies:
        ins("Allergy__c", _allergy_values(aid, allergy))
    for diag in client.diagnoses:
        ins("Diagnosis__c", {"Name": diag["description"], "Client__c": aid,
                             "ICD10_Code__c": diag["code"]})
    for task in client.care_tasks:
        ins("Care_Task__c", {"Name": f"{task['day']} {task['time']} {task['task']}",
                             "Client__c": aid, "Day__c": task["day"], "Time__c": task["time"],
                             "Task__c": task["task"], "Notes__c": task["notes"] or None})
    for contact in client.emergency_contacts:
        ins("Emergency_Contact__c", {
            "Name": contact["name"], "Client__c": aid, "Relationship__c": contact["relationship"],
            "Phone__c": contact["phone"], "Email__c": contact["email"] or None})
    if with_file or rng.random() < 0.3:
        _add_care_plan_pdf(store, client, aid, when, rng)
    if int(client.number[2:]) % 8 == 3:  # a few clients keep a legacy Attachment
        size = rng.randint(800, 6000)
        att = ins("Attachment", {"Name": "Intake notes.txt", "ParentId": aid,
                                 "ContentType": "text/plain", "BodyLength": size})
        store.blobs[att["Id"]] = {"kind": "text", "size": size}
    _add_activities(store, client, aid, when, modstamp)
    return aid


def _add_activities(store: OrgStore, client: Client, account_id: str, when: str,
                    modstamp: str) -> None:
    """A logged check-in call for every fourth client, a home visit for the next ones."""
    n = int(client.number[2:])
    day = client.start_date + dt.timedelta(days=7)
    common = {"WhatId": account_id, "AccountId": account_id, "WhoId": None,
              "OwnerId": USER_ID}
    if n % 4 == 1:
        store.insert("Task", {**common, "Subject": f"Call: check-in with {client.first_name}",
                              "Status": "Completed", "Priority": "Normal", "IsClosed": True,
                              "TaskSubtype": "Call", "CallDurationInSeconds": 180 + n % 7 * 60,
                              "ActivityDate": day.isoformat(), "IsRecurrence": False,
                              "Description": "Spoke with the client; no concerns."},
                     modstamp, created=when)
    elif n % 4 == 2:
        start = dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC)
        store.insert("Event", {**common, "Subject": "Home visit", "IsAllDayEvent": False,
                               "StartDateTime": stamp(start), "ActivityDateTime": stamp(start),
                               "EndDateTime": stamp(start + dt.timedelta(minutes=60)),
                               "ActivityDate": day.isoformat(), "DurationInMinutes": 60,
                               "Location": client.street,
                               "Description": "Weekly visit: personal care and lunch."},
                     modstamp, created=when)


def _add_care_plan_pdf(store: OrgStore, client: Client, account_id: str, when: str,
                       rng: random.Random) -> None:
    size = rng.randint(20_000, 150_000)
    if store.big_files < BIG_FILES and rng.random() < 0.25:
        store.big_files += 1
        size = rng.randint(3_000_000, 6_000_000)
    path = f"Signed care plan {client.number}.pdf"
    doc_id = make_id("069", store.counters.get("068", 0) + 1)
    rec = store.insert("ContentVersion", {
        "Title": f"Signed care plan - {client.full_name}", "PathOnClient": path,
        "FileExtension": "pdf", "ContentSize": size, "ContentDocumentId": doc_id,
        "FirstPublishLocationId": account_id, "IsLatest": True}, when)
    store.blobs[rec["Id"]] = {"kind": "pdf", "size": size}
    link_new_version(store, rec, when)


def populate(store: OrgStore, agency: Agency) -> None:
    """The org as the agency's history left it at the sandbox start."""
    for number, client in agency.clients.items():
        rng = random.Random(f"{store.seed}:salesforce:{number}")
        created = dt.datetime.combine(client.start_date, dt.time(rng.randint(8, 17),
                                      rng.randint(0, 59)), tzinfo=dt.UTC)
        created = min(created, agency.now - dt.timedelta(hours=1))
        modified = created
        if rng.random() < 0.5:  # edited since intake, on a whole second (ties are common)
            span = int((agency.now - created).total_seconds())
            modified = created + dt.timedelta(seconds=rng.randint(0, max(0, span - 60)))
        add_client(store, client, stamp(created), stamp(modified), rng)


def advance(store: OrgStore, agency: Agency, changes: ChangeSet) -> None:
    """Apply one time-travel step (see the module docs for what each change does)."""
    prev, now = store.clock, changes.now
    rng = random.Random(f"{store.seed}:salesforce:{now.isoformat()}")
    span = max(7200, int((now - prev).total_seconds()))

    def when() -> str:
        return stamp(prev + dt.timedelta(seconds=rng.randint(3600, span - 3600)))

    # Changes for clients or medications this org does not hold (deleted through the API,
    # or a loaded state that diverged from the agency) are skipped, never fatal.
    accounts = store.unique[("Account", "Client_Number__c")]
    meds = store.unique[("Medication__c", "Medication_Key__c")]
    for i, number in enumerate(changes.new_clients):
        at = when()
        if number.lower() not in accounts:
            add_client(store, agency.clients[number], at, at, rng, with_file=i == 0)
    batch = when()  # the nightly discharge job stamps all its rows alike
    for number in changes.discharged:
        client, aid = agency.clients[number], accounts.get(number.lower())
        if aid is not None:
            store.update("Account", store.records["Account"][aid], {
                "Status__c": "Discharged", "Discharge_Date__c":
                client.discharge_date.isoformat() if client.discharge_date else None}, batch)
    for number in changes.edited_clients:
        at, aid, client = when(), accounts.get(number.lower()), agency.clients[number]
        if aid is None:
            continue
        store.update("Account", store.records["Account"][aid], {"Phone": client.phone}, at)
        for obj, rec in store.children(aid):
            if obj == "Care_Plan__c" and not rec["IsDeleted"]:
                store.update(obj, rec, {"Fall_Risk__c": client.fall_risk}, at)
    by_key = {m.key: (c, m) for c in agency.clients.values() for m in c.medications}
    for key in changes.edited_medications:
        at, rid = when(), meds.get(key.lower())
        if rid is not None:
            rec = store.records["Medication__c"][rid]
            store.update("Medication__c", rec, {"Dose__c": by_key[key][1].dose}, at)
    for key in changes.new_medications:
        client, med = by_key[key]
        at, aid = when(), accounts.get(client.number.lower())
        if key.lower() not in meds and aid is not None:
            store.insert("Medication__c", _medication_values(aid, med), at)
    for key in changes.stopped_medications:
        at, rid = when(), meds.get(key.lower())
        if rid is not None:  # unticked and deleted by the same user action
            store.update("Medication__c", store.records["Medication__c"][rid],
                         {"Active__c": False}, at)
            store.soft_delete("Medication__c", store.records["Medication__c"][rid], at)
    for number in changes.edited_allergies:
        at, aid = when(), accounts.get(number.lower())
        if aid is None:
            continue
        have = {r["Substance__c"] for o, r in store.children(aid)
                if o == "Allergy__c" and not r["IsDeleted"]}
        for allergy in agency.clients[number].allergies:
            if allergy["substance"] not in have:
                store.insert("Allergy__c", _allergy_values(aid, allergy), at)
    tasks = [r for r in store.records["Care_Task__c"].values() if not r["IsDeleted"]]
    for _ in range(changes.days * 2 if tasks else 0):
        rec = rng.choice(tasks)
        store.update("Care_Task__c", store.records["Care_Task__c"][rec["Id"]],
                     {"Notes__c": rng.choice(FILE_NOTES[1:])}, when())
    # The recycle bin is emptied when the clock crosses day 7, 14, ... since the start;
    # rows deleted in earlier steps vanish (hard delete), this step's stay in the bin.
    before, after = (prev - store.start) // DAY, (now - store.start) // DAY
    if any(d % BIN_EMPTIED_EVERY == 0 for d in range(before + 1, after + 1)):
        store.purge(stamp(prev))
    store.clock = now
