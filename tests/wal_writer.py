"""A child process for the WAL tests: commits BATCHES batches of records, then kills itself,
so that committed data is left only in the write-ahead log.

    python tests/wal_writer.py ARCHIVE KEYFILE BATCHES
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.keys import KeyFile


def main() -> None:
    archive_path, key_path, batches = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    archive = Archive.open(archive_path, KeyFile(key_path), write=True)
    run = archive.begin_run()
    for n in range(batches):
        records = [Record(f"b{n}-{i}", {"batch": n, "i": i, "pad": "x" * 200})
                   for i in range(40)]
        archive.put_batch(run, "wal", "batches", records, cursor={"batch": n})
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
