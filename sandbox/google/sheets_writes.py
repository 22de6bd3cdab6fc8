"""Sheets v4 writes for the Google emulator: what a restore into a spreadsheet needs.

Routes (paths as google-api-python-client builds them with ``api_endpoint = BASE + "/"``):

- ``PUT  v4/spreadsheets/{id}/values/{range}`` (values.update)
- ``POST v4/spreadsheets/{id}/values/{range}:append`` (values.append)
- ``POST v4/spreadsheets/{id}/values:batchUpdate`` (values.batchUpdate)
- ``POST v4/spreadsheets/{id}:batchUpdate`` (spreadsheets.batchUpdate: ``addSheet`` only)

As documented by Google: ``valueInputOption`` (RAW or USER_ENTERED) is required; a single-cell
range is an anchor the values grow from, a larger range bounds them (400 when they do not
fit); ``null`` leaves a cell as it is and ``""`` clears it; ``majorDimension=COLUMNS`` is
honoured; values are kept as Sheets formats them (``TRUE``, ``3``, ``2.5``). Append finds the
table starting at the range's top-left cell (down to the last row with a value in the
range's columns) and writes below it, inserting rows with ``insertDataOption=INSERT_ROWS``.
A batch of ``addSheet`` requests is all-or-nothing; a repeated tab title is refused with
Google's message. Every write bumps the spreadsheet's Drive ``modifiedTime`` and adds a
Drive change, as a real edit does.

Not emulated: formulas and USER_ENTERED parsing (a typed value is kept as typed), grid
limits (tabs grow as needed; ``gridProperties`` stay computed from the data), the other
batchUpdate requests, ``includeValuesInResponse``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.google.agency_data import GoogleStore
from sandbox.google.content import col_letters
from sandbox.google.query import A1Range
from sandbox.http import HTTPError, Request, Response

__all__ = ["sheet_write_routes"]

Handler = Callable[[Request], Response]
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}


def refuse(status: int, message: str) -> HTTPError:
    """The error shape Sheets v4 uses: no ``errors`` list."""
    return HTTPError(Response.json({"error": {"code": status, "message": message,
                                              "status": STATUS[status]}}, status=status))


def formatted(value: Any, where: str) -> str | None:
    """A RAW value as FORMATTED_VALUE reads it back; None leaves the cell as it is."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise refuse(400, f"Invalid value at '{where}': only strings, numbers, booleans and null "
                      "are accepted in a cell.")


def a1(tab: str, r1: int, c1: int, r2: int, c2: int) -> str:
    name = "'" + tab.replace("'", "''") + "'"
    start, end = f"{col_letters(c1)}{r1}", f"{col_letters(c2)}{r2}"
    return f"{name}!{start}" if start == end else f"{name}!{start}:{end}"


