"""Google connector: Drive, Sheets and Calendar through google-api-python-client.

Streams (names, primary key, cursor, deletes)

- ``drive_files`` (key ``id``; cursor field ``modifiedTime``, the cursor itself is the
  changes page token): every file and folder, all metadata (``fields="*"``).
  First run: ``changes.getStartPageToken`` is taken BEFORE listing every file, and stored
  once the listing is done; later runs read ``changes.list`` from that token (cursor = the
  page token, stored per page). Trashed files stay records with ``trashed: true``;
  ``removed: true`` changes become tombstones; ``list_ids`` lists every file id for
  reconciliation. Bodies are archived as files on the record: ``content`` for binary files
  (chunked Range downloads, one chunk in memory), ``export.<ext>`` for Google documents
  (``export_formats``). A saved token Drive refuses leads to a full listing (``reset``).
- ``sheet_rows`` (key ``id`` = ``<spreadsheetId>/<tab title>/<row number>``, or
  ``<spreadsheetId>/<tab title>/<key values>`` for tabs named in ``row_keys``): one record
  ``{id, spreadsheetId, sheet, values}`` per non-empty row below the header of every grid
  tab; ``values`` is named by the header row (empty header cells by column letter, repeats
  get " (2)"), cells as Sheets formats them, trailing empty cells omitted as the API omits
  them. No change feed: the cursor keeps each spreadsheet's Drive ``modifiedTime`` and its
  row ids; an unchanged spreadsheet costs no Sheets request for rows, a changed one is
  re-read and only rows whose content changed get new versions; ids gone since the last run
  become tombstones. ``schema()`` archives each spreadsheet's properties, tab properties and
  header row (two requests per spreadsheet per run). Why row numbers by default:
  connectors/google_sheets.py.
- ``calendar_events`` (key ``id``, the event id; cursor field ``updated``): the event as
  sent plus ``calendarId`` (the calendar it was read from). A full listing per calendar
  (``showDeleted``, ``singleEvents``), then its ``nextSyncToken``; cursor =
  ``{calendarId: syncToken}``. Cancelled events are tombstones that keep their data. A 410
  (``fullSyncRequired``) resyncs that calendar fully (``Batch.reset``); events gone without
  a cancelled copy are found by reconciliation (``list_ids``). An event copied into two
  chosen calendars (same id) is archived once: the copy read last wins.
- ``calendars`` (key ``id``): the calendarList entries, re-read every run (small).

Config keys ([sources.NAME], type = "google")

- ``token`` (secret): an OAuth access token; with ``refresh_token`` (secret), ``client_id``
  and ``client_secret`` (secret) it is refreshed when it expires.
- ``service_account_file`` (+ optional ``delegated_user``) or ``authorized_user_file``:
  paths to JSON files only their owner can read (0600). Scopes are read-only.
- ``base_url``: e.g. the sandbox; an http URL is reached through exporter's loopback
  transport. ``timeout`` (seconds, default 60).
- ``drive`` (bool, default true): archive Drive files.
- ``spreadsheets``: spreadsheet ids (default: every Google Sheet in Drive, not trashed).
- ``calendars``: calendar ids (default: every calendar in the calendar list).
- ``row_keys``: tab title -> header names whose values identify a row, e.g.
  ``{ Medications = ["Client Number", "Medication"], Roster = ["Email"] }`` (default none).
- ``export_formats``: e.g. ``{ document = ["pdf", "docx"], spreadsheet = ["xlsx"],
  presentation = ["pdf", "pptx"] }`` (the default).
- ``single_events`` (default true), ``download_chunk_bytes`` (default 4 MiB),
  ``retry_attempts`` (default 6) and ``retry_base_delay`` (seconds, default 0.5) for the
  shared retry policy.

Not covered: shared drives, permissions, revisions, comments, Docs larger than Drive's
10 MB export limit (the stream fails with Google's message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from connectors.google_api import GoogleApi, discovery_schema
from connectors.google_read import CalendarReader, DriveReader, export_formats
from connectors.google_sheets import SheetsReader
from exporter.connector import Batch, CheckResult, Connector, Stream
from exporter.errors import AuthError, ConfigError, SourceError

__all__ = ["GoogleConnector"]

ROW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "One sheet row; values maps header-row field names to formatted cells.",
    "required": ["id", "spreadsheetId", "sheet", "values"],
    "properties": {
        "id": {"type": "string"}, "spreadsheetId": {"type": "string"},
        "sheet": {"type": "string"},
        "values": {"type": "object",
                   "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    },
}


def _event_schema() -> dict[str, Any]:
    schema = discovery_schema("calendar", "Event")
    schema["properties"]["calendarId"] = {"type": "string"}  # added by the connector
    return schema


def _id_list(config: Mapping[str, Any], key: str) -> list[str] | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The Google source's {key} must be a list of ids, e.g. "
                          f'{key} = ["abc"].')
    return list(value)


def _row_keys(config: Mapping[str, Any]) -> dict[str, list[str]]:
    value = config.get("row_keys") or {}
    if not isinstance(value, Mapping) or not all(
            isinstance(v, list) and v and all(isinstance(c, str) for c in v)
            for v in value.values()):
        raise ConfigError('The Google source\'s row_keys must map tab titles to header names, '
                          'e.g. row_keys = { Roster = ["Email"] }.')
    return {str(k): list(v) for k, v in value.items()}


class GoogleConnector(Connector):
    """Drive files (changes feed), sheet rows and calendar events (sync tokens)."""

    name: ClassVar[str] = "google"
    secret_fields: ClassVar[tuple[str, ...]] = ("token", "client_secret", "refresh_token")
    known_streams: ClassVar[tuple[str, ...]] = ("drive_files", "sheet_rows", "calendars",
                                                "calendar_events")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)
        self.api = GoogleApi(config, secrets, self.log)
        single = bool(config.get("single_events", True))
        try:
            formats = export_formats(config.get("export_formats"))
        except SourceError as exc:
            raise ConfigError(str(exc)) from None
        self.drive = DriveReader(self.api, formats, self.log)
        self.sheets = SheetsReader(self.api, _id_list(config, "spreadsheets"),
                                   _row_keys(config), self.log)
        self.calendar = CalendarReader(self.api, _id_list(config, "calendars"), single, self.log)

    # -- contract -------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        out = []
        if self.config.get("drive", True):
            out.append(Stream("drive_files", "id", "modifiedTime",
                              discovery_schema("drive", "File"), reconcile=True,
                              description="Drive files and folders (changes feed)"))
        out += [
            Stream("sheet_rows", "id", None, ROW_SCHEMA, reconcile=True,
                   description="Rows of every tab of the chosen spreadsheets"),
            Stream("calendars", "id", None, discovery_schema("calendar", "CalendarListEntry"),
                   reconcile=True, description="Calendar list entries"),
            Stream("calendar_events", "id", "updated", _event_schema(),
                   reconcile=True, description="Events of the chosen calendars (sync tokens)"),
        ]
        return out

    def schema(self, stream: Stream) -> Any:
        if stream.name == "sheet_rows":
            return {"row": dict(ROW_SCHEMA), **self.sheets.schema()}
        return dict(stream.schema or {})

    def read(self, stream: Stream, cursor: Any, full: bool = False) -> Iterator[Batch]:
        if stream.name == "drive_files":
            return self.drive.read(cursor, full)
        if stream.name == "sheet_rows":
            return self.sheets.read(cursor, full)
        if stream.name == "calendars":
            return self.calendar.read_calendars()
        if stream.name == "calendar_events":
            return self.calendar.read_events(cursor, full)
        raise SourceError(f"The Google source has no stream {stream.name}.")

    def list_ids(self, stream: Stream) -> Iterator[str]:
        if stream.name == "drive_files":
            return self.drive.list_ids()
        if stream.name == "sheet_rows":
            return self.sheets.list_ids()
        if stream.name == "calendars":
            return self.calendar.calendar_list_ids()
        if stream.name == "calendar_events":
            return self.calendar.event_ids()
        raise SourceError(f"The Google source has no stream {stream.name}.")

    def usage(self) -> dict[str, Any]:
        return self.api.usage()

    # -- check ----------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results: list[CheckResult] = []
        probes = [("Sign in to Google and read the calendar list", self._probe_calendar),
                  ("List Google Drive files", self._probe_drive),
                  ("Open the chosen Google Sheets", self._probe_sheets)]
        for what, probe in probes:
            try:
                detail = probe()
            except AuthError as exc:
                results.append(CheckResult(False, what, str(exc)))
                break  # the credentials are refused: the other checks would say the same
            except SourceError as exc:
                results.append(CheckResult(False, what, str(exc)))
            else:
                results.append(CheckResult(True, what, detail))
        usage = self.api.usage()
        results.append(CheckResult(True, "Google API usage",
                                   f"{usage['requests']} requests, {usage['retries']} retries"))
        return results

    def _probe_drive(self) -> str:
        if not self.config.get("drive", True):
            return "Drive is switched off (drive = false)."
        drive = self.api.service("drive")
        self.api.call("Drive", drive.files().list(pageSize=1, fields="files(id)"))
        return ""

    def _probe_calendar(self) -> str:
        listed = set(self.calendar.calendar_list_ids())
        chosen = self.calendar.chosen
        missing = sorted(set(chosen or ()) - listed)
        if missing:
            raise SourceError(f"Calendar(s) {', '.join(missing)} are not in this account's "
                              "calendar list; check the calendars setting and the sharing.")
        return f"{len(chosen if chosen is not None else listed)} calendar(s)."

    def _probe_sheets(self) -> str:
        found = self.sheets.spreadsheets()
        chosen = self.sheets.chosen
        if chosen is not None and len(found) < len(chosen):
            missing = sorted(set(chosen) - {f["id"] for f in found})
            raise SourceError(f"Spreadsheet(s) {', '.join(missing)} were not found in Drive; "
                              "check the ids in the spreadsheets setting and the sharing.")
        return f"{len(found)} spreadsheet(s)."
