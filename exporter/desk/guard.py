"""Who is logged in to the desk, and who may try: login lockout, sessions, CSRF tokens.

All of it lives in the desk's memory, on the server: a session cookie is a random 256-bit
token and nothing else (no name, no role: those are looked up), so a stolen cookie expires
with the session and a restarted desk asks everyone to log in again.

- Lockout: 5 failed logins within 15 minutes lock that staff name, and separately that
  client address, for 15 minutes from the last failure (a guesser cannot try many names
  from one PC, nor one name from many). A locked login is refused without checking the
  password.
- Sessions end after ``[desk] session_minutes`` (default 15) without a request, and at
  logout.
- Every form carries the session's CSRF token; the login form, before any session, carries
  a token that must equal a cookie of its own (double submit).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LOCKOUT_FAILURES", "LOCKOUT_MINUTES", "LoginGuard", "Session", "Sessions",
           "same_token"]

LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15


def same_token(a: str | None, b: str | None) -> bool:
    """Equal, non-empty tokens (compared in constant time)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class LoginGuard:
    """Failed logins per staff name and per client address, and the lockouts they earn."""

    def __init__(self, failures: int = LOCKOUT_FAILURES, minutes: float = LOCKOUT_MINUTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.window = minutes * 60
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._mutex = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def locked_for(self, name: str, address: str) -> float:
        """Seconds left on a lockout of this name or this address (0: may try)."""
        now = self.clock()
        with self._mutex:
            left = 0.0
            for key in (f"name:{name.casefold()}", f"addr:{address}"):
                times = self._recent(key, now)
                if len(times) >= self.failures:
                    left = max(left, self.window - (now - times[-1]))
            return left

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._mutex:
            for key in (f"name:{name.casefold()}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._mutex:
            self._seen.pop(f"name:{name.casefold()}", None)


@dataclass
class Session:
    name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = 0.0


class Sessions:
    """Session token -> :class:`Session`, each ending after ``minutes`` unused."""

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = minutes * 60
        self.clock = clock
        self._by_token: dict[str, Session] = {}
        self._mutex = threading.Lock()

    def start(self, name: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._mutex:
            self._by_token[token] = Session(name, last_seen=self.clock())
        return token

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token`` (its idle time restarts), or None when there is none
        or it has expired (then it is gone)."""
        if not token:
            return None
        now = self.clock()
        with self._mutex:
            session = self._by_token.get(token)
            if session is None:
                return None
            if now - session.last_seen > self.idle:
                del self._by_token[token]
                return None
            session.last_seen = now
            return session

    def end(self, token: str | None) -> None:
        with self._mutex:
            self._by_token.pop(token or "", None)

    def end_for(self, name: str) -> None:
        """End every session of a staff member (their account was removed)."""
        with self._mutex:
            for token in [t for t, s in self._by_token.items()
                          if s.name.casefold() == name.casefold()]:
                del self._by_token[token]
