"""Routes of the HubSpot emulator beyond CRM objects and search: properties, custom-object
schemas, owners, v4 associations and files (search, signed URLs, downloads, uploads).

Each handler is a function of the emulator and the request; :class:`HubSpotEmulator`
registers them. They run under the emulator's lock (the download takes it itself).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sandbox.http import HTTPError, Request, Response
from sandbox.hubspot_data import (
    ALIASES,
    CUSTOM_NAME,
    DEFAULT_ASSOC,
    LABELLED_ASSOC,
    TYPES,
    Record,
    assoc_label,
    iso,
    property_definition,
    to_ms,
)

if TYPE_CHECKING:
    from sandbox.hubspot import HubSpotEmulator

SEARCH_CAP = 10_000


# -- properties, schemas, owners --------------------------------------------------------------


def properties(em: HubSpotEmulator, request: Request) -> Response:
    tname = em._type(request.params["type"])
    return Response.json({"results": list(em.portal.store.properties[tname].values())})


def property(em: HubSpotEmulator, request: Request) -> Response:
    tname = em._type(request.params["type"])
    spec = em.portal.store.properties[tname].get(request.params["name"])
    if spec is None:
        raise em._fail(404, f"Unable to find property {request.params['name']}", "OBJECT_NOT_FOUND")
    return Response.json(spec)


def create_property(em: HubSpotEmulator, request: Request) -> Response:
    """Create a custom property (a restore target is prepared with these)."""
    tname = em._type(request.params["type"])
    return Response.json(new_property(em, tname, em._body(request)), status=201)


def create_properties(em: HubSpotEmulator, request: Request) -> Response:
    """``batch/create``: each input like a single create; failures are 207 errors."""
    tname = em._type(request.params["type"])
    results, errors = [], []
    for body in inputs(em, request):
        try:
            results.append(new_property(em, tname, body))
        except HTTPError as exc:
            detail = json.loads(exc.response.body)
            errors.append(
                em._standard_error(
                    detail["category"], detail["message"], {"name": [str(body.get("name"))]}
                )
            )
    return batch_response(em, results, errors, 201)


def new_property(em: HubSpotEmulator, tname: str, body: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise em._fail(400, f"Missing required fields: {missing}", "VALIDATION_ERROR")
    name = str(body["name"])
    defs = em.portal.store.properties[tname]
    if name in defs:
        raise em._fail(409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
    options = [(str(o["value"]), str(o["label"])) for o in body.get("options") or []]
    spec = property_definition(
        (name, str(body["label"]), str(body["type"]), str(body["fieldType"]), options),
        bool(body.get("hasUniqueValue")),
        iso(em._stamp()),
        hubspot_defined=False,
    )
    spec.update(groupName=body["groupName"], description=body.get("description") or "")
    defs[name] = spec
    if spec["hasUniqueValue"]:
        em.portal.store.types[tname].add_unique(name)
    return spec


def schema_json(em: HubSpotEmulator) -> dict[str, Any]:
    ot = TYPES[CUSTOM_NAME]
    props = list(em.portal.store.properties[CUSTOM_NAME].values())
    contacts = TYPES["contacts"].type_id
    return {
        "id": ot.type_id.split("-")[1],
        "objectTypeId": ot.type_id,
        "name": CUSTOM_NAME,
        "fullyQualifiedName": ot.singular,
        "labels": {"singular": "Care recipient", "plural": "Care recipients"},
        "primaryDisplayProperty": "client_name",
        "requiredProperties": ["client_number"],
        "searchableProperties": ["client_number", "client_name"],
        "secondaryDisplayProperties": ["client_number"],
        "properties": props,
        "associations": [
            {
                "id": str(DEFAULT_ASSOC[(CUSTOM_NAME, "contacts")]),
                "name": "care_recipient_to_contact",
                "fromObjectTypeId": ot.type_id,
                "toObjectTypeId": contacts,
                "createdAt": props[0]["createdAt"],
                "updatedAt": props[0]["createdAt"],
            },
            {
                "id": str(DEFAULT_ASSOC[("contacts", CUSTOM_NAME)]),
                "name": "contact_to_care_recipient",
                "fromObjectTypeId": contacts,
                "toObjectTypeId": ot.type_id,
                "createdAt": props[0]["createdAt"],
                "updatedAt": props[0]["createdAt"],
            },
        ],
        "archived": False,
        "createdAt": props[0]["createdAt"],
        "updatedAt": props[0]["createdAt"],
    }


def schemas(em: HubSpotEmulator, request: Request) -> Response:
    return Response.json({"results": [schema_json(em)]})


def schema(em: HubSpotEmulator, request: Request) -> Response:
    if ALIASES.get(request.params["type"]) != CUSTOM_NAME:
        raise em._fail(
            404, f"Unable to find object type {request.params['type']}", "OBJECT_NOT_FOUND"
        )
    return Response.json(schema_json(em))


def offset_page(items: list[Any], after: int, limit: int, link: str,
                shape: Callable[[Any], Any] | None = None) -> Response:
    """One page of a listing paged by offset, with HubSpot's ``paging.next``."""
    page = items[after : after + limit]
    body: dict[str, Any] = {"results": [shape(x) for x in page] if shape else page}
    if after + limit < len(items):
        body["paging"] = {"next": {"after": str(after + limit),
                                   "link": f"{link}?after={after + limit}"}}
    return Response.json(body)


