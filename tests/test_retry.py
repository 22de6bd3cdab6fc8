"""The shared retry policy: backoff, Retry-After, and less patience for a service that is down."""

from __future__ import annotations

import pytest

from exporter.errors import SourceError, TransientError
from exporter.retry import RetryPolicy


class Flaky:
    """Fails ``failures`` times with a TransientError, then answers."""

    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.retry_after = retry_after

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError("503 Service Unavailable", self.retry_after)
        return "ok"


def test_retries_until_it_answers() -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.001)
    flaky = Flaky(3)
    assert policy.call("reading", flaky) == "ok"
    assert flaky.calls == 4 and policy.retries == 3


def test_a_service_that_stays_down_costs_the_full_backoff_only_once() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.001)
    down = Flaky(10**6)
    with pytest.raises(SourceError, match="kept failing after 5 tries"):
        policy.call("stream one", down)
    with pytest.raises(SourceError, match="kept failing after 2 tries"):
        policy.call("stream two", down)
    assert down.calls == 7
    # It answers again: full patience is back.
    assert policy.call("stream three", Flaky(0)) == "ok"
    assert policy.call("stream four", Flaky(4)) == "ok"


def test_a_retry_after_longer_than_we_wait_gives_up_at_once() -> None:
    policy = RetryPolicy(attempts=5, max_delay=10)
    slow = Flaky(1, retry_after=3600)
    with pytest.raises(SourceError, match="longer than exporter waits"):
        policy.call("search", slow)
    assert slow.calls == 1
