"""Family e: concurrency. Races of two syncs started together on one archive (one runs,
the other is refused with the lock holder's PID, or runs after it), rounds of a sync with print,
export, copy and verify beside it, and the care-plan desk serving views and prints through a
whole sync (reliability/desk_runs.py). After each: verify passes and the content is what one
uninterrupted sync gives."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

from reliability.common import Content, Outcome, Tally, Workspace, case_rng, scratch

LOCKED = re.compile(r"in use by PID \d+")


def _finish(proc: object, argv: list[str]) -> Outcome:
    import subprocess

    assert isinstance(proc, subprocess.Popen)
    out, err = proc.communicate(timeout=600)
    return Outcome(argv, proc.returncode, out, err)


def _check_refusal(outcome: Outcome) -> list[str]:
    if outcome.crashed():
        return [f"{' '.join(outcome.argv)} crashed: {outcome.text[-300:]}"]
    if outcome.code == 5 and not LOCKED.search(outcome.text):
        return [f"a lock refusal without the holder's PID: {outcome.text[-200:]}"]
    return []


def _race(base: Workspace, root: Path, gap: float, expected: Content) -> tuple[str, list[str]]:
    ws = base.clone(root)
    first = ws.start("sync")
    time.sleep(gap)
    second = ws.start("sync")
    a, b = _finish(first, ["sync"]), _finish(second, ["sync"])
    problems = _check_refusal(a) + _check_refusal(b)
    codes = sorted((a.code, b.code))
    if codes not in ([0, 0], [0, 5]):
        problems.append(f"two syncs ended {codes}: {a.text[-200:]} | {b.text[-200:]}")
    problems += _sound(ws, expected)
    return ("one refused (locked)" if 5 in codes else "both ran, one after the other"), problems


def _sound(ws: Workspace, expected: Content) -> list[str]:
    from reliability.common import verify_problems

    problems = [f"verify: {p}" for p in verify_problems(ws.archive, ws.key_file)[:3]]
    if ws.content() != expected:
        problems.append("the content differs from one uninterrupted sync's")
    return problems


def _beside(base: Workspace, root: Path, rng: object, expected: Content) -> list[str]:
    """A sync with print, export, copy and verify started while it runs."""
    import random

    assert isinstance(rng, random.Random)
    ws = base.clone(root)
    (ws.root / "copies").mkdir()
    client = next((line.split()[0] for line in ws.run("clients").out.splitlines()
                   if line[:2] == "C-"), "C-00001")
    sync = ws.start("sync")
    time.sleep(rng.uniform(0.2, 1.0))
    others = {
        "print": ["print", client, "--out", str(ws.root / "plan.pdf")],
        "export": ["export", "--format", "jsonl", "--out", str(ws.root / "all.jsonl")],
        "copy": ["copy", "--to", str(ws.root / "copies")],
        "verify": ["verify"],
    }
    procs = {name: ws.start(*argv) for name, argv in others.items()}
    results = {name: _finish(p, others[name]) for name, p in procs.items()}
    done = _finish(sync, ["sync"])
    problems = []
    if done.code != 0 and not (done.code == 5 and LOCKED.search(done.text)):
        problems.append(f"the sync beside the others exited {done.code}: {done.text[-200:]}")
    allowed = {"print": (0, 3), "export": (0,), "copy": (0, 5), "verify": (0,)}
    for name, result in results.items():
        problems += _check_refusal(result)
        if result.code not in allowed[name]:
            problems.append(f"{name} beside a sync exited {result.code}: {result.text[-200:]}")
    if done.code == 5:
        again = ws.run("sync")  # the copy held the lock: the next night's sync
        if again.code != 0:
            problems.append(f"the sync after the copy exited {again.code}")
    problems += _sound(ws, expected)
    return problems


def _desk_round(base: Workspace, case: int, expected: Content, tally: Tally) -> None:
    """The desk serving views and prints through a whole sync."""
    from reliability.desk_runs import add_staff_account, desk_beside_sync

    with scratch("desk-beside") as root:
        ws = base.clone(root / "ws")
        add_staff_account(ws)
        try:
            served, problems = desk_beside_sync(ws, expected)
        except RuntimeError as exc:  # the desk did not start or let the campaign in
            served, problems = Counter(), [str(exc)]
    tally.tried += 1
    tally.count("desk beside a sync")
    tally.kinds.update({f"desk answers beside a sync ({k})": n for k, n in served.items()})
    if problems:
        tally.fail(case, "; ".join(problems), desk_beside=case)


def run(ctx: object, seed: int, count: int, only_case: int | None = None) -> Tally:
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("concurrency", seed)
    base = ctx.bases["synced"]
    with scratch("concurrency-expected") as root:
        probe = base.clone(root / "ws")
        assert probe.run("sync").code == 0
        expected = probe.content()
    cases = [only_case] if only_case is not None else list(range(count))
    for case in cases:
        rng = case_rng(seed, "concurrency", case)
        with scratch("race") as root:
            kind, problems = _race(base, root / "ws", rng.uniform(0.0, 0.5), expected)
        tally.tried += 1
        tally.count(f"sync race: {kind}")
        if problems:
            tally.fail(case, "; ".join(problems), race=case)
        if case % 10 == 0:
            with scratch("beside") as root:
                problems = _beside(base, root / "ws", rng, expected)
            tally.tried += 1
            tally.count("sync beside print, export, copy, verify")
            if problems:
                tally.fail(case, "; ".join(problems), beside=case)
            _desk_round(base, case, expected, tally)
        tally.progress(20)
    return tally
