"""The campaign's shared setting: one sandbox cloud (in this process, on loopback ports) and
the prepared workspaces that every case clones instead of building its own."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from exporter.archive import Archive
from exporter.keys import write_private_file
from reliability.common import Workspace
from sandbox import Sandbox


class Campaign:
    """``bases``: "empty" (an archive, no runs), "synced" (synced once, then the sandbox
    moved a day on, so a sync has work to do), "nothing" (no archive: init's subject)."""

    def __init__(self, seed: int, clients: int) -> None:
        self.seed = seed
        self.clients = clients
        self.root = Path(tempfile.mkdtemp(prefix="reliability-campaign-"))
        self.sandbox = Sandbox(clients=clients, seed=seed)
        self.secrets = self.root / "secrets"
        self.bases: dict[str, Workspace] = {}

    def __enter__(self) -> Campaign:
        self.sandbox.start()
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def _base(self, name: str) -> Workspace:
        ws = Workspace(self.root / name, self.sandbox, self.secrets)
        self.bases[name] = ws
        return ws

    def _prepare(self) -> None:
        for name in ("empty", "synced"):
            ws = self._base(name)
            arc, recovery = Archive.create(ws.archive, key_file=ws.key_file)
            arc.close()
            write_private_file(ws.root / "recovery.txt", recovery.encode())
            ws.write_config()
        self._base("nothing")
        first = self.bases["synced"].run("sync")
        if first.code != 0:
            raise RuntimeError(f"the campaign's first sync failed: {first.text[-800:]}")
        self.sandbox.advance(1)

    def close(self) -> None:
        self.sandbox.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
