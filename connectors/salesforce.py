"""Salesforce connector: every queryable, replicateable object through simple-salesforce.

Streams (one per object; names are Salesforce's own API names, custom ones included)

- Which: every object describeGlobal marks ``queryable`` and ``replicateable`` (so change
  events, RecentlyViewed and the like are left out), narrowed by ``include`` / ``exclude``.
  ``schema()`` archives the object's full describe output each run; ``Stream.schema`` is a
  JSON Schema built from the describe's field types (nillable fields allow null).
- Records: key ``Id`` (18 chars); data = the REST record without ``attributes``, every
  field selected, nulls kept, compound fields (``BillingAddress``) nested as REST sends them.
- Incremental: objects with ``SystemModstamp`` are read with queryAll
  ``WHERE SystemModstamp >= <cursor - lookback_seconds> ORDER BY SystemModstamp, Id``;
  cursor = ``{"SystemModstamp": <highest stamp stored>}``, saved with each page. ``>=`` plus
  the lookback re-reads ties and late commits (the archive keeps no new version for an
  unchanged record). Rows with ``IsDeleted = true`` become tombstones that keep their data.
  Objects without ``SystemModstamp`` are read whole each run (no cursor).
- Large reads: when a query's ``totalSize`` exceeds ``bulk_threshold``, or Salesforce stops
  the REST query with QUERY_TIMEOUT, the same SOQL runs as a Bulk API 2.0 queryAll job (CSV
  values typed back by the describe; compound fields, which Bulk refuses, rebuilt from their
  component fields; base64 fields given the URL REST gives). Any Bulk failure falls back to
  REST from the last stored stamp.
- Hard deletes: every stream has ``reconcile = True``; ``list_ids()`` is ``SELECT Id`` with
  query (recycle-bin rows excluded). The engine runs it weekly and with ``--full``.
- Files: ContentVersion.VersionData and Attachment.Body are archived as files named
  ``VersionData`` / ``Body``, streamed with the SDK's session (``stream=True``), fetched only
  when the archive lacks them; a body cut mid-way is resumed by a new request.

Config keys ([sources.NAME], type = "salesforce")

- Login, one of: ``username`` + ``password`` + ``security_token`` (SOAP login);
  ``username`` + ``password`` + ``client_id`` + ``client_secret`` (OAuth password flow);
  ``username`` + ``client_id`` + ``private_key`` or ``private_key_file`` (JWT bearer; the
  file must be 0600); ``client_id`` + ``client_secret`` with a My Domain ``domain``
  (client credentials). Secrets: password, security_token, client_secret, private_key.
- ``domain``: "login" (default), "test" or "<mydomain>.my"; ``instance_url`` (JWT);
  ``base_url``: an http URL (the sandbox) is reached through exporter's loopback transport.
- ``api_version`` (default "59.0"); ``include`` / ``exclude``: object name lists.
- ``page_size``: REST batchSize (200..2000, default 2000); ``lookback_seconds`` (default 300).
- ``bulk_threshold`` (records, default 50000); ``bulk_page_size`` (CSV rows per Bulk results
  page, default 10000); ``bulk_poll_seconds`` (the SDK's wait between job polls, default 5).
- ``api_share_limit`` (default 0.8): stop (QuotaExhausted) before the day's API usage seen
  in ``Sforce-Limit-Info`` goes over this share of the daily limit.
- ``timeout`` (seconds per request, default 120); ``retry_attempts`` (default 6) and
  ``retry_base_delay`` (seconds, default 0.5) for the shared retry policy.

Not covered: formula fields that change without their record's SystemModstamp (e.g. an age)
are refreshed only by a full read (``--full``); field history, Chatter feeds, metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from connectors.salesforce_api import SalesforceApi
from connectors.salesforce_read import STAMP, ObjectReader, Settings, json_schema
from exporter.connector import Batch, CheckResult, Connector, Stream
from exporter.errors import AuthError, ConfigError, SourceError
from exporter.retry import RetryPolicy

__all__ = ["SalesforceConnector"]


def _names(value: Any, key: str) -> set[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The Salesforce setting {key} must be a list of object names, "
                          'e.g. ["Account", "Care_Plan__c"].')
    return set(value)


class SalesforceConnector(Connector):
    """Salesforce objects (REST queryAll / Bulk API 2.0) and their file bodies."""

    name: ClassVar[str] = "salesforce"
    secret_fields: ClassVar[tuple[str, ...]] = (
        "password", "security_token", "client_secret", "private_key")
    known_streams: ClassVar[tuple[str, ...]] = (
        "Account", "Contact", "ContentVersion", "Attachment", "<custom objects>__c")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)
        try:
            self.settings = Settings(
                page_size=max(200, min(2000, int(config.get("page_size", 2000)))),
                lookback=float(config.get("lookback_seconds", 300)),
                bulk_threshold=int(config.get("bulk_threshold", 50_000)),
                bulk_page=int(config.get("bulk_page_size", 10_000)),
                bulk_wait=int(config.get("bulk_poll_seconds", 5)))
            policy = RetryPolicy(attempts=int(config.get("retry_attempts", 6)),
                                 base_delay=float(config.get("retry_base_delay", 0.5)))
            self.api = SalesforceApi(config, secrets, policy, self.log)
        except (TypeError, ValueError):
            raise ConfigError(f"A numeric setting of [sources.{source}] is not a number; see "
                              "the Salesforce connector's documentation.") from None
        self.include = _names(config.get("include"), "include")
        self.exclude = _names(config.get("exclude"), "exclude") or set()
        self._describes: dict[str, Mapping[str, Any]] = {}

    # -- check -----------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        who = str(self.config.get("username") or self.config.get("client_id") or "?")
        login = f"Log in to Salesforce as {who}"
        try:
            self.api.login()
        except (AuthError, ConfigError) as exc:
            return [CheckResult(False, login, str(exc))]
        except SourceError as exc:
            return [CheckResult(False, login, f"{exc} Check the network and the domain / "
                                "base_url settings.")]
        results = [CheckResult(True, login)]
        reach = "Read Salesforce's object list"
        try:
            self.api.rest("the object list", "sobjects")
            results.append(CheckResult(True, reach))
        except SourceError as exc:
            results.append(CheckResult(False, reach, str(exc)))
        usage = "Salesforce daily API usage is below api_share_limit"
        if self.api.used is not None and self.api.total:
            share = self.api.used / self.api.total
            ok = share < self.api.share
            results.append(CheckResult(ok, usage, "" if ok else (
                f"{self.api.used} of {self.api.total} calls are used today ({share:.0%}); "
                "wait for tomorrow's reset or raise api_share_limit.")))
        return results

    # -- streams ---------------------------------------------------------------------------

    def _wanted(self, entry: Mapping[str, Any]) -> bool:
        name = str(entry.get("name"))
        if not (entry.get("queryable") and entry.get("replicateable")):
            return False
        if self.include is not None and name not in self.include:
            return False
        return name not in self.exclude

    def streams(self) -> list[Stream]:
        listing = self.api.rest("the object list", "sobjects")
        try:
            names = [str(o["name"]) for o in listing["sobjects"] if self._wanted(o)]
        except (TypeError, KeyError):
            raise SourceError("Salesforce sent an unreadable object list; try again later.") \
                from None
        missing = sorted((self.include or set()) - set(names))
        if missing:
            self.log.warning("include names objects Salesforce does not offer for export: %s",
                             ", ".join(missing))
        out = []
        for name in names:
            describe = self.api.rest(f"the description of {name}", f"sobjects/{name}/describe")
            if not isinstance(describe, Mapping) or not isinstance(describe.get("fields"), list):
                raise SourceError(f"Salesforce sent an unreadable description of {name}; try "
                                  "again later.")
            self._describes[name] = describe
            fields = {f.get("name") for f in describe["fields"]}
            out.append(Stream(name, "Id", STAMP if STAMP in fields else None,
                              json_schema(describe), reconcile=True,
                              description=str(describe.get("label", ""))))
        return out

    def schema(self, stream: Stream) -> Any:
        return self._describes.get(stream.name) or dict(stream.schema or {})

    def _reader(self, stream: Stream) -> ObjectReader:
        describe = self._describes.get(stream.name)
        if describe is None:
            describe = self.api.rest(f"the description of {stream.name}",
                                     f"sobjects/{stream.name}/describe")
            self._describes[stream.name] = describe
        return ObjectReader(self.api, describe, self.settings, self.log)

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        yield from self._reader(stream).read(None if full else cursor)

    def list_ids(self, stream: Stream) -> Iterator[str]:
        yield from self._reader(stream).list_ids()

    def usage(self) -> dict[str, Any]:
        return self.api.usage()

    def close(self) -> None:
        self.api.close()

