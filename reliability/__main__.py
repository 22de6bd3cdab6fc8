"""``python -m reliability --short|--long [--seed N] [--family NAME [--case I]]``: run the
campaign, print one table, save each failing case for replay; exit 1 on any failure."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from reliability.campaign import Campaign
from reliability.common import FIRST_CASE, ONLY_CASES, Tally, save_failures
from reliability.kills import SHORT_SUBJECTS

#: family -> (short count, long count). Counts are cases; each family says what a case is.
FAMILIES: dict[str, tuple[int, int]] = {
    "kills": (6, 1000),          # a kill each (round robin over the subjects; the short
                                 # run: kills.SHORT_SUBJECTS)
    "tamper": (200, 10000),      # a tampering each
    "malformed": (4, 600),       # a spoiled response each (hypothesis examples)
    "resources": (1, 3),         # rounds; the short round runs the cheap scenarios
    "concurrency": (1, 100),     # races of two syncs; every tenth also a sync beside others
    "canaries": (1, 1),          # one month of use, every output and file searched
}


def _table(tallies: list[Tally], seconds: dict[str, float]) -> str:
    lines = [f"{'family':<12} {'tried':>7} {'failed':>7} {'time':>8}  outcomes",
             "-" * 78]
    for t in tallies:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(t.kinds.items()))
        lines.append(f"{t.family:<12} {t.tried:>7} {len(t.failures):>7} "
                     f"{seconds[t.family]:>7.0f}s  {kinds}")
        if t.note:
            lines.append(f"{'':<37}{t.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--short", action="store_true", help="the few-minute version (default)")
    size.add_argument("--long", action="store_true", help="the release campaign")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES),
                        help="only this family (repeatable)")
    parser.add_argument("--case", type=int, help="replay one case of --family")
    parser.add_argument("--count", type=int, help="cases per family instead of the default")
    parser.add_argument("--start", type=int, default=0,
                        help="the first case number (to split a long family over processes)")
    parser.add_argument("--subject", action="append",
                        help="with --family kills: only this subject (repeatable)")
    parser.add_argument("--clients", type=int, default=8, help="the sandbox agency's size")
    parser.add_argument("--replay", type=Path,
                        help="replay every failing case saved in this folder (one family, "
                        "one seed: give them with --family and --seed)")
    parser.add_argument("--failures", type=Path, default=Path("reliability-failures"))
    args = parser.parse_args(argv)
    families = args.family or list(FAMILIES)
    FIRST_CASE[0] = args.start
    if args.replay:
        ONLY_CASES.extend(sorted(
            json.loads(f.read_text())["case"] for f in args.replay.glob("*.json")
            if json.loads(f.read_text())["family"] in families))
    tallies: list[Tally] = []
    seconds: dict[str, float] = {}
    with Campaign(args.seed, args.clients) as campaign:
        for name in families:
            module = importlib.import_module(f"reliability.{name}")
            count = args.count or FAMILIES[name][1 if args.long else 0]
            started = time.monotonic()
            short = not (args.long or args.count or args.case is not None or args.replay)
            subjects = args.subject or (SHORT_SUBJECTS if short else None)
            extra = {"subjects": subjects} if name == "kills" and subjects else {}
            tally = module.run(campaign, args.seed, count, only_case=args.case, **extra)
            seconds[name] = time.monotonic() - started
            tallies.append(tally)
            print(f"[{name}] {tally.tried} tried, {len(tally.failures)} failed "
                  f"in {seconds[name]:.0f} s", flush=True)
            for failure in tally.failures[:5]:
                print(f"    case {failure['case']}: {failure['problem'][:300]}", flush=True)
    print()
    print(_table(tallies, seconds))
    saved = save_failures(tallies, args.failures)
    if saved:
        print(f"\n{len(saved)} failing case(s) saved under {args.failures}/ "
              "(each file says how to replay it).")
        return 1
    print("\nNo failure.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
