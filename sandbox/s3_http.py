"""The HTTP side of the S3 emulator (:mod:`sandbox.s3`): the request handler and
:class:`S3EmulatorServer`, which serves an :class:`~sandbox.s3.S3Emulator` on
127.0.0.1.

For each request the handler builds an :class:`~sandbox.s3.S3Request`, names the
S3 operation, applies the fault plan, checks the signature (before an upload's body is sent:
``Expect: 100-continue`` is answered only then, and a full store refuses first), streams a
PutObject or UploadPart body into a file (checking ``Content-MD5``, ``x-amz-checksum-*`` and
``x-amz-content-sha256`` on the way), calls the emulator, and streams a GetObject body back
from its file. Errors are answered as S3's XML; every request goes into the request log.
Start it with :func:`sandbox.s3.s3_sandbox`.
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
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from sandbox.http import EmulatorServer, LoggedRequest, RequestLog
from sandbox.s3 import CHUNK, S3Emulator, S3Error, S3Request, S3Response, _md5

__all__ = ["S3EmulatorServer"]

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


def _make_s3_handler(server: S3EmulatorServer) -> type[BaseHTTPRequestHandler]:
    emulator = server.s3
    log = server.log

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "exporter-sandbox-s3"
        disable_nagle_algorithm = True

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
            fd, name = tempfile.mkstemp(dir=emulator.root / "incoming")
            path = Path(name)
            md5, sha = _md5(), hashlib.sha256()
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
            final = emulator.root / "objects" / path.name
            os.replace(path, final)
            return final, got, md5.digest()

        @staticmethod
        def _check_payload(req: S3Request, actual: str) -> None:
            claimed = req.headers.get("x-amz-content-sha256", "")
            if re.fullmatch(r"[0-9a-f]{64}", claimed) and claimed != actual:
                raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided "
                              "'x-amz-content-sha256' header does not match what was computed.")

        def _serve(self) -> None:
            started = time.perf_counter()
            expect = getattr(self, "_expect", False)
            self._expect = False
            split = urlsplit(self.path)
            raw_path = split.path
            bucket, _, key = unquote(raw_path).lstrip("/").partition("/")
            req = S3Request(self.command, raw_path, split.query,
                            parse_qs(split.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, bucket, key)
            head = self.command == "HEAD"
            endpoint = emulator.operation(req)
            length = int(req.headers.get("content-length") or 0)
            body_read = length == 0
            dropped = False
            reserved = 0
            try:
                try:
                    fault = emulator.faults.take_generic(emulator.vendor, endpoint, req.raw_path)
                    if fault is not None and fault.kind in ("slow", "timeout"):
                        time.sleep(fault.delay)
                    if fault is not None and fault.kind in ("rate_limit", "server_error"):
                        raise emulator.s3_fault(fault)
                    dropped = fault is not None and fault.kind == "truncated"
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
                                emulator._upload(req.arg("uploadId"), bucket, key)
                        else:
                            with emulator.lock:
                                emulator._bucket(bucket)
                        emulator.reserve(length)  # a full store refuses before the body is sent
                        reserved = length
                    if dropped and not head:
                        self.close_connection = True
                        if endpoint not in ("GetObject",):
                            # Drop the connection without an answer (a reset or a crashed proxy).
                            log.add(_entry(req, endpoint, 0, started))
                            return
                    if expect and length:
                        self.send_response_only(100)
                        self.end_headers()
                    if endpoint in _BODY_TO_FILE:
                        path, size, md5 = self._body_to_file(length, req)
                        body_read = True
                        try:
                            if endpoint == "PutObject":
                                resp = emulator.put_object(req, path, size, md5)
                            else:
                                resp = emulator.upload_part(req, path, size, md5)
                        except BaseException:
                            path.unlink(missing_ok=True)
                            raise
                    else:
                        if length > MAX_XML_BODY:
                            raise S3Error(400, "MaxMessageLengthExceeded",
                                          "Your request was too big.")
                        body = self.rfile.read(length) if length else b""
                        body_read = True
                        self._check_payload(req, hashlib.sha256(body).hexdigest())
                        if endpoint in _HANDLERS_NO_BODY:
                            resp = _HANDLERS_NO_BODY[endpoint](emulator, req)
                        elif endpoint == "HeadObject":
                            resp = emulator.get_object(req, head=True)
                        elif endpoint == "CreateBucket":
                            resp = emulator.put_bucket(req, body)
                        elif endpoint == "DeleteObjects":
                            resp = emulator.delete_objects(req, body)
                        elif endpoint == "CompleteMultipartUpload":
                            resp = emulator.complete_multipart(req, body)
                        else:
                            raise S3Error(501, "NotImplemented", "A header or query you provided "
                                          "implies functionality that is not implemented.")
                except S3Error as err:
                    resp = self._error(err, req)
                    if head:
                        resp.body = b""
                    if not body_read:
                        if expect:
                            # The client waits for 100 Continue; it will not send the body.
                            self.close_connection = True
                        else:
                            self._drain(length)
            finally:
                if reserved:
                    emulator.release(reserved)
            log.add(_entry(req, endpoint, resp.status, started))
            if dropped and resp.file is not None:
                # Announce the whole body, send half, close: a connection lost mid-download.
                resp.headers["Content-Length"] = str(resp.length)
                resp.length = max(1, resp.length // 2)
            self._send(resp, head)

        def _drain(self, length: int) -> None:
            left = length
            while left > 0:
                block = self.rfile.read(min(CHUNK, left))
                if not block:
                    break
                left -= len(block)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    return _Handler


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
        self.httpd.RequestHandlerClass = _make_s3_handler(self)
