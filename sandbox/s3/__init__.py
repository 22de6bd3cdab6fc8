"""A loopback emulator of the S3 REST API, for the object-store copy destination.

    with s3_sandbox(tmp_path, buckets=("copies",)) as (endpoint_url, creds, emulator):
        boto3.client("s3", endpoint_url=endpoint_url, **creds, ...)
        emulator.faults.add("s3", "rate_limit", endpoint="UploadPart", times=2)
        emulator.log.count("s3", "PutObject")

Path-style addressing only (``http://127.0.0.1:PORT/bucket/key``). Enough of S3 for boto3's
client and its transfer manager: ListBuckets, CreateBucket, HeadBucket, PutObject, GetObject
(with Range), HeadObject, DeleteObject, DeleteObjects, ListObjectsV2, the multipart calls
and ListMultipartUploads. Requests are signed with SigV4 and the signature is checked, so a
wrong secret fails as it does on real S3. Object bodies live in files under a folder on disk,
and request and response bodies are streamed in chunks, so copies of hundreds of MB cost
little memory.

Faults come from the shared :class:`FaultPlan` (vendor ``"s3"``, endpoints named after the
S3 operations): ``rate_limit`` answers 503 SlowDown, ``server_error`` 500 InternalError or
503, ``truncated`` drops the connection (mid-body for a GET), ``slow``/``timeout`` delay.
``quota_bytes`` is a byte quota: once stored objects and pending parts would pass it,
PutObject and UploadPart answer 507 ``QuotaExceeded`` (a full NAS or a capped bucket).

The storage model (buckets, objects and multipart uploads over files, the SigV4 check, each
operation's answer) is :mod:`sandbox.s3.emulator`; what it exchanges with the HTTP side is
:mod:`sandbox.s3.messages`; the HTTP side (the request handler, HEAD,
``Expect: 100-continue``, bodies streamed to and from disk, error answers, the request log,
:class:`~sandbox.s3.server.S3EmulatorServer` and :func:`s3_sandbox`) is
:mod:`sandbox.s3.server`.
"""

from sandbox.s3.emulator import S3Emulator
from sandbox.s3.messages import CREDENTIALS, S3Error
from sandbox.s3.server import S3EmulatorServer, s3_sandbox

__all__ = ["CREDENTIALS", "S3Emulator", "S3EmulatorServer", "S3Error", "s3_sandbox"]
