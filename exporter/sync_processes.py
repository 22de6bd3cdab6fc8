"""Sources synced in worker processes: each source's reading runs in a child process of its
own, and the parent, which holds the one archive connection, is its one writer.

On a CPU-bound night (SDK parsing, our transforms) threads share one interpreter lock and
the sources take as long side by side as one after another; processes do not. The child is
started with ``spawn`` on every platform (the only start method Windows has), so there is one
tested path. It rebuilds its connector from what built it (:class:`Recipe`: the class by
module and qualified name, the source's name, settings and secrets); the secrets travel only
through the pipe, never on a command line, in the environment or in a file.

The wire (a :func:`multiprocessing.Pipe` per child; tuples, pickled):

    parent -> child   ("start", job, recipe, log levels)
                      ("ok", value) | ("err", wired exception)      an answer to a call
    child -> parent   ("call", target, method, args, kwargs)         archive or progress
                      ("file", run_id, media_type), ("chunk", bytes)..., ("end",) | ("fail", e)
                      ("log", LogRecord attributes)                   any time, no answer
                      ("done", result) | ("raised", wired exception) | ("broken", message)

A file body goes chunk by chunk (at most the archive's chunk size each) straight into the
parent's ``put_file``: neither side ever holds a whole file. Log records are formatted in the
child and handled by the parent's loggers, so the log file is the parent's. A child ignores
Ctrl-C (the parent, interrupted too, ends it) and ends itself when the parent is gone (a
watchdog thread on :func:`multiprocessing.parent_process`), so no child outlives its run.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from exporter.archive.files import CHUNK_SIZE, rechunk
from exporter.record import HashedRecord, Record

__all__ = ["ChildTraceback", "Children", "Recipe", "WorkerLost", "recipe_for", "start_child"]

log = logging.getLogger("exporter.sync")

#: ``spawn`` everywhere: a fresh interpreter, the only start method Windows has.
CONTEXT = multiprocessing.get_context("spawn")
#: Seconds a child is given to end after terminate() before it is killed.
_GRACE = 5.0


class ChildTraceback(Exception):
    """The traceback of an exception raised in a worker process, kept as its cause."""


class Aborted(Exception):
    """The run is ending (an archive error or an interrupt elsewhere): this worker stops."""


class _Gone(Exception):
    """A worker process ended without its last word (killed, crashed)."""


@dataclass(frozen=True)
class WorkerLost:
    """What a source's worker process left when it ended without finishing: why, plainly."""

    message: str


@dataclass(frozen=True)
class Recipe:
    """What built a connector: enough to build it again in another process."""

    module: str
    qualname: str
    source: str
    config: Mapping[str, Any]
    secrets: Mapping[str, str]

    def __repr__(self) -> str:  # never the secrets
        return f"Recipe({self.module}:{self.qualname}, {self.source!r})"

    def build(self) -> Any:
        return _resolve(self.module, self.qualname)(self.source, self.config, self.secrets)


def _resolve(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def recipe_for(connector: Any) -> Recipe | None:
    """How to build ``connector`` again in a child, or None when it cannot be (its class is
    not importable by name, e.g. defined inside a function or in ``__main__``, or its
    settings do not pickle): such a source is read in a thread instead."""
    cls = type(connector)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return None
    try:
        if _resolve(cls.__module__, cls.__qualname__) is not cls:
            return None
        recipe = Recipe(cls.__module__, cls.__qualname__, connector.source,
                        dict(connector.config), dict(connector.secrets))
        pickle.dumps(recipe)
    except Exception:  # not importable, or settings that do not pickle: a thread, then
        return None
    return recipe


# -- exceptions on the wire ----------------------------------------------------------------


def wire(exc: BaseException) -> tuple[Any, ...]:
    """An exception as it crosses the pipe: pickled when it round-trips, else its class and
    message; with the child's traceback (frames only for a message naming clients)."""
    if getattr(exc, "personal", False):
        text = "".join(traceback.format_tb(exc.__traceback__))
    else:
        text = "".join(traceback.format_exception(exc))
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)  # noqa: S301 (our own bytes: does it come back whole?)
        return ("pickled", data, text)
    except Exception:  # a custom __init__, an SDK response in an attribute ...
        cls = type(exc)
        return ("plain", cls.__module__, cls.__qualname__, str(exc), text)


def unwire(wired: tuple[Any, ...]) -> BaseException:
    """The exception :func:`wire` sent: its class and plain message, the child's traceback
    as its cause (the log shows it)."""
    if wired[0] == "pickled":
        # our own child, over the pipe that already unpickles every message
        exc: BaseException = pickle.loads(wired[1])  # noqa: S301
    else:
        try:
            cls = _resolve(wired[1], wired[2])
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise TypeError(wired[2])
        except Exception:
            cls = RuntimeError
        exc = cls.__new__(cls)
        BaseException.__init__(exc, wired[3])
    if wired[-1]:
        exc.__cause__ = ChildTraceback(wired[-1].rstrip())
    return exc


