"""Sync benchmark: records/s against a plain-SQLite baseline, requests for an incremental
sync with 1% changed, the nightly checks' cost (deletions, calculated fields, describes),
HubSpot's full and nightly requests and CPU, peak memory syncing a million records, and the
three sources side by side: on loopback (CPU-bound here) and across the internet (every
answer delayed ``--latency``, as a vendor's is: ``--night-clients``).

    python bench/sync.py [--clients 5000] [--big-clients 50000] [--hubspot-clients 3000]

Against another checkout (this issue's starting point): run this file with PYTHONPATH set to
that checkout; what it cannot do there is printed as such.

The sandbox runs in this process (for the concurrency part, each vendor's emulator runs in a
process of its own, as the vendors' servers are elsewhere); each sync runs in a child process,
so its peak memory (VmHWM) is its own. Prints figures; asserts nothing. Targets: ratio >= 0.7;
requests <= 1.2 x minimum pages for the changed records + a per-stream constant; <= 300 MB for
1M records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
if sys.path and Path(sys.path[0]).resolve() == HERE.parent:
    # run as a script, this folder comes first and its sandbox.py would shadow the package
    sys.path.pop(0)

from sandbox import CREDENTIALS, Sandbox  # noqa: E402

BODY_FIELDS = {"ContentVersion": "VersionData", "Attachment": "Body"}


def child_sync(table_json: str, workdir: str, full: bool) -> None:
    """In a child process: sync one source into the archive in ``workdir``; print JSON."""
    from exporter.archive import Archive
    from exporter.keys import KeyFile
    from exporter.sources import build_connector
    from exporter.sync import run_sync

    given = json.loads(table_json)
    tables = given if isinstance(given, list) else [given]
    work = Path(workdir)
    archive_path, key = work / "a.db", work / "a.key"
    if archive_path.exists():
        archive = Archive.open(archive_path, KeyFile(key), write=True)
    else:
        archive, _ = Archive.create(archive_path, key_file=key)
    connectors = {t["type"]: build_connector(t["type"], t, work / "config.toml")
                  for t in tables}
    side: dict[str, Any] = {}
    if len(tables) > 1:
        side["concurrent"] = os.environ.get("BENCH_SEQUENTIAL") != "1"
        if "workers" in inspect.signature(run_sync).parameters:  # not at the starting point
            side["workers"] = os.environ.get("BENCH_WORKERS", "threads")
    own0, kids0 = time.process_time(), _children_cpu()
    t0 = time.perf_counter()
    with archive:
        report = run_sync(archive, connectors, full=full, **side)
    seconds = time.perf_counter() - t0
    writer_cpu = time.process_time() - own0
    cpu = writer_cpu + _children_cpu() - kids0  # the worker processes' too
    streams = [r for src in report.sources for r in src.streams]
    peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    print(json.dumps({
        "status": report.status, "seconds": seconds, "cpu": cpu, "writer_cpu": writer_cpu,
        "peak_mb": peak,
        "records": sum(s.new + s.changed + s.unchanged + s.deleted for s in streams),
        "streams": {s.stream: {"new": s.new, "changed": s.changed, "deleted": s.deleted}
                    for s in streams},
        "sources": {src.name: sum(r.seconds for r in src.streams) for src in report.sources},
    }))


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the sync's worker processes)."""
    t = os.times()
    return t.children_user + t.children_system


def endpoints(sb: Sandbox, vendor: str) -> str:
    """The requests the sandbox answered since its log was cleared, by endpoint."""
    counts = sorted(((e, n) for (v, e), n in sb.log.counters.items() if v == vendor),
                    key=lambda kv: -kv[1])
    return ", ".join(f"{e} {n}" for e, n in counts)


