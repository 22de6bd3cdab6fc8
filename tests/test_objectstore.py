"""The object-store copy destination: exporter.objectstore with the real boto3 client over
loopback HTTP to the S3 emulator in sandbox.s3."""

from __future__ import annotations

import hashlib
import http.client
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from exporter.errors import DiskFull, ExporterError, ObjectStoreError
from exporter.objectstore import ObjectStore
from sandbox.s3 import CREDENTIALS, S3Emulator, s3_sandbox

MiB = 1024 * 1024
SECRET = CREDENTIALS["aws_secret_access_key"]


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], S3Emulator]]:
    with s3_sandbox(tmp_path / "s3", buckets=("copies",)) as served:
        yield served


def make_store(endpoint: str, secret: str = SECRET, url: str = "s3://copies/office",
               **kwargs: object) -> ObjectStore:
    return ObjectStore(url, endpoint_url=endpoint,
                       access_key_id=CREDENTIALS["aws_access_key_id"], secret_access_key=secret,
                       **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(s3: tuple[str, dict[str, str], S3Emulator]) -> Iterator[ObjectStore]:
    st = make_store(s3[0], part_size=5 * MiB)
    yield st
    st.close()


def write_file(path: Path, size: int, seed: int = 7) -> str:
    """A file of ``size`` pseudo-random bytes written 1 MiB at a time; returns its sha256."""
    sha = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    with path.open("wb") as f:
        written = 0
        n = 0
        while written < size:
            chunk = (block[n % 251:] + block[: n % 251])[: size - written]
            f.write(chunk)
            sha.update(chunk)
            written += len(chunk)
            n += 1
    return sha.hexdigest()


def raw_client(endpoint: str, secret: str = SECRET) -> object:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_round_trip_of_a_40_mb_file_in_parts_with_flat_memory(
        s3: tuple[str, dict[str, str], S3Emulator], tmp_path: Path) -> None:
    endpoint, _, emulator = s3
    store = make_store(endpoint)  # the real part size, 16 MiB: three parts
    source = tmp_path / "archive.db"
    expected = write_file(source, 40 * MiB)
    seen: list[tuple[int, int]] = []
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    size, sha256 = store.upload(source, "2026-11-30/archive.db",
                                progress=lambda done, total: seen.append((done, total)))
    back = tmp_path / "back.db"
    got = store.download("2026-11-30/archive.db", back)

    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert (size, sha256) == (40 * MiB, expected)
    assert got == (40 * MiB, expected)
    assert store.sha256_of("2026-11-30/archive.db") == expected
    assert store.stored_sha256("2026-11-30/archive.db") == expected
    assert emulator.log.count("s3", "UploadPart") == 3
    etag = emulator.objects["copies"]["office/2026-11-30/archive.db"].etag
    assert etag.endswith('-3"')
    assert seen[-1] == (40 * MiB, 40 * MiB)
    assert not list(tmp_path.glob("*.part"))
    # Client and emulator share this process; neither may hold the file in memory.
    assert grown_mib < 30, f"peak RSS grew by {grown_mib:.0f} MiB"
    store.close()


def test_a_download_queues_at_most_2_mib_for_the_disk(store: ObjectStore) -> None:
    # Blocks read from the network wait in s3transfer's IO queue for the disk; 32 of them
    # (8 MiB) took a download's memory growth past one part in bench/objectstore.py.
    with store._transfer() as tm:
        queued = tm.config.max_io_queue_size * tm.config.io_chunksize
    assert queued <= 2 * MiB, f"{queued / MiB:.0f} MiB may wait for the disk"


def test_small_files_put_get_exists(store: ObjectStore) -> None:
    store.put_bytes("2026-11-30/MANIFEST.json", b'{"files": []}')
    assert store.get_bytes("2026-11-30/MANIFEST.json") == b'{"files": []}'
    assert store.exists("2026-11-30/MANIFEST.json")
    assert not store.exists("2026-11-29/MANIFEST.json")
    assert store.stored_sha256("2026-11-30/MANIFEST.json") == hashlib.sha256(
        b'{"files": []}').hexdigest()
    with pytest.raises(ObjectStoreError) as info:
        store.get_bytes("2026-11-29/MANIFEST.json")
    assert info.value.kind == "missing"
    assert "2026-11-29/MANIFEST.json is not in the object store s3://copies/office" in str(
        info.value)


def test_listing_pages_through_more_than_max_keys(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore) -> None:
    _, _, emulator = s3
    emulator.max_keys = 7  # S3 may always answer with fewer keys than asked for
    for i in range(20):
        store.put_bytes(f"2026-11-{i + 1:02d}/MANIFEST.json", b"x" * i)
    store.put_bytes("other/ignored", b"")
    emulator.log.clear()

    listed = store.list("2026-11-")

    assert [o.key for o in listed] == [f"2026-11-{i + 1:02d}/MANIFEST.json" for i in range(20)]
    assert [o.size for o in listed] == list(range(20))
    assert emulator.log.count("s3", "ListObjectsV2") == 3
    assert len(store.list()) == 21


def test_delete_goes_in_batches_of_1000(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore) -> None:
    _, _, emulator = s3
    for i in range(5):
        store.put_bytes(f"old/{i}", b"x")
    store.put_bytes("keep/me", b"x")
    emulator.log.clear()
    # Keys already gone count as deleted, as in S3.
    keys = [f"old/{i}" for i in range(5)] + [f"old/missing-{i}" for i in range(2000)]

    assert store.delete(keys) == 2005
    assert emulator.log.count("s3", "DeleteObjects") == 3
    assert [o.key for o in store.list()] == ["keep/me"]


def test_range_get_on_the_emulator(s3: tuple[str, dict[str, str], S3Emulator],
                                   store: ObjectStore) -> None:
    endpoint = s3[0]
    store.put_bytes("r", b"0123456789")
    client = raw_client(endpoint)
    part = client.get_object(Bucket="copies", Key="office/r", Range="bytes=2-5")  # type: ignore[attr-defined]
    assert part["Body"].read() == b"2345"
    assert part["ContentRange"] == "bytes 2-5/10"
    tail = client.get_object(Bucket="copies", Key="office/r", Range="bytes=-3")  # type: ignore[attr-defined]
    assert tail["Body"].read() == b"789"
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket="copies", Key="office/r", Range="bytes=20-")  # type: ignore[attr-defined]
    assert info.value.response["Error"]["Code"] == "InvalidRange"


