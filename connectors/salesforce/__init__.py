"""Salesforce connector: every queryable, replicateable object through simple-salesforce.

Streams (one per object; names are Salesforce's own API names, custom ones included)

- Which: every object describeGlobal marks ``queryable`` and ``replicateable`` (so change
  events, RecentlyViewed and the like are left out), narrowed by ``include`` / ``exclude``.
  Each stream archives the object's full describe output each run as its schema; its
  ``schema`` is a JSON Schema built from the describe's field types (nillable fields allow
  null).
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
- Hard deletes: every stream has ``reconcile = True``; ``ids()`` is ``SELECT Id`` with
  query (recycle-bin rows excluded). The engine runs it weekly and with ``--full``.
- Files: ContentVersion.VersionData and Attachment.Body are archived as files named
  ``VersionData`` / ``Body``, streamed with the SDK's session (``stream=True``), fetched only
  when the archive lacks them; a body cut mid-way is resumed by a new request.

Settings ([sources.NAME], type = "salesforce"): declared in :data:`SETTINGS` (login, reach,
quota share and timeout are the client's, shared with the restore target); ``exporter
connectors --settings`` and docs/settings.md list them.

Package layout: ``client.py`` (the one client: login, quota guard, retries, error mapping),
``streams.py`` (one stream per object, reading itself), ``bulk_csv.py`` (Bulk CSV to REST
records), ``writer.py`` (the restore target).

Not covered: formula fields that change without their record's SystemModstamp (e.g. an age)
are refreshed only by a full read (``--full``); field history, Chatter feeds, metadata.
"""


from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.salesforce.client import CLIENT_SETTINGS, SalesforceClient
from connectors.salesforce.streams import ObjectStream, ReadOptions
from connectors.salesforce.writer import SalesforceWriter
from exporter.connector import CheckResult, Connector, Stream
from exporter.errors import AuthError, ConfigError, SourceError
from exporter.retry import RetryPolicy
from exporter.settings import Setting

__all__ = ["SETTINGS", "SalesforceConnector", "SalesforceWriter"]

#: Every key of a ``[sources.NAME]`` table of type salesforce.
SETTINGS: tuple[Setting, ...] = (
    *CLIENT_SETTINGS,
    Setting("include", "list", 'Only these objects (API names, e.g. ["Account", '
            '"Care_Plan__c"]); all by default'),
    Setting("exclude", "list", "Leave these objects out (API names)"),
    Setting("page_size", "integer", "Records per REST query page (Salesforce's batchSize, "
            "200 to 2000; other values are brought into that range)", default=2000),
    Setting("lookback_seconds", "number", "Each incremental read starts this many seconds "
            "before the saved cursor, to catch late commits", default=300, minimum=0),
    Setting("bulk_threshold", "integer", "Read an object with the Bulk API 2.0 when a query "
            "finds more records than this", default=50_000, minimum=0),
    Setting("bulk_page_size", "integer", "CSV rows per Bulk API results page",
            default=10_000, minimum=1),
    Setting("bulk_poll_seconds", "integer", "Seconds between polls of a Bulk job",
            default=5, minimum=0),
    Setting("retry_attempts", "integer", "Tries in all for a call that fails for a passing "
            "reason (429, 5xx, timeout)", default=6, minimum=1),
    Setting("retry_base_delay", "number", "Seconds before the second try; doubles each "
            "time", default=0.5, minimum=0),
)
_DEFAULTS = {s.name: s.default for s in SETTINGS}


def _names(value: Any, key: str) -> set[str] | None:
    """An include/exclude list; its items must be names (the settings check sees a list)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The Salesforce setting {key} must be a list of object names, "
                          'e.g. ["Account", "Care_Plan__c"].')
    return set(value)


class SalesforceConnector(Connector):
    """Salesforce objects (REST queryAll / Bulk API 2.0) and their file bodies."""

    name: ClassVar[str] = "salesforce"
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS
    known_streams: ClassVar[tuple[str, ...]] = (
        "Account", "Contact", "ContentVersion", "Attachment", "<custom objects>__c")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)

        def get(name: str) -> Any:
            value = config.get(name)
            return _DEFAULTS[name] if value is None else value

        self.options = ReadOptions(
            page_size=max(200, min(2000, int(get("page_size")))),
            lookback=float(get("lookback_seconds")),
            bulk_threshold=int(get("bulk_threshold")),
            bulk_page=int(get("bulk_page_size")),
            bulk_wait=int(get("bulk_poll_seconds")))
        policy = RetryPolicy(attempts=int(get("retry_attempts")),
                             base_delay=float(get("retry_base_delay")))
        self.client = SalesforceClient(config, secrets, policy, self.log)
        self.include = _names(config.get("include"), "include")
        self.exclude = _names(config.get("exclude"), "exclude") or set()

    # -- check -----------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        who = str(self.config.get("username") or self.config.get("client_id") or "?")
        login = f"Log in to Salesforce as {who}"
        try:
            self.client.login()
        except (AuthError, ConfigError) as exc:
            return [CheckResult(False, login, str(exc))]
        except SourceError as exc:
            return [CheckResult(False, login, f"{exc} Check the network and the domain / "
                                "base_url settings.")]
        results = [CheckResult(True, login)]
        reach = "Read Salesforce's object list"
        try:
            self.client.rest("the object list", "sobjects")
            results.append(CheckResult(True, reach))
        except SourceError as exc:
            results.append(CheckResult(False, reach, str(exc)))
        usage = "Salesforce daily API usage is below api_share_limit"
        used, total = self.client.used, self.client.total
        if used is not None and total:
            share = used / total
            ok = share < self.client.share
            results.append(CheckResult(ok, usage, "" if ok else (
                f"{used} of {total} calls are used today ({share:.0%}); "
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

    def discover(self) -> list[Stream]:
        """One stream per wanted object, each holding the describe it was built from."""
        listing = self.client.rest("the object list", "sobjects")
        try:
            names = [str(o["name"]) for o in listing["sobjects"] if self._wanted(o)]
        except (TypeError, KeyError) as exc:
            raise SourceError("Salesforce sent an unreadable object list; try again "
                              "later.") from exc
        missing = sorted((self.include or set()) - set(names))
        if missing:
            self.log.warning("include names objects Salesforce does not offer for export: %s",
                             ", ".join(missing))
        out: list[Stream] = []
        for name in names:
            describe = self.client.rest(f"the description of {name}",
                                        f"sobjects/{name}/describe")
            if not isinstance(describe, Mapping) or not isinstance(describe.get("fields"), list):
                raise SourceError(f"Salesforce sent an unreadable description of {name}; try "
                                  "again later.")
            out.append(ObjectStream(self.client, describe, self.options, self.log))
        return out

    def usage(self) -> dict[str, Any]:
        return self.client.usage()

    def close(self) -> None:
        self.client.close()
