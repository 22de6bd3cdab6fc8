"""Third-party plugins: the example connector in tests/data/example_plugin is installed with
pip, found through its entry point like the built-in connectors, and synced by the real CLI
(in a separate process whose path holds the installed package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.keys import KeyFile
from tests.conftest import Cli

EXAMPLE = Path(__file__).resolve().parent / "data" / "example_plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed by pip into a folder of its own (the venv stays as it
    was; the folder goes on PYTHONPATH, where importlib.metadata finds its entry points)."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source folder: keep tests/ clean
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target",
                    str(target), str(source)], check=True, capture_output=True, timeout=300)
    assert list(target.glob("exporter_csvfolder-1.0.0.dist-info/entry_points.txt"))
    return target


def _exporter(site: Path, cli_: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    env.update(PYTHONPATH=str(site), EXPORTER_CONFIG=str(cli_.config), PYTHONUTF8="1")
    return subprocess.run([sys.executable, "-m", "exporter", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def _write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    lines = ["id,name,phone"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_installed_plugin_is_listed_and_syncs(site: Path, run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    lists = run_cli.tmp / "lists"
    lists.mkdir()
    _write_csv(lists / "caregivers.csv", [("c1", "Ana Lima", "555-0101"),
                                          ("c2", "Bo Chen", "555-0102")])
    _write_csv(lists / "on_call.csv", [("w1", "Dee Park", "555-0199")])
    with run_cli.config.open("a", encoding="utf-8") as f:
        f.write(f'\n[sources.office_files]\ntype = "csvfolder"\nfolder = "{lists.as_posix()}"\n')

    listed = _exporter(site, run_cli, "connectors")
    assert listed.returncode == 0, listed.stderr
    assert "csvfolder connector (exporter_csvfolder:CsvFolderConnector)" in listed.stdout
    assert "failed to load" not in listed.stdout

    first = _exporter(site, run_cli, "sync")
    assert first.returncode == 0, first.stdout + first.stderr
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert arc.current("office_files", "caregivers", "c2")[0] == \
            '{"id":"c2","name":"Bo Chen","phone":"555-0102"}'
        assert arc.record_ids("office_files", "on_call") == {"w1"}

    # A changed row, a removed row: a new version and a deletion (found by listing the ids).
    _write_csv(lists / "caregivers.csv", [("c1", "Ana Lima", "555-0111")])
    second = _exporter(site, run_cli, "sync", "--full")
    assert second.returncode == 0, second.stdout + second.stderr
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert '"555-0111"' in arc.current("office_files", "caregivers", "c1")[0]
        assert arc.record_ids("office_files", "caregivers") == {"c1"}

    # The plugin's declared settings are checked like the built-in ones.
    text = run_cli.config.read_text(encoding="utf-8")
    run_cli.config.write_text(text.replace('type = "csvfolder"', 'type = "csvfolder"\nkee = "id"'),
                              encoding="utf-8")
    wrong = _exporter(site, run_cli, "sync")  # the only source is skipped: the run failed
    assert wrong.returncode == 12
    assert "setting 'kee' that exporter does not know (did you mean key?)" in wrong.stdout
