"""A restore target that answers with an echo of the request, ``Authorization: Bearer ...``
included (the sandbox's ``echo`` fault: a debugging proxy, a careless endpoint): the token
(HubSpot's private-app token, Salesforce's session id) is in no output, log line, error
report or stored run, and the error report and log stay the user's alone (0600)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner

from exporter.archive import Archive
from exporter.cli import cli
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import CREDENTIALS, Sandbox

#: A bearer token shown as anything but our mark.
SHOWN_BEARER = re.compile(r"(?i)bearer\s+(?!\[redacted\])\S")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("echo")
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive, Sandbox(clients=2, seed=51) as src:
        for vendor in ("salesforce", "hubspot"):
            table = src.source_configs(tmp / "s")[vendor]
            report = run_sync(archive, {vendor: build_connector(vendor, table,
                                                                tmp / "c.toml")})
            assert report.status == "ok"
    yield tmp


def _run(tmp: Path, dst: Sandbox, vendor: str, work: Path) -> tuple[Any, list[Path]]:
    work.mkdir()
    config = work / "config.toml"
    config.write_text(tomli_w.dumps({
        "archive": {"path": str(tmp / "a.db"), "key_file": str(tmp / "a.key")},
        "log": {"dir": str(work / "logs")},
        "targets": {"t": {**dst.source_configs(work / "secrets")[vendor],
                          "retry": {"base_delay": 0.01, "max_delay": 0.05}}}}),
        encoding="utf-8")
    config.chmod(0o600)
    source = "hubspot" if vendor == "salesforce" else "salesforce"
    errors = work / "errors.csv"
    result = CliRunner().invoke(cli, ["restore", "--to", "t", "--mapping",
                                      f"{source}_to_{vendor}", "--errors", str(errors)],
                                env={"EXPORTER_CONFIG": str(config)}, catch_exceptions=False)
    return result, [errors, *(work / "logs").glob("*.log")]


def _no_secret(vendor: str, text: str) -> None:
    for name, value in CREDENTIALS[vendor].items():
        if name != "username":
            assert value not in text, name
    assert not SHOWN_BEARER.search(text), SHOWN_BEARER.search(text)


@pytest.mark.parametrize(("vendor", "path", "codes"), [
    ("hubspot", r"objects/companies/batch/(create|upsert)", (11,)),  # records refused
    ("hubspot", r"properties/companies/batch", (12,)),  # the setup refused: the run stops
    ("salesforce", r"composite/sobjects", (12,)),  # every write refused
])
def test_a_target_quoting_the_request_back_never_shows_the_token(
        synced: Path, tmp_path: Path, vendor: str, path: str, codes: tuple[int, ...]) -> None:
    with Sandbox(clients=0, seed=52, vendors=(vendor,)) as dst:
        echo = dst.faults.add(vendor, "echo", path=path, times=-1)
        result, files = _run(synced, dst, vendor, tmp_path / "w")
        assert echo.fired >= 1
    assert result.exit_code in codes, result.output
    assert [p.suffix for p in files if p.exists()] == [".csv", ".log"][:len(files)] or \
        [p.suffix for p in files if p.exists()] == [".log"]  # a log, and a report if any
    assert "Could not parse the request" in result.output + "".join(
        p.read_text(encoding="utf-8") for p in files if p.exists())  # the echo got through
    assert "cannot see it" not in result.output  # a quoted field name is not hidden by FLS
    _no_secret(vendor, result.output)
    for path_ in files:
        if path_.exists():
            _no_secret(vendor, path_.read_text(encoding="utf-8"))
            assert path_.stat().st_mode & 0o777 == 0o600, path_
    with Archive.open(synced / "a.db", KeyFile(synced / "a.key")) as ro:
        for run in ro.runs(limit=3):
            _no_secret(vendor, f"{run.stats} {run.error}")
