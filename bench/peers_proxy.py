"""A loopback HTTPS-terminating forward proxy for bench/peers.py.

The peers log in at fixed https addresses (login.salesforce.com, api.hubapi.com). Pointed
at this proxy through ``HTTPS_PROXY``, with ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` naming
the throwaway CA made here, each peer's CONNECT is answered, TLS is terminated with a leaf
certificate that CA signed, and every request inside is forwarded over plain HTTP to the
loopback emulator its Host names. Nothing leaves the machine: a host not in the map is
refused. Bench-only: never used by the exporter or its tests.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from sandbox.smtp import make_certificates

__all__ = ["ForwardProxy"]

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authorization", "content-length"}


def _read_head(stream: IO[bytes]) -> tuple[str, list[tuple[str, str]]] | None:
    line = stream.readline(65537)
    if not line:
        return None
    headers = []
    while True:
        raw = stream.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return line.decode("latin-1").rstrip("\r\n"), headers


def _read_body(stream: IO[bytes], headers: list[tuple[str, str]]) -> bytes:
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(stream.read(size))
            stream.readline()
    length = int(lower.get("content-length", "0") or 0)
    return stream.read(length) if length else b""


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True  # a peer's kept-alive connection never holds up the bench's exit


class ForwardProxy:
    """``routes`` maps a host name to the emulator's base URL (``http://127.0.0.1:PORT``);
    an https address on a loopback IP goes to that same port over plain HTTP (where an
    emulator answers ``https://127.0.0.1:PORT`` as its instance)."""

    def __init__(self, routes: dict[str, str], folder: Path,
                 stub: Callable[[str, str], bytes | None] | None = None) -> None:
        self.stub = stub  # (method, path) -> a JSON body the proxy answers itself, or None
        self.stubbed = 0
        self.routes = {h.lower(): urlsplit(u).netloc for h, u in routes.items()}
        # The sandbox's throwaway CA (the one its SMTP server uses), for the vendors' names.
        certs = make_certificates(folder, (*self.routes, "127.0.0.1", "localhost"))
        self.ca = certs.ca_file
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(certs.cert_file, certs.key_file)
        self.requests = 0
        self.refused: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.connection)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """What a peer's process needs to reach the emulators through this proxy."""
        ca = str(self.ca)
        return {"HTTPS_PROXY": self.url, "https_proxy": self.url, "REQUESTS_CA_BUNDLE": ca,
                "SSL_CERT_FILE": ca, "CURL_CA_BUNDLE": ca, "NO_PROXY": "", "no_proxy": ""}

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _upstream(self, host: str) -> str | None:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
        if name in ("127.0.0.1", "localhost") and port:
            return f"127.0.0.1:{port}"
        return self.routes.get((name or host).lower())

    def _handle(self, conn: socket.socket) -> None:
        stream = conn.makefile("rb")
        head = _read_head(stream)
        if head is None:
            return
        method, target, _ = ([*head[0].split(" "), "", ""])[:3]
        upstream = self._upstream(target) if method == "CONNECT" else None
        if upstream is None:
            with self._lock:
                self.refused.append(f"{method} {target}")
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = self.tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            self._serve_tls(tls, upstream)

    def _serve_tls(self, tls: ssl.SSLSocket, upstream: str) -> None:
        stream = tls.makefile("rb")
        backend = http.client.HTTPConnection(upstream, timeout=300)
        try:
            while True:
                head = _read_head(stream)
                if head is None:
                    return
                line, headers = head
                method, path = line.split(" ")[:2]
                body = _read_body(stream, headers)
                canned = self.stub(method, path) if self.stub else None
                if canned is not None:
                    with self._lock:
                        self.stubbed += 1
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                + f"Content-Length: {len(canned)}\r\n\r\n".encode() + canned)
                    continue
                sent = {k: v for k, v in headers if k.lower() not in HOP_BY_HOP}
                backend.request(method, path, body=body or None, headers=sent)
                resp = backend.getresponse()
                data = resp.read()
                with self._lock:
                    self.requests += 1
                out = [f"HTTP/1.1 {resp.status} {resp.reason}"]
                out += [f"{k}: {v}" for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
                out.append(f"Content-Length: {len(data)}")
                tls.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
                if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                    return
        except (OSError, http.client.HTTPException, ValueError):
            return
        finally:
            backend.close()
