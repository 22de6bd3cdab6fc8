"""A night across the internet: the three sources synced alone and side by side, with each
vendor's answers delayed as a real vendor's are (``--latency``, seconds per answer: loopback
has none, so without it a night here is bound by this machine's CPU, not by waiting).

    python bench/night.py [--clients 200] [--latency 0.05]

0.05 s is on the fast side for HubSpot, Salesforce and Google's APIs seen from an office
broadband line (a round trip plus the vendor's own time), so it favours CPU over waiting.
The sandbox answers many requests at once, as a vendor's servers do; each sync runs in a
child process, the three sources together in a worker process each, as the nightly job
does. Prints figures; asserts nothing. Target: side by side <= 1.2 x the slowest source
alone (the issue's "a night takes about as long as its slowest source").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0]).resolve() == BENCH:
    sys.path.pop(0)  # run as a script: bench/'s modules must not shadow the packages
sys.path.append(str(BENCH))  # last, for sync's child runner only

from sync import run_child  # noqa: E402

from sandbox import Sandbox  # noqa: E402

VENDORS = ("salesforce", "hubspot", "google")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d, Sandbox(clients=args.clients, vendors=VENDORS,
                                                     latency=args.latency) as sb:
        work = Path(d)
        tables = sb.source_configs(work / "secrets")
        alone: dict[str, float] = {}
        for vendor in VENDORS:
            (work / vendor).mkdir()
            sb.log.clear()
            alone[vendor] = run_child(tables[vendor], work / vendor)["seconds"]
            print(f"{vendor} alone: {alone[vendor]:.1f} s, {sb.log.count(vendor)} requests",
                  flush=True)
        (work / "night").mkdir()
        # as the nightly job runs them: a worker process per source ([sync] workers)
        night = run_child([tables[v] for v in VENDORS], work / "night",
                          env={"BENCH_WORKERS": "processes"})
        slowest, total = max(alone.values()), sum(alone.values())
        print(f"{args.clients} clients, {args.latency * 1000:.0f} ms per answer: all three side "
              f"by side {night['seconds']:.1f} s (slowest alone {slowest:.1f} s, sum "
              f"{total:.1f} s; CPU {night['cpu']:.1f} s)")
        print(f"BENCH night.side_by_side_vs_slowest {night['seconds'] / slowest:.2f} x <=1.2")


if __name__ == "__main__":
    main()