def run_child(table: dict[str, Any] | list[dict[str, Any]], work: Path, full: bool = False,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-P", str(HERE), "--child", json.dumps(table), str(work),
                          "1" if full else "0"], capture_output=True, text=True, check=False,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise SystemExit(f"the sync child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def baseline_salesforce(sb: Sandbox, objects: list[str], db_path: Path) -> tuple[int, float]:
    """The same pages through the same SDK, inserted with sqlite-utils into plain SQLite."""
    import sqlite_utils
    from simple_salesforce import Salesforce

    from exporter.transport import LoopbackSession

    c = CREDENTIALS["salesforce"]
    t0 = time.perf_counter()
    sf = Salesforce(username=c["username"], password=c["password"],
                    security_token=c["security_token"],
                    session=LoopbackSession(sb.urls["salesforce"]))
    db = sqlite_utils.Database(db_path)
    n = 0
    for obj in objects:
        fields = [f["name"] for f in getattr(sf, obj).describe()["fields"]]
        body_field = BODY_FIELDS.get(obj)
        rows: list[dict[str, Any]] = []
        for rec in sf.query_all_iter(f"SELECT {', '.join(fields)} FROM {obj}",
                                     include_deleted=True):
            rec.pop("attributes", None)
            rows.append({"id": rec["Id"], "data": json.dumps(rec)})
            if body_field and rec.get(body_field) and not rec.get("IsDeleted"):
                # The same bodies the sync archives, fetched through the SDK's session.
                url = f"https://{sf.sf_instance}{rec[body_field]}"
                body = sf.session.get(url, headers=sf.headers, timeout=60).content
                db["bodies"].insert({"id": rec["Id"], "body": body}, pk="id", replace=True)
            if len(rows) == 2000:
                db[obj].insert_all(rows, pk="id", replace=True)
                n += len(rows)
                rows = []
        if rows:
            db[obj].insert_all(rows, pk="id", replace=True)
            n += len(rows)
    return n, time.perf_counter() - t0


def change_one_percent(sb: Sandbox, objects: list[str], total: int) -> dict[str, int]:
    """Edit 1% of the records through the Salesforce API (composite updates of 200)."""
    from simple_salesforce import Salesforce

    from exporter.transport import LoopbackSession

    c = CREDENTIALS["salesforce"]
    sf = Salesforce(username=c["username"], password=c["password"],
                    security_token=c["security_token"],
                    session=LoopbackSession(sb.urls["salesforce"]))
    want = max(1, total // 100)
    per_obj: dict[str, int] = {}
    editable = {"Account": "Phone", "Medication__c": "Dose__c", "Care_Task__c": "Notes__c",
                "Allergy__c": "Reaction__c", "Emergency_Contact__c": "Phone__c"}
    share = math.ceil(want / len(editable))
    for obj, field in editable.items():
        if obj not in objects:
            continue
        ids = [r["Id"] for r in sf.query_all_iter(f"SELECT Id FROM {obj} LIMIT {share}")]
        for i in range(0, len(ids), 200):
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": obj}, "id": rid, field: f"changed {n}"}
                for n, rid in enumerate(ids[i : i + 200])]}
            sf.restful("composite/sobjects", method="PATCH", json=body)
        per_obj[obj] = len(ids)
    return per_obj


def salesforce_nights(sb: Sandbox, table: dict[str, Any], work: Path) -> None:
    """An idle night, a night after one hard delete, and a night after a birthday (a TODAY()
    formula changes without SystemModstamp): requests by endpoint, and what was archived."""
    sb.log.clear()
    idle = run_child(table, work)
    print(f"idle night: {sb.log.count('salesforce')} requests ({endpoints(sb, 'salesforce')}); "
          f"{sum(sum(v.values()) for v in idle['streams'].values())} versions")
    org = sb.salesforce
    with org.lock:
        victim = next(r["Id"] for r in org.store.rows("Allergy__c", False))
        org.store.remove("Allergy__c", victim)  # deleted and purged from the recycle bin
    sb.log.clear()
    night = run_child(table, work)
    print(f"night after a hard delete: {sb.log.count('salesforce')} requests "
          f"({endpoints(sb, 'salesforce')}); {night['streams']['Allergy__c']['deleted']} "
          "deleted (expected 1)")
    if not hasattr(org, "today"):
        print("night after a birthday: this checkout has no TODAY() override in its sandbox")
        return
    org.today = sb.agency.now.date() + dt.timedelta(days=30)
    sb.log.clear()
    night = run_child(table, work)
    print(f"night 30 days on (ages changed, SystemModstamp not): "
          f"{sb.log.count('salesforce')} requests ({endpoints(sb, 'salesforce')}); "
          f"{night['streams']['Account']['changed']} Account versions")


def hubspot_bench(clients: int) -> None:
    """HubSpot: a full sync's requests and CPU, an idle night, and a night after an archive,
    a purge and (where the sandbox has them) a merge."""
    with tempfile.TemporaryDirectory() as d, Sandbox(clients=clients,
                                                     vendors=["hubspot"]) as sb:
        work = Path(d)
        table = sb.source_configs(work / "secrets")["hubspot"]
        print(f"HubSpot sandbox, {clients} clients")
        sb.log.clear()
        full = run_child(table, work)
        print(f"full sync: {full['records']:,} records, {sb.log.count('hubspot')} requests, "
              f"CPU {full['cpu']:.2f} s, wall {full['seconds']:.1f} s")
        sb.log.clear()
        run_child(table, work)
        print(f"idle night: {sb.log.count('hubspot')} requests ({endpoints(sb, 'hubspot')})")
        store = sb.hubspot.portal.store
        with sb.hubspot.lock:
            live = [r for r in store.types["contacts"].records.values() if r.archived_at is None]
            store.archive("contacts", live[0], store.stamp(0))
            task = next(r for r in store.types["tasks"].records.values()
                        if r.archived_at is None)
            del store.types["tasks"].records[task.id]  # purged
            store.types["tasks"].order.remove(task.id)
            merged = hasattr(store, "merge")
            if merged:
                store.merge("contacts", live[1], live[2], store.stamp(0))
            store.version += 1
        sb.log.clear()
        night = run_child(table, work)
        what = "an archive, a purge and a merge" if merged else "an archive and a purge"
        deleted = {k: v["deleted"] for k, v in night["streams"].items() if v["deleted"]}
        print(f"night after {what}: {sb.log.count('hubspot')} requests "
              f"({endpoints(sb, 'hubspot')}); deleted {deleted}")


