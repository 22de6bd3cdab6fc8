"""A target's write answers, checked before the id map takes them.

The id map is what every later run trusts: a row that points at the wrong record makes the
next update overwrite another client's record, and a row holding no real id (``"None"``)
stays "unchanged" for ever. A target's answer comes over the network and may be malformed
(a result missing, so that a positional answer shifts; an id of the wrong type; a body of
another shape): a result is taken only when it names one record id that no other record of
the batch, and no other source record in the id map, is given. Anything else is a failure
of that record, marked ``unsure`` (the write may have been applied), so its pending row
stays and the next run looks the record up by its source id before creating it.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from exporter.errors import SHAPE_ERRORS, SourceError
from exporter.writer import Writer, WriteResult

__all__ = ["UNSHAPED", "guarded", "trusted"]

log = logging.getLogger("exporter.restore")

UNSHAPED = ("The target answered in an unexpected shape, so what it did is not known; run "
            "the restore again later (it looks up what it may have written first).")
BAD_ID = ("the target's answer gave this record no usable id, or one given to another "
          "record; run the restore again later (it looks the record up first)")


class _Guarded:
    """A writer whose every call turns an answer-shape error into a SourceError."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._writer, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except SHAPE_ERRORS as exc:
                log.warning("%s %s: an answer of an unexpected shape", self._writer.name,
                            name, exc_info=exc)
                raise SourceError(UNSHAPED) from exc
        return cast(Callable[..., Any], call)


def guarded(writer: Writer) -> Writer:
    """``writer`` with an answer of an unexpected shape (a list where an object was, a
    missing key, text where a number was), met in any of its calls (a describe, a write,
    a look-up), raised as a :class:`SourceError` with :data:`UNSHAPED`, the cause in the
    log: a write's records fail, unsure, and any other call stops the run with a plain
    message (exit 12), never an unexpected problem (exit 1). The sync catches the same
    errors (:data:`exporter.errors.SHAPE_ERRORS`)."""
    return writer if isinstance(writer, _Guarded) else cast(Writer, _Guarded(writer))


def trusted(results: Iterable[WriteResult], keys: Iterable[str],
            held: Mapping[str, str]) -> dict[str, WriteResult]:
    """The results by key, for the ``keys`` sent only; a success whose target id is not a
    plain non-empty text, is given to two records of the batch, or is held in the id map
    (``held``: target id -> source id) by another record, becomes an unsure failure."""
    sent = set(keys)
    by_key: dict[str, WriteResult] = {}
    for r in results:
        if isinstance(r, WriteResult) and r.key in sent and r.key not in by_key:
            by_key[r.key] = r
    ids = Counter(r.target_id for r in by_key.values() if r.error is None)
    for key, r in by_key.items():
        if r.error is not None:
            continue
        tid = r.target_id
        if not isinstance(tid, str) or not tid.strip() or ids[tid] > 1 \
                or held.get(tid, key) != key:
            by_key[key] = WriteResult(key, error=BAD_ID, unsure=True)
    return by_key
