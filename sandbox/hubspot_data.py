"""The HubSpot sandbox portal's data: object types, property definitions, the record store,
associations, generation from the agency, time travel and search.

:mod:`sandbox.hubspot` serves this over HTTP; this module knows nothing of HTTP.

Emulated: CRM objects as HubSpot v3 models them (``id``, string-valued ``properties``,
``createdAt``/``updatedAt``, ``archived``/``archivedAt``), the default property set a list
returns when no ``properties`` are asked for, unique-value properties (upsert keys), typed
search filters, and v4 associations with HubSpot's default association type ids.
Not emulated: property history, pipelines API, merges, GDPR delete, lists, imports/exports.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import random
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.agency import CODE_STATUS, PRACTICES, REFERRALS, Agency, Client

PORTAL_ID = 24681357
CUSTOM_SCHEMA_ID = "1234567"
CUSTOM_NAME = "care_recipients"
CUSTOM_TYPE_ID = f"2-{CUSTOM_SCHEMA_ID}"
CUSTOM_FQN = f"p{PORTAL_ID}_{CUSTOM_NAME}"
EPOCH_ISO = "2020-01-01T00:00:00.000Z"  # when the portal's built-in definitions "were made"

SERVICES = ["Personal care", "Companionship", "Medication management", "Respite",
            "Meal preparation", "Skilled nursing"]
HOURLY_RATE = {"Personal care": 34, "Companionship": 28, "Medication management": 38,
               "Respite": 32, "Meal preparation": 27, "Skilled nursing": 65}
CARE_LEVELS = ["Level 1 - Companion", "Level 2 - Personal care", "Level 3 - Skilled"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
               "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"]
LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
             "opportunity", "customer", "evangelist", "other"]
OWNERS = [("Priya", "Raman"), ("Tomás", "Álvarez"), ("Grace", "O'Connell"),
          ("Dmitri", "Volkov"), ("Fatima", "Haddad"), ("Kenji", "Watanabe")]
VISIT_NOTES = [
    "Visit completed. Client in good spirits; ate most of lunch.",
    "Client reported mild knee pain; encouraged to rest and elevate.",
    "Medication reminder given at 08:00; all morning doses taken.",
    "Short walk to the mailbox with walker. No dizziness.",
    "Family call: daughter asked about adding a Sunday visit.",
    "Skin check done, no redness over heels or sacrum.",
    "Client seemed confused this afternoon; coordinator informed.",
    "<p>Blood sugar 142 before lunch. <strong>Recorded in log.</strong></p>",
]
TASK_SUBJECTS = ["Call family about schedule", "Renew service agreement", "Quarterly care review",
                 "Order incontinence supplies", "Confirm pharmacy delivery", "Update care plan"]

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
                         "lastmodifieddate"}
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
}
TYPE_ID_PAIRS: dict[int, tuple[str, str]] = {v: k for k, v in DEFAULT_ASSOC.items()}
LABELLED_ASSOC: dict[tuple[str, str], dict[int, str]] = {
    # the client's primary referral company and a "Family member" contact label
    ("contacts", "companies"): {1: "Primary"}, ("companies", "contacts"): {2: "Primary"},
}


def assoc_label(from_type: str, to_type: str, type_id: int) -> str | None:
    return LABELLED_ASSOC.get((from_type, to_type), {}).get(type_id)


def inverse_type_id(from_type: str, to_type: str, type_id: int) -> int:
    """The type id of the reverse edge (HubSpot stores both directions)."""
    if DEFAULT_ASSOC.get((from_type, to_type)) == type_id:
        return DEFAULT_ASSOC.get((to_type, from_type), type_id)
    labels = LABELLED_ASSOC.get((from_type, to_type), {})
    if type_id in labels:
        back = LABELLED_ASSOC.get((to_type, from_type), {})
        for tid, label in back.items():
            if label == labels[type_id]:
                return tid
    return type_id


# -- the store ------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    id: int
    props: dict[str, str]  # set, non-system values ("" is a value, as HubSpot keeps it)
    created: int  # epoch millis
    updated: int
    archived_at: int | None = None


_EPOCH = dt.datetime(1970, 1, 1)  # naive UTC: isoformat() then has no offset to strip


def iso(ms: int) -> str:
    """Epoch millis as HubSpot's ISO form, ``2024-01-01T00:00:00.000Z``."""
    return (_EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def to_ms(value: str | int | float | dt.datetime | dt.date) -> int:
    """Millis from epoch millis (string or number), ISO datetime or ISO date."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return to_ms(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))
    if isinstance(value, int | float):
        return int(value)
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


@dataclass
class TypeStore:
    """The records of one object type, ids ascending, with unique-value indexes."""

    ot: ObjectType
    records: dict[int, Record] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    unique: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, rec: Record) -> None:
        self.records[rec.id] = rec
        if not self.order or rec.id > self.order[-1]:
            self.order.append(rec.id)
        else:
            bisect.insort(self.order, rec.id)
        self.index(rec)

    def add_unique(self, prop: str) -> None:
        """Declare ``prop`` unique (a new property with ``hasUniqueValue``) and index it."""
        self.unique.setdefault(prop, {})
        for rec in self.records.values():
            if rec.archived_at is None:
                self.index(rec)

    def index(self, rec: Record) -> None:
        for prop, idx in self.unique.items():
            value = rec.props.get(prop)
            if value:
                idx[value.lower() if prop == "email" else value] = rec.id

    def unindex(self, rec: Record) -> None:
        for prop, idx in self.unique.items():
            value = rec.props.get(prop)
            key = value.lower() if value and prop == "email" else value
            if key and idx.get(key) == rec.id:
                del idx[key]

    def find_unique(self, prop: str, value: str) -> Record | None:
        if prop == "hs_object_id":
            rec = self.records.get(int(value)) if value.isdigit() else None
        else:
            rid = self.unique.get(prop, {}).get(value.lower() if prop == "email" else value)
            rec = self.records.get(rid) if rid is not None else None
        return rec if rec is not None and rec.archived_at is None else None

    def iter_from(self, after: int, archived: bool) -> Iterator[Record]:
        """Records with id >= ``after``, ascending; only archived ones when ``archived``."""
        for rid in self.order[bisect.bisect_left(self.order, after):]:
            rec = self.records[rid]
            if (rec.archived_at is not None) == archived:
                yield rec


class Store:
    """Every object type's records, the associations between them, owners and files."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.types: dict[str, TypeStore] = {}
        self.properties = builtin_properties()
        for name, ot in TYPES.items():
            ts = TypeStore(ot)
            ts.unique = {p: {} for p in ot.unique}
            self.types[name] = ts
        # (type, id) -> to_type -> to_id -> association type ids (from this side)
        self.assoc: dict[tuple[str, int], dict[str, dict[int, list[int]]]] = {}
        self.next_id = 10001
        self.version = 0  # bumped on every mutation (search caches key on it)
        self.clock = 0  # the latest write stamp, epoch millis

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def stamp(self, now_ms: int) -> int:
        """A unique, increasing write time at or after the sandbox clock's ``now``."""
        self.clock = max(now_ms, self.clock + 1)
        return self.clock

    def value(self, type_name: str, rec: Record, prop: str) -> str | None:
        """A property's value as the API shows it (system properties derived)."""
        if prop == "hs_object_id":
            return str(rec.id)
        if prop in ("createdate", "hs_createdate"):
            return rec.props.get(prop) or iso(rec.created)
        if prop == "hs_lastmodifieddate" or (prop == "lastmodifieddate"
                                            and type_name == "contacts"):
            return iso(rec.updated)
        return rec.props.get(prop)

    def create(self, type_name: str, props: dict[str, str], stamp: int,
               created: int | None = None) -> Record:
        rec = Record(self.new_id(), props, created if created is not None else stamp, stamp)
        self.types[type_name].add(rec)
        self.version += 1
        return rec

    def update(self, type_name: str, rec: Record, props: dict[str, str], stamp: int) -> None:
        ts = self.types[type_name]
        ts.unindex(rec)
        rec.props.update(props)
        ts.index(rec)
        rec.updated = max(rec.updated, stamp)
        self.version += 1

    def archive(self, type_name: str, rec: Record, stamp: int) -> None:
        """Archive as HubSpot does: ``archivedAt`` set, the last-modified date unchanged."""
        if rec.archived_at is None:
            self.types[type_name].unindex(rec)
            rec.archived_at = stamp
            self.version += 1

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int,
                  type_id: int | None = None) -> int:
        """Add an association in both directions; returns the type id used from this side."""
        tid = type_id if type_id is not None else DEFAULT_ASSOC.get((from_type, to_type), 0)
        back = inverse_type_id(from_type, to_type, tid)
        for (a, aid, b, bid, t) in ((from_type, from_id, to_type, to_id, tid),
                                    (to_type, to_id, from_type, from_id, back)):
            types = self.assoc.setdefault((a, aid), {}).setdefault(b, {}).setdefault(bid, [])
            if t not in types:
                types.append(t)
        self.version += 1
        return tid

    def dissociate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        for (a, aid, b, bid) in ((from_type, from_id, to_type, to_id),
                                 (to_type, to_id, from_type, from_id)):
            self.assoc.get((a, aid), {}).get(b, {}).pop(bid, None)
        self.version += 1

    def associations(self, type_name: str, rec_id: int,
                     to_type: str) -> list[tuple[int, list[int]]]:
        """Live (non-archived) associated ids of ``to_type``, ascending, with their type ids."""
        targets = self.assoc.get((type_name, rec_id), {}).get(to_type, {})
        records = self.types[to_type].records
        return [(tid, targets[tid]) for tid in sorted(targets)
                if tid in records and records[tid].archived_at is None]

    # -- state ------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id, "clock": self.clock, "properties": self.properties,
            "records": {name: [[r.id, r.props, r.created, r.updated, r.archived_at]
                               for r in (ts.records[i] for i in ts.order)]
                        for name, ts in self.types.items()},
            "assoc": [[a, aid, b, bid, types] for (a, aid), tos in self.assoc.items()
                      for b, ids in tos.items() for bid, types in ids.items()],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.reset()  # every index is rebuilt from the rows
        self.next_id, self.clock = state["next_id"], state["clock"]
        self.properties = state["properties"]
        for name, defs in self.properties.items():
            self.types[name].unique = {p: {} for p, d in defs.items() if d["hasUniqueValue"]}
        for name, rows in state["records"].items():
            ts = self.types[name]
            for rid, props, created, updated, archived_at in rows:
                rec = Record(rid, props, created, updated, archived_at)
                ts.records[rid] = rec
                ts.order.append(rid)
                if archived_at is None:
                    ts.index(rec)
            ts.order.sort()
        for a, aid, b, bid, types in state["assoc"]:
            self.assoc.setdefault((a, aid), {}).setdefault(b, {})[bid] = list(types)


