"""The HubSpot portal's schema: object types (by plural name, singular, ``objectTypeId``
or fully qualified name), property definitions (the default set a list returns when no
``properties`` are asked for; unique-value properties, the upsert keys), and v4
association types with HubSpot's default association type ids and labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.agency import CODE_STATUS

__all__ = ["ALIASES", "TYPES", "ObjectType", "assoc_label", "property_definition"]

PORTAL_ID = 24681357
CUSTOM_SCHEMA_ID = "1234567"
CUSTOM_NAME = "care_recipients"
CUSTOM_TYPE_ID = f"2-{CUSTOM_SCHEMA_ID}"
CUSTOM_FQN = f"p{PORTAL_ID}_{CUSTOM_NAME}"
EPOCH_ISO = "2020-01-01T00:00:00.000Z"  # when the portal's built-in definitions "were made"

SERVICES = ["Personal care", "Companionship", "Medication management", "Respite",
            "Meal preparation", "Skilled nursing"]


CARE_LEVELS = ["Level 1 - Companion", "Level 2 - Personal care", "Level 3 - Skilled"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
               "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"]
LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
             "opportunity", "customer", "evangelist", "other"]


# -- object types and property definitions ---------------------------------------------


# (name, label, type, fieldType, options or None); options are (value, label) pairs.
PropSpec = tuple[str, str, str, str, list[tuple[str, str]] | None]


def _opts(values: Iterable[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


def _s(name: str, label: str, field_type: str = "text") -> PropSpec:
    return (name, label, "string", field_type, None)


def _e(name: str, label: str, values: Iterable[str], field_type: str = "select") -> PropSpec:
    return (name, label, "enumeration", field_type, _opts(values))


def _n(name: str, label: str) -> PropSpec:
    return (name, label, "number", "number", None)


def _dt(name: str, label: str) -> PropSpec:
    return (name, label, "datetime", "date", None)


COMMON: list[PropSpec] = [
    _n("hs_object_id", "Record ID"), _dt("createdate", "Create date"),
    _dt("hs_lastmodifieddate", "Last modified date"),
    _e("hubspot_owner_id", "Owner", []), _s("source_record_id", "Source record ID"),
]
ENGAGEMENT: list[PropSpec] = [_dt("hs_createdate", "Created at"),
                              _dt("hs_timestamp", "Activity date")]
SPECS: dict[str, list[PropSpec]] = {
    "contacts": [
        _s("firstname", "First name"), _s("lastname", "Last name"), _s("email", "Email"),
        _s("hs_merged_object_ids", "Merged record IDs", "text"),
        _s("phone", "Phone number", "phonenumber"), _s("relationship", "Relationship to client"),
        _s("client_number", "Client number"),
        ("date_of_birth", "Date of birth", "date", "date", None),
        _s("address", "Street address"), _s("city", "City"), _s("state", "State/Region"),
        _s("zip", "Postal code"), _e("lifecyclestage", "Lifecycle stage", LIFECYCLE, "radio"),
        _dt("lastmodifieddate", "Last modified date"), _s("hs_language", "Preferred language"),
        _s("access_notes", "Home access notes", "textarea"), _s("client_status", "Client status"),
    ],
    "companies": [
        _s("name", "Company name"), _s("domain", "Company domain name"),
        _s("phone", "Phone number", "phonenumber"), _s("city", "City"),
        _e("company_category", "Category", ["Referral source", "Physician practice"]),
    ],
    "deals": [
        _s("dealname", "Deal name"), _n("amount", "Amount"),
        _e("dealstage", "Deal stage", DEAL_STAGES, "radio"),
        _e("pipeline", "Pipeline", ["default"]),
        _dt("closedate", "Close date"), _s("client_number", "Client number"),
        _e("services", "Services", SERVICES, "checkbox"),
        ("discharge_date", "Discharge date", "date", "date", None),
    ],
    "tickets": [
        _s("subject", "Ticket name"), _s("content", "Ticket description", "textarea"),
        _e("hs_pipeline", "Pipeline", ["0"]), _e("hs_pipeline_stage", "Ticket status", "1234"),
        _e("hs_ticket_priority", "Priority", ["LOW", "MEDIUM", "HIGH"]),
        _s("client_number", "Client number"),
    ],
    "products": [_s("name", "Name"), _n("price", "Unit price"), _s("hs_sku", "SKU"),
                 _s("description", "Description", "textarea")],
    "line_items": [_s("name", "Name"), _n("quantity", "Quantity"), _n("price", "Unit price"),
                   _n("amount", "Net price"), _s("hs_product_id", "Product ID"),
                   _s("client_number", "Client number")],
    "notes": [*ENGAGEMENT, _s("hs_note_body", "Note body", "html"),
              _s("hs_attachment_ids", "Attachment IDs")],
    "tasks": [*ENGAGEMENT, _s("hs_task_subject", "Title"), _s("hs_task_body", "Notes", "html"),
              _e("hs_task_status", "Task status",
                 ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]),
              _e("hs_task_priority", "Priority", ["NONE", "LOW", "MEDIUM", "HIGH"]),
              _e("hs_task_type", "Task type", ["TODO", "CALL", "EMAIL"])],
    "calls": [*ENGAGEMENT, _s("hs_call_title", "Call title"),
              _s("hs_call_body", "Call notes", "html"),
              _n("hs_call_duration", "Call duration"),
              _e("hs_call_direction", "Call direction", ["INBOUND", "OUTBOUND"]),
              _s("hs_call_status", "Call status")],
    "meetings": [*ENGAGEMENT, _s("hs_meeting_title", "Meeting name"),
                 _s("hs_meeting_body", "Meeting description", "html"),
                 _dt("hs_meeting_start_time", "Start time"), _dt("hs_meeting_end_time", "End time"),
                 _s("hs_meeting_location", "Location"),
                 _e("hs_meeting_outcome", "Outcome",
                    ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"])],
    "emails": [*ENGAGEMENT, _s("hs_email_subject", "Subject"), _s("hs_email_text", "Body"),
               _e("hs_email_direction", "Direction",
                  ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]),
               _s("hs_email_status", "Email status")],
    CUSTOM_NAME: [*ENGAGEMENT[:1], _s("client_number", "Client number"),
                  _s("client_name", "Client name"),
                  _e("code_status", "Code status", CODE_STATUS),
                  _e("care_level", "Care level", CARE_LEVELS),
                  _e("fall_risk", "Fall risk", ["Low", "Moderate", "High"]),
                  _s("diet", "Diet", "textarea")],
}


@dataclass(frozen=True)
class ObjectType:
    name: str  # the plural API name ("contacts") or, for the custom object, its name
    type_id: str  # "0-1"; custom: "2-1234567"
    singular: str
    modified_prop: str  # the cursor property HubSpot documents for this type
    default_props: tuple[str, ...]  # what a list returns when no properties are asked for
    unique: tuple[str, ...]  # properties with hasUniqueValue (usable as idProperty)


TYPES: dict[str, ObjectType] = {t.name: t for t in [
    ObjectType("contacts", "0-1", "contact", "lastmodifieddate",
               ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
               ("email", "source_record_id")),
    ObjectType("companies", "0-2", "company", "hs_lastmodifieddate",
               ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
               ("source_record_id",)),
    ObjectType("deals", "0-3", "deal", "hs_lastmodifieddate",
               ("amount", "closedate", "createdate", "dealname", "dealstage",
                "hs_lastmodifieddate", "hs_object_id", "pipeline"), ("source_record_id",)),
    ObjectType("tickets", "0-5", "ticket", "hs_lastmodifieddate",
               ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
                "hs_pipeline_stage", "hs_ticket_priority", "subject"), ("source_record_id",)),
    ObjectType("products", "0-7", "product", "hs_lastmodifieddate",
               ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name",
                "price"), ("source_record_id", "hs_sku")),
    ObjectType("line_items", "0-8", "line_item", "hs_lastmodifieddate",
               ("amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price",
                "quantity"), ("source_record_id",)),
]}
for _name, _tid, _single in [("notes", "0-46", "note"), ("tasks", "0-27", "task"),
                             ("calls", "0-48", "call"), ("meetings", "0-47", "meeting"),
                             ("emails", "0-49", "email"),
                             (CUSTOM_NAME, CUSTOM_TYPE_ID, CUSTOM_FQN)]:
    TYPES[_name] = ObjectType(_name, _tid, _single, "hs_lastmodifieddate",
                              ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
                              ("source_record_id", "client_number") if _name == CUSTOM_NAME
                              else ("source_record_id",))
ALIASES: dict[str, str] = {}
for _t in TYPES.values():
    for _alias in (_t.name, _t.type_id, _t.singular, _t.name.lower()):
        ALIASES[_alias] = _t.name
ALIASES[CUSTOM_FQN] = CUSTOM_NAME
ALIASES["p_" + CUSTOM_NAME] = CUSTOM_NAME


def property_definition(spec: PropSpec, unique: bool, created: str = EPOCH_ISO,
                        hubspot_defined: bool = True) -> dict[str, Any]:
    """A full property definition as ``GET /crm/v3/properties/{type}`` returns it."""
    name, label, ptype, field_type, options = spec
    read_only = name in {"hs_object_id", "createdate", "hs_createdate", "hs_lastmodifieddate",
                         "lastmodifieddate", "hs_merged_object_ids"}
    return {
        "name": name, "label": label, "type": ptype, "fieldType": field_type,
        "groupName": "sandbox_information", "description": "", "displayOrder": -1,
        "options": [{"label": lab, "value": val, "displayOrder": i, "hidden": False}
                    for i, (val, lab) in enumerate(options or [])],
        "calculated": False, "externalOptions": name == "hubspot_owner_id",
        "hasUniqueValue": unique, "hidden": False, "hubspotDefined": hubspot_defined,
        "formField": not read_only, "archived": False, "createdAt": created, "updatedAt": created,
        "modificationMetadata": {"archivable": not hubspot_defined,
                                 "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": read_only},
    }


def builtin_properties() -> dict[str, dict[str, dict[str, Any]]]:
    """Per type, name -> definition, for a fresh portal."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, ot in TYPES.items():
        specs = COMMON + SPECS[name]
        out[name] = {s[0]: property_definition(s, s[0] in ot.unique) for s in specs}
    return out


