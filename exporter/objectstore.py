"""An S3-compatible object store as a place for the archive's second copy.

    store = ObjectStore("s3://agency-copies/office", endpoint_url="https://s3.eu-central-003"
                        ".backblazeb2.com", region="eu-central-003",
                        access_key_id=key_id, secret_access_key=secret)
    store.probe()
    size, sha256 = store.upload(Path("copy/archive.db"), "2026-11-30/archive.db")
    store.sha256_of("2026-11-30/archive.db") == sha256

Works with AWS S3 and the S3 services of Backblaze B2, Wasabi, MinIO and NASes (Synology,
QNAP, TrueNAS): ``endpoint_url`` points at a non-AWS store and switches to path-style
addressing. Keys given to the methods are relative to the URL's prefix.

Choices (docs/objectstore.md says more):

- Retries are botocore's ``standard`` mode, not :class:`exporter.retry.RetryPolicy`: the
  transfer manager sends the parts of one upload from several threads, and a 503 SlowDown or
  a dropped connection must cost one part's retry, not the whole multi-GB file. botocore
  rewinds each part's body and knows S3's retryable codes. What is left after the retries
  becomes one of our plain-sentence errors here.
- ``request_checksum_calculation`` and ``response_checksum_validation`` are
  ``"when_required"``: since botocore 1.36 the default adds CRC checksums, sent as
  ``aws-chunked`` trailers over HTTPS, which several third-party stores refuse. Integrity
  comes from our own SHA-256, stored in the object's metadata (``x-amz-meta-sha256``) and
  re-checked by :meth:`ObjectStore.sha256_of` and :meth:`ObjectStore.download`.
- The SHA-256 is computed in a first streaming read of the file, because object metadata has
  to be sent when the upload starts; the file's size and modification time are compared
  before and after, so a file that changed while uploading is never reported as copied.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from exporter import winfs
from exporter.dbfile import LOCKED_RANGE, DatabaseFileReader
from exporter.errors import ConfigError, DiskFull, ExporterError, ObjectStoreError
from exporter.private_files import make_private

__all__ = ["ObjectInfo", "ObjectStore", "Progress"]

log = logging.getLogger("exporter.objectstore")

MiB = 1024 * 1024
#: Uploads above this size go in parts of this size (s3transfer raises the part size when a
#: file would need more than S3's 10,000 parts).
PART_SIZE = 16 * MiB
HASH_BLOCK = MiB
#: Downloaded blocks (s3transfer's 256 KiB each) that may wait for the disk: 2 MiB. 32 (8 MiB)
#: took a download's peak growth from 12 to 20-28 MiB and bought no speed (bench/objectstore.py).
IO_QUEUE = 8
DELETE_BATCH = 1000  # S3's limit per DeleteObjects call
SHA256_META = "sha256"
#: Error codes that mean "the store is full" on the stores we know: our emulator and quota
#: setups (QuotaExceeded, 507), MinIO (XMinioStorageFull), and an EntityTooLarge for a quota.
_FULL_CODES = frozenset({"QuotaExceeded", "XMinioStorageFull", "StorageFull",
                         "InsufficientStorage", "EntityTooLarge", "XMinioAdminBucketQuotaExceeded"})
_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                         "ExpiredToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed",
                         "403", "Forbidden", "AccessDenied", "AllAccessDisabled"})
_BUSY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "503", "500",
                         "RequestTimeout", "Throttling", "ThrottlingException"})

#: Called with (bytes done, bytes in all) while a file moves.
Progress = Callable[[int, int], None]


class ObjectInfo(NamedTuple):
    key: str  # relative to the store's prefix
    size: int
    last_modified: datetime


@dataclass
class _Where:
    """What messages name: the store URL and the endpoint reached."""

    url: str
    endpoint: str


class _ProgressSubscriber(BaseSubscriber):
    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        # Negative when a retried part rewinds; the sum stays right.
        self.done += bytes_transferred
        self.progress(max(self.done, 0), self.total)


def _sha256_file(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with DatabaseFileReader(path) as f:  # never the bytes SQLite locks at 1 GiB on Windows
        while block := f.read(HASH_BLOCK):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()


class ObjectStore:
    """One bucket and prefix on an S3-compatible store; see the module docstring.

    ``access_key_id`` and ``secret_access_key`` are the resolved secrets (the caller resolves
    the config's secret references); they are never put in a message or a log line.
    """

    def __init__(self, url: str, *, access_key_id: str, secret_access_key: str,
                 endpoint_url: str | None = None, region: str | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 max_attempts: int = 5, part_size: int = PART_SIZE,
                 max_concurrency: int = 4) -> None:
        split = urlsplit(url)
        if split.scheme != "s3" or not split.netloc:
            raise ConfigError(f"The object store address {url!r} is not of the form "
                              "s3://BUCKET/PREFIX.")
        if not access_key_id or not secret_access_key:
            raise ConfigError(f"The object store {url} needs access_key_id and "
                              "secret_access_key in the config.")
        self.url = url
        self.bucket = split.netloc
        prefix = split.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.region = region or "us-east-1"
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        endpoint = self.endpoint_url or f"https://s3.{self.region}.amazonaws.com"
        self._where = _Where(url, endpoint)
        self.part_size = part_size
        self.max_attempts = max_attempts
        self._max_concurrency = max_concurrency
        self._client_args: dict[str, Any] = dict(
            service_name="s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
        self._config_args: dict[str, Any] = dict(
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            max_pool_connections=max(10, max_concurrency + 2),
            user_agent_extra="exporter",
        )
        self._session = boto3.session.Session()
        self.client = self._make_client(max_attempts)

    def _make_client(self, max_attempts: int) -> Any:
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts tries.
        config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts},
                        **self._config_args)
        return self._session.client(config=config, **self._client_args)

    def __repr__(self) -> str:  # never the keys
        return f"ObjectStore({self.url!r}, endpoint={self._where.endpoint!r})"

    def key_for(self, key: str) -> str:
        """The full object key of ``key`` (relative to the store's prefix)."""
        return self.prefix + key.lstrip("/")

    # -- errors ---------------------------------------------------------------------------

    def _fail(self, exc: BaseException, what: str, key: str | None = None) -> NoReturn:
        """Raise the plain-sentence error for an SDK exception (the one place that maps)."""
        where = self._where
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            tries = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0) + 1
            text = str(err.get("Message", "")).lower()
            if code in _FULL_CODES or status == 507 or "cap exceeded" in text:
                raise DiskFull(f"The object store {where.url} is full (its storage quota is "
                               "used up); free space there or raise the quota, then run "
                               "again.") from exc
            if code in ("NoSuchBucket",) or (code in ("404", "NotFound") and key is None):
                raise ObjectStoreError(
                    f"The bucket '{self.bucket}' does not exist at {where.endpoint}: check "
                    "the url (s3://BUCKET/PREFIX) and endpoint_url in the config, or create "
                    "the bucket.", kind="bucket") from exc
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectStoreError(f"{key} is not in the object store {where.url}.",
                                       kind="missing") from exc
            if code in ("AccessDenied", "AllAccessDisabled") and status == 403:
                raise ObjectStoreError(
                    f"The object store {where.url} refused {what} for this access key: check "
                    "access_key_id and secret_access_key in the config, and that the key may "
                    "read and write this bucket.", kind="auth") from None  # see below
            if code in _AUTH_CODES:
                # The one cause dropped on purpose: S3's auth errors echo the access key id,
                # the string to sign and the signature, which must not reach the log.
                raise ObjectStoreError(
                    f"The object store refused the access key: check access_key_id and "
                    f"secret_access_key in the config ({where.url} at {where.endpoint}).",
                    kind="auth") from None
            if code in _BUSY_CODES or status >= 500:
                raise ObjectStoreError(
                    f"The object store {where.url} was still busy or failing ({code or status})"
                    f" after {tries} tries at {what}; try again later.", kind="busy") from exc
            raise ObjectStoreError(f"The object store {where.url} refused {what}: "
                                   f"{code or status} ({err.get('Message', '')}).") from exc
        if isinstance(exc, NoCredentialsError):
            raise ConfigError(f"The object store {where.url} needs access_key_id and "
                              "secret_access_key in the config.") from exc
        if isinstance(exc, ReadTimeoutError | ResponseStreamingError | IncompleteReadError |
                      ConnectionClosedError):
            raise ObjectStoreError(f"{where.endpoint} stopped answering during {what} "
                                   "(connection lost or too slow); try again later.",
                                   kind="network") from exc
        if isinstance(exc, EndpointConnectionError | BotoConnectionError):
            raise ObjectStoreError(f"Could not reach {where.endpoint}: is the computer online? "
                                   f"(object store {where.url})", kind="network") from exc
        if isinstance(exc, BotoCoreError):
            raise ObjectStoreError(f"{what} on the object store {where.url} failed: "
                                   f"{type(exc).__name__}.", kind="refused") from exc
        raise exc

    # -- checks ---------------------------------------------------------------------------

    def probe(self) -> None:
        """Check that the bucket exists and the keys work (for ``exporter check``); quick:
        two tries at most, so an offline computer is told at once."""
        client = self._make_client(min(self.max_attempts, 2))
        try:
            client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "the bucket check")
        finally:
            client.close()

    # -- whole files ----------------------------------------------------------------------

    def _transfer(self) -> TransferManager:
        config = TransferConfig(multipart_threshold=self.part_size,
                                multipart_chunksize=self.part_size,
                                max_request_concurrency=self._max_concurrency,
                                max_in_memory_upload_chunks=self._max_concurrency,
                                max_in_memory_download_chunks=self._max_concurrency,
                                # Downloaded blocks wait here for the disk; s3transfer's
                                # default (1000 x 256 KiB) let memory grow with the file.
                                max_io_queue_size=IO_QUEUE)
        return TransferManager(self.client, config)

    def upload(self, path: str | Path, key: str, progress: Progress | None = None,
               ) -> tuple[int, str]:
        """Copy the file at ``path`` to ``key``; returns (size, sha256 hex).

        Streams from disk (parts of ``part_size`` above that size, sent in parallel); a
        failed multipart upload is aborted, so no orphaned parts stay billed.
        """
        path = Path(path)
        before = path.stat()
        size, sha256 = _sha256_file(path)
        subscribers = [_ProgressSubscriber(progress, size)] if progress else None
        full_key = self.key_for(key)
        try:
            with self._transfer() as tm, contextlib.ExitStack() as stack:
                # Past 1 GiB, read around SQLite's locked bytes (Windows refuses them); the
                # parts are then held in memory (part_size x concurrency), so only then.
                source: Any = str(path) if size <= LOCKED_RANGE[0] else stack.enter_context(
                    DatabaseFileReader(path))
                tm.upload(source, self.bucket, full_key,
                          extra_args={"Metadata": {SHA256_META: sha256}},
                          subscribers=subscribers).result()
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"the upload of {path.name}", key)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or \
                after.st_size != size:
            self.delete([key])
            raise ExporterError(f"{path} changed while it was being copied to {self.url}; "
                                "the copy there was removed: run again when nothing is "
                                "writing to it.")
        return size, sha256

    def download(self, key: str, path: str | Path, progress: Progress | None = None,
                 ) -> tuple[int, str]:
        """Fetch ``key`` into ``path`` (written whole or not at all); returns (size, sha256).

        A body that does not match the SHA-256 stored at upload raises ObjectStoreError.
        """
        path = Path(path)
        part = path.with_name(path.name + ".part")
        full_key = self.key_for(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=full_key)
            subscribers = [_ProgressSubscriber(progress, int(head["ContentLength"]))] \
                if progress else None
            with self._transfer() as tm:
                tm.download(self.bucket, full_key, str(part), subscribers=subscribers).result()
        except (ClientError, BotoCoreError) as exc:
            part.unlink(missing_ok=True)
            self._fail(exc, f"the download of {key}", key)
        make_private(part)  # s3transfer creates it with the default mode (0644)
        size, sha256 = _sha256_file(part)
        expected = head.get("Metadata", {}).get(SHA256_META)
        if expected and expected != sha256:
            part.unlink(missing_ok=True)
            raise ObjectStoreError(f"{key} in {self.url} does not match the checksum stored "
                                   "when it was uploaded: the copy there is damaged.",
                                   kind="damaged")
        winfs.replace(part, path)
        return size, sha256

    def sha256_of(self, key: str) -> str:
        """Re-read ``key`` from the store and hash it (streaming); a lost connection resumes
        with a Range request where it broke off."""
        full_key = self.key_for(key)
        sha = hashlib.sha256()
        offset = 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                args: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key}
                if offset:
                    args["Range"] = f"bytes={offset}-"
                body = self.client.get_object(**args)["Body"]
                try:
                    for block in body.iter_chunks(HASH_BLOCK):
                        sha.update(block)
                        offset += len(block)
                finally:
                    body.close()
                return sha.hexdigest()
            except (ResponseStreamingError, IncompleteReadError, ReadTimeoutError,
                    ConnectionClosedError) as exc:
                if attempt == self.max_attempts:
                    self._fail(exc, f"reading {key}", key)
                log.info("reading %s broke off at byte %d; resuming", key, offset)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, f"reading {key}", key)
        raise AssertionError("unreachable")

    def stored_sha256(self, key: str) -> str | None:
        """The SHA-256 recorded in ``key``'s metadata at upload, if any (no body read)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key_for(key))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"looking up {key}", key)
        value = head.get("Metadata", {}).get(SHA256_META)
        return str(value) if value else None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            self._fail(exc, f"looking up {key}", key)
        except BotoCoreError as exc:
            self._fail(exc, f"looking up {key}", key)
        return True

    # -- small files ----------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small file (a manifest) in one request, with its SHA-256 in metadata."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key_for(key), Body=data,
                                   Metadata={SHA256_META: hashlib.sha256(data).hexdigest()})
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"writing {key}", key)

    def get_bytes(self, key: str) -> bytes:
        """Read a small file whole."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_for(key))["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"reading {key}", key)

    # -- listing and deleting -------------------------------------------------------------

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (relative to the store's prefix), in key order."""
        out: list[ObjectInfo] = []
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key_for(prefix)}
        seen_tokens: set[str] = set()
        try:
            while True:
                page = self.client.list_objects_v2(**args)
                for item in page.get("Contents", []):
                    out.append(ObjectInfo(item["Key"][len(self.prefix):], int(item["Size"]),
                                          item["LastModified"]))
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    return out
                if token in seen_tokens:  # a store that repeats itself must not loop forever
                    raise ObjectStoreError(f"The object store {self.url} sent the same page "
                                           "of its listing twice; listing stopped.")
                seen_tokens.add(token)
                args["ContinuationToken"] = token
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"listing {prefix or 'the copies'}")

    def delete(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` (relative), 1000 per request; returns how many were asked for.
        Keys that are already gone count as deleted, as in S3."""
        batch: list[str] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if not batch:
                return
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.key_for(k)} for k in batch], "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "deleting old copies")
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise ObjectStoreError(
                    f"The object store {self.url} did not delete {len(errors)} object(s), "
                    f"for example {first.get('Key')}: {first.get('Code')} "
                    f"({first.get('Message', '')}).")
            done += len(batch)
            batch.clear()

        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                flush()
        flush()
        return done

    def abort_uploads(self, prefix: str = "") -> int:
        """Abort the unfinished multipart uploads under ``prefix`` (relative): the parts a
        killed upload left, which the store keeps (and bills) otherwise. Looks at the first
        1000 unfinished uploads of the bucket; returns how many were aborted."""
        full = self.key_for(prefix)
        try:
            page = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full)
            uploads = [u for u in page.get("Uploads", []) if str(u["Key"]).startswith(full)]
            for up in uploads:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"],
                                                   UploadId=up["UploadId"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return 0  # finished or aborted meanwhile
            self._fail(exc, "removing unfinished uploads")
        except BotoCoreError as exc:
            self._fail(exc, "removing unfinished uploads")
        return len(uploads)

    def close(self) -> None:
        self.client.close()
