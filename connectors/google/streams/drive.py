"""Stream ``drive_files``: every Drive file and folder, by a full listing and then the
changes feed; binary bodies and exports of Google documents archived as files.

The start page token is taken BEFORE the first listing and stored once the listing is
done; later runs read ``changes.list`` from it (the cursor is the page token, stored per
page). Trashed files stay records with ``trashed: true``; ``removed: true`` changes become
tombstones. A saved token Drive refuses leads to a full listing (``Batch.reset``).

A Google document Drive refuses to export as too large (403 ``exportSizeLimitExceeded``, over
10 MB of converted content) fails alone (:class:`~exporter.errors.ItemRefused`): its metadata
and a plain-text (CSV for a spreadsheet) export are archived instead, the run ends partial
with Drive's reason, the changes cursor moves on, and each later run reads the file again
(``retry_items``) until its exports come.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from connectors.google.client import GoogleClient
from connectors.google.schemas import DiscoverySchema
from exporter.connector import Batch, FileBody, Stream
from exporter.errors import ConfigError, ItemRefused, RequestRefused, TransientError
from exporter.record import Record

__all__ = ["DEFAULT_EXPORTS", "DriveFilesStream", "export_formats"]

GOOGLE_APPS = "application/vnd.google-apps."
KINDS = {"document": GOOGLE_APPS + "document", "spreadsheet": GOOGLE_APPS + "spreadsheet",
         "presentation": GOOGLE_APPS + "presentation", "drawing": GOOGLE_APPS + "drawing"}
EXTENSIONS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "csv": "text/csv", "txt": "text/plain", "png": "image/png", "svg": "image/svg+xml",
}
DEFAULT_EXPORTS = {"document": ["pdf", "docx"], "spreadsheet": ["xlsx"],
                   "presentation": ["pdf", "pptx"]}
#: What is archived instead of an export Drive refuses as too large: plain text, which the
#: export size limit (10 MB of converted content) spares longest.
PLAIN_EXPORTS = {KINDS["document"]: ("export.txt", "text/plain"),
                 KINDS["presentation"]: ("export.txt", "text/plain"),
                 KINDS["spreadsheet"]: ("export.csv", "text/csv")}


def export_formats(config: Any) -> dict[str, list[tuple[str, str]]]:
    """Google type -> [(body name, export MIME type)], from ``export_formats`` (keys:
    document/spreadsheet/presentation/drawing or full MIME types; values: extensions
    such as "pdf" or full MIME types)."""
    table = DEFAULT_EXPORTS if config is None else config
    if not isinstance(table, Mapping) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in table.values()):
        raise ConfigError("The Google source's export_formats must be a table such as "
                          '{ document = ["pdf", "docx"] }; fix the config.')
    out: dict[str, list[tuple[str, str]]] = {}
    for kind, targets in table.items():
        mime = KINDS.get(kind, kind)
        pairs = []
        for target in targets:
            ext = next((e for e, m in EXTENSIONS.items() if m == target), None)
            full = EXTENSIONS.get(target, target)
            pairs.append((f"export.{ext or target}", full))
        out[mime] = pairs
    return out


class DriveFilesStream(Stream):
    """Drive files and folders (changes feed); bodies and exports as files."""

    name = "drive_files"
    primary_key = "id"
    cursor_field = "modifiedTime"  # the stored cursor itself is the changes page token
    schema = DiscoverySchema("drive", "File")
    reconcile = True
    description = "Drive files and folders (changes feed)"

    def __init__(self, client: GoogleClient, formats: dict[str, list[tuple[str, str]]],
                 log: logging.Logger) -> None:
        super().__init__()
        self.client = client
        self.formats = formats
        self.log = log

    @property
    def drive(self) -> Any:
        return self.client.service("drive")

    @property
    def files_api(self) -> Any:
        return self.client.collection("drive", "files")  # made once, not per file

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        if cursor and not full:
            try:
                yield from self._changes(str(cursor))
                return
            except RequestRefused:  # an unknown or expired page token (400 or 404)
                self.log.warning("Drive refused the saved change token; listing every file")
            yield from self._listing(reset=True)
            return
        yield from self._listing(reset=False)

    def _listing(self, reset: bool) -> Iterator[Batch]:
        # The token is taken BEFORE listing: a change made during the listing is then
        # seen again by the next sync instead of being lost.
        start = self.client.call("Drive start page token",
                                 self.drive.changes().getStartPageToken(fields="startPageToken"))
        token = start.get("startPageToken")
        if not token:
            raise TransientError("Drive start page token: the response had no token")
        pages = self.client.pages("Drive file listing", lambda t: self.files_api.list(
            pageSize=1000, pageToken=t, fields="*"))
        for page in pages:
            files = page.get("files")
            if not isinstance(files, list):
                raise TransientError("Drive file listing: a page had no file list")
            last = not page.get("nextPageToken")
            yield self._batch(files, [], token if last else None, reset)

    def _changes(self, token: str) -> Iterator[Batch]:
        pages = self.client.pages("Drive changes", lambda t: self.drive.changes().list(
            pageToken=t or token, pageSize=1000, fields="*", includeRemoved=True,
            spaces="drive"))
        for page in pages:
            changes = page.get("changes")
            nxt = page.get("nextPageToken") or page.get("newStartPageToken")
            if not isinstance(changes, list) or not nxt:
                raise TransientError("Drive changes: a page had no changes list or token")
            files: list[dict[str, Any]] = []
            removed: list[str] = []
            for change in changes:
                if change.get("changeType", "file") != "file":
                    continue  # shared-drive changes: shared drives are not archived
                if change.get("removed"):
                    removed.append(str(change["fileId"]))
                elif isinstance(change.get("file"), dict):
                    files.append(change["file"])
                else:
                    raise TransientError("Drive changes: a change came without its file")
            yield self._batch(files, removed, nxt, False)

    def _batch(self, files: list[dict[str, Any]], removed: list[str], cursor: Any,
               reset: bool) -> Batch:
        records = [Record(str(f["id"]), f) for f in files]
        records += [Record(fid, None, deleted=True) for fid in removed]
        bodies = {}
        for f in files:
            found = self._bodies(f)
            if found:
                bodies[str(f["id"])] = found
        return Batch(records, cursor=cursor, files=bodies, reset=reset)

    def _bodies(self, f: Mapping[str, Any]) -> list[FileBody]:
        mime = str(f.get("mimeType", ""))
        fid = str(f["id"])
        if mime.startswith(GOOGLE_APPS):
            plain = PLAIN_EXPORTS.get(mime)
            fallback = None
            if plain is not None and plain[1] not in {t for _, t in self.formats.get(mime, [])}:
                fallback = FileBody(plain[0], partial(self._export, fid, plain[1]), plain[1])
            return [FileBody(name, partial(self._export, fid, target), target, fallback)
                    for name, target in self.formats.get(mime, [])]
        return [FileBody("content", partial(self._media, fid, f.get("md5Checksum")),
                         mime or None)]

    def _media(self, fid: str, md5: Any) -> Iterator[bytes]:
        digest = hashlib.md5(usedforsecurity=False)  # Drive's own checksum is MD5
        for chunk in self.client.download("Drive download",
                                          self.files_api.get_media(fileId=fid)):
            digest.update(chunk)
            yield chunk
        if isinstance(md5, str) and digest.hexdigest() != md5:
            # Each chunk was checked; a different checksum means the file changed after it
            # was listed. The change feed brings it again next time, with its new checksum.
            self.log.warning("a Drive file changed while it was downloaded; the next sync "
                             "archives its new version")

    def _export(self, fid: str, target: str) -> Iterator[bytes]:
        try:
            yield from self.client.download("Drive export", self.files_api.export_media(
                fileId=fid, mimeType=target), media_type=target)
        except RequestRefused as exc:
            if exc.reason != "exportSizeLimitExceeded":
                raise
            kind = next((e for e, m in EXTENSIONS.items() if m == target), target)
            raise ItemRefused(
                f"Google Drive will not export document {fid} as {kind}: it is over Drive's "
                "export size limit (exportSizeLimitExceeded); its details are archived and "
                "exporter tries again each night (splitting the document ends this).") from exc

    def retry_items(self, ids: list[str]) -> Iterator[Batch]:
        """Files refused on an earlier night (an export over the limit), read again."""
        files = []
        for fid in ids:
            try:
                files.append(self.client.call("Drive file", self.files_api.get(
                    fileId=fid, fields="*")))
            except RequestRefused as exc:
                if exc.status != 404:
                    raise
                # gone: the changes feed brings its removal
        if files:
            yield self._batch(files, [], None, False)

    def ids(self) -> Iterator[str]:
        for page in self.client.pages("Drive file ids", lambda t: self.files_api.list(
                pageSize=1000, pageToken=t, fields="nextPageToken,files(id)")):
            for f in page.get("files") or []:
                yield str(f["id"])

    def probe(self) -> str:
        """One small listing, for ``check``."""
        self.client.call("Drive", self.files_api.list(pageSize=1, fields="files(id)"))
        return ""