# -- associations ------------------------------------------------------------------------


# HubSpot-defined default association type ids, (from, to) -> id; the reverse pair has its own.
DEFAULT_ASSOC: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("tickets", "contacts"): 16, ("contacts", "tickets"): 15,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("deals", "line_items"): 19, ("line_items", "deals"): 20,
    ("tickets", "deals"): 28, ("deals", "tickets"): 27,
    ("notes", "contacts"): 202, ("contacts", "notes"): 201,
    ("notes", "deals"): 214, ("deals", "notes"): 213,
    ("notes", "companies"): 190, ("companies", "notes"): 189,
    ("notes", "tickets"): 228, ("tickets", "notes"): 227,
    ("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
    ("tasks", "deals"): 216, ("deals", "tasks"): 215,
    ("calls", "contacts"): 194, ("contacts", "calls"): 193,
    ("calls", "deals"): 206, ("deals", "calls"): 205,
    ("meetings", "contacts"): 200, ("contacts", "meetings"): 199,
    ("meetings", "deals"): 212, ("deals", "meetings"): 211,
    ("emails", "contacts"): 198, ("contacts", "emails"): 197,
    ("emails", "deals"): 210, ("deals", "emails"): 209,
    (CUSTOM_NAME, "contacts"): 57, ("contacts", CUSTOM_NAME): 58,
    ("contacts", "contacts"): 449,
}
TYPE_ID_PAIRS: dict[int, tuple[str, str]] = {v: k for k, v in DEFAULT_ASSOC.items()}
LABELLED_ASSOC: dict[tuple[str, str], dict[int, str]] = {
    # the client's primary referral company and a "Family member" contact label
    ("contacts", "companies"): {1: "Primary"}, ("companies", "contacts"): {2: "Primary"},
}


