"""Family d: resource faults on real filesystems. As root, a size-limited tmpfs is mounted
(a real full disk) and remounted read-only (real read-only media); otherwise a file-size
limit (RLIMIT_FSIZE) stands in for the full disk and the read-only part is skipped (the
table says which ran). Also: a missing ``.keys`` file and unreadable configs."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from reliability.common import (
    Content,
    Outcome,
    Tally,
    Workspace,
    case_rng,
    scratch,
    verify_problems,
)

PASSPHRASE = {"EXPORTER_PASSPHRASE": "campaign passphrase 4 disk"}


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    with scratch("mount-probe") as root:
        try:
            with small_fs(root / "m", 64):
                return True
        except (OSError, subprocess.CalledProcessError):
            return False


@contextlib.contextmanager
def small_fs(where: Path, kib: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0700", "tmpfs",
                    str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True,
                   capture_output=True)


def _handled(outcome: Outcome, codes: tuple[int, ...]) -> str | None:
    if outcome.crashed():
        return f"{' '.join(outcome.argv)} crashed (exit {outcome.code}): {outcome.text[-300:]}"
    if outcome.code not in codes:
        return (f"{' '.join(outcome.argv)} exited {outcome.code}, expected {codes}: "
                f"{outcome.text[-300:]}")
    return None


def _full_disk_sync(ctx_empty: Workspace, root: Path, kib: int, expected: Content
                    ) -> list[str]:
    """The whole data folder on a small disk: the first sync ends "disk full" (10), the
    archive stays sound; with space back, the next sync completes with everything."""
    problems = []
    with small_fs(root / "disk", kib) as disk:
        ws = ctx_empty.clone(disk / "ws")
        full = ws.run("sync")
        problems += [p for p in [_handled(full, (0, 10, 11, 12))] if p]
        if full.code == 0:
            problems.append(f"sync on a {kib} KiB disk did not run out of space")
        problems += [f"verify on the full disk: {p}" for p in
                     verify_problems(ws.archive, ws.key_file)[:3]]
        remount(disk, "size=128m")
        again = ws.run("sync")
        problems += [p for p in [_handled(again, (0,))] if p]
        if again.code == 0 and ws.content() != expected:
            problems.append("after space came back the content differs from a normal sync")
    return problems


def _file_size_limit(ctx_empty: Workspace, root: Path, limit: int, expected: Content
                     ) -> list[str]:
    ws = ctx_empty.clone(root / "fsize")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(ws.argv("sync"), env=ws.env(), cwd=ws.root, capture_output=True,
                          text=True, preexec_fn=limited, timeout=300, check=False)
    out = Outcome(["sync"], proc.returncode, proc.stdout, proc.stderr)
    problems = [p for p in [_handled(out, (0, 10, 11, 12, 16))] if p]
    problems += verify_problems(ws.archive, ws.key_file)[:3]
    again = ws.run("sync")
    problems += [p for p in [_handled(again, (0,))] if p]
    if again.code == 0 and ws.content() != expected:
        problems.append("after a file-size limit the next sync's content differs")
    return problems


def _full_disk_export_and_init(synced: Workspace, root: Path) -> list[str]:
    problems = []
    with small_fs(root / "tiny", 48) as disk:
        out = synced.run("export", "--format", "jsonl", "--out", str(disk / "all.jsonl"))
        problems += [p for p in [_handled(out, (10,))] if p]
        if (disk / "all.jsonl").exists():
            problems.append("a half-written export was left on the full disk")
        fresh = Workspace(disk / "new", None, synced.secrets)
        init = fresh.run("init", "--archive", str(fresh.archive), "--key-file",
                         str(fresh.key_file), env=PASSPHRASE)
        problems += [p for p in [_handled(init, (10, 16))] if p]
        remount(disk, "size=16m")
        init = fresh.run("init", "--archive", str(fresh.archive), "--key-file",
                         str(fresh.key_file), env=PASSPHRASE)
        problems += [p for p in [_handled(init, (0,))] if p]
    return problems


def _read_only_media(synced: Workspace, root: Path) -> list[str]:
    problems = []
    with small_fs(root / "ro", 64 * 1024) as media:
        ws = synced.clone(media / "ws")
        # The config and the log stay on the computer; the archive is on the media.
        ws.config, ws.logs = root / "config.toml", root / "logs"
        ws.write_config()
        remount(media, "ro")
        outdir = root / "out"
        outdir.mkdir()
        listing = ws.run("clients")
        client = next((line.split()[0] for line in listing.out.splitlines()
                       if line[:2] == "C-"), "C-00001")
        for args, codes in ((["status"], (0, 18)), (["verify"], (0,)), (["clients"], (0,)),
                            (["keys", "list"], (0,)),
                            (["export", "--format", "jsonl", "--out", str(outdir / "a.jsonl")],
                             (0,)),
                            (["print", client, "--out", str(outdir / "p.pdf")], (0, 3)),
                            (["sync"], (16,)),
                            (["keys", "add", "--key-file", str(outdir / "k2")], (16,))):
            problems += [p for p in [_handled(ws.run(*args), codes)] if p]
        remount(media, "rw")
    return problems


def _file_size_limit_in(empty: Workspace, limit: int, expected: Content, root: Path
                        ) -> list[str]:
    return _file_size_limit(empty, root, limit, expected)


def _full_disk_sync_in(empty: Workspace, kib: int, expected: Content, root: Path) -> list[str]:
    return _full_disk_sync(empty, root, kib, expected)


def _unreadable(path: Path) -> None:
    path.write_text("[archive]\n")
    os.chmod(path, 0)


def _missing_keys_and_bad_configs(synced: Workspace, root: Path) -> list[str]:
    problems = []
    ws = synced.clone(root / "nokeys")
    (ws.root / "archive.db.keys").unlink()
    for args in (["verify"], ["sync"], ["status"]):
        problems += [p for p in [_handled(ws.run(*args), (6,))] if p]
    for name, make in (("directory", lambda p: p.mkdir()),
                       ("not UTF-8", lambda p: p.write_bytes(b"[archive]\npath = \"\xff\xfe\"\n")),
                       ("not TOML", lambda p: p.write_text("[archive\npath = ")),
                       ("wrong types", lambda p: p.write_text("[archive]\npath = 5\n"
                                                              "[sync]\nmax_delete_share = 'x'\n")),
                       ("unreadable", _unreadable)):
        cfg = root / f"config-{name.replace(' ', '-')}.toml"
        make(cfg)
        for args in (["status"], ["sync"]):
            got = ws.run(*args, env={"EXPORTER_CONFIG": str(cfg)})
            codes = (3, 8) if not (name == "unreadable" and os.geteuid() == 0) else (3, 6, 8)
            problem = _handled(got, codes)
            if problem:
                problems.append(f"config {name}: {problem}")
    return problems


def run(ctx: object, seed: int, count: int, only_case: int | None = None) -> Tally:
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("resources", seed)
    mounting = can_mount()
    tally.note = ("real small tmpfs and read-only remounts (root)" if mounting else
                  "RLIMIT_FSIZE only (not root): read-only media skipped")
    empty, synced = ctx.bases["empty"], ctx.bases["synced"]
    with scratch("resources-expected") as root:
        probe = empty.clone(root / "ws")
        assert probe.run("sync").code == 0
        expected = probe.content()
    cases = [only_case] if only_case is not None else list(range(count))
    for case in cases:
        rng = case_rng(seed, "resources", case)
        limit, kib = rng.randrange(200_000, 4_000_000), rng.randrange(300, 6000)
        scenarios: list[tuple[str, Callable[[Path], list[str]]]] = [
            ("missing .keys, bad configs", partial(_missing_keys_and_bad_configs, synced))]
        if not mounting or count >= 2:
            scenarios.append(("file-size limit", partial(_file_size_limit_in, empty, limit,
                                                         expected)))
        if mounting:  # the short round (count 1): one real full disk
            scenarios.append(("full disk sync", partial(_full_disk_sync_in, empty, kib,
                                                        expected)))
        if mounting and count >= 2:
            scenarios += [("full disk export, init", partial(_full_disk_export_and_init,
                                                             synced)),
                          ("read-only media", partial(_read_only_media, synced))]
        for name, scenario in scenarios:
            with scratch("resources") as root:
                problems = scenario(root)
            tally.tried += 1
            tally.count(name)
            if problems:
                tally.fail(case, f"{name}: " + "; ".join(problems), scenario=name)
    return tally
