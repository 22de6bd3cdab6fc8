"""Object-store benchmark: upload, download and re-hash of one large file through
exporter.objectstore (real boto3) to the S3 emulator on loopback, with peak-memory growth.

    python bench/objectstore.py [--file-mb 300] [--part-mb 16]

Prints figures; asserts nothing (target: memory growth well under one part per thread,
i.e. flat whatever the file size). Client and emulator share this process, so the memory
figure covers both.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from exporter.objectstore import ObjectStore
from sandbox.s3 import s3_sandbox

MiB = 1024 * 1024


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-mb", type=int, default=300)
    parser.add_argument("--part-mb", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            s3_sandbox(Path(tmp) / "s3") as (endpoint, creds, emulator):
        store = ObjectStore("s3://copies/bench", endpoint_url=endpoint,
                            access_key_id=creds["aws_access_key_id"],
                            secret_access_key=creds["aws_secret_access_key"],
                            part_size=args.part_mb * MiB)
        source = Path(tmp) / "archive.db"
        with source.open("wb") as f:
            for _ in range(args.file_mb):
                f.write(os.urandom(MiB))
        size = args.file_mb * MiB
        base = peak_mib()
        print(f"file: {args.file_mb} MiB, parts of {args.part_mb} MiB")
        for name, run in (
            ("upload", lambda: store.upload(source, "archive.db")),
            ("download", lambda: store.download("archive.db", Path(tmp) / "back.db")),
            ("sha256_of", lambda: store.sha256_of("archive.db")),
        ):
            started = time.perf_counter()
            run()
            seconds = time.perf_counter() - started
            print(f"{name:10s} {seconds:6.2f} s  {size / MiB / seconds:7.1f} MiB/s  "
                  f"peak memory +{peak_mib() - base:5.1f} MiB")
            print(f"BENCH objectstore.{name}_memory_growth {peak_mib() - base:.1f} MiB "
                  f"<={args.part_mb}")
            print(f"BENCH objectstore.{name}_rate {size / MiB / seconds:.1f} MiB/s -")
        print(f"requests: {dict(sorted((e, n) for (_, e), n in emulator.log.counters.items()))}")
        store.close()


if __name__ == "__main__":
    main()
