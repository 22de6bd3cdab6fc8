"""Issue 15: plain http:// is refused for sources, restore targets and object-store endpoints
unless it goes to this computer (the sandbox, a test double): a password sent to another host
over http is readable by anyone on the way."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import load_config, write_config
from exporter.errors import ConfigError
from exporter.restore.target import build_writer
from exporter.settings import url_problem
from exporter.sources import build_connector


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:5000/x",
                                 "http://[::1]:9000", "https://api.hubapi.com",
                                 "https://10.0.0.5"])
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://salesforce.example.com",
                                 "http://127.0.0.1.evil.example", "ftp://127.0.0.1",
                                 "127.0.0.1:8080"])
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    assert url_problem(url) is not None


@pytest.mark.parametrize("name,table", [
    ("salesforce", {"type": "salesforce", "username": "u", "password": {"env": "P"},
                    "security_token": {"env": "T"}, "base_url": "http://192.168.1.20:8080"}),
    ("hubspot", {"type": "hubspot", "access_token": {"env": "T"},
                 "base_url": "http://hubspot.example.com"}),
    ("google", {"type": "google", "token": {"env": "T"},
                "base_url": "http://google.example.com"}),
])
def test_a_source_over_plain_http_to_another_host_is_refused(
        name: str, table: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https://"):
        build_connector(name, table, tmp_path / "config.toml")


def test_a_restore_target_over_plain_http_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unencrypted"):
        build_writer("restore", {"type": "hubspot", "access_token": {"env": "T"},
                                 "base_url": "http://10.1.2.3"}, tmp_path / "config.toml")


def test_an_object_store_endpoint_over_plain_http_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    write_config(config, {"archive": {"path": "a.db"}, "copies": [{
        "url": "s3://bucket/office", "endpoint_url": "http://nas.office.lan:9000",
        "access_key_id": {"env": "K"}, "secret_access_key": {"env": "S"}}]})
    with pytest.raises(ConfigError, match="unencrypted"):
        load_config(config)
    write_config(config, {"archive": {"path": "a.db"}, "copies": [{
        "url": "s3://bucket/office", "endpoint_url": "http://127.0.0.1:9000",
        "access_key_id": {"env": "K"}, "secret_access_key": {"env": "S"}}]})
    assert load_config(config).copies[0].endpoint_url == "http://127.0.0.1:9000"
