"""The credentials the vendor emulators accept. They are not secrets: anyone may read them.

A module of its own so that the emulators can check logins without importing the
``sandbox`` package that serves them.
"""

from __future__ import annotations

__all__ = ["CREDENTIALS"]

CREDENTIALS: dict[str, dict[str, str]] = {
    "salesforce": {
        "username": "office@sunrise-homecare.example",
        "password": "sandbox-password",
        "security_token": "sandboxtoken",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
    },
    "hubspot": {"access_token": "sandbox-hubspot-token"},
    "google": {"token": "sandbox-google-token",
               # the OAuth client ("Desktop app") that signs in with the browser
               "client_id": "sandbox-client-id.apps.googleusercontent.com",
               "client_secret": "sandbox-google-client-secret"},
}
