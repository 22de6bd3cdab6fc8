"""A same-vendor rollback narrowed to one client, verified (issue 14: "with --fields,
--only or --client, it rolls back field values changed after a date"): ``exporter restore
--client X --verify`` checks the records that restore wrote, not the other clients' records,
which it leaves as they are (and does not give a source id), so it must not call them
missing or extra."""

from __future__ import annotations

from pathlib import Path

import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def test_a_rollback_of_one_client_verifies_that_clients_records(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=51) as sb:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            table = sb.source_configs(tmp_path / "s1")["salesforce"]
            assert run_sync(archive, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
        sf = salesforce(sb)
        mine, other = sf.query("SELECT Id, Phone, Client_Number__c FROM Account ORDER BY Id "
                               "LIMIT 2")["records"]
        sf.Account.update(mine["Id"], {"Phone": "000"})  # a bad import since the night
        sf.Account.update(other["Id"], {"Phone": "999"})
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"org": {**sb.source_configs(tmp_path / "s2")["salesforce"],
                                "retry": FAST_RETRY}}}), encoding="utf-8")
        config.chmod(0o600)
        done = CliRunner().invoke(cli, [
            "restore", "--to", "org", "--mapping", "salesforce_to_salesforce",
            "--client", mine["Client_Number__c"], "--verify"],
            env={"EXPORTER_CONFIG": str(config)})
        assert done.exit_code == 0, done.output
        assert sf.Account.get(mine["Id"])["Phone"] == mine["Phone"]  # rolled back
        assert sf.Account.get(other["Id"])["Phone"] == "999"  # another client's: left be
        verified = next(line for line in done.output.splitlines()
                        if line.startswith("Verify: "))
        assert "(100.0%)" in verified and "more" not in verified, verified
        assert "missing" not in done.output

        # every record given its source id by a whole restore, a narrowed verify still
        # counts only what is extra (the other clients' records are not)
        whole = CliRunner().invoke(cli, [
            "restore", "--to", "org", "--mapping", "salesforce_to_salesforce"],
            env={"EXPORTER_CONFIG": str(config)})
        assert whole.exit_code == 0, whole.output
        again = CliRunner().invoke(cli, [
            "restore", "--to", "org", "--mapping", "salesforce_to_salesforce",
            "--client", mine["Client_Number__c"], "--verify"],
            env={"EXPORTER_CONFIG": str(config)})
        verified = next(line for line in again.output.splitlines()
                        if line.startswith("Verify: "))
        assert again.exit_code == 0 and "more" not in verified, again.output


def test_verify_narrowed_to_one_client_in_another_vendor(tmp_path: Path) -> None:
    from exporter.restore import load_mapping, run_restore, verify_restore
    from exporter.restore.target import build_writer

    mapping = load_mapping("salesforce_to_hubspot")
    with Sandbox(clients=4, seed=52) as src, Sandbox(clients=0, seed=53) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            table = src.source_configs(tmp_path / "s1")["salesforce"]
            assert run_sync(archive, {"salesforce": build_connector(
                "salesforce", table, tmp_path / "c.toml")}).status == "ok"
            writer = build_writer("hs", {**dst.source_configs(tmp_path / "s2")["hubspot"],
                                         "retry": FAST_RETRY}, tmp_path / "c.toml")
            assert run_restore(archive, writer, mapping, target="hs").status == "ok"
            whole = verify_restore(archive, writer, mapping, target="hs")
            number = next(d["Client_Number__c"] for _r, d in
                          archive.records("salesforce", "Account"))
            one = verify_restore(archive, writer, mapping, target="hs", client=number)
        assert whole.record_rate == one.record_rate == 100.0
        assert 0 < one.records < whole.records
        assert not any(one.extras.values()), one.summary()  # the others are not extra
