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

from collections import Counter
from collections.abc import Iterable, Mapping

from exporter.writer import WriteResult

__all__ = ["SHAPE_ERRORS", "UNSHAPED", "trusted"]

#: What reading an answer of an unexpected shape raises (a list where a dict was, a missing
#: key, text where a number was); the sync reads vendor answers through the same guard.
SHAPE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError)
UNSHAPED = ("the target answered in an unexpected shape, so whether this record was written "
            "is not known; run the restore again later (it looks the record up first)")
BAD_ID = ("the target's answer gave this record no usable id, or one given to another "
          "record; run the restore again later (it looks the record up first)")


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
