"""Restore writer for HubSpot (the write side of the HubSpot connector).

Records are written with batch upsert (at most 100 per call) by a unique property: the
mapping's key, ``source_record_id`` for the bundled mappings (every type has it in the
sandbox; in a real portal it must first exist as a unique property, or the mapping names
another unique property), so resending a batch never duplicates. A record's file
(``file =`` in the mapping) is uploaded with the files API into a folder of its own (looked
up first when an earlier run may have sent it) and attached through ``hs_attachment_ids``
(notes). References become v4 associations, created in batches of up to 1,000 per call
(``batch/associate/default``, or ``batch/create`` with an explicit type id). Properties a
mapping needs and the portal lacks are created in one ``batch/create``.

All calls go through hubspot-api-client over its ``host`` (the sandbox or the real API),
with the shared retry policy (429 with Retry-After, 5xx, timeouts) and the secondly
budget from the ``X-HubSpot-RateLimit-Secondly-Remaining`` header respected.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from exporter.errors import AuthError, QuotaExhausted, SourceError, TransientError
from exporter.retry import RetryPolicy
from exporter.writer import Link, ObjectInfo, WriteItem, Writer, WriteResult, chunks

__all__ = ["HubSpotWriter"]

ASSOC_BATCH = 1000
UPSERT_BATCH = 100
STANDARD = ("contacts", "companies", "deals", "tickets", "products", "line_items", "notes",
            "tasks", "calls", "meetings", "emails")
PROPERTY_TYPES = {"string": ("string", "text"), "number": ("number", "number"),
                  "date": ("date", "date"), "datetime": ("datetime", "date"),
                  "bool": ("enumeration", "booleancheckbox")}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class HubSpotWriter(Writer):
    """Restores into a HubSpot portal (CRM v3 batch upsert, v4 associations)."""

    name = "hubspot"
    secret_fields: ClassVar[tuple[str, ...]] = ("access_token",)
    #: Items per engine batch: upserted 100 per call (HubSpot's limit), then associated up
    #: to 1,000 per call, before the batch's id-map rows are committed.
    batch_size: int = ASSOC_BATCH

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: Any = None) -> None:
        super().__init__(target, config, secrets, log)
        import hubspot

        kwargs: dict[str, Any] = {"access_token": secrets.get("access_token", "")}
        if config.get("base_url"):
            kwargs["host"] = str(config["base_url"]).rstrip("/")
        self.client = hubspot.Client.create(**kwargs)
        self.policy = RetryPolicy(**dict(config.get("retry", {})))
        self._calls = 0
        self._infos: dict[str, ObjectInfo] = {}
        self._window = (0.0, 1_000_000)  # (second, requests left in it)

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any], missing_ok: bool = False) -> Any:
        """One API call with retries; returns the decoded JSON body (None: no body, or a
        404 when ``missing_ok``)."""
        def attempt() -> Any:
            self._pace()
            self._calls += 1
            try:
                resp = fn()
            except Exception as exc:  # each SDK sub-package has its own ApiException
                if missing_ok and getattr(exc, "status", None) == 404:
                    return None
                raise self._map(what, exc) from None
            self._note_limits(getattr(resp, "headers", {}) or {})
            body = resp.data if hasattr(resp, "data") else b""
            return json.loads(body) if body else None
        return self.policy.call(what, attempt)

    def _map(self, what: str, exc: Exception) -> Exception:
        status = getattr(exc, "status", None)
        if status is None:
            return exc
        body = getattr(exc, "body", None) or ""
        try:
            message = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            message = str(body)[:200]
        headers = getattr(exc, "headers", None) or {}
        if status == 429:
            retry = headers.get("Retry-After")
            if "DAILY" in str(body):
                return QuotaExhausted(f"HubSpot's daily API limit is used up ({what}); the "
                                      "restore can be run again tomorrow and resumes.")
            return TransientError(f"HubSpot rate limit during {what}",
                                  float(retry) if retry else None)
        if status == 0 or status >= 500:
            return TransientError(f"HubSpot answered {status} to {what}")
        if status in (401, 403):
            return AuthError(f"HubSpot refused the access token ({message}); check the "
                             "target's access_token.")
        return SourceError(f"HubSpot refused {what}: {message}")

    def _pace(self) -> None:
        second, left = self._window
        if left <= 1 and time.time() - second < 1.0:
            time.sleep(max(0.0, 1.0 - (time.time() - second)))

    def _note_limits(self, headers: Mapping[str, str]) -> None:
        left = headers.get("X-HubSpot-RateLimit-Secondly-Remaining")
        if left is not None and left.isdigit():
            self._window = (time.time(), int(left))

    @property
    def _objects_api(self) -> Any:
        return self.client.crm.objects

    # -- describe and properties -----------------------------------------------------------

    def objects(self) -> list[str]:
        body = self._call("list schemas", lambda: self.client.crm.schemas.core_api.get_all(
            _preload_content=False))
        custom = [r.get("name") for r in (body or {}).get("results", [])]
        return [*STANDARD, *[c for c in custom if isinstance(c, str)]]

    def describe(self, obj: str) -> ObjectInfo | None:
        if obj in self._infos:
            return self._infos[obj]
        body = self._call(f"read the {obj} properties",
                          lambda: self.client.crm.properties.core_api.get_all(
                              obj, _preload_content=False), missing_ok=True)
        if body is None:
            return None
        results = (body or {}).get("results", [])
        fields = {p["name"]: p.get("type", "string") for p in results}
        options = {p["name"]: frozenset(o["value"] for o in p.get("options") or [])
                   for p in results if p.get("type") == "enumeration" and p.get("options")}
        unique = [p["name"] for p in results if p.get("hasUniqueValue")]
        key = "source_record_id" if "source_record_id" in unique else (unique[0] if unique
                                                                       else None)
        info = ObjectInfo(obj, fields, key, options)
        self._infos[obj] = info
        return info

    def ensure_fields(self, obj: str, fields: Mapping[str, str]) -> list[str]:
        info = self.describe(obj)
        missing = [n for n in fields if info is None or n not in info.fields]
        if not missing:
            return []
        inputs = []
        for name in missing:
            ptype, field_type = PROPERTY_TYPES.get(fields[name], PROPERTY_TYPES["string"])
            spec: dict[str, Any] = {"name": name, "label": name.replace("_", " ").capitalize(),
                                    "type": ptype, "fieldType": field_type,
                                    "groupName": "restored"}
            if ptype == "enumeration":
                spec["options"] = [{"label": "Yes", "value": "true"},
                                   {"label": "No", "value": "false"}]
            inputs.append(spec)
        self._call(f"create {obj} properties", functools.partial(
            self.client.crm.properties.batch_api.create, obj, {"inputs": inputs},
            _preload_content=False))
        if info is not None:  # known now: no need to read the properties again
            self._infos[obj] = ObjectInfo(obj, {**info.fields, **{
                i["name"]: i["type"] for i in inputs}}, info.upsert, info.options,
                info.required)
        else:
            self._infos.pop(obj, None)
        return missing

    # -- writes ----------------------------------------------------------------------------

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        info = self.describe(obj)
        key = info.upsert if info is not None else None
        if key is None:
            raise SourceError(f"HubSpot {obj} has no unique property to restore by.")
        results: dict[str, WriteResult] = {}
        extra: dict[str, dict[str, str]] = {}
        for item in items:
            if item.file is not None:
                try:
                    extra[item.key] = {"hs_attachment_ids": self._attach(item)}
                except SourceError as exc:
                    if isinstance(exc, AuthError | QuotaExhausted):
                        raise
                    results[item.key] = WriteResult(item.key, error=f"file: {exc}")
        todo = [i for i in items if i.key not in results]
        for batch in chunks(todo, UPSERT_BATCH):
            self._upsert(obj, key, batch, results, extra)
        self._associate(obj, [i for i in items if i.key in results
                              and results[i.key].target_id], results)
        return list(results.values())

    def _attach(self, item: WriteItem) -> str:
        """Upload a record's file into a folder of its own (found again on a re-run, so a
        file is never uploaded twice); returns the HubSpot file id."""
        assert item.file is not None
        folder = "/Restored/" + re.sub(r"[^A-Za-z0-9_.-]+", "-", item.key_value or item.key)
        files_api = self.client.files.files_api
        if item.attempted or item.target_id is not None:
            found = self._call("look for a restored file", functools.partial(
                files_api.do_search, path=folder + "/", limit=1, _preload_content=False))
            if (found or {}).get("results"):
                return str(found["results"][0]["id"])
        with tempfile.TemporaryDirectory(prefix="exporter-restore-") as tmp:
            # The SDK uploads from a path: the file lives in a private folder for the call.
            path = Path(tmp) / re.sub(r"[/\\]+", "_", item.file.name or "file")
            with path.open("wb") as fh:
                for chunk in item.file.open():
                    fh.write(chunk)
            body = self._call(f"upload {item.file.name}", functools.partial(
                files_api.upload, file=str(path), folder_path=folder,
                options=json.dumps({"access": "PRIVATE", "overwrite": False}),
                _preload_content=False))
        return str(body["id"])

    def _upsert(self, obj: str, key: str, items: list[WriteItem],
                results: dict[str, WriteResult], extra: Mapping[str, dict[str, str]]) -> None:
        inputs = []
        for item in items:
            props = {k: _text(v) for k, v in item.fields.items()
                     if item.target_id is not None or v not in (None, "")}
            props.update(extra.get(item.key, {}))
            props.pop(key, None)
            inputs.append({"idProperty": key, "id": item.key_value or item.key,
                           "properties": props})
        try:
            body = self._call(f"upsert {len(items)} {obj}", functools.partial(
                self._objects_api.batch_api.upsert, obj, {"inputs": inputs},
                _preload_content=False))
        except SourceError as exc:
            if isinstance(exc, AuthError | QuotaExhausted):
                raise
            for item in items:
                results[item.key] = WriteResult(item.key, error=str(exc))
            return
        # Results come in any order, and an update's may not echo the key property: match
        # them by the known id, then by the key, then in order.
        by_id = {item.target_id: item for item in items if item.target_id}
        by_value = {item.key_value or item.key: item for item in items}
        leftover = []
        for r in (body or {}).get("results", []):
            hit = by_id.get(str(r["id"])) or by_value.get(
                str((r.get("properties") or {}).get(key)))
            if hit is not None and hit.key not in results:
                results[hit.key] = WriteResult(hit.key, str(r["id"]), bool(r.get("new")))
            else:
                leftover.append(r)
        if leftover and not (body or {}).get("errors"):
            waiting = [i for i in items if i.key not in results]
            for item, r in zip(waiting, leftover, strict=False):
                results[item.key] = WriteResult(item.key, str(r["id"]), bool(r.get("new")))
        self._errors(obj, items, results, (body or {}).get("errors", []))

    @staticmethod
    def _errors(obj: str, items: list[WriteItem], results: dict[str, WriteResult],
                errors: list[dict[str, Any]]) -> None:
        """Per-input errors: HubSpot does not always name the input, so they are matched in
        order with the inputs that got no result."""
        failed = [i for i in items if i.key not in results]
        messages = [str(e.get("message", "refused")) for e in errors]
        for n, item in enumerate(failed):
            if len(messages) == len(failed):
                message = messages[n]
            else:
                message = "; ".join(messages) or "HubSpot did not return this record"
            results[item.key] = WriteResult(item.key, error=f"HubSpot: {message}")

    def _associate(self, obj: str, items: list[WriteItem],
                   results: dict[str, WriteResult]) -> None:
        groups: dict[tuple[str, int | None], list[tuple[WriteItem, Link]]] = defaultdict(list)
        for item in items:
            for link in item.links:
                groups[(link.to_object, link.type_id)].append((item, link))
        for (to_object, type_id), pairs in groups.items():
            for batch in chunks(pairs, ASSOC_BATCH):
                res = results
                inputs: list[dict[str, Any]] = []
                for item, link in batch:
                    pair: dict[str, Any] = {"from": {"id": res[item.key].target_id},
                                            "to": {"id": link.to_id}}
                    if type_id is not None:
                        pair["types"] = [{"associationCategory": "HUBSPOT_DEFINED",
                                          "associationTypeId": type_id}]
                    inputs.append(pair)
                api = self.client.crm.associations.v4.batch_api
                method = api.create_default if type_id is None else api.create
                try:
                    self._call(f"associate {obj} with {to_object}", functools.partial(
                        method, obj, to_object, {"inputs": inputs}, _preload_content=False))
                except SourceError as exc:
                    for item, _link in batch:
                        res[item.key] = WriteResult(item.key, error=f"associations: {exc}")

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        results = {i.key: WriteResult(i.key, i.target_id) for i in items}
        self._associate(obj, items, results)
        return list(results.values())

    def find(self, obj: str, items: list[WriteItem], match: list[str]) -> dict[str, str]:
        info = self.describe(obj)
        key = info.upsert if info is not None else None
        if key is None:
            return {}
        values = {item.key_value or item.key: item.key for item in items}
        body = self._call(f"read {obj}", lambda: self._objects_api.batch_api.read(
            obj, {"idProperty": key, "inputs": [{"id": v} for v in values],
                  "properties": [key]}, _preload_content=False))
        return {values[str(r["properties"][key])]: str(r["id"])
                for r in (body or {}).get("results", [])
                if str((r.get("properties") or {}).get(key)) in values}

    # -- reading back ----------------------------------------------------------------------

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(ids, 100):
            body = self._call(f"read {obj}", functools.partial(
                self._objects_api.batch_api.read, obj,
                {"inputs": [{"id": i} for i in batch], "properties": fields},
                _preload_content=False))
            for r in (body or {}).get("results", []):
                out[str(r["id"])] = {**(r.get("properties") or {}), "@links": {}}
        for to_object in set(links.values()):
            found = self.read_links(obj, list(out), to_object)
            for rid, got in out.items():
                for name, other in links.items():
                    if other == to_object:
                        got["@links"][name] = found.get(rid, [])
        return out

    def read_links(self, obj: str, ids: list[str], to_object: str) -> dict[str, list[str]]:
        """Associated ids of ``to_object`` per record id."""
        found: dict[str, list[str]] = {}
        api = self.client.crm.associations.v4.batch_api
        for batch in chunks(ids, ASSOC_BATCH):
            body = self._call(f"read {obj} associations", functools.partial(
                api.get_page, obj, to_object, {"inputs": [{"id": i} for i in batch]},
                _preload_content=False))
            for r in (body or {}).get("results", []):
                found[str(r["from"]["id"])] = [str(t["toObjectId"]) for t in r.get("to", [])]
        return found

    def calls(self) -> int:
        return self._calls
