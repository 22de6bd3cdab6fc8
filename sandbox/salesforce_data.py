"""The Salesforce emulator's org: schema (describe metadata), record store, the agency's
data spread over Salesforce objects, and time travel.

Objects: Account (one per client, ``Client_Number__c`` is the cross-vendor join key),
Care_Plan__c, Medication__c, Allergy__c, Diagnosis__c, Care_Task__c, Emergency_Contact__c
(each joined to its client by the ``Client__c`` lookup, master-detail), Physician__c
(shared, ``Account.Primary_Physician__c``), ContentVersion and Attachment (file bodies
generated lazily from a PRNG keyed by record id), plus two standard objects a connector
must skip (AccountChangeEvent: not queryable; RecentlyViewed: not replicateable).

Time travel (:func:`advance`): new clients (with a signed care-plan PDF for the first),
discharges (one shared stamp per step), edited phones/fall risk, medication dose edits and
additions, stopped medications soft-deleted into the recycle bin, new allergies, edited
care tasks; the bin is emptied (hard delete) when the clock crosses day 7, 14, ... since
the start. ``docs/sandbox-salesforce.md`` is the reference for connector authors.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.agency import Agency, ChangeSet, Client, Medication
from sandbox.soql import format_datetime

__all__ = [
    "OBJECTS", "FieldDef", "ObjectDef", "OrgStore", "add_client", "advance",
    "describe_global_entry", "describe_object", "make_id", "normalize_id", "populate",
]


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    calculated: bool = False
    compound: str | None = None  # compoundFieldName of an address component
    default: Any = None
    cascade_delete: bool = False
    label: str = ""

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required(self) -> bool:
        """Must be given on create (Salesforce: not nillable, createable, no default)."""
        return not self.nillable and self.createable and self.default is None \
            and self.type != "boolean"


@dataclass
class ObjectDef:
    name: str
    label: str
    key_prefix: str
    fields: list[FieldDef]
    queryable: bool = True
    replicateable: bool = True
    createable: bool = True
    retrieveable: bool = True
    by_lower: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_lower = {f.name.lower(): f for f in self.fields}

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())


def _f(name: str, ftype: str, **kw: Any) -> FieldDef:
    lengths = {"string": 255, "textarea": 255, "picklist": 255, "multipicklist": 4099,
               "email": 80, "phone": 40, "id": 18, "reference": 18, "url": 255}
    kw.setdefault("length", lengths.get(ftype, 0))
    return FieldDef(name, ftype, **kw)


def _system(name_field: FieldDef | None) -> list[FieldDef]:
    ro = {"createable": False, "updateable": False}
    fields = [_f("Id", "id", nillable=False, **ro)]
    if name_field is not None:
        fields.append(name_field)
    fields += [
        _f("IsDeleted", "boolean", nillable=False, **ro),
        _f("CreatedDate", "datetime", nillable=False, **ro),
        _f("LastModifiedDate", "datetime", nillable=False, **ro),
        _f("SystemModstamp", "datetime", nillable=False, **ro),
    ]
    return fields


def _client_lookup() -> FieldDef:
    # Master-detail in the agency's org: deleting a client deletes its clinical rows.
    return _f("Client__c", "reference", nillable=False, reference_to=("Account",),
              relationship_name="Client__r", cascade_delete=True, updateable=False)


NAME = _f("Name", "string", nillable=False, length=80)
LANGUAGES = ("English", "Spanish", "Polish", "Vietnamese", "French")
SERVICES = ("Personal care", "Companionship", "Medication management", "Respite",
            "Meal preparation", "Skilled nursing")
CODE_STATUS = ("Full Code", "DNR", "DNR/DNI", "Comfort Care Only")
ROUTES = ("Oral", "Subcutaneous", "Inhaled", "Ophthalmic", "Topical", "Other")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ADDRESS = ("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
           "BillingCountry")

OBJECT_LIST: list[ObjectDef] = [
    ObjectDef("Account", "Client", "001", [*_system(_f("Name", "string", nillable=False)),
        _f("Client_Number__c", "string", length=20, external_id=True, unique=True),
        _f("Birthdate__c", "date"),
        _f("Age__c", "double", createable=False, updateable=False, calculated=True),
        _f("Gender__c", "picklist", picklist=("Female", "Male", "Other")),
        _f("Preferred_Language__c", "picklist", picklist=LANGUAGES),
        _f("Status__c", "picklist", picklist=("Active", "Discharged"), restricted=True,
           default="Active"),
        _f("Services__c", "multipicklist", picklist=SERVICES),
        _f("Start_Date__c", "date"),
        _f("Discharge_Date__c", "date"),
        _f("Phone", "phone"),
        _f("Email__c", "email"),
        _f("BillingStreet", "textarea", compound="BillingAddress"),
        _f("BillingCity", "string", length=40, compound="BillingAddress"),
        _f("BillingState", "string", length=80, compound="BillingAddress"),
        _f("BillingPostalCode", "string", length=20, compound="BillingAddress"),
        _f("BillingCountry", "string", length=80, compound="BillingAddress"),
        _f("BillingAddress", "address", createable=False, updateable=False),
        _f("Referral_Source__c", "string"),
        _f("Primary_Physician__c", "reference", reference_to=("Physician__c",),
           relationship_name="Primary_Physician__r"),
        _f("Pharmacy_Name__c", "string"),
        _f("Pharmacy_Phone__c", "phone"),
    ]),
    ObjectDef("Care_Plan__c", "Care Plan", "a01", [*_system(NAME),
        _client_lookup(),
        _f("Code_Status__c", "picklist", picklist=CODE_STATUS),
        _f("Advance_Directive__c", "string"),
        _f("Access_Notes__c", "textarea", length=32768),
        _f("Diet__c", "string"),
        _f("Fall_Risk__c", "picklist", picklist=("Low", "Moderate", "High")),
        _f("Safety_Notes__c", "textarea", length=32768),
        _f("Goals__c", "textarea", length=32768),
    ]),
    ObjectDef("Medication__c", "Medication", "a02", [*_system(NAME),
        _client_lookup(),
        _f("Dose__c", "string", length=100),
        _f("Route__c", "picklist", picklist=ROUTES),
        _f("Times__c", "multipicklist", picklist=("08:00", "12:00", "18:00", "21:00")),
        _f("Prescriber__c", "string", length=120),
        _f("PRN_Instructions__c", "textarea"),
        _f("Active__c", "boolean", nillable=False, default=True),
        _f("Medication_Key__c", "string", length=40, external_id=True, unique=True),
    ]),
    ObjectDef("Allergy__c", "Allergy", "a03", [*_system(NAME),
        _client_lookup(),
        _f("Substance__c", "string", length=120),
        _f("Reaction__c", "string"),
        _f("Severity__c", "picklist", picklist=("Mild", "Moderate", "Severe")),
    ]),
    # ICD10_Code__c is an external id that is NOT unique (several clients share a code):
    # upserting by it can match several rows, which answers 300 like Salesforce does.
    ObjectDef("Diagnosis__c", "Diagnosis", "a04", [*_system(NAME),
        _client_lookup(),
        _f("ICD10_Code__c", "string", length=10, external_id=True),
    ]),
    ObjectDef("Care_Task__c", "Care Task", "a05", [*_system(NAME),
        _client_lookup(),
        _f("Day__c", "picklist", picklist=DAYS),
        _f("Time__c", "string", length=5),
        _f("Task__c", "string"),
        _f("Notes__c", "textarea"),
    ]),
    ObjectDef("Physician__c", "Physician", "a06", [*_system(NAME),
        _f("Practice__c", "string"),
        _f("Phone__c", "phone"),
    ]),
    ObjectDef("Emergency_Contact__c", "Emergency Contact", "a07", [*_system(NAME),
        _client_lookup(),
        _f("Relationship__c", "picklist", picklist=(
            "Daughter", "Son", "Spouse", "Niece", "Nephew", "Neighbour", "Friend", "Grandson")),
        _f("Phone__c", "phone"),
        _f("Email__c", "email"),
    ]),
    ObjectDef("ContentVersion", "Content Version", "068", [*_system(None),
        _f("Title", "string", nillable=False),
        _f("PathOnClient", "string", length=500, nillable=False, updateable=False),
        _f("FileExtension", "string", length=40, createable=False, updateable=False),
        _f("VersionData", "base64", nillable=False, updateable=False),
        _f("ContentSize", "int", createable=False, updateable=False),
        _f("Checksum", "string", length=50, createable=False, updateable=False),
        _f("ContentDocumentId", "reference", reference_to=("ContentDocument",),
           relationship_name="ContentDocument", createable=False, updateable=False),
        _f("FirstPublishLocationId", "reference", reference_to=("Account",),
           relationship_name="FirstPublishLocation", updateable=False),
        _f("IsLatest", "boolean", nillable=False, createable=False, updateable=False),
    ]),
    ObjectDef("Attachment", "Attachment", "00P", [*_system(_f("Name", "string", nillable=False)),
        _f("ParentId", "reference", nillable=False, reference_to=("Account",),
           relationship_name="Parent", updateable=False),
        _f("ContentType", "string", length=120),
        _f("BodyLength", "int", createable=False, updateable=False),
        _f("Body", "base64", nillable=False),
    ]),
    # Standard objects a connector must skip: one not queryable, one not replicateable.
    ObjectDef("AccountChangeEvent", "Account Change Event", "1CE", _system(None),
              queryable=False, replicateable=False, createable=False, retrieveable=False),
    ObjectDef("RecentlyViewed", "Recently Viewed", "0Ve", _system(NAME),
              replicateable=False, createable=False),
]
OBJECTS: dict[str, ObjectDef] = {o.name: o for o in OBJECT_LIST}
OBJECTS_LOWER: dict[str, ObjectDef] = {o.name.lower(): o for o in OBJECT_LIST}
PREFIXES: dict[str, str] = {o.key_prefix: o.name for o in OBJECT_LIST}

SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean",
              "date": "xsd:date", "datetime": "xsd:dateTime", "double": "xsd:double",
              "int": "xsd:int", "base64": "xsd:base64Binary", "address": "urn:address"}


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
            "describe": f"{base}/describe", "sobject": base}


def describe_global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    return {
        "activateable": False, "createable": obj.createable, "custom": obj.custom,
        "customSetting": False, "deepCloneable": False, "deletable": obj.createable,
        "deprecatedAndHidden": False, "feedEnabled": False, "hasSubtypes": False,
        "isInterface": False, "isSubtype": False, "keyPrefix": obj.key_prefix,
        "label": obj.label, "labelPlural": obj.label + "s", "layoutable": obj.createable,
        "mergeable": obj.name == "Account", "mruEnabled": obj.createable, "name": obj.name,
        "queryable": obj.queryable, "replicateable": obj.replicateable,
        "retrieveable": obj.retrieveable, "searchable": obj.queryable,
        "triggerable": obj.createable, "undeletable": obj.createable,
        "updateable": obj.createable, "urls": _urls(obj, version),
    }


def _picklist_values(f: FieldDef) -> list[dict[str, Any]]:
    return [{"active": True, "defaultValue": v == f.default, "label": v, "validFor": None,
             "value": v} for v in f.picklist]


def describe_field(f: FieldDef) -> dict[str, Any]:
    text = f.type in ("string", "textarea", "picklist", "multipicklist", "email", "phone")
    filterable = f.type not in ("base64", "address") and not (
        f.type == "textarea" and f.length > 255)
    return {
        "aggregatable": filterable, "aiPredictionField": False, "autoNumber": False,
        "byteLength": f.length * 3 if text else f.length, "calculated": f.calculated,
        "calculatedFormula": "FLOOR((TODAY() - Birthdate__c) / 365.2425)"
        if f.calculated else None,
        "cascadeDelete": f.cascade_delete, "caseSensitive": False,
        "compoundFieldName": f.compound, "controllerName": None,
        "createable": f.createable, "custom": f.custom,
        "defaultValue": f.default if f.type != "boolean" else bool(f.default),
        "defaultValueFormula": None, "defaultedOnCreate": f.default is not None
        or f.type == "boolean" or (not f.createable and f.type != "address"),
        "dependentPicklist": False, "deprecatedAndHidden": False,
        "digits": 0, "displayLocationInDecimal": False, "encrypted": False,
        "externalId": f.external_id, "extraTypeInfo": "plaintextarea"
        if f.type == "textarea" else None,
        "filterable": filterable, "filteredLookupInfo": None, "formulaTreatNullNumberAsZero": False,
        "groupable": filterable and f.type not in ("double", "datetime"),
        "highScaleNumber": False, "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id, "inlineHelpText": None,
        "label": f.label or f.name.removesuffix("__c").replace("_", " "),
        "length": f.length, "mask": None, "maskType": None, "name": f.name,
        "nameField": f.name in ("Name", "Title"), "namePointing": False,
        "nillable": f.nillable, "permissionable": f.nillable and f.custom,
        "picklistValues": _picklist_values(f), "polymorphicForeignKey": False,
        "precision": 18 if f.type == "double" else 0, "queryByDistance": False,
        "referenceTargetField": None, "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": 0 if f.cascade_delete else None,
        "restrictedDelete": False, "restrictedPicklist": f.restricted,
        "scale": 0, "searchPrefilterable": False,
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"), "sortable": filterable,
        "type": f.type, "unique": f.unique, "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_object(obj: ObjectDef, version: str) -> dict[str, Any]:
    out = describe_global_entry(obj, version)
    children: list[dict[str, Any]] = [
        {"cascadeDelete": f.cascade_delete, "childSObject": child.name, "deprecatedAndHidden":
         False, "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
         "relationshipName": child.name.removesuffix("__c") + "s__r"
         if f.cascade_delete else None, "restrictedDelete": False}
        for child in OBJECT_LIST for f in child.fields if obj.name in f.reference_to
    ]
    out.update({
        "actionOverrides": [], "childRelationships": children, "compactLayoutable": True,
        "defaultImplementation": None, "extendedBy": None, "extendsInterfaces": None,
        "fields": [describe_field(f) for f in obj.fields], "implementedBy": None,
        "implementsInterfaces": None, "listviewable": None, "lookupLayoutable": None,
        "namedLayoutInfos": [], "networkScopeFieldName": None,
        "recordTypeInfos": [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                             "developerName": "Master", "master": True, "name": "Master",
                             "recordTypeId": "012000000000000AAA", "urls": {}}],
        "searchLayoutable": True, "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + obj.label + "s", "name": "everything"}],
    })
    return out


# -- ids ---------------------------------------------------------------------------------

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _id_suffix(body: str) -> str:
    """Salesforce's 3-character case-safe suffix: one bit per upper-case letter of each
    5-character chunk of the 15-character id."""
    out = []
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(body[chunk * 5: chunk * 5 + 5])
                   if "A" <= ch <= "Z")
        out.append(CHECKSUM_CHARS[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    """An 18-character id; zero-padded base62 keeps id order equal to creation order."""
    digits = []
    for _ in range(9):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    body = prefix + "Dn0" + "".join(reversed(digits))
    return body + _id_suffix(body)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if malformed."""
    if not value.isalnum() or len(value) not in (15, 18):
        return None
    body = value[:15]
    return body + _id_suffix(body)