def owners(em: HubSpotEmulator, request: Request) -> Response:
    limit = min(int(request.arg("limit") or 100), 500)
    after = int(request.arg("after") or 0)
    owners = em.portal.owners
    if request.arg("email"):
        owners = [o for o in owners if o["email"] == request.arg("email")]
    if (request.arg("archived") or "false").lower() == "true":
        owners = []  # no coordinator has left
    return offset_page(owners, after, limit, f"{em.base_url}/crm/v3/owners/")


def owner(em: HubSpotEmulator, request: Request) -> Response:
    for owner in em.portal.owners:
        if owner["id"] == request.params["id"]:
            return Response.json(owner)
    raise em._fail(404, "Owner not found", "OBJECT_NOT_FOUND")


# -- associations v4 ----------------------------------------------------------------------------


def live(em: HubSpotEmulator, tname: str, raw_id: Any) -> Record | None:
    raw = str(raw_id)
    rec = em.portal.store.types[tname].records.get(int(raw)) if raw.isdigit() else None
    return rec if rec is not None and rec.archived_at is None else None


def assoc_rows(em: HubSpotEmulator, tname: str, rec_id: int, to_type: str) -> list[dict[str, Any]]:
    return [
        {"toObjectId": tid, "associationTypes": [em._spec(tname, to_type, t) for t in types]}
        for tid, types in em.portal.store.associations(tname, rec_id, to_type)
    ]


