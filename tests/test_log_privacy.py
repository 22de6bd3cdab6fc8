"""Issue 15: the log files hold no health data and are the user's alone. A canary run: a sync
of the sandbox agency and prints by name, by a misspelt name ("did you mean" names the
nearest clients), by an ambiguous first name (which lists the matches), of every client and of
the client list; then every log file is searched for every client's name. The log folder is
0700 and its files 0600, whatever the umask. Real sources over loopback, the real CLI."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.keys import KeyFile
from exporter.logs import setup_logging
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes (ACLs: test_acl)")


@pytest.fixture
def synced(run_cli: Cli) -> Iterator[Cli]:
    old = os.umask(0o022)
    try:
        with Sandbox(clients=8, seed=5) as sb:
            run_cli.init(passphrase=None)
            merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
            text = run_cli.config.read_text()
            run_cli.config.write_text(text + f'\n[log]\ndir = "{run_cli.tmp / "logs"}"\n')
            result = run_cli("sync")
            assert result.exit_code == 0, result.output
            yield run_cli
    finally:
        os.umask(old)


def _names(cli: Cli) -> list[str]:
    with Archive.open(cli.archive, KeyFile(cli.key_file)) as arc:
        return [str(data["Name"]) for _id, data in arc.records("salesforce", "Account")
                if data and data.get("Name")]


def test_no_client_name_reaches_a_log_file(synced: Cli) -> None:
    names = _names(synced)
    assert len(names) >= 8
    first_names = [n.split()[0] for n in names]
    common = max(set(first_names), key=first_names.count)
    out = synced.tmp / "plans"
    typo = names[1][:-1] + "x"
    runs = [("print", names[0], "--out", str(out / "one.pdf")),
            ("print", typo, "--out", str(out / "typo.pdf")),
            ("print", common, "--out", str(out / "many.pdf")),
            ("print", "--all", "--split", "--out", str(out / "all"), "--format", "html"),
            ("clients",)]
    outputs = [synced(*args) for args in runs]
    assert outputs[0].exit_code == 0, outputs[0].output
    assert outputs[1].exit_code == 9 and "did you mean" in outputs[1].output
    assert names[1].lower() in outputs[1].output.lower()  # on screen: that is where it helps
    if first_names.count(common) > 1:
        assert outputs[2].exit_code == 9 and "matches" in outputs[2].output
    assert outputs[3].exit_code == 0, outputs[3].output
    logs = sorted((synced.tmp / "logs").glob("*.log"))
    assert logs
    text = "\n".join(p.read_text(encoding="utf-8") for p in logs).lower()
    leaked = [n for n in names if n.lower() in text or n.split()[-1].lower() in text]
    assert leaked == []
    assert "nosuchclient" in text  # the failed print is logged, by its kind


@posix_only
def test_log_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        folder = tmp_path / "state" / "logs"
        path = setup_logging(folder)
        import logging

        logging.getLogger("exporter.test").warning("a line")
        assert path.exists()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # A file an older exporter left readable by others is narrowed when next opened.
        older = tmp_path / "older"
        older.mkdir()
        setup_logging(older)
        path = Path(logging.getLogger("exporter").handlers[0].baseFilename)  # type: ignore[attr-defined]
        path.write_text("old line\n")
        path.chmod(0o644)
        setup_logging(folder)
        setup_logging(older)
        logging.getLogger("exporter.test").warning("another line")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
