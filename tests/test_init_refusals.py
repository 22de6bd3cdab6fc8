"""Issue 11 point 12: every refusal of ``exporter init`` exits with the code the README's table
gives it (never 1, "an unexpected problem"), shows no recovery key and creates nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Cli

README = Path(__file__).resolve().parent.parent / "README.md"
GOOD = "correct horse battery"


def _exit_rows() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Exit codes"):]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.*) \|$", table, re.M)}


def _setup(cli_: Cli, case: str) -> tuple[list[str], dict[str, str]]:
    """The arguments and environment of an init that must be refused, after arranging the
    files that make it so."""
    args = ["init", "--archive", str(cli_.archive)]
    env = {"EXPORTER_PASSPHRASE": GOOD}
    if case == "already set up":
        cli_.config.write_text('[archive]\npath = "elsewhere.db"\n', encoding="utf-8")
    elif case == "config not toml":
        cli_.config.write_text("[archive\n", encoding="utf-8")
    elif case == "key file exists":
        cli_.key_file.write_text("someone's key", encoding="utf-8")
        args += ["--key-file", str(cli_.key_file)]
    elif case == "weak passphrase":
        env["EXPORTER_PASSPHRASE"] = "abc"
    elif case == "no passphrase":
        env = {}
    elif case == "archive is a folder":
        cli_.archive.mkdir()
    elif case == "a file where a folder goes":
        (cli_.tmp / "blocker").write_text("x", encoding="utf-8")
        args[2] = str(cli_.tmp / "blocker" / "archive.db")
    elif case == "key file under a file":
        (cli_.tmp / "blocker").write_text("x", encoding="utf-8")
        args += ["--key-file", str(cli_.tmp / "blocker" / "sub" / "archive.key")]
    return args, env


@pytest.mark.parametrize("case,code,words", [
    ("already set up", 3, "already set up"),
    ("config not toml", 3, "cannot be read"),
    ("key file exists", 3, "never reuses a key file"),
    ("weak passphrase", 3, "too weak"),
    ("no passphrase", 3, "A passphrase is needed"),
    ("archive is a folder", 16, "is a folder, not an archive file"),
    ("a file where a folder goes", 16, "is a file; nothing was created"),
    ("key file under a file", 16, "is a file; nothing was created"),
])
def test_init_refusals_exit_with_their_documented_codes(run_cli: Cli, case: str, code: int,
                                                        words: str) -> None:
    before = sorted(p.name for p in run_cli.tmp.iterdir())
    args, env = _setup(run_cli, case)
    arranged = sorted(p.name for p in run_cli.tmp.rglob("*"))
    result = run_cli(*args, env=env)
    text = " ".join(result.output.split())
    assert result.exit_code == code, text
    assert words in text and "Traceback" not in text, text
    assert "recovery key" not in text.lower(), text  # refused before a key was shown
    assert sorted(p.name for p in run_cli.tmp.rglob("*")) == arranged, before
    assert "init" in _exit_rows()[code], f"README's exit code {code} does not mention init"
