"""Every table and key of the config file is declared: a mistyped one is refused by name,
with the nearest known one, before the nightly job trusts the file; docs/settings.md is
generated from the same declarations."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from exporter.archive import Archive
from exporter.config_schema import settings_document
from exporter.keys import KeyFile
from sandbox import Sandbox
from tests.conftest import Cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def _edit(cli_: Cli, change: str) -> None:
    data = tomllib.loads(cli_.config.read_text(encoding="utf-8"))
    if change == "[source.hubspot]":
        data["source"] = {"hubspot": data["sources"].pop("hubspot")}
    elif change == "[notfy]":
        data["notfy"] = {"to": ["office@sunrise-homecare.example"]}
    elif change == "usernme":
        data["sources"]["salesforce"]["usernme"] = data["sources"]["salesforce"].pop("username")
    elif change == "stale_after_hour":
        data["archive"]["stale_after_hour"] = 24
    cli_.config.write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("change,table,key,suggestion", [
    ("[source.hubspot]", "", "[source]", "did you mean sources?"),
    ("[notfy]", "", "[notfy]", "did you mean notify?"),
    ("usernme", "[sources.salesforce]", "'usernme'", "did you mean username?"),
    ("stale_after_hour", "[archive]", "'stale_after_hour'", "did you mean stale_after_hours?"),
])
def test_an_unknown_table_or_key_stops_check_and_sync(
        run_cli: Cli, change: str, table: str, key: str, suggestion: str) -> None:
    """``check`` refuses every one (exit 3). ``sync`` refuses a misspelt table name or core
    key outright, but a misspelt key inside one source's table skips that source only: the
    other sources are archived and the run ends partial (exit 11)."""
    from sandbox.cli import merge_sources_into_config

    one_source = change == "usernme"
    with Sandbox(clients=2, seed=3, vendors=["salesforce", "hubspot"]) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        assert run_cli("check").exit_code == 0
        _edit(run_cli, change)
        for command in ("check", "sync"):
            result = run_cli(command)
            expected = 11 if one_source and command == "sync" else 3
            assert result.exit_code == expected, (command, result.output)
            text = " ".join(result.output.split())
            assert key in text and suggestion in text and table in text, (command, text)
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        runs = [r for r in arc.runs() if r.kind == "sync"]
        if not one_source:
            assert runs == []  # nothing half done
        else:
            assert [r.status for r in runs] == ["partial"]
            assert arc.record_ids("hubspot", "contacts")  # the other source was archived
            assert not arc.record_ids("salesforce", "Contact")


def test_docs_settings_md_is_generated_from_the_declarations() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_document(), (
        "docs/settings.md is stale: run 'exporter connectors --settings --markdown > "
        "docs/settings.md'")


def test_every_connector_and_target_declares_its_settings() -> None:
    from exporter.plugin import CONNECTORS, TARGETS, load_plugins

    for group in (CONNECTORS, TARGETS):
        loaded = load_plugins(group)
        assert not loaded.problems
        for name, cls in loaded.classes.items():
            assert cls.settings, f"{name} declares no settings"
            for s in cls.settings:
                assert s.help, (name, s.name)