# -- the child -------------------------------------------------------------------------------


class _Link:
    """The child's end of the pipe: one message at a time, from any thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.RLock()

    def send(self, *message: Any) -> None:
        with self.lock:
            self.conn.send(message)

    def ask(self, *message: Any) -> Any:
        """Send a call, wait for its answer: the value, or the exception raised here."""
        self.send(*message)
        return self.answer()

    def answer(self) -> Any:
        kind, value = self.conn.recv()
        if kind == "ok":
            return value
        if kind == "abort":
            raise Aborted
        raise unwire(value)

    def put_file(self, run_id: int | None, content: Any, media_type: str | None = None) -> Any:
        """The body chunk by chunk to the parent's ``put_file``; its FileInfo. The body
        comes read ahead (:meth:`FileBody.read_ahead`: its download does not hold up the
        writer); its first chunk is taken before the parent is asked, so a body refused at
        its start never reaches the parent."""
        chunks = rechunk(content, CHUNK_SIZE)
        first = next(chunks, b"")  # refused here, the parent never hears of the file
        self.send("file", run_id, media_type)
        try:
            self.send("chunk", first)
            for chunk in chunks:
                self.send("chunk", chunk)
        except BaseException as exc:
            self.send("fail", wire(exc))
            with contextlib.suppress(Exception):
                self.answer()  # the parent's put_file raises what we sent: ours is the one
            raise
        self.send("end")
        return self.answer()


class _Remote:
    """The archive or the progress as the child sees it: every method call is the parent's."""

    def __init__(self, link: _Link, target: str) -> None:
        self._link = link
        self._target = target

    def __getattr__(self, name: str) -> Any:
        if self._target == "archive" and name == "put_file":
            return self._link.put_file
        if self._target == "archive" and name == "put_batch":
            return self._put_batch

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._link.ask("call", self._target, name, args, kwargs)
        return call

    def _put_batch(self, run_id: int, source: str, stream: str, records: Iterable[Any],
                   **kwargs: Any) -> Any:
        """The records' canonical JSON and hashes made here, in parallel with the other
        workers, not by the one writer (which needs nothing else of their data)."""
        hashed = [HashedRecord.of(r) if isinstance(r, Record) else r for r in records]
        return self._link.ask("call", "archive", "put_batch",
                              (run_id, source, stream, hashed), kwargs)


class _Forward(logging.Handler):
    """Hands each record, formatted, to the parent's loggers."""

    def __init__(self, link: _Link) -> None:
        super().__init__()
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attrs = {k: v for k, v in record.__dict__.items()
                     if v is None or isinstance(v, (str, int, float, bool))}
            attrs["msg"], attrs["args"] = record.getMessage(), None
            if record.exc_info and not record.exc_text:
                attrs["exc_text"] = logging.Formatter().formatException(record.exc_info)
            attrs["exc_info"] = None
            self.link.send("log", attrs)
        except Exception:
            self.handleError(record)


