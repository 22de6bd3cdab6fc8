"""The HubSpot emulator (CRM v3 objects, search, properties and schemas, v4 associations,
owners and files). :class:`HubSpotEmulator` is in ``emulator``; each API surface has its
module (``objects``, ``batch``, ``search``, ``properties``, ``associations``, ``files``)
over the portal's state and plumbing (``portal``); the data model is ``schema`` and
``store``; the agency's data and time travel are ``agency_data``.
"""

from sandbox.hubspot.emulator import HubSpotEmulator

__all__ = ["HubSpotEmulator"]
