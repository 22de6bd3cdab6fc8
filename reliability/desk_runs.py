"""The care-plan desk under the campaign: ``exporter desk`` as a real process on a free
loopback port of a workspace (with a staff account), used over HTTP as a browser would.

Two uses: the kills family's ``desk`` subject (a desk SIGKILLed while it serves views and
prints, the write lock held as by the nightly sync, so every audit entry waits in the sealed
journal; the next desk's start must copy each of them into the audit log once) and the
concurrency family's desk beside a whole sync (every page served, every audit entry landing
once the sync frees the lock)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from exporter.archive import Archive
from exporter.keys import KeyFile
from reliability.common import CRASH_MARKS, Content, Workspace, lock_is_free, verify_problems

STAFF, ROLE, PASSWORD = "nora", "office", "lantern orchard violet"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BACKED_UP = re.compile(r'id="backed-up">(Backed up as of [^<]+|Not backed up yet)<')


def add_staff_account(ws: Workspace) -> None:
    from exporter.desk.staff import add_staff

    with Archive.open(ws.archive, KeyFile(ws.key_file), write=True) as archive:
        add_staff(archive, STAFF, ROLE, PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningDesk:
    proc: subprocess.Popen[bytes]
    url: str
    output: Path

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """Ctrl-C's way out (the journal flushed on the way); what it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.text()


def start_desk(ws: Workspace, timeout: float = 180) -> RunningDesk:
    """``exporter desk`` in its own process; returns once it answers."""
    import requests

    port = _free_port()
    output = ws.root / f"desk-{port}.out"
    with open(output, "wb") as sink:
        proc = subprocess.Popen(ws.argv("desk", "--port", str(port)),
                                env=ws.env(NO_PROXY="*"), cwd=ws.root, stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    desk = RunningDesk(proc, f"http://127.0.0.1:{port}/", output)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the desk stopped at its start: {desk.text()[-600:]}")
        try:
            requests.get(desk.url + "login", timeout=5)
            return desk
        except requests.RequestException:
            time.sleep(0.2)
    desk.proc.kill()
    desk.proc.wait()
    raise RuntimeError(f"the desk did not answer in {timeout:.0f} s: {desk.text()[-600:]}")


def _session() -> object:
    import requests

    s = requests.Session()
    s.trust_env = False  # no proxy between the campaign and the loopback desk
    return s


def login(desk: RunningDesk) -> object:
    s = _session()
    form = s.get(desk.url + "login", timeout=60)  # type: ignore[attr-defined]
    token = CSRF.search(form.text)
    assert token, form.text[-300:]
    done = s.post(desk.url + "login", timeout=60,  # type: ignore[attr-defined]
                  data={"name": STAFF, "password": PASSWORD, "csrf": token.group(1)})
    if done.status_code != 200 or "/login" in done.url:
        raise RuntimeError(f"the desk refused the campaign's login ({done.status_code})")
    return s


def client_numbers(ws: Workspace) -> list[str]:
    from exporter.careplan.definition import load_definition
    from exporter.careplan.roster import roster

    with Archive.open(ws.archive, KeyFile(ws.key_file)) as archive:
        return [c.display_key for c, _status, _gone in roster(archive, load_definition(None))]


def client_tokens(desk: RunningDesk, s: object, numbers: list[str]) -> list[str]:
    """The desk's link for each client (found by number, as staff would)."""
    tokens = []
    for number in numbers:
        home = s.get(desk.url, timeout=60)  # type: ignore[attr-defined]
        found = s.post(desk.url + "search", timeout=60,  # type: ignore[attr-defined]
                       data={"q": number, "csrf": CSRF.search(home.text).group(1)})  # type: ignore[union-attr]
        tokens += re.findall(r'href="/client/([^"/]+)"', found.text)[:1]
    if not tokens:
        raise RuntimeError("the desk found none of the archive's clients")
    return tokens


@dataclass
class Traffic:
    """Views and prints, one after the other over the clients, from a thread, until stopped.
    ``done`` counts the answers received in full, by the audit action they make."""

    desk: RunningDesk
    session: object
    tokens: list[str]
    done: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    broken: int = 0  # requests cut by a kill
    _stop: threading.Event = field(default_factory=threading.Event)
    #: Set just before the desk is killed: a request cut after it is the kill's doing.
    killing: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Traffic:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        return self

    def _loop(self) -> None:
        import requests

        n = 0
        while not self._stop.is_set():
            token = self.tokens[n % len(self.tokens)]
            view = n % 2 == 0
            n += 1
            path = f"client/{token}" if view else f"client/{token}/plan.pdf"
            try:
                got = self.session.get(self.desk.url + path, timeout=120)  # type: ignore[attr-defined]
            except requests.RequestException:
                if not self.killing.is_set():
                    self.problems.append(f"GET /{path.split('/')[-1]} failed with the desk "
                                         "running")
                self.broken += 1
                return
            problem = _answer_problem(got, view)
            if problem:
                self.problems.append(problem)
            else:
                self.done["desk.view" if view else "desk.print"] += 1


def _answer_problem(got: object, view: bool) -> str:
    status, body = got.status_code, got.content  # type: ignore[attr-defined]
    if status != 200:
        return f"a {'view' if view else 'print'} answered {status}: {body[-200:]!r}"
    if view and not BACKED_UP.search(got.text):  # type: ignore[attr-defined]
        return "a client page without its 'Backed up as of' line"
    if not view and not (body.startswith(b"%PDF") and b"%%EOF" in body[-1024:]):
        return "a print that is not a whole PDF"
    return ""


def desk_entries(ws: Workspace) -> list[dict[str, object]]:
    with Archive.open(ws.archive, KeyFile(ws.key_file)) as archive:
        return archive.audit_entries("desk")


def audit_problems(entries: list[dict[str, object]], done: Counter[str],
                   exact: bool) -> list[str]:
    """Each answered view and print in the audit log, none twice (``exact``: and no more:
    without a kill, nothing is audited that was not answered)."""
    ids = [e["detail"].get("entry") for e in entries]  # type: ignore[attr-defined]
    problems = []
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} desk audit entries copied twice")
    logged = Counter(str(e["action"]) for e in entries)
    for action, n in done.items():
        if logged[action] < n or (exact and logged[action] != n):
            problems.append(f"{action}: {n} answered, {logged[action]} in the audit log")
    return problems


