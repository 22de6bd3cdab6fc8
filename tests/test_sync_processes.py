"""Sources synced in worker processes (``run_sync(workers="processes")``, the nightly job's
way): the same archive as threads, a dying worker fails its source alone, files cross the
pipe chunk by chunk, secrets never on a command line or in an environment, no worker outlives
a killed parent. Real sandbox, real SDKs, real processes."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import Archive, Record
from exporter.archive.files import CHUNK_SIZE
from exporter.connector import Batch, CheckResult, Connector, Stream
from exporter.errors import AmbiguousClient, ArchiveLocked, SecretInConfig
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from exporter.sync_processes import ChildTraceback, unwire, wire
from sandbox import Sandbox
from tests.workers_connectors import PlainConnector, file_bytes

ROOT = Path(__file__).resolve().parents[1]


def _record(archive: Archive, source: str, rid: str) -> dict[str, Any]:
    return dict(next(data for i, data in archive.records(source, "things") if i == rid) or {})


def _plain(source: str, **config: Any) -> PlainConnector:
    return PlainConnector(source, config, {})


def _stream_contents(archive: Archive, source: str) -> dict[str, Any]:
    names = sorted({k.split("/", 1)[1] for run in archive.runs()
                    for k in (run.stats.get("streams") or {}) if k.startswith(f"{source}/")})
    return {name: (list(archive.records(source, name, include_deleted=True)),
                   archive.get_cursor(source, name)) for name in names}


def test_processes_archive_what_threads_archive(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Salesforce, HubSpot and Google through their SDKs, each in a worker process: every
    record, cursor and file as a threads run stores them; the workers' log reaches here."""
    caplog.set_level(logging.INFO)
    with Sandbox(clients=6, seed=5) as sb:
        tables = sb.source_configs(tmp_path / "secrets")
        got, requests = {}, {}
        for mode in ("threads", "processes"):
            archive, _ = Archive.create(tmp_path / f"{mode}.db", key_file=tmp_path / f"{mode}.k")
            with archive:
                connectors = {n: build_connector(n, t, tmp_path / "config.toml")
                              for n, t in tables.items()}
                sb.log.clear()
                report = run_sync(archive, connectors, workers=mode)
                assert report.status == "ok", report.summary()
                requests[mode] = {v: sb.log.count(v) for v in tables}
                got[mode] = {n: _stream_contents(archive, n) for n in connectors}
                got[mode]["files"] = sorted(
                    archive.files_of("salesforce", "ContentVersion", rid)["VersionData"]
                    for rid, data in archive.records("salesforce", "ContentVersion"))
    assert got["processes"] == got["threads"]
    assert requests["processes"] == requests["threads"]  # the same calls, none twice
    assert len(got["threads"]["hubspot"]["contacts"][0]) >= 6
    assert got["threads"]["files"]
    # each source's stream summaries were logged in its worker and handled by our loggers
    workers = {r.process for r in caplog.records
               if r.name == "exporter.sync" and " new, " in r.getMessage()}
    assert os.getpid() in workers and len(workers - {os.getpid()}) == 3


def test_a_worker_that_dies_fails_its_source_alone(archive: Archive) -> None:
    connectors = {"steady": _plain("steady", records=6),
                  "dying": _plain("dying", records=6, die_after=2)}
    report = run_sync(archive, connectors, workers="processes")
    assert report.status == "partial"
    steady, dying = report.sources
    assert steady.status == "ok" and dying.status == "failed"
    assert dying.error is not None and "stopped unexpectedly" in dying.error
    assert "exit code 3" in dying.error
    assert len(list(archive.records("steady", "things"))) == 6
    # what the dying worker stored before it died is kept, and its cursor with it
    assert [rid for rid, _ in archive.records("dying", "things")] == ["1", "2", "3", "4"]
    assert archive.get_cursor("dying", "things") == 4
    assert archive.runs()[0].status == "partial"


