"""Alert emails over real TLS: STARTTLS (587 style) and implicit TLS (465 style) against the
sandbox mail server on loopback, with a throwaway CA. Real smtplib, no mocks. The rules: no
password before the connection is encrypted, the certificate and the host name are checked,
and a failure is one plain sentence (``notify --test`` exit 15)."""

from __future__ import annotations

import shutil
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.cli import SANDBOX_ALERTS_TO, merge_notify_into_config, sandbox_notify_table
from sandbox.smtp import CREDENTIALS as SMTP_CREDENTIALS
from sandbox.smtp import Certificates, SMTPEmulator, make_certificates
from tests.conftest import Cli

UNVERIFIED = "The mail server's certificate could not be verified ("
HINT = "check smtp_host, or set ca_file for an internal mail server."


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_host_certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Signed by its own CA, but for another host name than the one exporter connects to."""
    return make_certificates(tmp_path_factory.mktemp("tls-other"), hosts=("mail.other.example",))


@pytest.fixture
def starttls(certs: Certificates, tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail", tls="starttls", certificate=certs) as server:
        yield server


@pytest.fixture
def implicit(certs: Certificates, tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail", tls="implicit", certificate=certs) as server:
        yield server


def _point(run_cli: Cli, server: SMTPEmulator, **change: Any) -> None:
    """An archive and [notify] pointing at ``server`` (127.0.0.1), changed by ``change``."""
    if not run_cli.archive.exists():
        run_cli.init(passphrase=None)
    table = sandbox_notify_table(server.host, server.port, run_cli.tmp / "notify-secrets")
    merge_notify_into_config(run_cli.config, table | change)


def _auths(server: SMTPEmulator) -> list[bool]:
    """For each AUTH the server received: whether the connection was encrypted then."""
    return [encrypted for verb, encrypted in server.transcript if verb == "AUTH"]


def _assert_plain_failure(result: Any, *words: str) -> None:
    assert result.exit_code == 15, result.output
    assert result.stderr.count("\n") == 1, result.stderr  # one sentence, one line
    assert "The test email could not be sent. " in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert SMTP_CREDENTIALS["password"] not in result.output


def test_starttls_with_ca_file_delivers_and_logs_in_only_after_tls(
        run_cli: Cli, starttls: SMTPEmulator, certs: Certificates) -> None:
    _point(run_cli, starttls, security="starttls", ca_file=str(certs.ca_file))
    result = run_cli("notify", "--test")
    assert result.exit_code == 0, result.output
    [sent] = starttls.messages
    assert sent.rcpt_to == [SANDBOX_ALERTS_TO]
    assert sent.subject.startswith("exporter: test message (")
    verbs = [verb for verb, _ in starttls.transcript]
    assert verbs.index("STARTTLS") < verbs.index("AUTH")
    assert _auths(starttls) == [True]
    assert all(encrypted for verb, encrypted in starttls.transcript
               if verb in ("AUTH", "MAIL", "RCPT", "DATA"))
    assert starttls.logins == [(SMTP_CREDENTIALS["username"], True)]


def test_ca_file_may_be_relative_to_the_config(run_cli: Cli, starttls: SMTPEmulator,
                                               certs: Certificates) -> None:
    shutil.copy(certs.ca_file, run_cli.tmp / "mail-ca.pem")
    _point(run_cli, starttls, security="starttls", ca_file="mail-ca.pem")
    result = run_cli("notify")
    assert f"(starttls, trusting the CA in {run_cli.tmp / 'mail-ca.pem'}" in result.output
    assert run_cli("notify", "--test").exit_code == 0
    assert len(starttls.messages) == 1


def test_implicit_tls_delivers(run_cli: Cli, implicit: SMTPEmulator,
                               certs: Certificates) -> None:
    _point(run_cli, implicit, security="tls", ca_file=str(certs.ca_file))
    result = run_cli("notify", "--test")
    assert result.exit_code == 0, result.output
    assert len(implicit.messages) == 1
    assert _auths(implicit) == [True]
    assert all(encrypted for _, encrypted in implicit.transcript)


@pytest.mark.parametrize(("mode", "security"), [("starttls", "starttls"), ("implicit", "tls")])
def test_an_untrusted_certificate_is_refused_before_the_login(
        run_cli: Cli, certs: Certificates, tmp_path: Path, mode: str, security: str) -> None:
    """Without ca_file only the system's trust store counts: the sandbox CA is not in it."""
    with SMTPEmulator(folder=tmp_path / "mail", tls=mode, certificate=certs) as server:
        _point(run_cli, server, security=security)
        result = run_cli("notify", "--test")
        _assert_plain_failure(result, UNVERIFIED, f"127.0.0.1:{server.port}: ", HINT)
        assert _auths(server) == []
        assert server.logins == [] and server.messages == []


