"""Issue 11: ``check`` and ``schedule`` warn about what the scheduled job will miss: env and
keyring secrets it cannot see on this platform (cron has no session environment, a cron job
on Linux cannot open the keyring, Task Scheduler vs console variables and Credential Manager),
no [notify], no [[copies]]. Warnings never fail the command."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from exporter.config import load_config, write_config
from exporter.unattended import unattended_warnings
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli

CONFIG = """
[archive]
path = "archive.db"

[sources.hubspot]
type = "hubspot"
access_token = { env = "HUBSPOT_TOKEN" }

[sources.salesforce]
type = "salesforce"
username = "office@agency.example"
password = { keyring = "exporter/salesforce" }
security_token = { file = "secrets/sf-token.txt" }

[[copies]]
name = "b2"
url = "s3://agency/office"
access_key_id = { env = "B2_KEY_ID" }
secret_access_key = { file = "secrets/b2.txt" }

[notify]
to = ["office@sunrise-homecare.example"]
from = "exporter@sunrise-homecare.example"
smtp_host = "smtp.office365.com"
username = "exporter@sunrise-homecare.example"
password = { keyring = "exporter/smtp" }
"""


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _one(warnings: list[str], *words: str) -> str:
    found = [w for w in warnings if all(word in w for word in words)]
    assert len(found) == 1, (words, warnings)
    return found[0]


def test_under_cron_on_linux_env_and_keyring_secrets_are_named(tmp_path: Path) -> None:
    warnings = unattended_warnings(load_config(_config(tmp_path)), "linux")
    env = _one(warnings, "[sources.hubspot] access_token", "HUBSPOT_TOKEN")
    assert "does not see" in env and "cron" in env and "{ file =" in env
    _one(warnings, "[[copies]] b2 access_key_id", "B2_KEY_ID", "does not see")
    keyring = _one(warnings, "[sources.salesforce] password", "exporter/salesforce")
    assert "cannot open on Linux" in keyring and "{ file =" in keyring
    _one(warnings, "[notify] password", "exporter/smtp", "cannot open on Linux")
    assert not any("security_token" in w or "secret_access_key" in w for w in warnings)
    assert len(warnings) == 4  # [notify] and [[copies]] are there: nothing said of them


def test_on_macos_the_keychain_is_fine_but_env_is_not(tmp_path: Path) -> None:
    warnings = unattended_warnings(load_config(_config(tmp_path)), "darwin")
    assert len(warnings) == 2 and all("environment variable" in w for w in warnings)


def test_on_windows_env_must_be_saved_and_credential_manager_may_be_closed(
        tmp_path: Path) -> None:
    warnings = unattended_warnings(load_config(_config(tmp_path)), "win32")
    env = _one(warnings, "HUBSPOT_TOKEN")
    assert "setx HUBSPOT_TOKEN" in env and "console window" in env
    manager = _one(warnings, "[sources.salesforce] password", "Credential Manager")
    assert "--logged-off" in manager
    assert len(warnings) == 4


def test_no_notify_and_no_copies_are_said(tmp_path: Path) -> None:
    path = _config(tmp_path, '[archive]\npath = "archive.db"\n')
    warnings = unattended_warnings(load_config(path), "linux")
    assert len(warnings) == 2
    _one(warnings, "No one will be told", "[notify]")
    _one(warnings, "only on this computer", "[[copies]]")


def test_check_and_schedule_print_the_warnings_and_still_succeed(
        run_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(clients=2, seed=3, vendors=["hubspot"]) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        data = tomllib.loads(run_cli.config.read_text(encoding="utf-8"))
        token = data["sources"]["hubspot"]["access_token"]
        secret = Path(token["file"]).read_text(encoding="utf-8").strip()
        data["sources"]["hubspot"]["access_token"] = {"env": "EXPORTER_TEST_HS_TOKEN"}
        write_config(run_cli.config, data)
        monkeypatch.setenv("EXPORTER_TEST_HS_TOKEN", secret)
        result = run_cli("check")
        assert result.exit_code == 0, result.output  # warnings only
        text = " ".join(result.output.split())
        assert "! No one will be told" in text and "! The archive is only on this computer" in text
        assert "EXPORTER_TEST_HS_TOKEN" in text and secret not in text
        if sys.platform != "win32":
            from tests.test_schedule import Scheduler

            shown = Scheduler(run_cli, monkeypatch)("--show")
            assert shown.exit_code == 0, shown.output
            lines = " ".join(shown.output.split())
            assert "Warning: [sources.hubspot] access_token comes from the environment " \
                   "variable EXPORTER_TEST_HS_TOKEN" in lines
            assert "Warning: No one will be told" in lines
