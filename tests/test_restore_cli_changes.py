"""``exporter restore`` tells the office what it added to their CRM's own setup (issue 14:
"a value outside an option list ... is added to the option list where the target allows
it"): a client status "On hold" added to the org's status picklist, the fields and custom
objects the restore created. Before, they were only in the run's stats."""

from __future__ import annotations

from pathlib import Path

import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0}


def test_the_summary_names_the_option_and_fields_the_restore_added(tmp_path: Path) -> None:
    with Sandbox(clients=3, seed=71) as src, Sandbox(clients=0, seed=72) as dst:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            table = src.source_configs(tmp_path / "s1")["hubspot"]
            assert run_sync(archive, {"hubspot": build_connector(
                "hubspot", table, tmp_path / "c.toml")}).status == "ok"
            cid, client = next((i, c) for i, c in archive.records("hubspot", "contacts")
                               if c["properties"].get("relationship") == "Client")
            run = archive.begin_run()
            archive.put_batch(run, "hubspot", "contacts", [(cid, {**client, "properties": {
                **client["properties"], "client_status": "On hold"}})])
            archive.finish_run(run, "ok")
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({
            "archive": {"path": str(tmp_path / "a.db"), "key_file": str(tmp_path / "a.key")},
            "targets": {"org": {**dst.source_configs(tmp_path / "s2")["salesforce"],
                                "retry": FAST_RETRY}}}), encoding="utf-8")
        config.chmod(0o600)
        done = CliRunner().invoke(cli, ["restore", "--to", "org", "--mapping",
                                        "hubspot_to_salesforce"],
                                  env={"EXPORTER_CONFIG": str(config)}, terminal_width=400)
        assert done.exit_code == 0, done.output
        text = " ".join(done.output.split())
        assert "Added to org for this restore:" in text
        assert "the option 'On hold' of Account.Status__c" in text
        assert "Account.Access_Notes__c" in text  # a field the restore created
        again = CliRunner().invoke(cli, ["restore", "--to", "org", "--mapping",
                                         "hubspot_to_salesforce"],
                                   env={"EXPORTER_CONFIG": str(config)})
        assert again.exit_code == 0 and "Added to" not in again.output  # nothing new
