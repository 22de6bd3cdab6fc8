"""The ``owners`` stream: HubSpot users who own records (``/crm/v3/owners/``), every one each
run (they are few); deactivated (archived) owners come as tombstones keeping their data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.wire import next_after, to_json
from exporter.connector import Batch, Stream
from exporter.record import Record

__all__ = ["OWNER_SCHEMA", "OwnersStream"]

STAMP = {"type": "string", "format": "date-time"}
OWNER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "createdAt", "updatedAt", "archived", "type"],
    "properties": {
        "id": {"type": "string"}, "email": {"type": ["string", "null"]},
        "firstName": {"type": ["string", "null"]}, "lastName": {"type": ["string", "null"]},
        "userId": {"type": ["integer", "null"]},
        "userIdIncludingInactive": {"type": ["integer", "null"]},
        "type": {"type": "string"}, "archived": {"type": "boolean"},
        "createdAt": STAMP, "updatedAt": STAMP, "teams": {"type": "array"},
    },
}


class OwnersStream(Stream):
    name = "owners"
    primary_key = "id"
    reconcile = True
    schema = OWNER_SCHEMA
    description = "HubSpot users who own records"

    def __init__(self, client: HubSpotClient) -> None:
        super().__init__()
        self.client = client

    def _pages(self, archived: bool) -> Iterator[list[Any]]:
        after: str | None = None
        what = "Listing HubSpot owners"
        while True:
            kwargs: dict[str, Any] = {"limit": 100, "archived": archived}
            if after:
                kwargs["after"] = after
            page = self.client.call(what, self.client.owners.get_page_with_http_info, **kwargs)
            yield page.results or []
            after = next_after(page, after, what)
            if after is None:
                return

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        for archived in (False, True):  # deactivated users as tombstones keeping their data
            for owners in self._pages(archived):
                if owners:
                    yield Batch([Record(str(o.id), to_json(o), archived) for o in owners])

    def ids(self) -> Iterator[str]:
        for owners in self._pages(False):
            yield from (str(o.id) for o in owners)
