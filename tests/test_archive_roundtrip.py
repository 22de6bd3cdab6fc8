"""Round trip: records over several runs come back identical; versions only for changes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import _DB_ERRORS, Archive, Record, canonical_json
from exporter.keys import KeyFile


def _record(i: int, rng: random.Random) -> dict[str, Any]:
    return {"Id": f"001{i:015d}", "Name": rng.choice(["Zoë Müller", "José García", "Ann"]),
            "n": i, "tags": ["a", "b"][: i % 3], "nested": {"x": i % 7, "y": None},
            "long": "ü" * (i % 50)}


def test_10k_records_over_three_runs(archive: Archive, archive_path: Path, key_path: Path) -> None:
    rng = random.Random(7)
    data = {str(i): _record(i, rng) for i in range(10_000)}
    snapshots: list[dict[str, Any]] = []

    run1 = archive.begin_run()
    ids = list(data)
    for i in range(0, len(ids), 1000):
        res = archive.put_batch(run1, "salesforce", "Account",
                                [(k, data[k]) for k in ids[i : i + 1000]], cursor={"page": i})
        assert res.new == len(ids[i : i + 1000])
    archive.finish_run(run1, "ok")
    snapshots.append({k: json.loads(canonical_json(v)) for k, v in data.items()})

    # Run 2: edit 300, delete 100 (tombstones from the vendor, with data), add 50.
    run2 = archive.begin_run()
    edited = rng.sample(ids, 300)
    for k in edited:
        data[k] = dict(data[k], Name="Edited Ñame", n=-1)
    deleted = rng.sample([k for k in ids if k not in edited], 100)
    for k in range(10_000, 10_050):
        data[str(k)] = _record(k, rng)
    batch = [Record(k, v) for k, v in data.items() if k not in deleted]
    batch += [Record(k, data[k], deleted=True) for k in deleted]
    res = archive.put_batch(run2, "salesforce", "Account", batch, cursor={"page": "end"})
    assert (res.new, res.changed, res.deleted) == (50, 300, 100)
    assert res.unchanged == 10_000 - 300 - 100
    archive.finish_run(run2, "ok")
    for k in deleted:
        del data[k]
    snapshots.append({k: json.loads(canonical_json(v)) for k, v in data.items()})

    # Run 3: same data re-sent (nothing new), plus 20 hard deletes found by reconciliation.
    run3 = archive.begin_run()
    res = archive.put_batch(run3, "salesforce", "Account", list(data.items()))
    assert (res.new, res.changed, res.deleted, res.unchanged) == (0, 0, 0, len(data))
    hard = sorted(data)[:20]
    res = archive.tombstone(run3, "salesforce", "Account", hard)
    assert res.deleted == 20
    # A second tombstone of the same ids changes nothing.
    assert archive.tombstone(run3, "salesforce", "Account", hard).deleted == 0
    archive.finish_run(run3, "ok")
    for k in hard:
        del data[k]
    snapshots.append(dict(data))
    archive.close()

    with Archive.open(archive_path, KeyFile(key_path)) as again:
        for run, expected in zip((run1, run2, run3), snapshots, strict=True):
            got = dict(again.records("salesforce", "Account", as_of=run))
            assert got.keys() == expected.keys()
            assert all(canonical_json(got[k]) == canonical_json(expected[k]) for k in expected)
        now = dict(again.records("salesforce", "Account"))
        assert now.keys() == data.keys()
        counts = {c["stream"]: c for c in again.counts()}["Account"]
        # versions: 10,000 + 300 edits + 100 deletes + 50 new + 20 hard-delete tombstones
        assert counts["versions"] == 10_000 + 300 + 100 + 50 + 20
        assert counts["deleted"] == 120
        # Tombstones are kept, with the data the vendor sent.
        gone = dict(again.records("salesforce", "Account", include_deleted=True))
        assert all(k in gone for k in deleted)
        assert gone[deleted[0]] == snapshots[0][deleted[0]]
        hist = again.history("salesforce", "Account", edited[0])
        assert [v.first_run for v in hist] == [run1, run2]
        assert hist[0].superseded_run == run2 and hist[1].superseded_run is None
        assert again.get_cursor("salesforce", "Account") == {"page": "end"}
        assert again.verify() == []


def test_as_of_date_picks_the_last_run_started_by_then(archive: Archive) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "s", "t", [("1", {"v": 1})])
    archive.finish_run(run, "ok")
    started = archive.run(run).started_at
    assert archive.resolve_as_of(started) == run
    assert archive.resolve_as_of(str(run)) == run
    assert archive.resolve_as_of(started[:10]) == run  # the end of that day


def test_schema_snapshots_are_kept_per_run(archive: Archive) -> None:
    r1 = archive.begin_run()
    archive.put_schema(r1, "salesforce", "Account", {"fields": ["Id", "Name"]})
    archive.finish_run(r1, "ok")
    r2 = archive.begin_run()
    archive.put_schema(r2, "salesforce", "Account", {"fields": ["Id", "Name", "Phone"]})
    archive.finish_run(r2, "ok")
    assert archive.get_schema("salesforce", "Account", as_of=r1) == {"fields": ["Id", "Name"]}
    assert archive.get_schema("salesforce", "Account")["fields"][-1] == "Phone"


def test_audit_log_is_append_only_and_chained(archive: Archive) -> None:
    archive.audit("print", {"client": "C-00001"})
    entries = archive.audit_entries()
    assert [e["action"] for e in entries] == ["init", "print"]
    with pytest.raises(_DB_ERRORS):
        archive.conn.execute("DELETE FROM audit_log")
    with pytest.raises(_DB_ERRORS):
        archive.conn.execute("UPDATE audit_log SET action = 'x'")
    assert archive.verify() == []
