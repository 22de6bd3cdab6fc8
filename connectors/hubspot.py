"""HubSpot connector: CRM objects, v4 associations, owners and files through
hubspot-api-client (12.x), with client-side validation on.

Streams (names, primary key, cursor, deletes)

- One stream per CRM object type, named as HubSpot names it: ``contacts``, ``companies``,
  ``deals``, ``tickets``, ``products``, ``line_items``, ``notes``, ``tasks``, ``calls``,
  ``meetings``, ``emails``, and each custom object by its schema ``name`` (from
  ``/crm-object-schemas/v3/schemas``, e.g. ``care_recipients``). Key ``id``; data is the
  object as HubSpot sends it (``id``, ``properties`` with EVERY property of the type from
  ``/crm/v3/properties/{type}``, ``createdAt``, ``updatedAt``, ``archived``,
  ``archivedAt``). First run (or ``--full``): the list endpoint, 100 a page; the cursor is
  the newest ``lastmodifieddate`` (contacts) / ``hs_lastmodifieddate`` (others) seen by a
  search made before listing. Later runs: the search API, ``modified >= cursor -
  lookback_seconds``, ascending, in windows kept under the 10,000-result cap (see
  :mod:`connectors.hubspot_read`); cursor = the newest modified date committed. Every run
  also lists ``archived=true`` records (archiving does not move the modified date) and
  stores them as tombstones keeping their data and ``archivedAt``. Hard deletes (purged
  records) are found by reconciliation (``list_ids``). ``schema()`` archives the property
  definitions (and the custom object's schema) each run.
- ``associations``: v4 edges, see :mod:`connectors.hubspot_associations`.
- ``owners`` (key ``id``): every owner each run (small); archived owners as tombstones.
- ``files`` (key ``id``): File Manager metadata (``/files/v3/files/search``), updated since
  the cursor (``updatedAtGte``, cursor = newest ``updatedAt``); the body is archived as the
  record's file ``content``, fetched through a signed URL only when the archive lacks it,
  streamed in chunks. Deleted files are found by reconciliation.

Config keys ([sources.NAME], type = "hubspot")

- ``access_token`` (secret): a private-app token with the CRM, owners and files read scopes.
- ``base_url``: e.g. the sandbox (passed to the SDK as ``host``); default HubSpot's API.
- ``objects``: object types to archive (default: all standard types and custom objects);
  ``exclude``: types to leave out. Names as the stream names above.
- ``lookback_seconds`` (default 300): search lags edits; each run re-reads this much.
- ``search_page`` (default 200, HubSpot's maximum), ``window`` (seconds; default: one
  window from the cursor to the newest change, split when it holds over 10,000).
- ``daily_reserve`` (default 1000): stop (run partial) when fewer daily API calls remain.
- ``timeout`` (seconds, default 60), ``retry_attempts`` (6), ``retry_base_delay`` (0.5).
- ``associations``, ``owners``, ``files`` (bool, default true): switch those streams off.

Not covered: property history (``propertiesWithHistory``), pipelines, lists, marketing
emails, forms, merges (a merged-away contact disappears: reconciliation tombstones it),
properties so numerous that the list URL grows past HubSpot's limit (thousands), and more
than 10,000 files in the File Manager (its search pages no further).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from connectors.hubspot_api import HubSpotApi, to_json
from connectors.hubspot_associations import ASSOCIATION_SCHEMA, AssociationReader
from connectors.hubspot_files import FILE_SCHEMA, OWNER_SCHEMA, FileReader, OwnerReader
from connectors.hubspot_read import ObjectReader, ObjectType
from exporter.connector import Batch, CheckResult, Connector, Stream
from exporter.errors import AuthError, ConfigError, SourceError

__all__ = ["HubSpotConnector"]

STANDARD = ("contacts", "companies", "deals", "tickets", "products", "line_items", "notes",
            "tasks", "calls", "meetings", "emails")
SEARCH_MAX = 200


def object_schema(name: str, definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of one object record: every property a string or null (HubSpot sends
    all values as strings), the documented top-level fields."""
    props = {d["name"]: {"type": ["string", "null"], "description": str(d.get("label") or "")}
             for d in definitions}
    stamp = {"type": "string", "format": "date-time"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"HubSpot {name}",
        "type": "object",
        "required": ["id", "properties", "createdAt", "updatedAt"],
        "properties": {
            "id": {"type": "string"},
            "properties": {"type": "object", "properties": props,
                           "additionalProperties": {"type": ["string", "null"]}},
            "createdAt": stamp, "updatedAt": stamp,
            "archived": {"type": "boolean"},
            "archivedAt": {"type": ["string", "null"], "format": "date-time"},
            "associations": {"type": "object"},
            "propertiesWithHistory": {"type": "object"},
            "objectWriteTraceId": {"type": ["string", "null"]},
            "url": {"type": ["string", "null"]},
        },
    }


def _names(config: Mapping[str, Any], key: str) -> list[str] | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The HubSpot source's {key} must be a list of object names, e.g. "
                          f'{key} = ["contacts", "deals"].')
    return list(value)


def _int(config: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"The HubSpot source's {key} must be a whole number from {low} to "
                          f"{high}.")
    return value


