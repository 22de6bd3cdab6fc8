"""Issue 15: a new passphrase must meet the policy (>= 12 characters, not one repeated
pattern); a weak one is refused with a plain sentence and nothing changes."""

from __future__ import annotations

import pytest

from exporter.errors import WeakPassphrase
from exporter.keys import require_strong_passphrase
from tests.conftest import Cli


@pytest.mark.parametrize("weak", ["a", "pw pw pw", "Summer2024!", "aaaaaaaaaaaaaaaa",
                                  "abababababababab"])
def test_weak_passphrases_are_refused(weak: str) -> None:
    with pytest.raises(WeakPassphrase):
        require_strong_passphrase(weak)


@pytest.mark.parametrize("fine", ["correct horse battery", "ex-employee passphrase 2019",
                                  "pässwörd ✓ blau"])
def test_reasonable_passphrases_pass(fine: str) -> None:
    require_strong_passphrase(fine)


def test_init_refuses_a_weak_passphrase_and_creates_nothing(run_cli: Cli) -> None:
    result = run_cli("init", "--archive", str(run_cli.archive), env={"EXPORTER_PASSPHRASE": "a"})
    assert result.exit_code == 3, result.output
    assert "too weak" in result.output and "at least 12 characters" in result.output
    assert not run_cli.archive.exists() and not run_cli.config.exists()


def test_keys_add_and_passwd_refuse_a_weak_passphrase(run_cli: Cli) -> None:
    run_cli.init()
    before = (run_cli.archive.with_name("archive.db.keys")).read_bytes()
    for args in (("keys", "add", "--passphrase"), ("keys", "passwd")):
        result = run_cli(*args, env={"EXPORTER_NEW_PASSPHRASE": "short"})
        assert result.exit_code == 3 and "too weak" in result.output, result.output
    assert run_cli.archive.with_name("archive.db.keys").read_bytes() == before