# -- the store ---------------------------------------------------------------------------

FILE_NOTES = ["", "Use shower chair", "Prefers tea, no sugar", "Client asleep until 09:00",
              "Check the fridge for expired food", "Daughter present on Saturdays"]
DAY = dt.timedelta(days=1)
BIN_EMPTIED_EVERY = 7  # days since the sandbox start; see OrgStore.advance
BIG_FILES = 3  # care-plan PDFs of several MB, however many clients there are


def stamp(value: dt.datetime) -> str:
    return format_datetime(value)


class OrgStore:
    """Every record of the emulated org, its recycle bin and file bodies.

    Records are plain dicts holding wire values (datetimes in Salesforce's format, dates
    ``YYYY-MM-DD``, booleans, floats, strings, None), keyed by object then by Id in
    insertion (= Id) order. The caller holds the emulator's lock.
    """

    def __init__(self, seed: int, now: dt.datetime) -> None:
        self.seed = seed
        self._reset(now)

    def _reset(self, now: dt.datetime) -> None:
        self.start = now
        self.clock = now  # the agency clock this store has caught up with
        self.last_write = now
        self.records: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in OBJECTS}
        self.counters: dict[str, int] = {}
        self.bin: dict[str, tuple[str, str]] = {}  # id -> (object, deletedDate)
        self.blobs: dict[str, dict[str, Any]] = {}  # id -> {"kind","size"} | {"data": b64}
        self.unique: dict[tuple[str, str], dict[str, str]] = {
            (o.name, f.name): {} for o in OBJECT_LIST for f in o.fields if f.unique}
        self.physicians: dict[str, str] = {}  # "name|practice" -> Physician__c id
        self.big_files = 0
        self._checksums: dict[str, str] = {}

    # -- primitives -----------------------------------------------------------------

    def new_id(self, obj: str) -> str:
        prefix = OBJECTS[obj].key_prefix
        self.counters[prefix] = n = self.counters.get(prefix, 0) + 1
        return make_id(prefix, n)

    def write_stamp(self) -> str:
        """"Now" for an API write: the agency clock plus a growing offset, so write stamps
        are unique, ordered, and later than anything time travel stamped."""
        self.last_write = max(self.last_write, self.clock) + dt.timedelta(milliseconds=1)
        return stamp(self.last_write)

    def insert(self, obj: str, values: dict[str, Any], when: str,
               created: str | None = None) -> dict[str, Any]:
        rec: dict[str, Any] = {"Id": self.new_id(obj), "IsDeleted": False,
                               "CreatedDate": created or when, "LastModifiedDate": when,
                               "SystemModstamp": when}
        for f in OBJECTS[obj].fields:
            if f.default is not None:
                rec[f.name] = f.default
        rec.update(values)
        self.put(obj, rec)
        return rec

    def put(self, obj: str, rec: dict[str, Any]) -> None:
        old = self.records[obj].get(rec["Id"])
        if old is not None:
            self._unindex(obj, old)
        self.records[obj][rec["Id"]] = rec
        if not rec["IsDeleted"]:
            for (o, fname), index in self.unique.items():
                if o == obj and rec.get(fname) is not None:
                    index[str(rec[fname]).lower()] = rec["Id"]

    def _unindex(self, obj: str, rec: dict[str, Any]) -> None:
        for (o, fname), index in self.unique.items():
            value = rec.get(fname)
            if o == obj and value is not None and index.get(str(value).lower()) == rec["Id"]:
                del index[str(value).lower()]

    def remove(self, obj: str, record_id: str) -> None:
        """Forget a record entirely (a rolled-back create)."""
        rec = self.records[obj].pop(record_id, None)
        if rec is not None:
            self._unindex(obj, rec)
        self.blobs.pop(record_id, None)
        self.bin.pop(record_id, None)
        self._checksums.pop(record_id, None)

    def restore_extras(self, record_id: str, blob: dict[str, Any] | None,
                       binned: tuple[str, str] | None) -> None:
        """Put back a record's file body and recycle-bin entry (a rolled-back write)."""
        self.blobs.pop(record_id, None)
        self.bin.pop(record_id, None)
        if blob is not None:
            self.blobs[record_id] = blob
        if binned is not None:
            self.bin[record_id] = binned
        self._checksums.pop(record_id, None)

    def update(self, obj: str, rec: dict[str, Any], values: dict[str, Any], when: str) -> None:
        new = dict(rec)
        new.update(values)
        new["LastModifiedDate"] = new["SystemModstamp"] = when
        self.put(obj, new)

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """(object, record) for an id of any object, deleted or not."""
        full = normalize_id(record_id)
        obj = PREFIXES.get(record_id[:3])
        if full is None or obj is None:
            return None
        rec = self.records[obj].get(full)
        return None if rec is None else (obj, rec)

    def by_unique(self, obj: str, fname: str, value: str) -> dict[str, Any] | None:
        rid = self.unique[(obj, fname)].get(value.lower())
        return None if rid is None else self.records[obj][rid]

    def rows(self, obj: str, include_deleted: bool) -> list[dict[str, Any]]:
        values = self.records[obj].values()
        if include_deleted:
            return list(values)
        return [r for r in values if not r["IsDeleted"]]

    def children(self, account_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(o.name, r) for o in OBJECT_LIST if o.field("Client__c") is not None
                for r in self.records[o.name].values() if r.get("Client__c") == account_id]

    def soft_delete(self, obj: str, rec: dict[str, Any], when: str) -> None:
        """Into the recycle bin: visible to queryAll and /deleted, not to query."""
        self.update(obj, rec, {"IsDeleted": True}, when)
        self.bin[rec["Id"]] = (obj, when)

    def purge(self, before: str) -> list[str]:
        """Empty the recycle bin of rows deleted before ``before``: they vanish entirely."""
        gone = [rid for rid, (_, when) in self.bin.items() if when < before]
        for rid in gone:
            obj, _ = self.bin.pop(rid)
            self.records[obj].pop(rid, None)
            self.blobs.pop(rid, None)
        return gone

    # -- file bodies ----------------------------------------------------------------

    def body(self, record_id: str) -> bytes:
        """A file's bytes: uploaded ones as stored, generated ones rebuilt from a PRNG
        keyed by the id (so start-up never materialises megabytes)."""
        blob = self.blobs[record_id]
        if "data" in blob:
            return base64.b64decode(blob["data"])
        size = int(blob["size"])
        rng = random.Random(f"{self.seed}:salesforce-file:{record_id}")
        if blob["kind"] == "pdf":
            head, tail = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
            return head + rng.randbytes(size - len(head) - len(tail)) + tail
        out = bytearray()
        i = 0
        while len(out) < size:  # BodyLength is the body's exact length, as in Salesforce
            out += f"{i:05d} Intake note: {rng.choice(FILE_NOTES) or 'no remarks'}\n".encode()
            i += 1
        return bytes(out[:size])

    def checksum(self, record_id: str) -> str | None:
        if record_id not in self.blobs:
            return None
        if record_id not in self._checksums:
            self._checksums[record_id] = hashlib.md5(  # noqa: S324 - Salesforce's checksum
                self.body(record_id)).hexdigest()
        return self._checksums[record_id]

    def set_body(self, record_id: str, data: bytes) -> None:
        self.blobs[record_id] = {"data": base64.b64encode(data).decode("ascii")}
        self._checksums.pop(record_id, None)

    # -- state ----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {"records": {o: list(r.values()) for o, r in self.records.items()},
                "counters": self.counters, "bin": {k: list(v) for k, v in self.bin.items()},
                "blobs": self.blobs,
                "physicians": self.physicians, "big_files": self.big_files,
                "start": self.start.isoformat(), "clock": self.clock.isoformat(),
                "last_write": self.last_write.isoformat()}

    def load(self, state: dict[str, Any]) -> None:
        self._reset(dt.datetime.fromisoformat(state["start"]))
        self.clock = dt.datetime.fromisoformat(state["clock"])
        self.last_write = dt.datetime.fromisoformat(state["last_write"])
        self.counters = dict(state["counters"])
        self.bin = {k: (v[0], v[1]) for k, v in state["bin"].items()}
        self.blobs = dict(state["blobs"])
        self.physicians = dict(state["physicians"])
        self.big_files = int(state["big_files"])
        for obj, rows in state["records"].items():
            for rec in rows:
                self.put(obj, dict(rec))


# -- the agency spread over the org -----------------------------------------------------

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
    return aid


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
