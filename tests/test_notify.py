"""Alert emails ([notify]) end to end: the sandbox cloud, the real connectors, the command line
as cron runs it, and real smtplib talking to the sandbox mail server over loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config import write_config
from exporter.keys import create_key_file
from exporter.notify import state_path
from sandbox import CREDENTIALS, Sandbox
from sandbox.cli import (
    SANDBOX_ALERTS_TO,
    merge_notify_into_config,
    merge_sources_into_config,
    sandbox_notify_table,
)
from sandbox.smtp import CREDENTIALS as SMTP_CREDENTIALS
from sandbox.smtp import ReceivedMail, SMTPEmulator
from tests.conftest import Cli

SECRETS = [CREDENTIALS["hubspot"]["access_token"], CREDENTIALS["google"]["token"],
           SMTP_CREDENTIALS["password"]]


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail") as server:
        yield server


@pytest.fixture
def agency(run_cli: Cli, mail: SMTPEmulator) -> Iterator[Sandbox]:
    """An archive (key file), two sandbox sources and [notify] pointing at the mail server."""
    with Sandbox(clients=4, seed=11, vendors=("hubspot", "google")) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        merge_notify_into_config(run_cli.config, sandbox_notify_table(
            mail.host, mail.port, run_cli.tmp / "notify-secrets"))
        _edit(run_cli, lambda d: d.update(log={"dir": str(run_cli.tmp / "logs")}))
        yield sb


def _edit(run_cli: Cli, change: Any) -> None:
    data = tomllib.loads(run_cli.config.read_text())
    change(data)
    write_config(run_cli.config, data)


def _revoke(run_cli: Cli, *sources: str) -> None:
    names = {"hubspot": "hubspot_token", "google": "google_token"}
    for source in sources:
        (run_cli.tmp / "secrets" / names[source]).write_text("revoked-token")


def _assert_clean(mail: ReceivedMail, sb: Sandbox) -> None:
    """No secret and no client data anywhere in the mail (headers included)."""
    raw = mail.data.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in raw
    for client in sb.agency.clients.values():
        for value in (client.full_name, client.phone, client.email, client.street,
                      client.number):
            assert not value or value not in raw, value
        assert not re.search(rf"\b{re.escape(client.last_name)}\b", raw), client.last_name


def test_a_failed_sync_sends_one_plain_alert(run_cli: Cli, agency: Sandbox,
                                             mail: SMTPEmulator) -> None:
    _revoke(run_cli, "hubspot", "google")
    result = run_cli("sync")
    assert result.exit_code == 12, result.output
    assert len(mail.messages) == 1
    [sent] = mail.messages
    assert sent.rcpt_to == [SANDBOX_ALERTS_TO]
    assert sent.subject == "exporter: last night's sync FAILED (Sunrise Home Care (sandbox))"
    body = sent.text
    assert "- hubspot" in body and "- google" in body
    assert "exporter check" in body and "exporter status" in body
    assert "Last good sync: none recorded yet" in body
    assert "Computer: " in body
    assert f"Alert email sent to {SANDBOX_ALERTS_TO}" in result.output
    _assert_clean(sent, agency)
    assert sent.path is not None and sent.path.read_bytes() == sent.data


def test_a_partial_sync_names_the_source(run_cli: Cli, agency: Sandbox,
                                         mail: SMTPEmulator) -> None:
    assert run_cli("sync").exit_code == 0  # a good night first: no mail by default
    assert mail.messages == []
    _revoke(run_cli, "hubspot")
    result = run_cli("sync")
    assert result.exit_code == 11, result.output
    [sent] = mail.messages
    assert "finished partially" in sent.subject
    assert "hubspot" in sent.text and "- google" not in sent.text
    assert "Last good sync: " in sent.text and "ago)" in sent.text
    _assert_clean(sent, agency)


def test_a_failed_copy_sends_an_alert(run_cli: Cli, agency: Sandbox,
                                      mail: SMTPEmulator) -> None:
    result = run_cli("copy", "--to", str(run_cli.tmp / "unplugged-usb"))
    assert result.exit_code == 14, result.output
    [sent] = mail.messages
    assert sent.subject == "exporter: copy to unplugged-usb failed (Sunrise Home Care (sandbox))"
    assert "is the USB disk plugged in?" in sent.text
    assert "exporter copy" in sent.text


def test_a_sync_that_cannot_open_the_archive_still_mails(run_cli: Cli, agency: Sandbox,
                                                         mail: SMTPEmulator) -> None:
    wrong = run_cli.tmp / "other.key"
    create_key_file(wrong)
    result = run_cli("--key-file", str(wrong), "sync")
    assert result.exit_code == 4, result.output
    [sent] = mail.messages
    assert "FAILED" in sent.subject
    assert "before it could read anything" in sent.text
    assert "key file" in sent.text  # exporter's own plain message
    assert "Traceback" not in result.output
    _assert_clean(sent, agency)


def test_a_mail_server_that_is_down_changes_nothing(run_cli: Cli, agency: Sandbox,
                                                    mail: SMTPEmulator) -> None:
    mail.stop()
    _revoke(run_cli, "hubspot")
    result = run_cli("sync")
    assert result.exit_code == 11, result.output  # the sync's own code
    assert "Sync run 1 finished PARTIALLY." in result.stdout
    warnings = [line for line in result.stderr.splitlines()
                if "alert email could not be sent" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("Warning: the alert email could not be sent: The mail server")
    assert "Traceback" not in result.output
    log_text = "".join(p.read_text() for p in (run_cli.tmp / "logs").glob("exporter*.log"))
    assert "alert email 'partial' not sent" in log_text
    assert SMTP_CREDENTIALS["password"] not in log_text + result.output
    result = run_cli("status")
    assert result.exit_code == 0
    assert "Last successful sync of google" in result.output  # the sync was kept


def test_notify_test_reports_success_and_a_refused_login(run_cli: Cli, agency: Sandbox,
                                                         mail: SMTPEmulator) -> None:
    result = run_cli("notify", "--test")
    assert result.exit_code == 0, result.output
    assert "Sent a test email to" in result.output
    [sent] = mail.messages
    assert sent.subject == "exporter: test message (Sunrise Home Care (sandbox))"

    mail.refuse_auth = True
    result = run_cli("notify", "--test")
    assert result.exit_code == 15, result.output
    assert "The test email could not be sent. The mail server" in result.stderr
    assert "refused the login" in result.stderr
    assert SMTP_CREDENTIALS["password"] not in result.output
    assert "Traceback" not in result.output
    assert len(mail.messages) == 1

    mail.refuse_auth, mail.drop_connections = False, True
    result = run_cli("notify", "--test")
    assert result.exit_code == 15
    assert "closed the connection" in result.stderr


def test_stale_data_mails_at_most_once_a_day(run_cli: Cli, agency: Sandbox,
                                             mail: SMTPEmulator) -> None:
    assert run_cli("sync").exit_code == 0
    assert run_cli("status").exit_code == 0
    assert mail.messages == []  # fresh data: no alert
    _edit(run_cli, lambda d: d["archive"].update(stale_after_hours=0.0002))  # 0.72 s
    time.sleep(1)
    result = run_cli("status")
    assert result.exit_code == 0, result.output
    assert "Warning: no complete sync of hubspot, google" in result.output
    [sent] = mail.messages
    assert re.fullmatch(r"exporter: data is \d+ minutes? old \(Sunrise Home Care \(sandbox\)\)",
                        sent.subject), sent.subject
    assert "stale_after_hours" in sent.text and "Task Scheduler" in sent.text
    _assert_clean(sent, agency)
    assert run_cli("status").exit_code == 0
    assert len(mail.messages) == 1  # not again today

    path = state_path(run_cli.archive)
    assert path.stat().st_mode & 0o077 == 0
    state = json.loads(path.read_text())
    assert set(state) == {"last_good_sync", "stale_sent_at"}
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, hours=1)
    path.write_text(json.dumps(state | {"stale_sent_at": yesterday.isoformat()}))
    assert run_cli("status").exit_code == 0
    assert len(mail.messages) == 2  # a new day, a new reminder


def test_on_chooses_which_alerts_go_out(run_cli: Cli, agency: Sandbox,
                                        mail: SMTPEmulator) -> None:
    _edit(run_cli, lambda d: d["notify"].update(on=["copy_failed", "success"]))
    result = run_cli("sync")
    assert result.exit_code == 0, result.output
    [sent] = mail.messages
    assert sent.subject.startswith("exporter: last night's sync finished (")
    _revoke(run_cli, "hubspot")
    assert run_cli("sync").exit_code == 11
    assert len(mail.messages) == 1  # "partial" was not asked for
    _edit(run_cli, lambda d: d["notify"].update(on=["failure"]))
    assert run_cli("copy", "--to", str(run_cli.tmp / "unplugged-usb")).exit_code == 14
    assert len(mail.messages) == 1  # nor "copy_failed"


@pytest.mark.parametrize(("change", "words"), [
    ({"smtp_host": "smtp.example.com", "security": "none"}, 'security = "none" would send'),
    ({"password": "hunter2-plain"}, "password is written in plain text"),
    ({"on": ["failure", "weekly"]}, "on names weekly"),
    ({"to": ["not an address"]}, "to must be an email address"),
    ({"security": "ssl"}, 'security must be "starttls"'),
])
def test_mistakes_in_notify_are_plain_config_errors(run_cli: Cli, change: dict[str, Any],
                                                    words: str) -> None:
    run_cli.init(passphrase=None)
    table = sandbox_notify_table("127.0.0.1", 2525, run_cli.tmp / "notify-secrets")
    merge_notify_into_config(run_cli.config, table | change)
    result = run_cli("notify")
    assert result.exit_code == 3, result.output
    assert words in result.output
    assert "hunter2-plain" not in result.output
    assert "Traceback" not in result.output


def test_security_none_is_allowed_to_loopback_only(run_cli: Cli, mail: SMTPEmulator) -> None:
    run_cli.init(passphrase=None)
    merge_notify_into_config(run_cli.config, sandbox_notify_table(
        "localhost", mail.port, run_cli.tmp / "notify-secrets"))
    result = run_cli("notify")
    assert result.exit_code == 0, result.output
    assert f"through localhost:{mail.port} (none, logging in as" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="the holder is killed with SIGKILL")
def test_a_sync_refused_by_the_lock_or_a_mistyped_source_sends_no_alarm(
        run_cli: Cli, agency: Sandbox, mail: SMTPEmulator) -> None:
    """Not failures of the nightly job: another run holding the lock (it reports itself) and
    a --source typed wrong at the keyboard. Neither mails "last night's sync FAILED"."""
    assert run_cli("sync").exit_code == 0
    result = run_cli("sync", "--source", "hubsopt")
    assert result.exit_code == 3 and "did you mean hubspot" in result.output
    holder = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_writer.py")),
                               str(run_cli.archive), str(run_cli.key_file), "hold"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = run_cli("sync")
        assert result.exit_code == 5, result.output
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert mail.messages == []


def test_alerts_know_the_last_good_sync_made_before_notify_was_set(
        run_cli: Cli, agency: Sandbox, mail: SMTPEmulator) -> None:
    """Good syncs run before [notify] was added: a later alert from a run that cannot open
    the archive still says when the last good sync was, not "none recorded yet"."""
    notify = tomllib.loads(run_cli.config.read_text())["notify"]
    _edit(run_cli, lambda d: d.pop("notify"))
    assert run_cli("sync").exit_code == 0
    _edit(run_cli, lambda d: d.update(notify=notify))
    wrong = run_cli.tmp / "other.key"
    create_key_file(wrong)
    assert run_cli("--key-file", str(wrong), "sync").exit_code == 4
    [sent] = mail.messages
    assert "none recorded yet" not in sent.text
    assert "Last good sync: " in sent.text and "ago)" in sent.text


def test_alert_mails_give_times_in_local_time(run_cli: Cli, agency: Sandbox,
                                              mail: SMTPEmulator) -> None:
    """The office reads the last good sync in this computer's time zone, named."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "XYZ+5"
    time.tzset()
    try:
        assert run_cli("sync").exit_code == 0
        _revoke(run_cli, "hubspot")
        assert run_cli("sync").exit_code == 11
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
    [sent] = mail.messages
    line = next(x for x in sent.text.splitlines() if x.startswith("Last good sync: "))
    assert re.match(r"Last good sync: \d{4}-\d\d-\d\d \d\d:\d\d XYZ \(", line), line
    assert "UTC" not in sent.text
