"""Fault injection for the sandbox emulators.

A :class:`FaultPlan` holds rules; each rule names a vendor, an optional endpoint name or
path regex, a kind, how many requests to let pass first (``after``) and how many times to
fire (``times``). Generic kinds are applied by the HTTP layer:

- ``rate_limit``: 429, with ``Retry-After`` when ``retry_after`` is set;
- ``server_error``: a 5xx (``status``, default 503);
- ``slow``: sleep ``delay`` seconds, then answer normally;
- ``timeout``: sleep ``delay`` seconds (longer than the client's timeout), then answer;
- ``truncated``: send half the body and close the connection;
- ``malformed``: send an HTML body labelled as JSON;
- ``rewrite``: pass the emulator's real response body through ``rewrite`` (a function of
  the bytes, e.g. from the reliability campaign's hypothesis strategies) and send that;
- ``echo``: refuse the request (``status``, default 400) with an error whose message quotes
  the whole request back, its ``Authorization`` header and body included, as a debugging
  proxy or a careless vendor endpoint does (the request is not applied).

Vendor kinds are consulted by the emulators themselves through :meth:`FaultPlan.take`:
``session_expired`` (Salesforce INVALID_SESSION_ID), ``request_limit`` (Salesforce
REQUEST_LIMIT_EXCEEDED), ``sync_token_expired`` (Calendar 410), ``search_lag`` (HubSpot
search hides records modified in the last ``delay`` seconds of the sandbox clock),
``archived_lists_live`` (HubSpot: while active, a list asked for ``archived=true`` records
returns the live ones, as a broken vendor listing once did).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

GENERIC_KINDS = frozenset(
    {"rate_limit", "server_error", "slow", "timeout", "truncated", "malformed", "rewrite",
     "echo"})
VENDOR_KINDS = frozenset({"session_expired", "request_limit", "sync_token_expired", "search_lag",
                          "archived_lists_live"})


@dataclass
class Fault:
    vendor: str
    kind: str
    endpoint: str | None = None
    path: str | None = None  # regex searched in the request path
    after: int = 0  # matching requests to let through first
    times: int = 1  # how many times to fire; -1 = forever
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    rewrite: Callable[[bytes], bytes] | None = None
    seen: int = 0
    fired: int = 0
    fired_paths: tuple[str, ...] = ()  # the request paths it fired on

    def __post_init__(self) -> None:
        if self.kind not in GENERIC_KINDS | VENDOR_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if (self.kind == "rewrite") != (self.rewrite is not None):
            raise ValueError("a rewrite fault, and only it, takes a rewrite function")

    def matches(self, vendor: str, endpoint: str, path: str) -> bool:
        if vendor != self.vendor:
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return not (self.path is not None and not re.search(self.path, path))

    @property
    def exhausted(self) -> bool:
        return self.times >= 0 and self.fired >= self.times


class FaultPlan:
    """The faults to inject; thread-safe; shared by all emulators of a sandbox."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(self, vendor: str, kind: str, **kwargs: object) -> Fault:
        fault = Fault(vendor, kind, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take(self, kinds: frozenset[str], vendor: str, endpoint: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.kind in kinds and not fault.exhausted
                        and fault.matches(vendor, endpoint, path)):
                    fault.seen += 1
                    if fault.seen > fault.after:
                        fault.fired += 1
                        fault.fired_paths += (path,)
                        return fault
        return None

    def take_generic(self, vendor: str, endpoint: str, path: str) -> Fault | None:
        return self._take(GENERIC_KINDS, vendor, endpoint, path)

    def take(self, kind: str, vendor: str, endpoint: str = "", path: str = "") -> Fault | None:
        """Consume one firing of a vendor-specific fault, if one is due."""
        return self._take(frozenset({kind}), vendor, endpoint, path)

    def active(self, kind: str, vendor: str) -> Fault | None:
        """A standing (not consumed) fault such as search lag."""
        with self._lock:
            for fault in self.faults:
                if fault.kind == kind and fault.vendor == vendor and not fault.exhausted:
                    return fault
        return None
