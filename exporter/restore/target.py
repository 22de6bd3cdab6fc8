"""The writer contract: the write side of a connector, used by ``exporter restore``.

A *writer* restores records into one configured target (a HubSpot portal, a Salesforce org,
a folder of CSV files). The engine (exporter.restore.engine) hands it batches of
:class:`WriteItem` per target object, parents first, and records what it answers in the
archive's id map. A writer never touches SQL; the core never imports a vendor SDK.

Writers are found like connectors, by the entry-point group ``exporter.targets``; the
built-in ones (HubSpot, Salesforce, a CSV folder) are registered there in pyproject.toml.

Idempotency: an object with a *unique key* (``ObjectInfo.upsert``) is written by upsert on
that key, so resending a batch never duplicates. Other objects are created; the engine
first records the items as pending in the id map, and on the next run asks the writer to
:meth:`Writer.find` them (by their ``match`` fields) before creating anything again.

Errors: per-record failures come back as :class:`WriteResult` with the vendor's message;
a failing call raises ``SourceError`` subclasses (``TransientError`` is retried by
:class:`exporter.retry.RetryPolicy`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from exporter.errors import ConfigError

__all__ = [
    "FileItem",
    "Link",
    "ObjectInfo",
    "WriteItem",
    "WriteResult",
    "Writer",
    "build_writer",
    "target_table",
    "writer_class",
]

ENTRY_POINT_GROUP = "exporter.targets"
#: Writers shipped in the core, by target type.
@dataclass(frozen=True)
class ObjectInfo:
    """What the target knows of one object: its fields or properties (name -> type), the
    unique key to upsert by (None: create, then find pending ones by ``match`` fields)."""

    name: str
    fields: Mapping[str, str]
    upsert: str | None = None
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)  # picklists, enums
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Link:
    """A reference to restore: a lookup field (Salesforce) or an association (HubSpot)."""

    name: str  # the lookup field, or an association label for the log
    to_object: str
    to_id: str  # the target id of the record pointed at
    type_id: int | None = None  # HubSpot association type id (None: the default one)


@dataclass
class FileItem:
    """A file to restore with a record: its name and its bytes, chunk by chunk."""

    name: str
    size: int
    open: Any  # () -> Iterable[bytes]
    media_type: str | None = None


@dataclass
class WriteItem:
    key: str  # the engine's handle (source id); echoed in the result
    fields: dict[str, Any]
    links: list[Link] = field(default_factory=list)
    target_id: str | None = None  # known: update this record
    key_value: str | None = None  # the unique key's value, for upserts
    file: FileItem | None = None
    attempted: bool = False  # an earlier run may have sent it (look before uploading again)


@dataclass
class WriteResult:
    key: str
    target_id: str | None = None
    created: bool = False
    error: str | None = None  # the vendor's message


class Writer:
    """Base class of writers. Subclasses set ``name`` and implement the methods."""

    name: ClassVar[str] = ""
    secret_fields: ClassVar[tuple[str, ...]] = ()
    #: Items per write call (the vendor's batch limit).
    batch_size: int = 100

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        self.target = target
        self.config = config
        self.secrets = secrets
        self.log = log or logging.getLogger(f"exporter.restore.{target}")
        limit = type(self).batch_size
        # A smaller batch may be configured (e.g. to keep requests short); never a larger one.
        self.batch_size = max(1, min(int(config.get("batch_size", limit)), limit))

    def objects(self) -> list[str]:
        """The objects the target has (for suggestions in mapping errors)."""
        return []

    def describe(self, obj: str) -> ObjectInfo | None:
        """The object's fields and key, or None if the target has no such object."""
        raise NotImplementedError

    def ensure_fields(self, obj: str, fields: Mapping[str, str]) -> list[str]:
        """Create the custom fields/properties the mapping needs and the target lacks
        (name -> type: string, number, date, datetime, bool); returns those created."""
        return []

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        """Create or update (upsert when the object has a key) one batch; one result per
        item, in any order. ``match`` names the fields that identify a record of an object
        without a key (to look up creates a failed call may have applied before a retry)."""
        raise NotImplementedError

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        """Add references to records already written (the second pass for cycles)."""
        raise NotImplementedError

    def find(self, obj: str, items: list[WriteItem], match: list[str]) -> dict[str, str]:
        """Pending items the target already holds (equal on every ``match`` field, and not
        in ``exclude``): item key -> target id."""
        raise NotImplementedError

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Records by target id: field values, plus ``"@links"`` {link name: [target ids]}
        for the links named in ``links`` (name -> the object pointed at), for verification.
        Missing records are left out."""
        raise NotImplementedError

    def calls(self) -> int:
        """API calls made so far."""
        return 0

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def writer_class(type_name: str) -> type[Writer]:
    """The writer registered for a target type in the ``exporter.targets`` entry-point group
    (built-in writers are registered there too, in pyproject.toml)."""
    eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if type_name not in eps:
        raise ConfigError(f"There is no restore target of type '{type_name}' (known: "
                          f"{', '.join(sorted(eps)) or 'none'}).")
    try:
        cls = eps[type_name].load()
    except Exception as exc:  # a broken plugin must say so, not crash the restore
        raise ConfigError(f"The restore target '{type_name}' is installed but failed to load "
                          f"({type(exc).__name__}: {exc}); reinstall it.") from None
    if not (isinstance(cls, type) and issubclass(cls, Writer)):
        raise ConfigError(f"The restore target '{type_name}' is not an exporter Writer.")
    return cls


def target_table(config_raw: Mapping[str, Any], name: str, config_path: Path) -> Any:
    """The config's ``[targets.NAME]`` table (ConfigError naming the known ones)."""
    targets = config_raw.get("targets")
    targets = targets if isinstance(targets, Mapping) else {}
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none"
        from exporter.restore.mapping import nearest

        raise ConfigError(f"There is no restore target named '{name}' in {config_path} "
                          f"(targets: {known}){nearest(name, targets)}; add a [targets.{name}] "
                          'table, e.g. type = "csv" and path = "restore-csv".')
    return targets[name]


def build_writer(name: str, table: Mapping[str, Any], config_path: Path) -> Writer:
    """A writer for the config's ``[targets.NAME]`` table (secrets resolved)."""
    from exporter.secrets import split_settings

    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str):
        raise ConfigError(f"In {config_path}, [targets.{name}] needs a type, e.g. "
                          'type = "hubspot" or type = "csv".')
    cls = writer_class(table["type"])
    settings, secrets = split_settings(config_path, name, table, cls.secret_fields,
                                       kind="targets")
    return cls(name, settings, secrets)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
