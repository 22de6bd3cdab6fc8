"""Restores that must match what they wrote by identity, never by position or by name: batch
answers in any order (HubSpot's), a killed restore resumed, a rejected record's children.

The checks read the target only through the vendor SDKs (tests.restore_support), and the
source only from the archive: no exporter restore code decides what is right."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, hubspot_path, salesforce
from tests.target_census import hubspot_custom_objects, hubspot_rows

ROOT = Path(__file__).resolve().parent.parent
FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
#: Salesforce stream -> (HubSpot object, the field naming its parent, parent stream).
SF_LINKS = {
    "Account": ("contacts", "Primary_Physician__c", "Physician__c", "companies"),
    "Care_Plan__c": ("care_recipients", "Client__c", "Account", "contacts"),
    "Medication__c": ("medications", "Client__c", "Account", "contacts"),
    "Allergy__c": ("allergies", "Client__c", "Account", "contacts"),
    "Diagnosis__c": ("diagnoses", "Client__c", "Account", "contacts"),
    "Care_Task__c": ("care_tasks", "Client__c", "Account", "contacts"),
}
#: documents as notes on their client (case 8: notes attached to the wrong client), checked
#: where a test restores them
SF_DOCS = {
    "ContentVersion": ("notes", "FirstPublishLocationId", "Account", "contacts"),
    "Attachment": ("notes", "ParentId", "Account", "contacts"),
}

#: the custom objects the Salesforce -> HubSpot restore creates
SF_CUSTOM = ("medications", "allergies", "diagnoses", "care_tasks")


def hubspot_records(sb: Sandbox, obj: str, to: list[str]) -> list[dict[str, Any]]:
    """Every live record of ``obj`` in the portal, with its source id and associations."""
    return hubspot_rows(sb, obj, ["source_record_id"], to)


def check_hubspot(archive: Archive, sb: Sandbox,
                  streams: tuple[str, ...] = tuple(SF_LINKS)) -> dict[str, int]:
    """Duplicates (two records with one source id), wrong links (a record not associated
    with exactly its source parent) and missing records, counted from the portal."""
    objects = {"contacts": ["companies"], "companies": [], "care_recipients": ["contacts"],
               "notes": ["contacts"], "tasks": ["contacts"],
               **{custom: ["contacts"] for custom in SF_CUSTOM}}
    made = hubspot_custom_objects(sb)  # the custom objects a restore creates, once it has
    portal = {obj: hubspot_records(sb, obj, to) for obj, to in objects.items()
              if obj in made or obj not in SF_CUSTOM}
    source_of: dict[str, str] = {}  # HubSpot id -> source id
    counts: Counter[str] = Counter()
    for records in portal.values():
        for r in records:
            sid = (r["properties"] or {}).get("source_record_id") or ""
            source_of[str(r["id"])] = sid
            counts[sid] += 1
    found = {"duplicates": sum(n - 1 for sid, n in counts.items() if sid and n > 1),
             "wrong_links": 0, "missing": 0}
    for stream in streams:
        obj, field, parent_stream, to = {**SF_LINKS, **SF_DOCS}[stream]
        linked = {(r["properties"] or {}).get("source_record_id"): {
            source_of.get(str(a["id"])) for a in ((r.get("associations") or {}).get(to) or {})
            .get("results", [])} for r in portal[obj]}
        for rid, rec in archive.records("salesforce", stream):
            sid = f"salesforce/{stream}/{rid}"
            if sid not in linked:
                found["missing"] += 1
                continue
            expected = {f"salesforce/{parent_stream}/{rec[field]}"} if rec.get(field) else set()
            found["wrong_links"] += linked[sid] != expected
    return found


def _config(tmp: Path, targets: dict[str, Any]) -> Path:
    path = tmp / "config.toml"
    path.write_text(tomli_w.dumps({
        "archive": {"path": str(tmp / "a.db"), "key_file": str(tmp / "a.key")},
        "targets": targets}), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_sandbox_can_answer_a_batch_in_any_order(tmp_path: Path) -> None:
    with Sandbox(clients=0, seed=9) as sb:
        sb.hubspot.shuffle_answers = True
        client = hubspot_client(sb)
        inputs = [{"properties": {"firstname": f"P{n}", "email": f"p{n}@example.org"}}
                  for n in range(30)]
        body = json.loads(client.crm.objects.batch_api.create(
            "contacts", {"inputs": inputs}, _preload_content=False).data)
        names = [r["properties"]["firstname"] for r in body["results"]]
        assert sorted(names) == sorted(f"P{n}" for n in range(30))
        assert names != [f"P{n}" for n in range(30)]  # not in input order


def test_killed_restore_resumed_with_shuffled_answers_links_every_record_right(
        tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    with Sandbox(clients=20, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        table = src.source_configs(tmp_path / "s1")["salesforce"]
        assert run_sync(archive, {"salesforce": build_connector(
            "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        archive.close()
        dst.hubspot.shuffle_answers = True  # as HubSpot may: results in any order
        config = _config(tmp_path, {"hs": {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                           "retry": FAST_RETRY, "batch_size": 10}})
        # The 2nd record write (clients; a create with its links, as records new to the id
        # map are written) is held 2 s by the portal, which then applies it: the restore is
        # killed while it waits, so those records exist in the portal but not in the id map
        # (the resumed run's create is refused for them, and they are upserted by their key).
        held = dst.faults.add("hubspot", "slow", path="batch/(upsert|create)", after=1,
                              delay=2.0)
        child = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--config", str(config), "restore", "--to",
             "hs", "--mapping", "salesforce_to_hubspot"], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while held.fired == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert held.fired == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        time.sleep(2.5)  # the held batch is applied after the client died

        result = CliRunner().invoke(cli, ["restore", "--to", "hs", "--mapping",
                                          "salesforce_to_hubspot"],
                                    env={"EXPORTER_CONFIG": str(config)})
        assert result.exit_code == 0, result.output
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as ro:
            assert check_hubspot(ro, dst, (*SF_LINKS, *SF_DOCS)) == {
                "duplicates": 0, "wrong_links": 0, "missing": 0}
            # the id map agrees with the portal: each source id -> the record carrying it
            carried = {str(r["id"]): r["properties"]["source_record_id"]
                       for obj in ("contacts", "companies", "care_recipients", "notes", "tasks",
                                   "calls", "emails", "meetings", *SF_CUSTOM)
                       for r in hubspot_records(dst, obj, [])}
            wrong = [e for e in ro.id_map("hs")
                     if carried.get(str(e.target_id)) != f"salesforce/{e.stream}/{e.source_id}"]
            assert wrong == []


def _synced(tmp: Path, src: Sandbox) -> Archive:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = src.source_configs(tmp / "s1")["salesforce"]
    assert run_sync(archive, {"salesforce": build_connector(
        "salesforce", table, tmp / "c.toml")}).status == "ok"
    return archive


def test_a_client_refused_for_a_shared_email_is_written_without_it_with_her_children(
        tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        (aid, first), (bid, second) = list(archive.records("salesforce", "Account"))[:2]
        run = archive.begin_run()  # two clients sharing an email: HubSpot refuses the second
        archive.put_batch(run, "salesforce", "Account", [
            (aid, {**first, "Email__c": "family@example.org"}),
            (bid, {**second, "Email__c": "family@example.org"})])
        archive.finish_run(run, "ok")
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        errors = tmp_path / "errors.csv"
        report = run_restore(archive, writer, load_mapping("salesforce_to_hubspot"),
                             target="hs", errors_path=errors)
        assert report.status == "partial" and report.total("failed") == 0
        assert report.total("partial") == 1
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0,
                                               "missing": 0}
        rows = list(csv.DictReader(errors.open(encoding="utf-8-sig")))
        assert [(r["source_stream"], r["source_id"]) for r in rows] == [("Account", bid)]
        assert "written without email" in rows[0]["message"]
        assert "already exists" in rows[0]["message"]  # HubSpot's own words
        assert rows[0]["client"] == f"{second['Name']} ({second['Client_Number__c']})"


def test_only_restores_the_parents_its_records_link_to(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        report = run_restore(archive, writer, load_mapping("salesforce_to_hubspot"),
                             target="hs", only=["Account", "Medication__c"])
        assert report.status == "ok", report.errors[:3]
        assert report.parents_added == ["Physician__c -> companies"]
        assert check_hubspot(archive, dst, ("Account", "Medication__c")) == {
            "duplicates": 0, "wrong_links": 0, "missing": 0}
        care_plans = hubspot_records(dst, "care_recipients", [])
        assert care_plans == []  # not asked for, and no record asked for links to one


def test_a_value_outside_the_options_goes_to_a_text_field_and_keeps_the_care_plan(
        tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        pid, plan = next(iter(archive.records("salesforce", "Care_Plan__c")))
        run = archive.begin_run()
        archive.put_batch(run, "salesforce", "Care_Plan__c", [
            (pid, {**plan, "Code_Status__c": "DNR (verbal order)"})])
        archive.finish_run(run, "ok")
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        report = run_restore(archive, writer, load_mapping("salesforce_to_hubspot"),
                             target="hs")
        assert report.status == "ok", report.errors[:3]
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0,
                                               "missing": 0}
        found = json.loads(hubspot_client(dst).crm.objects.batch_api.read(
            hubspot_path(dst, "care_recipients"), {"idProperty": "source_record_id",
                                "inputs": [{"id": f"salesforce/Care_Plan__c/{pid}"}],
                                "properties": ["code_status", "code_status_other",
                                               "access_notes", "safety_notes"]},
            _preload_content=False).data)["results"][0]["properties"]
        assert found["code_status_other"] == "DNR (verbal order)"
        assert not found.get("code_status")
        assert (found["access_notes"], found["safety_notes"]) == (
            plan["Access_Notes__c"], plan["Safety_Notes__c"])


def test_a_diet_too_long_for_salesforce_is_left_out_and_the_care_plan_written(
        tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        table = src.source_configs(tmp_path / "s1")["hubspot"]
        assert run_sync(archive, {"hubspot": build_connector(
            "hubspot", table, tmp_path / "c.toml")}).status == "ok"
        cid, care = next(iter(archive.records("hubspot", "care_recipients")))
        long_diet = "Soft, low-salt diet; " * 20  # over Salesforce's 255 characters
        run = archive.begin_run()
        archive.put_batch(run, "hubspot", "care_recipients", [
            (cid, {**care, "properties": {**care["properties"], "diet": long_diet}})])
        archive.finish_run(run, "ok")
        writer = build_writer("sf", {**dst.source_configs(tmp_path / "s2")["salesforce"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        errors = tmp_path / "errors.csv"
        report = run_restore(archive, writer, load_mapping("hubspot_to_salesforce"),
                             target="sf", errors_path=errors)
        assert report.status == "partial" and report.total("failed") == 0
        plans = salesforce(dst).query_all(
            "SELECT Id, Name, Diet__c, Client__r.Client_Number__c FROM Care_Plan__c")["records"]
        number = care["properties"]["client_number"]
        mine = [p for p in plans if p["Client__r"]["Client_Number__c"] == number]
        assert len(mine) == 1 and mine[0]["Diet__c"] is None
        assert len(plans) == sum(1 for _ in archive.records("hubspot", "care_recipients"))
        rows = list(csv.DictReader(errors.open(encoding="utf-8-sig")))
        assert [(r["source_stream"], r["source_id"]) for r in rows] == [
            ("care_recipients", cid)]
        assert "written without Diet__c" in rows[0]["message"]
        assert "STRING_TOO_LONG" in rows[0]["message"]
        assert rows[0]["client"].endswith(f"({number})")


def test_the_same_name_pointed_at_a_new_empty_portal_restores_everything_again(
        tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as old, \
            Sandbox(clients=0, seed=3) as new:
        archive = _synced(tmp_path, src)

        def restore(sb: Sandbox) -> Any:
            writer = build_writer("hs", {**sb.source_configs(tmp_path / "s2")["hubspot"],
                                         "retry": FAST_RETRY}, tmp_path / "c.toml")
            return run_restore(archive, writer, mapping, target="hs")

        first = restore(old)
        total = first.total("created")
        assert first.status == "ok" and total > 50
        moved = restore(new)  # the same target name, now a new, empty portal
        assert (moved.total("created"), moved.total("unchanged")) == (total, 0)
        assert check_hubspot(archive, new) == {"duplicates": 0, "wrong_links": 0,
                                               "missing": 0}
        back = restore(old)  # and back: that portal's own map is still there
        assert (back.total("created"), back.total("unchanged")) == (0, total)
        assert archive.id_map_identities("hs") == [
            f"hubspot:portal/{old.hubspot.portal_id}", f"hubspot:portal/{new.hubspot.portal_id}"]


def test_an_id_map_from_before_identities_is_adopted_only_by_the_portal_holding_it(
        tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=3, seed=1) as src, Sandbox(clients=0, seed=2) as old, \
            Sandbox(clients=0, seed=3) as new:
        archive = _synced(tmp_path, src)

        def restore(sb: Sandbox) -> Any:
            writer = build_writer("hs", {**sb.source_configs(tmp_path / "s2")["hubspot"],
                                         "retry": FAST_RETRY}, tmp_path / "c.toml")
            return run_restore(archive, writer, mapping, target="hs")

        total = restore(old).total("created")
        with archive.transaction():  # as a format-2 archive's rows come out of the migration
            archive.conn.execute("UPDATE id_map SET target_identity = ''")
        assert restore(new).total("created") == total  # the new portal holds none of them
        assert archive.id_map_identities("hs") == ["", f"hubspot:portal/{new.hubspot.portal_id}"]
        with archive.transaction():
            archive.conn.execute("DELETE FROM id_map WHERE target_identity != ''")
        again = restore(old)  # the portal that holds them adopts them
        assert (again.total("created"), again.total("unchanged")) == (0, total)
        assert archive.id_map_identities("hs") == [f"hubspot:portal/{old.hubspot.portal_id}"]


def test_a_changed_physician_replaces_the_old_association(tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=6, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        assert run_restore(archive, writer, mapping, target="hs").status == "ok"
        physicians = [pid for pid, _d in archive.records("salesforce", "Physician__c")]
        aid, client = next(iter(archive.records("salesforce", "Account")))
        other = next(p for p in physicians if p != client["Primary_Physician__c"])
        run = archive.begin_run()  # the client's physician changed
        archive.put_batch(run, "salesforce", "Account", [
            (aid, {**client, "Primary_Physician__c": other})])
        archive.finish_run(run, "ok")
        again = run_restore(archive, writer, mapping, target="hs")
        assert (again.status, again.total("updated")) == ("ok", 1)
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0,
                                               "missing": 0}  # the new physician only


def test_verify_reports_an_association_the_source_does_not_have(tmp_path: Path) -> None:
    from exporter.restore import verify_restore

    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        assert run_restore(archive, writer, mapping, target="hs").status == "ok"
        assert verify_restore(archive, writer, mapping, target="hs").stale_links == 0
        contacts = {r["properties"]["source_record_id"]: r
                    for r in hubspot_records(dst, "contacts", ["companies"])}
        aid, _client = next(iter(archive.records("salesforce", "Account")))
        mine = contacts[f"salesforce/Account/{aid}"]
        linked = {a["id"] for a in mine["associations"]["companies"]["results"]}
        other = next(r["id"] for r in hubspot_records(dst, "companies", [])
                     if r["id"] not in linked)
        hubspot_client(dst).crm.associations.v4.basic_api.create_default(
            "contacts", mine["id"], "companies", other)
        check = verify_restore(archive, writer, mapping, target="hs")
        assert check.stale_links == 1 and check.record_rate < 100.0
        assert "1 stale references" in check.summary()


def test_deletions_reach_the_target_as_its_inactive_or_archived_state(tmp_path: Path) -> None:
    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive = _synced(tmp_path, src)
        writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        assert run_restore(archive, writer, mapping, target="hs").status == "ok"
        med, _m = next(iter(archive.records("salesforce", "Medication__c")))
        allergy, _a = next(iter(archive.records("salesforce", "Allergy__c")))
        run = archive.begin_run()  # a medication stopped, an allergy struck off
        archive.tombstone(run, "salesforce", "Medication__c", [med])
        archive.tombstone(run, "salesforce", "Allergy__c", [allergy])
        archive.finish_run(run, "ok")
        kept = run_restore(archive, writer, mapping, target="hs", deletions="keep")
        assert kept.total("deleted") == 0
        plan = run_restore(archive, writer, mapping, target="hs", dry_run=True)
        assert plan.total("deleted") == 2
        report = run_restore(archive, writer, mapping, target="hs")
        assert (report.status, report.total("deleted")) == ("ok", 2)
        allergies = {r["properties"]["source_record_id"]
                     for r in hubspot_records(dst, "allergies", [])}
        assert f"salesforce/Allergy__c/{allergy}" not in allergies  # archived in HubSpot
        meds = {r["properties"]["source_record_id"]: r["id"]
                for r in hubspot_records(dst, "medications", [])}
        found = json.loads(hubspot_client(dst).crm.objects.batch_api.read(
            hubspot_path(dst, "medications"),
            {"inputs": [{"id": meds[f"salesforce/Medication__c/{med}"]}],
             "properties": ["medication_active"]}, _preload_content=False).data)
        assert found["results"][0]["properties"]["medication_active"] == "false"
        assert check_hubspot(archive, dst) == {"duplicates": 0, "wrong_links": 0,
                                               "missing": 0}
        again = run_restore(archive, writer, mapping, target="hs")
        assert (again.total("deleted"), again.total("created"), again.total("updated")) == (
            0, 0, 0)


def test_a_family_contact_moved_to_another_client_and_on_hold_never_made_active(
        tmp_path: Path) -> None:
    mapping = load_mapping("hubspot_to_salesforce")
    with Sandbox(clients=4, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        table = src.source_configs(tmp_path / "s1")["hubspot"]
        assert run_sync(archive, {"hubspot": build_connector(
            "hubspot", table, tmp_path / "c.toml")}).status == "ok"
        writer = build_writer("sf", {**dst.source_configs(tmp_path / "s2")["salesforce"],
                                     "retry": FAST_RETRY}, tmp_path / "c.toml")
        assert run_restore(archive, writer, mapping, target="sf").status == "ok"
        contacts = dict(archive.records("hubspot", "contacts"))
        clients = [(cid, c) for cid, c in contacts.items()
                   if c["properties"].get("relationship") == "Client"]
        fid, family = next((cid, c) for cid, c in contacts.items()
                           if c["properties"].get("relationship") == "Daughter")
        old = family["properties"]["client_number"]
        new = next(c["properties"]["client_number"] for _i, c in clients
                   if c["properties"]["client_number"] != old)
        held_id, held = clients[0]
        run = archive.begin_run()  # she now looks after another client; a client is on hold
        archive.put_batch(run, "hubspot", "contacts", [
            (fid, {**family, "properties": {**family["properties"], "client_number": new}}),
            (held_id, {**held, "properties": {**held["properties"],
                                              "client_status": "On hold"}})])
        archive.finish_run(run, "ok")
        report = run_restore(archive, writer, mapping, target="sf")
        # The org's restricted status picklist has no "On hold": the bundled mapping adds it
        # (unlisted_values = "add"), so the client is on hold in the org, never Active.
        number = held["properties"]["client_number"]
        assert report.errors == [] and report.added_options == {
            "Account.Status__c": ["On hold"]}
        sf = salesforce(dst)
        status = sf.query(f"SELECT Status__c FROM Account WHERE Client_Number__c = '{number}'")
        assert [r["Status__c"] for r in status["records"]] == ["On hold"]
        name = f"{family['properties']['firstname']} {family['properties']['lastname']}"
        found = sf.query_all("SELECT Id, Client__r.Client_Number__c FROM Emergency_Contact__c "
                             f"WHERE Name = '{name}'")["records"]
        assert [r["Client__r"]["Client_Number__c"] for r in found] == [new]


def test_a_rerun_from_an_archive_copy_older_than_the_restore_duplicates_nothing(
        tmp_path: Path) -> None:
    import shutil

    from exporter.restore import verify_restore

    mapping = load_mapping("hubspot_to_salesforce")
    with Sandbox(clients=6, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        table = src.source_configs(tmp_path / "s1")["hubspot"]
        assert run_sync(archive, {"hubspot": build_connector(
            "hubspot", table, tmp_path / "c.toml")}).status == "ok"
        archive.close()
        shutil.copy(tmp_path / "a.db", tmp_path / "copy.db")  # fetched back after losing the PC
        shutil.copy(tmp_path / "a.db.keys", tmp_path / "copy.db.keys")
        config = {**dst.source_configs(tmp_path / "s2")["salesforce"], "retry": FAST_RETRY}
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as first:
            writer = build_writer("sf", config, tmp_path / "c.toml")
            assert run_restore(first, writer, mapping, target="sf").status == "ok"
            assert not any(verify_restore(first, writer, mapping, target="sf").extras.values())
        counts = {o: salesforce(dst).query(f"SELECT COUNT() FROM {o}")["totalSize"]
                  for o in ("Account", "Physician__c", "Emergency_Contact__c", "Care_Plan__c",
                            "Care_Task__c", "ContentVersion")}
        with Archive.open(tmp_path / "copy.db", KeyFile(tmp_path / "a.key"),
                          write=True) as copy:
            writer = build_writer("sf", config, tmp_path / "c.toml")
            again = run_restore(copy, writer, mapping, target="sf")
            assert again.status == "ok" and again.total("created") == 0
            assert {o: salesforce(dst).query(f"SELECT COUNT() FROM {o}")["totalSize"]
                    for o in counts} == counts  # no duplicates
            check = verify_restore(copy, writer, mapping, target="sf")
            assert check.record_rate == 100.0 and not any(check.extras.values())
            salesforce(dst).Physician__c.create({"Name": "Dr Extra", "Practice__c": "X"})
            check = verify_restore(copy, writer, mapping, target="sf")  # read on its own
            assert check.extras["Physician__c"] == 1
            assert "1 more Physician__c in the target than restored" in check.summary()
