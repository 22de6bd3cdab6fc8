"""The connector contract: what a vendor package in ``connectors/`` provides.

A connector is a :class:`Connector` subclass holding one client for its vendor. It declares
its settings (:class:`exporter.settings.Setting` rows) and discovers its streams. Each
:class:`Stream` is declared by attributes (name, primary key, cursor field, ``depends_on``,
schema), in the manner of the Singer SDK, and owns its reading: ``read(cursor, full)`` yields
batches, each with the cursor that covers it; ``ids()`` lists every current id for
hard-delete reconciliation. The base class dispatches to the streams: a connector writes no
per-stream if-chains. A connector never touches SQL: the sync engine stores what it yields.

Third-party connectors import all of this from :mod:`exporter.plugin`, their one surface.

Errors: a connector raises :class:`exporter.errors.SourceError` subclasses, mapped from its
SDK's exceptions in one place (its client) with the cause kept; the shared
:class:`exporter.retry.RetryPolicy` retries :class:`~exporter.errors.TransientError`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, ClassVar

from exporter.errors import SourceError
from exporter.record import Record
from exporter.settings import Setting

#: How much of a file body a source reads before handing it to the archive
#: (:meth:`FileBody.read_ahead`).
PREFETCH_BYTES = 16 * 1024 * 1024

__all__ = ["Batch", "CheckResult", "Connector", "FileBody", "Record", "SourceState", "Stream",
           "UnavailableStream", "order_streams"]


@dataclass
class FileBody:
    """A file to archive with a record: ``open()`` returns the bytes as an iterable of chunks
    (called only when the file is not archived already)."""

    name: str
    open: Callable[[], Iterable[bytes]]
    media_type: str | None = None
    #: What to archive instead when the vendor refuses this body alone (``open()`` raises
    #: :class:`~exporter.errors.ItemRefused`), e.g. a plain-text export of a document too
    #: large to export as PDF.
    fallback: FileBody | None = None

    def read_ahead(self, limit: int = PREFETCH_BYTES) -> Iterable[bytes]:
        """``open()``'s chunks with the first ``limit`` bytes already read (all of a smaller
        body): read where the source runs (its worker), a download never holds up the one
        archive writer, which the other sources share; a larger body streams on from there.
        Held in memory only, never on disk in plain text."""
        rest = iter(self.open())
        head: list[bytes] = []
        size = 0
        for chunk in rest:
            head.append(chunk)
            size += len(chunk)
            if size >= limit:
                return itertools.chain(head, rest)
        return head


@dataclass
class Batch:
    """Records read together, and the stream's cursor once they are stored."""

    records: list[Record]
    cursor: Any = None  # JSON-serialisable; None leaves the stored cursor as it is
    files: dict[str, list[FileBody]] = field(default_factory=dict)  # by record id
    reset: bool = False  # the cursor was reset (e.g. an expired sync token): a full read
    #: The records hold some fields only (Salesforce's ``Id`` and calculated fields, read
    #: again each night): each is merged into its archived current version, and a new
    #: version is stored only where a value changed; ids the archive lacks are ignored.
    partial: bool = False


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    what: str  # "Log in to Salesforce as office@agency.org"
    detail: str = ""  # on failure: what happened and the fix to try


class Stream:
    """One kind of record in a source, and its reader.

    Declared by class attributes; a stream found at run time (one per Salesforce object or
    HubSpot object type) passes them to ``__init__`` instead::

        class OwnersStream(Stream):
            name = "owners"
            primary_key = "id"
            reconcile = True
            schema = OWNER_SCHEMA

            def read(self, cursor, full=False): ...
            def ids(self): ...
    """

    name: str = ""
    primary_key: str = "id"
    #: The field whose newest value is the stream's cursor (None: read in full each run, or
    #: a vendor token such as a Drive page token).
    cursor_field: str | None = None
    #: JSON Schema of a record's data.
    schema: Mapping[str, Any] | None = None
    #: ``ids()`` works: hard deletes can be found by comparing ids.
    reconcile: bool = False
    #: Streams of the same source that must be read before this one in a run (HubSpot
    #: associations read the ids its object streams found changed).
    depends_on: tuple[str, ...] = ()
    description: str = ""

    def __init__(self, name: str | None = None, primary_key: str | None = None,
                 cursor_field: str | None = None, schema: Mapping[str, Any] | None = None,
                 *, reconcile: bool | None = None, depends_on: Iterable[str] | None = None,
                 description: str | None = None) -> None:
        given = {"name": name, "primary_key": primary_key, "cursor_field": cursor_field,
                 "schema": schema, "reconcile": reconcile, "description": description,
                 "depends_on": None if depends_on is None else tuple(depends_on)}
        for attr, value in given.items():
            if value is not None:
                setattr(self, attr, value)
        if not self.name:
            raise TypeError(f"{type(self).__name__} has no name")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def archived_schema(self) -> Any:
        """What the archive keeps as this stream's schema for this run (the describe output,
        property definitions ...); by default the JSON Schema."""
        return dict(self.schema or {})

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        """Batches of records changed since ``cursor`` (all records if ``full`` or no cursor).
        Deleted records come as tombstones (``Record(deleted=True)``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot read")

    def ids(self) -> Iterator[str]:
        """Every id the source holds now in this stream (for hard-delete reconciliation)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its ids")

    def find_deleted(self, archived: AbstractSet[str]) -> Iterable[str] | None:
        """The nightly check for deletions, run after ``read`` when the full id comparison is
        not due: which of ``archived`` (the ids live in the archive, this run's reads
        included) the source no longer holds, found cheaply (a count that matches needs no
        listing; merges and archived records seen by this run's read). None (the default):
        no cheap check, deletions wait for the full id comparison."""
        return None

    def retry_items(self, ids: list[str]) -> Iterator[Batch]:
        """These records again (items a vendor refused on an earlier run, e.g. a document
        over an export limit), as batches without a cursor. By default nothing: the item
        is tried again when the stream next reads it as changed."""
        return iter(())


