"""Stream ``sheet_rows``: one record per non-empty row below the header of every grid tab.

Spreadsheets have no change feed. The cursor keeps, per spreadsheet, its Drive
``modifiedTime`` and the row ids each tab had: an unchanged spreadsheet costs no Sheets
request; a changed one is re-read in row windows and the archive keeps a new version only
of rows whose content changed (it dedups by content hash). Ids that were there last time and
are not now (a row emptied or cut off, a tab renamed or removed, a spreadsheet trashed or
deleted) become tombstones in the same run.

A record is ``{"id", "spreadsheetId", "sheet" (the tab title), "values": {header name:
cell text}}``. Row ids: ``<spreadsheetId>/<tab title>/<key>``. A sheet row has no identity of
its own, so each tab's key is found by inspection the first time the tab is read: the first
column (left to right) whose header names an identifier (``ID``, ``Client ID``, ``client_id``,
``Email``, ``E-mail``, ``Number``, ``Client No``, ``Code``, ``Key``) or whose values are all
email addresses, filled in and different on every row of the tab's first 5,000 rows. The
key is the cell's text (a repeated key later gets "#2", "#3"...), and inserting or deleting
rows then touches only those rows. A tab without such a column is keyed by row number
(``<row number>``): deleting a row in the middle renumbers every row below it, and those
rows get new versions. The choice is kept in the cursor and kept while the column is there
(a tab archived by row number before stays so); ``row_keys`` (tab title -> header names)
chooses instead (several columns: values joined by "|").
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.google.client import GoogleClient
from connectors.google.schemas import ROW_SCHEMA
from exporter.connector import Batch, Stream
from exporter.errors import SourceError, TransientError
from exporter.record import Record

__all__ = ["SheetRowsStream", "a1_tab", "column_letter", "field_names"]

SHEET = "application/vnd.google-apps.spreadsheet"
ROW_WINDOW = 5000  # rows per values.get: bounded memory, few requests
TOMBSTONE_BATCH = 5000


def a1_tab(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def column_letter(n: int) -> str:
    name = ""
    while n >= 0:
        n, rem = divmod(n, 26)
        name = chr(65 + rem) + name
        n -= 1
    return name


def field_names(header: list[Any], width: int) -> list[str]:
    """Field names for ``width`` columns: the header cell, or the column letter when the
    header cell is empty; a repeated name gets " (2)", " (3)"..."""
    names: list[str] = []
    seen: set[str] = set()
    for i in range(width):
        cell = str(header[i]).strip() if i < len(header) else ""
        base = cell or column_letter(i)
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name)
        names.append(name)
    return names


_ID_HEADER = re.compile(r"(?i)^(?:.*[\s_-])?(?:id|e-?mail|number|no|code|key)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def natural_key(header: list[Any], rows: list[list[Any]]) -> str | None:
    """The header of the tab's natural key found in ``rows`` (see the module docstring), or
    None: row numbers."""
    names = field_names(header, len(header))
    filled = [r for r in rows if any(str(v) != "" for v in r)]
    if not filled:
        return None
    unique: list[tuple[int, str]] = []
    for col, name in enumerate(names):
        if col >= len(header) or str(header[col]).strip() == "":
            continue
        values = [str(r[col]).strip() if col < len(r) else "" for r in filled]
        if "" in values or len(set(values)) != len(values):
            continue
        if _ID_HEADER.match(str(header[col]).strip()):
            unique.append((0, name))
        elif all(_EMAIL.match(v) for v in values):
            unique.append((1, name))
    return min(unique, key=lambda u: u[0])[1] if unique else None


class _TabRows:
    """Turns one tab's value rows into (row id suffix, data)."""

    def __init__(self, title: str, header: list[Any], key_names: list[str] | None) -> None:
        self.title = title
        self.header = header
        self.names = field_names(header, len(header))
        self.key_cols: list[int] | None = None
        if key_names:
            missing = [k for k in key_names if k not in self.names]
            if missing:
                raise SourceError(f"row_keys names {', '.join(missing)}, which the tab "
                                  f"'{title}' has no header for; fix row_keys in the config.")
            self.key_cols = [self.names.index(k) for k in key_names]
        self.seen: dict[str, int] = {}

    def row(self, number: int, cells: list[Any]) -> tuple[str, dict[str, Any]] | None:
        if not any(str(v) != "" for v in cells):
            return None  # an empty row is no record
        if len(cells) > len(self.names):
            self.names = field_names(self.header, len(cells))
        data = dict(zip(self.names, cells, strict=False))
        if self.key_cols is None:
            return str(number), data
        key = "|".join(str(cells[i]) if i < len(cells) else "" for i in self.key_cols)
        n = self.seen[key] = self.seen.get(key, 0) + 1
        return (key if n == 1 else f"{key}#{n}"), data


