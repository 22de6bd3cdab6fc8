"""What Salesforce does around activities and file sharing on a write, beyond checking
each field: Event times kept consistent (StartDateTime = ActivityDateTime, EndDateTime =
start + DurationInMinutes, ActivityDate its day), a Task's closed flag, subtype default and
recurrence fields, an activity's AccountId derived from its WhatId, ContentDocumentLink
rows (one per document and record; a new ContentVersion links its owner, and the record
named by FirstPublishLocationId), and the SOQL restriction on ContentDocumentLink.

Not emulated: the occurrences Salesforce creates for a recurring Task or Event series
(the series record alone is stored), invitees (EventRelation), reminders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sandbox.salesforce.schema import USER_ID
from sandbox.salesforce.soql import And, Cmp, InList, Or, format_datetime
from sandbox.salesforce.store import OrgStore

__all__ = ["CDL_RESTRICTION", "cdl_filtered", "check", "dependents", "document_exists",
           "link_new_version"]

CDL_RESTRICTION = ("Implementation restriction: ContentDocumentLink requires a filter by a "
                   "single Id on ContentDocumentId or LinkedEntityId using the equals "
                   "operator or multiple Id's using the IN operator.")
_CDL_KEYS = frozenset({"contentdocumentid", "linkedentityid"})
SF_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


def _err(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}


def cdl_filtered(where: Any) -> bool:
    """The WHERE clause restricts rows to given ContentDocumentId or LinkedEntityId values
    (an equality or a positive IN, alone or in an AND; every branch of an OR)."""
    if isinstance(where, Cmp):
        return where.field.lower() in _CDL_KEYS and where.op == "="
    if isinstance(where, InList):
        return where.field.lower() in _CDL_KEYS and not where.negate
    if isinstance(where, And):
        return any(cdl_filtered(item) for item in where.items)
    if isinstance(where, Or):
        return all(cdl_filtered(item) for item in where.items)
    return False


def document_exists(store: OrgStore, doc_id: str) -> bool:
    return any(r.get("ContentDocumentId") == doc_id and not r["IsDeleted"]
               for r in store.records["ContentVersion"].values())


def _parse(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.strptime(value, SF_FORMAT)


def _account_of(store: OrgStore, what_id: str | None) -> str | None:
    """Salesforce's AccountId: WhatId when it is an Account, the Account of a record that
    is a child of Account (an opportunity's or a case's), otherwise none."""
    found = store.find(what_id) if what_id else None
    if found is None:
        return None
    obj, rec = found
    return rec["Id"] if obj == "Account" else rec.get("Client__c") or rec.get("AccountId")


def _event(values: dict[str, Any], old: dict[str, Any], creating: bool
           ) -> list[dict[str, Any]]:
    """Fill the Event's related time fields in ``values``; the errors Salesforce answers."""
    merged = {**old, **values}
    start_raw = values.get("StartDateTime") or values.get("ActivityDateTime") \
        or old.get("StartDateTime")
    duration = values.get("DurationInMinutes")
    end = _parse(values.get("EndDateTime"))
    if merged.get("IsAllDayEvent"):
        day = values.get("ActivityDate") or (start_raw or "")[:10] or old.get("ActivityDate")
        if not day:
            return [_err("REQUIRED_FIELD_MISSING", "Required fields are missing: "
                         "[ActivityDate]", ["ActivityDate"])]
        start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
        if duration is None and end is None:
            duration = old.get("DurationInMinutes") or 1440
    else:
        if start_raw is None:
            return [_err("REQUIRED_FIELD_MISSING", "Required fields are missing: "
                         "[ActivityDateTime]", ["ActivityDateTime"])]
        start = dt.datetime.strptime(start_raw, SF_FORMAT)
        if duration is None and end is None:
            if creating:
                return [_err("REQUIRED_FIELD_MISSING", "Required fields are missing: "
                             "[DurationInMinutes]", ["DurationInMinutes"])]
            duration = old.get("DurationInMinutes")
    if end is not None:
        minutes = int((end - start).total_seconds() // 60)
        if minutes < 0:
            return [_err("FIELD_INTEGRITY_EXCEPTION", "End Date Time: the event's end "
                         "can't be earlier than its start.", ["EndDateTime"])]
        if duration is not None and int(duration) != minutes:
            return [_err("FIELD_INTEGRITY_EXCEPTION", "Duration: the duration and the end "
                         "date time of the event don't add up.", ["DurationInMinutes"])]
        duration = minutes
    duration = int(duration or 0)
    if duration < 0 or duration > 14 * 1440:
        return [_err("FIELD_INTEGRITY_EXCEPTION", "Duration: an event can't last more than "
                     "14 days.", ["DurationInMinutes"])]
    stamp = format_datetime(start)
    values.update(StartDateTime=stamp, ActivityDateTime=stamp, ActivityDate=start.date()
                  .isoformat(), DurationInMinutes=duration,
                  EndDateTime=format_datetime(start + dt.timedelta(minutes=duration)))
    return []


def _task(values: dict[str, Any], old: dict[str, Any], creating: bool
          ) -> list[dict[str, Any]]:
    merged = {**old, **values}
    if creating and merged.get("TaskSubtype") is None:
        values["TaskSubtype"] = "Task"
    values["IsClosed"] = merged.get("Status") == "Completed"
    if not merged.get("IsRecurrence"):
        return []
    kind = merged.get("RecurrenceType")
    needed = ["RecurrenceType", "RecurrenceStartDateOnly", "RecurrenceEndDateOnly"]
    if kind in ("RecursDaily", "RecursWeekly", "RecursMonthly", "RecursMonthlyNth"):
        needed.append("RecurrenceInterval")
    if kind == "RecursWeekly":
        needed.append("RecurrenceDayOfWeekMask")
    missing = [f for f in needed if merged.get(f) is None]
    if missing:
        return [_err("REQUIRED_FIELD_MISSING", f"Required fields are missing: "
                     f"[{', '.join(missing)}]", missing)]
    mask = merged.get("RecurrenceDayOfWeekMask")
    if mask is not None and not 1 <= int(mask) <= 127:
        return [_err("FIELD_INTEGRITY_EXCEPTION", "Recurrence Day of Week Mask: invalid "
                     "value", ["RecurrenceDayOfWeekMask"])]
    if merged["RecurrenceEndDateOnly"] < merged["RecurrenceStartDateOnly"]:
        return [_err("FIELD_INTEGRITY_EXCEPTION", "Recurrence End: the end date can't be "
                     "earlier than the start date.", ["RecurrenceEndDateOnly"])]
    return []


def check(store: OrgStore, obj: str, values: dict[str, Any], old: dict[str, Any] | None
          ) -> list[dict[str, Any]]:
    """Complete ``values`` (validated field values of a create, or an update of ``old``)
    as Salesforce does for this object; the per-record errors it answers instead."""
    creating = old is None
    before = old or {}
    if obj == "ContentDocumentLink" and creating:
        doc, entity = values.get("ContentDocumentId"), values.get("LinkedEntityId")
        if any(r.get("ContentDocumentId") == doc and r.get("LinkedEntityId") == entity
               and not r["IsDeleted"] for r in store.records[obj].values()):
            return [_err("DUPLICATE_VALUE", f"Document with ID: {doc} is already linked "
                         f"with the entity with ID: {entity}", ["LinkedEntityId"])]
        return []
    if obj not in ("Task", "Event"):
        return []
    errors = _event(values, before, creating) if obj == "Event" \
        else _task(values, before, creating)
    if "WhatId" in values or creating:
        values["AccountId"] = _account_of(store, values.get("WhatId"))
    return errors


def link_new_version(store: OrgStore, version: dict[str, Any], when: str
                     ) -> list[dict[str, Any]]:
    """The ContentDocumentLink rows a new document gets: its owner's, and the record's
    named by FirstPublishLocationId."""
    doc = version["ContentDocumentId"]
    out = [store.insert("ContentDocumentLink", {
        "ContentDocumentId": doc, "LinkedEntityId": USER_ID, "ShareType": "I"}, when)]
    if version.get("FirstPublishLocationId"):
        out.append(store.insert("ContentDocumentLink", {
            "ContentDocumentId": doc, "LinkedEntityId": version["FirstPublishLocationId"],
            "ShareType": "V"}, when))
    return out


def dependents(store: OrgStore, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    """What goes with a deleted Account besides its clinical rows: its activities and the
    links sharing files with it."""
    return [(obj, r) for obj, key in (("Task", "AccountId"), ("Event", "AccountId"),
                                      ("ContentDocumentLink", "LinkedEntityId"))
            for r in store.records[obj].values()
            if r.get(key) == account_id and not r["IsDeleted"]]
