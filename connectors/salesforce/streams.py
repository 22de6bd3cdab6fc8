"""The Salesforce streams: one per object, each reading itself (SOQL, pages to batches,
cursors, Bulk 2.0 for large reads, file bodies, ids for reconciliation).

Covered: REST queryAll paging (``Sforce-Query-Options: batchSize``), Bulk API 2.0 queryAll
for large reads (CSV values typed back by the describe, compound address/location fields
rebuilt from their components, base64 fields given the URL REST gives), tombstones for
``IsDeleted`` rows, and file bodies (ContentVersion.VersionData, Attachment.Body).
Formula drift: a calculated field that reads a parent (``Client__r.Name`` in its
``calculatedFormula``) changes when the parent is edited, while the child's SystemModstamp
stays. Such an object ``depends_on`` its parent's stream and, on an incremental read,
re-reads its records whose parent changed since the last run (``WHERE Client__c IN (...)``,
200 ids a query, none on a night without parent edits); the archive versions those whose
values changed. Every calculated field (formulas on ``TODAY()``, such as an age, and roll-ups
too) is also read again each incremental night: ``SELECT Id, <calculated fields>`` at batch
2000, merged into the archived records (partial batches); only changed values add versions.
Not covered: objects whose SOQL field list exceeds Salesforce's URL limit (hundreds of
long custom field names); child sub-queries; history objects' special rules.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import logging
import re
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from connectors.salesforce.bulk_csv import INT_TYPES, NUMBER_TYPES, BulkRows
from connectors.salesforce.client import SalesforceClient
from exporter.connector import Batch, FileBody, Stream
from exporter.errors import BulkFailed, QueryTimeout, RequestRefused, SourceError
from exporter.record import Record

__all__ = ["FILE_FIELDS", "STAMP", "NightlyCheck", "ObjectStream", "ReadOptions", "formula_parents",
           "json_schema"]

STAMP = "SystemModstamp"
#: Objects whose binary field is archived as a file, by the file's name in the archive.
FILE_FIELDS: dict[str, tuple[str, str]] = {
    "ContentVersion": ("VersionData", "ContentSize"),
    "Attachment": ("Body", "BodyLength"),
}
_STRING_TYPES = {"id", "reference", "string", "textarea", "picklist", "multipicklist",
                 "combobox", "email", "phone", "url", "encryptedstring", "base64", "date",
                 "datetime", "time"}


def _json_type(field: Mapping[str, Any]) -> dict[str, Any]:
    kind = field.get("type")
    if kind in _STRING_TYPES:
        out: dict[str, Any] = {"type": "string"}
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind in INT_TYPES:
        out = {"type": "integer"}
    elif kind in NUMBER_TYPES:
        out = {"type": "number"}
    elif kind in ("address", "location"):
        out = {"type": "object", "additionalProperties": {
            "type": ["string", "number", "null"]}}
    else:  # anyType and types added later: any JSON value
        return {"description": f"Salesforce type {kind}"}
    if field.get("nillable", True) or kind in ("address", "location"):
        out["type"] = [out["type"], "null"]
    return out


def json_schema(describe: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema of a record's data (the REST record without ``attributes``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": str(describe.get("name", "")),
        "type": "object",
        "required": ["Id"],
        "properties": {f["name"]: _json_type(f) for f in describe.get("fields", [])},
    }


_PATH = re.compile(r"\b([A-Za-z]\w*)\.[A-Za-z]\w*")
_ID = re.compile(r"[A-Za-z0-9]{15,18}")
ID_PAGE = 2000  # the largest batch size: id checks in as few calls as Salesforce allows
FOLLOW_CHUNK = 200  # parent ids per IN (...) list: ~4 KB of query, well under the URL limit


def formula_parents(describe: Mapping[str, Any]) -> dict[str, str]:
    """{reference field: parent object} of the parents this object's calculated fields
    read (``Client__r.Name`` in a formula): an edit of such a parent changes the formula's
    value without moving this object's SystemModstamp."""
    by_relation = {str(f.get("relationshipName")): f for f in describe.get("fields", [])
                   if f.get("relationshipName") and f.get("referenceTo")}
    out: dict[str, str] = {}
    for f in describe.get("fields", []):
        formula = f.get("calculatedFormula")
        if not (f.get("calculated") and isinstance(formula, str)):
            continue
        for rel in _PATH.findall(formula):
            ref = by_relation.get(rel)
            if ref is not None and len(ref["referenceTo"]) == 1:
                out[str(ref["name"])] = str(ref["referenceTo"][0])
    return out