def _watch_parent() -> None:
    """End this process as soon as the parent is gone (killed: nobody will read us)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(70)


def child_main(conn: Connection) -> None:
    """A worker process: build the connector, run the job against the parent's archive and
    progress, say how it ended."""
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent, interrupted too, ends us
    threading.Thread(target=_watch_parent, name="watch-parent", daemon=True).start()
    link = _Link(conn)
    try:
        _kind, job, recipe, levels = conn.recv()
    except EOFError:
        return
    root = logging.getLogger()
    root.addHandler(_Forward(link))
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    try:
        connector = recipe.build()
    except BaseException as exc:
        log.error("the %s connector could not be started in its worker process", recipe.source,
                  exc_info=exc)
        link.send("broken", f"{type(exc).__name__} while starting")
        return
    try:
        result = job(_Remote(link, "archive"), _Remote(link, "progress"), connector)
    except Aborted:
        return
    except BaseException as exc:
        link.send("raised", wire(exc))
        return
    link.send("done", result)


def start_child(name: str, job: Callable[..., Any], recipe: Recipe) -> Child:
    """A worker process for source ``name`` running ``job(archive, progress, connector)``."""
    mine, theirs = CONTEXT.Pipe()
    proc = CONTEXT.Process(target=child_main, args=(theirs,), name=f"sync-{name}",
                           daemon=True)
    proc.start()
    theirs.close()
    levels = {"": logging.getLogger().getEffectiveLevel(),
              "exporter": logging.getLogger("exporter").getEffectiveLevel()}
    child = Child(name, proc, mine)
    try:
        mine.send(("start", job, recipe, levels))
    except OSError:
        pass  # it died already: its sentinel says so
    return child


# -- the parent ------------------------------------------------------------------------------


class Child:
    """The parent's side of one worker process."""

    def __init__(self, name: str, proc: Any, conn: Connection) -> None:
        self.name = name
        self.proc = proc
        self.conn = conn
        self.ended = False
        self.result: Any = None
        self.error: BaseException | None = None

    def recv(self) -> tuple[Any, ...]:
        """The next message that is not a log record (those are logged here on the way)."""
        while True:
            try:
                message: tuple[Any, ...] = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise _Gone(self.name) from exc
            if message[0] != "log":
                return message
            record = logging.makeLogRecord(message[1])
            logging.getLogger(record.name).handle(record)

    def lost(self) -> None:
        """The process ended (or its pipe broke) without its last word."""
        self.proc.join(_GRACE)
        code = self.proc.exitcode
        how = f"with exit code {code}" if code is not None else "without a word"
        self.finish(WorkerLost(
            f"The {self.name} sync stopped unexpectedly (its worker process ended {how}); "
            "what it stored before is kept and the next sync carries on from there, and "
            "if it happens again the log file has the details."))

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.ended, self.result, self.error = True, result, error
        self.conn.close()

    def stop(self) -> None:
        """End the process, whatever it is doing (it only reads; the archive is ours)."""
        if self.ended and self.error is None:
            self.proc.join(1.0)  # it said its last word and is on its way out
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(_GRACE)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(_GRACE)
        if not self.ended:
            self.ended = True
            self.conn.close()


class Children:
    """Serves the worker processes' calls on this process's archive and progress."""

    def __init__(self, targets: Mapping[str, Any]) -> None:
        self.targets = targets
        self.all: list[Child] = []
        self.aborting = False

    def add(self, child: Child) -> None:
        self.all.append(child)

    @property
    def live(self) -> list[Child]:
        return [c for c in self.all if not c.ended]

    def waitables(self) -> list[Any]:
        return [c.conn for c in self.live]

    def serve(self, ready: list[Any]) -> None:
        """One message from each child whose pipe is ``ready``; a child whose pipe is closed
        without its last word is lost (its source fails, the others go on)."""
        for child in self.live:
            if child.conn not in ready:
                continue
            try:
                self._serve_one(child)
            except _Gone:
                child.lost()

    def _serve_one(self, child: Child) -> None:
        message = child.recv()
        kind = message[0]
        if kind == "call":
            _, target, method, args, kwargs = message
            self._answer(child, lambda: getattr(self.targets[target], method)(*args, **kwargs))
        elif kind == "file":
            self._file(child, message[1], message[2])
        elif kind == "done":
            child.finish(message[1])
        elif kind == "raised":
            child.finish(error=unwire(message[1]))
        elif kind == "broken":
            child.proc.join(_GRACE)
            child.finish(WorkerLost(
                f"The {child.name} sync could not start its connector ({message[1]}); "
                "the log file has the details, and the next sync tries again."))
        else:
            raise _Gone(child.name)  # not our protocol: treat it as a crash

    def _answer(self, child: Child, fn: Callable[[], Any]) -> None:
        if self.aborting:
            self._send(child, ("abort", None))
            return
        try:
            value = fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except _Gone:
            raise
        except BaseException as exc:  # handed back to the worker that asked
            self._send(child, ("err", wire(exc)))
            return
        self._send(child, ("ok", value))

    def _send(self, child: Child, message: tuple[Any, Any]) -> None:
        try:
            child.conn.send(message)
        except OSError as exc:
            raise _Gone(child.name) from exc

    def _file(self, child: Child, run_id: int | None, media_type: str | None) -> None:
        state = {"chunks": 0, "largest": 0, "size": 0, "over": False}

        def chunks() -> Iterator[bytes]:
            while True:
                message = child.recv()
                if message[0] == "chunk":
                    state["chunks"] += 1
                    state["size"] += len(message[1])
                    state["largest"] = max(state["largest"], len(message[1]))
                    yield message[1]
                    continue
                state["over"] = True
                if message[0] == "end":
                    return
                raise unwire(message[1])  # the child's body failed: put_file rolls back

        def put() -> Any:
            try:
                return self.targets["archive"].put_file(run_id, chunks(), media_type)
            finally:
                while not state["over"]:  # put_file stopped early: the rest is not needed
                    if child.recv()[0] != "chunk":
                        state["over"] = True
                log.debug("%s: a file of %d bytes came from its worker in %d chunks "
                          "(largest %d bytes)", child.name, state["size"], state["chunks"],
                          state["largest"])
        self._answer(child, put)

    def stop_all(self) -> None:
        for child in self.all:
            child.stop()
