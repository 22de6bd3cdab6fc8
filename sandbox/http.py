"""A tiny HTTP layer shared by the vendor emulators.

Each emulator is an :class:`Emulator` with a routing table; :class:`EmulatorServer` serves
one emulator on 127.0.0.1 with the standard library's threading HTTP server (HTTP/1.1,
keep-alive). The server applies the generic faults (429, 5xx, slow, timeout, truncated,
malformed, rewrite) before the emulator sees a request, and records every request in the shared
:class:`RequestLog`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.agency import ChangeSet
from sandbox.faults import Fault, FaultPlan

__all__ = [
    "Emulator",
    "EmulatorServer",
    "HTTPError",
    "LoggedRequest",
    "Request",
    "RequestLog",
    "Response",
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route's named groups

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """All values of a repeated or comma-separated query argument."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json; charset=UTF-8"}
        h.update(headers or {})
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), h)

    @classmethod
    def raw(cls, body: bytes, content_type: str, status: int = 200,
            headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": content_type}
        h.update(headers or {})
        return cls(status, body, h)


class HTTPError(Exception):
    """Raised by a handler to answer with an error response."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request], Response]


@dataclass
class LoggedRequest:
    vendor: str
    method: str
    path: str
    endpoint: str
    status: int
    seconds: float
    query: dict[str, list[str]]


class RequestLog:
    """Every request the sandbox answered, and counters per (vendor, endpoint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[LoggedRequest] = []
        self.counters: Counter[tuple[str, str]] = Counter()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.entries.append(entry)
            self.counters[(entry.vendor, entry.endpoint)] += 1

    def count(self, vendor: str | None = None, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(
                n for (v, e), n in self.counters.items()
                if (vendor is None or v == vendor) and (endpoint is None or e == endpoint)
            )

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.counters.clear()


class Emulator:
    """Base class: a vendor's routes over the shared agency data.

    Subclasses register handlers with :meth:`add_route` in ``__init__``; the endpoint name
    given there is what the request log counts.
    """

    vendor = "base"

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.faults = faults or FaultPlan()
        self.lock = threading.RLock()  # handlers mutate shared state under this lock
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.base_url = ""  # set by the server once it is listening
        #: Seconds each answer waits before it goes out: a vendor's round trip and server
        #: time, which loopback does not have (0: as fast as this machine answers).
        self.latency = 0.0

    def add_route(self, method: str, pattern: str, endpoint: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), endpoint, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for m, rx, endpoint, handler in self._routes:
            if m == method:
                hit = rx.match(path)
                if hit:
                    return endpoint, handler, hit.groupdict()
        return None

    # -- what every vendor emulator provides --------------------------------------------

    def advance(self, changes: ChangeSet) -> None:
        """Apply one time-travel step of the agency to this vendor's data."""
        raise NotImplementedError

    def dump_state(self) -> dict[str, Any]:
        """This vendor's data as JSON-serialisable state (for ``--state``)."""
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace this vendor's data with what :meth:`dump_state` returned."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        return Response.json({"error": "not found", "path": request.path}, status=404)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """The vendor-shaped body for a generic fault; subclasses refine it."""
        if fault.kind == "rate_limit":
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return Response.json({"error": "rate limited"}, status=429, headers=headers)
        if fault.kind == "echo":
            return Response.json({"error": echoed(request)}, status=fault.status or 400)
        return Response.json({"error": "server error"}, status=fault.status or 503)


def echoed(request: Request) -> str:
    """The ``echo`` fault's message: the whole request quoted back, its headers (the
    ``Authorization`` one too) and body."""
    headers = " ".join(f"{k}: {v}" for k, v in request.headers.items())
    return (f"Could not parse the request {request.method} {request.path} {headers} "
            f"{request.body.decode('utf-8', 'replace')}")


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    emulator = server.emulator
    log = server.log

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "exporter-sandbox"
        # Headers and body go out in two sends; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK stall every keep-alive response by ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the RequestLog is the log

        def _serve(self) -> None:
            started = time.perf_counter()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            hit = emulator.match(request.method, request.path)
            endpoint = hit[0] if hit else "unknown"
            fault = emulator.faults.take_generic(emulator.vendor, endpoint, request.path)
            truncate = False
            malformed = False
            if fault is not None and fault.kind in ("slow", "timeout"):
                time.sleep(fault.delay)
            if fault is not None and fault.kind in ("rate_limit", "server_error", "echo"):
                response = emulator.fault_response(fault, request)
            else:
                truncate = fault is not None and fault.kind == "truncated"
                malformed = fault is not None and fault.kind == "malformed"
                try:
                    if hit is None:
                        response = emulator.not_found(request)
                    else:
                        request.params = hit[2]
                        response = hit[1](request)
                except HTTPError as exc:
                    response = exc.response
            # Logged before the response goes out, so a client that has its answer always
            # finds the request counted.
            log.add(LoggedRequest(
                emulator.vendor, request.method, request.path, endpoint,
                response.status, time.perf_counter() - started, request.query,
            ))
            if emulator.latency > 0:
                time.sleep(emulator.latency)  # outside the emulator's lock: answers overlap
            payload = response.body
            if malformed:
                payload = b"<html><body>Bad gateway</body></html>"
                response.headers["Content-Type"] = "application/json"
            if fault is not None and fault.rewrite is not None:
                payload = fault.rewrite(payload)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: max(1, len(payload) // 2)])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return _Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a sync killed or interrupted) is the
        client's business, as it is a vendor's: no traceback on the sandbox's console."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """Serves one emulator on 127.0.0.1 in a background thread."""

    def __init__(self, emulator: Emulator, log: RequestLog, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.emulator = emulator
        self.log = log
        self.httpd = _Server((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        emulator.base_url = self.base_url
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"sandbox-{self.emulator.vendor}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def paginate(items: Iterable[Any], start: int, size: int) -> tuple[list[Any], int | None]:
    """One page of ``items`` from offset ``start``; returns it and the next offset or None."""
    seq = list(items)
    page = seq[start : start + size]
    nxt = start + size if start + size < len(seq) else None
    return page, nxt
