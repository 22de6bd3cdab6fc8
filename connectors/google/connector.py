"""Google connector: Drive, Sheets and Calendar through google-api-python-client.

Streams (each module in ``connectors/google/streams/`` says how it reads):

- ``drive_files`` (key ``id``; the cursor is the Drive changes page token): every file and
  folder, all metadata; bodies as files (``content`` for binary files, ``export.<ext>``
  for Google documents, see ``export_formats``);
- ``sheet_rows`` (key ``<spreadsheetId>/<tab title>/<natural key or row number>``): one
  record per non-empty row of every grid tab, keyed by a column of unique ids or emails found
  by inspection (or ``row_keys``), else by row number (see
  :mod:`connectors.google.streams.sheets`); the cursor is each spreadsheet's Drive
  ``modifiedTime``, its row ids and each tab's key column;
- ``calendars`` (key ``id``): the calendar list, re-read every run;
- ``calendar_events`` (key ``id``; cursor ``{calendarId: syncToken}``): events with
  ``calendarId`` added; an expired sync token resyncs that calendar.

Settings ([sources.NAME], type = "google"): :data:`SETTINGS` (``exporter connectors
--settings`` prints them). Credentials: see :mod:`connectors.google.client`.

Not covered: shared drives, permissions, revisions, comments, Docs larger than Drive's
10 MB export limit (the stream fails with Google's message).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from connectors.google.client import CREDENTIAL_SETTINGS, GoogleClient
from connectors.google.streams import (
    CalendarEventsStream,
    CalendarList,
    CalendarsStream,
    DriveFilesStream,
    SheetRowsStream,
    export_formats,
)
from exporter.connector import CheckResult, Connector, Stream
from exporter.errors import AuthError, ConfigError, SourceError
from exporter.settings import Setting

__all__ = ["SETTINGS", "GoogleConnector"]

SETTINGS: tuple[Setting, ...] = (
    *CREDENTIAL_SETTINGS,
    Setting("drive", "boolean", "Archive Drive files and their bodies", default=True),
    Setting("spreadsheets", "list", "Spreadsheet ids to archive; default: every Google Sheet "
            "in Drive that is not trashed"),
    Setting("calendars", "list", "Calendar ids to archive; default: every calendar in the "
            "calendar list"),
    Setting("row_keys", "table", 'Tab title -> header names whose values identify a row, '
            'e.g. { Roster = ["Email"] }; default: a column of unique ids or emails found in '
            "the tab (its header an identifier's: ID, Email, ... Number), else the row number"),
    Setting("export_formats", "table", "Formats Google documents are archived in, e.g. "
            '{ document = ["pdf", "docx"] }; default: Docs as pdf and docx, Sheets as xlsx, '
            "Slides as pdf and pptx"),
    Setting("single_events", "boolean", "Archive each occurrence of a recurring event as "
            "its own event", default=True),
    Setting("download_chunk_bytes", "integer", "Bytes per download request (one chunk is "
            "in memory at a time)", default=4 * 1024 * 1024, minimum=1),
)


def _id_list(config: Mapping[str, Any], key: str) -> list[str] | None:
    value = config.get(key)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The Google source's {key} must be a list of ids, e.g. "
                          f'{key} = ["abc"].')
    return list(value)


def _row_keys(config: Mapping[str, Any]) -> dict[str, list[str]]:
    value = config.get("row_keys") or {}
    if not all(isinstance(v, list) and v and all(isinstance(c, str) for c in v)
               for v in value.values()):
        raise ConfigError('The Google source\'s row_keys must map tab titles to header names, '
                          'e.g. row_keys = { Roster = ["Email"] }.')
    return {str(k): list(v) for k, v in value.items()}


class GoogleConnector(Connector):
    """Drive files (changes feed), sheet rows and calendar events (sync tokens)."""

    name: ClassVar[str] = "google"
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS
    known_streams: ClassVar[tuple[str, ...]] = ("drive_files", "sheet_rows", "calendars",
                                                "calendar_events")

    def __init__(self, source: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: logging.Logger | None = None) -> None:
        super().__init__(source, config, secrets, log)
        formats = export_formats(config.get("export_formats"))  # settings first, then sign-in
        calendars, sheets = _id_list(config, "calendars"), _id_list(config, "spreadsheets")
        row_keys = _row_keys(config)
        self.client = GoogleClient(config, secrets, self.log)
        self.calendar_list = CalendarList(self.client, calendars)
        self.drive = (DriveFilesStream(self.client, formats, self.log)
                      if config.get("drive", True) else None)
        self.sheets = SheetRowsStream(self.client, sheets, row_keys, self.log)
        self.calendars = CalendarsStream(self.calendar_list)
        self.events = CalendarEventsStream(self.client, self.calendar_list,
                                           bool(config.get("single_events", True)), self.log)

    def discover(self) -> list[Stream]:
        found: list[Stream] = [self.drive] if self.drive is not None else []
        return [*found, self.sheets, self.calendars, self.events]

    def usage(self) -> dict[str, Any]:
        return self.client.usage()

    def check(self) -> list[CheckResult]:
        results: list[CheckResult] = []
        probes: list[tuple[str, Callable[[], str]]] = [
            ("Sign in to Google and read the calendar list", self.calendar_list.probe),
            ("List Google Drive files", self._probe_drive),
            ("Open the chosen Google Sheets", self.sheets.probe)]
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
        usage = self.client.usage()
        results.append(CheckResult(True, "Google API usage",
                                   f"{usage['requests']} requests, {usage['retries']} retries"))
        return results

    def _probe_drive(self) -> str:
        if self.drive is None:
            return "Drive is switched off (drive = false)."
        return self.drive.probe()
