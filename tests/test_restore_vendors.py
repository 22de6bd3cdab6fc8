"""Restores into fresh, empty sandbox targets through the real SDKs, from archives filled by
real syncs of the read connectors: verify at 100%, re-runs that create nothing, a SIGKILL
mid-restore, and injected 429s and 5xx."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.errors import QuotaExhausted
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, hubspot_path, salesforce

ROOT = Path(__file__).resolve().parent.parent
FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def _sync(archive: Archive, src: Sandbox, vendor: str, tmp: Path) -> Any:
    table = src.source_configs(tmp / "s1")[vendor]
    report = run_sync(archive, {vendor: build_connector(vendor, table, tmp / "config.toml")})
    assert report.status == "ok"
    return report


def _target(dst: Sandbox, vendor: str, tmp: Path, **extra: Any) -> dict[str, Any]:
    return {**dst.source_configs(tmp / "s2")[vendor], "retry": FAST_RETRY, **extra}


def _hubspot_all(dst: Sandbox, obj: str, props: list[str]) -> list[dict[str, Any]]:
    import json

    client, after, out = hubspot_client(dst), None, []
    while True:
        kw: dict[str, Any] = {"limit": 100, "properties": props,
                              "associations": ["contacts", "companies"]}
        if after:
            kw["after"] = after
        page = json.loads(client.crm.objects.basic_api.get_page(
            hubspot_path(dst, obj), _preload_content=False, **kw).data)
        out += page["results"]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return out


def _assoc_ids(record: dict[str, Any], to: str) -> set[str]:
    return {str(a["id"]) for a in (record.get("associations") or {}).get(to, {}).get(
        "results", [])}


def test_salesforce_to_hubspot_verifies_relinks_and_reruns_only_changes(
        tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    with archive, Sandbox(clients=20, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        _sync(archive, src, "salesforce", tmp_path)
        writer = build_writer("hs", _target(dst, "hubspot", tmp_path), tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="hs")
        assert report.status == "ok", report.errors[:3]
        assert report.created_fields["care_recipients"]  # missing properties were created
        expected = sum(len([d for _i, d in archive.records("salesforce", r.stream)
                            if all(d.get(k) in v for k, v in r.where.items())])
                       for r in mapping.objects)  # a rule's where picks its records
        assert report.total("created") == expected > 400
        check = verify_restore(archive, writer, mapping, target="hs")
        assert (check.records, check.record_rate, check.field_rate) == (expected, 100.0, 100.0)
        assert check.links > 300

        # associations relinked: each care recipient -> its client's contact, each client
        # contact -> its physician's company
        contacts = {c["id"]: c for c in _hubspot_all(dst, "contacts",
                                                     ["client_number", "relationship"])}
        for care in _hubspot_all(dst, "care_recipients", ["client_number"]):
            linked = _assoc_ids(care, "contacts")
            assert [contacts[i]["properties"]["client_number"] for i in linked] == \
                [care["properties"]["client_number"]]
        physicians = dict(archive.records("salesforce", "Physician__c"))
        companies = {c["id"]: c for c in _hubspot_all(dst, "companies", ["physician_name"])}
        clients = {c["properties"]["client_number"]: c for c in contacts.values()
                   if c["properties"]["relationship"] == "Client"}
        accounts = list(archive.records("salesforce", "Account"))
        assert len(clients) == len(accounts)
        for _id, acc in accounts:
            linked = _assoc_ids(clients[acc["Client_Number__c"]], "companies")
            assert [companies[i]["properties"]["physician_name"] for i in linked] == \
                [physicians[acc["Primary_Physician__c"]]["Name"]]

        # files: each signed document is a note on the client with the file attached
        doc_id, _doc = next(iter(archive.records("salesforce", "ContentVersion")))
        note_id = archive.id_map("hs", "salesforce", "ContentVersion")[0].target_id
        assert archive.id_map("hs", "salesforce", "ContentVersion")[0].source_id == doc_id
        client = hubspot_client(dst)
        note = client.crm.objects.notes.basic_api.get_by_id(
            note_id, properties=["hs_attachment_ids"])
        url = client.files.files_api.get_signed_url(note.properties["hs_attachment_ids"]).url
        sha = archive.files_of("salesforce", "ContentVersion", doc_id)["VersionData"]
        assert requests.get(url, timeout=30).content == b"".join(archive.read_file(sha))

        before = dst.log.count("hubspot")
        again = run_restore(archive, writer, mapping, target="hs")
        assert (again.total("created"), again.total("updated")) == (0, 0)
        assert again.total("unchanged") == expected
        assert dst.log.count("hubspot") - before <= 12  # property reads only: no writes

        src.advance(3)  # edits, new clients and medications in Salesforce
        sync = _sync(archive, src, "salesforce", tmp_path)
        mapped = {r.stream for r in mapping.objects}
        new = sum(s.new for s in sync.sources[0].streams if s.stream in mapped)
        changed = sum(s.changed for s in sync.sources[0].streams if s.stream in mapped)
        third = run_restore(archive, writer, mapping, target="hs")
        assert third.status == "ok", third.errors[:3]
        assert third.total("created") == new > 0
        assert 0 < third.total("updated") <= changed
        assert verify_restore(archive, writer, mapping, target="hs").record_rate == 100.0
    with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as ro:
        audits = [e for e in ro.audit_entries("restore") if e["action"] == "restore"]
        assert [a["detail"]["created"] for a in audits] == [expected, 0, new]


def _salesforce_state(dst: Sandbox) -> dict[str, Counter[tuple[Any, ...]]]:
    """The target org's restored records, ids replaced by the clients' numbers."""
    sf = salesforce(dst)
    q = {"Account": "SELECT Name, Client_Number__c, Phone, Email__c, Birthdate__c, "
                    "BillingStreet, Status__c FROM Account",
         "Emergency_Contact__c": "SELECT Name, Relationship__c, Phone__c, Email__c, "
                                 "Client__r.Client_Number__c FROM Emergency_Contact__c",
         "Care_Plan__c": "SELECT Name, Code_Status__c, Fall_Risk__c, Diet__c, "
                         "Client__r.Client_Number__c FROM Care_Plan__c",
         "Physician__c": "SELECT Name, Practice__c, Phone__c FROM Physician__c",
         "ContentVersion": "SELECT Title, PathOnClient, ContentSize FROM ContentVersion",
         "Care_Task__c": "SELECT Name, Day__c, Time__c, Notes__c, Client__r.Client_Number__c "
                         "FROM Care_Task__c",
         # office to-dos and visit notes ("Note: ..."), on their client's Account
         "Task": "SELECT Subject, Description, Status, Priority, ActivityDate, "
                 "Account.Client_Number__c FROM Task WHERE TaskSubtype = 'Task'"}
    state = {}
    for obj, soql in q.items():
        rows = []
        for r in sf.query_all(soql)["records"]:
            r.pop("attributes", None)
            parent = r.pop("Client__r", None) or r.pop("Account", None)
            rows.append((*sorted(r.items()), (parent or {}).get("Client_Number__c")))
        state[obj] = Counter(rows)
    return state


def test_hubspot_to_salesforce_verifies_and_relinks_lookups(tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("hubspot_to_salesforce")
    with archive, Sandbox(clients=20, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        _sync(archive, src, "hubspot", tmp_path)
        writer = build_writer("sf", _target(dst, "salesforce", tmp_path), tmp_path / "c.toml")
        plan = run_restore(archive, writer, mapping, target="sf", dry_run=True)
        # line items are left out (the deal's Description names its services): unmapped
        assert plan.errors == [] and "line_items" in plan.unmapped_streams
        report = run_restore(archive, writer, mapping, target="sf")
        assert report.status == "ok", report.errors[:3]
        check = verify_restore(archive, writer, mapping, target="sf")
        assert check.record_rate == 100.0 and check.field_rate == 100.0
        assert check.records == report.total("created") == plan.total("created") > 80
        # lookups: every family contact hangs off the Account of its own client number
        families = Counter(
            (c["properties"]["client_number"], f"{c['properties']['firstname']} "
             f"{c['properties']['lastname']}")
            for _i, c in archive.records("hubspot", "contacts")
            if c["properties"]["relationship"] != "Client")
        state = _salesforce_state(dst)
        restored = Counter((row[-1], dict(row[:-1])["Name"])
                           for row in state["Emergency_Contact__c"].elements())
        assert restored == families
        # lookups from the archived associations: a to-do is a Task on its client's Account
        contacts = dict(archive.records("hubspot", "contacts"))
        client_of = {e["fromObjectId"]: contacts[e["toObjectId"]]["properties"]["client_number"]
                     for _i, e in archive.records("hubspot", "associations")
                     if e["fromObjectType"] == "tasks" and e["toObjectType"] == "contacts"
                     and contacts[e["toObjectId"]]["properties"]["relationship"] == "Client"}
        tasks = Counter((client_of[t["id"]], t["properties"]["hs_task_body"])
                        for _i, t in archive.records("hubspot", "tasks"))
        assert Counter((row[-1], dict(row[:-1])["Description"])
                       for row in state["Task"].elements()
                       if not dict(row[:-1])["Subject"].startswith("Note: ")) == tasks
        assert sum(state["Care_Task__c"].values()) == 0  # no to-do is a weekly care task
        file_row = archive.id_map("sf", "hubspot", "files")[0]
        sha = archive.files_of("hubspot", "files", file_row.source_id)["content"]
        body = salesforce(dst).ContentVersion.get_base64(file_row.target_id,
                                                         base64_field="VersionData")
        assert body == b"".join(archive.read_file(sha))
        assert sum(state["ContentVersion"].values()) == len(dict(archive.records("hubspot",
                                                                                 "files")))
        again = run_restore(archive, writer, mapping, target="sf")
        assert (again.total("created"), again.total("updated")) == (0, 0)
        assert _salesforce_state(dst) == state


#: HubSpot's record writes: creates (records new to the id map) and upserts.
WRITES = "batch/(upsert|create)"


def test_injected_429s_and_5xx_complete_without_duplicates(tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    with archive, Sandbox(clients=10, seed=3) as src, Sandbox(clients=0, seed=4) as dst:
        _sync(archive, src, "salesforce", tmp_path)
        _sync(archive, src, "hubspot", tmp_path)
        faults = [
            dst.faults.add("hubspot", "rate_limit", path=WRITES, after=1, times=2),
            dst.faults.add("hubspot", "rate_limit", path=WRITES, after=4, times=1,
                           retry_after=1),
            dst.faults.add("hubspot", "server_error", path="associations", times=2),
            dst.faults.add("hubspot", "server_error", path=WRITES, after=6, times=1,
                           status=502),
            dst.faults.add("salesforce", "rate_limit", path="composite", after=1, times=2),
            dst.faults.add("salesforce", "server_error", path="composite", after=1, times=2,
                           status=500),
        ]
        for vendor, name in (("hubspot", "salesforce_to_hubspot"),
                             ("salesforce", "hubspot_to_salesforce")):
            mapping = load_mapping(name)
            writer = build_writer(vendor, _target(dst, vendor, tmp_path, batch_size=20),
                                  tmp_path / "c.toml")
            report = run_restore(archive, writer, mapping, target=vendor)
            assert report.status == "ok", report.errors[:3]
            assert verify_restore(archive, writer, mapping, target=vendor).record_rate == 100.0
        assert [f.fired for f in faults] == [f.times for f in faults]  # every fault fired
        contacts = _hubspot_all(dst, "contacts", ["source_record_id"])
        keys = Counter(c["properties"]["source_record_id"] for c in contacts)
        assert len(keys) == len(contacts) and max(keys.values()) == 1
        sf_state = _salesforce_state(dst)
        assert sum(sf_state["Account"].values()) == 10
        accounts = [dict(r[:-1])["Client_Number__c"] for r in sf_state["Account"]]
        assert len(set(accounts)) == len(accounts)
        assert sum(sf_state["Care_Plan__c"].values()) == 10


def _config(tmp: Path, targets: dict[str, Any]) -> Path:
    path = tmp / "config.toml"
    path.write_text(tomli_w.dumps({
        "archive": {"path": str(tmp / "a.db"), "key_file": str(tmp / "a.key")},
        "targets": targets}), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_sigkill_mid_restore_then_rerun_equals_an_uninterrupted_restore(
        tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    with Sandbox(clients=20, seed=1) as src, Sandbox(clients=0, seed=2) as killed, \
            Sandbox(clients=0, seed=2) as clean:
        _sync(archive, src, "hubspot", tmp_path)
        archive.close()
        config = _config(tmp_path, {
            "killed": _target(killed, "salesforce", tmp_path / "k", batch_size=10),
            "clean": _target(clean, "salesforce", tmp_path / "c", batch_size=10)})
        # The 4th write call is held 2 s by the server, which then applies it: the restore is
        # killed while it waits, so that batch exists in the org but not in the id map.
        held = killed.faults.add("salesforce", "slow", path="composite/sobjects", after=3,
                                 delay=2.0)  # the setup calls go to /composite
        child = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--config", str(config), "restore", "--to",
             "killed", "--mapping", "hubspot_to_salesforce"], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while held.fired == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held.fired == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        time.sleep(2.5)  # the held batch is applied after the client died
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as ro:
            pending = [e for e in ro.id_map("killed") if e.target_id is None]
            done = [e for e in ro.id_map("killed") if e.target_id is not None]
            assert pending and done  # killed mid-restore, with a batch in flight
            assert ro.runs(limit=1)[0].status == "running"

        runner = CliRunner()
        env = {"EXPORTER_CONFIG": str(config)}
        result = runner.invoke(cli, ["restore", "--to", "killed", "--mapping",
                                     "hubspot_to_salesforce", "--verify"], env=env)
        assert result.exit_code == 0, result.output
        assert "100.0%" in result.output
        result = runner.invoke(cli, ["restore", "--to", "clean", "--mapping",
                                     "hubspot_to_salesforce"], env=env)
        assert result.exit_code == 0, result.output
        assert _salesforce_state(killed) == _salesforce_state(clean)  # no duplicates either
        plan = runner.invoke(cli, ["restore", "--to", "killed", "--mapping",
                                   "hubspot_to_salesforce", "--dry-run"], env=env)
        assert plan.exit_code == 0 and "0 to create, 0 to update" in plan.output
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as ro:
            runs = ro.runs()
            assert [r.status for r in runs if r.kind == "restore"][-1] == "interrupted"
            recovered = sum(o["recovered"] for o in runs[1].stats["objects"])
            assert recovered > 0  # the killed batch was found, not created again


def test_hubspot_secondly_limit_is_respected_and_a_used_up_quota_stops_resumably(
        tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    with archive, Sandbox(clients=3, seed=5) as src, Sandbox(clients=0, seed=6) as dst:
        _sync(archive, src, "salesforce", tmp_path)
        dst.hubspot.secondly_limit = 8
        writer = build_writer("hs", _target(dst, "hubspot", tmp_path), tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="hs")
        assert report.status == "ok" and report.calls > 2 * 8  # more than two seconds' worth
        assert [e for e in dst.log.entries if e.status == 429] == []  # paced, never refused

    archive2, _ = Archive.create(tmp_path / "b.db", key_file=tmp_path / "b.key")
    with archive2, Sandbox(clients=3, seed=5) as src, Sandbox(clients=0, seed=6) as dst:
        _sync(archive2, src, "hubspot", tmp_path)
        table = _target(dst, "salesforce", tmp_path, api_share_limit=0.5)
        # The org allows 12 calls today; we take half (2 of them describe the six objects
        # written and add the source-id field and the two fields the mapping creates, in
        # one Composite and one Tooling Composite call; the rest write before the stop).
        dst.salesforce.daily_limit = 12
        writer = build_writer("sf", table, tmp_path / "c.toml")
        try:
            run_restore(archive2, writer, load_mapping("hubspot_to_salesforce"), target="sf")
        except QuotaExhausted as exc:
            assert "run it again tomorrow" in str(exc)
        else:
            raise AssertionError("the restore should stop at its share of the API limit")
        assert archive2.runs(limit=1)[0].status == "failed"
        done = [e for e in archive2.id_map("sf") if e.target_id]
        dst.salesforce.daily_limit = 15000  # the next day
        report = run_restore(archive2, build_writer("sf", table, tmp_path / "c.toml"),
                             load_mapping("hubspot_to_salesforce"), target="sf")
        assert report.status == "ok" and report.total("unchanged") == len(done) > 0
