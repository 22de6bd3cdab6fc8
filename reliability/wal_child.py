"""A child process for the WAL tamperings: commits a few batches, then kills itself, so that
committed data is left only in the archive's write-ahead log.

    python -m reliability.wal_child ARCHIVE KEYFILE BATCHES [PREFIX]

The WAL tests run it too (as a script: it imports only exporter), with PREFIX ``b``.
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
    prefix = sys.argv[4] if len(sys.argv) > 4 else "w"
    archive = Archive.open(archive_path, KeyFile(key_path), write=True)
    run = archive.begin_run()
    for n in range(batches):
        records = [Record(f"{prefix}{n}-{i}", {"batch": n, "i": i, "pad": prefix * 200})
                   for i in range(40)]
        archive.put_batch(run, "wal", "batches", records, cursor={"batch": n})
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
