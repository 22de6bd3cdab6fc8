"""The sandbox's Sheets v4 writes (values.update, values.append, values.batchUpdate,
spreadsheets.batchUpdate addSheet) through google-api-python-client, as Google documents
them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from sandbox import Sandbox
from sandbox.google.store import SHEET
from tests.restore_support import google_service


@pytest.fixture(scope="module")
def google() -> Iterator[tuple[Sandbox, Any, Any]]:
    with Sandbox(clients=3, seed=3, vendors=("google",)) as sb:
        yield sb, google_service(sb, "drive"), google_service(sb, "sheets")


def _new(drive: Any, sheets: Any, title: str = "Tab") -> str:
    sid = str(drive.files().create(body={"name": "W", "mimeType": SHEET}).execute()["id"])
    sheets.spreadsheets().batchUpdate(spreadsheetId=sid, body={"requests": [
        {"addSheet": {"properties": {"title": title}}}]}).execute()
    return sid


def _get(sheets: Any, sid: str, rng: str = "Tab") -> list[list[str]]:
    return list(sheets.spreadsheets().values().get(spreadsheetId=sid, range=rng).execute()
                .get("values") or [])


def test_update_formats_values_skips_nulls_and_honours_bounds(google: Any) -> None:
    _sb, drive, sheets = google
    sid = _new(drive, sheets)
    values = sheets.spreadsheets().values()
    got = values.update(spreadsheetId=sid, range="Tab!B2", valueInputOption="RAW",
                        body={"values": [["a", 1, 2.5], [True, None, "x"]]}).execute()
    assert got["updatedRange"] == "'Tab'!B2:D3" and got["updatedCells"] == 5
    assert _get(sheets, sid) == [[], ["", "a", "1", "2.5"], ["", "TRUE", "", "x"]]
    values.update(spreadsheetId=sid, range="Tab!B2", valueInputOption="RAW",
                  body={"values": [[None, ""]]}).execute()  # null keeps, "" clears
    assert _get(sheets, sid)[1] == ["", "a", "", "2.5"]
    values.update(spreadsheetId=sid, range="Tab!A1:B1", valueInputOption="RAW",
                  body={"majorDimension": "COLUMNS", "values": [["h"], ["i"]]}).execute()
    assert _get(sheets, sid, "Tab!1:1") == [["h", "i"]]
    with pytest.raises(HttpError) as err:
        values.update(spreadsheetId=sid, range="Tab!A1:B1", valueInputOption="RAW",
                      body={"values": [["x", "y", "z"]]}).execute()
    assert err.value.resp.status == 400 and "tried writing to column [C]" in str(err.value)
    with pytest.raises(HttpError) as err:
        values.update(spreadsheetId=sid, range="Tab!A1", body={"values": [["x"]]}).execute()
    assert "'valueInputOption' is required" in str(err.value)
    with pytest.raises(HttpError) as err:
        values.update(spreadsheetId="nope", range="Tab!A1", valueInputOption="RAW",
                      body={"values": [["x"]]}).execute()
    assert err.value.resp.status == 404


def test_append_writes_below_the_table_and_inserts_rows(google: Any) -> None:
    _sb, drive, sheets = google
    sid = _new(drive, sheets)
    values = sheets.spreadsheets().values()
    values.update(spreadsheetId=sid, range="Tab!A1", valueInputOption="RAW",
                  body={"values": [["id", "n"], ["1", "a"], [], ["", "", "", "note"]]}).execute()
    got = values.append(spreadsheetId=sid, range="Tab!A1:B", valueInputOption="RAW",
                        insertDataOption="INSERT_ROWS",
                        body={"values": [["2", "b"], ["3", "c"]]}).execute()
    assert got["tableRange"] == "'Tab'!A1:B2"
    assert got["updates"]["updatedRange"] == "'Tab'!A3:B4"
    assert _get(sheets, sid) == [["id", "n"], ["1", "a"], ["2", "b"], ["3", "c"], [],
                                 ["", "", "", "note"]]  # the rows below moved down
    got = values.append(spreadsheetId=sid, range="Tab!A1:B", valueInputOption="RAW",
                        body={"values": [["4", "d"]]}).execute()  # OVERWRITE: no insert
    assert got["updates"]["updatedRange"] == "'Tab'!A5:B5"
    assert _get(sheets, sid)[4:] == [["4", "d"], ["", "", "", "note"]]


def test_batch_updates_and_add_sheet(google: Any) -> None:
    sb, drive, sheets = google
    sid = _new(drive, sheets)
    sb.log.clear()
    before = drive.files().get(fileId=sid, fields="modifiedTime").execute()["modifiedTime"]
    got = sheets.spreadsheets().values().batchUpdate(spreadsheetId=sid, body={
        "valueInputOption": "USER_ENTERED",
        "data": [{"range": "Tab!A1", "values": [["x"]]},
                 {"range": "Sheet1!B2", "values": [["y", "z"]]}]}).execute()
    assert (got["totalUpdatedCells"], got["totalUpdatedSheets"]) == (3, 2)
    assert _get(sheets, sid, "Sheet1") == [[], ["", "y", "z"]]
    after = drive.files().get(fileId=sid, fields="modifiedTime").execute()["modifiedTime"]
    assert after > before  # a write is a Drive change, as in Google
    with pytest.raises(HttpError) as err:
        sheets.spreadsheets().batchUpdate(spreadsheetId=sid, body={"requests": [
            {"addSheet": {"properties": {"title": "New"}}},
            {"addSheet": {"properties": {"title": "Tab"}}}]}).execute()
    assert 'A sheet with the name "Tab" already exists' in str(err.value)
    titles = [s["properties"]["title"]
              for s in sheets.spreadsheets().get(spreadsheetId=sid).execute()["sheets"]]
    assert titles == ["Sheet1", "Tab"]  # all or nothing
    assert sb.log.count("google", "sheets.values.batchUpdate") == 1
    assert sb.log.count("google", "sheets.spreadsheets.batchUpdate") == 1
