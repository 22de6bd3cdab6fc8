"""The most common bad day in Salesforce, a client's Account deleted: Salesforce deletes her
calls, e-mails, to-dos (Tasks) and appointments (Events) with it. `exporter restore
--mapping salesforce_to_salesforce` brought the Account back with its care plan and
medications, but none of its activities (the mapping had no Task or Event), and --verify
said 100%.

Through the CLI with a real config file; the org is read only through simple-salesforce."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce
from tests.target_census import KEY_SF, duplicates, salesforce_rows

FAST_RETRY = {"attempts": 2, "base_delay": 0.01, "max_delay": 0.05}


def _activities(sb: Sandbox) -> Counter[tuple[Any, ...]]:
    """Each Task and Event by its client's number and what it says and when."""
    numbers = {r["Id"]: r["Client_Number__c"]
               for r in salesforce_rows(sb, "Account", ["Client_Number__c"])}
    out: Counter[tuple[Any, ...]] = Counter()
    for r in salesforce_rows(sb, "Task", ["WhatId", "Subject", "TaskSubtype", "Status",
                                          "ActivityDate", "Description"]):
        out[("Task", numbers.get(r["WhatId"]), r["Subject"], r["TaskSubtype"], r["Status"],
             r["ActivityDate"], r["Description"])] += 1
    for r in salesforce_rows(sb, "Event", ["WhatId", "Subject", "StartDateTime",
                                           "EndDateTime", "Location"]):
        out[("Event", numbers.get(r["WhatId"]), r["Subject"], r["StartDateTime"],
             r["EndDateTime"], r["Location"])] += 1
    return out


def _restore(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["restore", "--to", "org", "--mapping",
                                    "salesforce_to_salesforce", *args],
                              env={"EXPORTER_CONFIG": str(config)})


def test_a_deleted_clients_calls_and_appointments_come_back_with_her(tmp_path: Path) -> None:
    with Sandbox(clients=12, seed=5, vendors=["salesforce"]) as sb:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        archive.close()
        table = sb.source_configs(tmp_path / "s1")["salesforce"]
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as a:
            assert run_sync(a, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"org": {**table, "retry": FAST_RETRY}}}), encoding="utf-8")
        config.chmod(0o600)

        before = _activities(sb)
        sf = salesforce(sb)
        clients = {k[1] for k in before}
        assert None not in clients and len(clients) >= 2
        gone = sf.query_all("SELECT Id, Client_Number__c FROM Account")["records"]
        gone = [a for a in gone if a["Client_Number__c"] in clients][:2]
        for account in gone:  # a mass delete: her activities go with her
            sf.Account.delete(account["Id"])
        assert _activities(sb) != before

        run = _restore(config, "--verify")
        assert run.exit_code == 0, run.output
        assert "(100.0%)" in run.output
        assert _activities(sb) == before  # each one back, on her Account created again
        for obj in ("Task", "Event"):
            rows = salesforce_rows(sb, obj, [KEY_SF])
            assert duplicates(r[KEY_SF] for r in rows) == 0

        again = _restore(config)
        assert again.exit_code == 0, again.output
        assert "finished: 0 created, 0 updated" in again.output


def test_an_activity_copied_to_another_org_keeps_all_but_the_person_it_named(
        tmp_path: Path) -> None:
    """Into another org, an activity's WhoId (a Contact of the old org, copied as it is)
    names nothing: Salesforce refuses it, and the whole call log entry was dropped. It is
    written without it, on its client's Account, and the error report says so."""
    with Sandbox(clients=2, seed=7, vendors=["salesforce"]) as sb, \
            Sandbox(clients=0, seed=8, vendors=["salesforce"]) as other:
        sf = salesforce(sb)
        account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
        daughter = sf.Contact.create({"LastName": "Okafor", "FirstName": "Ada"})["id"]
        sf.Task.create({"Subject": "Call with daughter", "WhatId": account,
                        "WhoId": daughter, "TaskSubtype": "Call", "Status": "Completed"})
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        archive.close()
        table = sb.source_configs(tmp_path / "s1")["salesforce"]
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as a:
            assert run_sync(a, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"org": {**other.source_configs(tmp_path / "s2")["salesforce"],
                                "retry": FAST_RETRY}}}), encoding="utf-8")
        config.chmod(0o600)

        run = _restore(config, "--errors", str(tmp_path / "errors.csv"))
        assert run.exit_code == 11, run.output  # partial: one field left out, reported
        assert next(ln for ln in run.output.splitlines()
                    if ln.startswith("Task -> Task:")).endswith(" 0 failed, 1 partial")
        numbers = {r["Id"]: r["Client_Number__c"]
                   for r in salesforce_rows(other, "Account", ["Client_Number__c"])}
        got = [r for r in salesforce_rows(other, "Task", ["Subject", "WhoId", "WhatId"])
               if r["Subject"] == "Call with daughter"]
        assert len(got) == 1 and got[0]["WhoId"] is None
        assert numbers[got[0]["WhatId"]] == sf.Account.get(account)["Client_Number__c"]
        report = (tmp_path / "errors.csv").read_text(encoding="utf-8-sig")
        assert "written without WhoId" in report


