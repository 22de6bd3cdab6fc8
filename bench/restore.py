"""Restore benchmark: API calls per 1,000 records restored (associations and lookups
included) and records/s, Salesforce -> HubSpot and HubSpot -> Salesforce, into fresh empty
sandbox targets, from archives filled by real syncs.

    python bench/restore.py [--clients 500]

Prints figures; asserts nothing (targets: <= 15 calls per 1,000 records to HubSpot,
<= 10 to Salesforce). Calls are counted as each vendor counts them against its daily
limit: HubSpot every request (the sandbox's request log); Salesforce the org's API usage
counter, in which login() and the OAuth token requests do not count and a Composite call
(up to 25 subrequests) counts once, as Salesforce documents. Records and
files are measured apart: HubSpot has no batch file upload (one call per file), and
Salesforce file bodies travel inside the create calls (4 MB of files per call).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.engine import RestoreReport
from exporter.restore.mapping import Mapping_
from exporter.restore.target import build_writer
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

CASES = (("salesforce", "hubspot", "salesforce_to_hubspot", 15),
         ("hubspot", "salesforce", "hubspot_to_salesforce", 10))


def _used(dst: Sandbox, target: str) -> int:
    """Calls counted against the target's daily API limit so far."""
    if target == "salesforce":
        return dst.salesforce.api_usage
    return dst.log.count(target)


def _hubspot_floor(report: RestoreReport, mapping: Mapping_, only: list[str]) -> None:
    """The fewest calls any restore could make of these records into a fresh portal, under
    the identity rule (each record carries its source id in a unique property the portal
    does not have yet): each object's records in batches of 100 (HubSpot's most), one call
    per object to create its source-id property (a schema create for a custom object, a
    property batch for HubSpot's own), one per association label, one for the portal's id."""
    per_object: dict[str, int] = {}
    for o in report.objects:
        if o.created + o.updated:  # an object with nothing to write needs no set-up
            per_object[o.object] = per_object.get(o.object, 0) + o.created + o.updated
    writes = sum(math.ceil(n / 100) for n in per_object.values())
    labels = len({link.label for r in mapping.objects if r.stream in only
                  for link in r.links if link.label})
    floor = writes + len(per_object) + labels + 1
    done = sum(per_object.values())
    print(f"    lower bound into a fresh portal: {writes} batch writes + {len(per_object)} "
          f"object set-ups + {labels} label(s) + 1 portal id = {floor} calls = "
          f"{1000 * floor / max(done, 1):.1f} per 1,000")


def bench(tmp: Path, clients: int, source: str, target: str, mapping_name: str,
          goal: int) -> None:
    archive, _ = Archive.create(tmp / f"{source}.db", key_file=tmp / f"{source}.key")
    with archive, Sandbox(clients=clients, seed=1) as src, Sandbox(clients=0, seed=2) as dst:
        if target == "hubspot":
            dst.hubspot.without_property("source_record_id")  # as a real portal: none yet
        table = src.source_configs(tmp / "s1")[source]
        run_sync(archive, {source: build_connector(source, table, tmp / "config.toml")})
        writer = build_writer(target, dst.source_configs(tmp / "s2")[target],
                              tmp / "config.toml")
        mapping = load_mapping(mapping_name)
        archived = {stream for _src, stream in archive.streams()}
        rules = [r for r in mapping.objects if not r.optional or r.stream in archived]
        with_files = [r.stream for r in rules if r.file]
        records_only = [r.stream for r in rules if not r.file]
        print(f"{source} -> {target} ({clients} clients):")
        for label, only in (("records", records_only), ("files", with_files)):
            dst.log.clear()
            used = _used(dst, target)
            started = time.perf_counter()
            report = run_restore(archive, writer, mapping, target=target, only=only)
            seconds = time.perf_counter() - started
            calls = _used(dst, target) - used
            by_endpoint = sorted(((e, n) for (v, e), n in dst.log.counters.items()
                                  if v == target), key=lambda en: -en[1])
            done = report.total("created") + report.total("updated")
            per_k = 1000 * calls / max(done, 1)
            goal_text = f" (target <= {goal}: {'met' if per_k <= goal else 'NOT met'})" \
                if label == "records" else " (one upload or file body per call)"
            print(f"  {label}: {done:,} restored ({report.status}, {len(report.errors)} "
                  f"failed, {sum(len(r.links) for r in mapping.objects if r.stream in only)} "
                  f"reference kinds) in {seconds:.2f} s = {done / seconds:,.0f} records/s; "
                  f"{calls} API calls = {per_k:.1f} per 1,000{goal_text}")
            print("    calls by endpoint: " + ", ".join(f"{e} {n}" for e, n in by_endpoint))
            if label == "records" and target == "hubspot":
                _hubspot_floor(report, mapping, only)
            if label == "records":
                print(f"BENCH restore.{source}_to_{target}_calls_per_1000 {per_k:.1f} calls "
                      f"<={goal}")
                print(f"BENCH restore.{source}_to_{target}_rate {done / seconds:.0f} "
                      "records/s -")
        dst.log.clear()
        used = _used(dst, target)
        again = run_restore(archive, writer, mapping, target=target)
        rerun_calls = _used(dst, target) - used
        check = verify_restore(archive, writer, mapping, target=target)
        print(f"  re-run: {again.total('created')} created, {again.total('updated')} updated, "
              f"{rerun_calls} API calls; verify: {check.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    args = parser.parse_args()
    for source, target, mapping_name, goal in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            bench(Path(tmp), args.clients, source, target, mapping_name, goal)


if __name__ == "__main__":
    main()
