"""API calls a restore spends on its setup and its batches: the Salesforce Composite and
Tooling Composite resources as the sandbox emulates them (one call against the org's daily
limit for up to 25 subrequests, at most 5 of them collections or queries), and a restore
into an empty org that describes, counts and adds its fields in two calls in all.
Figures at 100 and 1,000 clients: bench/restore.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce
from tests.test_restore_identity import check_hubspot

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def _base(sf: Any) -> str:
    return f"/services/data/v{sf.sf_version}"


def test_composite_answers_each_subrequest_and_counts_as_one_call() -> None:
    with Sandbox(clients=2, seed=3, vendors=("salesforce",)) as sb:
        sf = salesforce(sb)
        base = _base(sf)
        before = sb.salesforce.api_usage
        subs = [{"method": "GET", "url": f"{base}/sobjects/Account/describe",
                 "referenceId": "d0"},
                {"method": "GET", "url": f"{base}/sobjects/Nope__c/describe",
                 "referenceId": "d1"},
                {"method": "GET", "url": f"{base}/sobjects/Account/describe",
                 "referenceId": "d2",
                 "httpHeaders": {"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}},
                {"method": "GET", "url": f"{base}/query/?q=SELECT+COUNT()+FROM+Account",
                 "referenceId": "c0"},
                {"method": "POST", "url": f"{base}/composite/sobjects", "referenceId": "w0",
                 "body": {"allOrNone": False, "records": [
                     {"attributes": {"type": "Physician__c"}, "Name": "Dr. Composite"}]}}]
        answer = sf.restful("composite", method="POST",
                            json={"allOrNone": False, "compositeRequest": subs})
        assert sb.salesforce.api_usage == before + 1  # one call for five subrequests
        got = {a["referenceId"]: a for a in answer["compositeResponse"]}
        assert got["d0"]["httpStatusCode"] == 200 and got["d0"]["body"]["name"] == "Account"
        assert got["d1"]["httpStatusCode"] == 404  # its own error; the others still ran
        assert got["d2"]["httpStatusCode"] == 304 and got["d2"]["body"] is None
        assert got["c0"]["body"]["totalSize"] == 2
        assert got["w0"]["body"][0]["success"] is True
        made = sf.query("SELECT Id FROM Physician__c WHERE Name = 'Dr. Composite'")
        assert made["totalSize"] == 1

        heavy = [{"method": "GET", "url": f"{base}/query/?q=SELECT+Id+FROM+Account",
                  "referenceId": f"q{i}"} for i in range(6)]
        with pytest.raises(SalesforceMalformedRequest):  # at most 5 queries or collections
            sf.restful("composite", method="POST",
                       json={"allOrNone": False, "compositeRequest": heavy})
        many = [{"method": "GET", "url": f"{base}/sobjects/Account/describe",
                 "referenceId": f"d{i}"} for i in range(26)]
        with pytest.raises(SalesforceMalformedRequest):  # at most 25 subrequests
            sf.restful("composite", method="POST",
                       json={"allOrNone": False, "compositeRequest": many})


def test_tooling_composite_adds_several_fields_in_one_call() -> None:
    with Sandbox(clients=1, seed=3, vendors=("salesforce",)) as sb:
        sf = salesforce(sb)
        url = f"{_base(sf)}/tooling/sobjects/CustomField"
        before = sb.salesforce.api_usage
        subs = [{"method": "POST", "url": url, "referenceId": "a", "body": {
                    "FullName": "Account.Extra_One__c",
                    "Metadata": {"label": "Extra one", "type": "Text", "length": 80}}},
                {"method": "POST", "url": url, "referenceId": "b", "body": {
                    "FullName": "Care_Plan__c.Extra_Notes__c",
                    "Metadata": {"label": "Extra notes", "type": "LongTextArea",
                                 "length": 32768, "visibleLines": 5}}},
                {"method": "POST", "url": url, "referenceId": "c", "body": {
                    "FullName": "Account.Extra_One__c",
                    "Metadata": {"label": "Extra one", "type": "Text", "length": 80}}}]
        answer = sf.restful("tooling/composite", method="POST",
                            json={"allOrNone": False, "compositeRequest": subs})
        assert sb.salesforce.api_usage == before + 1
        got = {a["referenceId"]: a for a in answer["compositeResponse"]}
        assert got["a"]["httpStatusCode"] == 201 and got["b"]["httpStatusCode"] == 201
        assert got["c"]["httpStatusCode"] == 400
        assert got["c"]["body"][0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
        account = {f["name"]: f for f in sf.Account.describe()["fields"]}
        plan = {f["name"]: f for f in sf.Care_Plan__c.describe()["fields"]}
        assert account["Extra_One__c"]["length"] == 80
        assert plan["Extra_Notes__c"]["type"] == "textarea"


def test_restore_into_an_empty_org_sets_up_in_two_calls(tmp_path: Path) -> None:
    """Five objects described and counted in one Composite call, seven fields (the source
    id on each, and the two the mapping adds) in one Tooling Composite call, none described
    again; more than 200 records of an object in one Composite call."""
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("hubspot_to_salesforce")
    with archive, Sandbox(clients=100, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        table = src.source_configs(tmp_path / "s1")["hubspot"]
        run_sync(archive, {"hubspot": build_connector("hubspot", table, tmp_path / "c.toml")})
        # The portal's own objects (no medications custom object in this portal).
        held = {stream for _, stream in archive.streams()}
        # the four objects of the org's model, and the office to-dos (Task, over 200)
        only = [r.stream for r in mapping.objects if not r.file and r.stream in held
                and (r.object not in ("Task", "Event") or r.stream == "tasks")
                and r.object not in ("Opportunity", "Case")]
        config = {**dst.source_configs(tmp_path / "s2")["salesforce"], "retry": FAST_RETRY}
        writer = build_writer("sf", config, tmp_path / "c.toml")
        used = dst.salesforce.api_usage
        report = run_restore(archive, writer, mapping, target="sf", only=only)
        assert report.status == "ok", report.errors[:3]
        calls = dst.salesforce.api_usage - used
        log = dst.log
        assert log.count("salesforce", "describe") == 0  # all in the Composite call
        assert log.count("salesforce", "tooling_create") == 0
        assert log.count("salesforce", "tooling_composite") == 1
        assert log.count("salesforce", "query") == 0  # the counts rode with the describes
        assert sorted(report.created_fields) == ["Account", "Care_Plan__c",
                                                 "Emergency_Contact__c", "Physician__c", "Task"]
        records = report.total("created") + report.total("updated")
        tasks = next(o for o in report.objects if o.object == "Task")
        assert tasks.created > 200  # two collections ...
        # ... in one call: one per object written, and the two setup calls
        assert calls == len(report.objects) + 2, (calls, records)
        check = verify_restore(archive, writer, mapping, target="sf", only=only)
        assert check.records == check.records_matching == records, check.summary()
        assert check.field_rate == 100.0 and not any(check.extras.values()), check.summary()


def test_restore_into_a_portal_adds_each_objects_properties_in_one_call(
        tmp_path: Path) -> None:
    """A portal without ``source_record_id`` (as every real one before a restore): each
    object's missing properties, the mapping's and the source id, in one batch/create, and
    the properties are not read again after it (nor those of a custom object it creates)."""
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    only = [r.stream for r in mapping.objects if not r.file]
    with archive, Sandbox(clients=3, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        dst.hubspot.without_property("source_record_id")
        table = src.source_configs(tmp_path / "s1")["salesforce"]
        run_sync(archive, {"salesforce": build_connector("salesforce", table,
                                                         tmp_path / "c.toml")})
        config = {**dst.source_configs(tmp_path / "s2")["hubspot"], "retry": FAST_RETRY}
        writer = build_writer("hs", config, tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="hs", only=only)
        assert report.status == "ok", report.errors[:3]
        objects = {o.object for o in report.objects if o.created}
        # An object with nothing to write (no e-mail Task in this org) is left alone: no
        # property read or created, no custom object made.
        idle = {r.object for r in mapping.objects if r.stream in only} - objects
        assert idle and not idle & {*report.created_fields, *report.created_objects}
        assert not [e for e in dst.log.entries if e.vendor == "hubspot" and any(
            e.path.endswith(f"/properties/{o}") or f"/properties/{o}/" in e.path
            for o in idle)]
        # Custom objects the restore creates get the source id inside their schema.
        standard = objects - set(report.created_objects)
        assert report.created_objects and standard
        assert all("source_record_id" in report.created_fields[o] for o in standard)
        assert dst.log.count("hubspot", "properties.batch_create") == len(standard)
        # Read once each; a custom object just created is known from its schema, not read.
        assert dst.log.count("hubspot", "properties") == len(standard)
        check = verify_restore(archive, writer, mapping, target="hs", only=only)
        assert check.records == check.records_matching > 0, check.summary()


def _writes(dst: Sandbox, op: str) -> int:
    return sum(1 for e in dst.log.entries if e.vendor == "hubspot"
               and "/crm/v3/objects/" in e.path and e.path.endswith(f"/batch/{op}"))


def test_new_records_are_created_with_their_associations_in_the_same_call(
        tmp_path: Path) -> None:
    """Records new to the id map are created (batch/create) with their associations inline:
    no v4 association call. A run under another target name into the same portal (its id
    map empty, as a re-run from an older archive copy) has its creates refused, the records
    existing: it upserts them by their source id, with no duplicate and no wrong link."""
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    only = [r.stream for r in mapping.objects if not r.file]
    with archive, Sandbox(clients=3, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        dst.hubspot.without_property("source_record_id")
        table = src.source_configs(tmp_path / "s1")["salesforce"]
        run_sync(archive, {"salesforce": build_connector("salesforce", table,
                                                         tmp_path / "c.toml")})
        config = {**dst.source_configs(tmp_path / "s2")["hubspot"], "retry": FAST_RETRY}
        dst.log.clear()
        report = run_restore(archive, build_writer("hs", config, tmp_path / "c.toml"),
                             mapping, target="hs", only=only)
        assert report.status == "ok", report.errors[:3]
        assert report.total("created") > 0 and _writes(dst, "upsert") == 0
        assert _writes(dst, "create") > 0
        assert dst.log.count("hubspot", "associations.batch_default") == 0
        assert dst.log.count("hubspot", "associations.batch_create") == 0
        # The "Emergency contact" label, in a portal the restore has just set up: made at
        # once (its answer holds the type id), not looked for first.
        assert dst.log.count("hubspot", "associations.labels_create") == 1
        assert dst.log.count("hubspot", "associations.labels") == 0
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0, "missing": 0}

        dst.log.clear()
        again = run_restore(archive, build_writer("hs2", config, tmp_path / "c.toml"),
                            mapping, target="hs2", only=only)
        assert again.status == "ok", again.errors[:3]
        assert again.total("created") == 0 and again.total("updated") > 0
        assert _writes(dst, "create") > 0 and _writes(dst, "upsert") > 0  # refused, upserted
        # ... and in one set up before, the label is read (it exists), not made again.
        assert dst.log.count("hubspot", "associations.labels") == 1
        assert dst.log.count("hubspot", "associations.labels_create") == 0
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0, "missing": 0}
        writer = build_writer("hs2", config, tmp_path / "c.toml")
        check = verify_restore(archive, writer, mapping, target="hs2", only=only)
        assert check.records == check.records_matching > 0, check.summary()
