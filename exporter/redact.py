"""Secrets kept out of every text exporter writes for people: the log, the screen, error
reports, exception messages.

A vendor's error answer can quote the request back, ``Authorization`` header and all (a
debugging proxy, a careless endpoint: the sandbox's ``echo`` fault); that answer's message
becomes an exception's text, an error-report row and, through the exception's cause, a log
line. Every secret exporter resolves (:func:`exporter.secrets.resolve_secrets`) or is given
by a vendor (a Salesforce session id) is remembered here, in this process only, and
:func:`redact` replaces it, and any ``Bearer`` token whatever its origin, with
``[redacted]``.
"""

from __future__ import annotations

import re
import threading

__all__ = ["REDACTED", "redact", "remember"]

REDACTED = "[redacted]"
#: Shorter values are not secrets worth the false hits (and would blank common words).
MIN_LENGTH = 8
#: A bearer token in an echoed header (``Authorization: Bearer ...``), even one never
#: remembered.
BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=!-]{8,}")

_lock = threading.Lock()
_values: set[str] = set()


def remember(*values: object) -> None:
    """Secret values to redact from now on (non-text and short values are ignored)."""
    with _lock:
        _values.update(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)


def redact(text: str) -> str:
    """``text`` with every remembered secret and every bearer token replaced."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)  # a longer secret before its part
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return BEARER.sub(lambda m: m.group(1) + REDACTED, text)