# -- the portal: generation from the agency and time travel ------------------------------------

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
BIG_FILE_SIZE = 6 * 1024 * 1024  # the signed consent PDF: several MB, generated on download


def owners() -> list[dict[str, Any]]:
    """The care coordinators (HubSpot users) who own records."""
    domain = "sunrise-homecare.example"
    return [{"id": str(70000001 + i),
             "email": f"{first.lower()}.{last.lower()}@{domain}".replace("'", ""),
             "firstName": first, "lastName": last, "userId": 9100001 + i,
             "userIdIncludingInactive": 9100001 + i, "type": "PERSON", "archived": False,
             "createdAt": EPOCH_ISO, "updatedAt": EPOCH_ISO,
             "teams": [{"id": "4100001", "name": "Care coordination", "primary": True}]}
            for i, (first, last) in enumerate(OWNERS)]


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def _times(rng: random.Random, lo: int, hi: int) -> tuple[int, int]:
    """(created, updated) within [lo, hi]; a third of updates fall on the hour, so modified
    dates tie across records as they do in real portals."""
    created = rng.randint(lo, hi)
    updated = rng.randint(created, hi)
    if rng.random() < 0.3:
        updated = max(created, updated - updated % HOUR_MS)
    return created, updated


class Portal:
    """The sandbox portal: the store plus files, owners and the per-client index that time
    travel uses (client number -> ids of the client's contact, deal, care recipient, ...)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.store = Store()
        self.owners = owners()
        self.files: dict[str, dict[str, Any]] = {}  # id -> metadata (+ "data" when uploaded)
        self.clients: dict[str, dict[str, Any]] = {}  # client number -> ids
        self.companies: dict[str, int] = {}  # company name -> id
        self.products: dict[str, int] = {}  # service -> product id
        self.advanced_to = 0  # the sandbox clock at the last advance, epoch millis

    # -- generation -------------------------------------------------------------------------

    def populate(self, agency: Agency) -> None:
        start = to_ms(agency.start)
        self.advanced_to = start
        if not agency.clients:
            return  # an empty portal: a restore target
        rng = random.Random(f"hubspot:{self.seed}:catalog")
        floor = start - 1600 * DAY_MS
        for name, category in [*((r, "Referral source") for r in REFERRALS),
                               *((p, "Physician practice") for p in PRACTICES)]:
            created, updated = _times(rng, floor, start)
            domain = "".join(ch for ch in name.lower() if ch.isalnum())[:20] + ".example.com"
            rec = self.store.create("companies", {"name": name, "company_category": category,
                                                  "domain": domain}, updated, created)
            self.companies[name] = rec.id
        for service in SERVICES:
            created, updated = _times(rng, floor, start)
            sku = "SVC-" + "".join(w[0] for w in service.split()).upper()
            rec = self.store.create("products", {
                "name": f"{service} (per hour)", "price": f"{HOURLY_RATE[service]:.2f}",
                "hs_sku": sku, "description": f"{service} visit, billed per hour"},
                updated, created)
            self.products[service] = rec.id
        for client in agency.clients.values():
            lo = to_ms(client.start_date) + rng.randint(8, 17) * HOUR_MS
            self.add_client(client, min(lo, start), start)

    def _rng(self, *salt: object) -> random.Random:
        return random.Random(":".join(["hubspot", str(self.seed), *map(str, salt)]))

    def _create(self, type_name: str, props: dict[str, str], rng: random.Random, lo: int,
                hi: int, tie: int | None = None) -> int:
        created, updated = _times(rng, lo, hi)
        if tie is not None:  # saved together with another record: the same modified stamp
            created = min(created, tie)
            updated = tie
        if type_name in ("notes", "tasks", "calls", "meetings", "emails"):
            props.setdefault("hs_timestamp", iso(created))
        return self.store.create(type_name, props, updated, created).id

    def add_client(self, client: Client, lo: int, hi: int) -> None:
        """Create the client's contacts, deal, line items, care recipient, engagements and
        intake-form file, created within [lo, hi]."""
        rng = self._rng(client.number)
        st = self.store
        owner = rng.choice(self.owners)["id"]
        ids: dict[str, Any] = {"family": [], "owner": owner}
        props = {"firstname": client.first_name, "lastname": client.last_name,
                 "phone": client.phone, "relationship": "Client", "client_number": client.number,
                 "date_of_birth": client.birthdate.isoformat(), "address": client.street,
                 "city": client.city, "state": client.state, "zip": client.postal_code,
                 "lifecyclestage": "customer", "hs_language": client.language,
                 "access_notes": client.access_notes,  # "" kept as "", long text as is
                 "client_status": client.status, "hubspot_owner_id": owner}
        if client.email:  # no email: the property is absent (null), as in HubSpot
            props["email"] = client.email
        contact = ids["contact"] = self._create("contacts", props, rng, lo, hi)
        client_updated = st.types["contacts"].records[contact].updated
        for ref in (client.referral_source, client.physician["practice"]):
            if ref in self.companies:
                st.associate("contacts", contact, "companies", self.companies[ref])
        if client.referral_source in self.companies:
            primary = self.companies[client.referral_source]
            st.associate("contacts", contact, "companies", primary, 1)
        for ec in client.emergency_contacts:
            first, last = _split_name(ec["name"])
            email = ec["email"]
            while st.types["contacts"].unique["email"].get(email.lower()):
                email = "x" + email  # HubSpot keeps contact emails unique
            fam = self._create("contacts", {
                "firstname": first, "lastname": last, "email": email, "phone": ec["phone"],
                "relationship": ec["relationship"], "client_number": client.number,
                "hubspot_owner_id": owner}, rng, lo, hi,
                tie=client_updated if rng.random() < 0.5 else None)
            ids["family"].append(fam)
        hours = rng.randint(4, 40)
        amount = sum(HOURLY_RATE[s] for s in client.services) * hours * 52 / len(client.services)
        deal = ids["deal"] = self._create("deals", {
            "dealname": f"{client.full_name} - {', '.join(client.services)}",
            "amount": f"{amount:.2f}", "dealstage": "closedwon", "pipeline": "default",
            "closedate": iso(to_ms(client.start_date)), "client_number": client.number,
            "services": ";".join(client.services), "hubspot_owner_id": owner}, rng, lo, hi)
        for fam_or_client in (contact, *ids["family"]):
            st.associate("deals", deal, "contacts", fam_or_client)
        if client.referral_source in self.companies:
            st.associate("deals", deal, "companies", self.companies[client.referral_source])
        for service in client.services:
            qty = max(1, hours // len(client.services)) * 52
            item = self._create("line_items", {
                "name": f"{service} (hours per year)", "quantity": str(qty),
                "price": f"{HOURLY_RATE[service]:.2f}",
                "amount": f"{qty * HOURLY_RATE[service]:.2f}",
                "hs_product_id": str(self.products.get(service, "")),
                "client_number": client.number}, rng, lo, hi)
            st.associate("deals", deal, "line_items", item)
        level = (CARE_LEVELS[2] if "Skilled nursing" in client.services else
                 CARE_LEVELS[1] if "Personal care" in client.services else CARE_LEVELS[0])
        care = ids["care"] = self._create(CUSTOM_NAME, {
            "client_number": client.number, "client_name": client.full_name,
            "code_status": client.code_status, "care_level": level,
            "fall_risk": client.fall_risk, "diet": client.diet}, rng, lo, hi)
        st.associate(CUSTOM_NAME, care, "contacts", contact)
        file_id = self.add_file(client.number, f"{client.number} intake form.pdf", "Intake forms",
                                rng.randint(40_000, 250_000), lo)
        if client.number == "C-00001":
            self.add_file(client.number, f"{client.number} consent to care (signed).pdf",
                          "Consents", BIG_FILE_SIZE, lo)
        self._engagements(client, ids, rng, lo, hi, file_id)
        self.clients[client.number] = ids

    def _engagements(self, client: Client, ids: dict[str, Any], rng: random.Random, lo: int,
                     hi: int, file_id: str) -> None:
        st, contact, deal, owner = self.store, ids["contact"], ids["deal"], ids["owner"]
        first = client.first_name
        for i in range(rng.randint(6, 12)):
            body = ("Intake form received and filed." if i == 0 else
                    rng.choice(VISIT_NOTES).replace("Client", first, rng.random() < 0.5))
            props = {"hs_note_body": body, "hubspot_owner_id": owner}
            if i == 0:
                props["hs_attachment_ids"] = file_id
            note = self._create("notes", props, rng, lo, hi)
            st.associate("notes", note, "contacts", contact)
            st.associate("notes", note, "deals", deal)
            if "Family call" in body and ids["family"]:
                st.associate("notes", note, "contacts", ids["family"][0])
        for _ in range(rng.randint(2, 4)):
            self.add_task(client, ids, rng, lo, hi)
        family = ids["family"][0] if ids["family"] else contact
        if rng.random() < 0.5:
            call = self._create("calls", {
                "hs_call_title": "Call with family", "hs_call_body": f"Discussed {first}'s week.",
                "hs_call_duration": str(rng.randint(60, 1800) * 1000),
                "hs_call_direction": rng.choice(["INBOUND", "OUTBOUND"]),
                "hs_call_status": "COMPLETED", "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("calls", call, "contacts", family)
            st.associate("calls", call, "deals", deal)
        if rng.random() < 0.5:
            begin = rng.randint(lo, hi)
            meeting = self._create("meetings", {
                "hs_meeting_title": "Quarterly care review",
                "hs_meeting_body": "Care plan reviewed.",
                "hs_meeting_start_time": iso(begin), "hs_meeting_end_time": iso(begin + HOUR_MS),
                "hs_meeting_outcome": "COMPLETED", "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("meetings", meeting, "contacts", contact)
            st.associate("meetings", meeting, "deals", deal)
        if rng.random() < 0.5:
            email = self._create("emails", {
                "hs_email_subject": "Schedule for next week",
                "hs_email_text": f"Hello, here is {first}'s visit schedule for next week.",
                "hs_email_direction": "EMAIL", "hs_email_status": "SENT",
                "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("emails", email, "contacts", family)
            st.associate("emails", email, "deals", deal)
        if rng.random() < 0.05 or client.number.endswith("07"):  # every portal has some
            ticket = self._create("tickets", {
                "subject": rng.choice(["Caregiver arrived late", "Missed visit on Sunday",
                                       "Billing question"]),
                "content": "Family called to complain; coordinator following up.",
                "hs_pipeline": "0", "hs_pipeline_stage": rng.choice("1234"),
                "hs_ticket_priority": rng.choice(["LOW", "MEDIUM", "HIGH"]),
                "client_number": client.number, "hubspot_owner_id": owner}, rng, lo, hi)
            st.associate("tickets", ticket, "contacts", contact)
            st.associate("tickets", ticket, "deals", deal)

    def add_task(self, client: Client, ids: dict[str, Any], rng: random.Random, lo: int,
                 hi: int) -> int:
        task = self._create("tasks", {
            "hs_task_subject": rng.choice(TASK_SUBJECTS),
            "hs_task_body": f"For {client.full_name} ({client.number}).",
            "hs_task_status": rng.choice(["COMPLETED", "COMPLETED", "NOT_STARTED", "IN_PROGRESS"]),
            "hs_task_priority": rng.choice(["NONE", "LOW", "MEDIUM", "HIGH"]),
            "hs_task_type": "TODO", "hubspot_owner_id": ids["owner"]}, rng, lo, hi)
        self.store.associate("tasks", task, "contacts", ids["contact"])
        self.store.associate("tasks", task, "deals", ids["deal"])
        return task

    def add_file(self, client_number: str, name: str, folder: str, size: int, when: int,
                 data: bytes | None = None) -> str:
        fid = str(self.store.new_id())
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        self.files[fid] = {
            "id": fid, "name": name.rpartition(".")[0] if ext else name, "extension": ext,
            "type": "DOCUMENT" if ext in ("pdf", "doc", "docx", "txt", "") else "OTHER",
            "size": size, "path": f"/{folder}/{name}",
            "parentFolderId": str(zlib.crc32(folder.encode()) % 10**8), "access": "PRIVATE",
            "created": when,
            "updated": when, "archived": False, "client_number": client_number,
        }
        if data is not None:
            self.files[fid]["data"] = data
        return fid

    # -- time travel --------------------------------------------------------------------------

    def advance(self, agency: Agency, changes: Any) -> None:
        """Apply an agency ChangeSet, then HubSpot's own churn (notes, tasks, deal edits,
        archived records). Archiving leaves the last-modified date alone, as HubSpot does."""
        st = self.store
        hi = to_ms(changes.now)
        lo = max(self.advanced_to, st.clock) + 1
        rng = self._rng("advance", hi)
        tie = hi - HOUR_MS  # edits of one step share this stamp: ties on the cursor value
        for number in changes.new_clients:
            self.add_client(agency.clients[number], lo, hi)
        for number in changes.discharged:
            ids = self.clients.get(number)
            if ids:
                client = agency.clients[number]
                date = (client.discharge_date or changes.now.date()).isoformat()
                self._edit("deals", ids["deal"], {"dealstage": "closedlost",
                                                  "discharge_date": date}, tie)
                self._edit("contacts", ids["contact"], {"client_status": "Discharged",
                                                        "lifecyclestage": "other"}, tie)
        for number in changes.edited_clients:
            ids = self.clients.get(number)
            if ids:
                client = agency.clients[number]
                self._edit("contacts", ids["contact"], {"phone": client.phone}, tie)
                self._edit(CUSTOM_NAME, ids["care"], {"fall_risk": client.fall_risk}, tie)
        active = [n for n, c in agency.clients.items()
                  if c.status == "Active" and n in self.clients]
        for _ in range(changes.days):
            for number in rng.sample(active, min(len(active), 3)):
                ids = self.clients[number]
                note = self._create("notes", {"hs_note_body": rng.choice(VISIT_NOTES),
                                              "hubspot_owner_id": ids["owner"]}, rng, lo, hi)
                st.associate("notes", note, "contacts", ids["contact"])
                st.associate("notes", note, "deals", ids["deal"])
            for number in rng.sample(active, min(len(active), 1)):
                self.add_task(agency.clients[number], self.clients[number], rng, lo, hi)
            for number in rng.sample(active, min(len(active), 1)):
                deal = st.types["deals"].records[self.clients[number]["deal"]]
                amount = float(deal.props.get("amount") or 0) * rng.choice([0.9, 1.1, 1.25])
                self._edit("deals", deal.id, {"amount": f"{amount:.2f}"}, rng.randint(lo, hi))
            self._archive_some(rng, hi)
        self.advanced_to = hi

    def _edit(self, type_name: str, rid: int, props: dict[str, str], when: int) -> None:
        rec = self.store.types[type_name].records.get(rid)
        if rec is not None and rec.archived_at is None:
            self.store.update(type_name, rec, props, when)

    def _archive_some(self, rng: random.Random, when: int) -> None:
        """Archive a note and sometimes a task or a family contact (someone moved away)."""
        for type_name, chance in (("notes", 1.0), ("tasks", 0.5), ("contacts", 0.3)):
            ts = self.store.types[type_name]
            if not ts.order or rng.random() >= chance:
                continue
            rec = ts.records[rng.choice(ts.order)]
            if type_name == "contacts" and rec.props.get("relationship") == "Client":
                continue  # the client's own contact stays
            self.store.archive(type_name, rec, when - rng.randint(0, DAY_MS // 2))

    # -- state ---------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        files = {fid: {k: v for k, v in meta.items() if k != "data"}
                 for fid, meta in self.files.items()}
        uploads = {fid: base64.b64encode(meta["data"]).decode()
                   for fid, meta in self.files.items() if "data" in meta}
        return {"store": self.store.dump(), "files": files, "uploads": uploads,
                "clients": self.clients, "companies": self.companies, "products": self.products,
                "advanced_to": self.advanced_to}

    def load(self, state: dict[str, Any]) -> None:
        self.store.load(state["store"])
        self.files = state["files"]
        for fid, data in state["uploads"].items():
            self.files[fid]["data"] = base64.b64decode(data)
        self.clients, self.companies = state["clients"], state["companies"]
        self.products, self.advanced_to = state["products"], state["advanced_to"]
