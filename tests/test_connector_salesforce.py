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
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from exporter.archive import Archive
from exporter.connector import Connector
from exporter.errors import AuthError
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import SyncReport, run_sync
from exporter.transport import LoopbackSession
from sandbox import CREDENTIALS, Sandbox

OBJECTS = ("Account", "Care_Plan__c", "Medication__c", "Allergy__c", "Diagnosis__c",
           "Care_Task__c", "Physician__c", "Emergency_Contact__c", "ContentVersion",
           "Attachment", "Task", "Event", "Contact", "Opportunity", "Case")
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


# formulas: change without SystemModstamp moving (the sandbox's calculated fields, which
# reference(skip_calculated=True) leaves out)
CALCULATED = frozenset({"Age__c", "Client_Name__c"})


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
        # deleted now and purged before the next sync sees it in the recycle bin
        victim = next(r for r, d in after["Allergy__c"].items() if not d["IsDeleted"])
        direct_sdk(sandbox).restful(f"sobjects/Allergy__c/{victim}", method="DELETE")
        sandbox.advance(1)  # the bin keeps only rows deleted in earlier steps
        sandbox.advance(4)
        final = reference(sandbox, skip_calculated=True)
        purged = {obj: gone_before[obj] - set(final[obj]) for obj in OBJECTS}
        assert any(purged.values()), "crossing day 7 hard-deleted something"
        # live in the archive, gone from queryAll: only the id reconciliation can tell
        unseen = {obj: archive.record_ids("salesforce", obj) - set(final[obj])
                  for obj in OBJECTS}
        assert victim in unseen["Allergy__c"]
        full = sync(archive, sandbox, tmp_path, full=True)
        assert full.status == "ok", full.stats()
        assert all(s.reconciled for s in full.sources[0].streams)
        for obj in OBJECTS:
            current = archive.record_ids("salesforce", obj)
            live = {r for r, d in final[obj].items() if not d["IsDeleted"]}
            assert current == live, obj
            for rid in purged[obj] | unseen[obj]:
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


def test_query_timeout_is_read_with_bulk(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.salesforce.query_timeout_rows = 50  # REST gives up on bigger objects
    with new_archive(tmp_path, "rest") as rest, new_archive(tmp_path, "timeout") as timeout:
        jobs = sandbox.log.count("salesforce", "bulk_create")
        assert sync(timeout, sandbox, tmp_path).status == "ok"
        assert sandbox.log.count("salesforce", "bulk_create") - jobs >= 2
        sandbox.salesforce.query_timeout_rows = None
        assert sync(rest, sandbox, tmp_path).status == "ok"
        assert archived(timeout) == archived(rest)


def assert_bodies(archive: Archive, sb: Sandbox) -> None:
    sf = direct_sdk(sb)
    for obj, field in (("ContentVersion", "VersionData"), ("Attachment", "Body")):
        for rid, data in archive.records("salesforce", obj):
            assert data is not None
            stored = b"".join(archive.read_file(archive.files_of("salesforce", obj, rid)[field]))
            assert stored == getattr(sf, obj).get_base64(rid, base64_field=field), (obj, rid)


@pytest.mark.parametrize(("kind", "endpoint", "options"), [
    ("rate_limit", "query", {"retry_after": 0.1}),
    ("rate_limit", "describe", {}),
    ("server_error", "query", {"status": 503}),
    ("server_error", "describe_global", {"status": 500}),
    ("server_error", "login", {"status": 503}),
    ("timeout", "query", {"delay": 1.2}),
    ("truncated", "query", {}),
    ("malformed", "query", {}),
    ("truncated", "retrieve", {}),  # a file body cut mid-way: resumed
    ("malformed", "retrieve", {}),  # an error page in place of a body
    ("session_expired", "query", {"after": 4}),
    ("session_expired", "retrieve", {"after": 1}),  # exporter's own download re-login
])
def test_faults_are_retried_and_the_archive_is_complete(kind: str, endpoint: str,
                                                        options: dict[str, Any],
                                                        sandbox: Sandbox,
                                                        tmp_path: Path) -> None:
    fault = sandbox.faults.add("salesforce", kind, endpoint=endpoint, times=2 if
                               kind != "session_expired" else 1, **options)
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path, timeout=0.6)
        assert report.status == "ok", report.stats()
        assert fault.fired == fault.times
        if kind != "session_expired":
            assert report.sources[0].usage["retries"] >= 2
        assert_matches(archive, reference(sandbox))
        assert_bodies(archive, sandbox)


