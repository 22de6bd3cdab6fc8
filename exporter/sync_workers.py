"""Sources synced side by side: one worker per source reads from its vendor (a thread, or a
process: :mod:`exporter.sync_processes`), and the thread that opened the archive is its one
writer.

SQLCipher connections belong to the thread that opened them, and one writer keeps the
archive's transactions in order; what takes a night's time is waiting for the vendors. So
each source's sync runs in a worker thread of its own, whose every archive call (and every
progress report, for the terminal's sake) is handed to the writer (:class:`Desk`) and waited
for: at most one call per worker waits at a time, so the hand-over queue is bounded by the
number of sources. A night takes about as long as its slowest source, plus the writing.

A file body is read in its source's worker first (:meth:`FileBody.read_ahead`, up to 16 MiB
in memory), so a download does not hold up the other sources' writes; a larger body streams
on while the writer stores it.

Threads share the interpreter lock: on a CPU-bound night (the SDKs' parsing, our transforms)
sources in threads take as long side by side as one after another. Worker processes do not;
:func:`run_side_by_side` serves both kinds in one loop (a thread's call wakes it through a
pipe, so one :func:`multiprocessing.connection.wait` covers threads and processes).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

from exporter.sync_processes import CONTEXT, Children, Recipe, WorkerLost, start_child

__all__ = ["Desk", "Proxy", "WorkerLost", "run_side_by_side"]

T = TypeVar("T")
_POLL = 0.05  # seconds the writer waits for work before looking at its workers again


class _Aborted(Exception):
    """The run is ending (an archive error or an interrupt in another source): stop."""


class Desk:
    """Runs calls from worker threads on the thread that made it (the archive's owner)."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.calls: queue.Queue[tuple[Callable[[], Any], threading.Event, list[Any]]] = (
            queue.Queue())
        self.aborted = False
        #: Written to at each call when processes are served too (see :meth:`run_queued`).
        self.wake: tuple[Connection, Connection] | None = None
        self.wake_lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the owner's thread; its result or its exception, here."""
        if threading.get_ident() == self.owner:
            return fn()
        if self.aborted:
            raise _Aborted
        done, box = threading.Event(), cast(list[Any], [])
        self.calls.put((fn, done, box))
        if self.wake is not None:
            with self.wake_lock:
                self.wake[1].send_bytes(b"")
        while not done.wait(_POLL):
            if self.aborted:
                raise _Aborted
        ok, value = box
        if not ok:
            raise value
        return cast(T, value)

    def run_queued(self) -> None:
        """Run the calls waiting now (the loop that also serves processes)."""
        if self.wake is not None:
            while self.wake[0].poll():
                self.wake[0].recv_bytes()
        while True:
            try:
                fn, done, box = self.calls.get_nowait()
            except queue.Empty:
                return
            self._run(fn, done, box)

    def serve(self, workers: list[threading.Thread]) -> None:
        """Run the workers' calls until every worker has ended."""
        while True:
            try:
                fn, done, box = self.calls.get(timeout=_POLL)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and self.calls.empty():
                    return
                continue
            self._run(fn, done, box)

    @staticmethod
    def _run(fn: Callable[[], Any], done: threading.Event, box: list[Any]) -> None:
        try:
            box.extend((True, fn()))
        except (KeyboardInterrupt, SystemExit):
            box.extend((False, _Aborted()))  # the interrupt is this thread's to raise
            done.set()
            raise
        except BaseException as exc:  # handed back to the worker that asked
            box.extend((False, exc))
        done.set()


class Proxy:
    """An object whose method calls run on the desk's thread (the archive, the progress)."""

    def __init__(self, target: Any, desk: Desk) -> None:
        self._target = target
        self._desk = desk

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._desk.call(lambda: attr(*args, **kwargs))
        return call


#: A source read in a worker process: its name, ``job(archive, progress, connector)`` (a
#: picklable callable) and how to build its connector there.
ChildJob = tuple[str, Callable[..., Any], Recipe]


def run_side_by_side(jobs: Iterable[tuple[str, Callable[[Desk], T]]],
                     children: Iterable[ChildJob] = (),
                     targets: Mapping[str, Any] | None = None) -> dict[str, T | WorkerLost]:
    """Run each job (name, fn(desk)) in a thread of its own, and each child job in a worker
    process, serving their calls on this thread (a child's on ``targets``, by name);
    {name: result}, a :class:`WorkerLost` for a process that ended without finishing. The
    first exception a job raises (an archive error, an interrupt here) stops the others (a
    thread at its next desk call, a process at once) and is raised here."""
    desk = Desk()
    results: dict[str, T | WorkerLost] = {}
    errors: list[BaseException] = []

    def worker(name: str, fn: Callable[[Desk], T]) -> None:
        try:
            results[name] = fn(desk)
        except _Aborted:
            pass
        except BaseException as exc:
            errors.append(exc)
            desk.aborted = True

    threads = [threading.Thread(target=worker, args=job, name=f"sync-{job[0]}", daemon=True)
               for job in jobs]
    kids = list(children)
    served = Children(targets or {})
    if kids:
        desk.wake = CONTEXT.Pipe(duplex=False)
    try:
        for name, job, recipe in kids:
            served.add(start_child(name, job, recipe))
        for t in threads:
            t.start()
        if kids:
            _serve_both(desk, threads, served, errors)
        else:
            desk.serve(threads)
    except BaseException:
        desk.aborted = served.aborting = True  # the workers stop at their next call
        raise
    finally:
        served.stop_all()
        for end in desk.wake or ():
            end.close()
    if errors:
        raise errors[0]
    for child in served.all:
        results[child.name] = child.result
    return results


def _serve_both(desk: Desk, threads: list[threading.Thread], served: Children,
                errors: list[BaseException]) -> None:
    """Serve threads and processes until all have ended; the first error stops the rest."""
    assert desk.wake is not None
    while True:
        ready = wait([desk.wake[0], *served.waitables()], timeout=0.5)
        desk.run_queued()
        served.serve(cast(list[Any], ready))
        failed = [c for c in served.all if c.error is not None]
        if failed and not served.aborting:
            errors.insert(0, cast(BaseException, failed[0].error))
            desk.aborted = served.aborting = True
            served.stop_all()  # readers only: nothing of theirs is half-written
        if errors and not served.aborting:
            desk.aborted = served.aborting = True
            served.stop_all()
        if not served.live and not any(t.is_alive() for t in threads):
            desk.run_queued()
            if desk.calls.empty():
                return
