"""What ``restore --verify`` (and the writer's own relinking) reads back from a HubSpot
portal: records by id with their properties, and their associations with each
association's type ids (so that a lost "Primary" label shows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.hubspot.client import HubSpotClient
from exporter.writer import chunks

__all__ = ["ASSOC_BATCH", "ReadBack"]

ASSOC_BATCH = 1000  # v4 association batch inputs per call


class ReadBack:
    """The writer's :meth:`exporter.writer.Writer.read` for HubSpot."""

    client: HubSpotClient
    custom: Any  # the writer's custom objects: their API paths by name

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(ids, 100):
            body = self.client.call_json(
                f"Reading HubSpot {obj}", self.client.objects_batch.read, self.custom.path(obj),
                {"inputs": [{"id": i} for i in batch], "properties": fields})
            for r in (body or {}).get("results", []):
                out[str(r["id"])] = {**(r.get("properties") or {}), "@links": {}}
        for to_object in set(links.values()):
            types: dict[str, dict[str, list[int]]] = {}
            found = self.read_links(obj, list(out), to_object, types)
            for rid, got in out.items():
                # each association's type ids, so that verify sees a lost "Primary" label
                got.setdefault("@link_types", {})[to_object] = types.get(rid, {})
                for name, other in links.items():
                    if other == to_object:
                        got["@links"][name] = found.get(rid, [])
        return out

    def read_links(self, obj: str, ids: list[str], to_object: str,
                   types: dict[str, dict[str, list[int]]] | None = None
                   ) -> dict[str, list[str]]:
        """Associated ids of ``to_object`` per record id (and into ``types``, per record
        id, each associated id's association type ids)."""
        found: dict[str, list[str]] = {}
        for batch in chunks(ids, ASSOC_BATCH):
            body = self.client.call_json(
                f"Reading HubSpot {obj} associations", self.client.assoc_batch.get_page,
                self.custom.path(obj), self.custom.path(to_object),
                {"inputs": [{"id": i} for i in batch]})
            for r in (body or {}).get("results", []):
                rid = str(r["from"]["id"])
                found[rid] = [str(t["toObjectId"]) for t in r.get("to", [])]
                if types is not None:
                    types[rid] = {str(t["toObjectId"]): [
                        int(a["typeId"]) for a in t.get("associationTypes") or []
                        if str(a.get("typeId", "")).isdigit()] for t in r.get("to", [])}
        return found
