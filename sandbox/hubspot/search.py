"""CRM search for the HubSpot emulator: filter groups (OR of groups, AND of filters), typed
comparisons, sorts and free-text query over a :class:`~sandbox.hubspot.store.Store`;
and the route, :class:`SearchAPI`: ``limit`` <= 200, the 10,000-result paging cap, and the
``search_lag`` fault.

Values compare by the property's type: datetimes and dates as epoch millis (filters may give
millis or ISO strings), numbers as floats, everything else case-insensitively as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.http import Request, Response
from sandbox.hubspot.objects import ObjectsAPI
from sandbox.hubspot.portal import SEARCH_CAP
from sandbox.hubspot.store import Record, Store, to_ms

__all__ = ["SearchAPI", "SearchError", "search_ids"]

MAX_GROUPS = 5
MAX_FILTERS = 6  # per group
Predicate = Callable[[Record], bool]


class SearchError(ValueError):
    """A search request HubSpot would answer with a 400."""


def _converter(ptype: str) -> Callable[[str], Any]:
    if ptype in ("datetime", "date"):
        return to_ms
    if ptype == "number":
        return float
    return str.lower


def _getter(store: Store, tname: str, prop: str, conv: Callable[[str], Any]
            ) -> Callable[[Record], Any]:
    """The record's comparable value of ``prop``, or None when unset or empty."""
    if prop == "hs_object_id":
        return lambda rec: float(rec.id)
    if prop == "hs_lastmodifieddate" or (prop == "lastmodifieddate" and tname == "contacts"):
        return lambda rec: rec.updated

    def get(rec: Record) -> Any:
        raw = store.value(tname, rec, prop)
        if not raw:
            return None
        try:
            return conv(raw)
        except ValueError:
            return None

    return get


def _predicate(store: Store, tname: str, spec: dict[str, Any]) -> Predicate:
    prop, op = spec.get("propertyName"), spec.get("operator", "EQ")
    defs = store.properties[tname]
    if prop not in defs:
        raise SearchError(f"There was a problem with the request: property {prop!r} does not "
                          f"exist on {tname}")
    ptype = defs[prop]["type"]
    conv = _converter(ptype)
    get = _getter(store, tname, prop, conv)
    try:
        value = conv(str(spec["value"])) if spec.get("value") is not None else None
        high = conv(str(spec["highValue"])) if spec.get("highValue") is not None else None
        values = [conv(str(v)) for v in spec.get("values") or []]
    except ValueError as exc:
        raise SearchError(f"Invalid filter value for {prop}: {exc}") from exc
    if op in ("EQ", "NEQ", "GT", "GTE", "LT", "LTE") and value is None:
        raise SearchError(f"Filter on {prop} with operator {op} needs a value")
    checks: dict[str, Predicate] = {
        "EQ": lambda r: get(r) == value,
        "NEQ": lambda r: get(r) != value,
        "GT": lambda r: (v := get(r)) is not None and v > value,
        "GTE": lambda r: (v := get(r)) is not None and v >= value,
        "LT": lambda r: (v := get(r)) is not None and v < value,
        "LTE": lambda r: (v := get(r)) is not None and v <= value,
        "BETWEEN": lambda r: (v := get(r)) is not None and value <= v <= high,
        "IN": lambda r: get(r) in values,
        "NOT_IN": lambda r: get(r) not in values,
        "HAS_PROPERTY": lambda r: get(r) is not None,
        "NOT_HAS_PROPERTY": lambda r: get(r) is None,
        "CONTAINS_TOKEN": lambda r: _contains(store.value(tname, r, prop), spec.get("value")),
        "NOT_CONTAINS_TOKEN": lambda r: not _contains(store.value(tname, r, prop),
                                                      spec.get("value")),
    }
    if op not in checks:
        raise SearchError(f"Unsupported operator {op}")
    if op == "BETWEEN" and (value is None or high is None):
        raise SearchError("BETWEEN needs value and highValue")
    return checks[op]


