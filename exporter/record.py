"""A record as a connector hands it over, and the canonical JSON its content hash is made of.

Kept apart from :mod:`exporter.archive` so that the connector contract (and every plugin)
imports neither SQLCipher nor the archive.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HashedRecord", "Record", "canonical_json", "printable", "utf8_text"]


# One encoder for every call (it keeps no state between calls, so threads may share it):
# json.dumps with these options builds a new one each time, a third of the cost per record.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


def canonical_json(obj: Any) -> str:
    """Keys sorted, no insignificant whitespace, UTF-8 kept: equal data, equal text."""
    return _ENCODER.encode(obj)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_text(text: str) -> tuple[str, bytes]:
    """Canonical JSON as text any UTF-8 store takes, and its bytes. A lone surrogate (half an
    emoji a vendor cut in two, sent as ``"\\ud83d"``: valid JSON, no UTF-8) is kept as that
    JSON escape, so the text reads back to equal data; only such text pays for the rewrite."""
    try:
        return text, text.encode("utf-8")
    except UnicodeEncodeError:
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        return text, text.encode("utf-8")


def printable(text: str) -> str:
    """``text`` as a person reads it: a lone surrogate (half an emoji, archived as its JSON
    escape) becomes the replacement character, which any UTF-8 file, page or PDF takes."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class Record:
    """One record as a connector hands it over. ``files`` maps a name to a file's SHA-256
    (hex), stored by the archive before the record."""

    id: str
    data: Mapping[str, Any] | None
    deleted: bool = False
    files: Mapping[str, str] | None = None

    def content_hash(self) -> tuple[bytes, str | None]:
        """(SHA-256 of the content, its canonical JSON): a new version is stored only when
        the hash changes."""
        text = None if self.data is None else canonical_json(self.data)
        h = hashlib.sha256(b"tombstone:" if self.deleted else b"record:")
        if text is None:
            h.update(b"null")
        else:
            text, body = utf8_text(text)
            h.update(body)
        if self.files:
            h.update(b"\0files:" + canonical_json(dict(self.files)).encode())
        return h.digest(), text


@dataclass(frozen=True)
class HashedRecord(Record):
    """A record whose content hash and canonical JSON were made where it was read (a sync
    worker process), so that the one writer does not make them again; its ``data`` is left
    out (``{}``, or None for a tombstone without data)."""

    digest: bytes = b""
    text: str | None = None

    @classmethod
    def of(cls, rec: Record) -> HashedRecord:
        digest, text = rec.content_hash()
        return cls(rec.id, None if rec.data is None else {}, rec.deleted, rec.files, digest,
                   text)

    def content_hash(self) -> tuple[bytes, str | None]:
        return self.digest, self.text
