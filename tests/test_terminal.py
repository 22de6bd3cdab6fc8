"""Output under a console or file that is not UTF-8 (issue 12 point 5). Windows writes a
redirected stdout in the ANSI code page (cp1252); here the same happens with
PYTHONIOENCODING=cp1252, or with the C locale and UTF-8 mode off (an ASCII stdout)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Cli

NAME = "Nguyễn Văn Đức"  # not in cp1252: ễ, ă, Đ


@pytest.fixture
def configured(run_cli: Cli) -> Cli:
    run_cli.init()
    with open(run_cli.config, "a", encoding="utf-8") as fh:
        fh.write('\n[sources.hubspot]\ntype = "hubspot"\n'
                 'access_token = { env = "EXPORTER_TEST_NO_SUCH_TOKEN" }\n')
    return run_cli


def _run(cli_: Cli, *args: str, **env: str) -> tuple[int, bytes, bytes]:
    """``exporter ARGS > out.txt``. The arguments reach main() as str from a UTF-8 script, as
    Windows passes them (its command line is Unicode whatever the code page)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LC_", "PYTHONIO", "PYTHONUTF8", "EXPORTER_")) and k != "LANG"}
    base |= {"EXPORTER_CONFIG": str(cli_.config), "EXPORTER_KEY_FILE": str(cli_.key_file)}
    script = cli_.tmp / "run_exporter.py"
    argv = ["exporter", *args]
    script.write_text(f"import sys\nfrom exporter.cli import main\nsys.argv = {argv!r}\nmain()\n",
                      encoding="utf-8")
    out = cli_.tmp / "out.txt"
    with open(out, "wb") as fh:  # `exporter check > check.txt`: a file, not a console
        done = subprocess.run([sys.executable, str(script)], stdout=fh,
                              stderr=subprocess.PIPE, env=base | env, timeout=120)
    return done.returncode, out.read_bytes(), done.stderr


def test_check_redirected_to_a_cp1252_file_does_not_crash(configured: Cli) -> None:
    code, out, err = _run(configured, "check", PYTHONIOENCODING="cp1252")
    assert code == 12, err  # the source fails; the command itself does not
    text = out.decode("cp1252")
    assert "? key file: " in text and "unlocks the archive" in text
    assert "? hubspot: The environment variable EXPORTER_TEST_NO_SUCH_TOKEN" in text
    assert b"unexpected problem" not in err


def test_a_file_in_a_legacy_locale_gets_utf8(configured: Cli) -> None:
    legacy = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code, out, err = _run(configured, "check", **legacy)
    assert code == 12, err
    assert "✓ key file: " in out.decode("utf-8")
    assert "✗ hubspot: " in out.decode("utf-8")
    code, out, err = _run(configured, "history", "salesforce", "Account", NAME, **legacy)
    assert code == 9 and f"There is no record {NAME} in salesforce Account" in err.decode()
