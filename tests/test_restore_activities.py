"""Calls, e-mails, meetings, notes, to-dos and files restored on their client, checked by the
independent checker (tests.target_census: the vendor SDKs only, no exporter code)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import requests

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client
from tests.target_census import (
    Expected,
    hubspot_rows,
    salesforce_activities,
    salesforce_file_links,
    sha,
    tally,
)

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
CLEAN = {"duplicates": 0, "extras": 0, "missing": 0, "wrong_links": 0, "stale_links": 0,
         "bad_files": 0}
#: HubSpot engagement -> (Salesforce object, TaskSubtype)
ENGAGEMENTS = {"calls": ("Task", "Call"), "emails": ("Task", "Email"),
               "notes": ("Task", "Task"), "tasks": ("Task", "Task"), "meetings": ("Event", None)}


def _assoc(record: dict[str, Any]) -> list[str]:
    return [str(a["id"]) for a in ((record.get("associations") or {}).get("contacts") or {})
            .get("results", [])]


def _hubspot_activity_promises(src: Sandbox) -> tuple[dict[str, Expected], dict[str, str]]:
    """From the source portal: each engagement on the Account of the client whose number
    its associated contacts carry; each file on the client of the note attaching it. Also
    each engagement's kind by source id."""
    def sid(obj: str, rid: Any) -> str:
        return f"hubspot/{obj}/{rid}"

    contacts = hubspot_rows(src, "contacts", ["relationship", "client_number"])
    by_number = {c["properties"]["client_number"]: sid("contacts", c["id"]) for c in contacts
                 if c["properties"].get("relationship") == "Client"}
    client_of = {str(c["id"]): by_number.get(c["properties"].get("client_number"))
                 for c in contacts}
    out = {o: Expected(o) for o in ("Task", "Event", "ContentVersion")}
    kinds: dict[str, str] = {}
    attached: dict[str, str | None] = {}
    for stream, (obj, _subtype) in ENGAGEMENTS.items():
        for r in hubspot_rows(src, stream, ["hs_attachment_ids"], ["contacts"]):
            client = next((c for c in (client_of.get(i) for i in _assoc(r)) if c), None)
            out[obj].parents[sid(stream, r["id"])] = client
            kinds[sid(stream, r["id"])] = stream
            for fid in str(r["properties"].get("hs_attachment_ids") or "").split(";"):
                if fid and client:
                    attached.setdefault(fid, client)
    client = hubspot_client(src)
    for f in client.files.files_api.do_search().results:
        key = sid("files", f.id)
        out["ContentVersion"].parents[key] = attached.get(str(f.id))
        url = client.files.files_api.get_signed_url(f.id).url
        out["ContentVersion"].files[key] = sha(requests.get(url, timeout=30).content)
    return out, kinds


def test_hubspot_engagements_and_files_reach_their_clients_account(tmp_path: Path) -> None:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("hubspot_to_salesforce")
    with archive, Sandbox(clients=8, seed=21) as src, Sandbox(clients=0, seed=22) as dst:
        table = src.source_configs(tmp_path / "s1")["hubspot"]
        assert run_sync(archive, {"hubspot": build_connector(
            "hubspot", table, tmp_path / "c.toml")}).status == "ok"
        config = {**dst.source_configs(tmp_path / "s2")["salesforce"], "retry": FAST_RETRY}
        writer = build_writer("t", config, tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="t")
        assert report.status == "ok", report.errors[:3]
        assert verify_restore(archive, writer, mapping, target="t").record_rate == 100.0
        promises, kinds = _hubspot_activity_promises(src)
        tasks, task_data = salesforce_activities(
            dst, "Task", ["TaskSubtype", "Status", "Subject", "CallDurationInSeconds"])
        events, _ = salesforce_activities(dst, "Event", ["StartDateTime", "EndDateTime"])
        for obj, rows in (("Task", tasks), ("Event", events)):
            counts = tally(promises[obj], rows)
            assert {k: counts[k] for k in CLEAN} == CLEAN, obj
            assert all(promises[obj].parents.values()), f"every {obj} source has a client"
        # each kind once, with its subtype: every call, e-mail, note and to-do, every meeting
        subtypes = Counter((kinds[r.source_id], task_data[r.target_id]["TaskSubtype"])
                           for r in tasks)
        source = Counter(kinds[s] for s in promises["Task"].parents)
        assert subtypes == Counter({(k, ENGAGEMENTS[k][1]): n for k, n in source.items()})
        assert source["calls"] and source["emails"] and source["notes"] and source["tasks"]
        assert len(events) == len(promises["Event"].parents) > 0
        # calls, e-mails and notes happened; to-dos keep their own status (test_restore_todos)
        done = [task_data[r.target_id] for r in tasks if kinds[r.source_id] != "tasks"]
        assert all(d["Status"] == "Completed" for d in done)
        assert all(d["CallDurationInSeconds"] for d in done if d["TaskSubtype"] == "Call")
        assert all(task_data[r.target_id]["Subject"].startswith("Note: ") == (
            kinds[r.source_id] == "notes") for r in tasks if kinds[r.source_id] in (
            "notes", "tasks"))
        # every file on its client's Account (ContentDocumentLink), bytes intact
        files = salesforce_file_links(dst)
        counts = tally(promises["ContentVersion"], files)
        assert {k: counts[k] for k in CLEAN} == CLEAN
        with_client = [k for k, v in promises["ContentVersion"].parents.items() if v]
        assert counts["files"] == len(files) and len(with_client) >= 8
        unlinked = [r for r in files if not r.parents]
        # only a file no note attaches has no client in HubSpot (the big consent form)
        assert len(unlinked) == len(files) - len(with_client) <= 1
        again = run_restore(archive, writer, mapping, target="t")
        assert again.total("created") == 0
        assert (len(salesforce_activities(dst, "Task")[0]),
                len(salesforce_activities(dst, "Event")[0])) == (len(tasks), len(events))


