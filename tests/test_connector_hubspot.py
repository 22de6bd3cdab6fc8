"""The HubSpot connector against the sandbox, with the real hubspot-api-client over HTTP.

Expected values come from the emulator's own store (``sb.hubspot.portal.store``), never from
the connector: every property of every object, every association edge, owner and file body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot import HubSpotWriter
from connectors.hubspot.streams import AssociationsStream, ObjectStream
from exporter.archive import Archive
from exporter.connector import Connector, order_streams
from exporter.errors import ConfigError, QuotaExhausted
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import SyncReport, run_sync
from sandbox import Sandbox
from sandbox.hubspot.files import generated_bytes
from sandbox.hubspot.objects import record_url
from sandbox.hubspot.schema import TYPES
from sandbox.hubspot.store import iso, to_ms

SRC = "hubspot"
API_NAME = {"care_recipients": "2-1234567"}


def connector(sb: Sandbox, tmp_path: Path, **extra: Any) -> Connector:
    table = {**sb.source_configs(tmp_path / "secrets")[SRC], "retry_base_delay": 0.01,
             **extra}
    return build_connector(SRC, table, tmp_path / "config.toml")


def new_archive(tmp_path: Path) -> Archive:
    arc, _recovery = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
    return arc


def sync(arc: Archive, sb: Sandbox, tmp_path: Path, full: bool = False,
         **extra: Any) -> SyncReport:
    return run_sync(arc, {SRC: connector(sb, tmp_path, **extra)}, full=full)


def versions(report: SyncReport) -> dict[str, int]:
    """new + changed + deleted per stream (the versions the run added)."""
    return {r.stream: r.new + r.changed + r.deleted for s in report.sources for r in s.streams}


def live(arc: Archive, stream: str) -> dict[str, dict[str, Any]]:
    return {rid: data for rid, data in arc.records(SRC, stream) if data is not None}


def expected_object(sb: Sandbox, tname: str, rec: Any) -> dict[str, Any]:
    store = sb.hubspot.portal.store
    out = {"id": str(rec.id),
           "properties": {name: store.value(tname, rec, name) for name in store.properties[tname]},
           "createdAt": iso(rec.created), "updatedAt": iso(rec.updated),
           "archived": rec.archived_at is not None,
           "url": record_url(sb.hubspot.portal_id, tname, rec.id)}
    if rec.archived_at is not None:
        out["archivedAt"] = iso(rec.archived_at)
    return out


def expected_edges(sb: Sandbox) -> set[str]:
    store = sb.hubspot.portal.store
    edges: set[str] = set()
    for tname, ts in store.types.items():
        for rid, rec in ts.records.items():
            if rec.archived_at is not None:
                continue
            for to_type in TYPES:
                for to_id, type_ids in store.associations(tname, rid, to_type):
                    edges.update(f"{tname}/{rid}/{to_type}/{to_id}/{t}" for t in type_ids)
    return edges


def assert_objects_match(arc: Archive, sb: Sandbox) -> None:
    """Every record of every type, field by field, live ones and archived tombstones."""
    for tname, ts in sb.hubspot.portal.store.types.items():
        archived = dict(arc.records(SRC, tname, include_deleted=True))
        live = dict(arc.records(SRC, tname))
        assert set(archived) == {str(i) for i in ts.records}, tname
        for rid, rec in ts.records.items():
            want = expected_object(sb, tname, rec)
            assert archived[str(rid)] == want, (tname, rid)
            assert (str(rid) in live) == (rec.archived_at is None), (tname, rid)


def test_full_sync_archives_every_object_edge_owner_and_file(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=15, seed=5) as sb, arc:
        conn = connector(sb, tmp_path)
        assert all(r.ok for r in conn.check())
        report = run_sync(arc, {SRC: conn})
        assert report.status == "ok", report.stats()
        assert_objects_match(arc, sb)
        # all properties: the schema archived for the run lists every definition
        schema = arc.get_schema(SRC, "contacts")
        assert {p["name"] for p in schema["properties"]} == set(
            sb.hubspot.portal.store.properties["contacts"])
        assert "object_schema" in arc.get_schema(SRC, "care_recipients")
        # a long text and a missing email come through as HubSpot sent them
        contacts = live(arc, "contacts")
        assert any(len(c["properties"]["access_notes"] or "") > 2000 for c in contacts.values())
        assert any(c["properties"]["email"] is None for c in contacts.values())

        assert set(dict(arc.records(SRC, "associations"))) == expected_edges(sb)
        edge = next(iter(live(arc, "associations").values()))
        assert {"fromObjectType", "toObjectId", "associationTypeId", "category"} <= set(edge)

        owners = dict(arc.records(SRC, "owners"))
        assert owners == {o["id"]: o for o in sb.hubspot.portal.owners}

        files = dict(arc.records(SRC, "files"))
        assert set(files) == set(sb.hubspot.portal.files)
        for fid, meta in sb.hubspot.portal.files.items():
            digest = arc.files_of(SRC, "files", fid)["content"]
            body = b"".join(arc.read_file(digest))
            assert body == generated_bytes(5, fid, meta["size"]), fid  # byte for byte
        assert max(m["size"] for m in sb.hubspot.portal.files.values()) > 5_000_000


def test_incremental_archives_exactly_the_changes(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=20, seed=7) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        store = sb.hubspot.portal.store
        before = {(t, r.id): (r.updated, r.archived_at, dict(r.props))
                  for t, ts in store.types.items() for r in ts.records.values()}

        sb.advance(3)
        changed: dict[str, int] = {}
        archived_now: list[tuple[str, int]] = []
        for (t, rid), rec in ((k, store.types[k[0]].records[k[1]]) for k in
                              ((t, r.id) for t, ts in store.types.items()
                               for r in ts.records.values())):
            old = before.get((t, rid))
            if old is None or old[0] != rec.updated or old[1] != rec.archived_at:
                changed[t] = changed.get(t, 0) + 1
            if old is not None and old[1] is None and rec.archived_at is not None:
                archived_now.append((t, rid))
                assert old[0] == rec.updated  # archiving left the modified date alone
        assert archived_now

        report = sync(arc, sb, tmp_path)
        assert report.status == "ok", report.stats()
        added = versions(report)
        for tname in TYPES:  # a version for each change, none for unchanged records
            assert added[tname] == changed.get(tname, 0), tname
        assert_objects_match(arc, sb)
        for t, rid in archived_now:  # tombstones keep the data, with archivedAt
            history = arc.history(SRC, t, str(rid))
            assert history[-1].deleted and (history[-1].data or {})["archivedAt"]
        # new records' edges, both directions (the contact -> new note edge too)
        edges = set(dict(arc.records(SRC, "associations")))
        new_notes = [r.id for r in store.types["notes"].records.values()
                     if ("notes", r.id) not in before and r.archived_at is None]
        for note in new_notes:
            for to_id, type_ids in store.associations("notes", note, "contacts"):
                assert f"notes/{note}/contacts/{to_id}/{type_ids[0]}" in edges
                back = store.associations("contacts", to_id, "notes")
                back_type = dict(back)[note][0]
                assert f"contacts/{to_id}/notes/{note}/{back_type}" in edges

        # nothing changed: nothing added, within a small request bound
        sb.log.clear()
        again = sync(arc, sb, tmp_path)
        assert again.status == "ok"
        assert sum(versions(again).values()) == 0, versions(again)
        assert sb.log.count("hubspot") <= 120, sb.log.counters

        # a hard delete (purged after archiving): found by reconciliation on a full run
        task = next(r for r in store.types["tasks"].records.values() if r.archived_at is None)
        with sb.hubspot.lock:
            del store.types["tasks"].records[task.id]
            store.types["tasks"].order.remove(task.id)
            store.version += 1
        full = sync(arc, sb, tmp_path, full=True)
        assert full.status == "ok"
        tasks = next(r for r in full.sources[0].streams if r.stream == "tasks")
        assert tasks.reconciled and tasks.deleted == 1
        assert arc.history(SRC, "tasks", str(task.id))[-1].deleted


def test_search_cap_windows_split_and_ties_stay_complete(tmp_path: Path) -> None:
    """Over 10,000 changes, 10,300 of them in ONE millisecond: windows split by time, the
    tied millisecond is paged by id, and every record arrives."""
    arc = new_archive(tmp_path)
    only: dict[str, Any] = {"objects": ["notes"], "associations": False, "owners": False,
                            "files": False}
    with Sandbox(clients=2, seed=3) as sb, arc:
        assert sync(arc, sb, tmp_path, **only).status == "ok"
        store = sb.hubspot.portal.store
        base = max(store.clock, max(r.updated for r in store.types["notes"].records.values()))
        with sb.hubspot.lock:
            for i in range(10_300):  # a bulk import: one stamp
                store.create("notes", {"hs_note_body": f"import {i}"}, base + 60_000)
            for i in range(10_300):  # a busy afternoon: spread over an hour
                store.create("notes", {"hs_note_body": f"edit {i}"}, base + 120_000 + i * 300)
        sb.log.clear()
        report = sync(arc, sb, tmp_path, **only)
        assert report.status == "ok", report.stats()
        assert versions(report)["notes"] == 20_600
        assert set(dict(arc.records(SRC, "notes"))) == {
            str(i) for i, r in store.types["notes"].records.items() if r.archived_at is None}
        refused = [e for e in sb.log.entries if e.status >= 400]
        assert not refused  # never paged past the cap
        # about one request per 200 records, plus the splits
        assert sb.log.count("hubspot", "search") <= 20_600 / 200 * 1.2 + 40


def test_search_lag_is_caught_by_the_next_run(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=10, seed=9) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        sb.advance(1)
        lag = sb.faults.add("hubspot", "search_lag", delay=2 * 3600, times=-1)
        # the edits of this step (stamped an hour ago) are still in the search index's lag
        first = sync(arc, sb, tmp_path)
        assert first.status == "ok"
        contacts = sb.hubspot.portal.store.types["contacts"].records.values()
        newest = max(contacts, key=lambda r: r.updated)
        old = json.loads(arc.current(SRC, "contacts", str(newest.id))[0] or "{}")  # type: ignore[index]
        assert old.get("updatedAt") != iso(newest.updated)  # missed by this run
        sb.faults.faults.remove(lag)  # the index catches up
        second = sync(arc, sb, tmp_path)
        assert second.status == "ok"
        assert_objects_match(arc, sb)

        # Lag as a client sees it: an edit stamped a minute BEFORE the stored cursor becomes
        # searchable only after that cursor was committed. Without a lookback it is lost.
        cursor_ms = to_ms(arc.get_cursor(SRC, "contacts"))
        store = sb.hubspot.portal.store
        late = next(r for r in contacts if r.updated < cursor_ms - 60_000
                    and r.archived_at is None)
        with sb.hubspot.lock:
            store.update("contacts", late, {"phone": "+1 555 0100"}, cursor_ms - 60_000)
            store.version += 1
        blind = sync(arc, sb, tmp_path, lookback_seconds=0)
        assert versions(blind)["contacts"] == 0  # missed: older than the cursor
        caught = sync(arc, sb, tmp_path)  # the default 300 s lookback
        assert versions(caught)["contacts"] == 1
        assert live(arc, "contacts")[str(late.id)]["properties"]["phone"] == "+1 555 0100"


@pytest.mark.parametrize(("kind", "endpoint", "extra"), [
    ("rate_limit", "objects.list", {"retry_after": 1}),
    ("rate_limit", "search", {}),
    ("server_error", "associations.batch_read", {"status": 502}),
    ("server_error", "properties", {"status": 503}),
    ("slow", "objects.list", {"delay": 0.3}),
    ("timeout", "search", {"delay": 1.5}),
    ("truncated", "objects.list", {}),
    ("truncated", "files.download", {}),
    ("malformed", "search", {}),
    ("malformed", "owners", {}),
])
def test_faults_are_survived(tmp_path: Path, kind: str, endpoint: str,
                             extra: dict[str, Any]) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=6, seed=2) as sb, arc:
        if endpoint != "files.download":  # downloads happen when the archive lacks a body
            assert sync(arc, sb, tmp_path).status == "ok"
            sb.advance(1)  # so that the incremental run searches
        fault = sb.faults.add("hubspot", kind, endpoint=endpoint, times=2, **extra)
        report = sync(arc, sb, tmp_path, timeout=1.0)
        assert report.status == "ok", report.stats()
        assert fault.fired == 2
        assert report.sources[0].usage["retries"] >= 2 or kind == "slow"
        assert_objects_match(arc, sb)


def test_a_fault_that_persists_fails_with_a_plain_sentence(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=4, seed=2) as sb, arc:
        sb.faults.add("hubspot", "server_error", endpoint="search", times=-1)
        report = sync(arc, sb, tmp_path, retry_attempts=3)
        assert report.status == "partial"
        error = report.sources[0].error or ""
        assert "kept failing after 3 tries" in error and "Traceback" not in error


def test_invalid_token_fails_the_run_and_keeps_the_archive(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=4, seed=2) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        kept = dict(arc.records(SRC, "contacts"))
        bad = tmp_path / "bad-token"
        bad.write_text("pat-na1-not-a-real-token")
        bad.chmod(0o600)
        conn = connector(sb, tmp_path, access_token={"file": str(bad)})
        checks = conn.check()
        assert not checks[0].ok and "refused the access token" in checks[0].detail
        report = run_sync(arc, {SRC: conn})
        assert report.status == "failed"
        error = report.sources[0].error or ""
        assert error.startswith("HubSpot refused the access token (401); create a new")
        assert "pat-na1" not in error
        assert dict(arc.records(SRC, "contacts")) == kept


def test_daily_limit_ends_the_run_partial(tmp_path: Path) -> None:
    arc = new_archive(tmp_path)
    with Sandbox(clients=4, seed=2) as sb, arc:
        # our reserve: stop while the agency's other tools still have calls left
        reserve = sync(arc, sb, tmp_path, daily_reserve=sb.hubspot.daily_limit - 30)
        assert reserve.status == "partial"
        assert "under the reserve" in (reserve.sources[0].error or "")
        # HubSpot's own daily 429
        sb.hubspot.daily_limit = 30
        sb.advance(1)  # a new sandbox day, 30 calls in it: past discovery, not to the end
        report = sync(arc, sb, tmp_path, daily_reserve=0)
        assert report.status == "partial"
        assert "limit for today is used up" in (report.sources[0].error or "")
        sb.hubspot.daily_limit = 1_000_000
        sb.advance(1)
        assert sync(arc, sb, tmp_path).status == "ok"  # the next day picks up
        assert_objects_match(arc, sb)


def test_reading_and_writing_share_one_quota_account(tmp_path: Path) -> None:
    """A restore after a sync counts on from the portal's daily counter the sync consumed (as
    HubSpot reports it in its headers), and stops by the same daily_reserve rule."""
    arc = new_archive(tmp_path)
    with Sandbox(clients=3, seed=5) as sb, arc:
        tables = sb.source_configs(tmp_path / "secrets")
        salesforce = build_connector("salesforce", tables["salesforce"], tmp_path / "c.toml")
        report = run_sync(arc, {"salesforce": salesforce, SRC: connector(sb, tmp_path)})
        assert report.status == "ok", report.stats()
        read = report.sources[1].usage
        limit = sb.hubspot.daily_limit
        assert read["daily_limit"] == limit
        assert read["daily_remaining"] == limit - sb.log.count("hubspot")  # all the sync used

        # the same portal as a restore target: its writer's client sees the same counter
        target = {**tables[SRC], "retry": {"base_delay": 0.01}}
        writer = build_writer("hs", target, tmp_path / "c.toml")
        assert isinstance(writer, HubSpotWriter)
        assert writer.client.quota.daily_remaining is None  # nothing asked yet
        writer.objects()
        assert writer.client.quota.daily_remaining == read["daily_remaining"] - 1

        # one rule for both: calls go on while at least daily_reserve are left, so with a
        # reserve 10 under what is left, each makes 11 calls and stops, QuotaExhausted
        left = read["daily_remaining"] - 1
        stopped = sync(arc, sb, tmp_path, daily_reserve=left - 10)
        assert "under the reserve of" in (stopped.sources[0].error or "")
        assert stopped.sources[0].usage["requests"] == 11
        assert stopped.sources[0].usage["daily_remaining"] == left - 11

        left -= 11
        restorer = build_writer("hs", {**target, "daily_reserve": left - 10}, tmp_path / "c.toml")
        assert isinstance(restorer, HubSpotWriter)
        with pytest.raises(QuotaExhausted, match="under the reserve of") as stop:
            run_restore(arc, restorer, load_mapping("salesforce_to_hubspot"), target="hs")
        assert "run the restore again tomorrow" in str(stop.value)
        assert restorer.calls() == 11
        assert restorer.client.quota.daily_remaining == left - 11 == limit - sb.log.count("hubspot")
        assert [e for e in sb.log.entries if e.status == 429] == []  # we stopped, not HubSpot

        # HubSpot's own daily 429 (policyName DAILY) stops the writer as it stops reading
        sb.hubspot.daily_limit = limit - restorer.client.quota.daily_remaining  # used up
        spent = build_writer("hs", {**target, "daily_reserve": 0}, tmp_path / "c.toml")
        with pytest.raises(QuotaExhausted, match="limit for today is used up; run the restore"):
            spent.objects()
        assert spent.calls() == 1  # not retried


def test_associations_declare_their_dependency_on_the_object_streams(tmp_path: Path) -> None:
    with Sandbox(clients=2, seed=2) as sb:
        conn = connector(sb, tmp_path, owners=False)
        discovered = conn.discover()
        assoc = next(s for s in discovered if isinstance(s, AssociationsStream))
        objects = [s.name for s in discovered if isinstance(s, ObjectStream)]
        assert set(assoc.depends_on) == set(objects) and "care_recipients" in objects
        # the order comes from the declaration, not from the order of discovery
        for given in (discovered, list(reversed(discovered))):
            ordered = [s.name for s in order_streams(given, SRC)]
            assert ordered.index("associations") > max(ordered.index(n) for n in objects)


def test_unknown_or_out_of_range_settings_are_refused(tmp_path: Path) -> None:
    with Sandbox(clients=1, seed=2, vendors=["hubspot"]) as sb:
        with pytest.raises(ConfigError, match=r"'lookback_second'.*did you mean lookback_seconds"):
            connector(sb, tmp_path, lookback_second=60)
        with pytest.raises(ConfigError, match="search_page must be at most 200"):
            connector(sb, tmp_path, search_page=500)
        target = sb.source_configs(tmp_path / "secrets")[SRC]
        with pytest.raises(ConfigError, match=r"'daily_reserv'.*did you mean daily_reserve"):
            build_writer("hs", {**target, "daily_reserv": 5}, tmp_path / "c.toml")
        with pytest.raises(ConfigError, match=r"'atempts'.*did you mean attempts"):
            build_writer("hs", {**target, "retry": {"atempts": 3}}, tmp_path / "c.toml")


def test_a_type_the_token_may_not_read_is_skipped_and_the_rest_archived(
        tmp_path: Path) -> None:
    """A portal without access to deals (HubSpot's 403 MISSING_SCOPES on every deals call):
    deals fail, every other type, edge, owner and file is archived, the run ends partial."""
    arc = new_archive(tmp_path)
    with Sandbox(clients=6, seed=3) as sb, arc:
        sb.hubspot.denied_types.add("deals")
        report = sync(arc, sb, tmp_path)
        assert report.status == "partial", report.stats()
        streams = {r.stream: r for r in report.sources[0].streams}
        assert streams["deals"].status == "failed"
        assert "403" in (streams["deals"].error or "")
        assert "required scopes" in (streams["deals"].error or "")
        assert [n for n, r in streams.items() if r.status != "ok"] == ["deals"]
        assert dict(arc.records(SRC, "deals")) == {}
        store = sb.hubspot.portal.store
        for tname, ts in store.types.items():
            if tname == "deals":
                continue
            assert set(dict(arc.records(SRC, tname, include_deleted=True))) == {
                str(i) for i in ts.records}, tname
        no_deals = {e for e in expected_edges(sb) if "deals" not in e.split("/")[0::2]}
        assert no_deals and set(dict(arc.records(SRC, "associations"))) == no_deals
        assert set(dict(arc.records(SRC, "owners")))
        assert set(dict(arc.records(SRC, "files"))) == set(sb.hubspot.portal.files)
        # the next night, with access granted: the deals and every edge to and from them
        sb.hubspot.denied_types.clear()
        report = sync(arc, sb, tmp_path)
        assert report.status == "ok", report.stats()
        assert_objects_match(arc, sb)
        assert set(live(arc, "associations")) == expected_edges(sb)


def test_associations_an_interrupted_night_left_undone_come_the_next_night(
        tmp_path: Path) -> None:
    """The associations batch read fails (500s) after the object streams committed a night's
    changes; the next normal night reads the edges of those changes too, so the archive
    equals that of a twin whose nights were never interrupted (issue 17, point 1)."""
    arc, twin = new_archive(tmp_path), Archive.create(tmp_path / "twin.db",
                                                      key_file=tmp_path / "twin.key")[0]
    with Sandbox(clients=8, seed=11) as sb, Sandbox(clients=8, seed=11) as sb2, arc, twin:
        assert sync(arc, sb, tmp_path).status == "ok"
        assert run_sync(twin, {SRC: connector(sb2, tmp_path)}).status == "ok"
        sb.advance(3)
        sb2.advance(3)
        sb.faults.add("hubspot", "server_error", endpoint="associations.batch_read",
                      status=500, times=-1)
        night = sync(arc, sb, tmp_path, retry_attempts=2)
        streams = {r.stream: r for r in night.sources[0].streams}
        assert night.status == "partial" and streams["associations"].status == "failed"
        assert streams["notes"].status == "ok" and streams["notes"].new > 0
        sb.faults.clear()
        assert run_sync(twin, {SRC: connector(sb2, tmp_path)}).status == "ok"

        nxt = sync(arc, sb, tmp_path)
        assert nxt.status == "ok", nxt.stats()
        edges = set(live(arc, "associations"))
        assert expected_edges(sb) - edges == set()
        assert edges == set(dict(twin.records(SRC, "associations")))
        # the object changes re-read for their edges add no versions: only edges are new
        assert {s: n for s, n in versions(nxt).items() if n and s != "associations"} == {}
        assert versions(nxt)["associations"] > 0
        assert arc.resume_marks(SRC) == {}


def test_an_archived_listing_that_lists_live_records_is_held(tmp_path: Path) -> None:
    """HubSpot's archived=true listing returns live records (a vendor bug seen once): the sync
    would mark nearly every contact deleted; the guard holds those deletions, the run ends
    partial saying why, nothing is marked deleted, and the next good night is ok."""
    arc = new_archive(tmp_path)
    with Sandbox(clients=20, seed=9) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        contacts = set(live(arc, "contacts"))
        sb.advance(1)
        fault = sb.faults.add("hubspot", "archived_lists_live", times=-1)
        report = sync(arc, sb, tmp_path)
        assert report.status == "partial", report.stats()
        streams = {r.stream: r for r in report.sources[0].streams}
        assert streams["contacts"].status == "failed"
        assert "max_delete_share" in (streams["contacts"].error or "")
        assert set(live(arc, "contacts")) >= contacts  # none marked deleted
        for tname in TYPES:  # every type: held, none marked deleted
            assert streams[tname].status == "failed" and streams[tname].deleted == 0, tname
        sb.faults.faults.remove(fault)
        again = sync(arc, sb, tmp_path)
        assert again.status == "ok", again.stats()
        assert_objects_match(arc, sb)


def test_a_merge_a_purge_and_an_archive_are_found_by_the_next_night(tmp_path: Path) -> None:
    """With default settings, the night after a contact merge, a GDPR delete and an archive:
    the merged-away and purged records and their edges are marked deleted, the archived one
    a tombstone with its data and its edges gone; without listing every id (the count
    matched after the merge), and with nothing the vendor did not do."""
    from hubspot.crm.contacts import PublicGdprDeleteInput, PublicMergeInput

    from tests.restore_support import hubspot_client

    arc = new_archive(tmp_path)
    with Sandbox(clients=20, seed=11) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        store = sb.hubspot.portal.store
        client = hubspot_client(sb)
        linked = [r.id for r in store.types["contacts"].records.values()
                  if r.archived_at is None and store.associations("contacts", r.id, "notes")]
        winner, loser, purged, archived = linked[:4]
        loser_edges = {k for k in dict(arc.records(SRC, "associations"))
                       if f"contacts/{loser}/" in k}  # from or to the loser
        assert loser_edges
        client.crm.contacts.basic_api.merge(public_merge_input=PublicMergeInput(
            primary_object_id=str(winner), object_id_to_merge=str(loser)))
        client.crm.contacts.basic_api.purge(
            public_gdpr_delete_input=PublicGdprDeleteInput(object_id=str(purged)))
        client.crm.contacts.basic_api.archive(contact_id=str(archived))

        sb.log.clear()
        report = sync(arc, sb, tmp_path)
        assert report.status == "ok", report.stats()
        streams = {r.stream: r for r in report.sources[0].streams}
        assert not streams["contacts"].reconciled and streams["contacts"].deletions_checked
        contacts = live(arc, "contacts")
        assert str(loser) not in contacts and str(purged) not in contacts
        assert str(archived) not in contacts and str(winner) in contacts
        assert contacts[str(winner)]["properties"]["hs_merged_object_ids"] == str(loser)
        assert sorted(streams["contacts"].id_check_deleted) == sorted([str(loser),
                                                                       str(purged)])
        assert arc.history(SRC, "contacts", str(archived))[-1].data  # kept with its data
        edges = set(dict(arc.records(SRC, "associations")))
        assert edges == expected_edges(sb)  # removed ends gone, moved edges read
        assert not edges & loser_edges
        assert_objects_match_live(arc, sb)


def assert_objects_match_live(arc: Archive, sb: Sandbox) -> None:
    """Every record the portal still holds, field by field; nothing else live."""
    for tname, ts in sb.hubspot.portal.store.types.items():
        current = dict(arc.records(SRC, tname))
        want = {str(i): expected_object(sb, tname, r) for i, r in ts.records.items()
                if r.archived_at is None}
        assert current == want, tname


def test_pages_are_read_as_raw_json_and_archived_as_sent(tmp_path: Path) -> None:
    """Listings, searches and associations are read as raw JSON, not SDK models: a field the
    SDK's models do not know (``url``) is archived as HubSpot sent it, on full and on
    incremental nights."""
    import requests

    from sandbox import CREDENTIALS

    arc = new_archive(tmp_path)
    with Sandbox(clients=10, seed=3) as sb, arc:
        assert sync(arc, sb, tmp_path).status == "ok"
        store = sb.hubspot.portal.store
        names = ",".join(store.properties["contacts"])
        wire = requests.get(f"{sb.urls['hubspot']}/crm/v3/objects/contacts",
                            params={"limit": 100, "properties": names},
                            headers={"Authorization": "Bearer "
                                     + CREDENTIALS["hubspot"]["access_token"]},
                            timeout=10).json()["results"]
        assert wire and all(o["url"].startswith("https://app.hubspot.com/") for o in wire)
        archived = live(arc, "contacts")
        for obj in wire:
            assert archived[obj["id"]] == obj  # as sent, url included
        sb.advance(2)
        assert sync(arc, sb, tmp_path).status == "ok"  # searched, not listed
        for tname, ts in store.types.items():
            for rid, data in live(arc, tname).items():
                assert data == expected_object(sb, tname, ts.records[int(rid)]), (tname, rid)
