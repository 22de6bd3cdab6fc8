"""The Google streams, one module per API: Drive files, sheet rows, calendars and events."""

from connectors.google.streams.calendar import CalendarEventsStream, CalendarList, CalendarsStream
from connectors.google.streams.drive import DriveFilesStream, export_formats
from connectors.google.streams.sheets import SheetRowsStream

__all__ = ["CalendarEventsStream", "CalendarList", "CalendarsStream", "DriveFilesStream",
           "SheetRowsStream", "export_formats"]
