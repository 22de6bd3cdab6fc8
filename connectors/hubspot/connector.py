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
  :mod:`connectors.hubspot.streams.objects`); cursor = the newest modified date committed.
  Every run also lists ``archived=true`` records (archiving does not move the modified date) and
  stores them as tombstones keeping their data and ``archivedAt``. Merged-away ids (named in
  the winner's ``hs_merged_object_ids``) and purged records are found the same night
  (``find_deleted``: a search count, and a listing only when it differs). The stream's
  ``archived_schema()`` is the property definitions (and the custom object's schema),
  archived each run.
- ``associations``: v4 edges, see :mod:`connectors.hubspot.streams.associations`; it
  declares ``depends_on`` = the object streams, whose ids it reads.
- ``owners`` (key ``id``): every owner each run (small); archived owners as tombstones.
- ``files`` (key ``id``): File Manager metadata (``/files/v3/files/search``), updated since
  the cursor (``updatedAtGte``, cursor = newest ``updatedAt``); the body is archived as the
  record's file ``content``, fetched through a signed URL only when the archive lacks it,
  streamed in chunks. Deleted files are found by reconciliation.

Settings ([sources.NAME], type = "hubspot"): :data:`HubSpotConnector.settings`
(``exporter connectors --settings``). The client (token, quota guard, retries, errors) is
:mod:`connectors.hubspot.client`, shared with the restore writer.

Pages (listings, searches, v4 association reads) are read as raw JSON through the SDK
(``_preload_content=False``, :meth:`HubSpotClient.call_json`): no model object is built per
record, dates are parsed only for the cursor (the last record of a page), and a record is
archived exactly as HubSpot sent it, fields newer than the SDK's models (``url``) included.

Not covered: property history (``propertiesWithHistory``), pipelines, lists, marketing
emails, forms, properties so numerous that the list URL grows past HubSpot's limit
(thousands), and more than 10,000 files in the File Manager (its search pages no further).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.hubspot.client import (
    BASE_URL,
    DAILY_RESERVE,
    READING,
    TIMEOUT,
    HubSpotClient,
)
from connectors.hubspot.streams import (
    SEARCH_MAX,
    AssociationsStream,
    FilesStream,
    ObjectStream,
    ObjectType,
    OwnersStream,
    ReadOptions,
)
from connectors.hubspot.wire import STANDARD, to_json
from exporter.connector import CheckResult, Connector, Stream, UnavailableStream
from exporter.errors import AuthError, ConfigError, QuotaExhausted, SourceError
from exporter.retry import RetryPolicy
from exporter.settings import Setting

__all__ = ["HubSpotConnector"]

SETTINGS = (
    Setting("access_token", "secret", "A private-app token with the CRM objects, owners and "
            "files read scopes", required=True, secret=True),
    BASE_URL,
    Setting("objects", "list", "Object types to archive, e.g. [\"contacts\", \"notes\"] "
            "(default: every standard type and custom object)"),
    Setting("exclude", "list", "Object types to leave out"),
    Setting("lookback_seconds", "integer", "Search lags edits: each run re-reads this many "
            "seconds before its cursor", default=300, minimum=0, maximum=86_400 * 7),
    Setting("search_page", "integer", "Records per search page",
            default=SEARCH_MAX, minimum=1, maximum=SEARCH_MAX),
    Setting("window", "integer", "Seconds of changes per search window (unset or 0: one "
            "window from the cursor to the newest change, split past 10,000)", minimum=0,
            maximum=10**9),
    DAILY_RESERVE,
    TIMEOUT,
    Setting("retry_attempts", "integer", "Tries per call before a stream fails", default=6,
            minimum=1),
    Setting("retry_base_delay", "number", "Seconds before the second try (doubling each "
            "time)", default=0.5, minimum=0),
    Setting("associations", "boolean", "Archive the v4 associations between records",
            default=True),
    Setting("owners", "boolean", "Archive the owners (HubSpot users)", default=True),
    Setting("files", "boolean", "Archive the File Manager's files and their bodies",
            default=True),
)


def _names(config: Mapping[str, Any], key: str) -> list[str] | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The HubSpot source's {key} must be a list of object names, e.g. "
                          f'{key} = ["contacts", "deals"].')
    return list(value)


class HubSpotConnector(Connector):
    """CRM objects (search windows), associations (v4 batch read), owners and files."""

    name: ClassVar[str] = "hubspot"
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS
    known_streams: ClassVar[tuple[str, ...]] = (*STANDARD, "associations", "owners", "files")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)
        self.include = _names(config, "objects")
        self.exclude = set(_names(config, "exclude") or [])
        window = config.get("window")
        self.options = ReadOptions(
            lookback_ms=int(config.get("lookback_seconds", 300)) * 1000,
            search_page=int(config.get("search_page", SEARCH_MAX)),
            window_ms=int(window) * 1000 if window else None)
        policy = RetryPolicy(attempts=int(config.get("retry_attempts", 6)),
                             base_delay=float(config.get("retry_base_delay", 0.5)))
        self.client = HubSpotClient.from_settings(config, secrets, READING, policy, self.log)

    # -- discovery --------------------------------------------------------------------------

    def _object_types(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(stream name, API name, custom schema or None) of the types to archive."""
        page = self.client.call("Reading HubSpot custom object schemas",
                                self.client.schemas.get_all_with_http_info)
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

    def discover(self) -> list[Stream]:
        """One stream per object type; a type whose properties HubSpot refuses (a portal or
        token without access to it) becomes an :class:`UnavailableStream`, so the other
        types are still archived and the run ends partial."""
        objects: dict[str, ObjectStream] = {}
        out: list[Stream] = []
        for name, api_name, custom in self._object_types():
            try:
                page = self.client.call(f"Reading HubSpot {name} properties",
                                        self.client.properties.get_all_with_http_info,
                                        api_name)
            except QuotaExhausted:
                raise
            except SourceError as exc:
                self.log.warning("HubSpot %s left out of this run: %s", name, exc)
                out.append(UnavailableStream(name, exc))
                continue
            defs = [to_json(p) for p in page.results or []]
            ot = ObjectType(name, api_name, [d["name"] for d in defs])
            objects[name] = ObjectStream(self.client, ot, defs, custom, self.options, self.log)
            out.append(objects[name])
        if self.config.get("associations", True) and objects:
            out.append(AssociationsStream(self.client, objects, self.log))
        if self.config.get("owners", True):
            out.append(OwnersStream(self.client))
        if self.config.get("files", True):
            out.append(FilesStream(self.client, self.options.lookback_ms))
        return out

    def usage(self) -> dict[str, Any]:
        return self.client.usage()

    def close(self) -> None:
        self.client.close()

    # -- check ------------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results: list[CheckResult] = []
        what = "Sign in to HubSpot with the private-app token"
        try:
            self.client.call(what, self.client.owners.get_page_with_http_info, limit=1)
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
        results.append(self._usage_check())
        return results

    def _usage_check(self) -> CheckResult:
        quota = self.client.quota
        remaining, limit = quota.daily_remaining, quota.daily_limit
        ok = remaining is None or remaining >= quota.daily_reserve
        detail = (f"{remaining} of {limit} daily API calls left." if remaining is not None
                  else "HubSpot did not report its daily limit.")
        if not ok:
            detail += " Too few for a sync today: wait until tomorrow."
        return CheckResult(ok, "HubSpot API usage", detail)
