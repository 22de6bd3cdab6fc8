"""HubSpot: the connector (reading CRM objects, associations, owners and files) and the
restore writer, over one shared client.

- :mod:`.client`: the one client (token, quota guard, retries, error mapping);
- :mod:`.streams`: the stream readers, declared by attributes;
- :mod:`.connector`: :class:`HubSpotConnector` (entry point ``exporter.connectors``);
- :mod:`.writer`: :class:`HubSpotWriter` (entry point ``exporter.targets``);
- :mod:`.wire`: HubSpot's timestamps, paging tokens and models as JSON.
"""

from __future__ import annotations

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.writer import HubSpotWriter

__all__ = ["HubSpotConnector", "HubSpotWriter"]
