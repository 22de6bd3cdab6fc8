"""What every family shares: a workspace (an archive, its key file and a config pointing at
the sandbox cloud), the real CLI run as a subprocess, the archive's content as a comparable
value, and the tally a family reports."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exporter.archive import Archive
from exporter.keys import KeyFile
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config

#: Words that only a crash (never a handled problem) puts on screen.
CRASH_MARKS = ("Traceback (most recent call last)", "unexpected problem")
ARCHIVE_FILES = ("archive.db", "archive.db.keys", "archive.db-wal", "archive.key")


@dataclasses.dataclass
class Outcome:
    """A finished CLI command."""

    argv: list[str]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def crashed(self) -> bool:
        return self.code == 1 or any(mark in self.text for mark in CRASH_MARKS)


@dataclasses.dataclass
class Tally:
    """What one family tried and what went wrong; ``kinds`` counts outcomes by name."""

    family: str
    seed: int
    tried: int = 0
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    note: str = ""

    def count(self, kind: str) -> None:
        self.kinds[kind] += 1

    def fail(self, case: int, problem: str, **inputs: Any) -> None:
        self.failures.append({"family": self.family, "seed": self.seed, "case": case,
                              "problem": problem, "inputs": inputs})
        print(f"  [{self.family}] FAILED case {case}: {problem[:400]} {inputs}", flush=True)

    def progress(self, every: int) -> None:
        """A line every ``every`` cases, so a long run stopped early still says how far it got."""
        if self.tried % every == 0:
            print(f"  [{self.family}] {self.tried} tried, {len(self.failures)} failed: "
                  + ", ".join(f"{k.strip()} {n}" for k, n in sorted(self.kinds.items())),
                  flush=True)

    @property
    def ok(self) -> bool:
        return not self.failures


#: The first case number (``--start``): a long family can be split over processes.
FIRST_CASE = [0]
#: Only these case numbers (``--replay``): the failures a run saved.
ONLY_CASES: list[int] = []


def case_numbers(count: int, only_case: int | None) -> list[int]:
    if only_case is not None:
        return [only_case]
    if ONLY_CASES:
        return list(ONLY_CASES)
    return list(range(FIRST_CASE[0], FIRST_CASE[0] + count))


def case_rng(seed: int, family: str, case: int) -> random.Random:
    """The random source of one case: the same (seed, family, case) draws the same case."""
    return random.Random(f"{seed}/{family}/{case}")


class Workspace:
    """A folder with an archive (opened by a key file: HKDF, no slow KDF), its config pointing
    at ``sandbox`` and a log folder. ``clone`` makes a fresh one holding the same files."""

    def __init__(self, root: Path, sandbox: Sandbox | None, secrets: Path) -> None:
        self.root = root
        self.sandbox = sandbox
        self.secrets = secrets
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        (root / "tmp").mkdir(exist_ok=True)  # the commands' TMPDIR, searched for canaries
        self.archive = root / "archive.db"
        self.key_file = root / "archive.key"
        self.config = root / "config.toml"
        self.logs = root / "logs"

    def create_archive(self) -> None:
        arc, _recovery = Archive.create(self.archive, key_file=self.key_file)
        arc.close()
        self.write_config()

    def write_config(self, extra: str = "", sources: bool = True) -> None:
        self.config.write_text(
            f'[archive]\npath = "{self.archive}"\nkey_file = "{self.key_file}"\n'
            f'[log]\ndir = "{self.logs}"\n' + extra, encoding="utf-8")
        if self.sandbox is not None and sources:
            merge_sources_into_config(self.config, self.sandbox.source_configs(self.secrets))

    def clone(self, root: Path, sources: bool = True) -> Workspace:
        other = Workspace(root, self.sandbox, self.secrets)
        for name in ARCHIVE_FILES:
            if (self.root / name).exists():
                shutil.copy2(self.root / name, root / name)
        other.write_config(sources=sources)
        return other

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
        env.update({"EXPORTER_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1",
                    "HOME": str(self.config.parent), "TMPDIR": str(self.tmpdir())})
        env.update(extra)
        return env

    def tmpdir(self) -> Path:
        return self.config.parent / "tmp"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "exporter", *args]

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env(**(env or {})), cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)

    def run(self, *args: str, timeout: float = 300, stdin: str | None = None,
            env: dict[str, str] | None = None) -> Outcome:
        return self._run(list(args), timeout, stdin, env or {})

    def _run(self, args: list[str], timeout: float, stdin: str | None,
             env: dict[str, str]) -> Outcome:
        proc = subprocess.run(self.argv(*args), env=self.env(**env), cwd=self.config.parent,
                              capture_output=True, text=True, timeout=timeout,
                              input=stdin if stdin is not None else "")
        return Outcome(list(args), proc.returncode, proc.stdout, proc.stderr)

    def content(self) -> Content:
        return content_of(self.archive, self.key_file)


@dataclasses.dataclass(frozen=True)
class Content:
    """The archive's current content: every current record version and every file, by hash
    (run numbers and times differ between two runs that archive the same data)."""

    records: frozenset[tuple[str, str, str, int, str]]
    files: frozenset[str]

    def lost_from(self, expected: Content) -> int:
        """How many of ``expected``'s records or files this content lacks or holds otherwise."""
        return len(expected.records - self.records) + len(expected.files - self.files)

    def extra_over(self, expected: Content) -> int:
        return len(self.records - expected.records) + len(self.files - expected.files)


