"""`exporter setup` (issue 11, Must show): the interview, scripted through its prompts against
the sandbox cloud and the sandbox mail server, writes a config that `exporter check` accepts;
Salesforce and Google are signed in with the browser (the test plays the browser), the
nightly sync then signs in with the stored refresh tokens; a second run keeps everything it
is not told to change, comments included."""

from __future__ import annotations

import os
import stat
import tomllib
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox import CREDENTIALS, Sandbox
from sandbox.smtp import CREDENTIALS as SMTP_CREDENTIALS
from sandbox.smtp import SMTPEmulator
from tests.conftest import Cli

SF, HS, G = CREDENTIALS["salesforce"], CREDENTIALS["hubspot"], CREDENTIALS["google"]


class PlayedBrowser(webbrowser.BaseBrowser):
    """The person at the browser: opens the sign-in page, is signed in, clicks Allow, and the
    vendor's redirect lands on exporter's loopback listener. Registered with the standard
    library as the preferred browser, so exporter opens it as it would open a real one."""

    def __init__(self) -> None:
        super().__init__("played")
        self.visited: list[str] = []
        self.landed: list[requests.Response] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.visited.append(url)
        self.landed.append(requests.get(url, timeout=30))  # follows the 302 to the listener
        return True


@pytest.fixture
def browser() -> PlayedBrowser:
    played = PlayedBrowser()
    webbrowser.register("exporter-test-browser", None, played, preferred=True)
    return played


@pytest.fixture
def cloud(run_cli: Cli, tmp_path: Path) -> Iterator[tuple[Sandbox, SMTPEmulator]]:
    with Sandbox(clients=4, seed=3) as sb, SMTPEmulator() as mail:
        run_cli.init(passphrase=None)
        text = run_cli.config.read_text()
        run_cli.config.write_text("# Sunrise Home Care: set up by the office manager\n" + text
                                  + f'\n[log]\ndir = "{tmp_path / "logs"}"  # keep this\n')
        yield sb, mail


def _answers(usb: Path, mail: SMTPEmulator) -> list[str]:
    return [
        "y", "browser", "", SF["client_id"], "",           # Salesforce, signed in in the browser
        "y", HS["access_token"],                            # HubSpot: a private app's token
        "y", "browser", G["client_id"], G["client_secret"],  # Google, in the browser
        str(usb), "3", "y", "",                             # one copy folder, then done
        "y", "office@example.org", SMTP_CREDENTIALS["username"], "127.0.0.1", "none",
        str(mail.port), "y", SMTP_CREDENTIALS["username"], SMTP_CREDENTIALS["password"],
        "n",                                                # no schedule in a test
    ]


