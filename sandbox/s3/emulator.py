"""The S3 emulator's storage model: buckets, objects and multipart uploads over files on
disk, the byte quota, the SigV4 check, and each operation's answer. It knows nothing of
sockets: :mod:`sandbox.s3.server` reads the requests and streams the bodies.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import re
import shutil
import time
import uuid
import zlib
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sandbox.faults import Fault, FaultPlan
from sandbox.http import Emulator, RequestLog
from sandbox.s3.messages import (
    CHUNK,
    CREDENTIALS,
    MIN_PART_SIZE,
    NS,
    Part,
    S3Error,
    S3Request,
    S3Response,
    StoredObject,
    Upload,
    md5_hash,
)

__all__ = ["S3Emulator"]


def _xml(root: str, inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'
            ).encode()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class S3Emulator(Emulator):
    """S3's REST API over files in ``root``; see the package docstring."""

    vendor = "s3"

    def __init__(self, root: str | Path, credentials: dict[str, str] | None = None,
                 faults: FaultPlan | None = None, region: str = "us-east-1",
                 quota_bytes: int | None = None, min_part_size: int = MIN_PART_SIZE) -> None:
        super().__init__(faults)
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "incoming").mkdir(parents=True, exist_ok=True)
        creds = credentials or CREDENTIALS
        #: access key id -> secret access key
        self.keys = {creds["aws_access_key_id"]: creds["aws_secret_access_key"]}
        self.region = region
        self.quota_bytes = quota_bytes
        self.quota_code = "QuotaExceeded"
        self.min_part_size = min_part_size
        #: The most keys one ListObjectsV2 page holds (S3: 1000); tests lower it to page.
        self.max_keys = 1000
        self.buckets: dict[str, float] = {}  # name -> creation time
        self.objects: dict[str, dict[str, StoredObject]] = {}
        self.uploads: dict[str, Upload] = {}
        self._ids = itertools.count(1)
        self.log = RequestLog()
        self._reserved = 0  # bytes of bodies still streaming in

    # -- state helpers --------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        with self.lock:
            if name not in self.buckets:
                self.buckets[name] = time.time()
                self.objects[name] = {}

    def used_bytes(self) -> int:
        with self.lock:
            stored = sum(o.size for objs in self.objects.values() for o in objs.values())
            pending = sum(p.size for u in self.uploads.values() for p in u.parts.values())
            return stored + pending

    def open_uploads(self) -> list[Upload]:
        with self.lock:
            return list(self.uploads.values())

    def _new_file(self) -> Path:
        return self.root / "objects" / uuid.uuid4().hex

    def _bucket(self, name: str) -> dict[str, StoredObject]:
        objs = self.objects.get(name)
        if objs is None:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist",
                          BucketName=name)
        return objs

    def _object(self, bucket: str, key: str) -> StoredObject:
        obj = self._bucket(bucket).get(key)
        if obj is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        return obj

    def _upload(self, upload_id: str | None, bucket: str, key: str) -> Upload:
        up = self.uploads.get(upload_id or "")
        if up is None or up.bucket != bucket or up.key != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload "
                          "ID may be invalid, or the upload may have been aborted or completed.",
                          UploadId=upload_id or "")
        return up

    def reserve(self, incoming: int) -> None:
        """Count ``incoming`` bytes against the quota while their body streams in (parallel
        parts must not all pass the check before any of them is stored)."""
        with self.lock:
            if (self.quota_bytes is not None
                    and self.used_bytes() + self._reserved + incoming > self.quota_bytes):
                raise S3Error(507, self.quota_code, "The storage quota of this account is "
                              "used up: delete objects or raise the quota.")
            self._reserved += incoming

    def release(self, incoming: int) -> None:
        with self.lock:
            self._reserved -= incoming

    # -- routing --------------------------------------------------------------------------

    def operation(self, req: S3Request) -> str:
        q, m = req.query, req.method
        if not req.bucket:
            return "ListBuckets" if m == "GET" else "unknown"
        if not req.key:
            if m == "HEAD":
                return "HeadBucket"
            if m == "PUT":
                return "CreateBucket"
            if m == "POST" and "delete" in q:
                return "DeleteObjects"
            if m == "GET" and "uploads" in q:
                return "ListMultipartUploads"
            if m == "GET":
                return "ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"
            return "unknown"
        if m == "PUT":
            if "partNumber" in q and "uploadId" in q:
                return "UploadPart"
            return "CopyObject" if "x-amz-copy-source" in req.headers else "PutObject"
        if m == "POST" and "uploads" in q:
            return "CreateMultipartUpload"
        if m == "POST" and "uploadId" in q:
            return "CompleteMultipartUpload"
        if m == "DELETE":
            return "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
        if m == "GET":
            return "GetObject"
        if m == "HEAD":
            return "HeadObject"
        return "unknown"

    # -- authentication -------------------------------------------------------------------

    def authenticate(self, req: S3Request) -> None:
        """Check the SigV4 ``Authorization`` header; raise S3Error as S3 would."""
        auth = req.headers.get("authorization", "")
        if not auth:
            raise S3Error(403, "AccessDenied", "Access Denied")
        match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/"
                             r"aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})",
                             auth.strip())
        if not match:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed.")
        akid, date, region, signed, signature = match.groups()
        secret = self.keys.get(akid)
        if secret is None:
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                          "not exist in our records.", AWSAccessKeyId=akid)
        amz_date = req.headers.get("x-amz-date", "")
        payload_hash = req.headers.get("x-amz-content-sha256")
        if not payload_hash:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")
        names = signed.split(";")
        if "host" not in names:
            raise S3Error(403, "AccessDenied", "The host header must be signed.")
        headers = "".join(
            f"{n}:{' '.join(req.headers.get(n, '').split())}\n" for n in names)
        pairs = []
        for item in req.raw_query.split("&") if req.raw_query else []:
            k, _, v = item.partition("=")
            pairs.append((k, v))
        query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        canonical = "\n".join([req.method, req.raw_path, query, headers, signed, payload_hash])
        scope = f"{date}/{region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(("AWS4" + secret).encode(), date)
        for part in (region, "s3", "aws4_request"):
            key = _hmac(key, part)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                          "does not match the signature you provided. Check your key and "
                          "signing method.", AWSAccessKeyId=akid)

    # -- bucket operations ----------------------------------------------------------------

    def list_buckets(self, req: S3Request) -> S3Response:
        with self.lock:
            items = "".join(f"<Bucket><Name>{escape(n)}</Name><CreationDate>{_iso(t)}"
                            "</CreationDate></Bucket>" for n, t in sorted(self.buckets.items()))
        owner = "<Owner><ID>sandbox</ID><DisplayName>sandbox</DisplayName></Owner>"
        return S3Response(body=_xml("ListAllMyBucketsResult",
                                    f"{owner}<Buckets>{items}</Buckets>"))

    def head_bucket(self, req: S3Request) -> S3Response:
        with self.lock:
            self._bucket(req.bucket)
        return S3Response(headers={"x-amz-bucket-region": self.region})

    def put_bucket(self, req: S3Request, body: bytes) -> S3Response:
        with self.lock:
            if req.bucket in self.buckets:
                raise S3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create "
                              "the named bucket succeeded and you already own it.",
                              BucketName=req.bucket)
            self.create_bucket(req.bucket)
        return S3Response(headers={"Location": f"/{req.bucket}"})

    def list_objects_v2(self, req: S3Request) -> S3Response:
        prefix = req.arg("prefix") or ""
        delimiter = req.arg("delimiter") or ""
        try:
            max_keys = min(int(req.arg("max-keys") or 1000), self.max_keys)
        except ValueError:
            raise S3Error(400, "InvalidArgument", "Provided max-keys not an integer or within "
                          "integer range") from None
        token = req.arg("continuation-token")
        start_after = req.arg("start-after") or ""
        if token is not None:
            try:
                start_after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise S3Error(400, "InvalidArgument", "The continuation token provided is "
                              "incorrect") from None
        url = req.arg("encoding-type") == "url"

        def enc(s: str) -> str:
            return escape(quote(s, safe="/") if url else s)

        with self.lock:
            objs = self._bucket(req.bucket)
            keys = sorted(k for k in objs if k.startswith(prefix) and k > start_after)
            entries: list[tuple[str, StoredObject | None]] = []  # (key or common prefix, obj)
            last = ""
            truncated = False
            for k in keys:
                if delimiter:
                    cut = k.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = k[: cut + len(delimiter)]
                        if entries and entries[-1][1] is None and entries[-1][0] == common:
                            last = k
                            continue
                        if len(entries) >= max_keys:
                            truncated = True
                            break
                        entries.append((common, None))
                        last = k
                        continue
                if len(entries) >= max_keys:
                    truncated = True
                    break
                entries.append((k, objs[k]))
                last = k
        # A common prefix rolls up every key under it: the next page starts after them all.
        if truncated and entries and entries[-1][1] is None:
            last = entries[-1][0] + "\uffff"
        parts = [f"<Name>{escape(req.bucket)}</Name><Prefix>{enc(prefix)}</Prefix>",
                 f"<MaxKeys>{max_keys}</MaxKeys><KeyCount>{len(entries)}</KeyCount>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if token is not None:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            nxt = base64.urlsafe_b64encode(last.encode()).decode()
            parts.append(f"<NextContinuationToken>{nxt}</NextContinuationToken>")
        for name, obj in entries:
            if obj is None:
                parts.append(f"<CommonPrefixes><Prefix>{enc(name)}</Prefix></CommonPrefixes>")
            else:
                parts.append(
                    f"<Contents><Key>{enc(name)}</Key><LastModified>{_iso(obj.last_modified)}"
                    f"</LastModified><ETag>{escape(obj.etag)}</ETag><Size>{obj.size}</Size>"
                    "<StorageClass>STANDARD</StorageClass></Contents>")
        return S3Response(body=_xml("ListBucketResult", "".join(parts)))

    def list_multipart_uploads(self, req: S3Request) -> S3Response:
        with self.lock:
            self._bucket(req.bucket)
            ups = sorted((u.key, uid, u) for uid, u in self.uploads.items()
                         if u.bucket == req.bucket)
        items = "".join(f"<Upload><Key>{escape(k)}</Key><UploadId>{uid}</UploadId>"
                        f"<Initiated>{_iso(u.initiated)}</Initiated></Upload>"
                        for k, uid, u in ups)
        return S3Response(body=_xml(
            "ListMultipartUploadsResult",
            f"<Bucket>{escape(req.bucket)}</Bucket><IsTruncated>false</IsTruncated>{items}"))

    def delete_objects(self, req: S3Request, body: bytes) -> S3Response:
        self._check_body_checksum(req, body, required=True)
        try:
            root = ET.fromstring(body)  # noqa: S314 (loopback; expat refuses entity bombs)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or "
                          "did not validate against our published schema.") from None
        keys = [el.text or "" for el in root.iter() if el.tag.endswith("Key")]
        quiet = any(el.tag.endswith("Quiet") and (el.text or "").strip() == "true"
                    for el in root.iter())
        if not keys or len(keys) > 1000:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or "
                          "did not validate against our published schema.")
        with self.lock:
            objs = self._bucket(req.bucket)
            gone = [objs.pop(k, None) for k in keys]
        for obj in gone:
            if obj is not None:
                obj.path.unlink(missing_ok=True)
        inner = "" if quiet else "".join(
            f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in keys)
        return S3Response(body=_xml("DeleteResult", inner))

    # -- object operations ----------------------------------------------------------------

    @staticmethod
    def _meta(req: S3Request) -> dict[str, str]:
        return {k[len("x-amz-meta-"):]: v for k, v in req.headers.items()
                if k.startswith("x-amz-meta-")}

    def _check_body_checksum(self, req: S3Request, body: bytes, required: bool) -> None:
        if "content-md5" in req.headers:
            if base64.b64encode(md5_hash(body).digest()).decode() != req.headers["content-md5"]:
                raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match "
                              "what we received.")
            return
        crc = req.headers.get("x-amz-checksum-crc32")
        if crc is not None:
            if base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode() != crc:
                raise S3Error(400, "BadDigest", "The CRC32 you specified did not match the "
                              "calculated checksum.")
            return
        if required and not any(h.startswith("x-amz-checksum-") for h in req.headers):
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "Content-MD5")

    def put_object(self, req: S3Request, body: Path, size: int, md5: bytes) -> S3Response:
        now = time.time()
        obj = StoredObject(body, size, f'"{md5.hex()}"', now, self._meta(req),
                           req.headers.get("content-type", "binary/octet-stream"))
        with self.lock:
            objs = self._bucket(req.bucket)
            old = objs.get(req.key)
            objs[req.key] = obj
        if old is not None:
            old.path.unlink(missing_ok=True)
        return S3Response(headers={"ETag": obj.etag})

    def object_headers(self, obj: StoredObject) -> dict[str, str]:
        headers = {"ETag": obj.etag, "Last-Modified": formatdate(obj.last_modified, usegmt=True),
                   "Content-Type": obj.content_type, "Accept-Ranges": "bytes"}
        headers.update({f"x-amz-meta-{k}": v for k, v in obj.metadata.items()})
        return headers

    def get_object(self, req: S3Request, head: bool = False) -> S3Response:
        with self.lock:
            obj = self._object(req.bucket, req.key)
        headers = self.object_headers(obj)
        start, length, status = 0, obj.size, 200
        rng = req.headers.get("range")
        if rng:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if match and (match[1] or match[2]):
                if match[1]:
                    start = int(match[1])
                    end = min(int(match[2]), obj.size - 1) if match[2] else obj.size - 1
                else:
                    start = max(obj.size - int(match[2]), 0)
                    end = obj.size - 1
                if start >= obj.size or end < start:
                    raise S3Error(416, "InvalidRange", "The requested range is not "
                                  "satisfiable", RangeRequested=rng,
                                  ActualObjectSize=str(obj.size))
                length, status = end - start + 1, 206
                headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
        if head:
            headers["Content-Length"] = str(length)
            return S3Response(status, headers=headers)
        return S3Response(status, headers=headers, file=obj.path, start=start, length=length)

    def delete_object(self, req: S3Request) -> S3Response:
        with self.lock:
            obj = self._bucket(req.bucket).pop(req.key, None)
        if obj is not None:
            obj.path.unlink(missing_ok=True)
        return S3Response(204)

    def create_multipart(self, req: S3Request) -> S3Response:
        with self.lock:
            self._bucket(req.bucket)
            upload_id = f"sandbox-upload-{next(self._ids)}-{uuid.uuid4().hex[:12]}"
            self.uploads[upload_id] = Upload(
                req.bucket, req.key, self._meta(req),
                req.headers.get("content-type", "binary/octet-stream"), time.time())
        return S3Response(body=_xml(
            "InitiateMultipartUploadResult",
            f"<Bucket>{escape(req.bucket)}</Bucket><Key>{escape(req.key)}</Key>"
            f"<UploadId>{upload_id}</UploadId>"))

    def upload_part(self, req: S3Request, body: Path, size: int, md5: bytes) -> S3Response:
        try:
            number = int(req.arg("partNumber") or "")
        except ValueError:
            number = 0
        if not 1 <= number <= 10000:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 "
                          "and 10000, inclusive")
        with self.lock:
            up = self._upload(req.arg("uploadId"), req.bucket, req.key)
            old = up.parts.get(number)
            up.parts[number] = Part(body, size, md5)
        if old is not None:
            old.path.unlink(missing_ok=True)
        return S3Response(headers={"ETag": f'"{md5.hex()}"'})

    def complete_multipart(self, req: S3Request, body: bytes) -> S3Response:
        try:
            root = ET.fromstring(body)  # noqa: S314 (loopback; expat refuses entity bombs)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or "
                          "did not validate against our published schema.") from None
        listed: list[tuple[int, str]] = []
        for el in root:
            if el.tag.endswith("Part"):
                num = next((c.text for c in el if c.tag.endswith("PartNumber")), None)
                etag = next((c.text for c in el if c.tag.endswith("ETag")), None)
                listed.append((int(num or 0), (etag or "").strip('"')))
        upload_id = req.arg("uploadId")
        with self.lock:
            up = self._upload(upload_id, req.bucket, req.key)
            if not listed:
                raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed "
                              "or did not validate against our published schema.")
            if [n for n, _ in listed] != sorted({n for n, _ in listed}):
                raise S3Error(400, "InvalidPartOrder", "The list of parts was not in "
                              "ascending order. Parts must be ordered by part number.")
            parts: list[Part] = []
            for n, etag in listed:
                part = up.parts.get(n)
                if part is None or part.md5.hex() != etag:
                    raise S3Error(400, "InvalidPart", "One or more of the specified parts "
                                  "could not be found. The part may not have been uploaded, or "
                                  "the specified entity tag may not match the part's entity "
                                  "tag.", PartNumber=str(n), ETag=etag)
                parts.append(part)
            for (number, _), part in zip(listed[:-1], parts[:-1], strict=True):
                if part.size < self.min_part_size:
                    raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than "
                                  "the minimum allowed object size.", PartNumber=str(number),
                                  ProposedSize=str(part.size),
                                  MinSizeAllowed=str(self.min_part_size))
            del self.uploads[upload_id or ""]
        target = self._new_file()
        with target.open("wb") as out:
            for part in parts:
                with part.path.open("rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
        digest = md5_hash(b"".join(p.md5 for p in parts)).hexdigest()
        etag = f'"{digest}-{len(parts)}"'
        obj = StoredObject(target, sum(p.size for p in parts), etag, time.time(), up.metadata,
                           up.content_type)
        with self.lock:
            objs = self._bucket(req.bucket)
            old = objs.get(req.key)
            objs[req.key] = obj
        for p in up.parts.values():
            p.path.unlink(missing_ok=True)
        if old is not None:
            old.path.unlink(missing_ok=True)
        return S3Response(body=_xml(
            "CompleteMultipartUploadResult",
            f"<Location>{escape(self.base_url)}/{escape(req.bucket)}/{escape(req.key)}"
            f"</Location><Bucket>{escape(req.bucket)}</Bucket><Key>{escape(req.key)}</Key>"
            f"<ETag>{escape(etag)}</ETag>"))

    def abort_multipart(self, req: S3Request) -> S3Response:
        with self.lock:
            up = self._upload(req.arg("uploadId"), req.bucket, req.key)
            del self.uploads[req.arg("uploadId") or ""]
        for p in up.parts.values():
            p.path.unlink(missing_ok=True)
        return S3Response(204)

    # -- faults ---------------------------------------------------------------------------

    def s3_fault(self, fault: Fault) -> S3Error:
        if fault.kind == "rate_limit":
            return S3Error(503, "SlowDown", "Please reduce your request rate.")
        if (fault.status or 503) == 503:
            return S3Error(503, "ServiceUnavailable", "Service is unable to handle request.")
        return S3Error(fault.status or 500, "InternalError",
                       "We encountered an internal error. Please try again.")
