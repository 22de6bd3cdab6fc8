"""A night across the internet: the three sources synced alone and side by side, with each
vendor's answers delayed as a real vendor's are (``--latency``, seconds per answer: loopback
has none, so without it a night here is bound by this machine's CPU, not by waiting).

    python bench/night.py [--clients 200] [--latency 0.05]

The same as ``bench/sync.py``'s night part (``--night-clients``), which ``make bench`` runs;
this script runs it alone. 0.05 s is on the fast side for HubSpot, Salesforce and Google's
APIs seen from an office broadband line (a round trip plus the vendor's own time), so it
favours CPU over waiting. The sandbox answers many requests at once, as a vendor's servers
do; each sync runs in a child process, the three sources together in a worker process each,
as the nightly job does. Prints figures; asserts nothing. Target: side by side <= 1.2 x the
slowest source alone (the issue's "a night takes about as long as its slowest source").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0]).resolve() == BENCH:
    sys.path.pop(0)  # run as a script: bench/'s modules must not shadow the packages
sys.path.append(str(BENCH))  # last, for sync's night only

from sync import night_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    night_bench(args.clients, args.latency)


if __name__ == "__main__":
    main()
