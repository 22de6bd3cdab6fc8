"""`exporter sandbox serve` and `exporter sandbox advance`, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import requests

from sandbox import CREDENTIALS


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config", str(tmp_path / "config.toml"),
         "sandbox", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    s3_urls: list[str] = []
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http://127.0.0.1:"):
            urls[parts[0]] = parts[1]
        if parts[:1] == ["s3"]:  # the object store for copies: "s3 URL (bucket copies)"
            s3_urls.append(parts[1])
        if line.startswith(("Sources in", "Targets in")):
            break
    problem = proc.stderr.read() if proc.stderr and not urls else ""
    assert set(urls) == {"salesforce", "hubspot", "google"}, problem
    assert len(s3_urls) == 1, problem
    _check_copy_entry(tmp_path / "config.toml", s3_urls[0])
    _check_notify_entry(tmp_path / "config.toml")
    return proc, urls


def _check_notify_entry(config_path: Path) -> None:
    """[notify] points at the served mail server, its password in a 0600 file, and a test
    message arrives in sandbox-mail/ beside the config."""
    from exporter.config import _notify_settings
    from exporter.notify import send, test_alert

    settings = _notify_settings(config_path, tomllib.loads(config_path.read_text()))
    assert settings is not None and settings.security == "none"
    assert settings.password is not None
    assert Path(settings.password["file"]).stat().st_mode & 0o077 == 0
    send(settings, test_alert(settings))
    [eml] = (config_path.parent / "sandbox-mail").glob("*.eml")
    assert b"Subject: exporter: test message" in eml.read_bytes()


def _check_copy_entry(config_path: Path, s3_url: str) -> None:
    """The [[copies]] entry points at the served store, keys in 0600 files, and they work."""
    from exporter.config import _copy_targets
    from exporter.copies import check_destination, list_copies, open_store

    [target] = _copy_targets(config_path, tomllib.loads(config_path.read_text()))
    assert (target.name, target.url, target.endpoint_url) == (
        "sandbox-s3", "s3://copies/agency", s3_url)
    for ref in target.secrets.values():
        assert Path(ref["file"]).stat().st_mode & 0o077 == 0
    store = open_store(target)
    check_destination(store)
    assert list_copies(store) == []
    store.close()


def test_serve_writes_a_ready_config_and_keeps_state(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    proc, urls = _serve(tmp_path, "--clients", "5", "--state", str(state))
    try:
        config = tomllib.loads((tmp_path / "config.toml").read_text())
        assert {n: t["base_url"] for n, t in config["sources"].items()} == urls
        secret = Path(config["sources"]["hubspot"]["access_token"]["file"])
        assert secret.stat().st_mode & 0o077 == 0
        token = CREDENTIALS["hubspot"]["access_token"]
        r = requests.get(f"{urls['hubspot']}/crm/v3/objects/contacts?limit=100",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and len(r.json()["results"]) > 5
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    saved = json.loads(state.read_text())
    assert len(saved["agency"]["clients"]) == 5

    result = subprocess.run(
        [sys.executable, "-m", "exporter", "sandbox", "advance", "3", "--state", str(state)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 day(s) passed" in result.stdout
    later = json.loads(state.read_text())
    assert later["now"] > saved["now"]
    assert len(later["agency"]["clients"]) >= 5


def test_serve_empty_is_a_fresh_restore_target(tmp_path: Path) -> None:
    proc, urls = _serve(tmp_path, "--empty")
    try:
        config = tomllib.loads((tmp_path / "config.toml").read_text())
        assert "sources" not in config
        assert {n: t["base_url"] for n, t in config["targets"].items()} == urls
        token = CREDENTIALS["hubspot"]["access_token"]
        r = requests.get(f"{urls['hubspot']}/crm/v3/objects/contacts",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and r.json()["results"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _serve_refused(config: Path, *args: str, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "exporter", "--config", str(config), "sandbox", "serve", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def test_serve_never_rewrites_a_config_it_did_not_create(tmp_path: Path) -> None:
    """The office's real config (comments, sources, [notify], [targets]) stays byte for byte,
    with or without --empty: the sandbox refuses it (exit 3) instead of pointing it at
    127.0.0.1."""
    config = tmp_path / "config.toml"
    real = ('# our real config\n[sources.hubspot]\naccess_token = { env = "HS" }\n\n'
            '[targets.hubspot]\naccess_token = { env = "HS2" }\n\n[notify]\nto = ["a@b.c"]\n')
    config.write_text(real)
    for args in ((), ("--empty",)):
        result = _serve_refused(config, *args)
        assert result.returncode == 3, result.stderr
        assert "not written by the sandbox" in result.stderr
        assert config.read_text() == real


def test_serve_without_config_uses_its_own(tmp_path: Path) -> None:
    """No --config: the sandbox writes its own file under the config folder's 'sandbox',
    never the platform's config.toml; a second serve may rewrite its own file."""
    import os

    home = tmp_path / "home"
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "HOME": str(home)}
    env.pop("EXPORTER_CONFIG", None)
    real = home / "exporter" / "config.toml"
    real.parent.mkdir(parents=True)
    real.write_text("# mine\n[archive]\npath = 'x.db'\n")
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "sandbox", "serve", "--empty"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("Targets in"):
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert real.read_text() == "# mine\n[archive]\npath = 'x.db'\n"
    own = home / "exporter" / "sandbox" / "config.toml"
    assert "targets" in tomllib.loads(own.read_text())
    # Its own file it may rewrite: a second serve is not refused.
    again = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(own),
                              "sandbox", "serve"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    assert again.stdout is not None
    try:
        lines = []
        for line in again.stdout:
            if line.startswith("Sources in"):
                lines.append(line)
                break
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    assert lines, again.stderr.read() if again.stderr else ""
    assert "targets" in tomllib.loads(own.read_text())  # the earlier [targets] stay


def test_serve_again_after_init_wrote_the_archive_into_its_config(tmp_path: Path) -> None:
    """The README's sandbox path: serve, 'exporter --config FILE init', stop, serve again
    (the state kept). init rewrites the settings, but keeps the sandbox's mark on the first
    line, so the second serve is not refused, and the archive it added is still there."""
    proc, _urls = _serve(tmp_path, "--clients", "3", "--state", str(tmp_path / "s.json"))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    config = tmp_path / "config.toml"
    env = {**os.environ, "EXPORTER_PASSPHRASE": "correct horse battery staple"}
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--config", str(config), "init", "--archive",
         str(tmp_path / "archive.db"), "--key-file", str(tmp_path / "archive.key")],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "[archive]" in config.read_text()
    for eml in (tmp_path / "sandbox-mail").glob("*.eml"):
        eml.unlink()  # the second serve's test message is checked alone
    proc, _urls = _serve(tmp_path, "--clients", "3", "--state", str(tmp_path / "s.json"))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 0
    assert "[archive]" in config.read_text()
