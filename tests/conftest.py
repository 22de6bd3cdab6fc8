"""Shared fixtures: real archives (SQLCipher files) in tmp_path, and a CLI runner with its
own config file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner, Result

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import SCRYPT_DEFAULT
from tests.keyring_backend import MemoryKeyring

# Tests choose their keyring explicitly: entries in memory, never the venv's default (with
# keyrings.alt installed, a plaintext file in the home folder, which exporter refuses).
keyring.set_keyring(MemoryKeyring())

# Tests unlock mostly with key files (HKDF, instant); passphrase tests use the real KDFs.
FAST_SCRYPT = dict(SCRYPT_DEFAULT, n=2**10)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual 022: anything not made private on purpose comes out 0644 / 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def archive_path(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "archive.key"


@pytest.fixture
def archive(archive_path: Path, key_path: Path) -> Iterator[Archive]:
    arc, _recovery = Archive.create(archive_path, key_file=key_path)
    try:
        yield arc
    finally:
        arc.close()


class Cli:
    """Runs ``exporter`` in-process against a config file of its own."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "config.toml"
        self.archive = tmp_path / "archive.db"
        self.key_file = tmp_path / "archive.key"
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 input: str | None = None) -> Result:
        full_env: dict[str, str | None] = {
            name: None for name in ("EXPORTER_PASSPHRASE", "EXPORTER_KEY_FILE",
                                    "EXPORTER_RECOVERY_KEY", "EXPORTER_NEW_PASSPHRASE")}
        full_env["EXPORTER_CONFIG"] = str(self.config)
        full_env.update(env or {})
        return self.runner.invoke(cli, list(args), env=full_env, input=input,
                                  catch_exceptions=False)

    def init(self, passphrase: str | None = "correct horse battery",  # noqa: S107
             key_file: bool = True) -> Result:
        args = ["init", "--archive", str(self.archive)]
        if key_file:
            args += ["--key-file", str(self.key_file)]
        env = {"EXPORTER_PASSPHRASE": passphrase} if passphrase else {}
        result = self(*args, env=env)
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def run_cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