def _setup(run_cli: Cli, sb: Sandbox, answers: list[str]) -> str:
    urls = sb.urls
    args = ["setup", "--secrets", "file"]
    for vendor in ("salesforce", "hubspot", "google"):
        args += ["--base-url", f"{vendor}={urls[vendor]}"]
    result = run_cli(*args, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_the_scripted_interview_writes_a_config_that_check_accepts(
        run_cli: Cli, cloud: tuple[Sandbox, SMTPEmulator], browser: PlayedBrowser,
        tmp_path: Path) -> None:
    sb, mail = cloud
    usb = tmp_path / "usb"
    usb.mkdir()
    output = _setup(run_cli, sb, _answers(usb, mail))
    assert output.count("✗") == 0, output
    assert "Salesforce is ready." in output and "Google is ready." in output
    assert "HubSpot is ready." in output

    # Each answer was tried live: two browser sign-ins, a test file, a test email.
    assert len(browser.visited) == 2
    assert all(r.status_code == 200 and "Signed in" in r.text for r in browser.landed)
    assert "code_challenge_method=S256" in browser.visited[0]
    assert list(usb.iterdir()) == []  # the test file is gone again
    assert len(mail.messages) == 1 and "office@example.org" in mail.messages[0].data.decode()

    text = run_cli.config.read_text()
    data = tomllib.loads(text)
    assert text.startswith("# Sunrise Home Care: set up by the office manager")
    assert "# keep this" in text and data["archive"]["path"] == str(run_cli.archive)
    assert data["sources"]["salesforce"]["refresh_token"] == {
        "file": "secrets/salesforce_refresh_token"}
    assert data["sources"]["google"]["refresh_token"] == {"file": "secrets/google_refresh_token"}
    assert data["copies"] == [{"name": "usb", "path": str(usb), "keep": 3, "after_sync": True}]
    assert data["notify"]["password"] == {"file": "secrets/notify_password"}
    # No secret in the config, on the screen or readable by others.
    for secret in (HS["access_token"], G["client_secret"], SMTP_CREDENTIALS["password"]):
        assert secret not in text and secret not in output
    secrets = run_cli.config.parent / "secrets"
    if os.name == "posix":
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
        for f in secrets.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    result = run_cli("check")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output

    # The nightly job signs in with the stored refresh tokens: no browser, no password.
    result = run_cli("sync")
    assert result.exit_code == 0, result.output
    assert any(line.startswith("salesforce Account: ") for line in result.output.splitlines())
    assert any(line.startswith("google ") for line in result.output.splitlines())
    assert len(browser.visited) == 2


def test_a_second_run_offers_the_current_answers_and_keeps_the_rest(
        run_cli: Cli, cloud: tuple[Sandbox, SMTPEmulator], browser: PlayedBrowser,
        tmp_path: Path) -> None:
    sb, mail = cloud
    usb = tmp_path / "usb"
    usb.mkdir()
    _setup(run_cli, sb, _answers(usb, mail))
    first = run_cli.config.read_text()
    # Enter everywhere keeps an answer; HubSpot's saved token and the mail password too.
    again = ["y", "", "", "", "", "",    # Salesforce: Enter keeps even the saved sign-in
             "y", "",                    # HubSpot: Enter keeps the saved token
             "n", "n",                   # Google: not backed up now, but not removed either
             "y", "",                    # keep the USB copy, add none
             "y", "", "", "", "", "", "y", "", "",
             "n"]
    output = _setup(run_cli, sb, again)
    assert "✗" not in output, output
    assert "Log in to Salesforce with the saved browser sign-in" in output  # tried live
    assert len(browser.visited) == 2
    data = tomllib.loads(run_cli.config.read_text())
    assert data == tomllib.loads(first)
    assert len(mail.messages) == 2

    # Signing in again replaces the refresh token (same reference, new secret).
    token_file = run_cli.config.parent / "secrets" / "salesforce_refresh_token"
    old_token = token_file.read_text()
    again[5] = "y"
    _setup(run_cli, sb, again)
    assert len(browser.visited) == 3
    assert token_file.read_text() != old_token
    assert tomllib.loads(run_cli.config.read_text()) == tomllib.loads(first)
    assert "\n\n\n" not in run_cli.config.read_text()  # re-runs do not pile up blank lines


@pytest.mark.skipif(os.name != "posix", reason="the stand-in crontab is a shell script")
def test_a_wrong_answer_is_caught_live_keyring_secrets_and_the_schedule_at_the_end(
        run_cli: Cli, cloud: tuple[Sandbox, SMTPEmulator], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring

    from tests.keyring_backend import MemoryKeyring
    from tests.test_schedule import FAKE_CRONTAB

    crontab = tmp_path / "fake-bin" / "crontab"
    crontab.parent.mkdir()
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    monkeypatch.setenv("PATH", f"{crontab.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(tmp_path / "crontab.txt"))

    keyring.set_keyring(MemoryKeyring())  # exporter refuses a plaintext keyring (issue 15)
    sb, _ = cloud
    answers = ["n",                                  # no Salesforce
               "y", "pasted-wrong-token",            # HubSpot refuses it ...
               "y", HS["access_token"],              # ... try again: the right one
               "n",                                  # no Google
               "",                                   # no copy folder
               "n",                                  # no alert emails
               "y", "25:00", "03:15"]                # schedule it (a wrong time asked again)
    result = run_cli("setup", "--secrets", "keyring", "--base-url",
                     f"hubspot={sb.urls['hubspot']}", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "✗ Sign in to HubSpot" in result.output and "HubSpot is ready." in result.output
    assert "pasted-wrong-token" not in result.output
    data = tomllib.loads(run_cli.config.read_text())
    assert data["sources"] == {"hubspot": {
        "type": "hubspot", "access_token": {"keyring": "exporter/hubspot_access_token"},
        "base_url": sb.urls["hubspot"]}}
    assert keyring.get_password("exporter", "hubspot_access_token") == HS["access_token"]
    assert "copies" not in data and "notify" not in data
    assert not (run_cli.config.parent / "secrets").exists()
    assert run_cli("check").exit_code == 0
    assert "Write the time as HH:MM" in result.output
    assert "Installed the nightly job" in result.output
    assert "15 3 * * *" in (tmp_path / "crontab.txt").read_text()


def test_secrets_go_where_the_nightly_job_can_read_them() -> None:
    from exporter.setup_config import secret_home

    assert secret_home("win32") == "keyring"  # the task runs as the user: Credential Manager
    assert secret_home("linux") == "file" and secret_home("darwin") == "file"  # cron


def test_setup_before_init_says_to_run_init(run_cli: Cli) -> None:
    result = run_cli("setup", input="")
    assert result.exit_code == 3
    assert "run 'exporter init' first" in result.output and "Traceback" not in result.output