def test_a_server_without_starttls_gets_no_password(run_cli: Cli, tmp_path: Path) -> None:
    with SMTPEmulator(folder=tmp_path / "mail") as plain:  # offers AUTH but no STARTTLS
        _point(run_cli, plain, security="starttls")
        result = run_cli("notify", "--test")
        _assert_plain_failure(result, f"The mail server 127.0.0.1:{plain.port} does not offer "
                              "STARTTLS", "nothing was sent, not even the login")
        assert [verb for verb, _ in plain.transcript] == ["EHLO", "QUIT"]
        assert plain.logins == [] and plain.messages == []


def test_a_certificate_for_another_host_is_refused(run_cli: Cli, tmp_path: Path,
                                                   other_host_certs: Certificates) -> None:
    """The CA is trusted, but the certificate names mail.other.example, not 127.0.0.1."""
    with SMTPEmulator(folder=tmp_path / "mail", tls="starttls",
                      certificate=other_host_certs) as server:
        _point(run_cli, server, security="starttls", ca_file=str(other_host_certs.ca_file))
        result = run_cli("notify", "--test")
        _assert_plain_failure(result, UNVERIFIED, "mismatch",
                              f"that ca_file ({other_host_certs.ca_file}) is the CA")
        assert _auths(server) == [] and server.messages == []


def test_a_failed_alert_over_tls_keeps_the_commands_exit_code(
        run_cli: Cli, starttls: SMTPEmulator) -> None:
    _point(run_cli, starttls, security="starttls")  # no ca_file: the certificate is refused
    result = run_cli("copy", "--to", str(run_cli.tmp / "unplugged-usb"))
    assert result.exit_code == 14, result.output  # the copy's own code, not 15
    assert f"Warning: the alert email could not be sent: {UNVERIFIED}" in result.stderr
    assert _auths(starttls) == [] and starttls.messages == []


def test_a_missing_or_wrong_ca_file_is_a_plain_sentence(run_cli: Cli,
                                                       starttls: SMTPEmulator) -> None:
    _point(run_cli, starttls, security="starttls", ca_file="no-such-ca.pem")
    _assert_plain_failure(run_cli("notify", "--test"), "The ca_file ",
                          "no-such-ca.pem in [notify] does not exist")
    (run_cli.tmp / "not-a-ca.pem").write_text("hello\n")
    _point(run_cli, starttls, security="starttls", ca_file="not-a-ca.pem")
    _assert_plain_failure(run_cli("notify", "--test"), "not-a-ca.pem in [notify] is not a CA "
                          "certificate in PEM form")
    assert starttls.transcript == []  # nothing was even tried


@pytest.mark.parametrize(("change", "words"), [
    ({"security": "none", "ca_file": "ca.pem"}, 'ca_file goes with security = "starttls"'),
    ({"ca_file": 42}, "ca_file must be a path in quotes"),
])
def test_ca_file_mistakes_are_config_errors(run_cli: Cli, starttls: SMTPEmulator,
                                            change: dict[str, Any], words: str) -> None:
    _point(run_cli, starttls, **change)
    result = run_cli("notify")
    assert result.exit_code == 3, result.output
    assert words in result.output


def test_the_emulator_refuses_auth_before_starttls(starttls: SMTPEmulator,
                                                  certs: Certificates) -> None:
    """Like Microsoft 365: before STARTTLS it offers only STARTTLS and answers AUTH with 530;
    after it, EHLO offers AUTH and the session starts afresh (RFC 3207)."""
    with smtplib.SMTP(starttls.host, starttls.port, timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        code, text = smtp.docmd("AUTH", "PLAIN")
        assert (code, text) == (530, b"5.7.0 Must issue a STARTTLS command first")
        smtp.starttls(context=ssl.create_default_context(cafile=str(certs.ca_file)))
        smtp.ehlo()
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls")
        assert smtp.docmd("STARTTLS")[0] == 503
        smtp.login(SMTP_CREDENTIALS["username"], SMTP_CREDENTIALS["password"])
    assert _auths(starttls) == [False, True]  # the refused probe, then the real login
    assert starttls.logins == [(SMTP_CREDENTIALS["username"], True)]
