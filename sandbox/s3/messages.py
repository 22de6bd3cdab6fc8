"""What the S3 emulator and its HTTP handler exchange: the credentials it accepts, an
S3 request and response (a response body may stream from a file), S3's error answer, and
the stored objects and multipart uploads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CREDENTIALS", "S3Error", "S3Request", "S3Response", "StoredObject", "md5_hash"]

#: The credentials the S3 sandbox accepts. Not secrets: anyone may read them.
CREDENTIALS: dict[str, str] = {
    "aws_access_key_id": "SANDBOXACCESSKEY0001",
    "aws_secret_access_key": "sandbox-secret-access-key-not-a-secret",
}

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
CHUNK = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024


class S3Error(Exception):
    """An S3 error answer: status, code and message as S3 sends them."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class StoredObject:
    path: Path
    size: int
    etag: str  # with the quotes, as S3 sends it
    last_modified: float
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "binary/octet-stream"


@dataclass
class Part:
    path: Path
    size: int
    md5: bytes


@dataclass
class Upload:
    bucket: str
    key: str
    metadata: dict[str, str]
    content_type: str
    initiated: float
    parts: dict[int, Part] = field(default_factory=dict)


@dataclass
class S3Request:
    method: str
    raw_path: str  # as sent, still percent-encoded (what SigV4 signs)
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    bucket: str
    key: str

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class S3Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # stream this file's [start, start + length) as the body
    start: int = 0
    length: int = 0


def md5_hash(data: bytes = b"") -> Any:
    # S3's ETags and Content-MD5 are MD5: an integrity check, not security.
    return hashlib.md5(data, usedforsecurity=False)
