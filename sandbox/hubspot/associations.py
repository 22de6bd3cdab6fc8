"""The v4 associations API: lists per record, batch read/create/archive/associate-default,
single PUT/DELETE, and the labels between two types.

Each handler is a function of the emulator and the request, run under its lock.
"""

from __future__ import annotations

from typing import Any

from sandbox.http import Request, Response
from sandbox.hubspot.portal import PortalAPI, batch_response, inputs, offset_page
from sandbox.hubspot.schema import LABELLED_ASSOC, assoc_label
from sandbox.hubspot.store import Record


def live(em: PortalAPI, tname: str, raw_id: Any) -> Record | None:
    raw = str(raw_id)
    rec = em.portal.store.types[tname].records.get(int(raw)) if raw.isdigit() else None
    return rec if rec is not None and rec.archived_at is None else None


def assoc_rows(em: PortalAPI, tname: str, rec_id: int, to_type: str) -> list[dict[str, Any]]:
    return [
        {"toObjectId": tid, "associationTypes": [em._spec(tname, to_type, t) for t in types]}
        for tid, types in em.portal.store.associations(tname, rec_id, to_type)
    ]


def assoc_list(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    limit = min(int(request.arg("limit") or 500), 500)
    after = int(request.arg("after") or 0)
    rec = live(em, tname, request.params["id"])
    rows = assoc_rows(em, tname, rec.id, to_type) if rec is not None else []
    return offset_page(rows, after, limit, f"{em.base_url}{request.path}")


def assoc_batch_read(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    kinds = em.portal.store.object_types
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
                    f"No {kinds[to_type].singular} is associated with "
                    f"{kinds[tname].singular} {raw}.",
                    {"fromObjectId": [raw]},
                )
                | {"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}
            )
    return batch_response(em, results, errors, 200)


def pair_missing(
    em: PortalAPI, tname: str, to_type: str, from_id: Any, to_id: Any
) -> dict[str, Any] | None:
    if live(em, tname, from_id) is None or live(em, to_type, to_id) is None:
        return em._standard_error(
            "OBJECT_NOT_FOUND",
            f"One or more objects in {tname} {from_id} -> {to_type} {to_id} do not exist",
            {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
        )
    return None


def labels_pair(
    em: PortalAPI, tname: str, to_type: str, from_id: int, to_id: int, type_ids: list[int]
) -> dict[str, Any]:
    labels = [label for t in type_ids
              if (label := assoc_label(tname, to_type, t, em.portal.store.labels))]
    return {
        "fromObjectTypeId": em.portal.store.object_types[tname].type_id,
        "fromObjectId": from_id,
        "toObjectTypeId": em.portal.store.object_types[to_type].type_id,
        "toObjectId": to_id,
        "labels": labels,
    }


def assoc_batch_create(em: PortalAPI, request: Request) -> Response:
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
    em: PortalAPI, tname: str, to_type: str, from_id: Any, to_id: Any
) -> list[Any]:
    defaults = em.portal.store.default_assoc
    type_id = defaults.get((tname, to_type))
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
                "associationTypeId": defaults.get((to_type, tname), type_id),
            },
        },
    ]


def assoc_batch_default(em: PortalAPI, request: Request) -> Response:
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


def assoc_batch_archive(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    for item in inputs(em, request):
        for target in item.get("to") or []:
            em.portal.store.dissociate(tname, int(item["from"]["id"]), to_type, int(target["id"]))
    return Response(204)


def assoc_put_default(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    from_id, to_id = request.params["id"], request.params["toid"]
    missing = pair_missing(em, tname, to_type, from_id, to_id)
    if missing:
        raise em._fail(404, missing["message"], "OBJECT_NOT_FOUND")
    return batch_response(em, default_pair(em, tname, to_type, from_id, to_id), [], 200)


def assoc_put(em: PortalAPI, request: Request) -> Response:
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


def assoc_delete(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["type"]), em._type(request.params["to"])
    em.portal.store.dissociate(
        tname, int(request.params["id"]), to_type, int(request.params["toid"])
    )
    return Response(204)


def assoc_labels(em: PortalAPI, request: Request) -> Response:
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    defaults = em.portal.store.default_assoc
    ids = sorted(
        {
            *([defaults[(tname, to_type)]] if (tname, to_type) in defaults else []),
            *LABELLED_ASSOC.get((tname, to_type), {}),
            *em.portal.store.labels.get((tname, to_type), {}),
        }
    )
    return Response.json({"results": [em._spec(tname, to_type, t) for t in ids]})


def assoc_label_create(em: PortalAPI, request: Request) -> Response:
    """A USER_DEFINED label between two types (``{"label", "name"}``), as HubSpot makes
    one: a new type id for each direction (one for a pair of the same type)."""
    tname, to_type = em._type(request.params["from"]), em._type(request.params["to"])
    body = em._body(request)
    label = str(body.get("label") or "").strip()
    if not label or not str(body.get("name") or "").strip():
        raise em._fail(400, "label and name are required", "VALIDATION_ERROR")
    labels = em.portal.store.labels
    taken = [tid for tid, got in labels.get((tname, to_type), {}).items() if got == label]
    if taken:
        raise em._fail(400, f"An association label '{label}' already exists",
                       "VALIDATION_ERROR")
    used = [tid for got in labels.values() for tid in got]
    forward = max([1000, *used]) + 1
    labels.setdefault((tname, to_type), {})[forward] = label
    if tname != to_type:
        labels.setdefault((to_type, tname), {})[forward + 1] = label
    em.portal.store.version += 1
    ids = sorted(labels[(tname, to_type)])
    return Response.json({"results": [em._spec(tname, to_type, t) for t in ids]})
