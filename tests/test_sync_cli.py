"""`exporter sync` and `exporter check` end to end: the sandbox cloud, the real connectors,
the command line as cron runs it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator

import pytest

from exporter.config import write_config
from sandbox import CREDENTIALS, Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli

PASSPHRASE = "correct horse battery"


@pytest.fixture
def agency(run_cli: Cli) -> Iterator[Sandbox]:
    with Sandbox(clients=6, seed=5) as sb:
        run_cli.init(passphrase=PASSPHRASE)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        text = run_cli.config.read_text()
        run_cli.config.write_text(text + f'\n[log]\ndir = "{run_cli.tmp / "logs"}"\n')
        yield sb


def test_nightly_sync_check_and_status(run_cli: Cli, agency: Sandbox) -> None:
    result = run_cli("check")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output

    result = run_cli("sync")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Not a terminal: one plain line per stream, then the verdict.
    assert any(line.startswith("salesforce Account: ") for line in lines)
    assert any(line.startswith("hubspot contacts: ") for line in lines)
    assert any(line.startswith("google ") for line in lines)
    assert "Sync run 1 finished." in result.output

    agency.advance(1)
    result = run_cli("sync", "--source", "salesforce")
    assert result.exit_code == 0, result.output
    assert "Sync run 2 finished." in result.output

    result = run_cli("status")
    for source in ("salesforce", "hubspot", "google"):
        assert f"Last successful sync of {source}" in result.output

    # No secret reached the log file or the output.
    log_text = "".join(p.read_text() for p in (run_cli.tmp / "logs").glob("exporter*.log"))
    secrets = [PASSPHRASE, CREDENTIALS["salesforce"]["password"],
               CREDENTIALS["salesforce"]["security_token"],
               CREDENTIALS["hubspot"]["access_token"], CREDENTIALS["google"]["token"]]
    for secret in secrets:
        assert secret not in log_text
        assert secret not in result.output


def test_one_failing_source_makes_the_run_partial(run_cli: Cli, agency: Sandbox) -> None:
    (run_cli.tmp / "secrets" / "hubspot_token").write_text("revoked-token")
    result = run_cli("sync")
    assert result.exit_code == 11, result.output
    assert "finished PARTIALLY" in result.output
    assert "hubspot" in result.output
    assert "Traceback" not in result.output
    result = run_cli("check")
    assert result.exit_code == 12
    assert "✗ hubspot" in result.output


def test_secrets_in_plain_text_are_refused(run_cli: Cli, agency: Sandbox) -> None:
    data = tomllib.loads(run_cli.config.read_text())
    data["sources"]["hubspot"]["access_token"] = "pasted-token"
    write_config(run_cli.config, data)
    result = run_cli("sync")
    assert result.exit_code == 3
    assert "keep secrets out of the config" in result.output
    assert "pasted-token" not in result.output


def test_check_covers_copies_and_alert_settings_too(run_cli: Cli, agency: Sandbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    usb = run_cli.tmp / "usb"
    usb.mkdir()
    data = tomllib.loads(run_cli.config.read_text())
    data["copies"] = [{"name": "usb", "path": str(usb)},
                      {"name": "nas", "path": str(run_cli.tmp / "unplugged")}]
    data["notify"] = {"to": ["office@example.org"], "from": "exporter@example.org",
                      "smtp_host": "127.0.0.1", "smtp_port": 2525, "security": "none",
                      "username": "exporter@example.org",
                      "password": {"env": "EXPORTER_TEST_SMTP_PASSWORD"}}
    data["archive"]["key_file"] = str(run_cli.tmp / "lost.key")
    write_config(run_cli.config, data)
    monkeypatch.delenv("EXPORTER_TEST_SMTP_PASSWORD", raising=False)
    result = run_cli("check")
    assert result.exit_code == 12, result.output
    assert f"✓ copy usb: the folder {usb} is there and can be written to" in result.output
    assert "✗ copy nas: " in result.output and "plugged in" in result.output
    assert "✗ alert email: " in result.output and "EXPORTER_TEST_SMTP_PASSWORD" in result.output
    assert "✗ key file: " in result.output and "lost.key" in result.output
    data["notify"]["security"] = "starttls"
    data["notify"]["ca_file"] = str(run_cli.tmp / "no-such-ca.pem")
    monkeypatch.setenv("EXPORTER_TEST_SMTP_PASSWORD", "s3cret-smtp")
    write_config(run_cli.config, data)
    result = run_cli("check")
    assert "✗ alert email: The ca_file " in result.output and "does not exist" in result.output
    del data["notify"]["ca_file"]
    data["notify"]["security"] = "none"
    monkeypatch.delenv("EXPORTER_TEST_SMTP_PASSWORD")
    assert list(usb.iterdir()) == []  # the write test leaves nothing behind
    assert not (run_cli.tmp / "unplugged").exists()  # and creates no folder

    data["copies"] = data["copies"][:1]
    del data["archive"]["key_file"]
    write_config(run_cli.config, data)
    monkeypatch.setenv("EXPORTER_TEST_SMTP_PASSWORD", "s3cret-smtp")
    result = run_cli("check")
    assert result.exit_code == 0, result.output
    assert "✓ alert email: settings complete" in result.output
    assert "the rest is ready" in result.output and "s3cret-smtp" not in result.output


@pytest.mark.parametrize("breakage", ["unset_env", "keyring", "missing_key_file"])
def test_one_sources_config_problem_skips_only_that_source(
        run_cli: Cli, agency: Sandbox, breakage: str) -> None:
    """An unset variable, a keyring entry that cannot be read or a missing Google key file
    is reported for its source; the other sources are archived and the run ends partial
    (exit 11)."""
    data = tomllib.loads(run_cli.config.read_text())
    if breakage == "unset_env":
        data["sources"]["hubspot"]["access_token"] = {"env": "EXPORTER_TEST_UNSET_TOKEN"}
        broken = "hubspot"
    elif breakage == "keyring":
        data["sources"]["hubspot"]["access_token"] = {"keyring": "exporter-test/no-such-entry"}
        broken = "hubspot"
    else:
        google = data["sources"]["google"]
        for key in [k for k in google if k not in ("type", "base_url")]:
            del google[key]
        google["service_account_file"] = str(run_cli.tmp / "no-such-key.json")
        broken = "google"
    write_config(run_cli.config, data)
    result = run_cli("sync")
    assert result.exit_code == 11, result.output
    assert "finished PARTIALLY" in result.output
    assert broken in result.output
    assert "Traceback" not in result.output
    status = run_cli("status").output
    for source in {"salesforce", "hubspot", "google"} - {broken}:
        assert f"Last successful sync of {source}" in status


def test_a_wrong_copy_or_mail_setting_is_skipped_not_the_night(run_cli: Cli,
                                                               agency: Sandbox) -> None:
    """A misspelt key in one [[copies]] table and in [notify]: both are reported and skipped;
    every source is archived, the good copy is made, and the run ends partial (exit 11)."""
    data = tomllib.loads(run_cli.config.read_text())
    good, bad = run_cli.tmp / "good-copies", run_cli.tmp / "bad-copies"
    good.mkdir()
    bad.mkdir()
    data["copies"] = [{"name": "usb", "path": str(bad), "after_sync": True, "kep": 3},
                      {"name": "nas", "path": str(good), "after_sync": True}]
    data["notify"] = {"to": ["office@example.com"], "from": "exporter@example.com",
                      "smtp_host": "127.0.0.1", "smtp_prot": 25}
    write_config(run_cli.config, data)
    result = run_cli("sync")
    assert result.exit_code == 11, result.output
    assert "copy usb ([[copies]]) skipped" in result.output
    assert "'kep'" in result.output
    assert "[notify]) skipped" in result.output and "'smtp_prot'" in result.output
    assert "Traceback" not in result.output
    assert any(good.iterdir()) and not any(bad.iterdir())
    # Other commands still refuse the wrong file outright.
    assert run_cli("check").exit_code == 3
    del data["notify"], data["copies"][0]
    write_config(run_cli.config, data)
    status = run_cli("status").output
    for source in ("salesforce", "hubspot", "google"):
        assert f"Last successful sync of {source}" in status


def test_cron_output_is_a_summary_then_the_streams_that_changed(run_cli: Cli,
                                                                agency: Sandbox) -> None:
    """Not at a terminal: the first line is the run's verdict with its totals and duration;
    then only the streams that changed (a quiet night is a line or two, not one per stream)."""
    first = run_cli("sync")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert re.match(r"Sync run 1 finished\. 3 source\(s\), (\d+) stream\(s\): [\d,]+ new, "
                    r"0 changed, 0 deleted, [\d,]+ files; \d+ stream\(s\) unchanged; \d+ s\.$",
                    lines[0]), lines[0]
    assert any(line.startswith("hubspot contacts: ") for line in lines[1:])
    agency.advance(1)
    again = run_cli("sync")
    assert again.exit_code == 0, again.output
    lines = again.output.splitlines()
    assert lines[0].startswith("Sync run 2 finished. 3 source(s)")
    streams = [line for line in lines[1:] if re.match(r"\w+ \w+: \d+ new", line)]
    assert streams, again.output
    assert not any(", 0 changed, 0 deleted, " in line and ": 0 new" in line and
                   "files" not in line for line in streams), again.output
    total = int(re.search(r"(\d+) stream\(s\):", lines[0]).group(1))  # type: ignore[union-attr]
    assert len(streams) < total
