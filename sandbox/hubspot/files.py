"""Owners and files: ``/crm/v3/owners/`` and ``/files/v3/files`` (search, get, signed URL
served by this emulator, HMAC-signed and expiring on the sandbox clock, multipart upload,
archive). File bodies are generated from a PRNG keyed by the file id.

Each handler is a function of the emulator and the request, run under its lock (the
download takes it itself).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import random
from typing import Any
from urllib.parse import quote

from sandbox.http import Request, Response
from sandbox.hubspot.portal import SEARCH_CAP, PortalAPI, offset_page
from sandbox.hubspot.store import iso, to_ms


def owners(em: PortalAPI, request: Request) -> Response:
    limit = min(int(request.arg("limit") or 100), 500)
    after = int(request.arg("after") or 0)
    owners = em.portal.owners
    if request.arg("email"):
        owners = [o for o in owners if o["email"] == request.arg("email")]
    if (request.arg("archived") or "false").lower() == "true":
        owners = []  # no coordinator has left
    return offset_page(owners, after, limit, f"{em.base_url}/crm/v3/owners/")


def owner(em: PortalAPI, request: Request) -> Response:
    for owner in em.portal.owners:
        if owner["id"] == request.params["id"]:
            return Response.json(owner)
    raise em._fail(404, "Owner not found", "OBJECT_NOT_FOUND")


def file_json(em: PortalAPI, meta: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: meta[k]
        for k in (
            "id",
            "name",
            "extension",
            "type",
            "size",
            "path",
            "parentFolderId",
            "access",
            "archived",
        )
    }
    out.update(
        createdAt=iso(meta["created"]),
        updatedAt=iso(meta["updated"]),
        isUsableInContent=False,
        encoding="pdf" if meta["extension"] == "pdf" else "",
    )
    if meta.get("archivedAt"):
        out["archivedAt"] = iso(meta["archivedAt"])
    return out


def file_meta(em: PortalAPI, file_id: str) -> dict[str, Any]:
    meta = em.portal.files.get(file_id)
    if meta is None or meta["archived"]:
        raise em._fail(404, f"File {file_id} not found", "OBJECT_NOT_FOUND")
    return meta


def files_search(em: PortalAPI, request: Request) -> Response:
    limit = int(request.arg("limit") or 10)
    if not 1 <= limit <= 100:
        raise em._fail(400, "limit must be between 1 and 100", "VALIDATION_ERROR")
    after = int(request.arg("after") or 0)
    if after >= SEARCH_CAP:
        raise em._fail(400, f"Paging past {SEARCH_CAP} files is not supported", "VALIDATION_ERROR")
    files = [m for m in em.portal.files.values() if not m["archived"]]
    name, path, ids = request.arg("name"), request.arg("path"), request.args("ids")
    if name:
        files = [m for m in files if name.lower() in m["name"].lower()]
    if path:
        files = [m for m in files if m["path"].startswith(path)]
    if ids:
        files = [m for m in files if m["id"] in set(ids)]
    for arg, field, cmp in (
        ("createdAtGte", "created", 1),
        ("createdAtLte", "created", -1),
        ("updatedAtGte", "updated", 1),
        ("updatedAtLte", "updated", -1),
    ):
        bound = request.arg(arg)
        if bound:
            limit_ms = to_ms(bound)
            files = [m for m in files if (m[field] - limit_ms) * cmp >= 0]
    files.sort(key=lambda m: int(m["id"]))
    return offset_page(files, after, limit, f"{em.base_url}/files/v3/files/search",
                       lambda m: file_json(em, m))


def file_get(em: PortalAPI, request: Request) -> Response:
    return Response.json(file_json(em, file_meta(em, request.params["id"])))


def file_archive(em: PortalAPI, request: Request) -> Response:
    meta = file_meta(em, request.params["id"])
    meta.update(archived=True, archivedAt=em._stamp())
    return Response(204)


def signature(em: PortalAPI, file_id: str, expires: int) -> str:
    return hmac.new(em._signing_key, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()[
        :40
    ]


def file_signed_url(em: PortalAPI, request: Request) -> Response:
    meta = file_meta(em, request.params["id"])
    seconds = int(request.arg("expirationSeconds") or 3600)
    expires = em._now_ms() // 1000 + seconds  # the sandbox clock: advance() expires it
    name = f"{meta['name']}.{meta['extension']}" if meta["extension"] else meta["name"]

    url = (
        f"{em.base_url}/signed-files/{meta['id']}/{quote(name)}?Expires={expires}"
        f"&Signature={signature(em, meta['id'], expires)}"
    )
    return Response.json(
        {
            "url": url,
            "expiresAt": iso(expires * 1000),
            "name": meta["name"],
            "extension": meta["extension"],
            "type": meta["type"],
            "size": meta["size"],
        }
    )


def file_download(em: PortalAPI, request: Request) -> Response:
    """The bytes behind a signed URL, generated from a PRNG keyed by the file id (uploaded
    files are served as stored)."""
    file_id = request.params["id"]
    expires = int(request.arg("Expires") or 0)
    given = request.arg("Signature") or ""
    denied = None
    if not hmac.compare_digest(given, signature(em, file_id, expires)):
        denied = "Signature does not match"
    elif expires < em._now_ms() // 1000:
        denied = "Request has expired"
    with em.lock:
        meta = dict(em.portal.files.get(file_id) or {})
    if denied or not meta:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            f"<Message>{denied or 'Not found'}</Message></Error>"
        ).encode()
        return Response.raw(body, "application/xml", status=403)
    data = meta.get("data")
    if data is None:
        data = generated_bytes(em.agency.seed, file_id, meta["size"])
    mime = "application/pdf" if meta["extension"] == "pdf" else "application/octet-stream"
    return Response.raw(data, mime)


def files_upload(em: PortalAPI, request: Request) -> Response:
    """``multipart/form-data`` with ``file``, ``folderPath``/``folderId``, ``fileName``
    and ``options`` (JSON), as the SDK's ``files_api.upload`` sends it."""
    ctype = request.headers.get("content-type", "")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + request.body
    )
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename = ""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        if name == "file":
            data, filename = raw, part.get_filename() or "upload"
        elif isinstance(name, str):
            fields[name] = raw.decode("utf-8")
    if data is None:
        raise em._fail(400, "file is required", "VALIDATION_ERROR")
    folder = (fields.get("folderPath") or "/Uploads").strip("/") or "Uploads"
    name = fields.get("fileName") or filename
    if "." not in name and "." in filename:
        name = f"{name}.{filename.rpartition('.')[2]}"
    options = json.loads(fields.get("options") or "{}")
    same = _duplicate(em, data, folder, options)
    if same is not None:
        return Response.json(file_json(em, same), status=201)  # as any upload answers
    file_id = em.portal.add_file("", name, folder, len(data), em._stamp(), data)
    meta = em.portal.files[file_id]
    meta["access"] = options.get("access", "PRIVATE")
    return Response.json(file_json(em, meta), status=201)


