"""Connectors for the worker-process tests: importable by name, so that a sync built from them
runs each in a process of its own (tests/test_sync_processes.py). Each is a real Connector
subclass built from (source, config, secrets), the way the nightly job builds connectors.

``config`` drives them:
    records      how many records its one stream has (default 5)
    file_mib     a file of that many MiB on the first record, handed over in 256 KiB pieces
    die_after    os._exit(3) in the worker after this many batches were stored
    sleep        seconds each batch waits (a slow vendor)
    pid_dir      a folder the worker writes its pid into (``<source>.pid``)
    snoop        the one record says whether a secret is on the worker's command line or in
                 its environment, and whether the secret itself arrived
    bad_value    the first record holds a value the archive refuses (not JSON: NaN)
    bad_state    discovery keeps a state value the archive (in the writer) refuses (NaN)
    secret_in_config   discovery raises SecretInConfig (a foreseeable problem ending the run)
    log_error    discovery logs a warning with an exception's traceback
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from exporter.archive import Record
from exporter.connector import Batch, CheckResult, Connector, FileBody, Stream
from exporter.errors import SecretInConfig

PIECE = 256 * 1024
log = logging.getLogger("exporter.connectors.workers_test")


def file_bytes(mib: float, seed: str = "body") -> Iterator[bytes]:
    """Deterministic bytes, PIECE at a time (a hash chain: no two pieces alike)."""
    left = int(mib * 1024 * 1024)
    block = hashlib.sha256(seed.encode()).digest()
    while left > 0:
        piece = bytearray()
        while len(piece) < min(PIECE, left):
            block = hashlib.sha256(block).digest()
            piece += block * 64
        piece = piece[: min(PIECE, left)]
        left -= len(piece)
        yield bytes(piece)


class PlainConnector(Connector):
    """One stream, ``records`` records in batches of 2, with what ``config`` asks for."""

    name = "workers-test"

    def check(self) -> list[CheckResult]:
        return [CheckResult(True, "always there")]

    def discover(self) -> list[Stream]:
        if self.config.get("pid_dir"):
            Path(self.config["pid_dir"], f"{self.source}.pid").write_text(str(os.getpid()))
        if self.config.get("bad_state"):
            self.state.put("last", float("nan"))
        if self.config.get("secret_in_config"):
            raise SecretInConfig(f"The {self.source} password is written in the config in "
                                 "plain text; move it to a key file.")
        if self.config.get("log_error"):
            try:
                {}["missing"]
            except KeyError:
                log.warning("%s: a %s went wrong", self.source, "lookup", exc_info=True)
        return [Stream("things", "id", "seq")]

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        n = int(self.config.get("records", 5))
        rows = [self._row(i) for i in range(1, n + 1)]
        for batch_no, i in enumerate(range(0, n, 2)):
            if batch_no == self.config.get("die_after", -1):
                os._exit(3)
            time.sleep(float(self.config.get("sleep", 0)))
            chunk = rows[i : i + 2]
            files = {}
            if i == 0 and self.config.get("file_mib"):
                mib = float(self.config["file_mib"])
                files["1"] = [FileBody("body", partial(file_bytes, mib), "application/pdf")]
            log.info("%s: batch %d read in process %d", self.source, batch_no, os.getpid())
            yield Batch([Record(r["id"], r) for r in chunk], cursor=chunk[-1]["seq"],
                        files=files)

    def _row(self, i: int) -> dict[str, Any]:
        row: dict[str, Any] = {"id": str(i), "seq": i, "name": f"{self.source} {i}"}
        if i == 1 and self.config.get("snoop"):
            secret = self.secrets.get("token", "")
            row["secret_arrived"] = (hashlib.sha256(secret.encode()).hexdigest()
                                     == self.config["snoop"])
            row["secret_on_command_line"] = any(secret in a for a in sys.orig_argv)
            row["secret_in_environment"] = any(secret in f"{k}={v}"
                                               for k, v in os.environ.items())
            row["pid"] = os.getpid()
        if i == 1 and self.config.get("bad_value"):
            row["value"] = float("nan")
        return row
