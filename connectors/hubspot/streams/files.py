"""The ``files`` stream: File Manager files, their bodies archived.

Key ``id``. Metadata from ``/files/v3/files/search`` (100 a page; ``updatedAtGte`` on later
runs; cursor = the newest ``updatedAt``), bodies through ``/files/v3/files/{id}/signed-url``
and that URL, asked for only when the archive lacks the body (``FileBody.open``), so an
expired URL is never reused. Bodies up to ``BUFFER_LIMIT`` are read whole inside the retry
policy (a cut-off download is retried); larger ones are streamed in chunks, and a cut there
fails the stream (the next sync retries).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from connectors.hubspot.client import HubSpotClient, source_error
from connectors.hubspot.wire import ms_iso, next_after, parse_ms, to_json
from exporter.connector import Batch, FileBody, Stream
from exporter.errors import SourceError, TransientError
from exporter.record import Record

__all__ = ["FILE_SCHEMA", "FilesStream"]

CHUNK = 1024 * 1024
BUFFER_LIMIT = 16 * 1024 * 1024
STAMP = {"type": "string", "format": "date-time"}
FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "createdAt", "updatedAt", "archived", "access"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": ["string", "null"]},
        "extension": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
        "size": {"type": ["integer", "null"]}, "path": {"type": ["string", "null"]},
        "parentFolderId": {"type": ["string", "null"]}, "access": {"type": "string"},
        "archived": {"type": "boolean"}, "archivedAt": {"type": ["string", "null"]},
        "createdAt": STAMP, "updatedAt": STAMP, "encoding": {"type": ["string", "null"]},
        "isUsableInContent": {"type": ["boolean", "null"]}, "url": {"type": ["string", "null"]},
        "fileMd5": {"type": ["string", "null"]}, "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]}, "expiresAt": {"type": ["integer", "null"]},
        "sourceGroup": {"type": ["string", "null"]},
        "defaultHostingUrl": {"type": ["string", "null"]},
    },
}


class FilesStream(Stream):
    name = "files"
    primary_key = "id"
    cursor_field = "updatedAt"
    reconcile = True
    schema = FILE_SCHEMA
    description = "File Manager files, bodies archived"

    def __init__(self, client: HubSpotClient, lookback_ms: int) -> None:
        super().__init__()
        self.client = client
        self.lookback_ms = lookback_ms

    def _pages(self, since: dt.datetime | None) -> Iterator[list[Any]]:
        after: str | None = None
        what = "Listing HubSpot files"
        while True:
            kwargs: dict[str, Any] = {"limit": 100}
            if since is not None:
                kwargs["updated_at_gte"] = since
            if after:
                kwargs["after"] = after
            page = self.client.call(what, self.client.files.do_search_with_http_info, **kwargs)
            yield page.results or []
            after = next_after(page, after, what)
            if after is None:
                return

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        since = None
        if isinstance(cursor, str) and not full:
            ms = max(0, parse_ms(cursor) - self.lookback_ms)
            since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
        newest = parse_ms(cursor) if isinstance(cursor, str) else 0
        for files in self._pages(since):
            records, bodies = [], {}
            for f in files:
                rec = Record(str(f.id), to_json(f))
                records.append(rec)
                bodies[rec.id] = [FileBody("content", self._opener(str(f.id), f.size),
                                           _media_type(f))]
                newest = max(newest, int(f.updated_at.timestamp() * 1000))
            if records:
                yield Batch(records, files=bodies)
        # listed by id, not by date: the cursor is safe only once every page is stored
        yield Batch([], cursor=ms_iso(newest))

    def ids(self) -> Iterator[str]:
        for files in self._pages(None):
            yield from (str(f.id) for f in files)

    # -- bodies -----------------------------------------------------------------------------

    def _opener(self, file_id: str, size: int | None) -> Any:
        return lambda: self._open(file_id, size)

    def _open(self, file_id: str, size: int | None) -> Iterable[bytes]:
        what = f"Downloading HubSpot file {file_id}"
        if size is not None and size <= BUFFER_LIMIT:
            return self.client.policy.call(what, lambda: self._whole(file_id, size, what))
        return self._stream(file_id, size, what)

    def _response(self, file_id: str, what: str) -> Any:
        signed = self.client.call(f"Signing the download of HubSpot file {file_id}",
                                  self.client.files.get_signed_url_with_http_info, file_id)
        return self.client.fetch_signed(signed.url, what)

    def _whole(self, file_id: str, size: int, what: str) -> list[bytes]:
        response = self._response(file_id, what)
        try:
            chunks = list(response.iter_content(CHUNK))
        except Exception as exc:
            raise source_error(exc, what) from exc
        finally:
            response.close()
        got = sum(len(c) for c in chunks)
        if got != size:
            raise TransientError(f"{what}: {got} of {size} bytes arrived")
        return chunks

    def _stream(self, file_id: str, size: int | None, what: str) -> Iterator[bytes]:
        response = self.client.policy.call(what, lambda: self._response(file_id, what))
        got = 0
        try:
            for chunk in response.iter_content(CHUNK):
                got += len(chunk)
                yield chunk
        except Exception as exc:
            raise SourceError(f"{what} was cut off ({source_error(exc, what)}); the next sync "
                              "will try again.") from exc
        finally:
            response.close()
        if size is not None and got != size:
            raise SourceError(f"{what}: only {got} of {size} bytes arrived; the next sync will "
                              "try again.")


def _media_type(f: Any) -> str | None:
    ext = (getattr(f, "extension", None) or "").lower()
    return {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg",
            "jpeg": "image/jpeg", "txt": "text/plain", "csv": "text/csv",
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            }.get(ext)
