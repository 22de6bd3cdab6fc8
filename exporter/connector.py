"""The connector contract: what a vendor module in ``connectors/`` provides.

A connector declares its streams and reads them in batches, each batch with the cursor that
covers it; it can list every current id (hard-delete reconciliation), hand over file bodies as
streams, and check its credentials. It never touches SQL: the sync engine stores what it yields.

Connectors are found by the entry-point group ``exporter.connectors`` (built-ins are
registered there too, in pyproject.toml); each entry point names a :class:`Connector`
subclass. Third-party packages add vendors the same way.

Errors: a connector raises :class:`SourceError` subclasses (from its own SDK's exceptions,
mapped in one place per connector); the shared :class:`exporter.retry.RetryPolicy` retries
:class:`TransientError` with backoff and ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar

from exporter.archive import Record
from exporter.errors import ConfigError, ExporterError

__all__ = [
    "AuthError",
    "Batch",
    "CheckResult",
    "Connector",
    "FileBody",
    "QuotaExhausted",
    "Record",
    "SourceError",
    "Stream",
    "TransientError",
    "load_connectors",
]

ENTRY_POINT_GROUP = "exporter.connectors"


class SourceError(ExporterError):
    """A source (vendor account) failed; the run goes on with the other sources."""


class AuthError(SourceError):
    """The source refused the credentials (wrong, expired or revoked)."""


class QuotaExhausted(SourceError):
    """The source's API quota for the day is used up (or our share of it)."""


class TransientError(SourceError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Stream:
    """One kind of record in a source."""

    name: str
    primary_key: str
    cursor_field: str | None = None
    schema: Mapping[str, Any] | None = None  # JSON Schema of a record's data
    reconcile: bool = False  # list_ids() works: hard deletes can be found
    description: str = ""


@dataclass
class FileBody:
    """A file to archive with a record: ``open()`` returns the bytes as an iterable of chunks
    (called only when the file is not archived already)."""

    name: str
    open: Callable[[], Iterable[bytes]]
    media_type: str | None = None


@dataclass
class Batch:
    """Records read together, and the stream's cursor once they are stored."""

    records: list[Record]
    cursor: Any = None  # JSON-serialisable; None leaves the stored cursor as it is
    files: dict[str, list[FileBody]] = field(default_factory=dict)  # by record id
    reset: bool = False  # the cursor was reset (e.g. an expired sync token): a full read


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    what: str  # "Log in to Salesforce as office@agency.org"
    detail: str = ""  # on failure: what happened and the fix to try


class Connector:
    """Base class of connectors. Subclasses set ``name`` and implement the methods."""

    name: ClassVar[str] = ""
    #: Config keys whose values are secrets (resolved from env, keyring or a file).
    secret_fields: ClassVar[tuple[str, ...]] = ()
    #: The streams a typical account has, for ``exporter connectors`` (documentation only;
    #: streams() is the truth).
    known_streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        self.source = source
        self.config = config
        self.secrets = secrets
        self.log = log or logging.getLogger(f"exporter.connectors.{source}")

    def check(self) -> list[CheckResult]:
        """Test credentials and reach; never raises for a foreseeable problem."""
        raise NotImplementedError

    def streams(self) -> list[Stream]:
        """The streams this source has (may ask the API, e.g. describe)."""
        raise NotImplementedError

    def schema(self, stream: Stream) -> Any:
        """What to archive as this stream's schema for this run (describe output, ...)."""
        return dict(stream.schema or {})

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        """Batches of records changed since ``cursor`` (all records if ``full`` or no cursor).
        Deleted records come as tombstones (``Record(deleted=True)``)."""
        raise NotImplementedError

    def list_ids(self, stream: Stream) -> Iterator[str]:
        """Every id the source holds now in this stream (for hard-delete reconciliation)."""
        raise NotImplementedError

    def usage(self) -> dict[str, Any]:
        """API usage seen so far (requests, quota remaining), for the run's stats."""
        return {}

    def close(self) -> None:
        """Release connections."""


@dataclass
class LoadedConnectors:
    classes: dict[str, type[Connector]]
    problems: dict[str, str]


def load_connectors() -> LoadedConnectors:
    """Every installed connector class by type name, and those that failed to load."""
    classes: dict[str, type[Connector]] = {}
    problems: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            problems[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            problems[ep.name] = "is not an exporter Connector"
            continue
        classes[ep.name] = cls
    return LoadedConnectors(classes, problems)


def connector_class(type_name: str) -> type[Connector]:
    loaded = load_connectors()
    if type_name in loaded.classes:
        return loaded.classes[type_name]
    if type_name in loaded.problems:
        raise ConfigError(f"The connector '{type_name}' is installed but failed to load "
                          f"({loaded.problems[type_name]}); reinstall it.")
    known = ", ".join(sorted(loaded.classes)) or "none"
    raise ConfigError(f"There is no connector of type '{type_name}' (installed: {known}).")