class HubSpotConnector(Connector):
    """CRM objects (search windows), associations (v4 batch read), owners and files."""

    name: ClassVar[str] = "hubspot"
    secret_fields: ClassVar[tuple[str, ...]] = ("access_token",)
    known_streams: ClassVar[tuple[str, ...]] = (*STANDARD, "associations", "owners", "files")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)
        self.include = _names(config, "objects")
        self.exclude = set(_names(config, "exclude") or [])
        self.lookback_ms = _int(config, "lookback_seconds", 300, 0, 86_400 * 7) * 1000
        self.search_page = _int(config, "search_page", SEARCH_MAX, 1, SEARCH_MAX)
        window = config.get("window")
        self.window_ms = _int(config, "window", 1, 1, 10**9) * 1000 if window else None
        self.api = HubSpotApi(config, secrets, self.log)
        self.readers: dict[str, ObjectReader] = {}
        self.definitions: dict[str, Any] = {}  # stream -> what schema() archives
        self.owners = OwnerReader(self.api)
        self.files = FileReader(self.api, self.lookback_ms)
        self.associations = AssociationReader(self.api, self.readers, self.log)

    # -- discovery --------------------------------------------------------------------------

    def _object_types(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(stream name, API name, custom schema or None) of the types to archive."""
        page = self.api.call("Reading HubSpot custom object schemas",
                             self.api.schemas.get_all_with_http_info)
        found: list[tuple[str, str, dict[str, Any] | None]] = [(n, n, None) for n in STANDARD]
        for schema in page.results or []:
            if not getattr(schema, "archived", False):
                found.append((schema.name, schema.object_type_id, to_json(schema)))
        wanted = self.include
        if wanted is not None:
            unknown = sorted(set(wanted) - {n for n, _, _ in found})
            if unknown:
                raise SourceError(f"HubSpot has no object type {', '.join(unknown)}; check "
                                  "the objects setting of the HubSpot source.")
        return [t for t in found
                if (wanted is None or t[0] in wanted) and t[0] not in self.exclude]

    def streams(self) -> list[Stream]:
        out: list[Stream] = []
        for name, api_name, custom in self._object_types():
            page = self.api.call(f"Reading HubSpot {name} properties",
                                 self.api.properties.get_all_with_http_info, api_name)
            defs = [to_json(p) for p in page.results or []]
            ot = ObjectType(name, api_name, [d["name"] for d in defs])
            self.readers[name] = ObjectReader(self.api, ot, self.lookback_ms, self.search_page,
                                              self.window_ms, self.log)
            schema = object_schema(name, defs)
            self.definitions[name] = {"properties": defs, "json_schema": schema,
                                      **({"object_schema": custom} if custom else {})}
            out.append(Stream(name, "id", f"properties.{ot.modified}", schema, reconcile=True,
                              description=f"HubSpot {name} (search on {ot.modified})"))
        # after the object streams: associations reads the ids they found changed
        if self.config.get("associations", True) and self.readers:
            out.append(Stream("associations", "id", None, ASSOCIATION_SCHEMA, reconcile=True,
                              description="v4 associations, one record per edge"))
        if self.config.get("owners", True):
            out.append(Stream("owners", "id", None, OWNER_SCHEMA, reconcile=True,
                              description="HubSpot users who own records"))
        if self.config.get("files", True):
            out.append(Stream("files", "id", "updatedAt", FILE_SCHEMA, reconcile=True,
                              description="File Manager files, bodies archived"))
        return out

    def schema(self, stream: Stream) -> Any:
        return self.definitions.get(stream.name) or dict(stream.schema or {})

    # -- reading ----------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        if stream.name in self.readers:
            return self.readers[stream.name].read(cursor, full)
        if stream.name == "associations":
            return self.associations.read(cursor, full)
        if stream.name == "owners":
            return self.owners.read()
        if stream.name == "files":
            return self.files.read(cursor, full)
        raise SourceError(f"The HubSpot source has no stream {stream.name}.")

    def list_ids(self, stream: Stream) -> Iterator[str]:
        if stream.name in self.readers:
            return self.readers[stream.name].ids()
        if stream.name == "associations":
            return self.associations.ids()
        if stream.name == "owners":
            return self.owners.ids()
        if stream.name == "files":
            return self.files.ids()
        raise SourceError(f"The HubSpot source has no stream {stream.name}.")

    def usage(self) -> dict[str, Any]:
        return self.api.usage()

    def close(self) -> None:
        self.api.close()

    # -- check ------------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results: list[CheckResult] = []
        what = "Sign in to HubSpot with the private-app token"
        try:
            self.api.call(what, self.api.owners.get_page_with_http_info, limit=1)
        except AuthError as exc:
            return [CheckResult(False, what, str(exc))]
        except SourceError as exc:
            return [CheckResult(False, what, f"{exc} Check base_url and the network.")]
        results.append(CheckResult(True, what))
        what = "Read HubSpot CRM object types and properties"
        try:
            types = self._object_types()
            results.append(CheckResult(True, what, f"{len(types)} object type(s)."))
        except SourceError as exc:
            results.append(CheckResult(False, what, str(exc)))
        usage = self.api.usage()
        remaining, limit = usage["daily_remaining"], usage["daily_limit"]
        ok = remaining is None or remaining >= self.api.daily_reserve
        detail = (f"{remaining} of {limit} daily API calls left." if remaining is not None
                  else "HubSpot did not report its daily limit.")
        if not ok:
            detail += " Too few for a sync today: wait until tomorrow."
        results.append(CheckResult(ok, "HubSpot API usage", detail))
        return results