def test_a_lost_connection_mid_read_resumes_with_a_range(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore,
        tmp_path: Path) -> None:
    _, _, emulator = s3
    source = tmp_path / "f"
    expected = write_file(source, 3 * MiB)
    store.upload(source, "f")
    emulator.faults.add("s3", "truncated", endpoint="GetObject", times=1)
    emulator.log.clear()

    assert store.sha256_of("f") == expected
    assert emulator.log.count("s3", "GetObject") == 2


@pytest.mark.parametrize("what", ["secret", "key id"])
def test_wrong_keys_give_a_plain_message_without_the_secret(
        s3: tuple[str, dict[str, str], S3Emulator], tmp_path: Path, what: str) -> None:
    endpoint = s3[0]
    wrong = "wrong-secret-Zq9" if what == "secret" else SECRET
    store = ObjectStore("s3://copies/office", endpoint_url=endpoint,
                        access_key_id=("NOSUCHKEY" if what == "key id"
                                       else CREDENTIALS["aws_access_key_id"]),
                        secret_access_key=wrong)
    source = tmp_path / "f"
    source.write_bytes(b"data")
    for call in (store.probe, lambda: store.upload(source, "f"), store.list):
        with pytest.raises(ObjectStoreError) as info:
            call()
        message = str(info.value)
        assert info.value.kind == "auth"
        assert message.startswith("The object store refused the access key: check "
                                  "access_key_id and secret_access_key in the config")
        assert wrong not in message and SECRET not in message
        assert info.value.__cause__ is None and info.value.__suppress_context__
    assert wrong not in repr(store)


def test_missing_bucket(s3: tuple[str, dict[str, str], S3Emulator]) -> None:
    store = make_store(s3[0], url="s3://no-such-bucket/office")
    for call in (store.probe, store.list):
        with pytest.raises(ObjectStoreError) as info:
            call()
        assert info.value.kind == "bucket"
        assert "The bucket 'no-such-bucket' does not exist at http://127.0.0.1:" in str(
            info.value)


def test_slow_down_is_retried_then_succeeds(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore,
        tmp_path: Path) -> None:
    _, _, emulator = s3
    source = tmp_path / "f"
    expected = write_file(source, 11 * MiB)  # three parts of 5 MiB
    emulator.faults.add("s3", "rate_limit", endpoint="UploadPart", times=2)
    emulator.faults.add("s3", "server_error", endpoint="CompleteMultipartUpload", times=1,
                        status=500)

    assert store.upload(source, "f") == (11 * MiB, expected)
    statuses = [e.status for e in emulator.log.entries if e.endpoint == "UploadPart"]
    assert statuses.count(503) == 2 and statuses.count(200) == 3
    assert store.sha256_of("f") == expected


def test_throttling_that_lasts_is_reported(
        s3: tuple[str, dict[str, str], S3Emulator]) -> None:
    endpoint, _, emulator = s3
    store = make_store(endpoint, max_attempts=2)
    emulator.faults.add("s3", "rate_limit", endpoint="PutObject", times=-1)
    with pytest.raises(ObjectStoreError) as info:
        store.put_bytes("MANIFEST.json", b"{}")
    assert info.value.kind == "busy"
    assert "was still busy or failing (SlowDown) after 2 tries" in str(info.value)


