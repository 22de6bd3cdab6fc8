"""The Google connector (Drive, Sheets, Calendar) and the Google Sheets restore target.

Entry points: ``google = "connectors.google:GoogleConnector"`` (exporter.connectors) and
``google_sheets = "connectors.google:GoogleSheetsWriter"`` (exporter.targets).

- :mod:`connectors.google.client`: the one client (credentials, retries, error mapping);
- :mod:`connectors.google.streams`: the stream readers;
- :mod:`connectors.google.connector`: the connector and its declared settings;
- :mod:`connectors.google.writer`: the restore target, a tab per object in one spreadsheet.
"""

from connectors.google.connector import GoogleConnector
from connectors.google.writer import GoogleSheetsWriter

__all__ = ["GoogleConnector", "GoogleSheetsWriter"]