class SheetRowsStream(Stream):
    """Rows of every tab of the chosen spreadsheets; see the module docstring."""

    name = "sheet_rows"
    primary_key = "id"
    schema = ROW_SCHEMA
    reconcile = True
    description = "Rows of every tab of the chosen spreadsheets"

    def __init__(self, client: GoogleClient, chosen: list[str] | None,
                 row_keys: Mapping[str, list[str]], log: logging.Logger) -> None:
        super().__init__()
        self.client = client
        self.chosen = chosen
        self.row_keys = row_keys
        self.log = log
        self._files: list[dict[str, Any]] | None = None
        self._meta: dict[str, dict[str, Any]] = {}
        #: spreadsheet -> tab -> its key column (None: row numbers), kept in the cursor
        self.keys: dict[str, dict[str, str | None]] = {}

    def spreadsheets(self) -> list[dict[str, Any]]:
        """The spreadsheets to read (id, name, modifiedTime), from one Drive listing."""
        if self._files is None:
            drive = self.client.service("drive")
            q = f"mimeType = '{SHEET}' and trashed = false"
            found = [f for page in self.client.pages("Drive spreadsheet listing",
                                                  lambda t: drive.files().list(
                                                      q=q, pageSize=1000, pageToken=t,
                                                      fields="nextPageToken,files(id,name,"
                                                             "modifiedTime)"))
                     for f in page.get("files") or []]
            if self.chosen is not None:
                by_id = {f["id"]: f for f in found}
                for sid in self.chosen:
                    if sid not in by_id:
                        self.log.warning("spreadsheet %s is not in Drive (or is trashed)", sid)
                found = [by_id[s] for s in self.chosen if s in by_id]
            self._files = found
        return self._files

    def meta(self, sid: str) -> dict[str, Any]:
        """Spreadsheet properties, grid tabs and their header rows (two requests)."""
        if sid not in self._meta:
            sheets = self.client.service("sheets").spreadsheets()
            info = self.client.call("Sheets spreadsheet", sheets.get(
                spreadsheetId=sid, fields="spreadsheetId,properties,sheets(properties)"))
            tabs = [s["properties"] for s in info.get("sheets") or []
                    if s.get("properties", {}).get("sheetType", "GRID") == "GRID"]
            headers: list[Any] = []
            if tabs:
                got = self.client.call("Sheets header rows", sheets.values().batchGet(
                    spreadsheetId=sid, ranges=[f"{a1_tab(t['title'])}!1:1" for t in tabs]))
                headers = got.get("valueRanges") or []
                if len(headers) != len(tabs):
                    raise TransientError("Sheets header rows: the answer lacks some tabs")
            info["sheets"] = [{"properties": t, "header": (h.get("values") or [[]])[0]}
                              for t, h in zip(tabs, headers, strict=True)]
            self._meta[sid] = info
        return self._meta[sid]

    def archived_schema(self) -> dict[str, Any]:
        """The row schema, and each spreadsheet's properties, tab properties and header row
        (two requests per spreadsheet per run)."""
        return {"row": dict(ROW_SCHEMA), "row_keys": dict(self.row_keys), "spreadsheets": {
            f["id"]: {"name": f.get("name"), "modifiedTime": f.get("modifiedTime"),
                      **self.meta(f["id"])} for f in self.spreadsheets()}}

    def probe(self) -> str:
        """The chosen spreadsheets are all in Drive (for ``check``)."""
        found = self.spreadsheets()
        if self.chosen is not None and len(found) < len(self.chosen):
            missing = sorted(set(self.chosen) - {f["id"] for f in found})
            raise SourceError(f"Spreadsheet(s) {', '.join(missing)} were not found in Drive; "
                              "check the ids in the spreadsheets setting and the sharing.")
        return f"{len(found)} spreadsheet(s)."

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        prev: dict[str, Any] = {} if full or not isinstance(cursor, dict) else cursor
        state = dict(prev)
        for sid, entry in prev.items():
            self.keys[sid] = _kept_keys(entry)
        current = self.spreadsheets()
        for f in current:
            sid = f["id"]
            old = prev.get(sid) or {}
            if old.get("modifiedTime") == f.get("modifiedTime"):
                continue
            now: dict[str, list[str]] = {}
            for tab in self.meta(sid)["sheets"]:
                yield from self._tab(sid, tab, now)
            gone = [f"{sid}/{title}/{key}" for title, keys in _ids(old).items()
                    for key in sorted(set(keys) - set(now.get(title, ())))]
            keyed = set(self.row_keys) | {t for t, k in self.keys.get(sid, {}).items() if k}
            state[sid] = {"modifiedTime": f.get("modifiedTime"),
                          "tabs": _compact(now, keyed), "keys": self.keys.get(sid, {})}
            yield from self._tombstones(gone, dict(state))
        for sid in [s for s in prev if s not in {f["id"] for f in current}]:
            gone = [f"{sid}/{title}/{key}" for title, keys in _ids(prev[sid]).items()
                    for key in keys]
            del state[sid]
            yield from self._tombstones(gone, dict(state))

    def _tombstones(self, ids: list[str], cursor: dict[str, Any]) -> Iterator[Batch]:
        for i in range(0, max(len(ids), 1), TOMBSTONE_BATCH):
            last = i + TOMBSTONE_BATCH >= len(ids)
            yield Batch([Record(rid, None, deleted=True) for rid in ids[i:i + TOMBSTONE_BATCH]],
                        cursor=cursor if last else None)

    def _windows(self, sid: str, tab: Mapping[str, Any]) -> Iterator[tuple[int, list[Any]]]:
        """(first row number, rows) per window of the tab below the header."""
        props = tab["properties"]
        total = int((props.get("gridProperties") or {}).get("rowCount", 0))
        values = self.client.service("sheets").spreadsheets().values()
        start = 2
        while start <= total:
            end = min(start + ROW_WINDOW - 1, total)
            got = self.client.call("Sheets rows", values.get(
                spreadsheetId=sid, range=f"{a1_tab(props['title'])}!{start}:{end}",
                majorDimension="ROWS"))
            rows = got.get("values") or []
            if not isinstance(rows, list):
                raise TransientError("Sheets rows: the answer is not a list of rows")
            yield start, rows
            start = end + 1

    def _key(self, sid: str, title: str, header: list[Any], first: list[list[Any]]
             ) -> list[str] | None:
        """The tab's key columns: ``row_keys``, else the choice kept (while its column is
        there), else one found in the first window (None: row numbers)."""
        if title in self.row_keys:
            return self.row_keys[title]
        names = field_names(header, len(header))
        kept = self.keys.get(sid, {})
        if title in kept and (kept[title] is None or kept[title] in names):
            choice = kept[title]
        else:
            choice = natural_key(header, first)
            if choice is not None:
                self.log.info("spreadsheet %s, tab '%s': rows keyed by the column '%s'",
                              sid, title, choice)
        self.keys.setdefault(sid, {})[title] = choice
        return None if choice is None else [choice]

    def _rows(self, sid: str, tab: Mapping[str, Any]) -> Iterator[list[tuple[str, Any]]]:
        """Per window: (row id suffix, data) of the tab's non-empty rows."""
        title = tab["properties"]["title"]
        windows = self._windows(sid, tab)
        first = next(windows, None)
        key = self._key(sid, title, list(tab["header"]), first[1] if first else [])
        rows = _TabRows(title, list(tab["header"]), key)
        for start, window in itertools.chain([first] if first else [], windows):
            out = []
            for offset, cells in enumerate(window):
                got = rows.row(start + offset, cells)
                if got is not None:
                    out.append(got)
            yield out

    def _tab(self, sid: str, tab: Mapping[str, Any], now: dict[str, list[str]]
             ) -> Iterator[Batch]:
        title = tab["properties"]["title"]
        keys = now.setdefault(title, [])
        prefix = f"{sid}/{title}/"
        for window in self._rows(sid, tab):
            keys.extend(key for key, _ in window)
            if window:
                yield Batch([Record(prefix + key, {"id": prefix + key, "spreadsheetId": sid,
                                                   "sheet": title, "values": values})
                             for key, values in window])

    def ids(self) -> Iterator[str]:
        for f in self.spreadsheets():
            for tab in self.meta(f["id"])["sheets"]:
                title = tab["properties"]["title"]
                for window in self._rows(f["id"], tab):
                    yield from (f"{f['id']}/{title}/{key}" for key, _ in window)