def test_a_same_vendor_restore_keeps_the_source_id_a_migration_gave(tmp_path: Path) -> None:
    """An org filled by a HubSpot -> Salesforce restore carries 'hubspot/...' source ids.
    A same-vendor restore after a mass delete (from an archive with no id map for the org
    yet) overwrote every one with its own, so the migration's re-runs and its verify no
    longer found those records. Now they keep the id they carry."""
    with Sandbox(clients=3, seed=9, vendors=["salesforce"]) as sb:
        table = sb.source_configs(tmp_path / "s1")["salesforce"]

        def office(name: str) -> Path:
            archive, _ = Archive.create(tmp_path / f"{name}.db",
                                        key_file=tmp_path / f"{name}.key")
            with archive:
                assert run_sync(archive, {"salesforce": build_connector(
                    "salesforce", table, tmp_path / "c.toml")}).status == "ok"
            config = tmp_path / f"{name}.toml"
            config.write_text(tomli_w.dumps({
                "archive": {"path": str(tmp_path / f"{name}.db"),
                            "key_file": str(tmp_path / f"{name}.key")},
                "targets": {"org": {**table, "retry": FAST_RETRY}}}), encoding="utf-8")
            config.chmod(0o600)
            return config

        first = _restore(office("first"), "--only", "Account")  # makes the source-id field
        assert first.exit_code == 0, first.output
        sf = salesforce(sb)
        accounts = sf.query_all("SELECT Id FROM Account ORDER BY Id")["records"]
        migrated, gone = accounts[0]["Id"], accounts[1]["Id"]
        sf.Account.update(migrated, {KEY_SF: "hubspot/contacts/10017"})  # as a migration
        config = office("second")  # an archive that never restored into this org
        sf.Account.delete(gone)

        run = _restore(config, "--verify")
        assert run.exit_code == 0, run.output
        assert "(100.0%)" in run.output
        assert sf.Account.get(migrated)[KEY_SF] == "hubspot/contacts/10017"


def test_a_recurring_series_is_not_made_again_over_its_occurrences(tmp_path: Path) -> None:
    """Salesforce makes every occurrence of a recurring Task series created; the archive
    holds the occurrences already (each a Task of its own), so the series record is not
    created again with them (the sandbox does not make occurrences: the series record is
    what is checked)."""
    with Sandbox(clients=2, seed=11, vendors=["salesforce"]) as sb:
        sf = salesforce(sb)
        account = sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
        sf.Task.create({"Subject": "Weekly check-in call", "WhatId": account,
                        "IsRecurrence": True, "RecurrenceType": "RecursWeekly",
                        "RecurrenceInterval": 1, "RecurrenceDayOfWeekMask": 2,
                        "RecurrenceStartDateOnly": "2026-12-07",
                        "RecurrenceEndDateOnly": "2027-01-31"})
        sf.Task.create({"Subject": "Weekly check-in call", "WhatId": account,
                        "ActivityDate": "2026-12-07"})  # an occurrence, as Salesforce made
        table = sb.source_configs(tmp_path / "s1")["salesforce"]
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            assert run_sync(archive, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"org": {**table, "retry": FAST_RETRY}}}), encoding="utf-8")
        config.chmod(0o600)
        sf.Account.delete(account)

        run = _restore(config, "--verify")
        assert run.exit_code == 0, run.output
        tasks = salesforce_rows(sb, "Task", ["Subject", "IsRecurrence", "ActivityDate"])
        calls = [t for t in tasks if t["Subject"] == "Weekly check-in call"]
        assert [(t["IsRecurrence"], t["ActivityDate"]) for t in calls] == \
            [(False, "2026-12-07")]
