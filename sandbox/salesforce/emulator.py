"""Salesforce emulator: the REST API (v any.N), Bulk API 2.0 query and the logins that
simple-salesforce 1.12.10 speaks, over the agency's clients and clinical records.

Emulated: SOAP login and OAuth token flows (password, client credentials, JWT bearer: the
JWT's ``iss``/``sub`` are checked, its signature and expiry are NOT; the web server flow
with PKCE and the refresh-token grant, :mod:`sandbox.oauth`); describeGlobal and
describe; SOQL query/queryAll with nextRecordsUrl paging (``soql.py`` has the subset);
``updated``/``deleted``; retrieve, create, update, upsert by external id, delete; sObject
Collections; ContentVersion/Attachment bodies; Bulk API 2.0 query jobs with CSV results;
``limits``; the ``Sforce-Limit-Info`` usage header, a daily limit (``daily_limit``) and the
faults ``session_expired`` and ``request_limit`` besides the generic ones.

Tooling API: only ``CustomField`` create (``tooling.py``: a Text field, External ID and
Unique, as the restore adds ``Exporter_Source_Id__c``), alone or in a Tooling composite;
its query by object and name and a custom picklist's values updated (``tooling.py``).
Composite (``composite.py``): describes, queries and sObject Collections as subrequests of
one call, counted as one call against the daily limit.

Not emulated: child-relationship sub-queries, SOSL search, Bulk ingest jobs, Bulk 1.0,
the Metadata API and the rest of the Tooling API, composite graph/batch/tree,
references between composite subrequests, record
types, sharing. Data model and time travel: ``schema``, ``store`` and ``agency_data``
beside this module, and ``docs/sandbox-salesforce.md``.
"""

from __future__ import annotations

from sandbox.agency import Agency
from sandbox.faults import FaultPlan
from sandbox.salesforce.auth import LoginAPI
from sandbox.salesforce.bulk import BulkQueryAPI
from sandbox.salesforce.composite import CompositeAPI
from sandbox.salesforce.org import Handler, V

__all__ = ["SalesforceEmulator"]


class SalesforceEmulator(LoginAPI, CompositeAPI, BulkQueryAPI):
    """The whole org: its API surfaces behind one routing table (first match wins, so a
    specific path such as ``/describe`` comes before the record id it would also match)."""

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(agency, faults)
        self._routes_setup()

    def _routes_setup(self) -> None:
        self.add_route("POST", r"/services/Soap/u/(?P<ver>\d+\.\d+)(/.*)?", "login", self._login)
        self.add_route("POST", r"/services/oauth2/token", "oauth_token", self._token)
        self.add_route("GET", r"/services/oauth2/authorize", "oauth_authorize", self._authorize)
        self.add_route("GET", r"/services/data/?", "versions", self._versions)  # no auth, as real
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", V + r"/limits/?", "limits", self._limits),
            ("POST", V + r"/tooling/sobjects/CustomField/?", "tooling_create",
             self._tooling_custom_field),
            ("POST", V + r"/tooling/composite/?", "tooling_composite", self._tooling_composite),
            ("GET", V + r"/tooling/query/?", "tooling_query", self._tooling_query),
            ("PATCH", V + r"/tooling/sobjects/CustomField/(?P<fid>\w+)/?", "tooling_update",
             self._tooling_update_field),
            ("GET", V + r"/sobjects/?", "describe_global", self._describe_global),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/describe/?", "describe", self._describe),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/updated/?", "updated", self._updated),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/deleted/?", "deleted", self._deleted),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/?", "sobject", self._sobject_info),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "retrieve", self._retrieve),
            ("GET", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/(?P<b>[^/]+)/?", "retrieve",
             self._retrieve),
            ("POST", V + r"/sobjects/(?P<obj>\w+)/?", "create", self._create),
            ("PATCH", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "update", self._update),
            ("PATCH", V + r"/sobjects/(?P<obj>\w+)/(?P<a>\w+)/(?P<b>[^/]+)/?", "upsert",
             self._upsert),
            ("DELETE", V + r"/sobjects/(?P<obj>\w+)/(?P<a>[^/]+)/?", "delete", self._delete),
            ("GET", V + r"/(?P<kind>query|queryAll)/?", "query", self._query),
            ("GET", V + r"/(?:query|queryAll)/(?P<locator>[\w]+-\d+)/?", "query_more",
             self._query_more),
            ("POST", V + r"/composite/?", "composite_request", self._composite_request),
            ("POST", V + r"/composite/sobjects/?", "composite", self._composite),
            ("PATCH", V + r"/composite/sobjects/?", "composite", self._composite),
            ("DELETE", V + r"/composite/sobjects/?", "composite", self._composite),
            ("PATCH", V + r"/composite/sobjects/(?P<obj>\w+)/(?P<ext>\w+)/?", "composite",
             self._composite),
            ("POST", V + r"/jobs/query/?", "bulk_create", self._bulk_create),
            ("GET", V + r"/jobs/query/?", "bulk_list", self._bulk_list),
            ("GET", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_job),
            ("PATCH", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_abort),
            ("DELETE", V + r"/jobs/query/(?P<job>\w+)/?", "bulk_job", self._bulk_delete),
            ("GET", V + r"/jobs/query/(?P<job>\w+)/results/?", "bulk_results",
             self._bulk_results),
        ]
        for method, pattern, endpoint, handler in api:
            self.add_route(method, pattern, endpoint, self._api(endpoint, handler))

