"""Sync benchmark: records/s against a plain-SQLite baseline, requests for an incremental
sync with 1% changed, and peak memory syncing a million records.

    python bench/sync.py [--clients 5000] [--big-clients 50000] [--vendor salesforce]

The sandbox runs in this process; each sync runs in a child process, so its peak memory
(VmHWM) is its own. Prints figures; asserts nothing. Targets: ratio >= 0.7; requests <=
1.2 x minimum pages for the changed records + a per-stream constant; <= 300 MB for 1M records.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox import CREDENTIALS, Sandbox

HERE = Path(__file__).resolve()
BODY_FIELDS = {"ContentVersion": "VersionData", "Attachment": "Body"}


def child_sync(table_json: str, workdir: str, full: bool) -> None:
    """In a child process: sync one source into the archive in ``workdir``; print JSON."""
    from exporter.archive import Archive
    from exporter.keys import KeyFile
    from exporter.sources import build_connector
    from exporter.sync import run_sync

    table = json.loads(table_json)
    work = Path(workdir)
    archive_path, key = work / "a.db", work / "a.key"
    if archive_path.exists():
        archive = Archive.open(archive_path, KeyFile(key), write=True)
    else:
        archive, _ = Archive.create(archive_path, key_file=key)
    connector = build_connector(table["type"], table, work / "config.toml")
    t0 = time.perf_counter()
    with archive:
        report = run_sync(archive, {table["type"]: connector}, full=full)
    seconds = time.perf_counter() - t0
    streams = report.sources[0].streams
    peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    print(json.dumps({
        "status": report.status, "seconds": seconds, "peak_mb": peak,
        "records": sum(s.new + s.changed + s.unchanged + s.deleted for s in streams),
        "streams": {s.stream: {"new": s.new, "changed": s.changed, "deleted": s.deleted}
                    for s in streams},
    }))


def run_child(table: dict[str, Any], work: Path, full: bool = False) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-P", str(HERE), "--child", json.dumps(table), str(work),
                          "1" if full else "0"], capture_output=True, text=True, check=False)
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


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_sync(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--big-clients", type=int, default=50000,
                        help="clients for the memory run (0 skips it)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as d, Sandbox(clients=args.clients,
                                                     vendors=["salesforce"]) as sb:
        work = Path(d)
        table = sb.source_configs(work / "secrets")["salesforce"]
        print(f"Salesforce sandbox, {args.clients} clients")
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
