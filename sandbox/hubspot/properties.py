"""Properties: ``/crm/v3/properties/{type}`` (list, get, create, batch create). The
custom-object schemas are in ``schemas`` beside this module.

Each handler is a function of the emulator and the request, run under its lock.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.http import HTTPError, Request, Response
from sandbox.hubspot.portal import PortalAPI, batch_response, inputs
from sandbox.hubspot.schema import property_definition
from sandbox.hubspot.store import iso


def properties(em: PortalAPI, request: Request) -> Response:
    tname = em._type(request.params["type"])
    return Response.json({"results": list(em.portal.store.properties[tname].values())})


def property(em: PortalAPI, request: Request) -> Response:
    tname = em._type(request.params["type"])
    spec = em.portal.store.properties[tname].get(request.params["name"])
    if spec is None:
        raise em._fail(404, f"Unable to find property {request.params['name']}", "OBJECT_NOT_FOUND")
    return Response.json(spec)


def update_property(em: PortalAPI, request: Request) -> Response:
    """``PATCH /crm/v3/properties/{type}/{name}``: a custom property's label, description,
    group or options (the whole list, as HubSpot replaces it); HubSpot's own properties
    keep their definition (400), as ``modificationMetadata.readOnlyDefinition`` says."""
    tname = em._type(request.params["type"])
    spec = em.portal.store.properties[tname].get(request.params["name"])
    if spec is None:
        raise em._fail(404, f"Unable to find property {request.params['name']}",
                       "OBJECT_NOT_FOUND")
    body = em._body(request)
    if spec["modificationMetadata"]["readOnlyDefinition"]:
        raise em._fail(400, f"The definition of the HubSpot-defined property {spec['name']} "
                       "cannot be changed", "VALIDATION_ERROR")
    if "options" in body:
        opts = body["options"]
        if spec["type"] != "enumeration" or not isinstance(opts, list) or not all(
                isinstance(o, dict) and str(o.get("value") or "") and str(o.get("label") or "")
                for o in opts):
            raise em._fail(400, "options must be a list of {label, value} for an enumeration "
                           "property", "VALIDATION_ERROR")
        spec["options"] = [{"label": str(o["label"]), "value": str(o["value"]),
                            "displayOrder": int(o.get("displayOrder", i)),
                            "hidden": bool(o.get("hidden", False))} for i, o in enumerate(opts)]
    for key in ("label", "description", "groupName"):
        if isinstance(body.get(key), str) and body[key]:
            spec[key] = body[key]
    spec["updatedAt"] = iso(em._stamp())
    return Response.json(spec)


def create_property(em: PortalAPI, request: Request) -> Response:
    """Create a custom property (a restore target is prepared with these)."""
    tname = em._type(request.params["type"])
    return Response.json(new_property(em, tname, em._body(request)), status=201)


def create_properties(em: PortalAPI, request: Request) -> Response:
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


def new_property(em: PortalAPI, tname: str, body: dict[str, Any]) -> dict[str, Any]:
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
