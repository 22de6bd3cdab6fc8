"""Google -> HubSpot and Salesforce (issue 14): Calendar visits as meetings (Events) on
their client's contact (Account) and their caregiver's contact (Contact), the caregiver
roster as contacts labelled caregivers, Drive documents as notes on their client with the
file attached (ContentVersions published to the client's Account). The clients are not in
the Google archive: they must already be in the target (restored there from Salesforce or
HubSpot), and are found there by client number. Checked by tests.target_census, which
reads Google, HubSpot and Salesforce through their SDKs only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive
from exporter.errors import ParentsNotInTarget, exit_code_for
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, salesforce
from tests.target_census import (
    google_in_hubspot,
    google_in_salesforce,
    google_promises,
    hubspot_rows,
)

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
WRONG = ("duplicates", "extras", "missing", "wrong_client", "wrong_caregiver",
         "caregiver_unnamed", "caregivers_unlabelled", "roster_missing", "bad_files")


def _clients_in_portal(src: Sandbox, dst: Sandbox, leave_out: int = 0) -> list[str]:
    """The clients' contacts, as a Salesforce -> HubSpot restore leaves them (client number,
    relationship Client); the numbers of those left out."""
    clients = sorted(src.agency.clients.values(), key=lambda c: c.number)
    kept, out = clients[leave_out:], [c.number for c in clients[:leave_out]]
    _add_clients(dst, kept)
    return out


def _add_clients(dst: Sandbox, clients: list[Any]) -> None:
    hs = hubspot_client(dst)
    # written as another system would: "c00001" is the same client as "C-00001"
    hs.crm.contacts.batch_api.create({"inputs": [{"properties": {
        "firstname": c.full_name.split()[0], "lastname": c.full_name.split()[-1],
        "client_number": c.number.replace("-", "").lower() if i % 2 else c.number,
        "relationship": "Client"}} for i, c in enumerate(clients)]})


def _restore(tmp: Path, archive: Archive, dst: Sandbox, name: str = "t") -> tuple[Any, Any]:
    config = {**dst.source_configs(tmp / "s2")["hubspot"], "retry": FAST_RETRY}
    writer = build_writer(name, config, tmp / "c.toml")
    report = run_restore(archive, writer, load_mapping("google_to_hubspot"), target=name,
                         errors_path=tmp / "errors.csv")
    check = verify_restore(archive, writer, load_mapping("google_to_hubspot"), target=name)
    return report, check


def _synced(tmp: Path, src: Sandbox) -> Archive:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    table = src.source_configs(tmp / "s1")["google"]
    assert run_sync(archive, {"google": build_connector(
        "google", table, tmp / "c.toml")}).status == "ok"
    return archive


def test_google_to_hubspot_checked_independently(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=21, vendors=("google",)) as src, \
            Sandbox(clients=0, seed=22, vendors=("hubspot",)) as dst:
        missing = _clients_in_portal(src, dst, leave_out=1)
        with _synced(tmp_path, src) as archive:
            promised = google_promises(src)
            assert len(promised.visits) > 20 and promised.roster and promised.documents
            # one client is not in the portal yet: its visits and documents are written
            # without their client and reported, the rest linked
            report, _ = _restore(tmp_path, archive, dst)
            assert report.status == "partial"
            assert any(missing[0] in e.message and "Salesforce or HubSpot" in e.message
                       for e in report.errors)
            first = google_in_hubspot(dst, promised)
            assert first["missing"] == 0 and first["duplicates"] == 0
            assert first["wrong_client"] > 0  # the left-out client's visits and documents
            # the client restored since: a re-run links its records and creates nothing
            _add_clients(dst, [c for c in src.agency.clients.values()
                               if c.number == missing[0]])
            again, check = _restore(tmp_path, archive, dst)
            assert again.status == "ok" and again.total("created") == 0
            assert again.total("updated") == first["wrong_client"]
            assert check.record_rate == 100.0
            # the clients' contacts it links to are not "more contacts than restored"
            assert not any(check.extras.values()), check.summary()
            found = google_in_hubspot(dst, promised)
            assert {k: found[k] for k in WRONG} == dict.fromkeys(WRONG, 0), found
            assert found["visits"] == len(promised.visits)
            assert found["documents"] == len(promised.documents)
            assert found["caregivers"] == len(promised.roster)
            third, _ = _restore(tmp_path, archive, dst)
            assert third.total("created") == 0 and third.total("updated") == 0


def test_google_restore_needs_its_clients_in_the_target(tmp_path: Path) -> None:
    with Sandbox(clients=2, seed=23, vendors=("google",)) as src, \
            Sandbox(clients=0, seed=24, vendors=("hubspot",)) as dst:
        with _synced(tmp_path, src) as archive, pytest.raises(ParentsNotInTarget) as exc:
            _restore(tmp_path, archive, dst)
        assert exit_code_for(exc.value) == 26
        assert "restore the clients first" in str(exc.value)
        assert hubspot_rows(dst, "meetings", []) == [] and hubspot_rows(dst, "notes", []) == []
        assert Counter(r["properties"].get("relationship") for r in
                       hubspot_rows(dst, "contacts", ["relationship"])) == Counter()


# -- Google -> Salesforce ----------------------------------------------------------------

def _accounts_in_org(src: Sandbox, dst: Sandbox, clients: list[Any]) -> None:
    """The clients' Accounts, as a HubSpot -> Salesforce restore leaves them."""
    sf = salesforce(dst)
    for i, c in enumerate(clients):
        sf.Account.create({"Name": c.full_name, "Client_Number__c":
                           c.number.replace("-", "").lower() if i % 2 else c.number})


def _restore_sf(tmp: Path, archive: Archive, dst: Sandbox) -> tuple[Any, Any]:
    config = {**dst.source_configs(tmp / "s3")["salesforce"], "retry": FAST_RETRY}
    writer = build_writer("org", config, tmp / "c.toml")
    mapping = "google_to_salesforce"
    report = run_restore(archive, writer, load_mapping(mapping), target="org",
                         errors_path=tmp / "errors-sf.csv")
    return report, verify_restore(archive, writer, load_mapping(mapping), target="org")


def test_google_to_salesforce_checked_independently(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=25, vendors=("google",)) as src, \
            Sandbox(clients=0, seed=26, vendors=("salesforce",)) as dst:
        clients = sorted(src.agency.clients.values(), key=lambda c: c.number)
        _accounts_in_org(src, dst, clients[1:])
        with _synced(tmp_path, src) as archive:
            promised = google_promises(src)
            report, _ = _restore_sf(tmp_path, archive, dst)
            assert report.status == "partial"
            assert any(clients[0].number in e.message for e in report.errors)
            first = google_in_salesforce(dst, promised)
            assert first["missing"] == 0 and first["duplicates"] == 0
            assert first["wrong_client"] > 0
            _accounts_in_org(src, dst, clients[:1])
            again, check = _restore_sf(tmp_path, archive, dst)
            assert again.status == "ok" and check.record_rate == 100.0
            assert not any(check.extras.values()), check.summary()
            found = google_in_salesforce(dst, promised)
            assert {k: found[k] for k in WRONG} == dict.fromkeys(WRONG, 0), found
            assert found["visits"] == len(promised.visits)
            assert found["documents"] == len(promised.documents)
            assert found["caregivers"] == len(promised.roster)
            third, _ = _restore_sf(tmp_path, archive, dst)
            assert third.total("created") == 0 and third.total("updated") == 0
