"""A child process for the crash and lock tests: writes batches until it is killed.

    python tests/crash_writer.py ARCHIVE KEYFILE write   # batches forever
    python tests/crash_writer.py ARCHIVE KEYFILE hold    # take the write lock, then sleep
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.keys import KeyFile


def main() -> None:
    archive_path, key_path, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    archive = Archive.open(archive_path, KeyFile(key_path), write=True)
    if mode == "hold":
        print("holding", flush=True)
        time.sleep(600)
        return
    run = archive.begin_run()
    cursor = archive.get_cursor("crash", "batches") or {"batch": -1}
    rng = random.Random()
    n = cursor["batch"] + 1
    print("writing", flush=True)
    while True:
        size = rng.randint(20, 200)
        records = [Record(f"b{n}-{i}", {"batch": n, "size": size, "pad": "x" * 20})
                   for i in range(size)]
        records.append(Record("counter", {"batch": n}))
        archive.put_batch(run, "crash", "batches", records, cursor={"batch": n})
        n += 1


if __name__ == "__main__":
    main()
