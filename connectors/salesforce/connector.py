"""The Salesforce connector: discovery, check and declared settings (the streams read
themselves, see :mod:`connectors.salesforce.streams`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from connectors.salesforce.client import CLIENT_SETTINGS, SalesforceClient
from connectors.salesforce.streams import (
    NightlyCheck,
    ObjectStream,
    ReadOptions,
    formula_parents,
)
from exporter.connector import Batch, CheckResult, Connector, Stream, UnavailableStream
from exporter.errors import (
    AuthError,
    ConfigError,
    QuotaExhausted,
    RequestRefused,
    SessionExpired,
    SourceError,
)
from exporter.retry import RetryPolicy
from exporter.settings import Setting

__all__ = ["SETTINGS", "SalesforceConnector"]

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
#: The archive's copy of describeGlobal, and the mark that a cached describe proved stale.
_LIST, _STALE = "describe:sobjects", "describe:stale"
#: A query refused so names an object or field the cached describes still hold.
_GONE = frozenset({"INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND"})


def _names(value: Any, key: str) -> set[str] | None:
    """An include/exclude list; its items must be names (the settings check sees a list)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The Salesforce setting {key} must be a list of object names, "
                          'e.g. ["Account", "Care_Plan__c"].')
    return set(value)


def _link_formula_parents(streams: list[Stream]) -> None:
    """Each object whose formulas read a parent archived too follows that parent: it is read
    after it and re-reads its records under the parent's changes (formula drift)."""
    objects = {s.name: s for s in streams if isinstance(s, ObjectStream)}
    for stream in objects.values():
        for ref, parent in formula_parents(stream.describe).items():
            if parent in objects and parent != stream.name:
                stream.parents[ref] = objects[parent]
                objects[parent].followed = True
        stream.depends_on = tuple(sorted({p.name for p in stream.parents.values()}))


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
        if not self.config.get("username") and "refresh_token" in self.secrets:
            login = "Log in to Salesforce with the saved browser sign-in"
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

    def _described(self, what: str, path: str, key: str) -> tuple[Any, bool]:
        """A describe from the cache kept in the archive, revalidated with
        ``If-Modified-Since`` (a 304 costs no body); and whether it changed."""
        body, entry = self.client.revalidate(what, path, self.state.get(key))
        if entry is not None:
            self.state.put(key, entry)
        return body, entry is not None

    def _object_list(self) -> tuple[Any, bool]:
        """describeGlobal, and whether it changed. It is asked only when the sync says so
        (``rediscover``: ``--full`` and the id-check cadence), or when a query found a cached
        describe stale; other nights trust the archive's copy and make no call, so a new
        object is archived from the next cadence night on."""
        cached = self.state.get(_LIST)
        stale = bool(self.state.get(_STALE))
        if cached is not None and not self.rediscover and not stale:
            return cached["body"], False
        self.rediscover = True  # what the run records: the list was asked for
        listing, changed = self._described("the object list", "sobjects", _LIST)
        if stale:
            self.state.put(_STALE, False)
        return listing, changed or stale

    def discover(self) -> list[Stream]:
        """One stream per wanted object, each holding the describe it was built from. The
        describes are cached in the archive: when the object list is not asked for, or Not
        Modified since it was read, no object's metadata changed (Salesforce answers
        describeGlobal's ``If-Modified-Since`` so), and the cached describes serve without a
        call; otherwise each one is revalidated."""
        listing, changed = self._object_list()
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
            try:
                out.append(self._object_stream(name, changed))
            except (AuthError, QuotaExhausted, SessionExpired):
                raise  # the whole source's problem, not this object's
            except SourceError as exc:
                # one object refused (no access, a describe that fails): the others go on
                self.log.warning("Salesforce %s left out of this run: %s", name, exc)
                out.append(UnavailableStream(name, exc))
        _link_formula_parents(out)
        check = NightlyCheck(self.client, self.log)
        for stream in out:
            if isinstance(stream, ObjectStream):
                check.add(stream.obj, stream.calculated)
                stream.check = check
        return out

    def _object_stream(self, name: str, revalidate: bool) -> ObjectStream:
        key = f"describe:{name}"
        cached = None if revalidate else self.state.get(key)
        if cached is not None:
            describe = cached["body"]
        else:
            describe, _ = self._described(f"the description of {name}",
                                          f"sobjects/{name}/describe", key)
        if not isinstance(describe, Mapping) or not isinstance(describe.get("fields"), list):
            raise SourceError(f"Salesforce sent an unreadable description of {name}; try "
                              "again later.")
        return ObjectStream(self.client, describe, self.options, self.log)

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        try:
            yield from stream.read(cursor, full)
        except RequestRefused as exc:
            if exc.reason in _GONE:
                # an object or field deleted since the cached describes: the next night
                # asks Salesforce for them again, whatever the cadence
                self.state.put(_STALE, True)
            raise

    def usage(self) -> dict[str, Any]:
        return self.client.usage()

    def close(self) -> None:
        self.client.close()
