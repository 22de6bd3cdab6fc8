"""The Salesforce emulator (REST, Bulk API 2.0 query and the logins simple-salesforce
speaks). :class:`SalesforceEmulator` is in ``emulator``; each API surface has its module
(``auth``, ``sobjects``, ``query``, ``bulk``) over the org's state and plumbing (``org``);
the data model is ``schema``, ``store``, ``writes`` and ``soql``; the agency's data and
time travel are ``agency_data``.
"""

from sandbox.salesforce.emulator import SalesforceEmulator

__all__ = ["SalesforceEmulator"]
