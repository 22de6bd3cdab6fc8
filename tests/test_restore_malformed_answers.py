"""A restore target's write answers spoiled on the wire (the sandbox's ``rewrite`` fault,
applied after the emulator has written the records): a result missing, ids of the wrong
type, results for records never sent, a body of another shape, a cut body, a 200 with an
error body, a 5xx storm, 429s without Retry-After. Each run ends handled (a report or one of
exporter's errors, never a TypeError), the id map never points at a wrong record (each
target id is the record that carries that source id), and a re-run completes without
duplicates, checked through the vendor SDKs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.archive import Archive
from exporter.errors import SourceError
from exporter.restore import load_mapping, run_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.target_census import KEY_HS, KEY_SF, duplicates, hubspot_rows, salesforce_rows

FAST_RETRY = {"base_delay": 0.01, "max_delay": 0.05}
#: The record writes: Salesforce's sObject Collections (one alone, or five in a Composite
#: call), HubSpot's batch create and upsert of records (not of properties).
WRITES = {"salesforce": r"composite(/sobjects)?$|composite/sobjects/",
          "hubspot": r"objects/[^/]+/batch/(create|upsert)"}
CHECKED = {"salesforce": ("Account", "Physician__c", "Emergency_Contact__c", "Care_Plan__c"),
           "hubspot": ("contacts", "companies", "care_recipients")}


def _each_result(body: bytes, change: Callable[[list[Any]], Any]) -> bytes:
    """``body`` with every list of per-record results passed through ``change``."""
    doc = json.loads(body)
    if isinstance(doc, list):
        doc = change(doc)
    elif isinstance(doc, dict) and isinstance(doc.get("compositeResponse"), list):
        for sub in doc["compositeResponse"]:
            if isinstance(sub.get("body"), list):
                sub["body"] = change(sub["body"])
    elif isinstance(doc, dict) and isinstance(doc.get("results"), list):
        doc["results"] = change(doc["results"])
    return json.dumps(doc).encode()


def _ids(value: Any) -> Callable[[list[Any]], list[Any]]:
    return lambda rows: [{**r, "id": value} if isinstance(r, dict) else r for r in rows]


def _foreign(rows: list[Any]) -> list[Any]:  # results for records never sent
    return [*rows, {"id": "001Dn000000999ZAAQ", "success": True, "errors": [], "created": True,
                    "properties": {KEY_HS: "salesforce/Account/never-sent"}}]


SPOILS: dict[str, Callable[[bytes], bytes]] = {
    "drop-first": lambda b: _each_result(b, lambda rows: rows[1:]),
    "null-ids": lambda b: _each_result(b, _ids(None)),
    "list-ids": lambda b: _each_result(b, _ids([1, 2])),
    "one-id-for-all": lambda b: _each_result(b, _ids("001Dn0000001234AAA")),
    "text-results": lambda b: _each_result(b, lambda rows: ["ok"] * len(rows)),
    "results-not-a-list": lambda b: _each_result(b, lambda rows: {"oops": len(rows)}),
    "foreign-results": lambda b: _each_result(b, _foreign),
    "truncated": lambda b: b[: len(b) // 2],
    "error-200": lambda b: b'{"status": "error", "message": "internal", "errors": "x"}',
    "a-list": lambda b: b"[1, 2]",
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, Path]]:
    tmp = tmp_path_factory.mktemp("malformed")
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive, Sandbox(clients=2, seed=41) as src:
        for vendor in ("salesforce", "hubspot"):
            table = src.source_configs(tmp / "s")[vendor]
            report = run_sync(archive, {vendor: build_connector(vendor, table,
                                                                tmp / "c.toml")})
            assert report.status == "ok"
        yield archive, tmp


def _restore(archive: Archive, dst: Sandbox, vendor: str, target: str, tmp: Path) -> Any:
    source = "hubspot" if vendor == "salesforce" else "salesforce"
    table = {**dst.source_configs(tmp / target)[vendor], "retry": FAST_RETRY}
    with build_writer(target, table, tmp / "c.toml") as writer:
        return run_restore(archive, writer, load_mapping(f"{source}_to_{vendor}"),
                           target=target)


def _check_target(archive: Archive, dst: Sandbox, vendor: str, target: str) -> None:
    """Every id-map row points at the record carrying its source id; no source id twice."""
    source = "hubspot" if vendor == "salesforce" else "salesforce"
    rows = archive.id_map(target)
    assert rows and all(r.target_id for r in rows), "a pending row left after a clean run"
    for obj in CHECKED[vendor]:
        if vendor == "salesforce":
            held = {r["Id"]: r[KEY_SF] for r in salesforce_rows(dst, obj, [KEY_SF])}
        else:
            held = {r["id"]: r["properties"].get(KEY_HS) for r in hubspot_rows(dst, obj,
                                                                               [KEY_HS])}
        assert duplicates(held.values()) == 0, obj
        mine = [r for r in rows if r.target_object == obj]
        assert mine, obj
        for r in mine:
            assert held.get(str(r.target_id)) == f"{source}/{r.stream}/{r.source_id}", \
                (obj, r)


_counter = iter(range(10**6))


def _one_spoiled_restore(synced: tuple[Archive, Path], vendor: str, spoil: str,
                         after: int) -> None:
    archive, tmp = synced
    target = f"{vendor}-{spoil}-{after}-{next(_counter)}"
    with Sandbox(clients=0, seed=42, vendors=(vendor,)) as dst:
        fault = dst.faults.add(vendor, "rewrite", path=WRITES[vendor], after=after,
                               rewrite=SPOILS[spoil])
        try:
            first = _restore(archive, dst, vendor, target, tmp)
        except SourceError:
            first = None  # stopped with a plain message: resumable
        assert fault.fired == 1
        if first is not None:
            assert first.status in ("ok", "partial", "failed")
        again = _restore(archive, dst, vendor, target, tmp)
        assert again.status == "ok", again.errors[:3]
        _check_target(archive, dst, vendor, target)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spoil=st.sampled_from(sorted(SPOILS)), after=st.integers(0, 3))
@example(spoil="drop-first", after=0)
@example(spoil="null-ids", after=0)
@example(spoil="text-results", after=1)
def test_salesforce_write_answers_spoiled(synced: tuple[Archive, Path], spoil: str,
                                          after: int) -> None:
    _one_spoiled_restore(synced, "salesforce", spoil, after)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spoil=st.sampled_from(sorted(SPOILS)), after=st.integers(0, 3))
@example(spoil="null-ids", after=0)
@example(spoil="results-not-a-list", after=1)
@example(spoil="one-id-for-all", after=0)
def test_hubspot_write_answers_spoiled(synced: tuple[Archive, Path], spoil: str,
                                       after: int) -> None:
    _one_spoiled_restore(synced, "hubspot", spoil, after)


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_a_5xx_storm_and_429s_without_retry_after_end_handled_and_resume(
        synced: tuple[Archive, Path], vendor: str) -> None:
    archive, tmp = synced
    target = f"{vendor}-storm"
    with Sandbox(clients=0, seed=43, vendors=(vendor,)) as dst:
        dst.faults.add(vendor, "rate_limit", path=WRITES[vendor], times=3)  # no Retry-After
        storm = dst.faults.add(vendor, "server_error", path=WRITES[vendor], after=1,
                               times=-1, status=503)
        try:
            first = _restore(archive, dst, vendor, target, tmp)
            assert first.status in ("partial", "failed") and first.errors
            assert all("503" in e.message for e in first.errors if e.message)
            # each refusal names its client (a client's own record: itself)
            clients = [e for e in first.errors if e.stream in ("Account", "contacts")]
            assert clients and all(re.fullmatch(r".+ \(C-\d+\)", e.client) for e in clients)
        except SourceError as exc:
            assert "unexpected" not in str(exc)
        assert storm.fired > 1
        dst.faults.clear()
        again = _restore(archive, dst, vendor, target, tmp)
        assert again.status == "ok", again.errors[:3]
        _check_target(archive, dst, vendor, target)


@pytest.mark.parametrize(("vendor", "path", "spoil"), [
    ("hubspot", r"crm/v3/properties/companies$", "text-results"),  # the describe
    ("hubspot", r"account-info", "a-list"),  # the portal id
    ("salesforce", r"composite$", "text-results"),  # the describes, five to a call
    ("salesforce", r"tooling/composite", "error-200"),  # the fields made
])
def test_a_spoiled_answer_outside_the_writes_stops_plainly_and_resumes(
        synced: tuple[Archive, Path], vendor: str, path: str, spoil: str) -> None:
    archive, tmp = synced
    target = f"{vendor}-setup-{spoil}"
    with Sandbox(clients=0, seed=44, vendors=(vendor,)) as dst:
        fault = dst.faults.add(vendor, "rewrite", path=path, rewrite=SPOILS[spoil])
        try:
            first = _restore(archive, dst, vendor, target, tmp)
            assert first.status in ("ok", "partial"), first.errors[:3]
        except SourceError as exc:
            assert re.search("unexpected shape|malformed|did not say", str(exc)), exc
        assert fault.fired == 1
        again = _restore(archive, dst, vendor, target, tmp)
        assert again.status == "ok", again.errors[:3]
        _check_target(archive, dst, vendor, target)
