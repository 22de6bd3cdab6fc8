"""``make demo``: the main job, end to end, on the built-in sandbox agency.

    python -m exporter.demo demo-output

Everything goes under the given folder (git-ignored): config, encrypted archive, key files.
Each step prints what it does. Until the connectors land, the agency's records are written
through the archive's library API; ``exporter sync`` replaces that step when it exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from exporter.sandbox.agency import Agency, Client


def _client_record(c: Client) -> dict[str, Any]:
    data = asdict(c)
    data["birthdate"] = c.birthdate.isoformat()
    data["start_date"] = c.start_date.isoformat()
    data["discharge_date"] = c.discharge_date.isoformat() if c.discharge_date else None
    data.pop("medications")
    return data


def _archive_agency(archive: Archive, agency: Agency) -> None:
    run = archive.begin_run()
    clients = [Record(c.number, _client_record(c)) for c in agency.clients.values()]
    meds = [Record(m.key, asdict(m) | {"client": c.number})
            for c in agency.clients.values() for m in c.medications]
    cursor = {"as_of": agency.now.isoformat()}
    a = archive.put_batch(run, "sandbox", "clients", clients, cursor=cursor)
    b = archive.put_batch(run, "sandbox", "medications", meds, cursor=cursor)
    archive.finish_run(run, "ok", stats={
        "sources": {"sandbox": {"status": "ok"}},
        "streams": {"sandbox/clients": vars(a), "sandbox/medications": vars(b)}})
    print(f"  run {run}: clients {a.new} new, {a.changed} changed; "
          f"medications {b.new} new, {b.changed} changed")


def _exporter(config: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "exporter", "--config", str(config), *args], check=True)


def main(out: Path) -> None:
    out = out.resolve()
    for name in ("config.toml", "archive.db", "archive.db.keys", "archive.db.lock", "archive.key",
                 "archive.db-wal", "archive.db-shm"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    config, archive_path, key_file = out / "config.toml", out / "archive.db", out / "archive.key"

    print("1. Creating an encrypted archive with a key file for unattended runs")
    _exporter(config, "init", "--archive", str(archive_path), "--key-file", str(key_file))

    print("\n2. Archiving the sandbox agency (100 clients) on two nights, one day apart")
    agency = Agency(clients=100, seed=1)
    with Archive.open(archive_path, KeyFile(key_file), write=True) as archive:
        _archive_agency(archive, agency)
        agency.advance(1)
        _archive_agency(archive, agency)

    print("\n3. exporter status")
    _exporter(config, "status")
    print("\n4. exporter verify")
    _exporter(config, "verify")
    print(f"\nEverything is in {out}. Try: .venv/bin/exporter --config {config} history "
          "sandbox medications C-00001-M1")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-output"))