def test_slow_answers_are_waited_for_without_retries(sandbox: Sandbox, tmp_path: Path) -> None:
    fault = sandbox.faults.add("salesforce", "slow", endpoint="query", times=2, delay=0.3)
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path, timeout=1.5)
        assert report.status == "ok"
        assert fault.fired == 2
        assert report.sources[0].usage["retries"] == 0


def test_a_session_that_never_renews_fails_plainly(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add("salesforce", "session_expired", endpoint="query", times=-1)
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path)
    assert report.status == "failed"
    error = report.sources[0].streams[0].error or ""
    assert error.startswith("Salesforce keeps refusing") and "\n" not in error
    # bounded: the SDK's own re-logins (3) twice, and no new storm per stream
    assert sandbox.log.count("salesforce", "login") <= 10
    assert all(s.status == "failed" for s in report.sources[0].streams)


def test_request_limit_ends_partial_then_resumes(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add("salesforce", "request_limit", endpoint="query", after=4)
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "partial"
        source = report.sources[0]
        assert source.error is not None and "daily API limit" in source.error
        done = [s for s in source.streams if s.status == "ok"]
        # the 5th query (2 per object with the first reconciliation) hit the limit: the
        # source stopped asking at once
        assert len(done) == 2 and len(source.streams) == 3
        ref = reference(sandbox)
        for stream in done:  # what was committed is intact
            assert {r for r, _ in archive.records("salesforce", stream.stream,
                                                  include_deleted=True)} == set(ref[stream.stream])
        assert sync(archive, sandbox, tmp_path).status == "ok"
        assert_matches(archive, reference(sandbox))


def test_api_share_limit_stops_cleanly(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.salesforce.daily_limit = 60
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path, api_share_limit=0.5)
        assert report.status == "partial"
        assert "api_share_limit" in (report.sources[0].error or "")
        assert sandbox.salesforce.api_usage <= 30


def test_wrong_password_is_a_plain_auth_error(sandbox: Sandbox, tmp_path: Path) -> None:
    table = dict(sandbox.source_configs(tmp_path / "secrets")["salesforce"], **FAST)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    table["password"] = {"file": str(wrong)}
    conn = build_connector("salesforce", table, tmp_path / "config.toml")
    results = conn.check()
    assert not results[0].ok and "password" in results[0].detail
    assert "not-the-password" not in results[0].detail
    with pytest.raises(AuthError, match="refused the login"):
        conn.streams()
    with new_archive(tmp_path) as archive:
        report = run_sync(archive, {"salesforce": conn})
    assert report.status == "failed"
    assert "check the username, password" in (report.sources[0].error or "")


CHILD = """
import json, sys
from pathlib import Path
from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
db, key, table = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with Archive.open(Path(db), KeyFile(Path(key)), write=True) as archive:
    conn = build_connector("salesforce", table, Path(db).parent / "config.toml")
    run_sync(archive, {"salesforce": conn})
"""


def test_sigkill_mid_sync_then_resume_gives_the_same_archive(tmp_path: Path) -> None:
    with Sandbox(clients=30, seed=9) as sb:
        with new_archive(tmp_path, "straight") as straight:
            assert sync(straight, sb, tmp_path, page_size=200).status == "ok"
            expected = archived(straight)
        with new_archive(tmp_path, "killed"):
            pass
        table = dict(sb.source_configs(tmp_path / "secrets")["salesforce"], **FAST,
                     page_size=200)
        for endpoint in ("query", "query_more", "retrieve"):
            sb.faults.add("salesforce", "slow", endpoint=endpoint, times=-1, delay=0.1)
        queries = sb.log.count("salesforce", "query")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path / "killed.db"),
             str(tmp_path / "killed.key"), json.dumps(table)],
            env=dict(os.environ), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while sb.log.count("salesforce", "query") - queries < 5:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        sb.faults.clear()
        with Archive.open(tmp_path / "killed.db", KeyFile(tmp_path / "killed.key"),
                          write=True) as killed:
            partial = archived(killed)
            assert 0 < sum(map(len, partial.values())) < sum(map(len, expected.values()))
            assert sync(killed, sb, tmp_path, page_size=200).status == "ok"
            assert archived(killed) == expected
            assert_bodies(killed, sb)


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("flow", ["oauth_password", "jwt", "jwt_file", "client_credentials"])
def test_login_flows(flow: str, sandbox: Sandbox, tmp_path: Path) -> None:
    c = CREDENTIALS["salesforce"]
    base = sandbox.source_configs(tmp_path / "secrets")["salesforce"]

    def secret(name: str, value: str) -> dict[str, str]:
        path = tmp_path / "secrets" / name
        path.write_text(value)
        path.chmod(0o600)
        return {"file": str(path)}

    table: dict[str, Any] = {"type": "salesforce", "base_url": base["base_url"],
                             "client_id": c["client_id"], "include": ["Account"]}
    if flow == "oauth_password":
        table.update(username=c["username"], password=base["password"],
                     security_token=base["security_token"],
                     client_secret=secret("cs", c["client_secret"]))
    elif flow == "jwt":
        table.update(username=c["username"], private_key=secret("key.pem", _pem()))
    elif flow == "jwt_file":
        table.update(username=c["username"],
                     private_key_file=secret("key.pem", _pem())["file"])
    else:
        table.update(domain="sunrise.my", client_secret=secret("cs", c["client_secret"]))
    conn = build_connector("salesforce", table, tmp_path / "config.toml")
    assert all(r.ok for r in conn.check()), conn.check()
    assert [s.name for s in conn.streams()] == ["Account"]


