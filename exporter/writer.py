"""The writer contract: the write side of a connector, used by ``exporter restore``.

Third-party targets import all of this from :mod:`exporter.plugin`, their one surface.

A *writer* restores records into one configured target (a HubSpot portal, a Salesforce org,
a folder of CSV files). The engine (exporter.restore.engine) hands it batches of
:class:`WriteItem` per target object, parents first, and records what it answers in the
archive's id map. A writer never touches SQL; the core never imports a vendor SDK.

Writers are found like connectors (:func:`exporter.plugin.plugin_class`), by the entry-point
group ``exporter.targets``; the built-in ones (HubSpot, Salesforce, a CSV folder) are
registered there in pyproject.toml.

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
from typing import Any, ClassVar

from exporter.settings import Setting

__all__ = ["BATCH_SIZE", "AnyFields", "FileItem", "Link", "ObjectInfo", "ObjectSchema",
           "WriteItem", "WriteResult", "Writer", "chunks"]

#: The setting every writer takes: a smaller batch than the vendor's limit, never a larger.
BATCH_SIZE = Setting("batch_size", "integer", "Records sent per write call (never more than "
                     "the vendor allows)", minimum=1)


class AnyFields(Mapping[str, str]):
    """The fields of an object that takes any column (a CSV file, a spreadsheet tab): every
    name is a string field, and none is listed."""

    def __getitem__(self, key: str) -> str:
        return "string"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)


@dataclass(frozen=True)
class ObjectInfo:
    """What the target knows of one object: its fields or properties (name -> type), the
    unique key to upsert by (None: create, then find pending ones by ``match`` fields)."""

    name: str
    fields: Mapping[str, str]
    upsert: str | None = None
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)  # picklists, enums
    required: frozenset[str] = frozenset()
    #: Every unique field a record can be upserted by (``upsert`` is the default one).
    keys: frozenset[str] = frozenset()
    #: Fields listed in ``fields`` that the target sets itself (never written).
    read_only: frozenset[str] = frozenset()
    #: Fields set on create only (a master-detail parent): a record whose such field must
    #: change is created again under its new value (moved).
    create_only: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ObjectSchema:
    """A custom object the restore creates where the target lacks it (a mapping's
    ``[objects.schema]``): its labels, its properties (name -> type, as ``create_fields``
    takes them, plus ``text``: a long text), the property that names a record, and the
    objects its records are associated with."""

    singular: str
    plural: str
    primary: str
    properties: Mapping[str, str]
    associated: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    searchable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """A reference to restore: a lookup field (Salesforce) or an association (HubSpot)."""

    name: str  # the lookup field, or an association label for the log
    to_object: str
    to_id: str  # the target id of the record pointed at
    type_id: int | None = None  # HubSpot association type id (None: the default one)
    label: str | None = None  # HubSpot: a label of the portal's own (made when missing)


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
    key_field: str | None = None  # the unique key upserted by (None: ObjectInfo.upsert)
    file: FileItem | None = None
    attempted: bool = False  # an earlier run may have sent it (look before uploading again)
    #: Every further file of the record (``file = "*"``: a Google Doc's PDF and Word
    #: versions), for targets that keep several (a CSV folder); others restore ``file``.
    more_files: list[FileItem] = field(default_factory=list)
    client: str = ""  # "name (number)" of the client it belongs to (a folder per client)


@dataclass
class WriteResult:
    key: str
    target_id: str | None = None
    created: bool = False
    error: str | None = None  # the vendor's message
    #: Fields the target refused and the record was written without (name -> the vendor's
    #: message): a partial record, never a dropped one.
    refused: dict[str, str] = field(default_factory=dict)
    #: The target's answer could not be read (so the write may have been applied): a failed
    #: create keeps its pending id-map row, and the next run looks the record up first.
    unsure: bool = False


class Writer:
    """Base class of writers. Subclasses set ``name`` and implement the methods."""

    name: ClassVar[str] = ""
    #: Every setting of a ``[targets.NAME]`` table of this type (besides ``type``).
    settings: ClassVar[tuple[Setting, ...]] = (BATCH_SIZE,)
    #: Items per write call (the vendor's batch limit).
    batch_size: int = 100
    #: The field in which every restored record carries its source id
    #: (``salesforce/Account/001...``), unique, created by the restore where missing
    #: (:meth:`ensure_source_key`): any re-run, from any archive copy, finds the record by
    #: it. None: the target has no such field (a CSV row is found by its id column).
    source_key: ClassVar[str | None] = None
    #: True when the target keeps every file of a record (``more_files``: a CSV folder),
    #: False when it keeps the first only (a vendor's one file per record).
    keeps_every_file: ClassVar[bool] = False

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        self.target = target
        self.config = config
        self.secrets = secrets
        self.log = log or logging.getLogger(f"exporter.restore.{target}")
        limit = type(self).batch_size
        # A smaller batch may be configured (e.g. to keep requests short); never a larger one.
        self.batch_size = max(1, min(int(config.get("batch_size", limit)), limit))

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The settings whose values are secrets (resolved from env, keyring or a file)."""
        return tuple(s.name for s in cls.settings if s.secret)

    def identity(self) -> str:
        """The target's own identity (a HubSpot portal id, a Salesforce org id, a folder's
        full path), which keys the id map with the configured name: the same name pointed
        at another portal starts afresh. '' when the target has none to tell."""
        return ""

    def objects(self) -> list[str]:
        """The objects the target has (for suggestions in mapping errors)."""
        return []

    def describe(self, obj: str) -> ObjectInfo | None:
        """The object's fields and key, or None if the target has no such object."""
        raise NotImplementedError

    def prepare(self, objects: list[str]) -> None:
        """Read ahead, in as few calls as the target allows, what writing these objects
        needs (their describes, and counts); :meth:`describe` then answers from it, and
        :meth:`count` with the count as of this call until the object is written. Reads
        only: a restore (also a dry run) and a verify call it first. Default: nothing
        (each describe reads on its own)."""

    def ensure(self, fields: Mapping[str, Mapping[str, str]],
               keyed: Iterable[str]) -> dict[str, list[str]]:
        """Create, in as few calls as the target allows, the fields each object lacks
        (object -> {name: type}, as :meth:`ensure_fields`) and the :attr:`source_key` on
        the objects in ``keyed`` (as :meth:`ensure_source_key`); returns object -> the
        names created. Default: those two methods, object by object."""
        made: dict[str, list[str]] = {}
        keyed = list(keyed)
        for obj in dict.fromkeys([*fields, *keyed]):
            names = self.ensure_fields(obj, fields[obj]) if fields.get(obj) else []
            if obj in keyed and self.source_key is not None and self.ensure_source_key(obj):
                names = [*names, self.source_key]
            if names:
                made[obj] = names
        return made

    def add_options(self, obj: str, values: Mapping[str, list[str]]) -> dict[str, str]:
        """Add ``values`` (field -> values) to the options of ``obj``'s fields (a picklist,
        an enumeration) where the target allows it; :meth:`describe` then lists them.
        Returns field -> why not, one plain sentence, for the fields it did not extend
        (their values go to a text field or the report). Default: none can be."""
        return {name: f"a {self.name or 'this'} target cannot add options"
                for name in values}

    def ensure_fields(self, obj: str, fields: Mapping[str, str]) -> list[str]:
        """Create the custom fields/properties the mapping needs and the target lacks
        (name -> type: string, number, date, datetime, bool); returns those created."""
        return []

    def planned(self, obj: str, schema: ObjectSchema) -> ObjectInfo | None:
        """What ``obj`` will be once :meth:`ensure_object` has made it from ``schema`` (the
        mapping is checked against it before anything is written); None: this target
        cannot create objects."""
        return None

    def ensure_object(self, obj: str, schema: ObjectSchema) -> bool:
        """Create the custom object ``obj`` from ``schema`` where the target lacks it; True
        when it was created now. Properties of the schema that an existing object lacks
        are added by :meth:`ensure_fields`."""
        return False

    def ensure_source_key(self, obj: str) -> bool:
        """Make sure ``obj`` has the :attr:`source_key` field, unique (created when
        missing); True when it was created now. Raises a plain error when the target
        refuses it; an object that cannot take one (a Salesforce Attachment) is left as it
        is (its records are then found by the rule's ``match`` fields)."""
        return False

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        """Create or update (upsert when the object has a key) one batch; one result per
        item, in any order. ``match`` names the fields that identify a record of an object
        without a key (to look up creates a failed call may have applied before a retry)."""
        raise NotImplementedError

    def file_digests(self, obj: str, ids: list[str]) -> dict[str, list[str]] | None:
        """The files the records ``ids`` of ``obj`` carry in the target, read back: target
        id -> a digest of each, ``"sha256:<hex>"`` or the vendor's own ``"md5:<hex>"``
        (the record's file first, then any others; [] for none), so that ``--verify``
        compares the bytes with the archived ones. None: the target cannot tell (verify
        then compares the sizes :meth:`read` gives as ``@file_size``)."""
        return None

    def count(self, obj: str) -> int | None:
        """How many records of ``obj`` the target holds (None: it cannot tell), so that a
        restore without an id map looks before creating, and verify sees extras."""
        return None

    def carried(self, obj: str) -> dict[str, str] | None:
        """Every record of ``obj`` in the target: target id -> the source id it carries in
        :attr:`source_key` ('' for none), read from the target alone, so that verify sees
        duplicates and records from elsewhere without trusting an id map. None: the target
        cannot tell."""
        return None

    def adopt(self, obj: str, carried: Mapping[str, str]) -> None:
        """Records found in the target that stand for archived ones (a same-vendor restore
        into its own source: target id -> source id) are given that source id in
        :attr:`source_key`, so that later runs find them by it like any restored record."""

    def remove(self, obj: str, target_ids: list[str], keys: list[str]) -> list[WriteResult]:
        """Archive or delete records whose source was deleted (``keys[i]`` is echoed in the
        result for ``target_ids[i]``); a record already gone counts as removed."""
        raise NotImplementedError(f"A {self.name or 'this'} target cannot remove records.")

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        """Add references to records already written (the second pass for cycles)."""
        raise NotImplementedError

    def find(self, obj: str, items: list[WriteItem], match: list[str]) -> dict[str, str]:
        """Pending items the target already holds (equal on every ``match`` field, and not
        in ``exclude``): item key -> target id."""
        raise NotImplementedError

    def lookup(self, obj: str, field: str, where: Mapping[str, Any]
               ) -> dict[str, list[str]] | None:
        """Records of ``obj`` already in the target, by the value of their ``field``: value
        -> target ids, among those whose fields hold the values ``where`` names (a link
        ``to = "@target"``: Google's visits to their client). None: the target cannot."""
        return None

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Records by target id: field values, plus ``"@links"`` {link name: [target ids]}
        for the links named in ``links`` (name -> the object pointed at), for verification.
        A target whose links have types (HubSpot's association type ids) may add
        ``"@link_types"`` {object: {target id: [type ids]}}: verify then checks the type of
        links that name one. Missing records are left out."""
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


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
