"""The Google connector (Drive, Sheets, Calendar): entry point
``google = "connectors.google:GoogleConnector"``.

- :mod:`connectors.google.client`: the one client (credentials, retries, error mapping);
- :mod:`connectors.google.streams`: the stream readers;
- :mod:`connectors.google.connector`: the connector and its declared settings.
"""

from connectors.google.connector import GoogleConnector

__all__ = ["GoogleConnector"]
