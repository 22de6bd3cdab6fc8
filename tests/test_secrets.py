"""Secret references in source config: environment, OS keyring, private file; never plain."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from exporter.errors import ConfigError
from exporter.secrets import resolve_secrets


def test_env_file_and_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SF_PASSWORD", "from-env")
    secret_file = tmp_path / "token.txt"
    secret_file.write_text("from-file\n")
    secret_file.chmod(0o600)
    ring = PlaintextKeyring()
    ring.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    keyring.set_keyring(ring)
    keyring.set_password("exporter", "hubspot", "from-keyring")
    config = {"password": {"env": "TEST_SF_PASSWORD"}, "token": {"file": "token.txt"},
              "access_token": {"keyring": "exporter/hubspot"}, "username": "office"}
    got = resolve_secrets(tmp_path / "config.toml", "src", config,
                          ["password", "token", "access_token", "client_secret"])
    assert got == {"password": "from-env", "token": "from-file", "access_token": "from-keyring"}


@pytest.mark.parametrize("value,message", [
    ("pasted", "keep secrets out of the config"),
    ({"env": "NOT_SET_ANYWHERE_42"}, "is not set"),
    ({"file": "missing.txt"}, "does not exist"),
    ({"vault": "x"}, "use env, keyring or file"),
    ({"env": "A", "file": "b"}, "must be one of"),
])
def test_bad_references_are_plain_config_errors(tmp_path: Path, value: object,
                                                message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_secrets(tmp_path / "config.toml", "src", {"password": value}, ["password"])
    assert "pasted" not in str(caught.value)


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text("t")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secrets(tmp_path / "c.toml", "src", {"token": {"file": str(path)}}, ["token"])


@pytest.mark.parametrize("kind,expected", [("sources", "[sources.crm]"),
                                           ("targets", "[targets.crm]")])
def test_messages_name_the_table_the_secret_is_in(tmp_path: Path, kind: str,
                                                  expected: str) -> None:
    from exporter.secrets import split_settings

    with pytest.raises(ConfigError) as caught:
        split_settings(tmp_path / "c.toml", "crm", {"type": "x", "token": "pasted"}, ["token"],
                       kind=kind)
    assert f"{expected} token is written in plain text" in str(caught.value)
    with pytest.raises(ConfigError, match=r"\[notify\] password uses 'vault'"):
        resolve_secrets(tmp_path / "c.toml", "notify", {"password": {"vault": "x"}},
                        ["password"], table="[notify]")
