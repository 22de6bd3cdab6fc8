"""Same-vendor restore, the most common bad day: records deleted from the org or portal
(a mass delete) come back from the archive with their children relinked, the records
still there are left alone, and --fields rolls values back after a dry-run diff.

The org and portal are compared before and after only through the vendor SDKs, by what
identifies a record to the agency (client number, names), never by exporter code."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import hubspot_client, salesforce
from tests.target_census import duplicates, hubspot_rows, salesforce_rows, sha

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}
CHILDREN = ("Care_Plan__c", "Medication__c", "Allergy__c", "Diagnosis__c", "Care_Task__c",
            "Emergency_Contact__c")


def _archive(tmp: Path, sb: Sandbox, vendor: str) -> None:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive:
        table = sb.source_configs(tmp / "s1")[vendor]
        assert run_sync(archive, {vendor: build_connector(
            vendor, table, tmp / "c.toml")}).status == "ok"


def _target(tmp: Path, sb: Sandbox, vendor: str) -> dict[str, Any]:
    return {**sb.source_configs(tmp / "s2")[vendor], "retry": FAST_RETRY}


def _restore(tmp: Path, sb: Sandbox, vendor: str, mapping: str, **kw: Any) -> Any:
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key"), write=True) as archive:
        return run_restore(archive, build_writer("same", _target(tmp, sb, vendor),
                                                 tmp / "c.toml"),
                           load_mapping(mapping), target="same", **kw)


def _org(sb: Sandbox) -> Counter[tuple[Any, ...]]:
    """The org as the agency knows it: each client with its physician's name, each child
    record by its client's number and name."""
    state: Counter[tuple[Any, ...]] = Counter()
    for r in salesforce_rows(sb, "Account", ["Client_Number__c", "Name",
                                             "Primary_Physician__r.Name"]):
        state[("Account", r["Client_Number__c"], r["Name"],
               (r.get("Primary_Physician__r") or {}).get("Name"))] += 1
    for obj in CHILDREN:
        for r in salesforce_rows(sb, obj, ["Name", "Client__r.Client_Number__c"]):
            state[(obj, r["Client__r"]["Client_Number__c"], r["Name"])] += 1
    return state


def _documents(sb: Sandbox) -> Counter[tuple[Any, ...]]:
    """Each document by its client's number, title and the SHA-256 of its bytes."""
    numbers = {r["Id"]: r["Client_Number__c"]
               for r in salesforce_rows(sb, "Account", ["Client_Number__c"])}
    sf = salesforce(sb)
    return Counter((numbers.get(r["FirstPublishLocationId"]), r["Title"], sha(sf.session.get(
        f"{sf.base_url}sobjects/ContentVersion/{r['Id']}/VersionData", headers=sf.headers,
        timeout=30).content)) for r in salesforce_rows(sb, "ContentVersion",
                                                       ["Title", "FirstPublishLocationId"]))