class SheetWrites:
    """The write handlers over the emulator's store (the emulator's guard adds the token
    check, path decoding and its lock)."""

    def __init__(self, store: GoogleStore) -> None:
        self.store = store

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        s = "/v4/spreadsheets/(?P<sid>[^/:]+)"
        return [
            ("POST", s + ":batchUpdate", "sheets.spreadsheets.batchUpdate", self.batch_update),
            ("POST", s + "/values:batchUpdate", "sheets.values.batchUpdate",
             self.values_batch_update),
            ("POST", s + "/values/(?P<range>[^/]+):append", "sheets.values.append",
             self.values_append),
            ("PUT", s + "/values/(?P<range>[^/]+)", "sheets.values.update", self.values_update),
        ]

    # -- helpers ----------------------------------------------------------------------------

    def _sheet(self, req: Request) -> dict[str, Any]:
        sheet = self.store.sheets.get(req.params["sid"])
        if sheet is None:
            raise refuse(404, "Requested entity was not found.")
        return sheet

    @staticmethod
    def _input_option(value: Any) -> None:
        if value not in ("RAW", "USER_ENTERED"):
            raise refuse(400, "'valueInputOption' is required but not specified"
                         if value in (None, "") else
                         f"Invalid value at 'value_input_option' ({value})")

    @staticmethod
    def _range(sheet: dict[str, Any], text: str) -> A1Range:
        try:
            return A1Range.parse(text, [t["title"] for t in sheet["tabs"]])
        except ValueError:
            raise refuse(400, f"Unable to parse range: {text}") from None

    @staticmethod
    def _block(body: dict[str, Any]) -> list[list[Any]]:
        values = body.get("values") or []
        if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
            raise refuse(400, "Invalid value at 'data.values': a list of rows is expected.")
        if body.get("majorDimension", "ROWS") == "COLUMNS":
            height = max((len(c) for c in values), default=0)
            values = [[c[i] if i < len(c) else None for c in values] for i in range(height)]
        return values

    def _touch(self, sid: str) -> None:
        self.store.modify_file(self.store.files[sid])

    def _put(self, sid: str, sheet: dict[str, Any], text: str, body: dict[str, Any],
             anchor: tuple[int, int] | None = None) -> dict[str, Any]:
        """Write one ValueRange; the UpdateValuesResponse."""
        if body.get("range") not in (None, text):
            raise refuse(400, f"Requested writing within range [{text}], but the request "
                              f"body has range [{body.get('range')}].")
        rng = self._range(sheet, text)
        block = self._block(body)
        tab = next(t for t in sheet["tabs"] if t["title"] == rng.tab)
        r1, c1 = anchor or (rng.r1, rng.c1)
        single = ":" not in text.rsplit("!", 1)[-1] and rng.r2 == rng.r1 and rng.c2 == rng.c1
        width = max((len(r) for r in block), default=0)
        if not single and anchor is None:
            if rng.r2 is not None and r1 + len(block) - 1 > rng.r2:
                raise refuse(400, f"Requested writing within range [{text}], but tried "
                                  f"writing to row [{r1 + len(block) - 1}]")
            if rng.c2 is not None and c1 + width - 1 > rng.c2:
                raise refuse(400, f"Requested writing within range [{text}], but tried "
                                  f"writing to column [{col_letters(c1 + width - 1)}]")
        cells = 0
        for i, row in enumerate(block):
            for j, value in enumerate(row):
                cell = formatted(value, f"data.values[{i}][{j}]")
                if cell is not None:
                    self._set(tab, r1 + i, c1 + j, cell)
                    cells += 1
        out: dict[str, Any] = {"spreadsheetId": sid, "updatedRange": a1(
            rng.tab, r1, c1, r1 + max(len(block), 1) - 1, c1 + max(width, 1) - 1)}
        if cells:
            out.update(updatedRows=len(block), updatedColumns=width, updatedCells=cells)
        return out

    @staticmethod
    def _set(tab: dict[str, Any], row: int, col: int, value: str) -> None:
        rows, keys = tab["rows"], tab.setdefault("keys", [])
        while len(rows) < row:
            rows.append([])
        while len(keys) < len(rows):
            keys.append("")  # rows written here have no agency key
        cells = rows[row - 1]
        while len(cells) < col:
            cells.append("")
        cells[col - 1] = value

    # -- handlers -----------------------------------------------------------------------------

    def values_update(self, req: Request) -> Response:
        sheet = self._sheet(req)
        self._input_option(req.arg("valueInputOption"))
        out = self._put(req.params["sid"], sheet, req.params["range"], req.json() or {})
        self._touch(req.params["sid"])
        return Response.json(out)

    def values_batch_update(self, req: Request) -> Response:
        sheet = self._sheet(req)
        body = req.json() or {}
        self._input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        for vr in data:  # all ranges are checked before anything is written
            self._range(sheet, str(vr.get("range", "")))
        responses = [self._put(req.params["sid"], sheet, str(vr["range"]), vr) for vr in data]
        self._touch(req.params["sid"])
        return Response.json({
            "spreadsheetId": req.params["sid"],
            "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
            "totalUpdatedColumns": max((r.get("updatedColumns", 0) for r in responses),
                                       default=0),
            "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses
                                       if r.get("updatedCells")}),
            "responses": responses})

    def values_append(self, req: Request) -> Response:
        sheet, sid, text = self._sheet(req), req.params["sid"], req.params["range"]
        self._input_option(req.arg("valueInputOption"))
        option = req.arg("insertDataOption") or "OVERWRITE"
        if option not in ("OVERWRITE", "INSERT_ROWS"):
            raise refuse(400, f"Invalid value at 'insert_data_option' ({option})")
        rng = self._range(sheet, text)
        tab = next(t for t in sheet["tabs"] if t["title"] == rng.tab)
        last = self._table_end(tab["rows"], rng)
        body = req.json() or {}
        if option == "INSERT_ROWS":
            height = len(self._block(body))
            tab["rows"][last:last] = [[] for _ in range(height)]
            keys = tab.setdefault("keys", [])
            keys[last:last] = ["" for _ in range(height)]
        out: dict[str, Any] = {"spreadsheetId": sid, "updates": self._put(
            sid, sheet, text, body, anchor=(last + 1, rng.c1))}
        if last >= rng.r1:
            width = max(len(r) for r in tab["rows"][rng.r1 - 1:last])
            out["tableRange"] = a1(rng.tab, rng.r1, rng.c1, last, max(width, rng.c1))
        self._touch(sid)
        return Response.json(out)

    @staticmethod
    def _table_end(rows: list[list[str]], rng: A1Range) -> int:
        """The last row (1-based) of the table that starts at the range's first row: the
        last row with a value in the range's columns (``rng.r1 - 1`` when there is none)."""
        end = rng.r1 - 1
        stop = len(rows) if rng.r2 is None else min(rng.r2, len(rows))
        for number in range(rng.r1, stop + 1):
            cells = rows[number - 1][rng.c1 - 1:rng.c2]
            if any(c != "" for c in cells):
                end = number
        return end

    def batch_update(self, req: Request) -> Response:
        """spreadsheets.batchUpdate with ``addSheet`` requests, all or none."""
        sheet = self._sheet(req)
        requests = (req.json() or {}).get("requests") or []
        titles = [t["title"] for t in sheet["tabs"]]
        next_id = max((int(t["sheetId"]) for t in sheet["tabs"]), default=-1) + 1
        added: list[dict[str, Any]] = []
        for i, request in enumerate(requests):
            if set(request) != {"addSheet"}:
                raise refuse(400, f"Invalid requests[{i}]: only addSheet is emulated.")
            props = dict(request["addSheet"].get("properties") or {})
            title = str(props.get("title") or f"Sheet{len(titles) + 1}")
            if title in titles:
                raise refuse(400, f'Invalid requests[{i}].addSheet: A sheet with the name '
                                  f'"{title}" already exists. Please enter another name.')
            sheet_id = int(props.get("sheetId", next_id))
            next_id = max(next_id, sheet_id) + 1
            titles.append(title)
            added.append({"sheetId": sheet_id, "title": title, "rows": [], "keys": []})
        replies = []
        for tab in added:
            sheet["tabs"].append(tab)
            rows, cols = A1Range.grid(tab["rows"])
            replies.append({"addSheet": {"properties": {
                "sheetId": tab["sheetId"], "title": tab["title"],
                "index": len(sheet["tabs"]) - 1, "sheetType": "GRID",
                "gridProperties": {"rowCount": rows, "columnCount": cols}}}})
        if added:
            self._touch(req.params["sid"])
        return Response.json({"spreadsheetId": req.params["sid"], "replies": replies})


def sheet_write_routes(store: GoogleStore) -> list[tuple[str, str, str, Handler]]:
    """(method, path pattern, endpoint name, handler) of every Sheets write route."""
    return SheetWrites(store).routes()
