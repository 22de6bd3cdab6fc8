"""Family c: malformed vendor responses. Hypothesis draws a way to spoil one response of one
emulator (truncated, a value of the wrong type, a huge value, another encoding, garbage),
the sandbox's ``rewrite`` fault applies it to the real body, and a sync of that vendor runs
(the real CLI, in this process). Each must end handled (exit 0, 11 or 12, no traceback),
the archive must stay sound with every earlier version kept, and the next normal sync must
bring the content to what an unspoiled night gives (no record lost)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from reliability.common import (
    Content,
    Tally,
    Workspace,
    all_versions,
    scratch,
    verify_problems,
)

VENDORS = ("salesforce", "hubspot", "google")
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True), st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _nodes(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:50]):
            out += _nodes(value, (*path, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc[path[0]] = _replace(doc[path[0]], path[1:], value)
    return doc


def _as_json(body: bytes, change: Callable[[Any], Any]) -> bytes:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[: len(body) // 2]  # not JSON (a file): spoil it by cutting it
    return json.dumps(change(doc), allow_nan=True).encode()


def wrong_type(index: int, value: Any) -> Callable[[bytes], bytes]:
    def change(doc: Any) -> Any:
        nodes = _nodes(doc)
        return _replace(doc, nodes[index % len(nodes)], value)
    return lambda body: _as_json(body, change)


def huge(index: int, size: int) -> Callable[[bytes], bytes]:
    def change(doc: Any) -> Any:
        nodes = _nodes(doc)
        return _replace(doc, nodes[index % len(nodes)], "Ω" * size)
    return lambda body: _as_json(body, change)


def truncated(fraction: float) -> Callable[[bytes], bytes]:
    return lambda body: body[: int(len(body) * fraction)]


def encoded(codec: str) -> Callable[[bytes], bytes]:
    def change(body: bytes) -> bytes:
        text = body.decode("utf-8", errors="replace")
        return text.encode(codec, errors="replace")
    return change


def garbage(data: bytes) -> Callable[[bytes], bytes]:
    return lambda body: data


SPOILS = st.one_of(
    st.tuples(st.just("wrong type"), st.integers(0, 10**6), JSON_VALUES),
    st.tuples(st.just("huge"), st.integers(0, 10**6), st.integers(10**5, 3 * 10**6)),
    st.tuples(st.just("truncated"), st.floats(0.0, 0.99)),
    st.tuples(st.just("encoding"), st.sampled_from(["utf-16", "latin-1", "utf-32", "cp500"])),
    st.tuples(st.just("garbage"), st.binary(max_size=200)),
)


def _rewrite(spoil: tuple[Any, ...]) -> Callable[[bytes], bytes]:
    kind, *args = spoil
    makers: dict[str, Callable[..., Callable[[bytes], bytes]]] = {
        "wrong type": wrong_type, "huge": huge, "truncated": truncated, "encoding": encoded,
        "garbage": garbage}
    return makers[kind](*args)


_runner = CliRunner()


def _cli(ws: Workspace, *args: str) -> tuple[int, str]:
    from exporter.cli import cli

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EXPORTER_")}
    env["EXPORTER_CONFIG"] = str(ws.config)
    result = _runner.invoke(cli, list(args), env=env)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return 1, text + f"\nTraceback (most recent call last): {result.exception!r}"
    return result.exit_code, text


def check_one(ws: Workspace, vendor: str, after: int, spoil: tuple[Any, ...],
              expected: Content) -> list[str]:
    before = all_versions(ws.archive, ws.key_file)
    sandbox = ws.sandbox
    assert sandbox is not None
    fault = sandbox.faults.add(vendor, "rewrite", after=after, times=1, rewrite=_rewrite(spoil))
    try:
        code, text = _cli(ws, "sync", "--source", vendor)
    finally:
        sandbox.faults.clear()
    problems = []
    # Not "Traceback": the sandbox serves from this process, and its own threads print one
    # when a client hangs up mid-answer. exporter's crashes say "unexpected problem".
    if code not in (0, 11, 12) or "unexpected problem" in text:
        problems.append(f"sync exited {code}: {text[-400:]}")
    found = verify_problems(ws.archive, ws.key_file)
    if found:
        problems.append(f"verify after the spoiled sync: {found[:3]}")
    lost = before - all_versions(ws.archive, ws.key_file)
    if lost:
        problems.append(f"{len(lost)} earlier record versions are gone")
    code, text = _cli(ws, "sync")
    if code != 0:
        problems.append(f"the next normal sync exited {code}: {text[-300:]}")
    elif ws.content() != expected:
        got = ws.content()
        keys_got = {r[:4] for r in got.records}
        keys_want = {r[:4] for r in expected.records}
        if keys_want - keys_got:
            problems.append(f"after the next normal sync {len(keys_want - keys_got)} records "
                            f"are missing (or marked deleted), {len(keys_got - keys_want)} "
                            "extra")
        else:
            # Every record is there, live or deleted as it should be, but some hold what the
            # spoiled (still readable) response said, or a spoiled id was archived as a
            # record of its own: archived as sent. An unchanged record is not read again
            # until the vendor changes it (an invented id goes at the weekly id check).
            # Earlier versions stay.
            return ["as sent", *problems]
    if fault.fired == 0:
        problems.append("the spoiled response was never asked for")  # `after` too large
    return problems


def run(ctx: object, seed_: int, count: int, only_case: int | None = None) -> Tally:
    from reliability.campaign import Campaign

    assert isinstance(ctx, Campaign)
    tally = Tally("malformed", seed_)
    base = ctx.bases["synced"]
    with scratch("malformed-expected") as root:
        ws = base.clone(root / "ws")
        code, text = _cli(ws, "sync")
        if code != 0:
            raise RuntimeError(f"an unspoiled sync fails: {text[-500:]}")
        expected = ws.content()
        counts = {v: 0 for v in VENDORS}
        ctx.sandbox.log.clear()
        _cli(base.clone(root / "count"), "sync")
        for vendor in VENDORS:
            counts[vendor] = ctx.sandbox.log.count(vendor)
    cases = iter(range(10**9))

    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @seed(seed_)
    @given(vendor=st.sampled_from(VENDORS), pick=st.integers(0, 10**6), spoil=SPOILS)
    def one(vendor: str, pick: int, spoil: tuple[Any, ...]) -> None:
        case = next(cases)
        if only_case is not None and case != only_case:
            return
        after = pick % max(1, counts[vendor])
        with scratch("malformed") as root:
            ws = base.clone(root / "ws")
            problems = check_one(ws, vendor, after, spoil, expected)
        tally.tried += 1
        tally.count(f"{vendor} {spoil[0]}")
        if problems[:1] == ["as sent"]:
            problems = problems[1:]
            tally.count("a readable spoil archived as sent")
        if problems:
            tally.fail(case, "; ".join(problems), vendor=vendor, after=after,
                       spoil=repr(spoil)[:300])
        tally.progress(50)

    one()
    return tally



