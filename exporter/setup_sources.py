"""The sources part of ``exporter setup``: for Salesforce, HubSpot and Google, how to sign in,
the answers stored (secrets where the nightly job reads them, :mod:`exporter.setup_config`),
and a live check (the connector's own ``check``: a real login) before moving on.

Each vendor's questions start from the current ``[sources.NAME]`` table, so a second run
offers what is there as the defaults and Enter keeps a saved secret. Keys the interview does
not ask about (``include``, ``base_url``, ``api_share_limit`` ...) are kept; switching the
way of signing in drops the other way's keys, so the connector cannot pick a stale one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from exporter.errors import ExporterError, SignInFailed
from exporter.setup_config import ConfigDocument, SecretHome
from exporter.signin import Provider, sign_in

__all__ = ["SourceInterview", "google_provider", "salesforce_provider"]

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/drive.readonly "
                 "https://www.googleapis.com/auth/spreadsheets.readonly "
                 "https://www.googleapis.com/auth/calendar.readonly")
SF_LOGIN_KEYS = ("username", "password", "security_token", "private_key", "private_key_file",
                 "session_id", "client_secret", "refresh_token", "instance_url")
GOOGLE_LOGIN_KEYS = ("token", "refresh_token", "client_id", "client_secret", "token_uri",
                     "service_account_file", "delegated_user", "authorized_user_file")


#: The callback URL to register in the Salesforce connected app (Salesforce compares it
#: exactly, port included; the sf CLI's convention, on the loopback address).
SF_CALLBACK_PORT, SF_CALLBACK_PATH = 1717, "/OauthRedirect"


def salesforce_provider(domain: str = "login", base_url: str | None = None) -> Provider:
    """Salesforce's authorization server (``base_url``: the sandbox or a test double, which
    takes any loopback port, so tests never fight over 1717)."""
    if base_url:
        root = base_url.rstrip("/")
        return Provider("Salesforce", f"{root}/services/oauth2/authorize",
                        f"{root}/services/oauth2/token", "api refresh_token")
    root = f"https://{domain}.salesforce.com"
    return Provider("Salesforce", f"{root}/services/oauth2/authorize",
                    f"{root}/services/oauth2/token", "api refresh_token",
                    redirect_port=SF_CALLBACK_PORT, redirect_path=SF_CALLBACK_PATH)


def google_provider(base_url: str | None = None) -> Provider:
    """Google's: consent asked every time, so a refresh token always comes back."""
    if base_url:
        root = base_url.rstrip("/")
        authorize, token = f"{root}/o/oauth2/v2/auth", f"{root}/token"
    else:
        authorize = "https://accounts.google.com/o/oauth2/v2/auth"
        token = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address
    return Provider("Google", authorize, token, GOOGLE_SCOPES,
                    {"access_type": "offline", "prompt": "consent"})


