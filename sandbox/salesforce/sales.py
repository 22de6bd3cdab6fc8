"""Opportunity and Case, standard objects of every Salesforce org, empty in the agency's
org (its clients' service agreements and complaints live in HubSpot as deals and tickets):
a restore writes them there, and a sync archives them when an org has some.

Plain tuples (name, type, options), made into :class:`~sandbox.salesforce.schema.FieldDef`
by the schema module (which this module must not import), with the defaults Salesforce
ships in a new org, as its object reference documents them:

- Opportunity: ``Name`` (120), ``StageName`` and ``CloseDate`` required; the default sales
  process's stages (Prospecting .. Closed Won / Closed Lost), each with its default
  probability and forecast category (the ``OpportunityStage`` rows), from which Salesforce
  sets ``Probability`` and ``ForecastCategoryName`` when a write does not give them and
  always derives the read-only ``IsClosed``, ``IsWon`` and ``ForecastCategory``;
  ``Amount`` (currency), ``Type``, ``LeadSource``, ``NextStep``, ``Description``,
  ``AccountId``.
- Case: ``CaseNumber`` an auto number (read-only, ``00001001`` on), ``Status`` (New,
  Working, Escalated, Closed; default New), ``Priority`` (High, Medium, Low; default
  Medium), ``Origin`` (Phone, Email, Web), ``Type``, ``Reason``, ``Subject``,
  ``Description``, ``AccountId``, ``ContactId``; ``IsClosed`` and ``ClosedDate`` derived
  from the status (the ``CaseStatus`` rows: Closed is the closed one).

Standard picklists are not restricted: a value outside them is stored as it is (as
Salesforce stores an inactive value), and a stage or status it does not know is neither
closed nor won. Deleting an Account takes its opportunities to the recycle bin; an Account
with cases cannot be deleted (``DELETE_FAILED``), as in Salesforce. Not emulated: sales
processes per record type, opportunity products, contact roles, forecasts, fiscal fields,
entitlements, case escalation and assignment rules, web-to-case.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["CASE_FIELDS", "CASE_STATUS", "OPPORTUNITY_FIELDS", "STAGES", "check",
           "delete_refused", "dependents"]

#: stage -> (default probability, forecast category name, closed, won): OpportunityStage
STAGES: dict[str, tuple[float, str, bool, bool]] = {
    "Prospecting": (10, "Pipeline", False, False),
    "Qualification": (10, "Pipeline", False, False),
    "Needs Analysis": (20, "Pipeline", False, False),
    "Value Proposition": (50, "Pipeline", False, False),
    "Id. Decision Makers": (60, "Pipeline", False, False),
    "Perception Analysis": (70, "Pipeline", False, False),
    "Proposal/Price Quote": (75, "Pipeline", False, False),
    "Negotiation/Review": (90, "Pipeline", False, False),
    "Closed Won": (100, "Closed", True, True),
    "Closed Lost": (0, "Omitted", True, False),
}
#: ForecastCategoryName (label) -> ForecastCategory (API value)
FORECAST = {"Omitted": "Omitted", "Pipeline": "Pipeline", "Best Case": "BestCase",
            "Commit": "Forecast", "Closed": "Closed"}
CASE_STATUS = ("New", "Working", "Escalated", "Closed")
_CLOSED_STATUS = frozenset({"Closed"})


class OrgStore(Protocol):
    """What this module reads of the org's store (not imported: the store imports the
    schema, which imports this module's fields)."""

    records: dict[str, dict[str, dict[str, Any]]]
    counters: dict[str, int]


_RO = {"createable": False, "updateable": False}
_ACCOUNT = {"reference_to": ("Account",), "relationship_name": "Account"}

OPPORTUNITY_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("Name", "string", {"length": 120, "nillable": False}),
    ("AccountId", "reference", _ACCOUNT),
    ("Description", "textarea", {"length": 32000}),
    ("StageName", "picklist", {"nillable": False, "picklist": tuple(STAGES),
                               "label": "Stage"}),
    ("Amount", "currency", {}),
    ("Probability", "percent", {"label": "Probability (%)"}),
    ("CloseDate", "date", {"nillable": False}),
    ("Type", "picklist", {"picklist": (
        "Existing Customer - Upgrade", "Existing Customer - Replacement",
        "Existing Customer - Downgrade", "New Customer")}),
    ("NextStep", "string", {}),
    ("LeadSource", "picklist", {"picklist": (
        "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")}),
    ("IsClosed", "boolean", {"nillable": False, "label": "Closed", **_RO}),
    ("IsWon", "boolean", {"nillable": False, "label": "Won", **_RO}),
    ("ForecastCategory", "picklist", {"nillable": False, "picklist": tuple(FORECAST.values()),
                                      **_RO}),
    ("ForecastCategoryName", "picklist", {"picklist": tuple(FORECAST),
                                          "label": "Forecast Category"}),
]

