"""Files a restore attaches to HubSpot records (a note's ``hs_attachment_ids``): how they
are uploaded, and what ``restore --verify`` reads of them (each file downloaded through a
signed URL and hashed, so that verify compares the bytes themselves with the archived ones:
HubSpot's files API gives a size but no checksum)."""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.hubspot.client import HubSpotClient
from exporter.errors import RequestRefused
from exporter.writer import chunks

__all__ = ["UPLOAD_OPTIONS", "AttachedFiles"]

READ_BATCH = 100
#: The upload's options. A file already in the record's own folder (a re-run from an older
#: archive copy, whose id map does not know it was uploaded) is answered instead of being
#: uploaded again (``RETURN_EXISTING`` in that folder): a re-run never duplicates a file.
UPLOAD_OPTIONS = {"access": "PRIVATE", "overwrite": False, "duplicateValidationStrategy":
                  "RETURN_EXISTING", "duplicateValidationScope": "EXACT_FOLDER"}


class AttachedFiles:
    """The writer's :meth:`exporter.writer.Writer.file_digests` for HubSpot."""

    client: HubSpotClient
    custom: Any  # the writer's custom objects: their API paths by name

    def file_digests(self, obj: str, ids: list[str]) -> dict[str, list[str]] | None:
        out: dict[str, list[str]] = {i: [] for i in ids}
        for batch in chunks(ids, READ_BATCH):
            body = self.client.call_json(
                f"Reading HubSpot {obj}", self.client.objects_batch.read, self.custom.path(obj),
                {"inputs": [{"id": i} for i in batch], "properties": ["hs_attachment_ids"]})
            for r in (body or {}).get("results", []):
                attached = str((r.get("properties") or {}).get("hs_attachment_ids") or "")
                out[str(r["id"])] = [self._digest(f) for f in attached.split(";") if f.strip()]
        return out

    def _digest(self, file_id: str) -> str:
        """``sha256:<hex>`` of the file's bytes ('missing' when HubSpot has no such file)."""
        what = f"Downloading HubSpot file {file_id.strip()}"

        def once() -> str:
            signed = self.client.call(f"Signing the download of HubSpot file {file_id}",
                                      self.client.files.get_signed_url_with_http_info,
                                      file_id.strip())
            response = self.client.fetch_signed(signed.url, what)
            digest = hashlib.sha256()
            try:
                for chunk in response.iter_content(1 << 20):
                    digest.update(chunk)
            finally:
                response.close()
            return f"sha256:{digest.hexdigest()}"

        try:
            return str(self.client.policy.call(what, once))
        except RequestRefused as exc:  # a file gone from the portal: the record does not match
            self.client.log.info("%s failed: %s", what, exc)
            return "missing"
