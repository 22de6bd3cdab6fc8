"""JSON Schemas of the Google streams: Drive and Calendar resources from the discovery
documents shipped inside google-api-python-client (no network), and the sheet row's own."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, overload

from googleapiclient.discovery_cache import get_static_doc

from connectors.google.client import VERSIONS

__all__ = ["ROW_SCHEMA", "DiscoverySchema", "discovery_schema"]

ROW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "One sheet row; values maps header-row field names to formatted cells.",
    "required": ["id", "spreadsheetId", "sheet", "values"],
    "properties": {
        "id": {"type": "string"}, "spreadsheetId": {"type": "string"},
        "sheet": {"type": "string"},
        "values": {"type": "object",
                   "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    },
}

_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


@lru_cache(maxsize=8)
def _discovery(api: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(get_static_doc(api, VERSIONS[api]))
    return doc


def _convert(spec: Mapping[str, Any], schemas: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if "$ref" in spec:
        if depth > 6:  # self-referencing schemas: stop describing, accept anything
            return {}
        return _convert(schemas[spec["$ref"]], schemas, depth + 1)
    kind = spec.get("type")
    if kind not in _TYPES:
        return {}  # "any"
    out: dict[str, Any] = {"type": [kind, "null"]}
    if kind == "object":
        if "properties" in spec:
            out["properties"] = {k: _convert(v, schemas, depth + 1)
                                 for k, v in spec["properties"].items()}
        if isinstance(spec.get("additionalProperties"), dict):
            out["additionalProperties"] = _convert(spec["additionalProperties"], schemas,
                                                   depth + 1)
    elif kind == "array" and isinstance(spec.get("items"), dict):
        out["items"] = _convert(spec["items"], schemas, depth + 1)
    return out


def discovery_schema(api: str, name: str) -> dict[str, Any]:
    """JSON Schema of a discovery resource (every field nullable, unknown fields allowed:
    Google adds fields before the discovery document catches up)."""
    schemas = _discovery(api)["schemas"]
    out = _convert(schemas[name], schemas, 0)
    out["type"] = "object"
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out


class DiscoverySchema:
    """A stream's ``schema`` class attribute read from a discovery document when first used
    (parsing the documents costs start-up time that listing connectors should not pay),
    plus the ``extra`` properties the connector adds to each record."""

    def __init__(self, api: str, name: str, extra: Mapping[str, Any] | None = None) -> None:
        self.api, self.name, self.extra = api, name, dict(extra or {})
        self._schema: dict[str, Any] | None = None

    @overload
    def __get__(self, obj: None, owner: type) -> DiscoverySchema: ...
    @overload
    def __get__(self, obj: object, owner: type) -> dict[str, Any]: ...

    def __get__(self, obj: object | None, owner: type) -> DiscoverySchema | dict[str, Any]:
        if obj is None:
            return self
        if self._schema is None:
            schema = discovery_schema(self.api, self.name)
            schema["properties"].update(self.extra)
            self._schema = schema
        return copy.deepcopy(self._schema)  # a caller may change its copy
