"""Family b: tamperings. Each case copies a prepared archive, changes it the way damage or an
attacker would (bytes, pages, the WAL, ``.keys``, copy manifests, audit rows, rollbacks),
then runs the real CLI (in this process, for speed) and classes the outcome:

- detected: refused with an expected exit code and no traceback;
- harmless: accepted, and the content (and keys) are exactly as before (e.g. a byte past
  the WAL's last commit);
- silently accepted: accepted with different content: a failure, as is any traceback, an
  unexpected exit code, or a harmless outcome where the kind promises detection."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from exporter.archive import Archive
from exporter.keys import KeyFile
from reliability.common import (
    CRASH_MARKS,
    Tally,
    Workspace,
    case_numbers,
    case_rng,
    content_of,
    scratch,
)

PAGE = 4096
#: kind -> (exit codes that count as detected, whether being harmless is allowed)
KINDS: dict[str, tuple[frozenset[int], bool]] = {
    "db-byte": (frozenset({6}), False),
    "db-page": (frozenset({6}), False),
    "db-truncate": (frozenset({6}), False),
    "db-page-swap": (frozenset({6}), False),
    "wal-byte": (frozenset({6}), True),
    "wal-frame": (frozenset({6}), True),
    "wal-truncate": (frozenset({6}), True),
    "keys-byte": (frozenset({4, 6}), True),  # 4: an altered slot of the credential used
    "keys-field": (frozenset({4, 6}), False),  # looks like a wrong key (see docs)
    "keys-other-archive": (frozenset({6, 17}), False),
    "keys-rollback": (frozenset({6}), False),
    "archive-rollback": (frozenset({6}), False),
    "audit-row": (frozenset({6}), False),
    "version-row": (frozenset({6}), False),
    "manifest-byte": (frozenset({6, 14}), True),
    "copy-byte": (frozenset({6, 14}), False),
}


class Bases:
    """The prepared archives the cases copy: synced; with committed data only in its WAL;
    an older state (for rollbacks); another archive; a copy folder."""

    def __init__(self, empty: Workspace, root: Path) -> None:
        self.root = root
        # One vendor's records (no Drive files): a small archive keeps each case cheap.
        synced = empty.clone(root / "first")
        r = synced.run("sync", "--source", "hubspot")
        assert r.code == 0, r.text
        self.synced = synced.clone(root / "synced")
        self.older = synced.clone(root / "older")          # before one more audited change
        r = self.synced.run("export", "--format", "jsonl", "--out",
                            str(root / "synced" / "tmp" / "e.jsonl"))
        assert r.code == 0, r.text  # an audited action: the anchor moves past "older"
        self.synced.run("keys", "add", "--key-file", str(root / "synced" / "extra.key"))
        self.older_keys = self.older.root / "archive.db.keys"
        self.wal = synced.clone(root / "wal")
        subprocess.run([sys.executable, "-m", "reliability.wal_child", str(self.wal.archive),
                        str(self.wal.key_file), "4"], check=False, timeout=120)
        other = Workspace(root / "other", None, synced.secrets)
        arc, _ = Archive.create(other.archive, key_file=other.key_file)
        arc.close()
        self.other_keys = other.root / "archive.db.keys"
        (self.synced.root / "copies").mkdir()
        r = self.synced.run("copy", "--to", str(self.synced.root / "copies"))
        assert r.code == 0, r.text
        assert Path(f"{self.wal.archive}-wal").exists()
        # Read from throwaway clones: closing the last reader checkpoints the log away.
        self.expected = {}
        for name, ws in (("synced", self.synced), ("wal", self.wal)):
            probe = ws.clone(root / f"probe-{name}")
            self.expected[name] = content_of(probe.archive, probe.key_file)


def _flip(path: Path, rng: random.Random, lo: int = 0, hi: int | None = None) -> dict[str, Any]:
    data = bytearray(path.read_bytes())
    off = rng.randrange(lo, hi if hi is not None else len(data))
    data[off] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
    return {"offset": off}


def _db_page(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    data = bytearray(ws.archive.read_bytes())
    page = rng.randrange(len(data) // PAGE)
    how = rng.choice(["zeros", "random", "ones"])
    fill = {"zeros": bytes(PAGE), "ones": b"\xff" * PAGE, "random": rng.randbytes(PAGE)}[how]
    data[page * PAGE:(page + 1) * PAGE] = fill
    ws.archive.write_bytes(bytes(data))
    return {"page": page, "fill": how}


def _db_swap(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    data = bytearray(ws.archive.read_bytes())
    a, b = rng.sample(range(len(data) // PAGE), 2)
    pa, pb = data[a * PAGE:(a + 1) * PAGE], data[b * PAGE:(b + 1) * PAGE]
    data[a * PAGE:(a + 1) * PAGE], data[b * PAGE:(b + 1) * PAGE] = pb, pa
    ws.archive.write_bytes(bytes(data))
    return {"pages": [a, b]}


def _truncate(path: Path, rng: random.Random, lo: int = 0) -> dict[str, Any]:
    size = path.stat().st_size
    keep = rng.randrange(lo, size)
    with path.open("r+b") as fh:
        fh.truncate(keep)
    return {"kept": keep, "of": size}


def _wal_frame(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    wal = Path(f"{ws.archive}-wal")
    data = bytearray(wal.read_bytes())
    frames = (len(data) - 32) // (PAGE + 24)
    frame = rng.randrange(frames)
    start = 32 + frame * (PAGE + 24)
    part = rng.choice(["header", "page"])
    lo, n = (start, 24) if part == "header" else (start + 24, PAGE)
    data[lo:lo + n] = rng.randbytes(n)
    wal.write_bytes(bytes(data))
    return {"frame": frame, "part": part}


def _keys_field(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    path = ws.root / "archive.db.keys"
    doc = json.loads(path.read_text())
    slot = rng.choice(doc["slots"])
    field = rng.choice(["kind", "kdf", "check", "nonce", "wrapped", "id", "generation",
                        "archive_id", "db_salt", "audit_head", "slots", "format"])
    value: Any = rng.choice([0, 12345, None, "", [], {}, "x" * 70, True])
    if field in ("generation", "archive_id", "db_salt", "audit_head", "slots", "format"):
        doc[field] = value
    else:
        slot[field] = value
    path.write_text(json.dumps(doc))
    return {"field": field, "value": repr(value)[:40]}


def _audit_row(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    """An attacker with the key edits the audit log directly (not through exporter, so the
    anchor in .keys is not moved)."""
    arc = Archive.open(ws.archive, KeyFile(ws.key_file), write=True)
    try:
        rows = [r[0] for r in arc.conn.execute("SELECT id FROM audit_log")]
        target = rng.choice(rows)
        how = rng.choice(["edit", "delete", "delete-tail", "reorder"])
        arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        if how == "edit":
            arc.conn.execute("UPDATE audit_log SET detail = '{}' , actor = 'someone else' "
                             "WHERE id = ?", (target,))
        elif how == "delete":
            arc.conn.execute("DELETE FROM audit_log WHERE id = ?", (target,))
        elif how == "delete-tail":
            arc.conn.execute("DELETE FROM audit_log WHERE id >= ?", (target,))
        else:
            arc.conn.execute("UPDATE audit_log SET at = '1999-01-01T00:00:00+00:00' "
                             "WHERE id = ?", (target,))
        arc.conn.commit()
    finally:
        arc._opened = False  # no anchor: the attacker does not go through exporter
        arc.close()
    return {"row": target, "how": how}


def _version_row(ws: Workspace, rng: random.Random) -> dict[str, Any]:
    arc = Archive.open(ws.archive, KeyFile(ws.key_file), write=True)
    try:
        ids = [r[0] for r in arc.conn.execute("SELECT id FROM versions WHERE data IS NOT NULL")]
        target = rng.choice(ids)
        # Not "record_id": a version's hash covers its content, not the id it is filed under;
        # renaming a record needs the key, and a key holder is outside what hashes protect.
        how = rng.choice(["data", "deleted", "hash"])
        sql = {"data": "UPDATE versions SET data = json_set(data, '$.tampered', 1) WHERE id = ?",
               "record_id": "UPDATE versions SET record_id = record_id || 'x' WHERE id = ?",
               "deleted": "UPDATE versions SET deleted = 1 - deleted WHERE id = ?",
               "hash": "UPDATE versions SET hash = zeroblob(32) WHERE id = ?"}[how]
        arc.conn.execute(sql, (target,))
        arc.conn.commit()
    finally:
        arc._opened = False
        arc.close()
    return {"version": target, "how": how}


def _copy_dir(ws: Workspace) -> Path:
    return next(p for p in (ws.root / "copies").iterdir() if p.is_dir())


MUTATIONS: dict[str, tuple[str, Callable[[Workspace, random.Random, Bases], dict[str, Any]]]] = {
    "db-byte": ("synced", lambda ws, rng, b: _flip(ws.archive, rng)),
    "db-page": ("synced", lambda ws, rng, b: _db_page(ws, rng)),
    "db-truncate": ("synced", lambda ws, rng, b: _truncate(ws.archive, rng)),
    "db-page-swap": ("synced", lambda ws, rng, b: _db_swap(ws, rng)),
    "wal-byte": ("wal", lambda ws, rng, b: _flip(Path(f"{ws.archive}-wal"), rng)),
    "wal-frame": ("wal", lambda ws, rng, b: _wal_frame(ws, rng)),
    "wal-truncate": ("wal", lambda ws, rng, b: _truncate(Path(f"{ws.archive}-wal"), rng)),
    "keys-byte": ("synced", lambda ws, rng, b: _flip(ws.root / "archive.db.keys", rng)),
    "keys-field": ("synced", lambda ws, rng, b: _keys_field(ws, rng)),
    "keys-other-archive": ("synced", lambda ws, rng, b: {
        "copied": str(shutil.copy2(b.other_keys, ws.root / "archive.db.keys"))}),
    "keys-rollback": ("synced", lambda ws, rng, b: {
        "copied": str(shutil.copy2(b.older_keys, ws.root / "archive.db.keys"))}),
    "archive-rollback": ("synced", lambda ws, rng, b: {
        "copied": str(shutil.copy2(b.older.archive, ws.archive))}),
    "audit-row": ("synced", lambda ws, rng, b: _audit_row(ws, rng)),
    "version-row": ("synced", lambda ws, rng, b: _version_row(ws, rng)),
    "manifest-byte": ("synced", lambda ws, rng, b: _flip(_copy_dir(ws) / "MANIFEST.json", rng)),
    "copy-byte": ("synced", lambda ws, rng, b: _flip(_copy_dir(ws) / "archive.db", rng)),
}
#: Rarer kinds (slow to set up, or few distinct cases) are drawn less often.
WEIGHTS = {"keys-other-archive": 1, "keys-rollback": 1, "archive-rollback": 1,
           "audit-row": 3, "version-row": 3, "manifest-byte": 2, "copy-byte": 2}

_runner = CliRunner()


def _cli(ws: Workspace, *args: str) -> tuple[int, str]:
    from exporter.cli import cli

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EXPORTER_")}
    env["EXPORTER_CONFIG"] = str(ws.config)
    result = _runner.invoke(cli, list(args), env=env)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += f"\nTraceback (most recent call last): {result.exception!r}"
        return 1, text
    return result.exit_code, text


def _clone(base: Workspace, root: Path, kind: str) -> Workspace:
    ws = base.clone(root, sources=False)
    if kind.startswith(("manifest", "copy")):
        shutil.copytree(base.root / "copies", root / "copies")
    return ws


def tamper_once(bases: Bases, seed: int, case: int, tally: Tally, root: Path) -> None:
    rng = case_rng(seed, "tamper", case)
    kinds = list(MUTATIONS)
    kind = rng.choices(kinds, weights=[WEIGHTS.get(k, 10) for k in kinds])[0]
    base_name, mutate = MUTATIONS[kind]
    ws = _clone(getattr(bases, base_name), root, kind)
    keys_before = (ws.root / "archive.db.keys").read_bytes()
    inputs = mutate(ws, rng, bases)
    if kind in ("manifest-byte", "copy-byte"):
        code, text = _cli(ws, "copy", "--list", "--check", "--to", str(ws.root / "copies"))
    else:
        code, text = _cli(ws, "verify")
    tally.tried += 1
    codes, may_be_harmless = KINDS[kind]
    if any(mark in text for mark in CRASH_MARKS) or code == 1:
        tally.count("traceback")
        tally.fail(case, f"{kind}: a crash (exit {code}): {text[-300:]}", kind=kind, **inputs)
    elif code in codes:
        tally.count("detected")
    elif code != 0:
        tally.count("wrong exit code")
        tally.fail(case, f"{kind}: exit {code}, expected {sorted(codes)}: {text[-300:]}",
                   kind=kind, **inputs)
    elif kind == "wal-truncate" and _as_after_a_kill(ws, bases):
        tally.count("accepted as a kill (documented)")
    elif _unchanged(ws, bases, base_name, kind, keys_before):
        tally.count("harmless")
        if not may_be_harmless:
            tally.fail(case, f"{kind}: accepted (content unchanged) but must be detected",
                       kind=kind, **inputs)
    else:
        tally.count("SILENTLY ACCEPTED")
        tally.fail(case, f"{kind}: accepted with changed content", kind=kind, **inputs)
    tally.kinds[f"  {kind}"] += 1


def _as_after_a_kill(ws: Workspace, bases: Bases) -> bool:
    """A WAL cut at a frame boundary looks like a kill before its last commits (docs/design.md,
    "The write-ahead log"): what is left must be the synced content plus whole batches 0..k
    of the killed writer, with its cursor at k."""
    got = content_of(ws.archive, ws.key_file)
    want = bases.expected["wal"]
    if got.files != want.files:
        return False
    keep = {r for r in want.records if r[0] != "wal"}
    if {r for r in got.records if r[0] != "wal"} != keep:
        return False
    with Archive.open(ws.archive, KeyFile(ws.key_file)) as arc:
        cursor = arc.get_cursor("wal", "batches")
        ids = {rid for rid, _data in arc.records("wal", "batches")}
    last = -1 if cursor is None else int(cursor["batch"])
    return ids == {f"w{n}-{i}" for n in range(last + 1) for i in range(40)}


def _unchanged(ws: Workspace, bases: Bases, base_name: str, kind: str,
               keys_before: bytes) -> bool:
    if kind.startswith("manifest") or kind.startswith("copy"):
        return True  # the copy still checks out: the flipped byte did not matter
    try:
        same = content_of(ws.archive, ws.key_file) == bases.expected[base_name]
    except Exception:  # verify passed yet it does not open: not unchanged
        return False
    return same


def run(ctx: object, seed: int, count: int, only_case: int | None = None) -> Tally:
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("tamper", seed)
    with scratch("tamper-bases") as broot:
        bases = Bases(ctx.bases["empty"], broot)
        for case in case_numbers(count, only_case):
            with scratch("tamper") as root:
                tamper_once(bases, seed, case, tally, root / "ws")
            tally.progress(500)
    return tally