def test_private_key_file_readable_by_others_is_refused(sandbox: Sandbox,
                                                        tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(_pem())
    key.chmod(0o644)
    table = {"type": "salesforce", "base_url": sandbox.urls["salesforce"],
             "username": CREDENTIALS["salesforce"]["username"],
             "client_id": CREDENTIALS["salesforce"]["client_id"],
             "private_key_file": str(key)}
    results = build_connector("salesforce", table, tmp_path / "config.toml").check()
    assert not results[0].ok and "chmod 600" in results[0].detail


def test_a_cursor_stored_inside_a_tie_misses_nothing(tmp_path: Path) -> None:
    """Rows sharing a SystemModstamp across a page boundary, no lookback at all: the stored
    cursor is the first page's last stamp, and ``>=`` re-reads the rest of the tie."""
    with Sandbox(clients=40, seed=5) as sb, new_archive(tmp_path) as archive:
        rows = direct_sdk(sb).query_all("SELECT Id, SystemModstamp FROM Care_Task__c "
                                        "ORDER BY SystemModstamp, Id", include_deleted=True)
        stamps = [r["SystemModstamp"] for r in rows["records"]]
        assert len(stamps) > 200 and stamps[199] == stamps[200], "a tie across pages"
        conn = connector(sb, tmp_path, page_size=200, lookback_seconds=0,
                         include=["Care_Task__c"])
        stream = conn.streams()[0]
        run = archive.begin_run()
        first = next(iter(conn.read(stream, None)))  # then the sync is "killed"
        archive.put_batch(run, "salesforce", stream.name, first.records, cursor=first.cursor)
        archive.finish_run(run, "interrupted")
        assert first.cursor == {"SystemModstamp": stamps[199]}
        report = sync(archive, sb, tmp_path, page_size=200, lookback_seconds=0,
                      include=["Care_Task__c"])
        assert report.status == "ok"
        assert {rid for rid, _ in archive.records("salesforce", "Care_Task__c",
                                                  include_deleted=True)} == {
            r["Id"] for r in rows["records"]}


@pytest.mark.parametrize(("kind", "options"), [
    ("truncated", {"times": 2}),
    ("malformed", {"times": 1}),
    ("rate_limit", {"times": 1, "retry_after": 0.05}),
    ("session_expired", {"times": 1}),  # the SDK's retry drops batchSize: pages change size
])
def test_faults_on_next_pages(kind: str, options: dict[str, Any], tmp_path: Path) -> None:
    with Sandbox(clients=40, seed=5) as sb, new_archive(tmp_path) as archive:
        fault = sb.faults.add("salesforce", kind, endpoint="query_more", **options)
        report = sync(archive, sb, tmp_path, page_size=200)
        assert report.status == "ok", report.stats()
        assert fault.fired == fault.times
        assert_matches(archive, reference(sb))


def test_config_mistakes_are_plain_config_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    from exporter.errors import ConfigError

    # types are checked from the declared settings (exporter.settings.check_table)
    with pytest.raises(ConfigError, match="api_share_limit must be a number"):
        connector(sandbox, tmp_path, api_share_limit="most")
    with pytest.raises(ConfigError, match="include must be a list"):
        connector(sandbox, tmp_path, include="Account")
    # what a type cannot say, the connector checks itself
    with pytest.raises(ConfigError, match="list of object names"):
        connector(sandbox, tmp_path, include=["Account", 7])
    table = {"type": "salesforce", "base_url": sandbox.urls["salesforce"], "username": "x"}
    results = build_connector("salesforce", table, tmp_path / "config.toml").check()
    assert not results[0].ok and "needs username + password" in results[0].detail
    # the restore target's retry table is checked the same way
    from exporter.restore.target import build_writer

    target = dict(sandbox.source_configs(tmp_path / "secrets")["salesforce"],
                  retry={"atempts": 2})
    with pytest.raises(ConfigError, match=r"'atempts'.*did you mean attempts"):
        build_writer("sf", target, tmp_path / "config.toml")


@pytest.mark.parametrize("refusal", ["refuse_describe", "refuse_query"])
def test_an_object_that_is_refused_is_skipped_and_the_rest_archived(
        refusal: str, sandbox: Sandbox, tmp_path: Path) -> None:
    """One object whose describe (404) or query (400 INVALID_TYPE) Salesforce refuses fails
    alone: every other object is archived and the run ends partial."""
    getattr(sandbox.salesforce, refusal).add("Medication__c")
    with new_archive(tmp_path) as archive:
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "partial", report.stats()
        streams = {r.stream: r for r in report.sources[0].streams}
        assert [n for n, r in streams.items() if r.status != "ok"] == ["Medication__c"]
        assert "Medication__c" in (report.sources[0].error or "")
        assert dict(archive.records("salesforce", "Medication__c")) == {}
        getattr(sandbox.salesforce, refusal).clear()  # for the direct SDK's reference read
        ref = reference(sandbox)
        got = archived(archive)
        for obj in OBJECTS:
            if obj != "Medication__c":
                assert set(got[obj]) == set(ref[obj]), obj


def test_a_formula_that_follows_a_parent_is_archived_the_next_night(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """A client's name edit changes their care plan's Client_Name__c formula (Client__r.Name)
    without moving the care plan's SystemModstamp: the next normal night archives it."""
    with new_archive(tmp_path) as archive:
        assert sync(archive, sandbox, tmp_path).status == "ok"
        sf = direct_sdk(sandbox)
        plan = sf.query("SELECT Id, Client__c, Client_Name__c, SystemModstamp "
                        "FROM Care_Plan__c LIMIT 1")["records"][0]
        sf.Account.update(plan["Client__c"], {"Name": "Renamed Client"})
        after = sf.query(f"SELECT Client_Name__c, SystemModstamp FROM Care_Plan__c "
                         f"WHERE Id = '{plan['Id']}'")["records"][0]
        assert after["Client_Name__c"] == "Renamed Client"
        assert after["SystemModstamp"] == plan["SystemModstamp"]  # the drift
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "ok", report.stats()
        plans = next(s for s in report.sources[0].streams if s.stream == "Care_Plan__c")
        assert plans.changed == 1 and plans.new == 0
        current = dict(archive.records("salesforce", "Care_Plan__c"))
        assert current[plan["Id"]]["Client_Name__c"] == "Renamed Client"
        ref = reference(sandbox)
        for rows in ref.values():  # Age__c follows TODAY(), not a parent: not this test's
            for data in rows.values():
                data.pop("Age__c", None)
        assert_matches(archive, ref, frozenset({"Age__c"}))
        # an idle night reads no child again
        sandbox.log.clear()
        assert sum(s.changed for s in sync(archive, sandbox, tmp_path).sources[0].streams) == 0
        assert sandbox.log.count("salesforce", "query") <= len(OBJECTS)


def test_a_refused_login_shows_salesforces_own_text(sandbox: Sandbox, tmp_path: Path) -> None:
    """simple-salesforce's authentication text reaches the message, not its template."""
    table = dict(sandbox.source_configs(tmp_path / "secrets")["salesforce"], **FAST)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    table["password"] = {"file": str(wrong)}
    conn = build_connector("salesforce", table, tmp_path / "config.toml")
    with pytest.raises(AuthError) as info:
        conn.streams()
    text = str(info.value)
    assert "{content}" not in text and "Response content" not in text
    assert re.search(r"refused the login \(\w+: [A-Za-z]", text), text
    assert "not-the-password" not in text


def test_a_hard_delete_is_found_by_the_next_night_with_default_settings(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """A record deleted and purged from the recycle bin before the next night (queryAll no
    longer shows it) is marked deleted by that night, without --full; a night without
    deletions checks each object with one SELECT Id call (its totalSize)."""
    with new_archive(tmp_path) as archive:
        assert sync(archive, sandbox, tmp_path).status == "ok"
        sf = direct_sdk(sandbox)
        victim = sf.query("SELECT Id FROM Allergy__c LIMIT 1")["records"][0]["Id"]
        sf.restful(f"sobjects/Allergy__c/{victim}", method="DELETE")
        with sandbox.salesforce.lock:  # emptied from the recycle bin at once (a hard delete)
            sandbox.salesforce.store.remove("Allergy__c", victim)
        assert not sf.query_all(f"SELECT Id FROM Allergy__c WHERE Id = '{victim}'",
                                include_deleted=True)["records"]
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "ok", report.stats()
        streams = {r.stream: r for r in report.sources[0].streams}
        assert streams["Allergy__c"].deletions_checked and not streams["Allergy__c"].reconciled
        assert streams["Allergy__c"].deleted == 1
        assert streams["Allergy__c"].id_check_deleted == [victim]
        assert victim not in archive.record_ids("salesforce", "Allergy__c")
        assert sum(r.deleted for r in streams.values()) == 1
        sandbox.log.clear()
        idle = sync(archive, sandbox, tmp_path)
        assert all(r.deletions_checked and r.deleted == 0 for r in idle.sources[0].streams)
        # a query and a count per object, no more
        assert sandbox.log.count("salesforce", "query") <= 2 * len(OBJECTS)
        assert sandbox.log.count("salesforce", "query_more") == 0


def test_describes_are_cached_in_the_archive_and_revalidated(sandbox: Sandbox,
                                                             tmp_path: Path) -> None:
    """Describes are kept in the archive: a night that asks for the object list (every
    night here: the id-check cadence at every run) and finds it Not Modified (304) reads no
    describe; after an admin changes an object, each describe is revalidated
    (If-Modified-Since) and the changed one archived."""

    def cadence_night() -> SyncReport:
        return run_sync(archive, {"salesforce": connector(sandbox, tmp_path)},
                        reconcile_every_runs=1)

    with new_archive(tmp_path) as archive:
        assert cadence_night().status == "ok"
        sandbox.log.clear()
        assert cadence_night().status == "ok"
        assert sandbox.log.count("salesforce", "describe") == 0
        assert sandbox.log.count("salesforce", "describe_global") == 1
        sandbox.salesforce.relabel("Care_Plan__c", "Plan of Care")
        # HTTP dates have whole seconds and the validator is a second before the read: a
        # read in the same second as a change is revalidated once more the next night
        time.sleep(1.1)
        assert cadence_night().status == "ok"
        assert archive.get_schema("salesforce", "Care_Plan__c")["label"] == "Plan of Care"
        assert archive.get_schema("salesforce", "Account")["label"] == "Client"
        sandbox.log.clear()
        assert cadence_night().status == "ok"  # cached again
        assert sandbox.log.count("salesforce", "describe") == 0
        assert archive.get_schema("salesforce", "Care_Plan__c")["label"] == "Plan of Care"


def test_an_age_that_changes_with_the_date_is_archived_the_next_night(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Age__c is FLOOR((TODAY() - Birthdate__c) / 365.2425): a client's birthday changes it
    without moving SystemModstamp. The next normal night archives the new age (a new
    version of that client only), with the calculated fields read in few calls."""
    import datetime as dt

    with new_archive(tmp_path) as archive:
        assert sync(archive, sandbox, tmp_path).status == "ok"
        sf = direct_sdk(sandbox)
        rows = sf.query("SELECT Id, Birthdate__c, Age__c, SystemModstamp FROM Account "
                        "WHERE Birthdate__c != null")["records"]
        today = sandbox.agency.now.date()

        def next_birthday(born: str) -> dt.date:
            b = dt.date.fromisoformat(born)
            for year in (today.year, today.year + 1):
                try:
                    day = b.replace(year=year)
                except ValueError:  # 29 February
                    day = dt.date(year, 3, 1)
                if day > today:
                    return day
            raise AssertionError(born)

        soonest = min(rows, key=lambda r: next_birthday(r["Birthdate__c"]))
        birthday = next_birthday(soonest["Birthdate__c"])
        turning = {r["Id"] for r in rows if next_birthday(r["Birthdate__c"]) == birthday}
        sandbox.salesforce.today = birthday  # the night of the birthday
        after = {r["Id"]: r for r in sf.query_all(
            "SELECT Id, Age__c, SystemModstamp FROM Account")["records"]}
        for row in rows:
            grew = after[row["Id"]]["Age__c"] != row["Age__c"]
            assert grew == (row["Id"] in turning)
            assert after[row["Id"]]["SystemModstamp"] == row["SystemModstamp"]
        sandbox.log.clear()
        report = sync(archive, sandbox, tmp_path)
        assert report.status == "ok", report.stats()
        accounts = next(s for s in report.sources[0].streams if s.stream == "Account")
        assert accounts.changed == len(turning) and accounts.new == 0
        current = dict(archive.records("salesforce", "Account"))
        for rid in turning:
            assert current[rid]["Age__c"] == after[rid]["Age__c"]
        # the counts and the first pages of the calculated fields came together, five
        # queries to a Composite call
        assert sandbox.log.count("salesforce", "composite_request") <= -(-len(OBJECTS) // 5)
        assert sandbox.log.count("salesforce", "query") <= len(OBJECTS)
        assert_matches(archive, reference(sandbox))  # every field, the formulas too
