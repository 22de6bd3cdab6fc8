"""HubSpot to-dos ("Renew service agreement") restored into Salesforce are office Tasks on
their client's Account, never Care_Task__c rows, which the printed care plan lists as a
caregiver's weekly tasks. The target is read through simple-salesforce only; the care plan
is printed from an archive synced from the restored org by the real connector."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.archive import Archive
from exporter.careplan.definition import Definition, default_definition_text, parse_definition
from exporter.careplan.printing import print_care_plans
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.target_census import hubspot_rows, salesforce_activities, salesforce_rows

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
#: Salesforce's documented Task picklists, as HubSpot's values read
STATUS = {"NOT_STARTED": "Not Started", "IN_PROGRESS": "In Progress",
          "WAITING": "Waiting on someone else", "COMPLETED": "Completed",
          "DEFERRED": "Deferred"}
PRIORITY = {"HIGH": "High", "MEDIUM": "Normal", "LOW": "Low", "NONE": "Normal"}


def _sync(archive: Archive, sb: Sandbox, source: str, tmp: Path) -> None:
    table = sb.source_configs(tmp)[source]
    assert run_sync(archive, {source: build_connector(
        source, table, tmp / "c.toml")}).status == "ok"


def _salesforce_only() -> Definition:
    """The built-in care-plan definition with its HubSpot and Google parts left out (the
    archive holds the restored org only); its care_tasks section as it is."""
    text = default_definition_text()
    for start, end in (("# The same client in other systems", "[sections.identity]"),
                       ("[sections.visits]", "[sections.diet]"),
                       ("# HubSpot keeps", "[sections.signoff]")):
        text = re.sub(f"(?s){re.escape(start)}.*?(?={re.escape(end)})", "", text)
    return parse_definition(text)


def _todos(src: Sandbox) -> dict[str, dict[str, str | None]]:
    """Each source to-do by source id: subject, status, priority and its client's source id
    (the client whose number the associated contact carries)."""
    contacts = hubspot_rows(src, "contacts", ["relationship", "client_number"])
    clients = {c["properties"]["client_number"]: f"hubspot/contacts/{c['id']}"
               for c in contacts if c["properties"].get("relationship") == "Client"}
    client_of = {str(c["id"]): clients.get(c["properties"].get("client_number"))
                 for c in contacts}
    out = {}
    for t in hubspot_rows(src, "tasks", ["hs_task_subject", "hs_task_status",
                                         "hs_task_priority"], ["contacts"]):
        linked = [str(a["id"]) for a in ((t.get("associations") or {}).get("contacts")
                                         or {}).get("results", [])]
        p = t["properties"]
        out[f"hubspot/tasks/{t['id']}"] = {
            "subject": p["hs_task_subject"], "status": STATUS[p["hs_task_status"]],
            "priority": PRIORITY[p["hs_task_priority"]],
            "client": next((c for c in map(client_of.get, linked) if c), None)}
    return out


def test_hubspot_todos_become_tasks_on_their_client_not_care_tasks(tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=41) as src, Sandbox(clients=0, seed=42) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            _sync(archive, src, "hubspot", tmp_path / "s1")
            config = {**dst.source_configs(tmp_path / "s2")["salesforce"],
                      "retry": FAST_RETRY}
            writer = build_writer("t", config, tmp_path / "c.toml")
            report = run_restore(archive, writer, load_mapping("hubspot_to_salesforce"),
                                 target="t")
            assert report.status == "ok", report.errors[:3]
        todos = _todos(src)
        subjects = {t["subject"] for t in todos.values()}
        assert len(todos) > 6 and len(subjects) > 1
        assert {t["status"] for t in todos.values()} >= {"Completed", "Not Started"}
        # no to-do is a caregiver's weekly task (this portal has no care_tasks object)
        assert salesforce_rows(dst, "Care_Task__c", ["Name", "Task__c"]) == []
        rows, data = salesforce_activities(dst, "Task", ["TaskSubtype", "Subject", "Status",
                                                         "Priority", "ActivityDate"])
        got = {r.source_id: r for r in rows if r.source_id in todos}
        assert sorted(got) == sorted(todos)
        assert sum(r.source_id in todos for r in rows) == len(todos)  # each once
        for sid, want in todos.items():
            task = data[got[sid].target_id]
            assert (task["TaskSubtype"], task["Subject"], task["Status"], task["Priority"]) \
                == ("Task", want["subject"], want["status"], want["priority"]), sid
            assert task["ActivityDate"] and want["client"], sid
            assert got[sid].parents == {want["client"]}, sid
        # the care plan printed from the restored org lists none of them as a care task
        printed = tmp_path / "b.db"
        copy, _ = Archive.create(printed, key_file=tmp_path / "b.key")
        with copy:
            _sync(copy, dst, "salesforce", tmp_path / "s3")
            definition = _salesforce_only()
            for acc in salesforce_rows(dst, "Account", ["Client_Number__c"]):
                out = tmp_path / f"{acc['Client_Number__c']}.html"
                print_care_plans(copy, definition, query=acc["Client_Number__c"],
                                 out=out, fmt="html")
                html = out.read_text(encoding="utf-8")
                assert 'data-section="care_tasks"' in html
                tasks = html.split('data-section="care_tasks"', 1)[1]
                tasks = tasks.split("data-section=", 1)[0]
                assert not [s for s in subjects if s in tasks], acc["Client_Number__c"]
