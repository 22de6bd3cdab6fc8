"""The care-plan desk under test: a copy of the synced sandbox agency archive (tests.
test_careplan's ``agency``) with three staff accounts, and ``exporter desk`` started as a real
process on a free loopback port, talked to over HTTP (requests, or headless Chromium)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from exporter.archive import Archive
from exporter.desk.staff import add_staff
from exporter.keys import KeyFile

PASSWORD = "lantern orchard violet"
STAFF = {"nora": "print", "olga": "office", "ada": "admin"}


def make_desk_archive(agency_dir: Path, into: Path) -> Path:
    """A private copy of the agency archive with the staff accounts, and its config file."""
    into.mkdir(parents=True, exist_ok=True)
    for f in agency_dir.glob("a.*"):
        shutil.copy2(f, into / f.name)
    with Archive.open(into / "a.db", KeyFile(into / "a.key"), write=True) as archive:
        for name, role in STAFF.items():
            add_staff(archive, name, role, PASSWORD)
    return write_config(into)


def write_config(into: Path, extra: str = "", archive_extra: str = "") -> Path:
    cfg = into / "config.toml"
    cfg.write_text(f'[archive]\npath = "{into / "a.db"}"\nkey_file = "{into / "a.key"}"\n'
                   f'{archive_extra}[log]\ndir = "{into / "logs"}"\n{extra}',
                   encoding="utf-8")
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningDesk:
    url: str
    proc: subprocess.Popen[str]
    config: Path
    output: Path
    sessions: list[requests.Session] = field(default_factory=list)

    @property
    def archive(self) -> Path:
        return self.config.parent / "a.db"

    def login(self, name: str, password: str = PASSWORD) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy between the test and the loopback desk
        form = s.get(self.url + "login", timeout=30)
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        done = s.post(self.url + "login", data={"name": name, "password": password,
                                                "csrf": token.group(1)}, timeout=60)
        s.last = done  # type: ignore[attr-defined]
        self.sessions.append(s)
        return s

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output.read_text(encoding="utf-8", errors="replace")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def start_desk(config: Path, *args: str, env: dict[str, str] | None = None,
               prefix: list[str] | None = None, port: int | None = None,
               scheme: str = "http") -> RunningDesk:
    """``exporter desk`` in its own process; returns once it answers."""
    port = port or free_port()
    output = config.parent / f"desk-{port}.out"
    full_env = {**os.environ, "EXPORTER_CONFIG": str(config), "NO_PROXY": "*",
                **(env or {})}
    for name in ("EXPORTER_PASSPHRASE", "EXPORTER_KEY_FILE"):
        full_env.pop(name, None)
    with open(output, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "exporter", "desk", "--port", str(port),
             *args], env=full_env, stdout=sink, stderr=subprocess.STDOUT, text=True)
    desk = RunningDesk(f"{scheme}://127.0.0.1:{port}/", proc, config, output)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the desk stopped: {desk.stop()}")
        try:
            requests.get(desk.url + "login", timeout=5, verify=False)  # noqa: S501 (may be self-signed)
            return desk
        except requests.RequestException:
            time.sleep(0.3)
    raise AssertionError(f"the desk did not answer: {desk.stop()}")
