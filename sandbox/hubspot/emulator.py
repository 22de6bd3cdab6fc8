"""HubSpot emulator: CRM v3 objects, search, properties and schemas, v4 associations, owners
and files, over HTTP, for the unmodified ``hubspot-api-client`` (12.x).

    client = hubspot.Client.create(access_token=CREDENTIALS["hubspot"]["access_token"],
                                   host=sandbox.urls["hubspot"])

What is emulated (the data model is in ``schema``, ``store`` and ``agency_data`` beside
this module, and ``docs/sandbox-hubspot.md``):

- ``/crm/v3/objects/{type}``: list (``limit`` <= 100, ``after``, ``properties``,
  ``associations``, ``archived``), get, create (inline associations), update, archive, and
  ``batch/{create,read,update,upsert,archive}`` (<= 100 inputs; 207 with per-input errors);
  types by name, singular, ``objectTypeId`` or fully qualified name.
- ``/crm/v3/objects/{type}/search``: filter groups, the usual operators, sorts, free-text
  ``query``, ``limit`` <= 200, the 10,000-result paging cap, and the ``search_lag`` fault.
- ``/crm/v3/properties/{type}`` (list, get, create, update of a custom property),
  ``/crm/v3/schemas`` (and the SDK's ``/crm-object-schemas/v3/schemas``: list, get,
  create; a created custom object works through every endpoint by name, ``objectTypeId``
  or fully qualified name), ``/crm/v3/owners/``, ``/account-info/v3/details``
  (``portalId``: the attribute ``portal_id``, from the seed unless set).
- ``/crm/v4``: association lists, batch read/create/archive/associate-default, labels.
- ``/files/v3/files``: search, get, signed URL (served by this emulator, HMAC-signed and
  expiring on the sandbox clock), multipart upload, archive.
- Bearer-token auth (401 otherwise), rate-limit headers and budgets (429 with
  ``policyName``), and HubSpot-shaped bodies for injected 429/5xx faults.

Not emulated: OAuth, property history, pipelines, imports/exports, lists, webhooks,
folders API, HTTP range requests on file downloads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sandbox.agency import Agency
from sandbox.faults import FaultPlan
from sandbox.http import Request, Response
from sandbox.hubspot.associations import (
    assoc_batch_archive,
    assoc_batch_create,
    assoc_batch_default,
    assoc_batch_read,
    assoc_delete,
    assoc_label_create,
    assoc_labels,
    assoc_list,
    assoc_put,
    assoc_put_default,
)
from sandbox.hubspot.batch import BatchAPI
from sandbox.hubspot.files import (
    file_archive,
    file_download,
    file_get,
    file_signed_url,
    files_search,
    files_upload,
    owner,
    owners,
)
from sandbox.hubspot.portal import Handler, PortalAPI
from sandbox.hubspot.properties import (
    create_properties,
    create_property,
    properties,
    property,
    update_property,
)
from sandbox.hubspot.schemas import create_schema, schema, schemas
from sandbox.hubspot.search import SearchAPI

__all__ = ["HubSpotEmulator"]


class HubSpotEmulator(SearchAPI, BatchAPI):
    """The whole portal: its API surfaces behind one routing table (first match wins)."""

    def __init__(self, agency: Agency, faults: FaultPlan | None = None) -> None:
        super().__init__(agency, faults)
        self._add_routes()

    def _account_details(self, request: Request) -> Response:
        """The portal's account details: its id tells one portal from another."""
        return Response.json({"portalId": self.portal_id, "accountType": "STANDARD",
                              "timeZone": "US/Eastern", "companyCurrency": "USD",
                              "additionalCurrencies": [], "utcOffset": "-05:00",
                              "utcOffsetMilliseconds": -18000000,
                              "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1"})

    def _add_routes(self) -> None:
        obj = r"/crm/v3/objects/(?P<type>[^/]+)"
        v4 = r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)"
        v4o = r"/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations"
        def x(handler: Callable[[PortalAPI, Request], Response]) -> Handler:
            return functools.partial(handler, self)  # a module's handler, bound to this emulator

        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", obj, "objects.list", self._list),
            ("POST", obj, "objects.create", self._create),
            ("POST", obj + "/search", "search", self._search),
            ("POST", obj + "/merge", "objects.merge", self._merge),
            ("POST", obj + "/gdpr-delete", "objects.gdpr_delete", self._gdpr_delete),
            ("POST", obj + "/batch/(?P<op>create|read|update|upsert|archive)", "objects.batch",
             self._batch),
            ("GET", obj + "/(?P<id>[^/]+)", "objects.get", self._get),
            ("PATCH", obj + "/(?P<id>[^/]+)", "objects.update", self._update),
            ("DELETE", obj + "/(?P<id>[^/]+)", "objects.archive", self._archive),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)", "properties", x(properties)),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)", "properties.create",
             x(create_property)),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)/batch/create", "properties.batch_create",
             x(create_properties)),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", "properties.get",
             x(property)),
            ("PATCH", r"/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", "properties.update",
             x(update_property)),
            ("GET", r"/crm(?:-object-schemas)?/v3/schemas", "schemas", x(schemas)),
            ("POST", r"/crm(?:-object-schemas)?/v3/schemas", "schemas.create", x(create_schema)),
            ("GET", r"/crm(?:-object-schemas)?/v3/schemas/(?P<type>[^/]+)", "schemas.get",
             x(schema)),
            ("GET", r"/account-info/v3/details", "account.details", self._account_details),
            ("GET", r"/crm/v3/owners/?", "owners", x(owners)),
            ("GET", r"/crm/v3/owners/(?P<id>\d+)", "owners.get", x(owner)),
            ("GET", v4o + "/(?P<to>[^/]+)", "associations.list", x(assoc_list)),
            ("PUT", v4o + "/default/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.default",
             x(assoc_put_default)),
            ("PUT", v4o + "/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.put", x(assoc_put)),
            ("DELETE", v4o + "/(?P<to>[^/]+)/(?P<toid>[^/]+)", "associations.delete",
             x(assoc_delete)),
            ("POST", v4 + "/batch/read", "associations.batch_read", x(assoc_batch_read)),
            ("POST", v4 + "/batch/create", "associations.batch_create", x(assoc_batch_create)),
            ("POST", v4 + "/batch/associate/default", "associations.batch_default",
             x(assoc_batch_default)),
            ("POST", v4 + "/batch/archive", "associations.batch_archive",
             x(assoc_batch_archive)),
            ("GET", v4 + "/labels", "associations.labels", x(assoc_labels)),
            ("POST", v4 + "/labels", "associations.labels_create", x(assoc_label_create)),
            ("GET", r"/files/v3/files/search", "files.search", x(files_search)),
            ("POST", r"/files/v3/files", "files.upload", x(files_upload)),
            ("GET", r"/files/v3/files/(?P<id>\d+)", "files.get", x(file_get)),
            ("DELETE", r"/files/v3/files/(?P<id>\d+)", "files.archive", x(file_archive)),
            ("GET", r"/files/v3/files/(?P<id>\d+)/signed-url", "files.signed_url",
             x(file_signed_url)),
        ]
        for method, pattern, endpoint, handler in routes:
            self.add_route(method, pattern, endpoint, self._wrap(handler, auth=True))
        # the signed URL carries its own credential and is fetched without the bearer token
        self.add_route("GET", r"/signed-files/(?P<id>\d+)/(?P<name>[^/]+)", "files.download",
                       self._wrap(x(file_download), auth=False, locked=False))
