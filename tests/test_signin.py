"""Browser sign-in (issue 11): OAuth authorization code with PKCE on a loopback redirect,
against the Salesforce and Google emulators' authorization servers. The code is useless
without the verifier, used once, and only for the redirect it was issued to; the refresh
token it gives signs the connectors in; a refused one says to run setup again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from exporter.errors import SignInFailed
from exporter.setup_sources import google_provider, salesforce_provider
from exporter.signin import Provider, Tokens, exchange_code, pkce_pair, sign_in
from exporter.sources import build_connector
from sandbox import CREDENTIALS, Sandbox

REDIRECT = "http://127.0.0.1:5555/"


@pytest.fixture(scope="module")
def cloud() -> Iterator[Sandbox]:
    with Sandbox(clients=3, seed=7, vendors=("salesforce", "google")) as sb:
        yield sb


def _provider(vendor: str, sb: Sandbox) -> tuple[Provider, str, str | None]:
    creds = CREDENTIALS[vendor]
    if vendor == "salesforce":
        return salesforce_provider(base_url=sb.urls[vendor]), creds["client_id"], None
    return google_provider(sb.urls[vendor]), creds["client_id"], creds["client_secret"]


def _authorize(provider: Provider, client_id: str, challenge: str,
               redirect: str = REDIRECT) -> requests.Response:
    return requests.get(provider.authorize_url, allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect,
        "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"})


def _code(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


@pytest.mark.parametrize("vendor", ["salesforce", "google"])
def test_a_code_needs_its_verifier_and_is_used_once(cloud: Sandbox, vendor: str) -> None:
    provider, client_id, secret = _provider(vendor, cloud)
    verifier, challenge = pkce_pair()
    code = _code(_authorize(provider, client_id, challenge))
    wrong, _ = pkce_pair()
    with pytest.raises(SignInFailed, match="refused the sign-in"):
        exchange_code(provider, client_id, secret, code, wrong, REDIRECT)
    with pytest.raises(SignInFailed, match="refused the sign-in"):  # spent by the wrong try
        exchange_code(provider, client_id, secret, code, verifier, REDIRECT)

    code = _code(_authorize(provider, client_id, challenge))
    tokens = exchange_code(provider, client_id, secret, code, verifier, REDIRECT)
    assert tokens.refresh_token and tokens.access_token
    assert tokens.refresh_token not in repr(tokens)
    if vendor == "salesforce":  # the emulator's own scheme and address
        assert tokens.instance_url == cloud.urls["salesforce"]
    with pytest.raises(SignInFailed):  # the same code again, right verifier and all
        exchange_code(provider, client_id, secret, code, verifier, REDIRECT)


@pytest.mark.parametrize("vendor", ["salesforce", "google"])
def test_a_redirect_that_is_not_this_computer_or_not_the_same_is_refused(
        cloud: Sandbox, vendor: str) -> None:
    provider, client_id, secret = _provider(vendor, cloud)
    verifier, challenge = pkce_pair()
    response = _authorize(provider, client_id, challenge, "https://attacker.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers
    assert "redirect_uri" in response.text
    code = _code(_authorize(provider, client_id, challenge))
    with pytest.raises(SignInFailed):
        exchange_code(provider, client_id, secret, code, verifier, "http://127.0.0.1:5556/")
    # Without PKCE the sign-in page sends the browser back with an error, not a code.
    response = requests.get(provider.authorize_url, allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT})
    assert "error=invalid_request" in response.headers["Location"]
    assert "code=" not in response.headers["Location"]


def _play_browser(url: str) -> None:
    requests.get(url, timeout=10)  # the vendor redirects to the listener


def _signed_in(vendor: str, sb: Sandbox) -> Tokens:
    provider, client_id, secret = _provider(vendor, sb)
    shown: list[str] = []
    tokens = sign_in(provider, client_id, secret, say=shown.append, open_url=_play_browser)
    assert "code_challenge=" in shown[0] and "127.0.0.1" in shown[0]
    return tokens


def _table(vendor: str, sb: Sandbox, secret_dir: Path, refresh_token: str) -> dict[str, object]:
    from exporter.keys import write_private_file

    secret_dir.mkdir(exist_ok=True)
    write_private_file(secret_dir / f"{vendor}_refresh", refresh_token.encode())
    write_private_file(secret_dir / "g_secret", CREDENTIALS["google"]["client_secret"].encode())
    table: dict[str, object] = {
        "type": vendor, "base_url": sb.urls[vendor], "client_id": CREDENTIALS[vendor]["client_id"],
        "refresh_token": {"file": str(secret_dir / f"{vendor}_refresh")}}
    if vendor == "google":
        table.update(client_secret={"file": str(secret_dir / "g_secret")},
                     token_uri=sb.urls["google"] + "/token")
    return table


@pytest.mark.parametrize("vendor", ["salesforce", "google"])
def test_the_refresh_token_signs_the_connector_in_and_a_refused_one_says_what_to_do(
        cloud: Sandbox, vendor: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = _signed_in(vendor, cloud)
    config = tmp_path / "config.toml"
    connector = build_connector(vendor, _table(vendor, cloud, tmp_path / "s", tokens.refresh_token),
                                config)
    results = connector.check()
    connector.close()
    assert all(r.ok for r in results), results
    assert tokens.refresh_token not in caplog.text

    connector = build_connector(vendor, _table(vendor, cloud, tmp_path / "s", "revoked"), config)
    results = connector.check()
    connector.close()
    assert not results[0].ok
    if vendor == "salesforce":
        assert "run 'exporter setup' again" in results[0].detail


def test_an_answer_for_another_sign_in_is_refused(cloud: Sandbox) -> None:
    provider, client_id, _ = _provider("salesforce", cloud)

    def forged(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        requests.get(redirect, params={"code": "stolen", "state": "not-this-one"}, timeout=10)

    with pytest.raises(SignInFailed, match="did not match this sign-in"):
        sign_in(provider, client_id, say=lambda _: None, open_url=forged)
