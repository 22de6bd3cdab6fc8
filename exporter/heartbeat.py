"""Heartbeats for an outside monitor (Healthchecks-style), so that a job that never ran at
all (computer off, task disabled, password changed) is noticed: ``[notify] ping_url``.

The nightly job pings ``URL/start`` when it begins, ``URL`` when it succeeded and
``URL/fail`` (with its one-line summary as the body) when it did not. The monitor mails when
a ping is late or a failure arrives. A ping that cannot be sent is logged, never an error:
the URL is a capability, so only its host is logged.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["PING_TIMEOUT", "ping"]

log = logging.getLogger("exporter.heartbeat")

#: Seconds a ping may take: a slow monitor must not hold the nightly job.
PING_TIMEOUT = 10.0


def ping(url: str | None, kind: str = "", body: str = "") -> bool:
    """Ping ``url`` (``kind``: "start", "fail" or "" for success); True if it answered 2xx."""
    if not url:
        return False
    target = f"{url.rstrip('/')}/{kind}" if kind else url
    host = urllib.parse.urlsplit(url).netloc
    # http(s) only: the config refuses any other scheme.
    request = urllib.request.Request(target, data=body.encode("utf-8")[:10_000],  # noqa: S310
                                     method="POST", headers={"User-Agent": "exporter"})
    try:
        with urllib.request.urlopen(request, timeout=PING_TIMEOUT) as answer:  # noqa: S310
            ok = 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("heartbeat %s to %s not sent: %s", kind or "success", host,
                    type(exc).__name__)
        return False
    log.info("heartbeat %s sent to %s", kind or "success", host)
    return ok
