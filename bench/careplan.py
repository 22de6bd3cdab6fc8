"""Care-plan printing benchmark: seconds for one client's PDF and for the binder of every
client, from an archive of the sandbox agency synced by the real connectors.

    python bench/careplan.py [--clients 100] [--workers N]

Prints figures; asserts nothing (targets: one client <= 1 s, the 100-client binder <= 30 s).
"one client" is shown warm (a long-lived process that has printed before, as the library
is used) and cold (a fresh `exporter print` process, imports and font set-up included).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader

from exporter.archive import Archive
from exporter.careplan.definition import load_definition
from exporter.careplan.printing import print_care_plans
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox


def _cpu() -> float:
    """CPU seconds used by this process and its finished children (worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def build_archive(tmp: Path, clients: int) -> Path:
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    with archive, Sandbox(clients=clients, seed=1) as sb:
        tables = sb.source_configs(tmp / "secrets")
        run_sync(archive, {n: build_connector(n, t, tmp / "config.toml")
                           for n, t in tables.items()})
    return tmp / "a.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        db = build_archive(tmp, args.clients)
        print(f"archive of {args.clients} clients synced in {time.perf_counter() - t0:.1f} s "
              "(not counted)")
        definition = load_definition()
        with Archive.open(db, KeyFile(tmp / "a.key")) as archive:
            print_care_plans(archive, definition, query="C-00002", out=tmp / "warmup.pdf")
            times = []
            for number in ("C-00001", "C-00003", "C-00010"):
                cpu0 = _cpu()
                t0 = time.perf_counter()
                print_care_plans(archive, definition, query=number, out=tmp / f"{number}.pdf")
                times.append(time.perf_counter() - t0)
                pages = len(PdfReader(tmp / f"{number}.pdf").pages)
                print(f"one client, warm: {number} {times[-1]:.2f} s ({pages} pages, "
                      f"{_cpu() - cpu0:.2f} CPU-seconds)")
            cpu0 = _cpu()
            t0 = time.perf_counter()
            result = print_care_plans(archive, definition, everyone=True,
                                      out=tmp / "binder.pdf", workers=args.workers)
            binder = time.perf_counter() - t0
            binder_cpu = _cpu() - cpu0
        pages = len(PdfReader(tmp / "binder.pdf").pages)
        cfg = tmp / "config.toml"
        cfg.write_text(f'[archive]\npath = "{db}"\nkey_file = "{tmp / "a.key"}"\n',
                       encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "exporter", "--config", str(cfg), "print",
                        "C-00001", "--out", str(tmp / "cold.pdf")], check=True,
                       capture_output=True)
        cold = time.perf_counter() - t0
    print(f"one client, warm: median {sorted(times)[1]:.2f} s (target <= 1 s)")
    print(f"one client, cold process (exporter print): {cold:.2f} s")
    print(f"binder of {len(result.clients)} clients: {binder:.1f} s, {pages} pages, "
          f"{args.workers} worker(s) (target <= 30 s); {binder_cpu:.1f} CPU-seconds in all, "
          f"so {binder_cpu / max(1, args.workers):.1f} s on {args.workers} idle CPUs")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"BENCH careplan.one_client_warm {sorted(times)[1]:.2f} s <=1")
    print(f"BENCH careplan.one_client_cold {cold:.2f} s -")
    print(f"BENCH careplan.binder_{len(result.clients)}_clients {binder:.1f} s <=30")


if __name__ == "__main__":
    main()