def _duplicate(em: PortalAPI, data: bytes, folder: str,
               options: dict[str, Any]) -> dict[str, Any] | None:
    """The upload's ``duplicateValidationStrategy``: RETURN_EXISTING answers with a live
    file of the same bytes (in the folder given, or with ``ENTIRE_PORTAL`` anywhere)
    instead of adding one; REJECT refuses the upload (409); NONE (the default) adds it."""
    strategy = options.get("duplicateValidationStrategy") or "NONE"
    if strategy == "NONE":
        return None
    anywhere = options.get("duplicateValidationScope") == "ENTIRE_PORTAL"
    with em.lock:
        for meta in em.portal.files.values():
            held = meta.get("data")
            if meta["archived"] or held is None or held != data:
                continue
            if anywhere or meta["path"].rpartition("/")[0].strip("/") == folder:
                if strategy == "REJECT":
                    raise em._fail(409, f"A duplicate of this file exists: {meta['id']}",
                                   "CONFLICT")
                return meta
    return None


def generated_bytes(seed: int, file_id: str, size: int) -> bytes:
    """A file's deterministic body: a PDF header, seeded noise, a PDF trailer."""
    head = f"%PDF-1.4\n% sandbox file {file_id}\n".encode()
    tail = b"\n%%EOF\n"
    middle = max(0, size - len(head) - len(tail))
    body = head + random.Random(f"hubspot-file:{seed}:{file_id}").randbytes(middle) + tail
    return body[:size] if size >= len(head) + len(tail) else body
