"""When the Salesforce connector asks for the object list (describeGlobal): ordinary nights
make no such call and trust the archive's copy; a custom object an admin creates is found
on the next id-check cadence night (``reconcile_every_runs``) or with ``--full``; a query
that names an object or field gone since the cached describes makes the next night ask
again. Requests are counted in the emulator's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from exporter.archive import Archive
from exporter.sources import build_connector
from exporter.sync import SyncReport, run_sync
from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox
from sandbox.salesforce.schema import NAME, ObjectDef, _f, _system

FAST = {"retry_base_delay": 0.05, "bulk_poll_seconds": 0, "timeout": 5}
NEW = "Visit_Note__c"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clients=5, seed=7) as sb:
        yield sb


def night(archive: Archive, sb: Sandbox, tmp_path: Path, full: bool = False,
          every_runs: int = 7) -> SyncReport:
    table = dict(sb.source_configs(tmp_path / "secrets")["salesforce"], **FAST)
    conn = build_connector("salesforce", table, tmp_path / "config.toml")
    return run_sync(archive, {"salesforce": conn}, full=full, reconcile_every_runs=every_runs)


def new_archive(tmp_path: Path) -> Archive:
    archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    return archive


def add_visit_notes(sb: Sandbox) -> str:
    """An admin creates a custom object and a caregiver files one record in it."""
    sb.salesforce.add_object(ObjectDef(NEW, "Visit Note", "a0V", [
        *_system(NAME), _f("Note__c", "textarea")]))
    c = CREDENTIALS["salesforce"]
    sf = Salesforce(username=c["username"], password=c["password"],
                    security_token=c["security_token"],
                    session=LoopbackSession(sb.urls["salesforce"]))
    made = sf.restful(f"sobjects/{NEW}", method="POST",
                      json={"Name": "Tuesday visit", "Note__c": "Walked to the park"})
    return str(made["id"])


def streams(report: SyncReport) -> dict[str, str]:
    return {r.stream: r.status for r in report.sources[0].streams}


def test_ordinary_nights_skip_the_object_list_and_the_cadence_night_finds_a_new_object(
        sandbox: Sandbox, tmp_path: Path) -> None:
    with new_archive(tmp_path) as archive:
        first = night(archive, sandbox, tmp_path, every_runs=3)
        assert first.status == "ok" and first.sources[0].rediscovered
        assert sandbox.log.count("salesforce", "describe_global") == 1
        rid = add_visit_notes(sandbox)
        for _ in range(2):  # runs 2 and 3: ordinary nights, no describeGlobal at all
            sandbox.log.clear()
            report = night(archive, sandbox, tmp_path, every_runs=3)
            assert report.status == "ok", report.stats()
            assert not report.sources[0].rediscovered
            assert sandbox.log.count("salesforce", "describe_global") == 0
            assert sandbox.log.count("salesforce", "describe") == 0
            assert NEW not in streams(report)
        sandbox.log.clear()
        cadence = night(archive, sandbox, tmp_path, every_runs=3)  # run 4: the cadence
        assert cadence.status == "ok", cadence.stats()
        assert cadence.sources[0].rediscovered
        assert sandbox.log.count("salesforce", "describe_global") == 1
        assert streams(cadence)[NEW] == "ok"
        assert set(archive.record_ids("salesforce", NEW)) == {rid}
        sandbox.log.clear()
        after = night(archive, sandbox, tmp_path, every_runs=3)  # ordinary again
        assert sandbox.log.count("salesforce", "describe_global") == 0
        assert streams(after)[NEW] == "ok"  # the cached list now holds it


def test_full_always_asks_for_the_object_list(sandbox: Sandbox, tmp_path: Path) -> None:
    with new_archive(tmp_path) as archive:
        assert night(archive, sandbox, tmp_path).status == "ok"
        rid = add_visit_notes(sandbox)
        sandbox.log.clear()
        report = night(archive, sandbox, tmp_path, full=True)
        assert report.status == "ok", report.stats()
        assert sandbox.log.count("salesforce", "describe_global") == 1
        assert set(archive.record_ids("salesforce", NEW)) == {rid}


def test_an_object_gone_since_the_cached_list_is_looked_up_again_the_next_night(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Its query refused (INVALID_TYPE) fails that object alone; the next night, ordinary
    by the cadence, asks for the object list again instead of trusting the stale copy."""
    with new_archive(tmp_path) as archive:
        assert night(archive, sandbox, tmp_path).status == "ok"
        sandbox.salesforce.refuse_query.add("Allergy__c")
        sandbox.log.clear()
        broken = night(archive, sandbox, tmp_path)
        assert broken.status == "partial"
        assert streams(broken)["Allergy__c"] == "failed"
        assert sandbox.log.count("salesforce", "describe_global") == 0
        sandbox.salesforce.refuse_query.clear()  # Salesforce answers for it again
        sandbox.log.clear()
        report = night(archive, sandbox, tmp_path)
        assert report.status == "ok", report.stats()
        assert report.sources[0].rediscovered
        assert sandbox.log.count("salesforce", "describe_global") == 1
        sandbox.log.clear()
        night(archive, sandbox, tmp_path)  # the mark is spent: ordinary again
        assert sandbox.log.count("salesforce", "describe_global") == 0