def soql_datetime(stamp: str, lookback: float) -> str:
    """``stamp`` (a record's ``2024-01-01T00:00:00.000+0000``) minus ``lookback`` seconds,
    rounded down to the second, as an unquoted SOQL datetime literal."""
    when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z") - dt.timedelta(
        seconds=lookback)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ReadOptions:
    """How the streams read (from the connector's settings)."""

    page_size: int = 2000
    lookback: float = 300.0
    bulk_threshold: int = 50_000
    bulk_page: int = 10_000
    bulk_wait: int = 5


class NightlyCheck:
    """What every object's nightly checks need, asked for together once a run, before the
    first incremental read: each object's live count (``SELECT COUNT()``), or, for an object
    with calculated fields, the first page of ``SELECT Id, <calculated fields>`` (whose
    ``totalSize`` is the count), five queries to a Composite call instead of one call each.
    Taken before the reads, the counts stay comparable with the archive after them (every
    record live then is read by then)."""

    def __init__(self, client: SalesforceClient, log: logging.Logger) -> None:
        self.client = client
        self.log = log
        self.queries: dict[str, str] = {}  # object -> its check query
        self._pages: dict[str, Any] | None = None
        self._counts: dict[str, int] = {}

    def add(self, obj: str, calculated: list[str]) -> None:
        self.queries[obj] = (f"SELECT Id, {', '.join(calculated)} FROM {obj}" if calculated
                             else f"SELECT COUNT() FROM {obj}")

    def prefetch(self) -> None:
        if self._pages is not None:
            return
        try:
            self._pages = self.client.first_pages(self.queries, ID_PAGE)
        except (RequestRefused, BulkFailed) as exc:  # an org without the Composite API
            self.log.info("the nightly checks could not be asked together (%s); each "
                          "object asks its own", exc)
            self._pages = {}
        self._counts = {obj: int(page.get("totalSize", -1))
                        for obj, page in self._pages.items()}

    def page(self, obj: str) -> Any:
        """The first page of the object's check query (None: not asked, or it failed);
        handed out once."""
        return (self._pages or {}).pop(obj, None)

    def count(self, obj: str) -> int | None:
        """The object's live count before this run's reads (None: not asked)."""
        return self._counts.get(obj)


