"""Serving the desk with uvicorn (it runs on Windows, macOS and Linux, and serves TLS itself):
on 127.0.0.1 by default, or, for ``--lan``, on every interface over HTTPS only."""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.errors import DeskError

__all__ = ["Listen", "bind", "serve"]

_log = logging.getLogger("exporter.desk")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    cert: Path | None = None  # HTTPS when set (with key)
    key: Path | None = None

    @property
    def url(self) -> str:
        shown = "localhost" if self.host == "127.0.0.1" else socket.gethostname()
        scheme = "https" if self.cert else "http"
        return f"{scheme}://{shown}:{self.port}/"


def bind(listen: Listen) -> socket.socket:
    """The listening socket, or DeskError with what to do (port taken, not allowed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no second server on the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise DeskError(f"Port {listen.port} is already in use (is the desk already "
                            "running?); open that one, or start this one with --port and "
                            "another number.") from exc
        raise DeskError(f"The desk cannot listen on port {listen.port} ({exc.strerror or exc}); "
                        "choose another with --port.") from exc
    sock.set_inheritable(True)
    return sock


def serve(app: Any, listen: Listen, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C. No access log: a URL holds no health data,
    but the log stays free of who opened which client (that is in the audit log)."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, lifespan="on",
        ssl_certfile=str(listen.cert) if listen.cert else None,
        ssl_keyfile=str(listen.key) if listen.key else None, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
