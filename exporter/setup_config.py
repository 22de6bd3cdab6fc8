"""What ``exporter setup`` writes: the config file edited in place (tomlkit keeps the
comments, the order and every table it does not touch), and secrets put where the nightly
job can read them.

Where secrets go (:func:`secret_home`): the scheduled job must be able to read them with
nobody logged in at a terminal.

- Windows: the OS keyring (Windows Credential Manager). The scheduled task runs as the same
  user, with that user's stored password, so it opens the user's credentials.
- Linux and macOS: a file only its owner can read (0600, in a 0700 ``secrets`` folder beside
  the config). cron has no desktop session, so the Secret Service or an unlocked login
  keychain is not there at 2 a.m.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tomlkit
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from exporter.errors import ConfigError
from exporter.keys import write_private_file
from exporter.private_files import make_private

__all__ = ["ConfigDocument", "SecretHome", "secret_home"]

SecretHome = Literal["keyring", "file"]
KEYRING_SERVICE = "exporter"


def secret_home(platform: str = sys.platform) -> SecretHome:
    """Where the scheduled job on ``platform`` can read a secret (module docstring)."""
    return "keyring" if platform == "win32" else "file"


class ConfigDocument:
    """The config file as tomlkit holds it: tables replaced whole, the rest kept as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.doc: TOMLDocument = tomlkit.parse(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"There is no config file at {path}; run 'exporter init' first "
                              "(it creates the archive and its keys), then 'exporter "
                              "setup'.") from None
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
            raise ConfigError(f"The config file {path} cannot be read ({exc}); fix it or "
                              "run 'exporter init' again.") from exc

    # -- reading ----------------------------------------------------------------------------

    def plain(self) -> dict[str, Any]:
        """The whole document as plain Python values."""
        value: dict[str, Any] = self.doc.unwrap()
        return value

    def source(self, name: str) -> dict[str, Any]:
        sources = self.plain().get("sources", {})
        table = sources.get(name) if isinstance(sources, dict) else None
        return dict(table) if isinstance(table, dict) else {}

    def copies(self) -> list[dict[str, Any]]:
        copies = self.plain().get("copies", [])
        return [dict(t) for t in copies if isinstance(t, dict)] if isinstance(copies,
                                                                              list) else []

    def notify(self) -> dict[str, Any]:
        table = self.plain().get("notify")
        return dict(table) if isinstance(table, dict) else {}

    # -- writing ----------------------------------------------------------------------------

    def set_source(self, name: str, table: Mapping[str, Any] | None) -> None:
        """``[sources.NAME]`` set to ``table`` (keys in its order), or removed (None)."""
        sources = self.doc.get("sources")
        if sources is None:
            if table is None:
                return
            sources = tomlkit.table(is_super_table=True)
            self.doc["sources"] = sources
        if table is None:
            sources.pop(name, None)
            return
        new = _table(table)
        if name in sources:
            old = sources[name]
            for key in [k for k in old if k not in table]:
                del old[key]
            for key, value in new.items():
                old[key] = value
        else:
            sources[name] = new

    def set_copies(self, tables: Sequence[Mapping[str, Any]]) -> None:
        if not tables:
            self.doc.pop("copies", None)
            return
        aot = AoT([_table(t) for t in tables])
        self.doc["copies"] = aot

    def set_notify(self, table: Mapping[str, Any] | None) -> None:
        if table is None:
            self.doc.pop("notify", None)
        else:
            self.doc["notify"] = _table(table)

    def save(self) -> None:
        """Written atomically, 0600 (it says where the key file and secrets are)."""
        write_private_file(self.path, tomlkit.dumps(self.doc).encode("utf-8"))

    # -- secrets ----------------------------------------------------------------------------

    def put_secret(self, name: str, value: str, home: SecretHome) -> dict[str, str]:
        """Store ``value`` as ``name`` where the nightly job reads it; the reference to write
        in the config."""
        if home == "keyring":
            import keyring
            import keyring.errors

            try:
                keyring.set_password(KEYRING_SERVICE, name, value)
            except keyring.errors.KeyringError as exc:
                raise ConfigError(f"The OS keyring refused to store {name} "
                                  f"({type(exc).__name__}); run 'exporter setup --secrets "
                                  "file' to keep secrets in private files instead.") from exc
            return {"keyring": f"{KEYRING_SERVICE}/{name}"}
        folder = self.path.parent / "secrets"
        folder.mkdir(mode=0o700, exist_ok=True)
        if os.name != "nt":
            folder.chmod(0o700)
        else:
            make_private(folder)
        write_private_file(folder / name, value.encode("utf-8"))
        return {"file": f"secrets/{name}"}


def _table(values: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    table.add(tomlkit.nl())  # a blank line before the next table, as a person writes it
    return table
