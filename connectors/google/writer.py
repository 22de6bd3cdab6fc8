"""The Google Sheets restore target: each target object is a tab of one spreadsheet.

    [targets.sheets]
    type = "google_sheets"
    spreadsheet_id = "1AbC..."           # a spreadsheet the account may edit
    token = { env = "GOOGLE_TOKEN" }     # or any other Google credential setting

Row 1 of a tab is its header; column ``id`` holds the archived record's id, which is also
the record's target id. A re-run finds each id in that column and updates its row instead of
adding another (idempotent, as a CSV target is); new records are appended below the table.
A tab is added when an object has none; columns are added to the header as fields appear.
Links are a column each (the parent's id). Values are written RAW: Sheets keeps them as
sent. Files cannot be kept in a cell: a record with a file is refused with a message.

Two write calls per batch at most (one ``values.batchUpdate`` for the header and the rows
that exist, one ``values.append`` for new rows), through the same client, retry policy and
error mapping as the Google connector.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from connectors.google.client import CREDENTIAL_SETTINGS, WRITE_SCOPES, GoogleClient
from connectors.google.streams.sheets import a1_tab
from exporter.errors import SourceError, TransientError
from exporter.settings import Setting
from exporter.writer import BATCH_SIZE, AnyFields, ObjectInfo, WriteItem, Writer, WriteResult

__all__ = ["GoogleSheetsWriter"]

ID = "id"
FILE_REFUSED = ("Google Sheets cannot hold files; restore this object to a csv target to "
                "keep its file.")




def _cell(value: Any) -> Any:
    """A value as a RAW cell: text, numbers and booleans as they are; nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


@dataclass
class _Tab:
    """What the writer knows of one tab: its header and the row number of each id."""

    title: str
    header: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


