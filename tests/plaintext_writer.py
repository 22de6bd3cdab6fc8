"""Child process for the no-plaintext test: writes records and a file carrying a marker,
keeps the archive open (so -wal and -shm exist), says "ready", and waits for a line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.keys import KeyFile


def main() -> None:
    archive_path, key_path, marker = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    archive = Archive.open(archive_path, KeyFile(key_path), write=True)
    run = archive.begin_run()
    info = archive.put_file(run, io.BytesIO((marker * 1000).encode()), "text/plain")
    for batch in range(5):
        archive.put_batch(run, "salesforce", "Account", [
            Record(f"{batch}-{i}", {"Name": f"{marker} client {i}", "Notes": marker * 3},
                   files={"body": info.hash} if i == 0 else None)
            for i in range(500)], cursor={"marker": marker})
    archive.put_schema(run, "salesforce", "Account", {"label": marker})
    archive.audit("print", {"client": marker})
    # Sorting and grouping use temp storage; it must stay in memory.
    list(archive.conn.execute("SELECT data FROM versions ORDER BY data DESC"))
    print("ready", flush=True)
    sys.stdin.readline()
    archive.finish_run(run, "ok")
    archive.close()


if __name__ == "__main__":
    main()