class ObjectStream(Stream):
    """One Salesforce object (a stream found at run time by describe), and its reader."""

    primary_key = "Id"
    reconcile = True

    def __init__(self, client: SalesforceClient, describe: Mapping[str, Any],
                 options: ReadOptions, log: logging.Logger) -> None:
        self.client = client
        self.describe = describe
        self.obj = str(describe["name"])
        self.fields: list[Mapping[str, Any]] = list(describe.get("fields", []))
        self.names = [f["name"] for f in self.fields]
        self.options = options
        self.log = log
        self.incremental = STAMP in self.names
        super().__init__(self.obj, cursor_field=STAMP if self.incremental else None,
                         schema=json_schema(describe),
                         description=str(describe.get("label", "")))
        self.converter = BulkRows(self.obj, client.version, self.fields)
        self.file_field = FILE_FIELDS.get(self.obj)
        #: formula and roll-up fields (compound and binary ones aside): read again nightly
        self.calculated = [str(f["name"]) for f in self.fields if f.get("calculated")
                           and f.get("type") not in ("address", "location", "base64")]
        if self.file_field and self.file_field[0] not in self.names:
            self.file_field = None
        #: {reference field: parent stream} whose edits change this object's formulas; the
        #: connector fills it (and depends_on) with the parents it archives too
        self.parents: dict[str, ObjectStream] = {}
        self.followed = False  # another stream's formulas read this one: keep changed ids
        self.changed: set[str] = set()  # ids read in this run (when followed)
        self._count_matched = False  # the last id check found the archive's count
        self.check: NightlyCheck | None = None  # shared by the connector's streams

    def archived_schema(self) -> Any:
        """The object's full describe output, as Salesforce sent it this run."""
        return self.describe

    # -- SOQL ------------------------------------------------------------------------------

    def soql(self, columns: list[str], since: str | None) -> str:
        where = ""
        if since is not None:
            where = f" WHERE {STAMP} >= {soql_datetime(since, self.options.lookback)}"
        order = f"{STAMP}, Id" if self.incremental else "Id"
        return f"SELECT {', '.join(columns)} FROM {self.obj}{where} ORDER BY {order}"

    # -- read ------------------------------------------------------------------------------

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        """Batches since ``cursor`` ({"SystemModstamp": ...}; None or ``full`` reads
        everything), then, on an incremental read, the records whose parents changed."""
        since = cursor.get(STAMP) if isinstance(cursor, Mapping) and self.incremental \
            and not full else None
        if since is not None and self.check is not None:
            self.check.prefetch()
        yield from self._read_since(since)
        if since is not None:
            yield from self._follow_parents()
            yield from self._recheck_calculated()

    def _read_since(self, since: str | None) -> Iterator[Batch]:
        state = {"stamp": since, "stamp_from": since}
        pages = self.client.query(self.soql(self.names, since), self.options.page_size)
        try:
            first = next(pages)
        except QueryTimeout:
            self.log.info("%s: REST query timed out; reading with Bulk API 2.0", self.obj)
            try:
                yield from self._bulk(state)
            except BulkFailed as exc:
                raise SourceError(f"Salesforce stopped the query of {self.obj} as too long and "
                                  f"the Bulk API read failed too ({exc}); try again later, or "
                                  "exclude the object in the config.") from exc
            return
        if first.get("totalSize", 0) > self.options.bulk_threshold:
            pages.close()
            try:
                yield from self._bulk(state)
                return
            except BulkFailed as exc:
                self.log.warning("%s: %s; reading with the REST API instead", self.obj, exc)
            pages = self.client.query(self.soql(self.names, state["stamp"]),
                                      self.options.page_size)
            first = next(pages)
        yield self._batch([_strip(r) for r in first["records"]], state)
        for page in pages:
            yield self._batch([_strip(r) for r in page["records"]], state)

    def _follow_parents(self) -> Iterator[Batch]:
        """Records whose parent (read earlier in this run) changed: their formulas that
        read the parent may have changed too. Batches without a cursor."""
        for ref, parent in self.parents.items():
            ids = sorted(i for i in parent.changed if _ID.fullmatch(i))
            for at in range(0, len(ids), FOLLOW_CHUNK):
                listed = ", ".join(f"'{i}'" for i in ids[at : at + FOLLOW_CHUNK])
                soql = (f"SELECT {', '.join(self.names)} FROM {self.obj} "
                        f"WHERE {ref} IN ({listed}) ORDER BY Id")
                for page in self.client.query(soql, self.options.page_size):
                    batch = self._batch([_strip(r) for r in page["records"]],
                                        {"stamp": None, "stamp_from": None})
                    yield Batch(batch.records, None, batch.files)

    def _recheck_calculated(self) -> Iterator[Batch]:
        """Formula and roll-up values change without SystemModstamp moving (a parent's edit,
        ``TODAY()``, a child's roll-up): each incremental night reads ``Id`` and the
        calculated fields of every live record (batch 2000, a few calls per object) as
        partial batches; the archive versions the records whose values changed."""
        if not self.calculated:
            return
        soql = f"SELECT Id, {', '.join(self.calculated)} FROM {self.obj}"
        first = self.check.page(self.obj) if self.check is not None else None
        pages = (itertools.chain([first], self.client.more(first, ID_PAGE)) if first
                 else self.client.query(soql, ID_PAGE, include_deleted=False))
        try:
            for page in pages:
                rows = [_strip(r) for r in page["records"]]
                yield Batch([Record(str(r["Id"]), r) for r in rows if r.get("Id")],
                            partial=True)
        except QueryTimeout:
            self.log.warning("%s: the calculated fields could not be read again tonight "
                             "(the query timed out); they are tried again tomorrow", self.obj)

    def _bulk(self, state: dict[str, Any]) -> Iterator[Batch]:
        soql = self.soql(self.converter.bulk_columns(), state["stamp"])
        for text in self.client.bulk_query(self.obj, soql, self.options.bulk_page,
                                           self.options.bulk_wait):
            rows = csv.DictReader(io.StringIO(text))
            try:
                records = [self.converter.record(row) for row in rows]
            except (ValueError, csv.Error) as exc:
                raise BulkFailed(f"unreadable Bulk CSV ({exc})") from exc
            yield self._batch(records, state)

    def _batch(self, rows: list[dict[str, Any]], state: dict[str, Any]) -> Batch:
        records: list[Record] = []
        files: dict[str, list[FileBody]] = {}
        for data in rows:
            rid = data.get("Id")
            if not isinstance(rid, str):
                raise SourceError(f"Salesforce sent a {self.obj} row without an Id; try the "
                                  "sync again, and tell support if it persists.")
            deleted = data.get("IsDeleted") is True
            records.append(Record(rid, data, deleted))
            if self.followed and (state["stamp_from"] is None
                                  or str(data.get(STAMP) or "") > state["stamp_from"]):
                # changed since the last run (not a lookback re-read of its own records)
                self.changed.add(rid)
            if self.file_field and not deleted and data.get(self.file_field[0]):
                files[rid] = [self._file(rid, data)]
        cursor = None
        if self.incremental and rows:
            # ORDER BY SystemModstamp: the last row has the highest stamp. Rows tied with it
            # on the next page are safe: the next run re-reads from (stamp - lookback) with >=.
            last = rows[-1].get(STAMP)
            if isinstance(last, str) and (state["stamp"] is None or last > state["stamp"]):
                state["stamp"] = last
            cursor = {STAMP: state["stamp"]}
        return Batch(records, cursor, files)

    def _file(self, rid: str, data: Mapping[str, Any]) -> FileBody:
        assert self.file_field is not None
        name, size_field = self.file_field
        size = data.get(size_field)
        path = f"sobjects/{self.obj}/{rid}/{name}"
        checksum = data.get("Checksum")

        def body() -> Iterator[bytes]:
            chunks = self.client.download(path, size if isinstance(size, int) else None)
            if not isinstance(checksum, str):
                yield from chunks
                return
            digest = hashlib.md5(usedforsecurity=False)  # Salesforce's own checksum is MD5
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != checksum.lower():
                raise SourceError(f"The body of {self.obj} {rid} does not match the checksum "
                                  "Salesforce gives for it; run the sync again.")

        return FileBody(name, body, data.get("ContentType"))

    # -- ids -------------------------------------------------------------------------------

    def ids(self) -> Iterator[str]:
        """Every live Id (query, not queryAll: recycle-bin rows are not current), at the
        largest batch size."""
        yield from self._ids(None)

    def find_deleted(self, archived: AbstractSet[str]) -> list[str]:
        """The nightly check: how many records are live. This run's reads put every record
        live before them in the archive, so the archive's live ids are a superset of the
        source's, and equal counts mean equal sets. The counts of every object come together
        (:class:`LiveCounts`, ``SELECT COUNT()`` 5 to a Composite call); without one, the
        first page of ``SELECT Id`` tells it (``totalSize``). When the counts differ, every
        id is listed (batch 2000) and compared."""
        if self.check is not None and self.check.count(self.obj) == len(archived):
            return []
        live = set(self._ids(len(archived)))
        if self._count_matched:
            return []
        return sorted(i for i in archived if i not in live)

    def _ids(self, expected: int | None) -> Iterator[str]:
        """Every live Id; none when ``expected`` is the live count (see find_deleted)."""
        soql = f"SELECT Id FROM {self.obj}"
        self._count_matched = False
        pages = self.client.query(soql, ID_PAGE, include_deleted=False)
        try:
            first = next(pages)
        except QueryTimeout:  # a big object: Bulk API 2.0 lists ids without timing out
            yield from self._bulk_ids(soql)
            return
        if expected is not None and first.get("totalSize") == expected:
            self._count_matched = True
            pages.close()
            return
        for page in itertools.chain([first], pages):
            for row in page["records"]:
                yield str(row["Id"])

    def _bulk_ids(self, soql: str) -> Iterator[str]:
        try:
            for text in self.client.bulk_query(self.obj, soql, self.options.bulk_page * 5,
                                               self.options.bulk_wait, include_deleted=False):
                for row in csv.DictReader(io.StringIO(text)):
                    yield row["Id"]
        except (BulkFailed, KeyError, csv.Error) as exc:
            raise SourceError(f"Salesforce could not list the {self.obj} ids for the "
                              f"deleted-record check ({exc}); try again later.") from exc


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    """The REST record without ``attributes`` (type and URL, not data)."""
    record.pop("attributes", None)
    return record
