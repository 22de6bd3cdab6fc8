"""Sheets v4: spreadsheets.get, values.get and values.batchGet (A1 ranges, row or
column major). Read-only: no writes, no formulas.
"""

from __future__ import annotations

from typing import Any

from sandbox.google.query import A1Range
from sandbox.google.store import TIMEZONE
from sandbox.google.workspace import WorkspaceAPI, sheets_error
from sandbox.http import Request, Response

__all__ = ["SheetsAPI"]


class SheetsAPI(WorkspaceAPI):
    """Spreadsheets held in the Drive store."""

    def _sheet(self, req: Request) -> dict[str, Any]:
        sheet = self.store.sheets.get(req.params["sid"])
        if sheet is None:
            raise sheets_error(404, "Requested entity was not found.")
        return sheet

    def sheets_get(self, req: Request) -> Response:
        sid = req.params["sid"]
        sheet = self._sheet(req)
        out = {
            "spreadsheetId": sid,
            "properties": {"title": self.store.files[sid]["name"], "locale": "en_US",
                           "autoRecalc": "ON_CHANGE", "timeZone": TIMEZONE},
            "sheets": [{"properties": {
                "sheetId": tab["sheetId"], "title": tab["title"], "index": i,
                "sheetType": "GRID", "gridProperties": dict(zip(
                    ("rowCount", "columnCount"), A1Range.grid(tab["rows"]), strict=True)),
            }} for i, tab in enumerate(sheet["tabs"])],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{sid}/edit",
        }
        return self._mask(req, out, None)

    def _values(self, sheet: dict[str, Any], text: str, major: str) -> dict[str, Any]:
        try:
            rng = A1Range.parse(text, [t["title"] for t in sheet["tabs"]])
        except ValueError:
            raise sheets_error(400, f"Unable to parse range: {text}") from None
        tab = next(t for t in sheet["tabs"] if t["title"] == rng.tab)
        out: dict[str, Any] = {"range": rng.render(tab["rows"]), "majorDimension": major}
        values = rng.values(tab["rows"], columns=major == "COLUMNS")
        if values:
            out["values"] = values
        return out

    def values_get(self, req: Request) -> Response:
        sheet = self._sheet(req)
        major = req.arg("majorDimension") or "ROWS"
        return self._mask(req, self._values(sheet, req.params["range"], major), None)

    def values_batch_get(self, req: Request) -> Response:
        sheet = self._sheet(req)
        major = req.arg("majorDimension") or "ROWS"
        ranges = req.query.get("ranges", [])
        return self._mask(req, {"spreadsheetId": req.params["sid"], "valueRanges": [
            self._values(sheet, r, major) for r in ranges]}, None)
