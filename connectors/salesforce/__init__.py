"""Salesforce connector: every queryable, replicateable object through simple-salesforce.

Streams (one per object; names are Salesforce's own API names, custom ones included)

- Which: every object describeGlobal marks ``queryable`` and ``replicateable`` (so change
  events, RecentlyViewed and the like are left out), narrowed by ``include`` / ``exclude``.
  Each stream archives the object's full describe output each run as its schema; its
  ``schema`` is a JSON Schema built from the describe's field types (nillable fields allow
  null).
- Records: key ``Id`` (18 chars); data = the REST record without ``attributes``, every
  field selected, nulls kept, compound fields (``BillingAddress``) nested as REST sends them.
- Incremental: objects with ``SystemModstamp`` are read with queryAll
  ``WHERE SystemModstamp >= <cursor - lookback_seconds> ORDER BY SystemModstamp, Id``;
  cursor = ``{"SystemModstamp": <highest stamp stored>}``, saved with each page. ``>=`` plus
  the lookback re-reads ties and late commits (the archive keeps no new version for an
  unchanged record). Rows with ``IsDeleted = true`` become tombstones that keep their data.
  Objects without ``SystemModstamp`` are read whole each run (no cursor).
- Large reads: when a query's ``totalSize`` exceeds ``bulk_threshold``, or Salesforce stops
  the REST query with QUERY_TIMEOUT, the same SOQL runs as a Bulk API 2.0 queryAll job (CSV
  values typed back by the describe; compound fields, which Bulk refuses, rebuilt from their
  component fields; base64 fields given the URL REST gives). Any Bulk failure falls back to
  REST from the last stored stamp.
- Hard deletes: every stream has ``reconcile = True``; ``ids()`` is ``SELECT Id`` with
  query (recycle-bin rows excluded). The engine runs it weekly and with ``--full``.
- Files: ContentVersion.VersionData and Attachment.Body are archived as files named
  ``VersionData`` / ``Body``, streamed with the SDK's session (``stream=True``), fetched only
  when the archive lacks them; a body cut mid-way is resumed by a new request.

Settings ([sources.NAME], type = "salesforce"): declared in :data:`SETTINGS` (login, reach,
quota share and timeout are the client's, shared with the restore target); ``exporter
connectors --settings`` and docs/settings.md list them.

Package layout: ``client.py`` (the one client: login, quota guard, retries, error mapping),
``streams.py`` (one stream per object, reading itself), ``bulk_csv.py`` (Bulk CSV to REST
records), ``connector.py`` (discovery, check, settings), ``writer.py`` (the restore target).

Activities: Task and Event are replicateable objects like the others (logged calls, e-mails,
visits, with WhatId / AccountId naming the client). ContentDocumentLink is not archived: it is
not replicateable (so not offered by describeGlobal's flags), and Salesforce answers any
query of it that does not name its documents or records ("Implementation restriction");
a file's first link, the record it was published on, is archived as
``ContentVersion.FirstPublishLocationId``, which the restore links the file back by. Links
added later (one file shared with a second client) are not archived.

Not covered: formula fields that change without their record's SystemModstamp (e.g. an age)
are refreshed only by a full read (``--full``); field history, Chatter feeds, metadata.
"""

from connectors.salesforce.connector import SETTINGS, SalesforceConnector
from connectors.salesforce.writer import SalesforceWriter

__all__ = ["SETTINGS", "SalesforceConnector", "SalesforceWriter"]
