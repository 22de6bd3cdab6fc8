"""Stored care-plan PDFs benchmark (the PDF half of bench/desk.py, which runs it): what
printing costs when the nightly job has rendered the plans ahead of need, and what that
nightly work costs.

    python bench/desk_pdfs.py [--clients 100] [--workers N] [--serves 40]

Prints figures; asserts nothing. Targets: one stored PDF served (client_pdf: the client
found, its plan built and hashed, the stored PDF read) p95 <= 200 ms; the 100-client binder
from stored PDFs <= 5 s; the nightly pre-render when 1% of clients changed (every plan is
built and hashed, only the changed ones laid out); the first, full pre-render.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from exporter.archive import Archive
from exporter.careplan.build import ArchiveView, all_clients
from exporter.careplan.definition import load_definition
from exporter.careplan.printing import print_care_plans
from exporter.careplan.stored import client_pdf, prerender
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox


def _sync(archive: Archive, sb: Sandbox, tmp: Path) -> None:
    tables = sb.source_configs(tmp / "secrets")
    report = run_sync(archive, {n: build_connector(n, t, tmp / "config.toml")
                                for n, t in tables.items()})
    assert report.status == "ok", report


def _edit(sb: Sandbox, numbers: list[str]) -> None:
    """Change the phone number of these clients in Salesforce (a real, printed field)."""
    store = sb.salesforce.store
    with sb.salesforce.lock:
        for i, number in enumerate(numbers):
            aid = store.unique[("Account", "Client_Number__c")][number.lower()]
            store.update("Account", store.records["Account"][aid],
                         {"Phone": f"(555) 010-{i:04d}"}, store.write_stamp())


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--serves", type=int, default=40)
    args = parser.parse_args()
    definition = load_definition()
    with tempfile.TemporaryDirectory() as tmpdir, Sandbox(clients=args.clients, seed=1) as sb:
        tmp = Path(tmpdir)
        archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
        with archive:
            _sync(archive, sb, tmp)
            roster = len(all_clients(ArchiveView(archive), definition))
            print(f"archive of {args.clients} clients ({roster} in the roster) synced; "
                  f"{args.workers} worker process(es)")

            first = prerender(archive, definition, workers=args.workers)
            print(f"first pre-render (every plan): {first.seconds:.1f} s for "
                  f"{first.rendered} plans")
            print(f"BENCH prerender_first_{first.rendered}_plans {first.seconds:.1f} s -")

            changed = max(1, roster // 100)
            numbers = sorted(c.display_key for c in all_clients(ArchiveView(archive),
                                                                definition))[:changed]
            _edit(sb, numbers)
            _sync(archive, sb, tmp)
            nightly = prerender(archive, definition, workers=args.workers)
            print(f"nightly pre-render, {changed} of {roster} clients changed (1%): "
                  f"{nightly.seconds:.2f} s ({nightly.rendered} laid out, "
                  f"{nightly.unchanged} unchanged)")
            print(f"BENCH prerender_1pct_changed {nightly.seconds:.2f} s -")

            clients = sorted(c.display_key for c in all_clients(ArchiveView(archive),
                                                                definition))
            timings = []
            for i in range(args.serves):
                t0 = time.perf_counter()
                client_pdf(archive, definition, clients[i % len(clients)])
                timings.append(time.perf_counter() - t0)
            print(f"one stored PDF served (client_pdf), {args.serves} clients: p50 "
                  f"{statistics.median(timings) * 1000:.0f} ms, p95 "
                  f"{_p95(timings) * 1000:.0f} ms (target <= 200 ms)")
            print(f"BENCH stored_pdf_p95 {_p95(timings) * 1000:.0f} ms <=200")

            laid_out: list[int] = []
            t0 = time.perf_counter()
            result = print_care_plans(archive, definition, everyone=True,
                                      out=tmp / "binder.pdf", workers=args.workers,
                                      progress=lambda done, total: laid_out.append(done))
            took = time.perf_counter() - t0
            print(f"binder of {len(result.clients)} clients from stored PDFs: {took:.2f} s "
                  f"({len(laid_out)} laid out now; {(tmp / 'binder.pdf').stat().st_size:,} "
                  "bytes) (target <= 5 s)")
            print(f"BENCH binder_{len(result.clients)}_from_stored {took:.2f} s <=5")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
