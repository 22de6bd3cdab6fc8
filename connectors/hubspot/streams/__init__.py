"""The HubSpot streams, each a :class:`exporter.connector.Stream` declared by attributes and
owning its ``read`` and ``ids``: one per CRM object type (:mod:`.objects`), the v4
``associations`` (which depend on the object streams, :mod:`.associations`), ``owners`` and
``files``."""

from __future__ import annotations

from connectors.hubspot.streams.associations import ASSOCIATION_SCHEMA, AssociationsStream
from connectors.hubspot.streams.files import FILE_SCHEMA, FilesStream
from connectors.hubspot.streams.objects import (
    SEARCH_MAX,
    ObjectStream,
    ObjectType,
    ReadOptions,
    object_schema,
)
from connectors.hubspot.streams.owners import OWNER_SCHEMA, OwnersStream

__all__ = ["ASSOCIATION_SCHEMA", "FILE_SCHEMA", "OWNER_SCHEMA", "SEARCH_MAX",
           "AssociationsStream", "FilesStream", "ObjectStream", "ObjectType", "OwnersStream",
           "ReadOptions", "object_schema"]
