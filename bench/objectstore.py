"""Object-store benchmark: upload, download and re-hash of one large file through
exporter.objectstore (real boto3) to the S3 emulator on loopback, with memory growth.

    python bench/objectstore.py [--file-mb 300] [--part-mb 16] [--repeat 2]

Prints figures; asserts nothing. Target: a copy's memory growth at most one part
(``--part-mb``), i.e. flat whatever the file size.

What is measured is the copy's own growth, nothing else: the emulator runs in a process of
its own (its buffers are the store's, not the copy's), and each operation runs in a fresh
process that has already imported boto3 and made its client, as ``exporter copy`` has by
the time it sends a file. The figure is that process's peak resident memory during the
operation minus its resident memory just before (Linux: the peak is reset through
``/proc/self/clear_refs``; elsewhere a 2 ms sampler). One process per operation, because
in a shared one the second operation reuses what the first freed and ``ru_maxrss`` never
comes down, so each figure would carry the ones before it. The largest growth and the
median rate over ``--repeat`` runs are printed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
OPERATIONS = ("upload", "download", "sha256_of")


def _serve(root: str, conn: Connection) -> None:
    """The emulator's process: serve until told to stop, then send the request counts."""
    from sandbox.s3 import s3_sandbox

    with s3_sandbox(Path(root)) as (endpoint, creds, emulator):
        conn.send((endpoint, creds))
        conn.recv()
        conn.send(dict(sorted((e, n) for (_, e), n in emulator.log.counters.items())))


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


class _Peak:
    """Peak resident memory from now on: the kernel's own high-water mark where it can be
    reset (Linux >= 4.0), else a sampler thread."""

    def __init__(self) -> None:
        self.before = _status_mib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            self._sampled: list[float] | None = None
        except OSError:
            self._sampled = [self.before]
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        assert self._sampled is not None
        while not self._stop.wait(0.002):
            self._sampled.append(_status_mib("VmRSS"))

    def growth(self) -> float:
        if self._sampled is None:
            return _status_mib("VmHWM") - self.before
        self._stop.set()
        self._thread.join()
        return max(self._sampled) - self.before


def _measure(op: str, endpoint: str, creds: dict[str, str], folder: str, part_mb: int,
             conn: Connection) -> None:
    """One operation in this (fresh) process; sends (seconds, growth in MiB)."""
    from exporter.objectstore import ObjectStore

    store = ObjectStore("s3://copies/bench", endpoint_url=endpoint,
                        access_key_id=creds["aws_access_key_id"],
                        secret_access_key=creds["aws_secret_access_key"],
                        part_size=part_mb * MiB)
    runs: dict[str, Any] = {
        "upload": lambda: store.upload(Path(folder) / "archive.db", "archive.db"),
        "download": lambda: store.download("archive.db", Path(folder) / "back.db"),
        "sha256_of": lambda: store.sha256_of("archive.db"),
    }
    peak = _Peak()
    started = time.perf_counter()
    runs[op]()
    seconds = time.perf_counter() - started
    conn.send((seconds, peak.growth()))
    store.close()


def _run_in_child(ctx: Any, op: str, *args: Any) -> tuple[float, float]:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_measure, args=(op, *args, child))
    proc.start()
    child.close()  # so that a child that dies is an EOFError here, not a wait for ever
    result: tuple[float, float] = parent.recv()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-mb", type=int, default=300)
    parser.add_argument("--part-mb", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2, help="fresh runs per operation")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing inherited from this one
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "archive.db"
        with source.open("wb") as f:
            for _ in range(args.file_mb):
                f.write(os.urandom(MiB))
        conn, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(str(Path(tmp) / "s3"), child))
        server.start()
        child.close()
        endpoint, creds = conn.recv()
        print(f"file: {args.file_mb} MiB, parts of {args.part_mb} MiB, "
              f"{args.repeat} fresh process(es) per operation")
        try:
            for name in OPERATIONS:
                runs = [_run_in_child(ctx, name, endpoint, creds, tmp, args.part_mb)
                        for _ in range(args.repeat)]
                growth = max(g for _, g in runs)
                rate = statistics.median(args.file_mb / s for s, _ in runs)
                print(f"{name:10s} {rate:7.1f} MiB/s  memory growth "
                      f"{', '.join(f'+{g:.1f}' for _, g in runs)} MiB")
                print(f"BENCH objectstore.{name}_memory_growth {growth:.1f} MiB "
                      f"<={args.part_mb}")
                print(f"BENCH objectstore.{name}_rate {rate:.1f} MiB/s -")
        finally:
            conn.send("stop")
            print(f"requests: {conn.recv()}")
            server.join()


if __name__ == "__main__":
    main()
