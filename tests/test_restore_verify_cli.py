"""`exporter restore --verify` as the office manager runs it, through the CLI with a real
config file, into sandbox targets read only through the vendor SDKs: what it says when the
restore was right, and in how many words when it was not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce
from tests.target_census import hubspot_custom_objects

FAST_RETRY = {"attempts": 2, "base_delay": 0.01, "max_delay": 0.05}


def _office(tmp: Path, src: Sandbox, source: str, **targets: dict[str, Any]) -> Path:
    """A synced archive of ``src``'s ``source`` and a config file naming ``targets``."""
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    archive.close()
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key"), write=True) as archive:
        table = src.source_configs(tmp / "s1")[source]
        assert run_sync(archive, {source: build_connector(
            source, table, tmp / "c.toml")}).status == "ok"
    config = tmp / "config.toml"
    config.write_text(tomli_w.dumps({
        "archive": {"path": str(tmp / "a.db"), "key_file": str(tmp / "a.key")},
        "targets": targets}), encoding="utf-8")
    config.chmod(0o600)
    return config


def _restore(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["restore", *args], env={"EXPORTER_CONFIG": str(config)})


def test_verify_of_an_org_without_allergies_into_a_new_portal(tmp_path: Path) -> None:
    """An org that keeps no allergies (or care tasks) in Salesforce: nothing to restore, so
    the portal gets no `allergies` object, and --verify must not stop on it (it answered
    exit 12, "run again", every time: HubSpot answers 400, not 404, for an object type it
    does not have)."""
    with Sandbox(clients=3, seed=81, vendors=["salesforce"]) as src, \
            Sandbox(clients=0, seed=82, vendors=["hubspot"]) as portal:
        sf = salesforce(src)
        for r in sf.query_all("SELECT Id FROM Allergy__c")["records"]:
            sf.Allergy__c.delete(r["Id"])
        config = _office(tmp_path, src, "salesforce", hubspot={
            **portal.source_configs(tmp_path / "s2")["hubspot"], "retry": FAST_RETRY})

        run = _restore(config, "--to", "hubspot", "--mapping", "salesforce_to_hubspot",
                       "--verify")
        assert run.exit_code == 0, run.output
        assert "Verify: " in run.output and "(100.0%)" in run.output
        assert "allergies" not in hubspot_custom_objects(portal)
        assert "medications" in hubspot_custom_objects(portal)


def test_a_long_note_the_org_refuses_is_named_in_a_line_not_a_screenful(
        tmp_path: Path) -> None:
    """A visit log longer than a Salesforce Task's Description (32,000 characters) is left
    out and reported; the mismatch line --verify prints shows its beginning and its
    length (it printed all 40,000 characters, twice as many lines per mismatch)."""
    import json

    from hubspot.crm.objects import SimplePublicObjectInputForCreate

    from tests.restore_support import hubspot_client
    from tests.target_census import hubspot_rows

    with Sandbox(clients=1, seed=83, vendors=["hubspot"]) as src, \
            Sandbox(clients=0, seed=84, vendors=["salesforce"]) as org:
        client = next(c for c in hubspot_rows(src, "contacts", ["relationship"])
                      if c["properties"]["relationship"] == "Client")
        body = "Visit log. " + "Ate lunch, walked in the garden, mood bright. " * 800
        note = json.loads(hubspot_client(src).crm.objects.basic_api.create(
            "notes", SimplePublicObjectInputForCreate(
                properties={"hs_note_body": body, "hs_timestamp": "2026-12-01T10:00:00Z"},
                associations=[{"to": {"id": client["id"]}, "types": [{
                    "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]),
            _preload_content=False).data)
        config = _office(tmp_path, src, "hubspot", org={
            **org.source_configs(tmp_path / "s2")["salesforce"], "retry": FAST_RETRY})

        run = _restore(config, "--to", "org", "--mapping", "hubspot_to_salesforce",
                       "--verify")
        assert run.exit_code == 11, run.output  # partial: one field left out, reported
        line = next(ln for ln in run.output.splitlines()
                    if ln.startswith(f"  Task {note['id']}: Description: "))
        assert len(line) < 300, len(line)
        assert f"({len(body):,} characters)" in line and line.endswith("found None")
        assert max(len(ln) for ln in run.output.splitlines()) < 400


def test_a_misspelt_field_to_roll_back_is_said_before_anything_is_written(
        tmp_path: Path) -> None:
    """`--fields Phne` rolled nothing back and the run ended "0 updated", exit 0: the office
    manager believed the phone numbers were back. Now it stops at once with the nearest
    name (exit 3, as a misspelt --only does) and writes nothing."""
    with Sandbox(clients=3, seed=85, vendors=["salesforce"]) as sb:
        config = _office(tmp_path, sb, "salesforce", org={
            **sb.source_configs(tmp_path / "s2")["salesforce"], "retry": FAST_RETRY})
        sf = salesforce(sb)
        account = sf.query("SELECT Id, Phone FROM Account LIMIT 1")["records"][0]
        sf.Account.update(account["Id"], {"Phone": "000"})  # a bad import
        same = ["--to", "org", "--mapping", "salesforce_to_salesforce"]

        typo = _restore(config, *same, "--fields", "Phne")
        assert typo.exit_code == 3, typo.output
        assert "--fields Phne" in typo.output and "Phone" in typo.output
        assert "Traceback" not in typo.output
        assert sf.Account.get(account["Id"])["Phone"] == "000"

        done = _restore(config, *same, "--fields", "Phone")
        assert done.exit_code == 0, done.output
        assert sf.Account.get(account["Id"])["Phone"] == account["Phone"]
