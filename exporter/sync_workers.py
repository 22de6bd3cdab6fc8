"""Sources synced side by side: one worker thread per source reads from its vendor, and the
thread that opened the archive is its one writer.

SQLCipher connections belong to the thread that opened them, and one writer keeps the
archive's transactions in order; what takes a night's time is waiting for the vendors. So
each source's sync runs in a worker thread of its own, whose every archive call (and every
progress report, for the terminal's sake) is handed to the writer (:class:`Desk`) and waited
for: at most one call per worker waits at a time, so the hand-over queue is bounded by the
number of sources. A night takes about as long as its slowest source, plus the writing.

File bodies are consumed by the archive as they are read, so a download runs on the writer
while it stores the file: downloads do not overlap with other sources' writes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

__all__ = ["Desk", "Proxy", "run_side_by_side"]

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

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the owner's thread; its result or its exception, here."""
        if threading.get_ident() == self.owner:
            return fn()
        if self.aborted:
            raise _Aborted
        done, box = threading.Event(), cast(list[Any], [])
        self.calls.put((fn, done, box))
        while not done.wait(_POLL):
            if self.aborted:
                raise _Aborted
        ok, value = box
        if not ok:
            raise value
        return cast(T, value)

    def serve(self, workers: list[threading.Thread]) -> None:
        """Run the workers' calls until every worker has ended."""
        while True:
            try:
                fn, done, box = self.calls.get(timeout=_POLL)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and self.calls.empty():
                    return
                continue
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


def run_side_by_side(jobs: Iterable[tuple[str, Callable[[Desk], T]]]) -> dict[str, T]:
    """Run each job (name, fn(desk)) in a thread of its own, serving their desk calls on
    this thread; {name: result}. The first exception a job raises (an archive error, an
    interrupt here) stops the others at their next desk call and is raised here."""
    desk = Desk()
    results: dict[str, T] = {}
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
    for t in threads:
        t.start()
    try:
        desk.serve(threads)
    except BaseException:
        desk.aborted = True  # an interrupt: the workers stop at their next archive call
        raise
    if errors:
        raise errors[0]
    return results
