"""Reading one Salesforce object: SOQL, pages to batches, cursors, Bulk 2.0 CSV to records.

Covered: REST queryAll paging (``Sforce-Query-Options: batchSize``), Bulk API 2.0 queryAll
for large reads (CSV values typed back by the describe, compound address/location fields
rebuilt from their components, base64 fields given the URL REST gives), tombstones for
``IsDeleted`` rows, and file bodies (ContentVersion.VersionData, Attachment.Body).
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.salesforce_api import BulkFailed, QueryTimeout, SalesforceApi
from exporter.connector import Batch, FileBody
from exporter.errors import SourceError
from exporter.record import Record

__all__ = ["FILE_FIELDS", "STAMP", "ObjectReader", "Settings", "json_schema"]

STAMP = "SystemModstamp"
#: Objects whose binary field is archived as a file, by the file's name in the archive.
FILE_FIELDS: dict[str, tuple[str, str]] = {
    "ContentVersion": ("VersionData", "ContentSize"),
    "Attachment": ("Body", "BodyLength"),
}
_STRING_TYPES = {"id", "reference", "string", "textarea", "picklist", "multipicklist",
                 "combobox", "email", "phone", "url", "encryptedstring", "base64", "date",
                 "datetime", "time"}
_NUMBER_TYPES = {"double", "currency", "percent"}
_INT_TYPES = {"int", "long"}
_ADDRESS_KEYS = ("city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode",
                 "state", "street")


def _json_type(field: Mapping[str, Any]) -> dict[str, Any]:
    kind = field.get("type")
    if kind in _STRING_TYPES:
        out: dict[str, Any] = {"type": "string"}
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind in _INT_TYPES:
        out = {"type": "integer"}
    elif kind in _NUMBER_TYPES:
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


def soql_datetime(stamp: str, lookback: float) -> str:
    """``stamp`` (a record's ``2024-01-01T00:00:00.000+0000``) minus ``lookback`` seconds,
    rounded down to the second, as an unquoted SOQL datetime literal."""
    when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z") - dt.timedelta(
        seconds=lookback)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Converter:
    """Bulk CSV rows to the records REST would have returned."""

    obj: str
    version: str
    fields: list[Mapping[str, Any]]

    def __post_init__(self) -> None:
        self.kinds = {f["name"]: f.get("type") for f in self.fields}
        self.compound: dict[str, list[str]] = {}
        for f in self.fields:
            parent = f.get("compoundFieldName")
            if parent and parent in self.kinds:
                self.compound.setdefault(parent, []).append(f["name"])

    def bulk_columns(self) -> list[str]:
        return [f["name"] for f in self.fields if f.get("type") not in
                ("address", "location", "base64")]

    def value(self, name: str, text: str) -> Any:
        if text == "":
            return None
        kind = self.kinds.get(name)
        if kind == "boolean":
            return text == "true"
        if kind in _INT_TYPES:
            return int(text)
        if kind in _NUMBER_TYPES:
            return float(text)
        if kind == "datetime" and text.endswith("Z"):
            return text[:-1] + "+0000"  # Bulk writes Z where REST writes +0000
        return text

    @staticmethod
    def _component_key(parent: str, name: str) -> str:
        """BillingAddress/BillingPostalCode -> postalCode; Home__c/Home__Street__s -> street."""
        if name.endswith("__s"):
            key = name.removesuffix("__s").rsplit("__", 1)[-1]
        else:
            key = name.removeprefix(parent.removesuffix("Address"))
        return key[:1].lower() + key[1:]

    def record(self, row: Mapping[str, str]) -> dict[str, Any]:
        data = {name: self.value(name, text) for name, text in row.items()}
        out: dict[str, Any] = {}
        for f in self.fields:  # REST's field order
            name, kind = f["name"], f.get("type")
            if kind == "base64":
                out[name] = (None if data.get("Id") is None else
                             f"/services/data/v{self.version}/sobjects/{self.obj}/"
                             f"{data['Id']}/{name}")
            elif kind in ("address", "location"):
                out[name] = self._compound(name, data)
            else:
                out[name] = data.get(name)
        return out

    def _compound(self, name: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        parts = {self._component_key(name, c): data.get(c) for c in self.compound.get(name, [])}
        if all(v is None for v in parts.values()):
            return None
        keys = _ADDRESS_KEYS if self.kinds[name] == "address" else ("latitude", "longitude")
        return {**dict.fromkeys(keys), **parts}


class ObjectReader:
    """Reads one object (a stream) given its describe."""

    def __init__(self, api: SalesforceApi, describe: Mapping[str, Any], settings: Settings,
                 log: logging.Logger) -> None:
        self.api = api
        self.obj = str(describe["name"])
        self.fields: list[Mapping[str, Any]] = list(describe.get("fields", []))
        self.names = [f["name"] for f in self.fields]
        self.settings = settings
        self.log = log
        self.incremental = STAMP in self.names
        self.converter = _Converter(self.obj, api.version, self.fields)
        self.file_field = FILE_FIELDS.get(self.obj)
        if self.file_field and self.file_field[0] not in self.names:
            self.file_field = None

    # -- SOQL ------------------------------------------------------------------------------

    def soql(self, columns: list[str], since: str | None) -> str:
        where = ""
        if since is not None:
            where = f" WHERE {STAMP} >= {soql_datetime(since, self.settings.lookback)}"
        order = f"{STAMP}, Id" if self.incremental else "Id"
        return f"SELECT {', '.join(columns)} FROM {self.obj}{where} ORDER BY {order}"

    # -- read ------------------------------------------------------------------------------

    def read(self, cursor: Any) -> Iterator[Batch]:
        """Batches since ``cursor`` ({"SystemModstamp": ...}; None reads everything)."""
        since = cursor.get(STAMP) if isinstance(cursor, Mapping) and self.incremental else None
        state = {"stamp": since}
        pages = self.api.query(self.soql(self.names, since), self.settings.page_size)
        try:
            first = next(pages)
        except QueryTimeout:
            self.log.info("%s: REST query timed out; reading with Bulk API 2.0", self.obj)
            try:
                yield from self._bulk(state)
            except BulkFailed as exc:
                raise SourceError(f"Salesforce stopped the query of {self.obj} as too long and "
                                  f"the Bulk API read failed too ({exc}); try again later, or "
                                  "exclude the object in the config.") from None
            return
        if first.get("totalSize", 0) > self.settings.bulk_threshold:
            pages.close()
            try:
                yield from self._bulk(state)
                return
            except BulkFailed as exc:
                self.log.warning("%s: %s; reading with the REST API instead", self.obj, exc)
            pages = self.api.query(self.soql(self.names, state["stamp"]),
                                   self.settings.page_size)
            first = next(pages)
        yield self._batch([_strip(r) for r in first["records"]], state)
        for page in pages:
            yield self._batch([_strip(r) for r in page["records"]], state)

    def _bulk(self, state: dict[str, Any]) -> Iterator[Batch]:
        soql = self.soql(self.converter.bulk_columns(), state["stamp"])
        for text in self.api.bulk_query(self.obj, soql, self.settings.bulk_page,
                                        self.settings.bulk_wait):
            rows = csv.DictReader(io.StringIO(text))
            try:
                records = [self.converter.record(row) for row in rows]
            except (ValueError, csv.Error) as exc:
                raise BulkFailed(f"unreadable Bulk CSV ({exc})") from None
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
            chunks = self.api.download(path, size if isinstance(size, int) else None)
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

    def list_ids(self) -> Iterator[str]:
        """Every live Id (query, not queryAll: recycle-bin rows are not current)."""
        soql = f"SELECT Id FROM {self.obj}"
        pages = self.api.query(soql, self.settings.page_size, include_deleted=False)
        try:
            first = next(pages)
        except QueryTimeout:  # a big object: Bulk API 2.0 lists ids without timing out
            yield from self._bulk_ids(soql)
            return
        for page in itertools.chain([first], pages):
            for row in page["records"]:
                yield str(row["Id"])

    def _bulk_ids(self, soql: str) -> Iterator[str]:
        try:
            for text in self.api.bulk_query(self.obj, soql, self.settings.bulk_page * 5,
                                            self.settings.bulk_wait, include_deleted=False):
                for row in csv.DictReader(io.StringIO(text)):
                    yield row["Id"]
        except (BulkFailed, KeyError, csv.Error) as exc:
            raise SourceError(f"Salesforce could not list the {self.obj} ids for the "
                              f"deleted-record check ({exc}); try again later.") from None


@dataclass(frozen=True)
class Settings:
    page_size: int = 2000
    lookback: float = 300.0
    bulk_threshold: int = 50_000
    bulk_page: int = 10_000
    bulk_wait: int = 5


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    """The REST record without ``attributes`` (type and URL, not data)."""
    record.pop("attributes", None)
    return record
