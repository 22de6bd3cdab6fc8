"""The HTTP side of the S3 emulator: the request handler, :class:`S3EmulatorServer`, which
serves an :class:`~sandbox.s3.emulator.S3Emulator` on 127.0.0.1, and :func:`s3_sandbox`.

For each request the handler builds an :class:`~sandbox.s3.messages.S3Request`, names the
S3 operation, applies the fault plan, checks the signature (before an upload's body is sent:
``Expect: 100-continue`` is answered only then, and a full store refuses first), streams a
PutObject or UploadPart body into a file (checking ``Content-MD5``, ``x-amz-checksum-*`` and
``x-amz-content-sha256`` on the way), calls the emulator, and streams a GetObject body back
from its file. Errors are answered as S3's XML; every request goes into the request log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from sandbox.http import EmulatorServer, LoggedRequest, RequestLog
from sandbox.s3.emulator import S3Emulator
from sandbox.s3.messages import (
    CHUNK,
    CREDENTIALS,
    MIN_PART_SIZE,
    S3Error,
    S3Request,
    S3Response,
    md5_hash,
)

__all__ = ["S3EmulatorServer", "s3_sandbox"]

MAX_XML_BODY = 4 * 1024 * 1024
_STATUS_TEXT = {200: "OK", 204: "No Content", 206: "Partial Content", 400: "Bad Request",
                403: "Forbidden", 404: "Not Found", 409: "Conflict", 411: "Length Required",
                416: "Range Not Satisfiable", 500: "Internal Server Error",
                501: "Not Implemented", 503: "Service Unavailable", 507: "Insufficient Storage"}


_BODY_TO_FILE = frozenset({"PutObject", "UploadPart"})
_HANDLERS_NO_BODY = {
    "ListBuckets": S3Emulator.list_buckets, "HeadBucket": S3Emulator.head_bucket,
    "ListObjectsV2": S3Emulator.list_objects_v2,
    "ListMultipartUploads": S3Emulator.list_multipart_uploads,
    "GetObject": S3Emulator.get_object, "DeleteObject": S3Emulator.delete_object,
    "CreateMultipartUpload": S3Emulator.create_multipart,
    "AbortMultipartUpload": S3Emulator.abort_multipart,
}


@dataclass
class _Exchange:
    """One request as the handler works through it."""

    req: S3Request
    endpoint: str
    length: int  # the announced body length
    head: bool
    expect: bool  # the client waits for 100 Continue before it sends the body
    started: float
    body_read: bool = False
    dropped: bool = False  # a ``truncated`` fault: the connection is dropped
    reserved: int = 0  # bytes of quota held while an upload's body is read


class S3RequestHandler(BaseHTTPRequestHandler):
    """Answers S3 requests for :attr:`emulator`; :class:`S3EmulatorServer` makes a subclass
    bound to its emulator and request log."""

    protocol_version = "HTTP/1.1"
    server_version = "exporter-sandbox-s3"
    disable_nagle_algorithm = True
    emulator: S3Emulator
    log: RequestLog

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the RequestLog is the log

    def handle_expect_100(self) -> bool:
        # Decided in _serve, after the headers are authenticated: like S3, a refused
        # upload is answered before its body is sent.
        self._expect = True
        return True

    def _send(self, resp: S3Response, head: bool) -> None:
        reason = _STATUS_TEXT.get(resp.status, "")
        self.send_response(resp.status, reason)
        request_id = uuid.uuid4().hex[:16].upper()
        headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id,
                   **resp.headers}
        length = resp.length if resp.file is not None else len(resp.body)
        headers.setdefault("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        if resp.file is not None:
            with resp.file.open("rb") as src:
                src.seek(resp.start)
                left = resp.length
                while left > 0:
                    block = src.read(min(CHUNK, left))
                    if not block:
                        break
                    self.wfile.write(block)
                    left -= len(block)
        else:
            self.wfile.write(resp.body)

    def _error(self, err: S3Error, req: S3Request | None) -> S3Response:
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in err.extra.items())
        resource = escape(req.raw_path) if req else ""
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{err.code}</Code>'
                f"<Message>{escape(err.message)}</Message>{extra}"
                f"<Resource>{resource}</Resource><RequestId>SANDBOX</RequestId></Error>"
                ).encode()
        return S3Response(err.status, body, {"Content-Type": "application/xml"})

    def _body_to_file(self, length: int, req: S3Request) -> tuple[Path, int, bytes]:
        fd, name = tempfile.mkstemp(dir=self.emulator.root / "incoming")
        path = Path(name)
        md5, sha = md5_hash(), hashlib.sha256()
        crc = got = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while got < length:
                    block = self.rfile.read(min(CHUNK, length - got))
                    if not block:
                        break
                    md5.update(block)
                    sha.update(block)
                    crc = zlib.crc32(block, crc)
                    out.write(block)
                    got += len(block)
            if got < length:
                self.close_connection = True
                raise S3Error(400, "IncompleteBody", "You did not provide the number of "
                              "bytes specified by the Content-Length HTTP header")
            self._check_payload(req, sha.hexdigest())
            for name, digest in (("sha256", sha.digest()), ("crc32", crc.to_bytes(4, "big"))):
                claimed = req.headers.get(f"x-amz-checksum-{name}")
                if claimed and base64.b64encode(digest).decode() != claimed:
                    raise S3Error(400, "BadDigest", f"The {name.upper()} you specified did "
                                  "not match the calculated checksum.")
            if "content-md5" in req.headers and base64.b64encode(
                    md5.digest()).decode() != req.headers["content-md5"]:
                raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not "
                              "match what we received.")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        final = self.emulator.root / "objects" / path.name
        os.replace(path, final)
        return final, got, md5.digest()

    @staticmethod
    def _check_payload(req: S3Request, actual: str) -> None:
        claimed = req.headers.get("x-amz-content-sha256", "")
        if re.fullmatch(r"[0-9a-f]{64}", claimed) and claimed != actual:
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided "
                          "'x-amz-content-sha256' header does not match what was computed.")

    def _serve(self) -> None:
        ex = self._exchange()
        emulator = self.emulator
        try:
            try:
                resp = self._answer(ex)
                if resp is None:
                    return  # dropped without an answer
            except S3Error as err:
                resp = self._refuse(err, ex)
        finally:
            if ex.reserved:
                emulator.release(ex.reserved)
        self.log.add(_entry(ex.req, ex.endpoint, resp.status, ex.started))
        if ex.dropped and resp.file is not None:
            # Announce the whole body, send half, close: a connection lost mid-download.
            resp.headers["Content-Length"] = str(resp.length)
            resp.length = max(1, resp.length // 2)
        self._send(resp, ex.head)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def _exchange(self) -> _Exchange:
        started = time.perf_counter()
        expect = getattr(self, "_expect", False)
        self._expect = False
        split = urlsplit(self.path)
        raw_path = split.path
        bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
        req = S3Request(self.command, raw_path, split.query,
                        parse_qs(split.query, keep_blank_values=True),
                        {k.lower(): v for k, v in self.headers.items()}, bucket, key)
        length = int(req.headers.get("content-length") or 0)
        return _Exchange(req, self.emulator.operation(req), length, self.command == "HEAD",
                         expect, started, body_read=length == 0)

    def _answer(self, ex: _Exchange) -> S3Response | None:
        """The response, or None when a fault drops the connection without one."""
        self._admit(ex)
        if ex.dropped and not ex.head:
            self.close_connection = True
            if ex.endpoint not in ("GetObject",):
                # Drop the connection without an answer (a reset or a crashed proxy).
                self.log.add(_entry(ex.req, ex.endpoint, 0, ex.started))
                return None
        if ex.expect and ex.length:
            self.send_response_only(100)
            self.end_headers()
        if ex.endpoint in _BODY_TO_FILE:
            return self._store_body(ex)
        return self._small_body(ex)

    def _admit(self, ex: _Exchange) -> None:
        """Faults, refused transfer encodings, the signature, and the quota for an upload:
        all decided before the body is read."""
        emulator, req, endpoint = self.emulator, ex.req, ex.endpoint
        fault = emulator.faults.take_generic(emulator.vendor, endpoint, req.raw_path)
        if fault is not None and fault.kind in ("slow", "timeout"):
            time.sleep(fault.delay)
        if fault is not None and fault.kind in ("rate_limit", "server_error"):
            raise emulator.s3_fault(fault)
        ex.dropped = fault is not None and fault.kind == "truncated"
        if ("aws-chunked" in req.headers.get("content-encoding", "")
                or req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")
                or "chunked" in req.headers.get("transfer-encoding", "")):
            raise S3Error(501, "NotImplemented", "The sandbox S3 does not accept "
                          "aws-chunked or chunked uploads; configure the client with "
                          "request_checksum_calculation='when_required'.")
        emulator.authenticate(req)
        if endpoint in ("PutObject", "UploadPart"):
            if endpoint == "UploadPart":
                with emulator.lock:
                    emulator._upload(req.arg("uploadId"), req.bucket, req.key)
            else:
                with emulator.lock:
                    emulator._bucket(req.bucket)
            emulator.reserve(ex.length)  # a full store refuses before the body is sent
            ex.reserved = ex.length

    def _store_body(self, ex: _Exchange) -> S3Response:
        """PutObject and UploadPart: the body streamed into a file, then stored."""
        path, size, md5 = self._body_to_file(ex.length, ex.req)
        ex.body_read = True
        try:
            if ex.endpoint == "PutObject":
                return self.emulator.put_object(ex.req, path, size, md5)
            return self.emulator.upload_part(ex.req, path, size, md5)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _small_body(self, ex: _Exchange) -> S3Response:
        """Every other operation: a body of at most MAX_XML_BODY, read into memory."""
        emulator, req, endpoint, length = self.emulator, ex.req, ex.endpoint, ex.length
        if length > MAX_XML_BODY:
            raise S3Error(400, "MaxMessageLengthExceeded", "Your request was too big.")
        body = self.rfile.read(length) if length else b""
        ex.body_read = True
        self._check_payload(req, hashlib.sha256(body).hexdigest())
        if endpoint in _HANDLERS_NO_BODY:
            return _HANDLERS_NO_BODY[endpoint](emulator, req)
        if endpoint == "HeadObject":
            return emulator.get_object(req, head=True)
        if endpoint == "CreateBucket":
            return emulator.put_bucket(req, body)
        if endpoint == "DeleteObjects":
            return emulator.delete_objects(req, body)
        if endpoint == "CompleteMultipartUpload":
            return emulator.complete_multipart(req, body)
        raise S3Error(501, "NotImplemented", "A header or query you provided "
                      "implies functionality that is not implemented.")

    def _refuse(self, err: S3Error, ex: _Exchange) -> S3Response:
        resp = self._error(err, ex.req)
        if ex.head:
            resp.body = b""
        if not ex.body_read:
            if ex.expect:
                # The client waits for 100 Continue; it will not send the body.
                self.close_connection = True
            else:
                self._drain(ex.length)
        return resp

    def _drain(self, length: int) -> None:
        left = length
        while left > 0:
            block = self.rfile.read(min(CHUNK, left))
            if not block:
                break
            left -= len(block)


def _entry(req: S3Request, endpoint: str, status: int, started: float) -> LoggedRequest:
    return LoggedRequest("s3", req.method, req.raw_path, endpoint, status,
                         time.perf_counter() - started, req.query)


class S3EmulatorServer(EmulatorServer):
    """Serves an :class:`S3Emulator` on 127.0.0.1, with HEAD, ``Expect: 100-continue`` and
    bodies streamed to and from disk (the shared handler reads whole bodies into memory)."""

    def __init__(self, emulator: S3Emulator, log: RequestLog, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.s3 = emulator
        super().__init__(emulator, log, host, port)
        self.httpd.RequestHandlerClass = type(
            "BoundS3RequestHandler", (S3RequestHandler,), {"emulator": emulator, "log": log})


@contextmanager
def s3_sandbox(tmp: str | Path, buckets: tuple[str, ...] = ("copies",),
               credentials: dict[str, str] | None = None, quota_bytes: int | None = None,
               min_part_size: int = MIN_PART_SIZE, region: str = "us-east-1",
               ) -> Iterator[tuple[str, dict[str, str], S3Emulator]]:
    """Serve an S3 emulator storing its objects under ``tmp``; yields the endpoint URL, the
    credentials it accepts (boto3 keyword names) and the emulator (``.faults``, ``.log``)."""
    creds = dict(credentials or CREDENTIALS)
    emulator = S3Emulator(Path(tmp), creds, region=region, quota_bytes=quota_bytes,
                          min_part_size=min_part_size)
    for name in buckets:
        emulator.create_bucket(name)
    server = S3EmulatorServer(emulator, emulator.log).start()
    try:
        yield server.base_url, creds, emulator
    finally:
        server.stop()
