"""The Salesforce emulator's schema: the org's objects and fields, and their describe
metadata (describeGlobal entries and sObject describes).

Objects: Account (one per client, ``Client_Number__c`` is the cross-vendor join key),
Care_Plan__c, Medication__c, Allergy__c, Diagnosis__c, Care_Task__c, Emergency_Contact__c
(each joined to its client by the ``Client__c`` lookup, master-detail), Physician__c
(shared, ``Account.Primary_Physician__c``), ContentVersion and Attachment (file bodies
generated lazily from a PRNG keyed by record id), the activities Task and Event (polymorphic
WhoId / WhatId), ContentDocumentLink (who sees a file; not replicateable, queried only by
document or record), Opportunity and Case (empty in the agency's org; see
``sandbox/salesforce/sales.py``), plus two standard objects a connector
must skip (AccountChangeEvent: not queryable; RecentlyViewed: not replicateable).
``docs/sandbox-salesforce.md`` is the reference for connector authors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.contacts import CONTACT_FIELDS
from sandbox.salesforce.sales import CASE_FIELDS, OPPORTUNITY_FIELDS

#: the org's one user (the API user every session belongs to)
USER_ID = "005Dn0000000001AAA"

__all__ = [
    "OBJECTS", "OBJECTS_LOWER", "FieldDef", "ObjectDef", "describe_global_entry",
    "describe_object",
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
    formula: str | None = None  # calculatedFormula; "Rel__r.Field" follows the parent
    compound: str | None = None  # compoundFieldName of an address component
    default: Any = None
    cascade_delete: bool = False
    label: str = ""
    auto_number: bool = False  # read-only, numbered by Salesforce (Case.CaseNumber)

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
    lengths = {"string": 255, "combobox": 255, "textarea": 255, "picklist": 255,
               "multipicklist": 4099, "email": 80, "phone": 40, "id": 18, "reference": 18,
               "url": 255}
    kw.setdefault("length", lengths.get(ftype, 0))
    return FieldDef(name, ftype, **kw)


def _system(name_field: FieldDef | None, dated: bool = True) -> list[FieldDef]:
    ro = {"createable": False, "updateable": False}
    fields = [_f("Id", "id", nillable=False, **ro)]
    if name_field is not None:
        fields.append(name_field)
    fields.append(_f("IsDeleted", "boolean", nillable=False, **ro))
    if dated:  # ContentDocumentLink has neither CreatedDate nor LastModifiedDate
        fields += [_f("CreatedDate", "datetime", nillable=False, **ro),
                   _f("LastModifiedDate", "datetime", nillable=False, **ro)]
    fields.append(_f("SystemModstamp", "datetime", nillable=False, **ro))
    return fields


def _client_lookup() -> FieldDef:
    # Master-detail in the agency's org: deleting a client deletes its clinical rows.
    return _f("Client__c", "reference", nillable=False, reference_to=("Account",),
              relationship_name="Client__r", cascade_delete=True, updateable=False)


NAME = _f("Name", "string", nillable=False, length=80)


def _activity_fields() -> list[FieldDef]:
    return [
        _f("Subject", "combobox"),
        _f("Description", "textarea", length=32000, label="Comments"),
        _f("WhoId", "reference", reference_to=WHO, relationship_name="Who"),
        _f("WhatId", "reference", reference_to=WHAT, relationship_name="What"),
        _f("AccountId", "reference", reference_to=("Account",), relationship_name="Account",
           createable=False, updateable=False),
        _f("OwnerId", "reference", nillable=False, reference_to=("User",),
           relationship_name="Owner", default=USER_ID),
    ]
LANGUAGES = ("English", "Spanish", "Polish", "Vietnamese", "French")
SERVICES = ("Personal care", "Companionship", "Medication management", "Respite",
            "Meal preparation", "Skilled nursing")
CODE_STATUS = ("Full Code", "DNR", "DNR/DNI", "Comfort Care Only")
ROUTES = ("Oral", "Subcutaneous", "Inhaled", "Ophthalmic", "Topical", "Other")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TASK_STATUS = ("Not Started", "In Progress", "Completed", "Waiting on someone else",
               "Deferred")
RECURRENCE = ("RecursDaily", "RecursEveryWeekday", "RecursMonthly", "RecursMonthlyNth",
              "RecursWeekly", "RecursYearly", "RecursYearlyNth")
#: What an activity's WhatId may point at in this org: the client, its custom records,
#: opportunities and cases
WHAT = ("Account", "Care_Plan__c", "Medication__c", "Allergy__c", "Diagnosis__c",
        "Care_Task__c", "Physician__c", "Emergency_Contact__c", "Opportunity", "Case")
#: WhoId points at a person (Contact or Lead); this org keeps clients as Accounts and has
#: no Lead and no Contact until a restore writes some (caregivers), so a client's Account
#: id as WhoId is refused as Salesforce refuses an id of another type
WHO = ("Contact", "Lead")
ADDRESS = ("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
           "BillingCountry")


OBJECT_LIST: list[ObjectDef] = [
    ObjectDef("Account", "Client", "001", [*_system(_f("Name", "string", nillable=False)),
        _f("Client_Number__c", "string", length=20, external_id=True, unique=True),
        _f("Birthdate__c", "date"),
        _f("Age__c", "double", createable=False, updateable=False, calculated=True,
           formula="FLOOR((TODAY() - Birthdate__c) / 365.2425)"),
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
        # a formula that follows the parent: an edit of the client's name changes it while
        # the care plan's SystemModstamp stays
        _f("Client_Name__c", "string", length=1300, createable=False, updateable=False,
           calculated=True, formula="Client__r.Name"),
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
    # People (empty in the agency's org: clients are Accounts); see sandbox/salesforce/contacts.py
    ObjectDef("Contact", "Contact", "003", [*_system(None),
        *(_f(name, ftype, **kw) for name, ftype, kw in CONTACT_FIELDS)]),
    # Sales and service (empty in the agency's org): see sandbox/salesforce/sales.py
    ObjectDef("Opportunity", "Opportunity", "006", [*_system(None),
        *(_f(name, ftype, **kw) for name, ftype, kw in OPPORTUNITY_FIELDS)]),
    ObjectDef("Case", "Case", "500", [*_system(None),
        *(_f(name, ftype, **kw) for name, ftype, kw in CASE_FIELDS)]),
    # Activities (Task, Event): WhatId and WhoId are polymorphic lookups; AccountId is
    # derived from WhatId by Salesforce; OwnerId defaults to the user writing.
    ObjectDef("Task", "Task", "00T", [*_system(None), *_activity_fields(),
        _f("Status", "picklist", nillable=False, picklist=TASK_STATUS, default="Not Started"),
        _f("Priority", "picklist", nillable=False, picklist=("High", "Normal", "Low"),
           default="Normal"),
        _f("ActivityDate", "date", label="Due Date Only"),
        _f("TaskSubtype", "picklist", picklist=("Task", "Email", "Call"), restricted=True,
           updateable=False),
        _f("CallDurationInSeconds", "int"),
        _f("IsClosed", "boolean", nillable=False, createable=False, updateable=False),
        _f("IsRecurrence", "boolean", nillable=False, updateable=False),
        _f("RecurrenceType", "picklist", picklist=RECURRENCE, restricted=True),
        _f("RecurrenceInterval", "int"),
        _f("RecurrenceDayOfWeekMask", "int"),
        _f("RecurrenceStartDateOnly", "date"),
        _f("RecurrenceEndDateOnly", "date"),
    ]),
    ObjectDef("Event", "Event", "00U", [*_system(None), *_activity_fields(),
        _f("StartDateTime", "datetime"),
        _f("EndDateTime", "datetime"),
        _f("ActivityDateTime", "datetime", label="Due Date Time"),
        _f("ActivityDate", "date", label="Due Date Only"),
        _f("DurationInMinutes", "int"),
        _f("Location", "string"),
        _f("IsAllDayEvent", "boolean", nillable=False),
    ]),
    # Who sees a file: one row per (document, record or user). Not replicateable, and
    # queryable only with a filter on ContentDocumentId or LinkedEntityId.
    ObjectDef("ContentDocumentLink", "Content Document Link", "06A", [
        *_system(None, dated=False),
        _f("ContentDocumentId", "reference", nillable=False, updateable=False,
           reference_to=("ContentDocument",), relationship_name="ContentDocument"),
        _f("LinkedEntityId", "reference", nillable=False, updateable=False,
           reference_to=(*WHAT, "User"), relationship_name="LinkedEntity"),
        _f("ShareType", "picklist", nillable=False, picklist=("V", "C", "I"),
           restricted=True, default="V"),
        _f("Visibility", "picklist", nillable=False, picklist=(
            "AllUsers", "InternalUsers", "SharedUsers"), restricted=True, default="AllUsers"),
    ], replicateable=False),
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
              "int": "xsd:int", "base64": "xsd:base64Binary", "address": "urn:address",
              "currency": "xsd:double", "percent": "xsd:double"}
#: (precision, scale) of the number types that have them
DIGITS = {"double": (18, 0), "currency": (18, 2), "percent": (3, 0)}


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
        "aggregatable": filterable, "aiPredictionField": False, "autoNumber": f.auto_number,
        "byteLength": f.length * 3 if text else f.length, "calculated": f.calculated,
        "calculatedFormula": f.formula if f.calculated else None,
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
        "groupable": filterable and f.type not in ("double", "currency", "percent", "datetime"),
        "highScaleNumber": False, "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id, "inlineHelpText": None,
        "label": f.label or f.name.removesuffix("__c").replace("_", " "),
        "length": f.length, "mask": None, "maskType": None, "name": f.name,
        "nameField": f.name in ("Name", "Title") or f.auto_number,
        "namePointing": len(f.reference_to) > 1,
        "nillable": f.nillable, "permissionable": f.nillable and f.custom,
        "picklistValues": _picklist_values(f), "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": DIGITS.get(f.type, (0, 0))[0], "queryByDistance": False,
        "referenceTargetField": None, "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": 0 if f.cascade_delete else None,
        "restrictedDelete": False, "restrictedPicklist": f.restricted,
        "scale": DIGITS.get(f.type, (0, 0))[1], "searchPrefilterable": False,
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