CASE_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("CaseNumber", "string", {"length": 30, "auto_number": True, "label": "Case Number",
                              **_RO}),
    ("AccountId", "reference", _ACCOUNT),
    ("ContactId", "reference", {"reference_to": ("Contact",),
                                "relationship_name": "Contact"}),
    ("Type", "picklist", {"picklist": (
        "Mechanical", "Electrical", "Electronic", "Structural", "Other")}),
    ("Status", "picklist", {"picklist": CASE_STATUS, "default": "New"}),
    ("Reason", "picklist", {"picklist": (
        "Installation", "Equipment Complexity", "Performance", "Breakdown",
        "Equipment Design", "Feedback", "Other")}),
    ("Origin", "picklist", {"picklist": ("Phone", "Email", "Web")}),
    ("Subject", "string", {}),
    ("Priority", "picklist", {"picklist": ("High", "Medium", "Low"), "default": "Medium"}),
    ("Description", "textarea", {"length": 32000}),
    ("IsClosed", "boolean", {"nillable": False, "label": "Closed", **_RO}),
    ("ClosedDate", "datetime", {"label": "Closed", **_RO}),
    ("IsEscalated", "boolean", {"nillable": False, "label": "Escalated"}),
]


def _opportunity(values: dict[str, Any], old: dict[str, Any]) -> None:
    stage = {**old, **values}.get("StageName")
    probability, category, closed, won = STAGES.get(str(stage), (None, None, False, False))
    if "StageName" in values and stage != old.get("StageName"):
        # a new stage brings its defaults unless the same write gives its own
        if probability is not None:
            values.setdefault("Probability", float(probability))
        if category is not None:
            values.setdefault("ForecastCategoryName", category)
    merged = {**old, **values}
    values.update(IsClosed=closed, IsWon=won,
                  ForecastCategory=FORECAST.get(str(merged.get("ForecastCategoryName")),
                                                "Omitted"))


def _case(store: OrgStore, values: dict[str, Any], old: dict[str, Any], creating: bool,
          when: str) -> None:
    if creating:
        # an auto number: never reused, even by a create that is rolled back
        store.counters["CaseNumber"] = number = store.counters.get("CaseNumber", 1000) + 1
        values["CaseNumber"] = f"{number:08d}"
    closed = {**old, **values}.get("Status") in _CLOSED_STATUS
    values["IsClosed"] = closed
    if not closed:
        values["ClosedDate"] = None
    elif not old.get("IsClosed"):
        values["ClosedDate"] = when


def check(store: OrgStore, obj: str, values: dict[str, Any], old: dict[str, Any] | None,
          when: str) -> None:
    """Complete ``values`` (validated field values of a create, or an update of ``old``)
    of an Opportunity or a Case with what Salesforce derives (the required fields are
    checked with every object's)."""
    if obj == "Opportunity":
        _opportunity(values, old or {})
    elif obj == "Case":
        _case(store, values, old or {}, old is None, when)


def delete_refused(store: OrgStore, account_id: str) -> dict[str, Any] | None:
    """Salesforce's answer to deleting an Account that cases are associated with."""
    numbers = [r["CaseNumber"] for r in store.records["Case"].values()
               if r.get("AccountId") == account_id and not r["IsDeleted"]]
    if not numbers:
        return None
    return {"statusCode": "DELETE_FAILED", "message": "Your attempt to delete this account "
            "could not be completed because it is associated with the following cases.: "
            + ", ".join(numbers), "fields": []}


def dependents(store: OrgStore, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    """What goes to the recycle bin with a deleted Account: its opportunities."""
    return [("Opportunity", r) for r in store.records["Opportunity"].values()
            if r.get("AccountId") == account_id and not r["IsDeleted"]]
