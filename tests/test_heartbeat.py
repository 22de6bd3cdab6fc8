"""Heartbeats (`[notify] ping_url`, Healthchecks-style) against a local HTTP server that
records the pings: start, success, fail with the summary line, and none without a run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox import Sandbox
from tests.conftest import Cli
from tests.test_notify import _edit, _revoke, agency, mail  # noqa: F401 (fixtures)


class Monitor:
    """A Healthchecks stand-in on 127.0.0.1: every (path, body) it receives, in order."""

    def __init__(self) -> None:
        self.pings: list[tuple[str, str]] = []
        pings = self.pings

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                pings.append((self.path, self.rfile.read(length).decode("utf-8")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping/abc-123"


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    m = Monitor()
    thread = threading.Thread(target=m.server.serve_forever, daemon=True)
    thread.start()
    yield m
    m.server.shutdown()
    m.server.server_close()


@pytest.fixture
def watched(run_cli: Cli, agency: Sandbox, monitor: Monitor) -> Sandbox:  # noqa: F811
    _edit(run_cli, lambda d: d["notify"].update(ping_url=monitor.url))
    return agency


def test_a_good_night_pings_start_then_success(run_cli: Cli, watched: Sandbox,
                                               monitor: Monitor) -> None:
    result = run_cli("sync")
    assert result.exit_code == 0, result.output
    assert [p for p, _ in monitor.pings] == ["/ping/abc-123/start", "/ping/abc-123"]
    assert monitor.pings[1][1].startswith("Sync run 1 finished. 2 source(s)")


def test_a_failed_night_pings_fail_with_the_summary_line(run_cli: Cli, watched: Sandbox,
                                                         monitor: Monitor) -> None:
    _revoke(run_cli, "hubspot", "google")
    result = run_cli("sync")
    assert result.exit_code == 12, result.output
    assert [p for p, _ in monitor.pings] == ["/ping/abc-123/start", "/ping/abc-123/fail"]
    assert monitor.pings[1][1].startswith("Sync run 1 FAILED. 2 source(s)")
    assert "not complete: hubspot, google" in monitor.pings[1][1]


def test_a_partial_night_and_a_run_that_cannot_unlock_ping_fail(
        run_cli: Cli, watched: Sandbox, monitor: Monitor) -> None:
    _revoke(run_cli, "hubspot")
    assert run_cli("sync").exit_code == 11
    assert monitor.pings[-1][0] == "/ping/abc-123/fail"
    assert "finished PARTIALLY" in monitor.pings[-1][1]
    run_cli.key_file.rename(run_cli.tmp / "elsewhere.key")
    assert run_cli("sync").exit_code == 3
    assert monitor.pings[-1][0] == "/ping/abc-123/fail"
    assert "key file" in monitor.pings[-1][1]


def test_no_ping_when_the_job_never_starts(run_cli: Cli, watched: Sandbox,
                                           monitor: Monitor) -> None:
    """The monitor's silence is the alarm: other commands never ping for the job."""
    assert run_cli("status").exit_code == 0
    assert run_cli("check").exit_code == 0
    assert monitor.pings == []


def test_a_monitor_that_does_not_answer_changes_nothing(run_cli: Cli, agency: Sandbox,  # noqa: F811
                                                        monitor: Monitor) -> None:
    monitor.server.shutdown()
    monitor.server.server_close()
    _edit(run_cli, lambda d: d["notify"].update(ping_url=monitor.url))
    result = run_cli("sync")
    assert result.exit_code == 0, result.output
