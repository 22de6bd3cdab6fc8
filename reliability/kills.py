"""Family a: SIGKILL at a random moment of a real CLI command (a subprocess against the
sandbox cloud). After each kill: ``verify`` passes, the next run completes (so no lock is
stuck), and the content equals that of an uninterrupted run.

A subject is one entry in :data:`SUBJECTS`: how to prepare its workspace (once), the command
to kill, and what to check afterwards beyond the defaults. The care-plan pre-render and the
desk are added the same way."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from exporter.archive import Archive
from exporter.keys import KeyFile, RecoveryKey
from reliability import desk_runs
from reliability.common import (
    Content,
    Outcome,
    Tally,
    Workspace,
    case_numbers,
    case_rng,
    lock_is_free,
    scratch,
    verify_problems,
)

Check = Callable[[Workspace, "Subject", Outcome], list[str]]


@dataclasses.dataclass
class Subject:
    """A command to kill. ``argv`` is run in a clone of the prepared workspace; ``check``
    adds subject-specific checks after the next run; ``compare_content`` is off for
    commands that do not change the records (keys, copy)."""

    name: str
    argv: Callable[[Workspace], list[str]]
    prepare: str = "synced"   # "synced": archive synced once; "empty": an archive, no runs;
                              # "nothing": no archive at all (init)
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    check: Check | None = None
    setup: Callable[[Workspace], None] | None = None
    compare_content: bool = True
    #: Run the command again even when the "killed" run had finished (init refuses then).
    again_after_success: bool = True
    expected: Content | None = None
    duration: float = 1.0
    #: A case of its own instead of "start, kill, run again": (outcome kind, problems).
    case: Callable[[Workspace, random.Random, Content | None], tuple[str, list[str]]] | None = None


def _copy_check(ws: Workspace, subject: Subject, last: Outcome) -> list[str]:
    listing = ws.run("copy", "--list", "--check", "--to", str(ws.root / "copies"))
    if listing.code != 0:
        return [f"copy --check after the next run exited {listing.code}: {listing.text[-300:]}"]
    latest = sorted(p for p in (ws.root / "copies").rglob("archive.db"))
    if not latest:
        return ["no copy after the next run"]
    got = Workspace(latest[-1].parent, None, ws.secrets)
    got.key_file = ws.key_file
    from reliability.common import content_of

    if content_of(got.archive, ws.key_file) != ws.content():
        return ["the latest copy does not hold the archive's content"]
    return []


RECOVERY_GROUP = re.compile(r"^\s{4}(\S.*)$", re.MULTILINE)


def shown_recovery_key(text: str) -> str | None:
    """The recovery key a command printed, if it printed one."""
    _head, sep, tail = text.partition("New recovery key")
    if not sep:
        return None
    groups = re.findall(r"\b[A-Z2-7]{4}\b", " ".join(RECOVERY_GROUP.findall(tail)))
    return "-".join(groups[:8]) if len(groups) >= 8 else None


def _opens_with_recovery(archive: Path, key: str) -> bool:
    from exporter.errors import ExporterError

    try:
        with Archive.open(archive, RecoveryKey.of(key)):
            return True
    except ExporterError:
        return False


def _recovery_check(ws: Workspace, subject: Subject, last: Outcome) -> list[str]:
    """Some recovery key shown to the user opens the archive: the one the next run showed."""
    key = shown_recovery_key(last.out)
    if key is None:
        return ["the next run showed no recovery key"]
    if not _opens_with_recovery(ws.archive, key):
        return ["the recovery key the next run showed does not open the archive"]
    return []


def _killed_recovery_check(ws: Workspace, killed_out: str, old_key: str | None) -> list[str]:
    """Right after a kill: the old recovery key, or the one the killed run showed, opens it."""
    keys = [k for k in (old_key, shown_recovery_key(killed_out)) if k]
    if keys and not any(_opens_with_recovery(ws.archive, k) for k in keys):
        return ["after the kill, neither the old recovery key nor a shown one opens the "
                "archive"]
    return []


def _unused(folder: Path, stem: str) -> Path:
    n = 1
    while (folder / f"{stem}-{n}.key").exists():
        n += 1
    return folder / f"{stem}-{n}.key"


def _init_argv(ws: Workspace) -> list[str]:
    return ["init", "--archive", str(ws.archive), "--key-file", str(ws.key_file)]


CSV_TARGET = '\n[targets.csvout]\ntype = "csv"\npath = "{root}/csv-restore"\n'
#: What the uninterrupted restore wrote: file name -> sorted lines.
CSV_EXPECTED: dict[str, list[str]] = {}


def _csv_files(ws: Workspace) -> dict[str, list[str]]:
    folder = ws.root / "csv-restore"
    return {p.name: sorted(p.read_text(encoding="utf-8").splitlines())
            for p in sorted(folder.glob("*.csv"))}


def _csv_check(ws: Workspace) -> list[str]:
    got = _csv_files(ws)
    if not CSV_EXPECTED:
        CSV_EXPECTED.update(got)
        return []
    if got != CSV_EXPECTED:
        return [f"the CSV files differ from an uninterrupted restore's ({sorted(got)})"]
    return []


def _clear_plans(ws: Workspace) -> None:
    """No stored care plan (the sync rendered them): a pre-render then has every plan to do."""
    from exporter.careplan.planstore import CHECKED_KEY

    with Archive.open(ws.archive, KeyFile(ws.key_file), write=True) as arc, arc.transaction():
        arc.conn.execute("DELETE FROM rendered_plans")
        arc.conn.execute("DELETE FROM archive_meta WHERE key = ?", (CHECKED_KEY,))


#: What the uninterrupted pre-render stored: client key -> (inputs hash, pages, text).
PLANS_EXPECTED: dict[str, tuple[str, int, str]] = {}


def _stored_plans(ws: Workspace) -> dict[str, tuple[str, int, str]]:
    import io

    from pypdf import PdfReader

    with Archive.open(ws.archive, KeyFile(ws.key_file)) as arc:
        rows = arc.conn.execute(
            "SELECT client_key, inputs_hash, pages, pdf FROM rendered_plans").fetchall()
    plans = {}
    for key, digest, pages, pdf in rows:
        reader = PdfReader(io.BytesIO(bytes(pdf)))  # a stored PDF is whole, or this fails
        text = "\n".join(page.extract_text() for page in reader.pages)
        plans[key] = (digest, len(reader.pages) if len(reader.pages) == pages else -1, text)
    return plans


def _plans_check(ws: Workspace) -> list[str]:
    from pypdf.errors import PyPdfError

    try:
        got = _stored_plans(ws)
    except PyPdfError as exc:
        return [f"a stored care plan is not a whole PDF: {exc}"]
    if not PLANS_EXPECTED:
        if not got:
            return ["the uninterrupted pre-render stored no care plan"]
        PLANS_EXPECTED.update(got)
        return []
    differ = sorted(k for k in set(got) | set(PLANS_EXPECTED)
                    if got.get(k) != PLANS_EXPECTED.get(k))
    if differ:
        return [f"{len(differ)} stored care plans differ from an uninterrupted pre-render's "
                f"(by inputs hash, pages or text): {differ[:3]}"]
    return []


SUBJECTS: dict[str, Subject] = {s.name: s for s in [
    Subject("sync", lambda ws: ["sync"]),
    Subject("first-sync", lambda ws: ["sync"], prepare="empty"),
    Subject("restore-csv", lambda ws: ["restore", "--to", "csvout", "--mapping", "any_to_csv",
                                       "--source", "salesforce"],
            setup=lambda ws: ws.write_config(CSV_TARGET.format(root=ws.root)),
            check=lambda ws, s, o: _csv_check(ws)),
    Subject("copy", lambda ws: ["copy", "--to", str(ws.root / "copies")],
            setup=lambda ws: (ws.root / "copies").mkdir(),
            check=_copy_check, compare_content=False),
    # A kill after the new key file was written but before its slot was saved leaves the
    # file; keys add then refuses to write over it and says to choose a new name: done here.
    Subject("keys-add", lambda ws: ["keys", "add", "--key-file", str(_unused(ws.root, "second"))],
            compare_content=False),
    Subject("keys-rotate", lambda ws: ["keys", "rotate"], compare_content=False,
            check=_recovery_check),
    Subject("keys-recovery", lambda ws: ["keys", "recovery"], compare_content=False,
            check=_recovery_check),
    Subject("init", _init_argv, prepare="nothing", compare_content=False,
            env={"EXPORTER_PASSPHRASE": "campaign passphrase 4 kills"},
            again_after_success=False,
            check=_recovery_check),
    Subject("prerender", lambda ws: ["print", "--prerender"], setup=_clear_plans,
            check=lambda ws, s, o: _plans_check(ws)),
    Subject("desk", lambda ws: ["desk"], setup=desk_runs.add_staff_account,
            case=desk_runs.kill_desk_case),
]}

#: The short run's subjects (one kill each; only these are prepared): the long run's first
#: four, and the two that are not commands run to their end.
SHORT_SUBJECTS = ["sync", "first-sync", "restore-csv", "copy", "prerender", "desk"]


def _workspace_for(subject: Subject, base: Workspace, root: Path) -> Workspace:
    if subject.prepare == "nothing":
        ws = Workspace(root, base.sandbox, base.secrets)
        return ws
    ws = base.clone(root)
    if subject.setup is not None:
        subject.setup(ws)
    return ws


def _after(ws: Workspace, subject: Subject, killed: Outcome, old_recovery: str | None
           ) -> tuple[list[str], Outcome | None]:
    problems: list[str] = []
    if killed.crashed() and killed.code not in (-signal.SIGKILL,):
        problems.append(f"the killed run crashed on its own: {killed.text[-300:]}")
    if subject.prepare != "nothing" or ws.archive.exists():
        if subject.name.startswith("keys-recovery"):
            problems += _killed_recovery_check(ws, killed.out, old_recovery)
        if ws.archive.exists() and subject.prepare != "nothing":
            # What `exporter verify` runs, in this process: a reader's open, then every check.
            found = _verify(ws)
            if found:
                problems.append(f"verify after the kill: {found[:3]}")
    if not subject.again_after_success and (killed.code == 0 or _set_up(ws)):
        nxt = killed  # init got as far as the config file: it is done (a re-run refuses)
    else:
        nxt = ws.run(*subject.argv(ws), env=subject.env)
    if nxt.code != 0 and nxt is not killed:  # killed: init was done; the checks follow
        problems.append(f"the next run exited {nxt.code}: {nxt.text[-400:]}")
        return problems, nxt
    found = _verify(ws)
    if found:
        problems.append(f"verify after the next run: {found[:3]}")
    if not lock_is_free(ws.archive, ws.key_file):
        problems.append("the write lock is still held after the next run")
    if subject.compare_content and subject.expected is not None:
        got = ws.content()
        lost, extra = got.lost_from(subject.expected), got.extra_over(subject.expected)
        if lost or extra:
            problems.append(f"content differs from an uninterrupted run: {lost} records lost "
                            f"or changed, {extra} extra")
    if subject.check is not None:
        problems += subject.check(ws, subject, nxt)
    return problems, nxt


def _set_up(ws: Workspace) -> bool:
    return ws.config.exists() and "[archive]" in ws.config.read_text(errors="replace")


def _verify(ws: Workspace) -> list[str]:
    from exporter.errors import ExporterError

    try:
        return verify_problems(ws.archive, ws.key_file)
    except ExporterError as exc:
        return [f"the archive does not open: {exc}"]


def prepare(subject: Subject, bases: dict[str, Workspace], root: Path) -> None:
    """Run the subject once without a kill: its duration and the expected content."""
    ws = _workspace_for(subject, bases[subject.prepare], root)
    if subject.case is not None:  # the desk changes no record: the content stays
        subject.expected = ws.content()
        return
    started = time.monotonic()
    result = ws.run(*subject.argv(ws), env=subject.env)
    subject.duration = time.monotonic() - started
    if result.code != 0:
        raise RuntimeError(f"{subject.name} fails without a kill: {result.text[-500:]}")
    if subject.compare_content:
        subject.expected = ws.content()
    if subject.check is not None:
        problems = subject.check(ws, subject, result)
        if problems:
            raise RuntimeError(f"{subject.name} fails its check without a kill: {problems}")


def kill_once(subject: Subject, base: Workspace, root: Path, seed: int, case: int,
              tally: Tally) -> None:
    rng = case_rng(seed, f"kills/{subject.name}", case)
    ws = _workspace_for(subject, base, root)
    if subject.case is not None:
        try:
            kind, problems = subject.case(ws, rng, subject.expected)
        except RuntimeError as exc:  # the desk did not start or let the campaign in
            kind, problems = "not run", [str(exc)]
        tally.tried += 1
        tally.count(f"{subject.name}: killed ({kind})")
        if problems:
            tally.fail(case, "; ".join(problems), subject=subject.name)
        return
    old_recovery = (base.root / "recovery.txt").read_text().strip() if (
        base.root / "recovery.txt").exists() else None
    delay = rng.uniform(0.0, subject.duration * 0.95)
    proc = ws.start(*subject.argv(ws), env=subject.env)
    time.sleep(delay)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        # Bounded: a process left behind by the killed one (it held the output pipes) is a
        # failure to report, not a campaign that hangs.
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        tally.fail(case, f"{subject.name}: its output stayed open 300 s after the kill (a "
                   "process it started outlived it)")
        return
    killed = Outcome(subject.argv(ws), proc.returncode, out, err)
    tally.tried += 1
    tally.count(f"{subject.name}: killed" if proc.returncode == -signal.SIGKILL
                else f"{subject.name}: finished before the kill")
    # The machine's load changes how long a run takes: aim the kills at the run as it is now.
    subject.duration *= 1.03 if proc.returncode == -signal.SIGKILL else 0.85
    problems, _ = _after(ws, subject, killed, old_recovery)
    if problems:
        tally.fail(case, "; ".join(problems), subject=subject.name, delay=round(delay, 4))


def run(ctx: object, seed: int, count: int, only_case: int | None = None,
        subjects: list[str] | None = None) -> Tally:
    """``count`` kills spread over the subjects (round robin)."""
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("kills", seed)
    chosen = [SUBJECTS[name] for name in (subjects or list(SUBJECTS))]
    for subject in chosen:
        with scratch(f"prep-{subject.name}") as root:
            prepare(subject, ctx.bases, root)
    for case in case_numbers(count, only_case):
        subject = chosen[case % len(chosen)]
        with scratch(f"kill-{subject.name}") as root:
            kill_once(subject, ctx.bases[subject.prepare], root, seed, case, tally)
        tally.progress(10)  # kills are slow: a run stopped early still says how far it got
    return tally
