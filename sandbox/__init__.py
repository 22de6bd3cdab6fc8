"""The sandbox cloud: loopback emulators of Salesforce, HubSpot and Google holding a
deterministic synthetic home-care agency.

    with Sandbox(clients=100, seed=1) as sb:
        sb.urls          # {"salesforce": "http://127.0.0.1:PORT", "hubspot": ..., "google": ...}
        sb.advance(3)    # three days pass: edits, new clients, discharges, deletes
        sb.faults.add("hubspot", "rate_limit", times=2, retry_after=1)
        sb.log.count("salesforce", "query")

Each vendor runs on its own ephemeral port, all in one process. ``state`` (a JSON file)
makes the data persist across restarts, so a restore target can be inspected afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.agency import Agency, ChangeSet
from sandbox.credentials import CREDENTIALS
from sandbox.faults import FaultPlan
from sandbox.google import GoogleEmulator
from sandbox.http import Emulator, EmulatorServer, RequestLog
from sandbox.hubspot import HubSpotEmulator
from sandbox.salesforce import SalesforceEmulator

__all__ = ["CREDENTIALS", "Sandbox"]


class Sandbox:
    """All three emulators over one :class:`Agency`; a context manager that serves them."""

    def __init__(self, clients: int = 100, seed: int = 1, start: dt.datetime | None = None,
                 state: str | Path | None = None,
                 vendors: Iterable[str] = ("salesforce", "hubspot", "google"),
                 latency: float = 0.0) -> None:
        self.state_path = Path(state) if state else None
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.agency = Agency(clients=clients, seed=seed, start=start)
        chosen = set(vendors)
        unknown = chosen - {"salesforce", "hubspot", "google"}
        if unknown:
            raise ValueError(f"unknown vendor(s): {', '.join(sorted(unknown))}")
        # Vendors left out get an empty agency: cheap to build, never served.
        empty = Agency(clients=0, seed=seed, start=self.agency.start)

        def pick(name: str) -> Agency:
            return self.agency if name in chosen else empty

        self.salesforce = SalesforceEmulator(pick("salesforce"), self.faults)
        self.hubspot = HubSpotEmulator(pick("hubspot"), self.faults)
        self.google = GoogleEmulator(pick("google"), self.faults)
        every: dict[str, Emulator] = {"salesforce": self.salesforce, "hubspot": self.hubspot,
                                      "google": self.google}
        self.emulators = {name: em for name, em in every.items() if name in chosen}
        for em in self.emulators.values():
            em.latency = latency  # seconds per answer, as a vendor across the internet
        self._servers: list[EmulatorServer] = []
        if self.state_path and self.state_path.exists():
            self.load(self.state_path)

    @property
    def urls(self) -> dict[str, str]:
        return {name: em.base_url for name, em in self.emulators.items()}

    def start(self, ports: dict[str, int] | None = None) -> Sandbox:
        ports = ports or {}
        for name, em in self.emulators.items():
            self._servers.append(EmulatorServer(em, self.log, port=ports.get(name, 0)).start())
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers.clear()
        if self.state_path:
            self.save(self.state_path)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def advance(self, days: int) -> ChangeSet:
        """Let ``days`` pass in the agency, in every vendor at once."""
        for em in self.emulators.values():
            em.lock.acquire()
        try:
            changes = self.agency.advance(days)
            for em in self.emulators.values():
                em.advance(changes)
        finally:
            for em in self.emulators.values():
                em.lock.release()
        return changes

    def source_configs(self, secret_dir: Path) -> dict[str, dict[str, Any]]:
        """``[sources.*]`` tables for exporter's config that point at this sandbox; the
        (public) sandbox credentials go into 0600 files under ``secret_dir``."""
        from exporter.keys import write_private_file

        secret_dir.mkdir(parents=True, exist_ok=True)

        def secret(name: str, value: str) -> dict[str, str]:
            path = secret_dir / name
            write_private_file(path, value.encode())
            return {"file": str(path)}

        sf, hs, g = CREDENTIALS["salesforce"], CREDENTIALS["hubspot"], CREDENTIALS["google"]
        urls = self.urls
        tables = {
            "salesforce": {
                "type": "salesforce", "base_url": urls.get("salesforce"),
                "username": sf["username"],
                "password": secret("salesforce_password", sf["password"]),
                "security_token": secret("salesforce_token", sf["security_token"]),
            },
            "hubspot": {
                "type": "hubspot", "base_url": urls.get("hubspot"),
                "access_token": secret("hubspot_token", hs["access_token"]),
            },
            "google": {
                "type": "google", "base_url": urls.get("google"),
                "token": secret("google_token", g["token"]),
            },
        }
        return {name: table for name, table in tables.items() if name in urls}

    # -- persistence --------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write every emulator's data to ``path`` (JSON), atomically."""
        path = Path(path)
        data: dict[str, Any] = {"format": 1, "now": self.agency.now.isoformat(),
                                "agency": self.agency.dump_state()}
        for name, em in self.emulators.items():
            with em.lock:
                data[name] = em.dump_state()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, path)

    def load(self, path: str | Path) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if "agency" in data:
            self.agency.load_state(data["agency"])
        self.agency.now = dt.datetime.fromisoformat(data["now"])
        for name, em in self.emulators.items():
            if name in data:
                em.load_state(data[name])
