"""Contact, a standard object of every Salesforce org, empty in the agency's org (clients
are Accounts): a restore writes people there (the Google roster's caregivers), and an
activity's WhoId points at them.

Plain tuples (name, type, options), made into :class:`~sandbox.salesforce.schema.FieldDef`
by the schema module (which this module must not import). The fields a restore uses, as
Salesforce documents them: ``LastName`` required (80), ``FirstName`` (40), ``Email``,
``Phone``, ``Title`` (128), ``Description`` (a long text area), ``AccountId`` (the
Account the person belongs to; none: a private contact). Not emulated: the read-only
compound ``Name``, mailing addresses, Leads.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTACT_FIELDS"]

CONTACT_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("FirstName", "string", {"length": 40}),
    ("LastName", "string", {"length": 80, "nillable": False}),
    ("Email", "email", {}),
    ("Phone", "phone", {}),
    ("Title", "string", {"length": 128}),
    ("Description", "textarea", {"length": 32000}),
    ("AccountId", "reference", {"reference_to": ("Account",), "relationship_name": "Account"}),
]
