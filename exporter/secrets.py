"""Secrets for sources: never required in the config file.

A secret field in a source's config is a reference:

    password = { env = "SALESFORCE_PASSWORD" }        # an environment variable
    password = { keyring = "exporter/salesforce" }     # the OS keyring (service/username)
    password = { file = "secrets/salesforce.txt" }     # a file only its owner can read

A plain string is refused for a secret field, so a token is never pasted into the TOML.
A keyring backend that keeps secrets in a plain file (keyrings.alt's ``PlaintextKeyring``) or
nowhere (``keyring.backends.fail``, ``null``) is refused too (:func:`keyring_problem`): the
secret would sit in a file any program of the user's can read, while the config says
"OS keyring".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exporter.errors import ConfigError, SecretInConfig
from exporter.private_files import read_private
from exporter.redact import remember

__all__ = ["keyring_problem", "resolve_secrets", "split_settings"]

SECRET_FILE_LIMIT = 64 * 1024  # a token or a PEM key; anything larger is a wrong path


def _from_file(base: Path, value: str, source: str, name: str) -> str:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base.parent / path
    data = read_private(path, "secret file", SECRET_FILE_LIMIT, ConfigError,
                        label=f"secret file {path} for {source} {name}")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"The secret file {path} for {source} {name} is not text; put the "
                          "secret alone in it, as plain text.") from None


#: Keyring backends that are no keyring: plaintext files, or no storage at all.
_NOT_A_KEYRING = {"PlaintextKeyring", "keyring.backends.fail.Keyring",
                  "keyring.backends.null.Keyring"}


def _plain(backend: Any) -> bool:
    cls = type(backend)
    return cls.__name__ in _NOT_A_KEYRING or \
        f"{cls.__module__}.{cls.__qualname__}" in _NOT_A_KEYRING


def keyring_problem(backend: Any) -> str | None:
    """Why ``backend`` (keyring.get_keyring()) may not hold exporter's secrets, or None. A
    chain of backends is refused when any of them is plaintext (reads try each in turn)."""
    chain = list(getattr(backend, "backends", None) or [backend])
    bad = [b for b in chain if _plain(b)]
    if _plain(backend) or bad:
        which = type(bad[0] if bad else backend)
        return (f"The keyring on this computer ({which.__module__}.{which.__name__}) keeps "
                "secrets in a plain file or not at all, so it is not used; use the Windows "
                "Credential Manager, the macOS Keychain or the Secret Service (GNOME Keyring, "
                "KWallet), uninstall keyrings.alt, or put the secret in a file only you can "
                'read: { file = "..." }')
    return None


def _from_keyring(value: str, source: str, name: str) -> str:
    import keyring
    import keyring.errors

    problem = keyring_problem(keyring.get_keyring())
    if problem is not None:
        raise ConfigError(f"{problem} (for {source} {name}).")
    service, _, user = value.partition("/")
    try:
        secret = keyring.get_password(service, user or name)
    except keyring.errors.KeyringError as exc:
        raise ConfigError(f"The OS keyring could not be read for {source} {name} "
                          f"({type(exc).__name__}).") from exc
    if secret is None:
        raise ConfigError(f"The OS keyring has no entry '{value}' for {source} {name}; add it "
                          f"with: keyring set {service} {user or name}")
    return str(secret)


def resolve_secrets(config_path: Path, source: str, config: Mapping[str, Any],
                    fields: Iterable[str], table: str | None = None) -> dict[str, str]:
    """The source's secret fields, resolved. Absent fields are left out. ``table`` is how
    messages name the config table (default ``[sources.SOURCE]``; e.g. ``[notify]``)."""
    table = table or f"[sources.{source}]"
    out: dict[str, str] = {}
    for name in fields:
        if name not in config:
            continue
        ref = config[name]
        if isinstance(ref, str):
            raise SecretInConfig(
                f"In {config_path}, {table} {name} is written in plain text; keep "
                f'secrets out of the config: {name} = {{ env = "VARIABLE" }}, '
                '{ keyring = "service/user" } or { file = "path" }.')
        if not isinstance(ref, dict) or len(ref) != 1:
            raise ConfigError(f"In {config_path}, {table} {name} must be one of "
                              '{ env = ... }, { keyring = ... } or { file = ... }.')
        kind, value = next(iter(ref.items()))
        if kind == "env":
            secret = os.environ.get(str(value))
            if not secret:
                raise ConfigError(f"The environment variable {value} (for {source} {name}) is "
                                  "not set.")
            out[name] = secret
        elif kind == "keyring":
            out[name] = _from_keyring(str(value), source, name)
        elif kind == "file":
            out[name] = _from_file(config_path, str(value), source, name)
        else:
            raise ConfigError(f"In {config_path}, {table} {name} uses '{kind}'; "
                              "use env, keyring or file.")
    remember(*out.values())  # never shown, should a vendor quote it back (exporter.redact)
    return out


def split_settings(config_path: Path, name: str, table: Mapping[str, Any],
                   fields: Iterable[str], kind: str = "sources"
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``[sources.NAME]`` (or ``[targets.NAME]``: ``kind``) table split into (settings,
    resolved secrets)."""
    fields = tuple(fields)
    secrets = resolve_secrets(config_path, name, table, fields, table=f"[{kind}.{name}]")
    return {k: v for k, v in table.items() if k not in fields}, secrets