def test_salesforce_mass_delete_comes_back_and_fields_roll_back(tmp_path: Path) -> None:
    with Sandbox(clients=5, seed=21) as sb:
        _archive(tmp_path, sb, "salesforce")
        before = _org(sb)
        documents = _documents(sb)
        sf = salesforce(sb)
        gone = sf.query("SELECT Id, Primary_Physician__c FROM Account ORDER BY Id LIMIT 1"
                        )["records"][0]
        sf.Account.delete(gone["Id"])  # its care plan, medications, tasks... go with it
        sf.Physician__c.delete(gone["Primary_Physician__c"])  # other clients lose theirs
        kept = sf.query("SELECT Id, Phone, Name FROM Account ORDER BY Id DESC LIMIT 1"
                        )["records"][0]
        sf.Account.update(kept["Id"], {"Phone": "000", "Name": "Changed Since"})
        assert _org(sb) != before

        report = _restore(tmp_path, sb, "salesforce", "salesforce_to_salesforce")
        assert report.status == "ok", report.errors[:3]
        assert report.total("created") > 3 and report.total("unchanged") > 20
        after = _org(sb)
        renamed = {k for k in before if k[0] == "Account" and k[2] == kept["Name"]}
        assert after - before == Counter({(k[0], k[1], "Changed Since", k[3]): 1
                                          for k in renamed})  # left as it is
        assert before - after == Counter(renamed)  # nothing else missing or duplicated
        assert _documents(sb) == documents  # each under its client, byte for byte
        rows = salesforce_rows(sb, "Account", ["Exporter_Source_Id__c"])
        assert duplicates(r["Exporter_Source_Id__c"] for r in rows) == 0
        assert f"salesforce/Account/{gone['Id']}" in {r["Exporter_Source_Id__c"] for r in rows}
        again = _restore(tmp_path, sb, "salesforce", "salesforce_to_salesforce")
        assert (again.total("created"), again.total("updated")) == (0, 0)

        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"same": _target(tmp_path, sb, "salesforce")}}), encoding="utf-8")
        config.chmod(0o600)
        args = ["restore", "--to", "same", "--mapping", "salesforce_to_salesforce",
                "--fields", "Phone"]
        plan = CliRunner().invoke(cli, [*args, "--dry-run"],
                                  env={"EXPORTER_CONFIG": str(config)})
        assert plan.exit_code == 0, plan.output
        assert f"Phone: '000' -> '{kept['Phone']}'" in plan.output
        assert "Name:" not in plan.output  # only the fields named
        assert sf.Account.get(kept["Id"])["Phone"] == "000"  # a dry run writes nothing
        done = CliRunner().invoke(cli, args, env={"EXPORTER_CONFIG": str(config)})
        assert done.exit_code == 0, done.output
        now = sf.Account.get(kept["Id"])
        assert (now["Phone"], now["Name"]) == (kept["Phone"], "Changed Since")
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
            check = verify_restore(archive, build_writer("same", _target(
                tmp_path, sb, "salesforce"), tmp_path / "c.toml"),
                load_mapping("salesforce_to_salesforce"), target="same")
        assert {m.field for m in check.mismatches} == {"Name"}  # the one kept change
        assert not any(check.extras.values())


def _portal(sb: Sandbox) -> dict[str, Any]:
    """Each contact by name and email, with the subjects/bodies of what is associated."""
    contacts = hubspot_rows(sb, "contacts", ["firstname", "lastname", "email"],
                            ["notes", "tasks"])
    names = Counter((c["properties"]["firstname"], c["properties"]["lastname"],
                     c["properties"].get("email")) for c in contacts)
    linked = {(c["properties"]["firstname"], c["properties"]["lastname"]): sorted(
        str(a["id"]) for kind in ("notes", "tasks") for a in
        ((c.get("associations") or {}).get(kind) or {}).get("results", []))
        for c in contacts}
    return {"names": names, "linked": linked}


def test_hubspot_mass_delete_comes_back_with_its_notes_and_tasks(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=22) as sb:
        sb.hubspot.without_property("source_record_id")
        _archive(tmp_path, sb, "hubspot")
        before = _portal(sb)
        client = hubspot_client(sb)
        files = len(client.files.files_api.do_search(limit=100).results)
        victims = [c for c in hubspot_rows(sb, "contacts", ["relationship"], ["notes"])
                   if c["properties"]["relationship"] == "Client"][:2]
        for v in victims:
            client.crm.objects.basic_api.archive("contacts", v["id"])
        assert _portal(sb) != before

        plan = _restore(tmp_path, sb, "hubspot", "hubspot_to_hubspot", dry_run=True)
        assert sum(o.created for o in plan.objects if o.object == "contacts") == 2
        report = _restore(tmp_path, sb, "hubspot", "hubspot_to_hubspot")
        assert report.status == "ok", report.errors[:3]
        assert _portal(sb) == before  # the same people, each with the same notes and tasks
        # the notes the portal kept keep their attachments: no file is uploaded again
        assert len(client.files.files_api.do_search(limit=100).results) == files
        again = _restore(tmp_path, sb, "hubspot", "hubspot_to_hubspot")
        assert (again.total("created"), again.total("updated")) == (0, 0)
        with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key")) as archive:
            check = verify_restore(archive, build_writer("same", _target(
                tmp_path, sb, "hubspot"), tmp_path / "c.toml"),
                load_mapping("hubspot_to_hubspot"), target="same")
        assert check.record_rate == 100.0 and check.stale_links == 0, check.mismatches[:3]
        assert not any(check.duplicates.values())