def test_a_dropped_connection_during_a_part_is_retried(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore,
        tmp_path: Path) -> None:
    _, _, emulator = s3
    source = tmp_path / "f"
    expected = write_file(source, 6 * MiB)
    emulator.faults.add("s3", "truncated", endpoint="UploadPart", times=1)
    assert store.upload(source, "f") == (6 * MiB, expected)
    assert emulator.log.count("s3", "UploadPart") == 3


def test_quota_full_mid_upload_is_disk_full_and_leaves_no_open_upload(
        tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 16 * MiB)
    with s3_sandbox(tmp_path / "s3", quota_bytes=8 * MiB) as (endpoint, _, emulator):
        store = make_store(endpoint, part_size=5 * MiB)
        with pytest.raises(DiskFull) as info:
            store.upload(source, "f")
        assert str(info.value).startswith("The object store s3://copies/office is full")
        assert emulator.log.count("s3", "CreateMultipartUpload") == 1
        assert emulator.log.count("s3", "AbortMultipartUpload") == 1
        assert emulator.open_uploads() == []
        assert raw_client(endpoint).list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket="copies").get("Uploads", []) == []
        assert store.list() == []
        assert not list((tmp_path / "s3" / "objects").iterdir())  # parts' files removed


def test_unreachable_endpoint_is_plain_and_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = make_store(f"http://127.0.0.1:{port}", max_attempts=2)
    started = time.monotonic()
    with pytest.raises(ObjectStoreError) as info:
        store.probe()
    assert time.monotonic() - started < 5
    assert info.value.kind == "network"
    assert str(info.value).startswith(
        f"Could not reach http://127.0.0.1:{port}: is the computer online?")


def test_a_damaged_copy_is_not_downloaded(
        s3: tuple[str, dict[str, str], S3Emulator], store: ObjectStore,
        tmp_path: Path) -> None:
    _, _, emulator = s3
    source = tmp_path / "f"
    write_file(source, MiB)
    store.upload(source, "f")
    stored = emulator.objects["copies"]["office/f"].path
    with stored.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00garbage")
    target = tmp_path / "back"
    with pytest.raises(ObjectStoreError) as info:
        store.download("f", target)
    assert info.value.kind == "damaged"
    assert not target.exists() and not list(tmp_path.glob("*.part"))


def test_a_file_that_changes_while_uploading_is_not_reported_copied(
        store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "f"
    write_file(source, 2 * MiB)

    def grow(done: int, total: int) -> None:
        if source.stat().st_size == total:
            with source.open("ab") as f:
                f.write(b"more")

    with pytest.raises(ExporterError, match="changed while it was being copied"):
        store.upload(source, "f", progress=grow)
    assert not store.exists("f")


def test_aws_chunked_uploads_are_refused_clearly(
        s3: tuple[str, dict[str, str], S3Emulator]) -> None:
    netloc = urlsplit(s3[0]).netloc
    conn = http.client.HTTPConnection(netloc, timeout=5)
    conn.request("PUT", "/copies/x", body=b"4;chunk-signature=0\r\nabcd\r\n0\r\n\r\n",
                 headers={"Content-Encoding": "aws-chunked",
                          "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                          "x-amz-trailer": "x-amz-checksum-crc32"})
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    assert answer.status == 501
    assert b"<Code>NotImplemented</Code>" in body and b"when_required" in body


def test_signature_covers_the_body(s3: tuple[str, dict[str, str], S3Emulator]) -> None:
    """A body changed after signing is refused (x-amz-content-sha256 is checked)."""
    endpoint = s3[0]
    client = raw_client(endpoint)

    def tamper(request: object, **kwargs: object) -> None:
        request.body = b"tampered"  # type: ignore[attr-defined]

    client.meta.events.register("before-send.s3.PutObject", tamper)  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket="copies", Key="t", Body=b"original")  # type: ignore[attr-defined]
    assert info.value.response["Error"]["Code"] == "XAmzContentSHA256Mismatch"


def test_bad_urls_and_missing_keys_are_config_errors() -> None:
    from exporter.errors import ConfigError

    with pytest.raises(ConfigError, match="s3://BUCKET/PREFIX"):
        ObjectStore("https://copies", access_key_id="a", secret_access_key="b")
    with pytest.raises(ConfigError, match="needs access_key_id and secret_access_key"):
        ObjectStore("s3://copies", access_key_id="a", secret_access_key="")


def test_abort_uploads_aborts_only_unfinished_uploads_under_the_prefix(
        store: ObjectStore, s3: tuple[str, dict[str, str], S3Emulator]) -> None:
    emulator = s3[2]
    for key in ("office/copy-1/archive.db", "office/copy-2/archive.db", "elsewhere/x"):
        up = store.client.create_multipart_upload(Bucket="copies", Key=key)
        store.client.upload_part(Bucket="copies", Key=key, UploadId=up["UploadId"],
                                 PartNumber=1, Body=b"part")
    assert store.abort_uploads("copy-1/") == 1
    assert sorted(u.key for u in emulator.open_uploads()) == [
        "elsewhere/x", "office/copy-2/archive.db"]
    assert store.abort_uploads("copy-1/") == 0
