"""The sync engine with an in-memory connector (a real Connector subclass, no mocks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive, Record
from exporter.connector import Batch, CheckResult, Connector, FileBody, Stream
from exporter.errors import QuotaExhausted, SourceError
from exporter.sync import run_sync


class MemoryConnector(Connector):
    """A source held in a dict: {stream: {id: data}}, read in pages of ``page`` records with
    the position as cursor; ``fail`` names streams that raise."""

    name = "memory"

    def __init__(self, source: str, data: dict[str, dict[str, Any]], page: int = 3,
                 fail: dict[str, Exception] | None = None) -> None:
        super().__init__(source, {}, {})
        self.data = data
        self.page = page
        self.fail = fail or {}
        self.file_opens = 0
        self.reads: list[tuple[str, Any]] = []

    def check(self) -> list[CheckResult]:
        return [CheckResult(True, "memory is always there")]

    def streams(self) -> list[Stream]:
        return [Stream(name, "id", "seq", reconcile=True) for name in self.data]

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        self.reads.append((stream.name, cursor))
        if stream.name in self.fail:
            raise self.fail[stream.name]
        rows = sorted(self.data[stream.name].items(), key=lambda kv: kv[1]["seq"])
        start = 0 if full or cursor is None else cursor
        rows = [r for r in rows if r[1]["seq"] > start]
        for i in range(0, len(rows), self.page):
            chunk = rows[i : i + self.page]
            files = {rid: [FileBody("body", self._opener(rid))]
                     for rid, d in chunk if d.get("file")}
            yield Batch([Record(rid, d) for rid, d in chunk], cursor=chunk[-1][1]["seq"],
                        files=files)

    def _opener(self, rid: str) -> Any:
        def open_() -> Iterator[bytes]:
            self.file_opens += 1
            yield f"content of {rid}".encode()
        return open_

    def list_ids(self, stream: Stream) -> Iterator[str]:
        yield from self.data[stream.name]


def _data(n: int) -> dict[str, dict[str, Any]]:
    things = {str(i): {"id": str(i), "seq": i, "file": i % 2 == 0} for i in range(1, n + 1)}
    return {"things": things, "others": {"x": {"id": "x", "seq": 1}}}


def test_incremental_files_and_reconciliation(archive: Archive) -> None:
    data = _data(10)
    conn = MemoryConnector("mem", data)
    report = run_sync(archive, {"mem": conn})
    assert report.status == "ok"
    things = report.sources[0].streams[0]
    assert (things.new, things.files, things.reconciled) == (10, 5, True)
    assert archive.get_cursor("mem", "things") == 10
    body = archive.files_of("mem", "things", "2")["body"]
    assert b"".join(archive.read_file(body)) == b"content of 2"

    # Incremental: only records after the cursor are read; an edited one gets a version.
    data["things"]["11"] = {"id": "11", "seq": 11}
    data["things"]["3"] = {"id": "3", "seq": 12, "file": False, "edited": True}
    opens = conn.file_opens
    report = run_sync(archive, {"mem": conn}, reconcile_every_days=7)
    things = report.sources[0].streams[0]
    assert conn.reads[-2] == ("things", 10)
    assert (things.new, things.changed, things.reconciled) == (1, 1, False)
    assert conn.file_opens == opens  # no file bodies fetched again

    # --full re-reads everything, fetches no file it already has, and finds hard deletes.
    del data["things"]["5"]
    report = run_sync(archive, {"mem": conn}, full=True)
    things = report.sources[0].streams[0]
    assert (things.new, things.changed, things.deleted, things.reconciled) == (0, 0, 1, True)
    assert conn.file_opens == opens
    assert "5" not in archive.record_ids("mem", "things")
    # ... and one more run with no changes adds nothing.
    report = run_sync(archive, {"mem": conn})
    s = report.sources[0].streams[0]
    assert (s.new, s.changed, s.deleted) == (0, 0, 0)


def test_a_failing_source_does_not_stop_the_others(archive: Archive) -> None:
    good = MemoryConnector("good", _data(4))
    bad = MemoryConnector("bad", _data(4), fail={"things": SourceError("Salesforce said no.")})
    report = run_sync(archive, {"bad": bad, "good": good})
    assert report.status == "partial"
    statuses = {s.name: s.status for s in report.sources}
    assert statuses == {"bad": "partial", "good": "ok"}
    assert "Salesforce said no." in (report.sources[0].error or "")
    run = archive.run(report.run_id)
    assert run.status == "partial" and "Salesforce said no." in (run.error or "")
    assert run.stats["sources"]["good"]["status"] == "ok"
    assert len(archive.record_ids("good", "things")) == 4
    assert len(archive.record_ids("bad", "others")) == 1  # its other stream still synced


def test_quota_stops_the_source_and_all_failing_is_failed(archive: Archive) -> None:
    quota = MemoryConnector("q", _data(4), fail={"things": QuotaExhausted("Daily limit reached.")})
    report = run_sync(archive, {"q": quota})
    # The quota belongs to the source: its remaining streams are not attempted.
    assert report.status == "partial"
    assert [s.stream for s in report.sources[0].streams] == ["things"]
    both_bad = MemoryConnector("b", {"things": {}}, fail={"things": SourceError("down")})
    assert run_sync(archive, {"b": both_bad}).status == "failed"


def test_reconciliation_refuses_to_delete_most_of_a_stream(archive: Archive) -> None:
    data = _data(20)
    conn = MemoryConnector("mem", data)
    run_sync(archive, {"mem": conn})
    data["things"] = {"1": data["things"]["1"]}  # the API suddenly lists 1 of 20
    report = run_sync(archive, {"mem": conn}, full=True)
    things = report.sources[0].streams[0]
    assert things.status == "failed" and "did not mark the rest deleted" in (things.error or "")
    assert len(archive.record_ids("mem", "things")) == 20


class ResettingConnector(MemoryConnector):
    """Its stored cursor has expired: every read starts over and says so."""

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        for batch in super().read(stream, None, full=True):
            batch.reset = cursor is not None
            yield batch


def test_a_reset_read_is_followed_by_reconciliation(archive: Archive) -> None:
    data = _data(6)
    conn = ResettingConnector("mem", data)
    run_sync(archive, {"mem": conn})
    del data["things"]["4"]
    report = run_sync(archive, {"mem": conn}, reconcile_every_days=7)
    things = report.sources[0].streams[0]
    assert things.resynced and things.reconciled and things.deleted == 1
    assert "4" not in archive.record_ids("mem", "things")


class DependentConnector(MemoryConnector):
    """``links`` depends on ``things`` (as HubSpot associations on the object streams)."""

    def streams(self) -> list[Stream]:
        return [Stream("things", "id", "seq"), Stream("links", "id", depends_on=["things"])]


def test_a_dependency_is_read_again_after_its_dependents_were_left_unfinished(
        archive: Archive) -> None:
    data = _data(5)
    data["links"] = {"l": {"id": "l", "seq": 1}}
    conn = DependentConnector("mem", data)
    assert run_sync(archive, {"mem": conn}).status == "ok"
    data["things"].update({str(i): {"id": str(i), "seq": i} for i in (6, 7)})
    conn.fail = {"links": SourceError("links refused")}
    assert run_sync(archive, {"mem": conn}).status == "partial"
    assert archive.get_cursor("mem", "things") == 7  # the changes themselves are stored
    conn.fail = {}
    conn.reads.clear()
    assert run_sync(archive, {"mem": conn}).status == "ok"
    # things is read from before the night links missed, so links sees its changes
    assert conn.reads == [("things", 5), ("links", 1)]
    conn.reads.clear()
    assert run_sync(archive, {"mem": conn}).status == "ok"
    assert conn.reads == [("things", 7), ("links", 1)]  # nothing left undone: as usual


class TombstoningConnector(MemoryConnector):
    """Sends tombstones for the ids in ``gone`` (as a broken listing of deleted records)."""

    gone: tuple[str, ...] = ()

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        yield from super().read(stream, cursor, full)
        if stream.name == "things" and self.gone:
            yield Batch([Record(i, None, deleted=True) for i in self.gone], cursor=99)


def test_tombstones_past_the_share_are_held_until_allowed(archive: Archive) -> None:
    data = _data(20)
    conn = TombstoningConnector("mem", data)
    assert run_sync(archive, {"mem": conn}).status == "ok"
    cursor = archive.get_cursor("mem", "things")
    data["things"]["21"] = {"id": "21", "seq": 21}
    conn.gone = tuple(str(i) for i in range(1, 16))  # 15 of 20
    report = run_sync(archive, {"mem": conn}, max_delete_share=0.5)
    assert report.status == "partial"
    things = report.sources[0].streams[0]
    assert things.status == "failed" and things.deleted == 0
    assert "held these deletions" in (things.error or "")
    assert "max_delete_share = 1" in (report.sources[0].error or "")
    assert "21" in archive.record_ids("mem", "things")  # the rest of the batch is stored
    assert len(archive.record_ids("mem", "things")) == 21
    assert archive.get_cursor("mem", "things") == 21 != 99  # not past the held deletions
    assert cursor != 21
    conn.gone = tuple(str(i) for i in range(1, 5))  # a few: under the share, stored
    assert run_sync(archive, {"mem": conn}).status == "ok"
    assert len(archive.record_ids("mem", "things")) == 17
    conn.gone = tuple(str(i) for i in range(5, 16))
    report = run_sync(archive, {"mem": conn}, max_delete_share=1)  # someone checked
    assert report.status == "ok" and report.sources[0].streams[0].deleted == 11
    assert archive.record_ids("mem", "things") == {"16", "17", "18", "19", "20", "21"}


class CheckingConnector(MemoryConnector):
    """Its streams tell cheaply which archived ids are gone (as Salesforce's count and
    HubSpot's merges do); ``checks`` counts those checks, ``listings`` the full id lists."""

    def __init__(self, source: str, data: dict[str, dict[str, Any]]) -> None:
        super().__init__(source, data)
        self.checks = 0
        self.listings = 0

    def find_deleted(self, stream: Stream, archived: AbstractSet[str]) -> list[str]:
        self.checks += 1
        return sorted(set(archived) - set(self.data[stream.name]))

    def list_ids(self, stream: Stream) -> Iterator[str]:
        self.listings += 1
        return super().list_ids(stream)


def test_deletions_are_found_by_the_next_run_and_the_id_check_counts_runs(
        archive: Archive) -> None:
    data = _data(6)
    conn = CheckingConnector("mem", data)
    assert run_sync(archive, {"mem": conn}).sources[0].streams[0].reconciled
    del data["things"]["2"]
    # a year between full id checks by days: the next run still finds the delete cheaply
    report = run_sync(archive, {"mem": conn}, reconcile_every_days=365,
                      reconcile_every_runs=3)
    things = report.sources[0].streams[0]
    assert things.deletions_checked and not things.reconciled and things.deleted == 1
    assert things.id_check_deleted == ["2"]
    assert "2" not in archive.record_ids("mem", "things")
    listings = conn.listings
    assert not run_sync(archive, {"mem": conn}, reconcile_every_days=365,
                        reconcile_every_runs=3).sources[0].streams[0].reconciled
    assert conn.listings == listings
    # the third run since the last full check lists every id again, days or not
    third = run_sync(archive, {"mem": conn}, reconcile_every_days=365, reconcile_every_runs=3)
    assert third.sources[0].streams[0].reconciled and conn.listings == listings + 2


class MeetingConnector(MemoryConnector):
    """Each read waits at a barrier every other source must reach too: only sources read at
    the same time get past it (sequential reads would break it)."""

    def __init__(self, source: str, data: dict[str, dict[str, Any]],
                 barrier: threading.Barrier | None) -> None:
        super().__init__(source, data)
        self.barrier = barrier
        self.threads: set[str] = set()

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        self.threads.add(threading.current_thread().name)
        if self.barrier is not None and stream.name == "things":
            self.barrier.wait()
        yield from super().read(stream, cursor, full)


def test_sources_are_read_side_by_side_with_the_same_results(
        archive: Archive, archive_path: Path, key_path: Path) -> None:
    """Three sources read at the same time (each waits for the others mid-read), written by
    one thread: the archive holds what a sequential run stores, report in the given order."""
    def sources(barrier: threading.Barrier | None) -> dict[str, MeetingConnector]:
        return {name: MeetingConnector(name, _data(7 + i), barrier)
                for i, name in enumerate(("c", "a", "b"))}

    side = sources(threading.Barrier(3, timeout=30))
    report = run_sync(archive, side)
    assert report.status == "ok"
    assert [s.name for s in report.sources] == ["c", "a", "b"]
    assert all(len(c.threads) == 1 and threading.current_thread().name not in c.threads
               for c in side.values())
    with pytest.raises(threading.BrokenBarrierError):  # sequential: nobody to meet
        run_sync(archive, sources(threading.Barrier(3, timeout=0.5)), concurrent=False)
    other, _ = Archive.create(archive_path.with_name("seq.db"),
                              key_file=key_path.with_name("seq.key"))
    with other:
        assert run_sync(other, sources(None), concurrent=False).status == "ok"
        for name in ("a", "b", "c"):
            for stream in ("things", "others"):
                assert (list(archive.records(name, stream))
                        == list(other.records(name, stream))), (name, stream)
                assert archive.get_cursor(name, stream) == other.get_cursor(name, stream)


class ThreadNotingConnector(MemoryConnector):
    """Notes which thread reads each file body's bytes (a download, for a real vendor)."""

    def __init__(self, source: str, data: dict[str, dict[str, Any]]) -> None:
        super().__init__(source, data)
        self.body_threads: set[str] = set()

    def _opener(self, rid: str) -> Any:
        def open_() -> Iterator[bytes]:
            self.body_threads.add(threading.current_thread().name)
            yield f"content of {rid}".encode()
        return open_


def test_file_bodies_are_read_by_their_source_not_by_the_archive_writer(
        archive: Archive) -> None:
    """Side by side, a download on the writer would hold up every other source's writes."""
    side = {name: ThreadNotingConnector(name, _data(6)) for name in ("a", "b")}
    report = run_sync(archive, side)
    assert report.status == "ok"
    assert sum(r.files for s in report.sources for r in s.streams) == 6
    writer = threading.current_thread().name
    assert all(c.body_threads and writer not in c.body_threads for c in side.values())
    body = archive.files_of("b", "things", "4")["body"]
    assert b"".join(archive.read_file(body)) == b"content of 4"


def test_read_ahead_holds_at_most_its_limit_before_the_archive_reads_on() -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(10):
            pulled.append(i)
            yield bytes([i]) * 100

    small = FileBody("small", lambda: iter([b"ab", b"cd"])).read_ahead()
    assert isinstance(small, list) and b"".join(small) == b"abcd"
    big = FileBody("big", chunks).read_ahead(limit=250)
    assert pulled == [0, 1, 2]  # read until the limit is reached, no further
    assert b"".join(big) == b"".join(bytes([i]) * 100 for i in range(10))
    assert pulled == list(range(10))
