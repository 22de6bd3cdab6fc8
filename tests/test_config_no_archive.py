"""A newcomer who ran 'exporter sandbox serve' first has a config with sources but no
[archive]: 'check' (any command) says to run init on that file, in a form that works."""

from __future__ import annotations

import re
import shlex

from sandbox.cli import SANDBOX_CONFIG_MARK
from tests.conftest import Cli


def test_a_config_without_archive_says_to_run_init_on_it(run_cli: Cli) -> None:
    folder = run_cli.tmp / "Jo Ann"  # a space, as in C:\\Users\\Jo Ann
    folder.mkdir()
    run_cli.config = folder / "config.toml"
    run_cli.config.write_text(f'{SANDBOX_CONFIG_MARK}\n[sources.salesforce]\n'
                              'type = "salesforce"\n', encoding="utf-8")

    result = run_cli("check")

    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "has no [archive] path" in said and "under [archive]." in said
    command = re.search(r"run '(exporter --config .+? init)' to create the archive", said)
    assert command, said
    args = shlex.split(command.group(1))[1:]
    assert args == ["--config", str(run_cli.config), "init"]
    # ... and that command is the next step: it makes the archive and adds its path.
    made = run_cli(*args, "--archive", str(run_cli.archive), "--key-file",
                   str(run_cli.key_file), env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    assert made.exit_code == 0, made.output
    assert run_cli("status").exit_code == 0
