"""A client's documents kept in the archive: Drive files filed under the client (the file's
``client_number`` property) and Salesforce files and attachments on the client's record.
Served from the archive, so they open with no network."""

from __future__ import annotations

import mimetypes
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.careplan.build import ArchiveView, Client
from exporter.careplan.model import Definition
from exporter.record import printable

__all__ = ["Document", "documents_of", "read_document", "serving"]

_FOLDER = "application/vnd.google-apps.folder"

#: Types a browser shows without running anything in them. Any other document (HTML, SVG,
#: script, Office files) comes from whoever could put a file on the client's record, so it is
#: downloaded, never shown on the desk's own origin where its script would act as the staff
#: member who opened it.
INLINE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
                    "text/plain"})

#: (stream, field holding the client, how it is compared, label): where documents are found.
SOURCES = (
    ("google/drive_files", "properties.client_number", "key", "Google Drive"),
    ("salesforce/ContentVersion", "FirstPublishLocationId", "record", "Salesforce file"),
    ("salesforce/Attachment", "ParentId", "record", "Salesforce attachment"),
)


@dataclass(frozen=True)
class Document:
    name: str
    where: str  # "Google Drive", "Salesforce file" ...
    title: str  # the record's own title, when it has one
    size: int
    sha256: str
    modified: str
    media_type: str | None = None

    @property
    def mime(self) -> str:
        return (self.media_type or mimetypes.guess_type(self.name)[0]
                or "application/octet-stream")


def documents_of(archive: Any, definition: Definition, client: Client,
                 as_of: int | None = None) -> list[Document]:
    """The client's archived documents, newest first."""
    view = ArchiveView(archive, as_of, bulk=False)
    present = {f"{s}/{t}" for s, t in archive.streams()}
    found: list[Document] = []
    for stream, field, kind, label in SOURCES:
        if stream not in present:
            continue
        value, norm = ((client.key, definition.normalise) if kind == "key"
                       else (client.record_id, "exact"))
        source, name = stream.split("/", 1)
        for rid, data in view.lookup(stream, field, norm, [value]):
            if data.get("mimeType") == _FOLDER or data.get("trashed") or data.get("IsDeleted"):
                continue
            title = printable(str(data.get("Title") or data.get("name") or data.get("Name")
                                  or ""))
            modified = str(data.get("modifiedTime") or data.get("LastModifiedDate") or "")
            for link, digest in archive.files_of(source, name, rid, as_of=as_of).items():
                info = archive.file_info(digest)
                found.append(Document(_file_name(data, link), label, title, int(info.size),
                                      digest, modified, info.media_type))
    return sorted(found, key=lambda d: d.modified, reverse=True)


def _file_name(data: Any, link: str) -> str:
    """The name to save a file as: the record's own file name; a Google Doc's export gets
    the export's extension ("Care notes.pdf")."""
    base = printable(str(data.get("PathOnClient") or data.get("name") or data.get("Name")
                         or data.get("Title") or link))
    if link.startswith("export."):
        return f"{base}.{link.split('.', 1)[1]}"
    return base


def serving(document: Document) -> tuple[str, dict[str, str]]:
    """(media type, headers) to send ``document`` with: shown in the browser only when its
    type is in :data:`INLINE`, else downloaded as bytes; anything but a PDF also in a CSP
    sandbox (Chrome will not show a PDF in one). The name is given ASCII-only in
    ``filename`` and whole in ``filename*`` (headers are Latin-1: a name in another alphabet
    must not break the response)."""
    mime = document.mime.split(";", 1)[0].strip().lower()
    inline = mime in INLINE
    kept = "".join(c if c.isalnum() or c in " .-_()" else "_" for c in document.name)
    plain = "".join(c if c.isascii() else "_" for c in kept)
    disposition = (f'{"inline" if inline else "attachment"}; filename="{plain}"; '
                   f"filename*=UTF-8''{urllib.parse.quote(kept, safe='')}")
    headers = {"Content-Disposition": disposition}
    if mime != "application/pdf":
        headers["Content-Security-Policy"] = "sandbox"
    return (mime if inline else "application/octet-stream"), headers


def read_document(archive: Any, document: Document) -> Iterator[bytes]:
    return iter(archive.read_file(document.sha256))
