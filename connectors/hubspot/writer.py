"""Restore writer for HubSpot (the write side of the HubSpot connector).

Records are written with batch upsert (at most 100 per call) by a unique property: the
mapping's key, ``source_record_id`` for the bundled mappings (created by the restore as a
unique property where the portal lacks it), so resending a batch never duplicates. A record's file
(``file =`` in the mapping) is uploaded with the files API into a folder of its own (looked
up first when an earlier run may have sent it) and attached through ``hs_attachment_ids``
(notes). A record new to the id map is created (``batch/create``) with its associations
inline (:mod:`connectors.hubspot.creates`); other references become v4 associations, created
in batches of up to 1,000 per call (``batch/associate/default``, or ``batch/create`` with an
explicit type id). Properties a
mapping needs and the portal lacks are created in one ``batch/create``; a custom object a
mapping's schema declares and the portal lacks, with one ``POST /crm/v3/schemas``
(:mod:`connectors.hubspot.schemas`).

All calls go through the one HubSpot client (:mod:`connectors.hubspot.client`), the one the
connector reads with: the same retries (429 with Retry-After, 5xx, timeouts), the same
pacing by ``X-HubSpot-RateLimit-Secondly-Remaining``, and the same quota guard, so a restore
stops (resumably, QuotaExhausted) by the same ``daily_reserve`` rule as a sync, counting
from the portal's daily counter as HubSpot reports it. Responses are read as raw JSON
(``_preload_content=False``): no SDK model per record.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar

from connectors.hubspot.attached import UPLOAD_OPTIONS, AttachedFiles
from connectors.hubspot.client import BASE_URL, DAILY_RESERVE, TIMEOUT, WRITING, HubSpotClient
from connectors.hubspot.creates import answered, create_linked, label_type
from connectors.hubspot.readback import ASSOC_BATCH, ReadBack
from connectors.hubspot.schemas import CustomObjects, property_spec
from connectors.hubspot.wire import STANDARD
from exporter.errors import AuthError, QuotaExhausted, SourceError
from exporter.private_files import scratch_file
from exporter.retry import RETRY, policy_from
from exporter.settings import Setting
from exporter.writer import (
    BATCH_SIZE,
    Link,
    ObjectInfo,
    ObjectSchema,
    WriteItem,
    Writer,
    WriteResult,
    chunks,
)

__all__ = ["HubSpotWriter"]

UPSERT_BATCH = 100
#: The unique property every restored record carries its source id in; the restore creates
#: it (``hasUniqueValue``) on each object it writes where the portal lacks it.
SOURCE_KEY = "source_record_id"

SETTINGS = (
    Setting("access_token", "secret", "A private-app token with write scopes for CRM "
            "objects, properties, associations and files", required=True, secret=True),
    BASE_URL,
    DAILY_RESERVE,
    TIMEOUT,
    RETRY,
    BATCH_SIZE,
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class HubSpotWriter(AttachedFiles, ReadBack, Writer):
    """Restores into a HubSpot portal (CRM v3 batch upsert, v4 associations)."""

    name = "hubspot"
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS
    #: Items per engine batch: upserted 100 per call (HubSpot's limit), then associated up
    #: to 1,000 per call, before the batch's id-map rows are committed.
    batch_size: int = ASSOC_BATCH
    source_key = SOURCE_KEY

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: Any = None) -> None:
        super().__init__(target, config, secrets, log)
        policy = policy_from(f"The retry table of [targets.{target}]", config.get("retry"))
        self.client = HubSpotClient.from_settings(config, secrets, WRITING, policy, self.log)
        self._infos: dict[str, ObjectInfo] = {}
        self._unique: dict[str, list[str]] = {}  # object -> its unique properties
        self._identity: str | None = None
        self._labels: dict[tuple[str, str, str], int] = {}  # association label -> type id
        self._defs: dict[str, dict[str, dict[str, Any]]] = {}  # object -> its properties
        self._keyed_now: set[str] = set()  # objects given their source key by this run
        self.custom = CustomObjects(self.client, SOURCE_KEY)  # schemas read once per run

    def identity(self) -> str:
        """The portal id (``GET /account-info/v3/details``, through the SDK's generic
        request: it has no account-info API of its own)."""
        if self._identity is None:
            def details() -> Any:
                response = self.client.api_request("GET", "/account-info/v3/details")
                self.client.requests += 1
                if response.status_code in (401, 403):
                    raise AuthError("HubSpot refused the access token (revoked, mistyped, or "
                                    "of another portal): check the target's access_token.")
                response.raise_for_status()
                return response.json()

            try:
                body = self.client.policy.call("Reading the HubSpot account id", details)
            except (OSError, ValueError) as exc:  # requests' errors are OSErrors
                raise SourceError("HubSpot could not be reached (check base_url and the "
                                  "internet connection, or try again later).") from exc
            self._identity = f"hubspot:portal/{body['portalId']}"
        return self._identity

    # -- describe and properties -----------------------------------------------------------

    def objects(self) -> list[str]:
        return [*STANDARD, *self.custom.names()]

    def planned(self, obj: str, schema: ObjectSchema) -> ObjectInfo | None:
        return self.custom.planned(obj, schema)

    def ensure_object(self, obj: str, schema: ObjectSchema) -> bool:
        """Creates the custom object (``POST /crm/v3/schemas``) where the portal lacks it,
        with the schema's properties and ``source_record_id`` (unique) in the one call."""
        made = self.custom.ensure(obj, schema)
        if made:
            # Its definition is what was just sent: not read back (one call per object).
            self._infos[obj] = self.custom.planned(obj, schema)
            self._unique[obj] = [SOURCE_KEY]
            self._defs[obj] = {str(p["name"]): p for p in
                               self.custom.known().get(obj, {}).get("properties") or []}
        return made

    def _lacks(self, obj: str) -> bool:
        """A custom object the portal has no schema for (one a restore with nothing to
        write never made): HubSpot answers 400, not 404, for an object type it cannot
        infer, so it is not asked."""
        return obj not in STANDARD and obj not in self._infos \
            and obj not in self.custom.known()

    def describe(self, obj: str) -> ObjectInfo | None:
        if obj in self._infos:
            return self._infos[obj]
        if self._lacks(obj):
            return None
        body = self.client.call_json(f"Reading the HubSpot {obj} properties",
                                     self.client.properties.get_all, self._at(obj),
                                     missing_ok=True)
        if body is None:
            return None
        results = (body or {}).get("results", [])
        self._defs[obj] = {str(p["name"]): p for p in results}
        fields = {p["name"]: p.get("type", "string") for p in results}
        options = {p["name"]: frozenset(o["value"] for o in p.get("options") or [])
                   for p in results if p.get("type") == "enumeration" and p.get("options")}
        unique = [p["name"] for p in results if p.get("hasUniqueValue")]
        self._unique[obj] = unique
        key = SOURCE_KEY if SOURCE_KEY in unique else (unique[0] if unique else None)
        read_only = frozenset(p["name"] for p in results if p.get("calculated") or (
            p.get("modificationMetadata") or {}).get("readOnlyValue"))
        info = ObjectInfo(obj, fields, key, options, keys=frozenset(unique),
                          read_only=read_only)
        self._infos[obj] = info
        return info

    def ensure(self, fields: Mapping[str, Mapping[str, str]],
               keyed: Iterable[str]) -> dict[str, list[str]]:
        """The properties each object lacks, the mapping's and ``source_record_id``
        (``hasUniqueValue``: HubSpot allows ten per object), in one ``batch/create`` per
        object; the created definitions are known, so the properties are not read again.
        A ``source_record_id`` that exists without being unique cannot be changed into
        one, and is reported."""
        keyed = set(keyed)
        made: dict[str, list[str]] = {}
        for obj in dict.fromkeys([*fields, *keyed]):
            info = self.describe(obj)
            wanted = {n: t for n, t in (fields.get(obj) or {}).items()
                      if info is None or n not in info.fields}
            inputs = [self._spec(name, kind) for name, kind in wanted.items()]
            if obj in keyed and info is not None and SOURCE_KEY not in info.keys:
                if SOURCE_KEY in info.fields:
                    raise SourceError(
                        f"The HubSpot {obj} property {SOURCE_KEY} exists but does not "
                        "require unique values, so a restore could not find its records "
                        "again; rename or delete that property in HubSpot (Settings, "
                        "Properties), then run the restore again.")
                inputs.append({"name": SOURCE_KEY, "label": "Exporter source id",
                               "type": "string", "fieldType": "text", "groupName": "restored",
                               "hasUniqueValue": True, "description": "The archived record "
                               "this one was restored from"})
            if not inputs:
                continue
            self.client.call_json(f"Creating HubSpot {obj} properties",
                                  self.client.properties_batch.create, self._at(obj),
                                  {"inputs": inputs})
            made[obj] = [i["name"] for i in inputs]
            if SOURCE_KEY in made[obj]:
                self._keyed_now.add(obj)
            if info is None:
                self._infos.pop(obj, None)
                continue
            unique = [*self._unique.get(obj, []), *(
                [SOURCE_KEY] if any(i.get("hasUniqueValue") for i in inputs) else [])]
            self._unique[obj] = unique
            self._infos[obj] = replace(
                info, fields={**info.fields, **{i["name"]: i["type"] for i in inputs}},
                keys=frozenset(unique),
                upsert=SOURCE_KEY if SOURCE_KEY in unique else info.upsert)
        return made

    @staticmethod
    def _spec(name: str, kind: str) -> dict[str, Any]:
        return property_spec(name, kind, groupName="restored")

    def add_options(self, obj: str, values: Mapping[str, list[str]]) -> dict[str, str]:
        """Adds options to enumeration properties the portal lets change (its own custom
        properties) with ``PATCH /crm/v3/properties/{objectType}/{propertyName}`` (the
        whole option list: the old options and the new ones, labelled as their values);
        HubSpot's own properties keep their options: why is returned."""
        refused: dict[str, str] = {}
        for name, new in values.items():
            prop = self._defs.get(obj, {}).get(name) or {}
            meta = prop.get("modificationMetadata") or {}
            if prop.get("type") != "enumeration" or prop.get("hubspotDefined") \
                    or meta.get("readOnlyOptions") or meta.get("readOnlyDefinition"):
                refused[name] = (f"HubSpot does not let the options of its own property "
                                 f"{name} be changed; add them by hand (Settings, Properties)"
                                 " if the portal allows it")
                continue
            options = [dict(o) for o in prop.get("options") or []]
            have = {str(o.get("value")) for o in options}
            options += [{"label": v, "value": v, "displayOrder": len(options) + n,
                         "hidden": False} for n, v in enumerate(x for x in new if x not in have)]
            try:
                body = self.client.call_json(f"Adding options to the HubSpot {obj} property "
                                             f"{name}", self.client.properties.update,
                                             self._at(obj), name, {"options": options})
            except SourceError as exc:
                if isinstance(exc, AuthError | QuotaExhausted):
                    raise
                refused[name] = f"HubSpot did not take new options for {name} ({exc})"
                continue
            self._defs[obj][name] = body if isinstance(body, dict) else {**prop,
                                                                         "options": options}
            info = self._infos.get(obj)
            if info is not None:
                self._infos[obj] = replace(info, options={
                    **info.options, name: frozenset(str(o["value"]) for o in options)})
        return refused

    def ensure_fields(self, obj: str, fields: Mapping[str, str]) -> list[str]:
        return self.ensure({obj: fields}, []).get(obj, [])

    def ensure_source_key(self, obj: str) -> bool:
        return SOURCE_KEY in self.ensure({}, [obj]).get(obj, [])

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
        # Records new to the id map are created with their links inline; the rest, and
        # any create did not make (it exists already: a re-run), are upserted by their key.
        left: dict[str, list[Link]] = {}
        for batch in chunks([i for i in todo if i.target_id is None and not i.attempted],
                            UPSERT_BATCH):
            left.update(create_linked(self, obj, key, batch, results, extra))
        refused: dict[str, dict[str, str]] = {}
        for batch in chunks([i for i in todo if i.key not in results], UPSERT_BATCH):
            self._upsert(obj, key, batch, results, extra, refused)
        self._without_refused(obj, key, todo, results, extra, refused)
        written = [i for i in items if i.key in results and results[i.key].target_id]
        self._unlink_stale(obj, [i for i in written if i.target_id is not None])
        self._associate(obj, [replace(i, links=left[i.key]) if i.key in left else i
                              for i in written], results)
        return list(results.values())

    def _unlink_stale(self, obj: str, updates: list[WriteItem]) -> None:
        """A changed link replaces the old one: an updated record's associations to an object
        it links to now, other than the records it links to, are removed (v4 batch/archive),
        so a client whose physician changed is not left with both."""
        wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for item in updates:
            for link in item.links:
                wanted[link.to_object][str(item.target_id)].add(link.to_id)
        for to_object, per in wanted.items():
            current = self.read_links(obj, list(per), to_object)
            stale = [{"from": {"id": rid}, "to": [{"id": t} for t in current.get(rid, [])
                                                  if t not in keep]}
                     for rid, keep in per.items()
                     if any(t not in keep for t in current.get(rid, []))]
            for batch in chunks(stale, ASSOC_BATCH):
                self.client.call_json(f"Removing replaced HubSpot {obj} associations",
                                      self.client.assoc_batch.archive, self._at(obj),
                                      self._at(to_object), {"inputs": batch})

    def _without_refused(self, obj: str, key: str, items: list[WriteItem],
                         results: dict[str, WriteResult], extra: Mapping[str, dict[str, str]],
                         refused: dict[str, dict[str, str]]) -> None:
        """Records refused for some of their properties are written again without them (a
        partial record, never a dropped one: its children still link to it); the refused
        properties and HubSpot's messages go with the result, for the error report."""
        again = [replace(i, fields={k: v for k, v in i.fields.items()
                                    if k not in refused[i.key]})
                 for i in items if i.key in refused and results[i.key].error]
        if not again:
            return
        for item in again:
            del results[item.key]
        for batch in chunks(again, UPSERT_BATCH):
            self._upsert(obj, key, batch, results, extra, {})
        for item in again:
            if not results[item.key].error:
                results[item.key].refused = refused[item.key]

    def _attach(self, item: WriteItem) -> str:
        """Upload a record's files (a note's attachments) into a folder of its own (found
        again on a re-run, so a file is never uploaded twice); returns the HubSpot file ids
        as ``hs_attachment_ids`` holds them."""
        assert item.file is not None
        folder = "/Restored/" + re.sub(r"[^A-Za-z0-9_.-]+", "-", item.key_value or item.key)
        files_api = self.client.files
        if not item.more_files and (item.attempted or item.target_id is not None):
            found = self.client.call_json("Looking for a restored HubSpot file",
                                          files_api.do_search, path=folder + "/", limit=1)
            if (found or {}).get("results"):
                return str(found["results"][0]["id"])
        ids = []
        for file in (item.file, *item.more_files):
            # The SDK uploads from a path: the file lives, 0600, in a private folder of the
            # user's (never the shared temporary folder) for the call. Several files: one
            # already in the folder is answered instead (RETURN_EXISTING), never added twice.
            name = re.sub(r"[/\\]+", "_", file.name or "file")
            with scratch_file(name, file.open()) as path:
                body = self.client.call_json(
                    "Uploading a file to HubSpot", files_api.upload, file=str(path),
                    folder_path=folder, options=json.dumps(UPLOAD_OPTIONS))
            ids.append(str(body["id"]))
        return ";".join(ids)

    def _upsert(self, obj: str, key: str, items: list[WriteItem],
                results: dict[str, WriteResult], extra: Mapping[str, dict[str, str]],
                refused: dict[str, dict[str, str]]) -> None:
        inputs = [{"idProperty": key, "id": item.key_value or item.key,
                   "properties": self._props(item, key, extra)} for item in items]
        try:
            body = self.client.call_json(f"Upserting {len(items)} HubSpot {obj}",
                                         self.client.objects_batch.upsert, self._at(obj),
                                         {"inputs": inputs})
        except SourceError as exc:
            if isinstance(exc, AuthError | QuotaExhausted):
                raise
            for item in items:
                results[item.key] = WriteResult(item.key, error=str(exc))
            return
        by_value = {item.key_value or item.key: item for item in items}
        for r in answered(body):
            hit = by_value.get(str((r.get("properties") or {}).get(key)))
            if hit is not None and hit.key not in results:
                results[hit.key] = WriteResult(hit.key, r["id"], bool(r.get("new")))
        errors = answered(body, "errors")
        unanswered = [i for i in items if i.key not in results]
        if unanswered and len(unanswered) > len(errors):
            # A result without its key (a portal that echoes only some properties): the
            # records are looked up by their key instead of guessed at.
            for k, tid in self.find(obj, unanswered, []).items():
                results[k] = WriteResult(k, tid, False)
        self._errors(obj, items, results, errors)
        for item in items:
            bad = self._refused_properties(obj, key, item, errors)
            if bad and results[item.key].error:
                refused[item.key] = bad

    @staticmethod
    def _props(item: WriteItem, key: str,
               extra: Mapping[str, dict[str, str]]) -> dict[str, str]:
        props = {k: _text(v) for k, v in item.fields.items()
                 if item.target_id is not None or v not in (None, "")}
        props.update(extra.get(item.key, {}))
        # The key is sent as a property too, so that every result echoes it: results come
        # in any order and are matched to their input by it, never by position.
        props[key] = item.key_value or item.key
        return props

    def _refused_properties(self, obj: str, key: str, item: WriteItem,
                            errors: list[dict[str, Any]]) -> dict[str, str]:
        """The properties HubSpot refused for this input (name -> message): those its
        validation errors name, or the unique properties a conflict is about."""
        out: dict[str, str] = {}
        ids = {item.key_value or item.key, item.target_id}
        for e in errors:
            if not ids & set((e.get("context") or {}).get("ids") or []):
                continue
            message = str(e.get("message", "refused"))
            for detail in e.get("errors") or []:
                for name in (detail.get("context") or {}).get("propertyName") or []:
                    out[name] = str(detail.get("message") or message)
            for name in (e.get("context") or {}).get("propertyName") or []:
                out.setdefault(name, message)
            if e.get("category") == "CONFLICT":
                out.update({name: message for name in self._unique.get(obj, [])
                            if name != key and item.fields.get(name) not in (None, "")})
        out.pop(key, None)
        return out

    @staticmethod
    def _errors(obj: str, items: list[WriteItem], results: dict[str, WriteResult],
                errors: list[dict[str, Any]]) -> None:
        """Per-input errors, matched by the ids they name (``context.ids``); an error that
        names none goes to the only record left without a result, or to each of them."""
        failed = {i.key_value or i.key: i for i in items if i.key not in results}
        failed.update({i.target_id: i for i in items if i.target_id and i.key not in results})
        loose: list[str] = []
        for e in errors:
            message = str(e.get("message", "refused"))
            named = [failed[i] for i in (e.get("context") or {}).get("ids") or []
                     if i in failed and failed[i].key not in results]
            for item in named:
                results[item.key] = WriteResult(item.key, error=f"HubSpot: {message}")
            if not named:
                loose.append(message)
        for item in items:
            if item.key not in results:
                message = "; ".join(loose) or "HubSpot did not return this record"
                results[item.key] = WriteResult(item.key, error=f"HubSpot: {message}")

    def _associate(self, obj: str, items: list[WriteItem],
                   results: dict[str, WriteResult]) -> None:
        groups: dict[tuple[str, int | None, str | None],
                     list[tuple[WriteItem, Link]]] = defaultdict(list)
        for item in items:
            for link in item.links:
                groups[(link.to_object, link.type_id, link.label)].append((item, link))
        for (to_object, type_id, label), pairs in groups.items():
            category = "HUBSPOT_DEFINED"
            if label is not None:
                type_id, category = self._label_type(obj, to_object, label), "USER_DEFINED"
            for batch in chunks(pairs, ASSOC_BATCH):
                res = results
                inputs: list[dict[str, Any]] = []
                for item, link in batch:
                    pair: dict[str, Any] = {"from": {"id": res[item.key].target_id},
                                            "to": {"id": link.to_id}}
                    if type_id is not None:
                        pair["types"] = [{"associationCategory": category,
                                          "associationTypeId": type_id}]
                    inputs.append(pair)
                api = self.client.assoc_batch
                method = api.create_default if type_id is None else api.create
                try:
                    self.client.call_json(f"Associating HubSpot {obj} with {to_object}",
                                          method, self._at(obj), self._at(to_object),
                                          {"inputs": inputs})
                except SourceError as exc:
                    for item, _link in batch:
                        res[item.key] = WriteResult(item.key, error=f"associations: {exc}")

    def _label_type(self, obj: str, to_object: str, label: str) -> int:
        """The type id of the portal's own association label, made when missing (one call
        where the portal's state is known: :func:`connectors.hubspot.creates.label_type`)."""
        key = (obj, to_object, label)
        if key not in self._labels:
            self._labels[key] = label_type(self.client, self._at(obj), self._at(to_object),
                                           label, create_first=obj in self._keyed_now)
        return self._labels[key]

    def _at(self, obj: str) -> str:
        """``obj`` as API paths name it: a custom object by objectTypeId, not its name."""
        return self.custom.path(obj)

    def count(self, obj: str) -> int | None:
        if self._lacks(obj):
            return 0
        body = self.client.call_json(f"Counting HubSpot {obj}", self.client.search.do_search,
                                     self._at(obj), {"limit": 1, "properties": ["hs_object_id"]})
        return int((body or {}).get("total", 0))

    def remove(self, obj: str, target_ids: list[str], keys: list[str]) -> list[WriteResult]:
        """Archives the records (HubSpot's own archived state: restorable for 90 days);
        archiving one already archived or gone is not an error."""
        for batch in chunks(target_ids, UPSERT_BATCH):
            self.client.call_json(f"Archiving {len(batch)} HubSpot {obj}",
                                  self.client.objects_batch.archive, self._at(obj),
                                  {"inputs": [{"id": i} for i in batch]})
        return [WriteResult(k, t) for k, t in zip(keys, target_ids, strict=True)]

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
        body = self.client.call_json(
            f"Looking up HubSpot {obj}", self.client.objects_batch.read, self._at(obj),
            {"idProperty": key, "inputs": [{"id": v} for v in values], "properties": [key]})
        return {values[str(r["properties"][key])]: r["id"] for r in answered(body)
                if str((r.get("properties") or {}).get(key)) in values}

    # -- reading back ----------------------------------------------------------------------

    def carried(self, obj: str) -> dict[str, str] | None:
        if self._lacks(obj):
            return {}  # no such object: it holds no record
        info = self.describe(obj)
        if info is None or SOURCE_KEY not in info.fields:
            return None
        out: dict[str, str] = {}
        after: str | None = None
        while True:
            kw: dict[str, Any] = {"limit": 100, "properties": [SOURCE_KEY]}
            if after:
                kw["after"] = after
            body = self.client.call_json(f"Listing HubSpot {obj}", self.client.objects.get_page,
                                         self._at(obj), **kw) or {}
            for r in body.get("results", []):
                out[str(r["id"])] = str((r.get("properties") or {}).get(SOURCE_KEY) or "")
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def lookup(self, obj: str, field: str, where: Mapping[str, Any]
               ) -> dict[str, list[str]] | None:
        # Listed page by page rather than searched: search stops at 10,000 results.
        out: dict[str, list[str]] = {}
        after: str | None = None
        while True:
            kw: dict[str, Any] = {"limit": 100, "properties": [field, *where]}
            if after:
                kw["after"] = after
            body = self.client.call_json(f"Listing HubSpot {obj}", self.client.objects.get_page,
                                         self._at(obj), **kw) or {}
            for r in body.get("results", []):
                props = r.get("properties") or {}
                if props.get(field) not in (None, "") and all(
                        str(props.get(k)) == str(v) for k, v in where.items()):
                    out.setdefault(str(props[field]), []).append(str(r["id"]))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def adopt(self, obj: str, carried: Mapping[str, str]) -> None:
        info = self.describe(obj)
        if info is None or SOURCE_KEY not in info.fields:
            return
        for batch in chunks(sorted(carried.items()), UPSERT_BATCH):
            self.client.call_json(f"Giving {len(batch)} HubSpot {obj} their source id",
                                  self.client.objects_batch.update, self._at(obj), {"inputs": [
                                      {"id": tid, "properties": {SOURCE_KEY: sid}}
                                      for tid, sid in batch]})

    def calls(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()
