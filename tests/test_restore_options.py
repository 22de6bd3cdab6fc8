"""A value outside a target field's options with ``unlisted_values = "add"``: added to the
option list where the target allows it (a Salesforce custom picklist through the Tooling
API's CustomField update, a HubSpot custom enumeration through PATCH properties), read back
through the vendors' SDKs only; where it does not (a HubSpot-defined property), the value
is left out and reported with why. Case 9 of issue 14: "On hold" never becomes Active."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive
from exporter.errors import MappingError
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, salesforce

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def _synced(tmp: Path, src: Sandbox, vendor: str) -> Archive:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = src.source_configs(tmp / "s1")[vendor]
    assert run_sync(archive, {vendor: build_connector(vendor, table, tmp / "c.toml")}
                    ).status == "ok"
    return archive


def _on_hold(archive: Archive, source: str, stream: str, rid: str,
             record: dict[str, Any]) -> None:
    run = archive.begin_run()
    archive.put_batch(run, source, stream, [(rid, record)])
    archive.finish_run(run, "ok")


def test_on_hold_is_added_to_the_salesforce_status_picklist(tmp_path: Path) -> None:
    mapping = load_mapping("hubspot_to_salesforce")  # bundled: unlisted_values = "add"
    assert mapping.unlisted_values == "add"
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src, "hubspot")
        cid, client = next((i, c) for i, c in archive.records("hubspot", "contacts")
                           if c["properties"].get("relationship") == "Client")
        _on_hold(archive, "hubspot", "contacts", cid, {**client, "properties": {
            **client["properties"], "client_status": "On hold"}})
        writer = build_writer("sf", {**dst.source_configs(tmp_path / "s2")["salesforce"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="sf")
        assert report.status == "ok", [e.message for e in report.errors]
        assert report.added_options == {"Account.Status__c": ["On hold"]}
        sf = salesforce(dst)
        number = client["properties"]["client_number"]
        rows = sf.query(f"SELECT Status__c FROM Account WHERE Client_Number__c = '{number}'")
        assert [r["Status__c"] for r in rows["records"]] == ["On hold"]  # never Active
        status = next(f for f in sf.Account.describe()["fields"] if f["name"] == "Status__c")
        assert [v["value"] for v in status["picklistValues"]] == ["Active", "Discharged",
                                                                  "On hold"]
        assert status["restrictedPicklist"] is True
        dst.log.clear()
        again = run_restore(archive, writer, mapping, target="sf")
        assert again.total("created") + again.total("updated") == 0
        assert dst.log.count("salesforce", "tooling_update") == 0  # nothing left to add


def test_a_hubspot_enumeration_takes_the_value_where_the_portal_allows_it(
        tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text('''source = "salesforce"
target = "hubspot"
unlisted_values = "add"
[client]
stream = "Account"
name = "Name"
number = "Client_Number__c"
[[objects]]
stream = "Account"
object = "contacts"
key = "source_record_id"
[objects.fields]
firstname = { from = "Name", split = " ", part = "first" }
lastname = { from = "Name", split = " ", part = "rest" }
care_status = "Status__c"
lifecyclestage = "Status__c"
''', encoding="utf-8")
    mapping = load_mapping(path)
    with Sandbox(clients=3, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src, "salesforce")
        aid, account = next(iter(archive.records("salesforce", "Account")))
        _on_hold(archive, "salesforce", "Account", aid, {**account, "Status__c": "On hold"})
        hs = hubspot_client(dst)
        hs.crm.properties.core_api.create("contacts", {
            "name": "care_status", "label": "Care status", "type": "enumeration",
            "fieldType": "select", "groupName": "contactinformation",
            "options": [{"label": "Active", "value": "Active"},
                        {"label": "Discharged", "value": "Discharged"}]})
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="hs")
        assert report.added_options == {"contacts.care_status": ["On hold"]}
        options = hs.crm.properties.core_api.get_by_name("contacts", "care_status").options
        assert [o.value for o in options] == ["Active", "Discharged", "On hold"]
        found = hs.crm.contacts.basic_api.get_by_id(
            f"salesforce/Account/{aid}", id_property="source_record_id",
            properties=["care_status", "lifecyclestage"])
        assert found.properties["care_status"] == "On hold"
        # HubSpot's own lifecycle stage keeps its options: left out, reported with why
        assert not found.properties.get("lifecyclestage")
        assert report.status == "partial"
        assert all("written without lifecyclestage" in e.message for e in report.errors)
        error = next(e for e in report.errors if e.source_id == aid)
        assert error.client.endswith(f"({account['Client_Number__c']})")
        assert "written without lifecyclestage: 'On hold'" in error.message
        assert "HubSpot does not let the options of its own property" in error.message


def test_unlisted_values_takes_add_text_or_report(tmp_path: Path) -> None:
    bundled = load_mapping("salesforce_to_hubspot").path.read_text(encoding="utf-8")
    path = tmp_path / "mapping.toml"
    path.write_text('unlisted_values = "append"\n' + bundled, encoding="utf-8")
    with pytest.raises(MappingError, match='unlisted_values: use one of "text", "add", '
                                           '"report"'):
        load_mapping(path)
    assert load_mapping("salesforce_to_hubspot").unlisted_values == "text"  # the default
