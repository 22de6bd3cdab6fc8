"""The REST query API: ``query`` and ``queryAll`` with ``nextRecordsUrl`` paging, the
page size from ``Sforce-Query-Options: batchSize``, parents as nested records, and
``QUERY_TIMEOUT`` for big non-selective queries (``query_timeout_rows``). The Composite
resource (query subrequests among others) is ``composite.py``.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import Request, Response
from sandbox.salesforce.org import sf_error
from sandbox.salesforce.records import Column, RecordReader
from sandbox.salesforce.schema import ObjectDef
from sandbox.salesforce.soql import SoqlError
from sandbox.salesforce.store import make_id

__all__ = ["QueryAPI"]

BATCH_MIN, BATCH_MAX = 200, 2000
MAX_CURSORS = 64  # open query locators kept; older ones answer INVALID_QUERY_LOCATOR


class QueryAPI(RecordReader):
    """SOQL over REST, paged through open query locators."""

    def _query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        ver = request.params["ver"]
        try:
            obj, fields, rows, count = self._run_soql(text, request.params["kind"] == "queryAll",
                                                      ver)
        except SoqlError as exc:
            raise sf_error(400, exc.code, exc.render()) from None
        limit = self.query_timeout_rows
        if limit is not None and len(self.store.records[obj.name]) > limit and len(rows) > limit:
            # a big, non-selective REST query: Salesforce gives up; Bulk 2.0 still works
            raise sf_error(400, "QUERY_TIMEOUT", "Your query request was running for too long.")
        if count:
            return Response.json({"totalSize": len(rows), "done": True, "records": []})
        self._serial += 1
        cursor = make_id("01g", self._serial)
        self.cursors[cursor] = {"obj": obj, "fields": fields, "rows": rows}
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return self._page(cursor, 0, request)

    def _query_more(self, request: Request) -> Response:
        cursor, _, offset = request.params["locator"].rpartition("-")
        if cursor not in self.cursors:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self.cursors.move_to_end(cursor)
        return self._page(cursor, int(offset), request)

    def _page(self, cursor: str, offset: int, request: Request) -> Response:
        """One page; its size comes from this request's Sforce-Query-Options header."""
        state, ver = self.cursors[cursor], request.params["ver"]
        size = _batch_size(request.headers.get("sforce-query-options", ""))
        rows = state["rows"]
        page = rows[offset: offset + size]
        body: dict[str, Any] = {"totalSize": len(rows), "done": offset + size >= len(rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{ver}/query/{cursor}-{offset + size}"
        body["records"] = [self._project(state["obj"], rec, state["fields"], ver)
                           for rec in page]
        return Response.json(body)

    def _project(self, obj: ObjectDef, rec: dict[str, Any], columns: list[Column],
                 ver: str) -> dict[str, Any]:
        """A REST query record: attributes, fields, and parents as nested records."""
        out: dict[str, Any] = {"attributes": {
            "type": obj.name, "url": f"/services/data/v{ver}/sobjects/{obj.name}/{rec['Id']}"}}
        for col in columns:
            if col.rel is None:
                out[col.name] = col.get(rec)
                continue
            parent = self.store.records[col.rel_type].get(rec.get(col.ref) or "")
            if parent is None:
                out[col.rel] = None
                continue
            nested = out.get(col.rel)
            if nested is None:
                nested = out[col.rel] = {"attributes": {"type": col.rel_type, "url": (
                    f"/services/data/v{ver}/sobjects/{col.rel_type}/{parent['Id']}")}}
            nested[col.field.name] = col.leaf(parent)
        return out


def _batch_size(options: str) -> int:
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(BATCH_MIN, min(BATCH_MAX, int(value)))
    return BATCH_MAX