class UnavailableStream(Stream):
    """A stream that discovery found but could not prepare (one object type refused, its
    describe failed): kept in the list so that the sync reports it failed and goes on with
    the others, instead of the whole source failing. Reading it raises the kept error."""

    def __init__(self, name: str, error: SourceError) -> None:
        super().__init__(name, description="could not be read this run")
        self.error = error

    def archived_schema(self) -> Any:
        raise self.error

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        raise self.error


def order_streams(streams: Iterable[Stream], source: str) -> list[Stream]:
    """``streams`` with each one after those it ``depends_on``, otherwise in the order given.
    A dependency on a stream that is not there, or a cycle, is the connector's bug: a
    SourceError that names it."""
    pending = list(streams)
    names = {s.name for s in pending}
    for s in pending:
        missing = [d for d in s.depends_on if d not in names]
        if missing:
            raise SourceError(f"The {source} stream {s.name} needs {', '.join(missing)}, which "
                              "this source does not have; report this to the connector's "
                              "authors.")
    done: list[Stream] = []
    placed: set[str] = set()
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= placed]
        if not ready:
            cycle = ", ".join(s.name for s in pending)
            raise SourceError(f"The {source} streams {cycle} depend on each other; report "
                              "this to the connector's authors.")
        for s in ready:
            done.append(s)
            placed.add(s.name)
        pending = [s for s in pending if s.name not in placed]
    return done


class SourceState:
    """What a connector keeps between runs besides its streams' cursors (Salesforce's
    describes and when they were read), by key, as JSON values. This one lives in memory;
    the sync gives each connector one kept in the archive (``archive_meta``)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def put(self, key: str, value: Any) -> None:
        self._values[key] = value


class Connector:
    """Base class of connectors. Subclasses set ``name`` and ``settings`` and implement
    :meth:`discover` and :meth:`check`; reading is the streams' work."""

    name: ClassVar[str] = ""
    #: Every setting of a ``[sources.NAME]`` table of this type (besides ``type``).
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: The streams a typical account has, for ``exporter connectors`` (documentation only;
    #: streams() is the truth).
    known_streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        self.source = source
        self.config = config
        self.secrets = secrets
        self.log = log or logging.getLogger(f"exporter.connectors.{source}")
        #: kept between runs (the sync replaces it with one kept in the archive)
        self.state = SourceState()
        #: Whether discovery must ask the vendor what exists now (new object types) rather
        #: than trust what it cached: the sync sets it before streams(), True with --full
        #: and on the id-check cadence (``reconcile_every_days`` / ``_runs``).
        self.rediscover = True

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The settings whose values are secrets (resolved from env, keyring or a file)."""
        return tuple(s.name for s in cls.settings if s.secret)

    def check(self) -> list[CheckResult]:
        """Test credentials and reach; never raises for a foreseeable problem."""
        raise NotImplementedError

    def discover(self) -> list[Stream]:
        """The streams this source has (may ask the API, e.g. describe)."""
        raise NotImplementedError

    def streams(self) -> list[Stream]:
        """The streams to read, each after those it depends on."""
        return order_streams(self.discover(), self.source)

    def schema(self, stream: Stream) -> Any:
        """What to archive as this stream's schema for this run."""
        return stream.archived_schema()

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        """The stream's batches since ``cursor`` (see :meth:`Stream.read`)."""
        return stream.read(cursor, full)

    def retry_items(self, stream: Stream, ids: list[str]) -> Iterator[Batch]:
        """Records refused on an earlier run, again (see :meth:`Stream.retry_items`)."""
        return stream.retry_items(ids)

    def find_deleted(self, stream: Stream, archived: AbstractSet[str]) -> Iterable[str] | None:
        """Archived ids the source no longer holds, found cheaply, or None (see
        :meth:`Stream.find_deleted`)."""
        return stream.find_deleted(archived)

    def list_ids(self, stream: Stream) -> Iterator[str]:
        """Every id the source holds now in the stream (see :meth:`Stream.ids`)."""
        return stream.ids()

    def usage(self) -> dict[str, Any]:
        """API usage seen so far (requests, quota remaining), for the run's stats."""
        return {}

    def close(self) -> None:
        """Release connections."""
