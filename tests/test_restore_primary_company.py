"""A HubSpot -> HubSpot copy keeps which company is each contact's primary one (HubSpot's
association type 1, contact -> company "Primary"), and --verify notices when it is lost.

Both portals are read only through the HubSpot SDK (v4 associations with their types)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from sandbox import Sandbox
from tests.restore_support import hubspot_client, synced_archive, target_writer
from tests.target_census import hubspot_target

PRIMARY = 1  # HubSpot-defined contact -> company type "Primary"


def _primaries(sb: Sandbox) -> dict[str, set[str]]:
    """Contact id -> the ids of the companies it is associated with as its primary one."""
    api = hubspot_client(sb).crm.associations.v4.basic_api
    out: dict[str, set[str]] = {}
    for row in hubspot_target(sb, "contacts"):
        body = json.loads(api.get_page("contacts", row.target_id, "companies",
                                       _preload_content=False).data)
        out[row.target_id] = {str(a["toObjectId"]) for a in body["results"]
                              if PRIMARY in [t["typeId"] for t in a["associationTypes"]]}
    return out


def _copy(tmp: Path, src: Sandbox, dst: Sandbox) -> tuple[Any, Any]:
    with synced_archive(tmp, src, "hubspot") as archive:
        writer = target_writer(tmp, dst, "hubspot")
        report = run_restore(archive, writer, load_mapping("hubspot_to_hubspot"), target="t")
        check = verify_restore(archive, writer, load_mapping("hubspot_to_hubspot"),
                               target="t")
    return report, check


def test_hubspot_copy_keeps_each_contacts_primary_company(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=61) as src, Sandbox(clients=0, seed=62) as dst:
        source = _primaries(src)
        assert sum(1 for got in source.values() if got) >= 3
        report, check = _copy(tmp_path, src, dst)
        assert report.status == "ok", report.errors[:3]
        assert check.record_rate == 100.0 and not check.mismatches, check.mismatches[:3]

        contacts = {r.source_id: r.target_id for r in hubspot_target(dst, "contacts")}
        companies = {r.source_id: r.target_id for r in hubspot_target(dst, "companies")}
        copied = _primaries(dst)
        for contact, primary in source.items():
            mine = contacts[f"hubspot/contacts/{contact}"]
            assert copied[mine] == {companies[f"hubspot/companies/{c}"] for c in primary}

        # the label lost in the target (the pair associated again without it): verify says so
        lost = next(c for c, got in copied.items() if got)
        company = next(iter(copied[lost]))
        api = hubspot_client(dst).crm.associations.v4.basic_api
        api.archive("contacts", lost, "companies", company)
        api.create_default("contacts", lost, "companies", company)
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
            again = verify_restore(archive, target_writer(tmp_path, dst, "hubspot"),
                                   load_mapping("hubspot_to_hubspot"), target="t")
        assert [(m.object, m.target_id, m.field) for m in again.mismatches] == [
            ("contacts", lost, "primary company")]