def assoc_list(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    limit = min(int(request.arg("limit") or 500), 500)
    after = int(request.arg("after") or 0)
    rec = live(em, tname, request.params["id"])
    rows = assoc_rows(em, tname, rec.id, to_type) if rec is not None else []
    return offset_page(rows, after, limit, f"{em.base_url}{request.path}")


def assoc_batch_read(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    results, errors = [], []
    for item in inputs(em, request):
        raw = str(item["id"])
        rec = live(em, tname, raw)
        rows = assoc_rows(em, tname, rec.id, to_type) if rec is not None else []
        if rows:
            results.append({"from": {"id": raw}, "to": rows})
        else:
            errors.append(
                em._standard_error(
                    "VALIDATION_ERROR",
                    f"No {TYPES[to_type].singular} is associated with "
                    f"{TYPES[tname].singular} {raw}.",
                    {"fromObjectId": [raw]},
                )
                | {"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}
            )
    return batch_response(em, results, errors, 200)


def inputs(em: HubSpotEmulator, request: Request) -> list[dict[str, Any]]:
    inputs = em._body(request).get("inputs")
    if not isinstance(inputs, list):
        raise em._fail(400, "inputs is required", "VALIDATION_ERROR")
    if len(inputs) > 1000:  # v4 association batches take up to 1,000 inputs
        raise em._fail(
            400, "Batch input array size must be less than or equal to 1000", "VALIDATION_ERROR"
        )
    return inputs


def batch_response(
    em: HubSpotEmulator, results: list[Any], errors: list[Any], status: int
) -> Response:
    now = iso(em._now_ms())
    out: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    }
    if errors:
        out.update(numErrors=len(errors), errors=errors)
        status = 207
    return Response.json(out, status=status)


def pair_missing(
    em: HubSpotEmulator, tname: str, to_type: str, from_id: Any, to_id: Any
) -> dict[str, Any] | None:
    if live(em, tname, from_id) is None or live(em, to_type, to_id) is None:
        return em._standard_error(
            "OBJECT_NOT_FOUND",
            f"One or more objects in {tname} {from_id} -> {to_type} {to_id} do not exist",
            {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
        )
    return None


def labels_pair(
    em: HubSpotEmulator, tname: str, to_type: str, from_id: int, to_id: int, type_ids: list[int]
) -> dict[str, Any]:
    labels = [label for t in type_ids if (label := assoc_label(tname, to_type, t))]
    return {
        "fromObjectTypeId": TYPES[tname].type_id,
        "fromObjectId": from_id,
        "toObjectTypeId": TYPES[to_type].type_id,
        "toObjectId": to_id,
        "labels": labels,
    }


def assoc_batch_create(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    results, errors = [], []
    for item in inputs(em, request):
        from_id, to_id = item["from"]["id"], item["to"]["id"]
        missing = pair_missing(em, tname, to_type, from_id, to_id)
        if missing:
            errors.append(missing)
            continue
        type_ids = [int(t["associationTypeId"]) for t in item.get("types") or []]
        for t in type_ids:
            em.portal.store.associate(tname, int(from_id), to_type, int(to_id), t)
        results.append(labels_pair(em, tname, to_type, int(from_id), int(to_id), type_ids))
    return batch_response(em, results, errors, 201)


def default_pair(
    em: HubSpotEmulator, tname: str, to_type: str, from_id: Any, to_id: Any
) -> list[Any]:
    type_id = DEFAULT_ASSOC.get((tname, to_type))
    if type_id is None:
        raise em._fail(400, f"No default association from {tname} to {to_type}", "VALIDATION_ERROR")
    back = em.portal.store.associate(tname, int(from_id), to_type, int(to_id), type_id)
    return [
        {
            "from": {"id": str(from_id)},
            "to": {"id": str(to_id)},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": back,
            },
        },
        {
            "from": {"id": str(to_id)},
            "to": {"id": str(from_id)},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": DEFAULT_ASSOC.get((to_type, tname), type_id),
            },
        },
    ]


def assoc_batch_default(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    results, errors = [], []
    for item in inputs(em, request):
        from_id, to_id = item["from"]["id"], item["to"]["id"]
        missing = pair_missing(em, tname, to_type, from_id, to_id)
        if missing:
            errors.append(missing)
        else:
            results.extend(default_pair(em, tname, to_type, from_id, to_id))
    return batch_response(em, results, errors, 200)


def assoc_batch_archive(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    for item in inputs(em, request):
        for target in item.get("to") or []:
            em.portal.store.dissociate(tname, int(item["from"]["id"]), to_type, int(target["id"]))
    return Response(204)


def assoc_put_default(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    from_id, to_id = request.params["id"], request.params["toid"]
    missing = pair_missing(em, tname, to_type, from_id, to_id)
    if missing:
        raise em._fail(404, missing["message"], "OBJECT_NOT_FOUND")
    return batch_response(em, default_pair(em, tname, to_type, from_id, to_id), [], 200)


def assoc_put(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    from_id, to_id = request.params["id"], request.params["toid"]
    missing = pair_missing(em, tname, to_type, from_id, to_id)
    if missing:
        raise em._fail(404, missing["message"], "OBJECT_NOT_FOUND")
    specs = request.json()
    if not isinstance(specs, list):
        raise em._fail(400, "expected a list of association specs", "VALIDATION_ERROR")
    type_ids = [int(s["associationTypeId"]) for s in specs]
    for t in type_ids:
        em.portal.store.associate(tname, int(from_id), to_type, int(to_id), t)
    return Response.json(
        labels_pair(em, tname, to_type, int(from_id), int(to_id), type_ids), status=201
    )


def assoc_delete(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    em.portal.store.dissociate(
        tname, int(request.params["id"]), to_type, int(request.params["toid"])
    )
    return Response(204)


def assoc_labels(em: HubSpotEmulator, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    ids = sorted(
        {
            *([DEFAULT_ASSOC[(tname, to_type)]] if (tname, to_type) in DEFAULT_ASSOC else []),
            *LABELLED_ASSOC.get((tname, to_type), {}),
        }
    )
    return Response.json({"results": [em._spec(tname, to_type, t) for t in ids]})


# -- files ---------------------------------------------------------------------------------------


def file_json(em: HubSpotEmulator, meta: dict[str, Any]) -> dict[str, Any]:
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


def file_meta(em: HubSpotEmulator, file_id: str) -> dict[str, Any]:
    meta = em.portal.files.get(file_id)
    if meta is None or meta["archived"]:
        raise em._fail(404, f"File {file_id} not found", "OBJECT_NOT_FOUND")
    return meta


def files_search(em: HubSpotEmulator, request: Request) -> Response:
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


def file_get(em: HubSpotEmulator, request: Request) -> Response:
    return Response.json(file_json(em, file_meta(em, request.params["id"])))


def file_archive(em: HubSpotEmulator, request: Request) -> Response:
    meta = file_meta(em, request.params["id"])
    meta.update(archived=True, archivedAt=em._stamp())
    return Response(204)


def signature(em: HubSpotEmulator, file_id: str, expires: int) -> str:
    return hmac.new(em._signing_key, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()[
        :40
    ]


def file_signed_url(em: HubSpotEmulator, request: Request) -> Response:
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


def file_download(em: HubSpotEmulator, request: Request) -> Response:
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


def files_upload(em: HubSpotEmulator, request: Request) -> Response:
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
    file_id = em.portal.add_file("", name, folder, len(data), em._stamp(), data)
    meta = em.portal.files[file_id]
    options = json.loads(fields.get("options") or "{}")
    meta["access"] = options.get("access", "PRIVATE")
    return Response.json(file_json(em, meta), status=201)


def generated_bytes(seed: int, file_id: str, size: int) -> bytes:
    """A file's deterministic body: a PDF header, seeded noise, a PDF trailer."""
    head = f"%PDF-1.4\n% sandbox file {file_id}\n".encode()
    tail = b"\n%%EOF\n"
    middle = max(0, size - len(head) - len(tail))
    body = head + random.Random(f"hubspot-file:{seed}:{file_id}").randbytes(middle) + tail
    return body[:size] if size >= len(head) + len(tail) else body
