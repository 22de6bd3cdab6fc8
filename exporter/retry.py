"""The one retry policy every connector uses: 429 with or without ``Retry-After``, 5xx,
timeouts and dropped connections are retried with capped exponential backoff and jitter;
everything else fails at once. Connectors map their SDK's exceptions to
:class:`exporter.connector.TransientError` (retry) or another ``SourceError`` (do not)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from exporter.errors import SourceError, TransientError
from exporter.settings import Setting, check_table

__all__ = ["RETRY", "RETRY_TABLE", "RetryPolicy", "policy_from"]

T = TypeVar("T")
log = logging.getLogger("exporter.retry")


@dataclass
class RetryPolicy:
    attempts: int = 6  # tries in all
    base_delay: float = 0.5  # seconds before the 2nd try; doubles each time
    max_delay: float = 30.0  # no single wait is longer (a longer Retry-After gives up)
    max_total: float = 300.0  # give up when the waits would exceed this in all
    retries: int = 0  # how many retries this policy has made (for stats and benches)
    #: Tries per call once some call has used up all its tries: a service that is down
    #: should not cost the full backoff again for every stream (a light circuit breaker).
    attempts_after_exhaustion: int = 2
    exhausted: bool = False

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; retry it on :class:`TransientError`."""
        waited = 0.0
        attempts = min(self.attempts, self.attempts_after_exhaustion) if self.exhausted \
            else self.attempts
        for attempt in range(1, attempts + 1):
            try:
                result = fn()
                self.exhausted = False  # it answers again: full patience next time
                return result
            except TransientError as exc:
                if attempt == attempts:
                    self.exhausted = True
                    raise SourceError(f"{what} kept failing after {attempt} tries ({exc}); "
                                      "the service may be down: try again later.") from exc
                delay = self.base_delay * 2 ** (attempt - 1)
                delay = delay * random.uniform(0.8, 1.2)  # jitter so parallel runs spread out
                if exc.retry_after is not None:
                    delay = max(float(exc.retry_after), 0.0)
                if delay > self.max_delay or waited + delay > self.max_total:
                    self.exhausted = True
                    raise SourceError(f"{what} was refused for now ({exc}) and asks to wait "
                                      f"{delay:.0f} s, longer than exporter waits; try again "
                                      "later.") from exc
                log.info("%s: %s; retrying in %.1f s (try %d of %d)", what, exc, delay,
                         attempt + 1, attempts)
                time.sleep(delay)
                waited += delay
                self.retries += 1
        raise AssertionError("unreachable")


#: The keys of a ``retry`` table (a restore target's own retry policy).
RETRY_TABLE: tuple[Setting, ...] = (
    Setting("attempts", "integer", "Tries in all", minimum=1),
    Setting("base_delay", "number", "Seconds before the second try; doubles each time",
            minimum=0),
    Setting("max_delay", "number", "The longest single wait (a longer Retry-After gives up)",
            minimum=0),
    Setting("max_total", "number", "Give up when the waits would add up to more", minimum=0),
)
#: The setting a writer declares for its retry table.
RETRY = Setting("retry", "table", "The retry policy for this target: attempts, base_delay, "
                "max_delay, max_total (seconds)")


def policy_from(where: str, table: Mapping[str, Any] | None) -> RetryPolicy:
    """A policy from a ``retry`` table (``where`` names it in messages), its keys checked."""
    return RetryPolicy(**check_table(where, table or {}, RETRY_TABLE))