def salesforce_bench(clients: int) -> None:
    """Salesforce: full sync against the plain baseline, 1% changed, the nightly checks."""
    with tempfile.TemporaryDirectory() as d, Sandbox(clients=clients,
                                                     vendors=["salesforce"]) as sb:
        work = Path(d)
        table = sb.source_configs(work / "secrets")["salesforce"]
        print(f"Salesforce sandbox, {clients} clients")
        sb.log.clear()
        full = run_child(table, work)
        full_requests = sb.log.count("salesforce")
        objects = sorted(full["streams"])
        rate = full["records"] / full["seconds"]
        print(f"full sync:      {full['records']:>9,} records in {full['seconds']:6.1f} s = "
              f"{rate:8,.0f} records/s, {full_requests} requests, peak {full['peak_mb']:.0f} MB")
        n, secs = baseline_salesforce(sb, objects, work / "plain.db")
        print(f"baseline:       {n:>9,} records in {secs:6.1f} s = {n / secs:8,.0f} records/s "
              "(same SDK pages and file bodies -> sqlite-utils, plain SQLite)")
        print(f"ratio sync / baseline: {rate / (n / secs):.2f}   (target >= 0.7)")
        print(f"BENCH sync.ratio_to_baseline {rate / (n / secs):.2f} x >=0.7")

        changed = change_one_percent(sb, objects, full["records"])
        sb.log.clear()
        inc = run_child(table, work)
        requests = sb.log.count("salesforce")
        min_pages = sum(math.ceil(k / 2000) for k in changed.values())
        streams = len(inc["streams"])
        print(f"incremental, {sum(changed.values())} records changed (1%): {requests} requests; "
              f"minimum pages {min_pages}; {streams} streams -> per-stream constant "
              f"{(requests - 1.2 * min_pages) / streams:.1f} requests (login, describe, query)")
        got = sum(s["changed"] for s in inc["streams"].values())
        print(f"  changed records archived: {got} (expected {sum(changed.values())})")
        limit = 1.2 * min_pages + 3 * streams
        print(f"BENCH sync.incremental_requests {requests} requests <={limit:.0f}")
        salesforce_nights(sb, table, work)


def _serve_vendor(vendor: str, clients: int, secrets: str, conn: Any) -> None:
    """In a process of its own: one vendor's emulator; sends its source table, then the CPU
    seconds it spent each time it is asked ("cpu"), until "stop"."""
    with Sandbox(clients=clients, vendors=[vendor]) as sb:
        conn.send(sb.source_configs(Path(secrets))[vendor])
        while conn.recv() == "cpu":
            conn.send(time.process_time())


class _Vendors:
    """The three emulators, one process each (as the vendors' servers are elsewhere): their
    CPU is not this process's, nor serialised by one interpreter lock."""

    def __init__(self, vendors: list[str], clients: int, secrets: Path) -> None:
        ctx = mp.get_context("spawn")
        self.links = {}
        self.procs = []
        for vendor in vendors:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_serve_vendor, args=(vendor, clients, str(secrets), theirs),
                               daemon=True)
            proc.start()
            theirs.close()
            self.links[vendor], self.procs = mine, [*self.procs, proc]
        self.tables = {v: link.recv() for v, link in self.links.items()}

    def cpu(self) -> float:
        total = 0.0
        for link in self.links.values():
            link.send("cpu")
            total += link.recv()
        return total

    def close(self) -> None:
        for link in self.links.values():
            link.send("stop")
        for proc in self.procs:
            proc.join(30)


def concurrency_bench(clients: int) -> None:
    """Every source alone, then all three in one run: side by side in worker processes, in
    threads, and one after another; wall time against the slowest source alone, and the CPU
    seconds of the sync (its workers included) and of the emulators (one process each)."""
    vendors = ["salesforce", "hubspot", "google"]
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        served = _Vendors(vendors, clients, work / "secrets")
        try:
            _concurrency_runs(served, vendors, clients, work)
        finally:
            served.close()