@dataclass
class SourceInterview:
    """Asks about one vendor at a time and writes its table. ``base_urls``: vendor ->
    address of exporter's sandbox (or a test double), for training and tests."""

    doc: ConfigDocument
    home: SecretHome
    base_urls: dict[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = click.echo

    def __post_init__(self) -> None:
        # The first time through, every vendor is offered with "yes" as the answer.
        self.first_run = not self.doc.plain().get("sources")

    # -- shared steps -----------------------------------------------------------------------

    def secret(self, source: str, key: str, prompt: str, current: dict[str, Any],
               optional: bool = False) -> dict[str, str] | None:
        """Ask for a secret (hidden); Enter keeps the saved one. The reference to write."""
        saved = current.get(key)
        hint = " (Enter keeps the saved one)" if saved else (" (Enter for none)"
                                                            if optional else "")
        value = click.prompt(prompt + hint, default="", hide_input=True, show_default=False)
        if not value:
            return saved if saved or optional else self.secret(source, key, prompt, current)
        return self.doc.put_secret(f"{source}_{key}", value, self.home)

    def check(self, name: str) -> bool:
        """Save, then log in for real with the connector: True when every check passed."""
        from exporter.sources import build_connector

        self.doc.save()
        self.say(f"Checking {name}...")
        try:
            connector = build_connector(name, self.doc.source(name), self.doc.path)
            try:
                results = connector.check()
            finally:
                connector.close()
        except ExporterError as exc:
            self.say(f"  ✗ {exc}")
            return False
        for r in results:
            self.say(f"  {'✓' if r.ok else '✗'} {r.what}" + ("" if r.ok else f": {r.detail}"))
        return all(r.ok for r in results)

    def run(self, name: str, ask: Callable[[dict[str, Any]], dict[str, Any]],
            label: str) -> None:
        """Ask (again) until the live check passes, or the person keeps or drops the source."""
        current = self.doc.source(name)
        if not click.confirm(f"Back up {label}?", default=bool(current) or self.first_run):
            if current and click.confirm(f"Remove {label} from the nightly backup?",
                                         default=False):
                self.doc.set_source(name, None)
                self.doc.save()
            return
        while True:
            try:
                table = ask(current)
            except SignInFailed as exc:
                self.say(f"  ✗ {exc}")
                table = None
            if table is not None:
                if name in self.base_urls:
                    table["base_url"] = self.base_urls[name]
                self.doc.set_source(name, table)
                if self.check(name):
                    self.say(f"{label} is ready.")
                    return
            if not click.confirm(f"Try {label} again?", default=True):
                if not click.confirm(f"Keep these {label} settings all the same?",
                                     default=False):
                    self.doc.set_source(name, current or None)
                self.doc.save()
                return
            current = self.doc.source(name)

    # -- the vendors --------------------------------------------------------------------------

    def salesforce(self, current: dict[str, Any]) -> dict[str, Any]:
        method = "browser" if "refresh_token" in current or not current.get("username") \
            else "password"
        method = click.prompt("Sign in to Salesforce with your browser, or with a username, "
                              "password and security token?",
                              type=click.Choice(["browser", "password"]), default=method)
        table = {k: v for k, v in current.items() if k not in SF_LOGIN_KEYS}
        table["type"] = "salesforce"
        table["domain"] = click.prompt('Log in at "login" (production) or "test" (a '
                                       "Salesforce sandbox)", default=str(
                                           current.get("domain", "login")))
        if method == "password":
            table.pop("client_id", None)
            table["username"] = click.prompt("Salesforce username",
                                             default=current.get("username"))
            table["password"] = self.secret("salesforce", "password", "Password", current)
            table["security_token"] = self.secret("salesforce", "security_token",
                                                  "Security token", current, optional=True)
            return table
        self.say("Salesforce: a connected app (Setup > App Manager) with OAuth on, PKCE "
                 f"required, the scopes api and refresh_token, and the callback URL "
                 f"http://127.0.0.1:{SF_CALLBACK_PORT}{SF_CALLBACK_PATH}")
        table["client_id"] = click.prompt("The connected app's consumer key",
                                          default=current.get("client_id"))
        secret = self.secret("salesforce", "client_secret", "Its consumer secret, if the app "
                             "requires one", current, optional=True)
        if secret:
            table["client_secret"] = secret
        if self._keep_sign_in("Salesforce", table, current):
            return table
        provider = salesforce_provider(table["domain"], self.base_urls.get("salesforce")
                                       or current.get("base_url"))
        tokens = sign_in(provider, table["client_id"], self._resolve(secret), say=self.say)
        table["refresh_token"] = self.doc.put_secret("salesforce_refresh_token",
                                                     tokens.refresh_token, self.home)
        return table

    def hubspot(self, current: dict[str, Any]) -> dict[str, Any]:
        table = {k: v for k, v in current.items() if k != "access_token"}
        table["type"] = "hubspot"
        self.say("HubSpot: use a private app's access token (Settings > Integrations > "
                 "Private Apps), with read access to the CRM.")
        table["access_token"] = self.secret("hubspot", "access_token", "Access token", current)
        return table

    def google(self, current: dict[str, Any]) -> dict[str, Any]:
        method = "service-account" if current.get("service_account_file") else "browser"
        method = click.prompt("Sign in to Google with your browser, or with a service account "
                              "(set up by a Workspace administrator)?",
                              type=click.Choice(["browser", "service-account"]), default=method)
        table = {k: v for k, v in current.items() if k not in GOOGLE_LOGIN_KEYS}
        table["type"] = "google"
        if method == "service-account":
            table["service_account_file"] = click.prompt(
                "The service account's JSON key file", default=current.get(
                    "service_account_file"))
            table["delegated_user"] = click.prompt(
                "The Workspace user to act as", default=current.get("delegated_user"))
            return table
        table["client_id"] = click.prompt("The OAuth client ID (a Desktop app, Google Cloud "
                                          "console > Credentials)",
                                          default=current.get("client_id"))
        table["client_secret"] = self.secret("google", "client_secret", "Its client secret",
                                             current)
        base_url = self.base_urls.get("google") or current.get("base_url")
        provider = google_provider(base_url)
        if base_url:
            table["token_uri"] = provider.token_url
        if self._keep_sign_in("Google", table, current):
            return table
        tokens = sign_in(provider, table["client_id"], self._resolve(table["client_secret"]),
                         say=self.say)
        table["refresh_token"] = self.doc.put_secret("google_refresh_token",
                                                     tokens.refresh_token, self.home)
        return table

    def _keep_sign_in(self, label: str, table: dict[str, Any], current: dict[str, Any]
                      ) -> bool:
        """On a second run with the same app: keep the saved sign-in unless asked to sign
        in again (the live check then tries the saved one)."""
        if not current.get("refresh_token") or current.get("client_id") != table["client_id"]:
            return False
        if click.confirm(f"Sign in to {label} again in the browser?", default=False):
            return False
        table["refresh_token"] = current["refresh_token"]
        return True

    def _resolve(self, ref: dict[str, str] | None) -> str | None:
        """A stored secret's value, to use it now (the sign-in needs the client secret)."""
        from exporter.secrets import resolve_secrets

        if ref is None:
            return None
        return resolve_secrets(self.doc.path, "setup", {"value": ref}, ["value"])["value"]