def test_a_file_crosses_in_chunks_byte_identical(archive: Archive,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.sync")
    connectors = {"files": _plain("files", file_mib=5.5), "other": _plain("other")}
    report = run_sync(archive, connectors, workers="processes")
    assert report.status == "ok", report.summary()
    want = hashlib.sha256(b"".join(file_bytes(5.5))).hexdigest()
    stored = archive.files_of("files", "things", "1")["body"]
    assert stored == want
    assert hashlib.sha256(b"".join(archive.read_file(stored))).hexdigest() == want
    # six messages of at most one archive chunk each: never the whole file in one
    lines = [r.getMessage() for r in caplog.records if "came from its worker" in r.getMessage()]
    assert lines == [f"files: a file of {int(5.5 * 2**20)} bytes came from its worker in 6 "
                     f"chunks (largest {CHUNK_SIZE} bytes)"]


def test_the_secret_travels_through_the_pipe_only(archive: Archive,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-" + os.urandom(8).hex()
    snoop = hashlib.sha256(secret.encode()).hexdigest()
    connectors = {"snoop": PlainConnector("snoop", {"snoop": snoop}, {"token": secret}),
                  "other": _plain("other")}
    assert run_sync(archive, connectors, workers="processes").status == "ok"
    first = _record(archive, "snoop", "1")
    assert first["pid"] != os.getpid()
    assert first["secret_arrived"] is True
    assert first["secret_on_command_line"] is False
    assert first["secret_in_environment"] is False
    assert not any(secret in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_a_foreseeable_problem_ends_the_run_the_same_way(archive: Archive, workers: str
                                                         ) -> None:
    connectors = {"leaky": _plain("leaky", secret_in_config=True), "other": _plain("other")}
    with pytest.raises(SecretInConfig) as caught:
        run_sync(archive, connectors, workers=workers)
    assert str(caught.value) == ("The leaky password is written in the config in plain text; "
                                 "move it to a key file.")


def test_a_workers_log_records_arrive_formatted_with_their_traceback(
        archive: Archive, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    connectors = {"noisy": _plain("noisy", log_error=True), "other": _plain("other")}
    assert run_sync(archive, connectors, workers="processes").status == "ok"
    [record] = [r for r in caplog.records if r.getMessage() == "noisy: a lookup went wrong"]
    assert record.process != os.getpid() and record.levelname == "WARNING"
    assert record.exc_text and "KeyError: 'missing'" in record.exc_text
    # one source alone: no worker process at all
    caplog.clear()
    assert run_sync(archive, {"noisy": _plain("noisy", log_error=True)},
                    workers="processes").status == "ok"
    [alone] = [r for r in caplog.records if r.getMessage() == "noisy: a lookup went wrong"]
    assert alone.process == os.getpid()


def test_a_connector_that_cannot_be_built_again_runs_in_a_thread(archive: Archive) -> None:
    class Inline(Connector):  # defined here: no worker process could import it
        def streams(self) -> list[Stream]:
            return [Stream("things", "id", "seq")]

        def check(self) -> list[CheckResult]:
            return []

        def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
            yield Batch([Record("1", {"id": "1", "pid": os.getpid()})], cursor=1)

    connectors = {"inline": Inline("inline", {}, {}), "spawned": _plain("spawned")}
    assert run_sync(archive, connectors, workers="processes").status == "ok"
    assert _record(archive, "inline", "1")["pid"] == os.getpid()
    assert len(list(archive.records("spawned", "things"))) == 5


@pytest.mark.parametrize("where", ["bad_state", "bad_value"])
def test_an_archive_error_ends_the_run_and_every_worker(archive: Archive, where: str) -> None:
    """The archive refuses a value (in the writer: a connector's state; in the worker: a
    record, hashed there): the run fails with that error, its class and message kept across
    the pipe, and the slow worker is stopped, not waited for."""
    connectors = {"bad": _plain("bad", **{where: True}),
                  "slow": _plain("slow", records=40, sleep=3)}
    began = time.monotonic()
    with pytest.raises(ValueError, match="JSON compliant") as caught:
        run_sync(archive, connectors, workers="processes")
    assert time.monotonic() - began < 30
    assert isinstance(caught.value.__cause__, ChildTraceback)
    assert archive.runs()[0].status == "failed"


def test_exceptions_keep_their_class_and_message_across_the_pipe() -> None:
    for exc in (AmbiguousClient("Two clients are called Ann.", ["a", "b"]),
                ArchiveLocked("Another exporter is writing.", pid=5)):
        try:
            raise exc
        except Exception as raised:
            back = unwire(wire(raised))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert isinstance(back.__cause__, ChildTraceback)
    # a message naming clients: only the frames travel, not the names
    assert "Ann" not in str(unwire(wire(AmbiguousClient("Ann", []))).__cause__)


KILLED_PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from exporter.archive import Archive
    from exporter.sync import run_sync
    from tests.workers_connectors import PlainConnector

    def main():
        work = Path(sys.argv[1])
        archive, _ = Archive.create(work / "a.db", key_file=work / "a.key")
        config = {"records": 100, "sleep": 30, "pid_dir": str(work)}
        with archive:
            run_sync(archive, {n: PlainConnector(n, config, {}) for n in ("one", "two")},
                     workers="processes")

    if __name__ == "__main__":
        main()
""")


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        return "\nState:\tZ" not in status.read_text()  # a zombie has ended
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killing_the_parent_leaves_no_worker(tmp_path: Path) -> None:
    script = tmp_path / "night.py"
    script.write_text(KILLED_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pids: list[int] = []
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            pids = [int(p.read_text()) for p in tmp_path.glob("*.pid") if p.read_text()]
            time.sleep(0.1)
        assert len(pids) == 2 and all(_alive(p) for p in pids) and parent.pid not in pids
        time.sleep(1)  # each worker is in its first batch, asleep: nothing reads its pipe
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait(10)


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_the_night_and_every_worker(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole group) mid-night: exit 130 with no traceback, the run
    recorded interrupted, the archive whole, no worker left."""
    from reliability.common import Workspace

    with Sandbox(clients=150, seed=4) as sb:
        ws = Workspace(tmp_path / "ws", sb, tmp_path / "secrets")
        ws.create_archive()
        night = subprocess.Popen(ws.argv("sync"), env=ws.env(), cwd=ws.root, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while (time.monotonic() < deadline and night.poll() is None
                   and not all(sb.log.count(v) for v in ("salesforce", "hubspot", "google"))):
                time.sleep(0.05)
            workers = [p for p in _children_of(night.pid) if _alive(p)]
            assert len(workers) >= 3  # a worker per source (and spawn's resource tracker)
            os.killpg(night.pid, signal.SIGINT)
            out, err = night.communicate(timeout=60)
        finally:
            night.kill()
            night.wait(10)
        assert night.returncode == 130, out + err
        assert "Traceback" not in out + err
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)
        with Archive.open(ws.archive, KeyFile(ws.key_file), write=True) as archive:
            assert archive.runs()[0].status == "interrupted"
        assert ws.run("verify").code == 0