def _concurrency_runs(served: _Vendors, vendors: list[str], clients: int, work: Path) -> None:
    def run(label: str, table: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
        (work / label).mkdir()
        before = served.cpu()
        got = run_child(table, work / label, env=env)
        got["emulator_cpu"] = served.cpu() - before
        return got

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"{clients} clients, full syncs, {os.cpu_count()} CPUs, load average {load}; "
          "emulators in a process each")
    alone = {v: run(v, served.tables[v]) for v in vendors}
    for v, got in alone.items():
        print(f"  {v} alone: {got['seconds']:.1f} s (sync CPU {got['cpu']:.1f} s, emulator CPU "
              f"{got['emulator_cpu']:.1f} s)")
    slowest, total = max(g["seconds"] for g in alone.values()), sum(
        g["seconds"] for g in alone.values())
    tables = [served.tables[v] for v in vendors]
    ways = {"side by side in processes": {"BENCH_WORKERS": "processes"},
            "side by side in threads": {"BENCH_WORKERS": "threads"},
            "one after another": {"BENCH_SEQUENTIAL": "1"}}
    walls = {}
    for label, env in ways.items():
        got = run(label, tables, env)
        walls[label] = got["seconds"]
        print(f"  all three, {label}: {got['seconds']:.1f} s (sync CPU {got['cpu']:.1f} s, "
              f"of which the writer's process {got['writer_cpu']:.1f} s; emulator CPU "
              f"{got['emulator_cpu']:.1f} s; slowest alone {slowest:.1f} s, sum {total:.1f} s)")
    ratio = walls["side by side in processes"] / slowest
    print(f"BENCH sync.concurrency_ratio {ratio:.2f} x -")


def night_bench(clients: int, latency: float) -> None:
    """A night across the internet: each source alone and all three as the nightly job runs
    them (a worker process each), every answer delayed ``latency`` seconds."""
    vendors = ("salesforce", "hubspot", "google")
    with tempfile.TemporaryDirectory() as d, Sandbox(clients=clients, vendors=vendors,
                                                     latency=latency) as sb:
        work = Path(d)
        tables = sb.source_configs(work / "secrets")
        alone: dict[str, float] = {}
        for vendor in vendors:
            (work / vendor).mkdir()
            sb.log.clear()
            alone[vendor] = run_child(tables[vendor], work / vendor)["seconds"]
            print(f"{vendor} alone, {latency * 1000:.0f} ms per answer: {alone[vendor]:.1f} s, "
                  f"{sb.log.count(vendor)} requests", flush=True)
        (work / "night").mkdir()
        night = run_child([tables[v] for v in vendors], work / "night",
                          env={"BENCH_WORKERS": "processes"})
        slowest, total = max(alone.values()), sum(alone.values())
        print(f"{clients} clients, {latency * 1000:.0f} ms per answer: all three side by side "
              f"{night['seconds']:.1f} s (slowest alone {slowest:.1f} s, sum {total:.1f} s; "
              f"CPU {night['cpu']:.1f} s)")
        print(f"BENCH sync.night_vs_slowest {night['seconds'] / slowest:.2f} x <=1.2")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_sync(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--hubspot-clients", type=int, default=3000,
                        help="clients for the HubSpot part (0 skips it)")
    parser.add_argument("--concurrency-clients", type=int, default=1000,
                        help="clients for the sources-side-by-side part (0 skips it)")
    parser.add_argument("--night-clients", type=int, default=200,
                        help="clients for the night across the internet (0 skips it)")
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds each answer waits in that night (a vendor's round trip)")
    parser.add_argument("--big-clients", type=int, default=50000,
                        help="clients for the memory run (0 skips it)")
    args = parser.parse_args()

    if args.clients:
        salesforce_bench(args.clients)

    if args.hubspot_clients:
        hubspot_bench(args.hubspot_clients)

    if args.concurrency_clients:
        concurrency_bench(args.concurrency_clients)

    if args.night_clients:
        night_bench(args.night_clients, args.latency)

    if args.big_clients:
        with tempfile.TemporaryDirectory() as d, Sandbox(clients=args.big_clients,
                                                         vendors=["salesforce"]) as sb:
            work = Path(d)
            table = sb.source_configs(work / "secrets")["salesforce"]
            big = run_child(table, work)
            print(f"memory: {big['records']:,} records synced in {big['seconds']:.0f} s, "
                  f"peak {big['peak_mb']:.0f} MB   (target <= 300 MB)")
            print(f"BENCH sync.peak_memory_{big['records']}_records {big['peak_mb']:.0f} MB <=300")


if __name__ == "__main__":
    main()