def content_of(archive: Path, key_file: Path) -> Content:
    with Archive.open(archive, KeyFile(key_file)) as arc:
        rows = arc.conn.execute(
            "SELECT s.source, s.stream, v.record_id, v.deleted, hex(v.hash) FROM versions v "
            "JOIN streams s ON s.id = v.stream_id WHERE v.superseded_run IS NULL").fetchall()
        files = arc.conn.execute("SELECT hex(hash) FROM files").fetchall()
    return Content(frozenset(tuple(r) for r in rows), frozenset(f[0] for f in files))


def all_versions(archive: Path, key_file: Path) -> frozenset[tuple[str, str, str]]:
    """Every record version ever archived (current or not), by record and hash."""
    with Archive.open(archive, KeyFile(key_file)) as arc:
        rows = arc.conn.execute(
            "SELECT s.source || '/' || s.stream, v.record_id, hex(v.hash) FROM versions v "
            "JOIN streams s ON s.id = v.stream_id").fetchall()
    return frozenset(tuple(r) for r in rows)


def verify_problems(archive: Path, key_file: Path) -> list[str]:
    with Archive.open(archive, KeyFile(key_file)) as arc:
        return arc.verify()


def lock_is_free(archive: Path, key_file: Path) -> bool:
    """A writer can take the archive now (a dead holder's lock is taken over)."""
    from exporter.errors import ArchiveLocked

    try:
        with Archive.open(archive, KeyFile(key_file), write=True):
            return True
    except ArchiveLocked:
        return False


@contextmanager
def scratch(prefix: str, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"reliability-{prefix}-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def save_failures(tallies: list[Tally], folder: Path) -> list[Path]:
    """One JSON file per failing case, with the command that replays it."""
    written = []
    for tally in tallies:
        for failure in tally.failures:
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{failure['family']}-seed{failure['seed']}-case{failure['case']}.json"
            # A kill is drawn from (seed, subject, case): --subject replays it in any run.
            subject = failure["inputs"].get("subject")
            failure = dict(failure, replay=(
                f"python -m reliability --family {failure['family']} --seed "
                f"{failure['seed']} --case {failure['case']}"
                + (f" --subject {subject}" if subject else "")))
            (folder / name).write_text(json.dumps(failure, indent=2, default=str) + "\n",
                                       encoding="utf-8")
            written.append(folder / name)
    return written