def _contains(raw: str | None, token: Any) -> bool:
    if not raw or token is None:
        return False
    needle = str(token).strip("*").lower()
    return needle in raw.lower()


def _sort_key(store: Store, tname: str, sort: Any) -> tuple[Callable[[Record], Any], bool]:
    if isinstance(sort, str):
        prop, descending = sort.lstrip("-"), sort.startswith("-")
    else:
        prop = sort.get("propertyName", "hs_object_id")
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    defs = store.properties[tname]
    if prop not in defs:
        raise SearchError(f"Cannot sort on unknown property {prop!r}")
    get = _getter(store, tname, prop, _converter(defs[prop]["type"]))
    return get, descending


def search_ids(store: Store, tname: str, query: dict[str, Any],
               visible_until: int | None) -> list[int]:
    """Ids of the live records of ``tname`` matching ``query`` (``filterGroups``, ``sorts``,
    ``query``), in result order. Records modified after ``visible_until`` (epoch millis) are
    not yet indexed: that is the search-lag fault."""
    groups = query.get("filterGroups") or []
    if len(groups) > MAX_GROUPS or any(len(g.get("filters") or []) > MAX_FILTERS for g in groups):
        raise SearchError(f"Too many filters: at most {MAX_GROUPS} groups of {MAX_FILTERS}")
    compiled = [[_predicate(store, tname, f) for f in g.get("filters") or []] for g in groups]
    compiled = [g for g in compiled if g]
    text = str(query.get("query") or "").lower()
    text_props = store.object_types[tname].default_props
    hits: list[Record] = []
    for rec in store.types[tname].records.values():
        if rec.archived_at is not None:
            continue
        if visible_until is not None and rec.updated > visible_until:
            continue
        if compiled and not any(all(p(rec) for p in g) for g in compiled):
            continue
        if text and not any(text in (store.value(tname, rec, p) or "").lower()
                            for p in text_props):
            continue
        hits.append(rec)
    hits.sort(key=lambda r: r.id)
    for sort in reversed(query.get("sorts") or []):
        get, descending = _sort_key(store, tname, sort)
        present = [r for r in hits if get(r) is not None]
        absent = [r for r in hits if get(r) is None]
        present.sort(key=get, reverse=descending)  # stable: ties stay in id order
        hits = present + absent
    return [r.id for r in hits]


class SearchAPI(ObjectsAPI):
    """``/crm/v3/objects/{type}/search`` over :func:`search_ids`, cached per query and
    store version."""

    def _search(self, request: Request) -> Response:
        tname = self._type(request.params["type"])
        body = self._body(request)
        limit = int(body.get("limit") or 10)
        if not 1 <= limit <= 200:
            raise self._fail(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= SEARCH_CAP:
            # HubSpot refuses to page past 10,000 results of one query (wording: ours)
            raise self._fail(400, f"Paging past {SEARCH_CAP} results is not supported. Narrow "
                             "the search with filters (for example on hs_object_id or the "
                             "last-modified date) and search again.", "VALIDATION_ERROR")
        now = max(self._now_ms(), self.portal.store.clock)
        lag = self.faults.active("search_lag", self.vendor)
        visible_until = now - int(lag.delay * 1000) if lag is not None else None
        query = {k: body.get(k) for k in ("filterGroups", "sorts", "query")}
        key = (json.dumps(query, sort_keys=True), self.portal.store.version, visible_until)
        cached = self._search_cache.get(tname)
        if cached is not None and cached[0] == key:
            ids = cached[1]
        else:
            try:
                ids = search_ids(self.portal.store, tname, query, visible_until)
            except SearchError as exc:
                raise self._fail(400, str(exc), "VALIDATION_ERROR") from exc
            self._search_cache[tname] = (key, ids)
        names = self._prop_names(tname, list(body.get("properties") or []))
        records = self.portal.store.types[tname].records
        page = [self._obj(tname, records[i], names) for i in ids[after:after + limit]]
        out: dict[str, Any] = {"total": len(ids), "results": page}
        if after + limit < len(ids):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(out)

