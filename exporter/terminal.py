"""Output that any console or redirected file can take.

On Windows, ``exporter check > check.txt`` writes through the ANSI code page (cp1252), which
has no check marks and no "ễ" of a client named Nguyễn: Python raises UnicodeEncodeError at the
first such character, and the command ends with "unexpected problem". At start-up, a stream
that cannot encode them is switched to UTF-8 when it is redirected to a file or a pipe (the
file is then readable everywhere), or keeps its encoding and replaces what it cannot show with
"?" when it is a console or when the user chose the encoding (``PYTHONIOENCODING``).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping

__all__ = ["encodable_output"]

PROBE = "✓✗→…ễĐ"  # what exporter prints: check marks, arrows, and names from any alphabet


def _fix(stream: object, environ: Mapping[str, str]) -> None:
    if not isinstance(stream, io.TextIOWrapper):
        return  # a test runner's buffer, or already replaced by the caller
    try:
        PROBE.encode(stream.encoding)
        return
    except (UnicodeEncodeError, LookupError):
        pass
    if environ.get("PYTHONIOENCODING") or stream.isatty():
        stream.reconfigure(errors="replace")
    else:
        stream.reconfigure(encoding="utf-8", errors="replace")


def encodable_output(environ: Mapping[str, str] = os.environ) -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` able to write any text (see the module doc)."""
    for stream in (sys.stdout, sys.stderr):
        _fix(stream, environ)