#: Salesforce Task subtype -> HubSpot engagement
SUBTYPES = {"Call": "calls", "Email": "emails", "Task": "tasks"}


def test_salesforce_activities_reach_their_clients_contact(tmp_path: Path) -> None:
    from tests.restore_support import salesforce
    from tests.target_census import hubspot_target, salesforce_rows

    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    mapping = load_mapping("salesforce_to_hubspot")
    with archive, Sandbox(clients=8, seed=23) as src, Sandbox(clients=0, seed=24) as dst:
        sf = salesforce(src)
        first, second = [r["Id"] for r in salesforce_rows(src, "Account", [])][:2]
        sf.Task.create({"Subject": "Rota for next week", "WhatId": first, "Status": "Completed",
                        "TaskSubtype": "Email", "ActivityDate": "2026-01-03",
                        "Description": "Sent the rota to the daughter."})
        sf.Task.create({"Subject": "Order a shower chair", "WhatId": second,
                        "Priority": "High", "ActivityDate": "2026-01-09"})
        sf.Event.create({"Subject": "Care review", "WhatId": second, "Location": "Home",
                         "StartDateTime": "2026-01-08T15:00:00Z", "DurationInMinutes": 45})
        table = src.source_configs(tmp_path / "s1")["salesforce"]
        assert run_sync(archive, {"salesforce": build_connector(
            "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        config = {**dst.source_configs(tmp_path / "s2")["hubspot"], "retry": FAST_RETRY}
        writer = build_writer("t", config, tmp_path / "c.toml")
        report = run_restore(archive, writer, mapping, target="t")
        assert report.status == "ok", report.errors[:3]
        assert verify_restore(archive, writer, mapping, target="t").record_rate == 100.0

        def sid(obj: str, rid: str) -> str:
            return f"salesforce/{obj}/{rid}"

        promises = {o: Expected(o) for o in ("calls", "emails", "tasks", "meetings")}
        for r in salesforce_rows(src, "Task", ["TaskSubtype", "AccountId"]):
            promises[SUBTYPES[r["TaskSubtype"]]].parents[sid("Task", r["Id"])] = \
                sid("Account", r["AccountId"])
        for r in salesforce_rows(src, "Event", ["AccountId"]):
            promises["meetings"].parents[sid("Event", r["Id"])] = sid("Account", r["AccountId"])
        assert all(promises[o].parents for o in promises)
        for obj, expected in promises.items():
            rows = [r for r in hubspot_target(dst, obj, "contacts")
                    if r.source_id.startswith(("salesforce/Task/", "salesforce/Event/"))]
            counts = tally(expected, rows)
            assert {k: counts[k] for k in CLEAN} == CLEAN, obj
        calls = hubspot_rows(dst, "calls", ["hs_call_duration", "hs_call_status"])
        durations = sorted(int(c["properties"]["hs_call_duration"]) for c in calls)
        source = sorted(int(r["CallDurationInSeconds"]) * 1000 for r in salesforce_rows(
            src, "Task", ["CallDurationInSeconds"]) if r["CallDurationInSeconds"])
        assert durations == source
        meeting = hubspot_rows(dst, "meetings", ["hs_meeting_start_time",
                                                 "hs_meeting_end_time"])
        assert any(m["properties"]["hs_meeting_end_time"].startswith("2026-01-08T15:45")
                   for m in meeting)
        again = run_restore(archive, writer, mapping, target="t")
        assert again.total("created") == 0


def test_mapping_links_in_two_steps_are_read_and_refused_when_incomplete(
        tmp_path: Path) -> None:
    import pytest

    from exporter.errors import MappingError
    from exporter.restore.transforms import apply

    head = 'source = "hubspot"\ntarget = "salesforce"\nprefix = "properties."\n' \
        '[[objects]]\nstream = "files"\nobject = "ContentVersion"\nmatch = ["Title"]\n' \
        '[objects.fields]\nTitle = "@name"\n[[objects.links]]\nvia = "associations"\n' \
        'to = "contacts"\nby = "client_number"\non = "client_number"\nfield = "X"\n'
    path = tmp_path / "m.toml"
    path.write_text(head + 'through = "notes"\nthrough_field = "hs_attachment_ids"\n')
    link = load_mapping(str(path)).objects[0].links[0]
    assert (link.via, link.by, link.through, link.through_field) == (
        "associations", "client_number", "notes", "hs_attachment_ids")
    path.write_text(head + 'through = "notes"\n')  # through without its field
    with pytest.raises(MappingError, match="through_field"):
        load_mapping(str(path))
    path.write_text(head + 'from = "hs_object_id"\n')  # three ways at once
    with pytest.raises(MappingError):
        load_mapping(str(path))
    path.write_text(head.replace('[[objects.links]]', 'X = { from = "hs_call_duration", '
                                 'scale = 0.001 }\n[[objects.links]]'))
    rule = next(f for f in load_mapping(str(path)).objects[0].fields if f.target == "X")
    assert apply(rule, {"properties": {"hs_call_duration": "183600"}}, "properties.") == 184