def _compact(tabs: dict[str, list[str]], keyed: set[str]) -> dict[str, Any]:
    """The cursor's form of each tab's row ids: positional ids as their last row number
    (rows 2..last; blanks among them are harmless tombstones), keys as a list."""
    out: dict[str, Any] = {}
    for title, keys in tabs.items():
        if title not in keyed:
            out[title] = max((int(k) for k in keys), default=1)
        else:
            out[title] = keys
    return out


def _kept_keys(entry: Any) -> dict[str, str | None]:
    """The key columns a cursor entry kept; a tab archived before keys were looked for (an
    entry without them) stays keyed as it was: by row number, or by a list of keys that
    ``row_keys`` chose."""
    if not isinstance(entry, Mapping):
        return {}
    kept = entry.get("keys")
    if isinstance(kept, Mapping):
        return {str(t): (None if k is None else str(k)) for t, k in kept.items()}
    return {str(t): None for t, v in (entry.get("tabs") or {}).items() if isinstance(v, int)}


def _ids(entry: Mapping[str, Any]) -> dict[str, list[str]]:
    """Row id suffixes per tab from a cursor entry (see :func:`_compact`)."""
    out: dict[str, list[str]] = {}
    for title, value in (entry.get("tabs") or {}).items():
        out[title] = ([str(n) for n in range(2, int(value) + 1)] if isinstance(value, int)
                      else [str(k) for k in value])
    return out
