"""Secret references in source config: environment, OS keyring, private file; never plain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, fail
from keyrings.alt.file import PlaintextKeyring

from exporter.errors import ConfigError
from exporter.secrets import keyring_problem, resolve_secrets
from tests.keyring_backend import MemoryKeyring


def test_env_file_and_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SF_PASSWORD", "from-env")
    secret_file = tmp_path / "token.txt"
    secret_file.write_text("from-file\n")
    secret_file.chmod(0o600)
    assert isinstance(keyring.get_keyring(), MemoryKeyring)  # chosen in conftest.py
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


@pytest.fixture
def keyring_backend() -> Iterator[None]:
    """Put the tests' own keyring back after a test sets another."""
    before = keyring.get_keyring()
    try:
        yield
    finally:
        keyring.set_keyring(before)


class _Chain(chainer.ChainerBackend):
    """A chain of a real keyring and a plaintext one, as keyring builds when keyrings.alt is
    installed beside the OS keyring."""

    def __init__(self, backends: list[object]) -> None:
        super().__init__()
        self._chain = backends

    @property  # type: ignore[override]
    def backends(self) -> list[object]:
        return self._chain


@pytest.mark.parametrize("make", [
    lambda tmp: PlaintextKeyring(),
    lambda tmp: fail.Keyring(),
    lambda tmp: _Chain([MemoryKeyring(), PlaintextKeyring()]),
], ids=["plaintext", "fail", "chain-with-plaintext"])
def test_a_plaintext_keyring_is_refused_with_what_to_use_instead(
        tmp_path: Path, keyring_backend: None, make: object) -> None:
    ring = make(tmp_path)  # type: ignore[operator]
    if isinstance(ring, PlaintextKeyring):
        ring.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
        ring.set_password("exporter", "hubspot", "in-a-plain-file")
    keyring.set_keyring(ring)
    config = {"access_token": {"keyring": "exporter/hubspot"}}
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(tmp_path / "config.toml", "hubspot", config, ["access_token"])
    message = str(caught.value)
    assert "keeps secrets in a plain file or not at all" in message
    assert "Credential Manager" in message and '{ file = "..." }' in message
    assert "in-a-plain-file" not in message


def test_the_tests_own_keyring_is_accepted() -> None:
    assert keyring_problem(MemoryKeyring()) is None
    assert keyring_problem(_Chain([MemoryKeyring()])) is None