def journal_lines(ws: Workspace) -> int:
    from exporter.desk.journal import journal_path_for

    path = journal_path_for(ws.archive)
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def crash_problems(text: str, who: str) -> list[str]:
    return [f"{who} printed {mark!r}: {text[-300:]}" for mark in CRASH_MARKS if mark in text]


def kill_desk_case(ws: Workspace, rng: Random, expected: Content | None) -> tuple[str, list[str]]:
    """A desk killed while serving, with the write lock held (or freed a moment before the
    kill, so that the kill may land while the desk copies its journal)."""
    from exporter.lock import ArchiveLock

    desk = start_desk(ws)
    s = login(desk)
    done = Counter({"desk.login": 1})
    lock = ArchiveLock(ws.archive).acquire()
    held = True
    try:
        traffic = Traffic(desk, s, client_tokens(desk, s, client_numbers(ws))).start()
        delay = rng.uniform(0.0, 3.0)
        if rng.random() < 0.3:  # the sync ends first: the desk copies its journal soon
            time.sleep(delay * rng.random())
            lock.release()
            held = False
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            time.sleep(delay)
        traffic.killing.set()
        os.kill(desk.proc.pid, signal.SIGKILL)
        desk.proc.wait()
        traffic.stop()
    finally:
        if held:
            lock.release()
        if desk.proc.poll() is None:
            desk.proc.kill()
            desk.proc.wait()
    done.update(traffic.done)
    waiting = journal_lines(ws)
    problems = traffic.problems + crash_problems(desk.text(), "the killed desk")
    problems += [f"verify after the kill: {p}" for p in verify_problems(ws.archive,
                                                                        ws.key_file)[:3]]
    return ("locked" if held else "lock freed first"), problems + _next_desk(
        ws, done, expected, waiting)


def _next_desk(ws: Workspace, done: Counter[str], expected: Content | None,
               waiting: int) -> list[str]:
    """The next desk's start copies what the killed one left; then every check."""
    problems = []
    try:
        again = start_desk(ws)
    except RuntimeError as exc:
        return [f"the next desk: {exc}"]
    left = journal_lines(ws)
    problems += crash_problems(again.stop(), "the next desk")
    if left:
        problems.append(f"{left} of {waiting} journal entries still waiting after the next "
                        "desk started with the lock free")
    problems += audit_problems(desk_entries(ws), done, exact=False)
    problems += [f"verify after the next desk: {p}"
                 for p in verify_problems(ws.archive, ws.key_file)[:3]]
    if not lock_is_free(ws.archive, ws.key_file):
        problems.append("the write lock is still held after the next desk stopped")
    if expected is not None and ws.content() != expected:
        problems.append("the records changed under the desk")
    return problems


def desk_beside_sync(ws: Workspace, expected: Content) -> tuple[Counter[str], list[str]]:
    """The desk serving views and prints through a whole sync: every answer whole, every
    page with its "Backed up as of" line, every audit entry in the log once the lock is
    free, exactly once. Returns what was served and the problems."""
    from exporter.desk.app import FLUSH_SECONDS

    desk = start_desk(ws)
    problems: list[str] = []
    try:
        s = login(desk)
        traffic = Traffic(desk, s, client_tokens(desk, s, client_numbers(ws))).start()
        time.sleep(0.3)
        sync = ws.run("sync")
        time.sleep(0.3)
        traffic.stop()
        if sync.code != 0:
            problems.append(f"the sync beside the desk exited {sync.code}: {sync.text[-300:]}")
        problems += traffic.problems
        done = Counter({"desk.login": 1}) + traffic.done
        # The desk copies its journal within FLUSH_SECONDS of the lock's release.
        deadline = time.monotonic() + 6 * FLUSH_SECONDS
        while journal_lines(ws) and time.monotonic() < deadline:
            time.sleep(0.5)
        if journal_lines(ws):
            problems.append(f"{journal_lines(ws)} audit entries still waiting in the journal "
                            f"{6 * FLUSH_SECONDS:.0f} s after the sync")
        problems += audit_problems(desk_entries(ws), done, exact=True)
    finally:
        problems += crash_problems(desk.stop(), "the desk beside a sync")
    problems += [f"verify: {p}" for p in verify_problems(ws.archive, ws.key_file)[:3]]
    if ws.content() != expected:
        problems.append("the content differs from one uninterrupted sync's")
    return done, problems
