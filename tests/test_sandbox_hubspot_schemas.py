"""Custom-object schema creation in the HubSpot emulator, through the real SDK
(``client.crm.schemas.core_api.create``), and the new object working through the objects,
batch, search, properties and v4 association endpoints by ``objectTypeId`` and fully
qualified name (``p_<name>``, ``p<portal>_<name>``), as the portal's own ``care_recipients``
does; its plain name is refused in those paths, as HubSpot refuses it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import hubspot
import pytest
from hubspot.crm.associations.v4 import ApiException as AssocError
from hubspot.crm.associations.v4 import models as v4m
from hubspot.crm.associations.v4.schema import ApiException as LabelsError
from hubspot.crm.objects import ApiException as ObjectsError
from hubspot.crm.objects import PublicObjectSearchRequest
from hubspot.crm.objects import models as om
from hubspot.crm.properties import ApiException as PropertiesError
from hubspot.crm.schemas import ApiException as SchemaError
from hubspot.crm.schemas import ObjectSchemaEgg

from sandbox import CREDENTIALS
from sandbox.agency import Agency
from sandbox.faults import FaultPlan
from sandbox.http import EmulatorServer, RequestLog
from sandbox.hubspot import HubSpotEmulator
from sandbox.hubspot.schema import CUSTOM_FQN

TOKEN = CREDENTIALS["hubspot"]["access_token"]
Upsert = om.BatchInputSimplePublicObjectBatchInputUpsert

MEDICATIONS = {
    "name": "medications",
    "labels": {"singular": "Medication", "plural": "Medications"},
    "primaryDisplayProperty": "medication_name",
    "requiredProperties": ["medication_name"],
    "searchableProperties": ["medication_name"],
    "secondaryDisplayProperties": ["dose"],
    "properties": [
        {"name": "medication_name", "label": "Medication", "type": "string",
         "fieldType": "text"},
        {"name": "dose", "label": "Dose", "type": "string", "fieldType": "text"},
        {"name": "active", "label": "Active", "type": "enumeration",
         "fieldType": "booleancheckbox",
         "options": [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]},
        {"name": "source_record_id", "label": "Source record ID", "type": "string",
         "fieldType": "text", "hasUniqueValue": True},
    ],
    "associatedObjects": ["CONTACT"],
}


@pytest.fixture
def served() -> Iterator[tuple[HubSpotEmulator, hubspot.Client]]:
    agency = Agency(clients=3, seed=11, start=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
    emulator = HubSpotEmulator(agency, FaultPlan())
    server = EmulatorServer(emulator, RequestLog()).start()
    try:
        yield emulator, hubspot.Client.create(access_token=TOKEN, host=server.base_url,
                                              client_side_validation=True)
    finally:
        server.stop()


def test_schema_created_then_409_then_listed(
        served: tuple[HubSpotEmulator, hubspot.Client]) -> None:
    emulator, client = served
    made = client.crm.schemas.core_api.create(object_schema_egg=ObjectSchemaEgg(**{
        "name": MEDICATIONS["name"], "labels": MEDICATIONS["labels"],
        "primary_display_property": "medication_name",
        "required_properties": ["medication_name"],
        "searchable_properties": ["medication_name"],
        "properties": MEDICATIONS["properties"], "associated_objects": ["CONTACT"]}))
    assert made.name == "medications"
    assert made.object_type_id.startswith("2-") and made.object_type_id != "2-1234567"
    assert made.fully_qualified_name == f"p{emulator.portal_id}_medications"
    assert made.primary_display_property == "medication_name"
    assert made.required_properties == ["medication_name"]
    assert {"medication_name", "dose", "active", "hs_object_id"} <= \
        {p.name for p in made.properties}
    assert {(a.from_object_type_id, a.to_object_type_id) for a in made.associations} == \
        {(made.object_type_id, "0-1"), ("0-1", made.object_type_id)}
    with pytest.raises(SchemaError) as err:
        client.crm.schemas.core_api.create(object_schema_egg=MEDICATIONS)
    assert err.value.status == 409
    assert json.loads(err.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    listed = {s.name: s for s in client.crm.schemas.core_api.get_all().results}
    assert set(listed) == {"care_recipients", "medications"}
    for key in ("medications", made.object_type_id, made.fully_qualified_name):
        assert client.crm.schemas.core_api.get_by_id(key).object_type_id == made.object_type_id
    with pytest.raises(SchemaError) as err:  # properties it names must be defined
        client.crm.schemas.core_api.create(object_schema_egg={
            **MEDICATIONS, "name": "allergies", "primaryDisplayProperty": "allergen"})
    assert err.value.status == 400


def test_new_object_works_through_every_endpoint(
        served: tuple[HubSpotEmulator, hubspot.Client]) -> None:
    emulator, client = served
    made = client.crm.schemas.core_api.create(object_schema_egg=MEDICATIONS)
    names = ("medications", made.object_type_id, made.fully_qualified_name, "p_medications")
    contact = client.crm.objects.basic_api.get_page("contacts", limit=1).results[0]
    batch = client.crm.objects.batch_api.upsert(names[2], Upsert(inputs=[
        {"idProperty": "source_record_id", "id": f"sf/Medication__c/{i}",
         "properties": {"medication_name": f"Drug {i}", "dose": "5 mg",
                        "active": "true" if i else "false"}} for i in range(3)]))
    assert [r.new for r in batch.results] == [True] * 3
    ids = sorted(r.id for r in batch.results)
    for key in names[1:]:
        got = client.crm.objects.basic_api.get_page(key, limit=10,
                                                    properties=["medication_name", "active"])
        assert sorted(r.id for r in got.results) == ids
    with pytest.raises(hubspot.crm.objects.ApiException) as err:  # options are enforced
        client.crm.objects.basic_api.create(names[1], om.SimplePublicObjectInputForCreate(
            properties={"medication_name": "x", "active": "maybe"}))
    assert "INVALID_OPTION" in json.loads(err.value.body)["message"]
    found = client.crm.objects.search_api.do_search(names[1], PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "active", "operator": "EQ",
                                     "value": "false"}]}], properties=["medication_name"]))
    assert [r.properties["medication_name"] for r in found.results] == ["Drug 0"]
    props = client.crm.properties.core_api.get_all(names[3]).results
    assert next(p for p in props if p.name == "source_record_id").has_unique_value
    v4 = client.crm.associations.v4
    linked = v4.batch_api.create_default(names[2], "contacts",
        v4m.BatchInputPublicDefaultAssociationMultiPost(
        inputs=[{"from": {"id": i}, "to": {"id": contact.id}} for i in ids]))
    forward = {r.association_spec.association_type_id for r in linked.results
               if r._from.id in ids}
    schema_ids = {int(a.id) for a in made.associations
                  if a.from_object_type_id == made.object_type_id}
    assert forward == schema_ids
    back = v4.basic_api.get_page("contacts", contact.id, names[1])
    assert sorted(r.to_object_id for r in back.results) == ids
    read = client.crm.objects.basic_api.get_by_id("contacts", contact.id,
                                                  associations=[names[0]])
    assert sorted(r.id for r in read.associations[names[0]].results) == ids
    labels = v4.schema.definitions_api.get_all(names[1], "contacts").results
    assert [lab.type_id for lab in labels] == sorted(schema_ids)
    state = emulator.dump_state()  # the saved state keeps the new type and its records
    emulator.load_state(json.loads(json.dumps(state)))
    again = client.crm.objects.basic_api.get_page(names[1], limit=10)
    assert sorted(r.id for r in again.results) == ids
    assert {s.name for s in client.crm.schemas.core_api.get_all().results} == \
        {"care_recipients", "medications"}
    care = client.crm.schemas.core_api.get_by_id(CUSTOM_FQN)
    assert care.name == "care_recipients"


def test_plain_name_of_a_custom_object_refused_in_paths(
        served: tuple[HubSpotEmulator, hubspot.Client]) -> None:
    """HubSpot infers no object type from a custom object's plain name: object, batch,
    search, properties and v4 association paths answer 400; its objectTypeId works and the
    standard objects keep their names."""
    _emulator, client = served
    made = client.crm.schemas.core_api.create(object_schema_egg=MEDICATIONS)
    contact = client.crm.objects.basic_api.get_page("contacts", limit=1).results[0]
    objects, v4 = client.crm.objects, client.crm.associations.v4
    search = PublicObjectSearchRequest(limit=1)
    default = v4m.BatchInputPublicDefaultAssociationMultiPost(
        inputs=[{"from": {"id": contact.id}, "to": {"id": contact.id}}])
    for plain in ("care_recipients", "medications", "Medications"):
        calls = [
            lambda p=plain: objects.basic_api.get_page(p, limit=1),
            lambda p=plain: objects.basic_api.get_by_id(p, "1"),
            lambda p=plain: objects.batch_api.read(p, om.BatchReadInputSimplePublicObjectId(
                inputs=[{"id": "1"}], properties=[], properties_with_history=[])),
            lambda p=plain: objects.search_api.do_search(p, search),
            lambda p=plain: client.crm.properties.core_api.get_all(p),
            lambda p=plain: v4.basic_api.get_page("contacts", contact.id, p),
            lambda p=plain: v4.batch_api.create_default("contacts", p, default),
            lambda p=plain: v4.schema.definitions_api.get_all(p, "contacts"),
        ]
        for call in calls:
            with pytest.raises((ObjectsError, PropertiesError, AssocError, LabelsError)) as err:
                call()
            assert err.value.status == 400
            assert json.loads(err.value.body)["message"] == \
                f"Unable to infer object type from: {plain}"
    for key in (made.object_type_id, "2-1234567", "p_care_recipients"):
        assert objects.search_api.do_search(key, search).total >= 0
        assert client.crm.properties.core_api.get_all(key).results
    assert objects.search_api.do_search("contacts", search).total > 0
    assert client.crm.properties.core_api.get_all("0-1").results
