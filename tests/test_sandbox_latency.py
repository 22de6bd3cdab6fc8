"""The sandbox can answer as slowly as a vendor across the internet (``latency``), and its
answers wait side by side, as a vendor's servers answer many clients at once: what the
sync bench needs to show a night bound by waiting rather than by this machine's CPU."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
import requests

from sandbox import CREDENTIALS, Sandbox


def _get(url: str, out: list[tuple[float, float, int]]) -> None:
    started = time.perf_counter()
    answer = requests.get(url, headers={
        "Authorization": f"Bearer {CREDENTIALS['hubspot']['access_token']}"}, timeout=30)
    out.append((started, time.perf_counter(), answer.status_code))


def test_each_answer_waits_the_latency_and_answers_overlap() -> None:
    with Sandbox(clients=2, vendors=["hubspot"], latency=1.0) as sb:
        url = sb.urls["hubspot"] + "/crm/v3/objects/contacts?limit=1"
        out: list[tuple[float, float, int]] = []
        threads = [threading.Thread(target=_get, args=(url, out)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [status for _s, _e, status in out] == [200, 200]
    assert all(end - start >= 1.0 for start, end, _ in out)
    # Served one after the other, the pair would take 2 s or more.
    assert max(e for _s, e, _ in out) - min(s for s, _e, _ in out) < 1.9


def test_no_latency_by_default() -> None:
    with Sandbox(clients=2, vendors=["hubspot"]) as sb:
        assert all(em.latency == 0 for em in sb.emulators.values())


def test_a_client_that_resets_mid_request_leaves_no_traceback(
        capfd: pytest.CaptureFixture[str]) -> None:
    """A sync killed mid-request resets its connections: the sandbox's console stays clean."""
    with Sandbox(clients=2, vendors=["hubspot"]) as sb:
        port = int(sb.urls["hubspot"].rsplit(":", 1)[1])
        for _ in range(3):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\n")
            # SO_LINGER 0: close() sends a reset, as a killed process's connections do
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        time.sleep(0.5)
    assert "Traceback" not in capfd.readouterr().err