class GoogleSheetsWriter(Writer):
    """One spreadsheet; a tab per target object."""

    name: ClassVar[str] = "google_sheets"
    batch_size: int = 500
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("spreadsheet_id", "string", "The spreadsheet to restore into (the id in its "
                "address); the account must be allowed to edit it", required=True),
        *CREDENTIAL_SETTINGS, BATCH_SIZE)

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(target, config, secrets, log)
        self.spreadsheet = str(config["spreadsheet_id"])
        self.client = GoogleClient(config, secrets, self.log, scopes=WRITE_SCOPES)
        self._tabs: dict[str, _Tab] | None = None
        self._loaded: set[str] = set()  # tabs whose header and ids were read

    @property
    def _sheets(self) -> Any:
        return self.client.service("sheets").spreadsheets()

    # -- tabs ------------------------------------------------------------------------------

    def _titles(self, refresh: bool = False) -> dict[str, _Tab]:
        if self._tabs is None or refresh:
            info = self.client.call("Sheets spreadsheet", self._sheets.get(
                spreadsheetId=self.spreadsheet, fields="sheets(properties(title))"))
            self._tabs = {}
            for s in info.get("sheets") or []:
                title = str(s.get("properties", {}).get("title", ""))
                self._tabs[title] = _Tab(title)
            self._loaded.clear()
        return self._tabs

    def _tab(self, obj: str, create: bool) -> _Tab | None:
        """The tab of ``obj`` with its header and ids read (added when ``create``)."""
        tabs = self._titles()
        if obj not in tabs:
            if not create:
                return None
            # ``[]`` counts the tries: a retry looks before it adds again.
            self.client.policy.call("Sheets add tab", partial(self._add_tab, obj, []))
            tabs = self._titles()  # a retry may have read them again
            tabs.setdefault(obj, _Tab(obj))
        tab = tabs[obj]
        if obj not in self._loaded:
            self._read_tab(tab)
            self._loaded.add(obj)
        return tab

    def _add_tab(self, obj: str, tries: list[int]) -> None:
        tries.append(1)
        if len(tries) > 1 and obj in self._titles(refresh=True):
            return  # the earlier try added it; only its answer was lost
        self.client.execute("Sheets add tab", self._sheets.batchUpdate(
            spreadsheetId=self.spreadsheet,
            body={"requests": [{"addSheet": {"properties": {"title": obj}}}]}))

    def _read_tab(self, tab: _Tab) -> None:
        rows = self._values(tab.title)
        tab.header = [str(c) for c in rows[0]] if rows else []
        tab.rows = {}
        if ID not in tab.header:
            if any(rows[1:]):
                raise SourceError(f"The tab '{tab.title}' of the Google spreadsheet has no "
                                  f"'{ID}' column; restore into another spreadsheet or tab.")
            return
        col = tab.header.index(ID)
        for number, cells in enumerate(rows[1:], start=2):
            if col < len(cells) and cells[col] != "":
                tab.rows.setdefault(str(cells[col]), number)

    def _values(self, title: str) -> list[list[Any]]:
        got = self.client.call("Sheets rows", self._sheets.values().get(
            spreadsheetId=self.spreadsheet, range=a1_tab(title), majorDimension="ROWS"))
        rows = got.get("values") or []
        if not isinstance(rows, list):
            raise TransientError("Sheets rows: the answer is not a list of rows")
        return rows

    # -- the contract -----------------------------------------------------------------------

    def objects(self) -> list[str]:
        return sorted(self._titles())

    def describe(self, obj: str) -> ObjectInfo | None:
        return ObjectInfo(obj, AnyFields(), upsert=ID)

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        tab = self._tab(obj, create=True)
        assert tab is not None  # created when missing
        results = [WriteResult(i.key, error=FILE_REFUSED) for i in items if i.file is not None]
        rows = {i.key: self._row(i) for i in items if i.file is None}
        header = list(tab.header) or [ID]
        for values in rows.values():
            header += [name for name in values if name not in header]
        updates: list[dict[str, Any]] = []
        if header != tab.header:
            updates.append({"range": f"{a1_tab(obj)}!A1", "values": [header]})
        for key, values in rows.items():
            if key in tab.rows:
                # None leaves a cell as it is: fields this write does not carry stay.
                updates.append({"range": f"{a1_tab(obj)}!A{tab.rows[key]}",
                                "values": [[values.get(n) for n in header]]})
        if updates:
            self.client.call("Sheets update rows", self._sheets.values().batchUpdate(
                spreadsheetId=self.spreadsheet,
                body={"valueInputOption": "RAW", "data": updates}))
        tab.header = header
        new = [key for key in rows if key not in tab.rows]
        if new:
            # ``[]`` counts the tries: a retry looks before it appends again.
            self.client.policy.call("Sheets append rows", partial(self._append, tab, rows, new,
                                                                  []))
        results += [WriteResult(key, key, created=key in new) for key in rows]
        return results

    def _row(self, item: WriteItem) -> dict[str, Any]:
        values = {ID: item.key, **{k: _cell(v) for k, v in item.fields.items() if k != ID}}
        values.update({ln.name: ln.to_id for ln in item.links})
        return values

    def _append(self, tab: _Tab, rows: Mapping[str, Mapping[str, Any]], keys: list[str],
                tries: list[int]) -> None:
        """One try at appending the rows of ``keys``. An append is not idempotent: after a
        failed try, the tab is read again and only the rows still missing are sent."""
        tries.append(1)
        if len(tries) > 1:
            self._read_tab(tab)
            keys = [k for k in keys if k not in tab.rows]
            if not keys:
                return
        got = self.client.execute("Sheets append rows", self._sheets.values().append(
            spreadsheetId=self.spreadsheet, range=f"{a1_tab(tab.title)}!A1",
            valueInputOption="RAW", insertDataOption="INSERT_ROWS",
            body={"values": [[rows[k].get(n) for n in tab.header] for k in keys]}))
        where = str((got.get("updates") or {}).get("updatedRange", ""))
        found = re.search(r"![A-Z]+(\d+)(?::[A-Z]+(\d+))?$", where)
        if found is None:
            raise TransientError("Sheets append rows: the answer does not say where the rows "
                                 "went")
        first = int(found.group(1))
        for offset, key in enumerate(keys):
            tab.rows[key] = first + offset

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        return self.write(obj, items)

    def find(self, obj: str, items: list[WriteItem], match: list[str]) -> dict[str, str]:
        tab = self._tab(obj, create=False)
        return {} if tab is None else {i.key: i.key for i in items if i.key in tab.rows}

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The rows of ``ids`` as the spreadsheet holds them now (read again, for
        verification)."""
        if obj not in self._titles():
            return {}
        rows = self._values(obj)
        header = [str(c) for c in rows[0]] if rows else []
        by_id: dict[str, dict[str, Any]] = {}
        for cells in rows[1:]:
            row = dict(zip(header, cells, strict=False))
            if row.get(ID):
                by_id.setdefault(str(row[ID]), row)
        out: dict[str, dict[str, Any]] = {}
        for rid in ids:
            found = by_id.get(rid)
            if found is None:
                continue
            got: dict[str, Any] = {f: found.get(f) for f in fields}
            got["@links"] = {ln: [found[ln]] if found.get(ln) else [] for ln in links}
            out[rid] = got
        return out

    def calls(self) -> int:
        return self.client.requests