#: A portal's own (USER_DEFINED) association labels: (from, to) -> type id -> label.
UserLabels = dict[tuple[str, str], dict[int, str]]


def assoc_label(from_type: str, to_type: str, type_id: int,
                user: UserLabels | None = None) -> str | None:
    return LABELLED_ASSOC.get((from_type, to_type), {}).get(type_id) \
        or (user or {}).get((from_type, to_type), {}).get(type_id)


def inverse_type_id(from_type: str, to_type: str, type_id: int,
                    user: UserLabels | None = None,
                    defaults: dict[tuple[str, str], int] | None = None) -> int:
    """The type id of the reverse edge (HubSpot stores both directions); ``defaults``: the
    portal's default type ids (the built-in ones and its custom objects')."""
    defaults = DEFAULT_ASSOC if defaults is None else defaults
    if defaults.get((from_type, to_type)) == type_id:
        return defaults.get((to_type, from_type), type_id)
    labels = {**LABELLED_ASSOC.get((from_type, to_type), {}),
              **(user or {}).get((from_type, to_type), {})}
    if type_id in labels:
        back = {**LABELLED_ASSOC.get((to_type, from_type), {}),
                **(user or {}).get((to_type, from_type), {})}
        for tid, label in back.items():
            if label == labels[type_id]:
                return tid
    return type_id
