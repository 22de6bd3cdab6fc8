"""The Salesforce restore writer's setup: describes, the fields a restore adds, counts.

Read and made in as few API calls as Salesforce allows: the describes of every object a
restore writes (and the counts it compares with its id map) in one Composite call, every
missing field (the mappings' ``create_fields`` and ``Exporter_Source_Id__c``) in one
Tooling Composite call, and no describe read again for a field whose definition the
restore made itself (:mod:`connectors.salesforce.composite`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.composite import Sub, send
from exporter.errors import AuthError, RequestRefused, SourceError
from exporter.writer import ObjectInfo, Writer

__all__ = ["SOURCE_KEY", "SalesforceSetup", "hidden_key"]

#: The external id (Text(255), External ID, Unique) that carries each restored record's
#: source id; the restore creates it through the Tooling API where missing.
SOURCE_KEY = "Exporter_Source_Id__c"

_SOURCE_META: dict[str, Any] = {
    "label": "Exporter source id", "type": "Text", "length": 255, "externalId": True,
    "unique": True, "caseSensitive": False,
    "description": "The archived record this one was restored from (exporter restore)"}


def field_owner(obj: str) -> str:
    """Where a custom field of ``obj`` is made: Task and Event share Activity's."""
    return "Activity" if obj in ("Task", "Event") else obj


def _key_by_hand(obj: str) -> str:
    return (f"add a Text(255) field {SOURCE_KEY} to {obj}, marked External ID and Unique "
            "and editable by the restoring user (Setup, Object Manager), then run the "
            "restore again")


def hidden_key(obj: str) -> str:
    """The message for a source-id field the restoring user cannot see (field-level
    security): found when a write names it, since a field just made is not described
    again."""
    return (f"Salesforce has the field {SOURCE_KEY} on {obj}, but the restoring user cannot "
            f"see it; {_key_by_hand(obj)}.")


def _by_hand(obj: str, name: str, kind: str) -> str:
    if name == SOURCE_KEY:
        return (f"Salesforce did not let the restore add its field {SOURCE_KEY} to {obj}; "
                f"{_key_by_hand(obj)}.")
    return (f"Salesforce did not let the restore add the field {name} to {obj}; add it by "
            f"hand (Setup, Object Manager: {kind}), then run the restore again.")




class SalesforceSetup(Writer):
    """Describes, field creation and counts (the writes: :class:`SalesforceWriter`)."""

    client: SalesforceClient
    _infos: dict[str, ObjectInfo]
    _fixed: dict[str, frozenset[str]]  # set on create only (e.g. master-detail)
    #: Counts read ahead with the describes (prepare), each used once: a write to the
    #: object drops its count.
    _counts: dict[str, int]

    def _call(self, what: str, path: str, method: str = "GET", body: Any = None,
              maybe_applied: Callable[[], None] | None = None) -> Any:
        """One REST call through the shared client. ``maybe_applied`` runs before a retry
        that follows an answer which may have been applied (5xx, dropped connection)."""
        return self.client.rest(what, path, method, body, before_retry=maybe_applied)

    def identity(self) -> str:
        """The org id, the part of the session id before its '!' (no extra call)."""
        org = str(self.client.sf.session_id or "").split("!", 1)[0]
        return f"salesforce:org/{org[:15]}" if org.startswith("00D") else ""

    # -- describe --------------------------------------------------------------------------

    def objects(self) -> list[str]:
        body = self._call("describe the org", "sobjects/")
        return [o["name"] for o in body.get("sobjects", []) if o.get("createable")]

    def describe(self, obj: str) -> ObjectInfo | None:
        if obj in self._infos:
            return self._infos[obj]
        try:
            body = self._call(f"describe {obj}", f"sobjects/{obj}/describe/")
        except RequestRefused as exc:
            if exc.status == 404 or exc.reason in ("NOT_FOUND", "INVALID_TYPE"):
                return None
            raise
        return self._learn(obj, body)

    def _learn(self, obj: str, body: Mapping[str, Any]) -> ObjectInfo:
        """The object's ObjectInfo from its describe."""
        fields = {f["name"]: f["type"] for f in body["fields"]
                  if f.get("createable") or f.get("updateable")}
        keys = [f["name"] for f in body["fields"] if f.get("externalId") and f.get("unique")]
        options = {f["name"]: frozenset(v["value"] for v in f.get("picklistValues") or [])
                   for f in body["fields"] if f.get("restrictedPicklist")}
        required = frozenset(f["name"] for f in body["fields"]
                             if f.get("createable") and not f.get("nillable")
                             and not f.get("defaultedOnCreate") and f["type"] != "boolean")
        self._fixed[obj] = frozenset(f["name"] for f in body["fields"]
                                     if f.get("createable") and not f.get("updateable"))
        info = ObjectInfo(obj, fields, self._upsert_key(obj, keys), options, required,
                          frozenset(keys), create_only=self._fixed[obj])
        self._infos[obj] = info
        return info

    def _upsert_key(self, obj: str, keys: list[str]) -> str | None:
        # Upserted by the source id unless a field is set on create only (a master-detail
        # parent, a file's body): an upsert that finds the record could not send it. Those
        # are created, and found again by the source id before (SalesforceWriter.find).
        others = [k for k in keys if k != SOURCE_KEY]
        return SOURCE_KEY if SOURCE_KEY in keys and not self._fixed.get(obj) else \
            (others[0] if others else None)

    def prepare(self, objects: list[str]) -> None:
        """The describes of every object not known yet, with their record counts (a restore
        compares them with its id map before creating), in Composite calls of 25
        subrequests with at most five counts each: one API call for five objects, where
        there were two per object."""
        self._counts.clear()  # each run (restore or verify) counts afresh
        todo = [o for o in objects if o not in self._infos]
        if not todo:
            return
        base = f"/services/data/v{self.client.version}"
        subs: list[Sub] = [{"method": "GET", "url": f"{base}/sobjects/{o}/describe",
                            "referenceId": f"d{i}"} for i, o in enumerate(todo)]
        subs += [{"method": "GET", "referenceId": f"c{i}", "url": f"{base}/query/?q="
                  + quote(f"SELECT COUNT() FROM {o}")} for i, o in enumerate(todo)]
        answers = send(self._call, f"describe {len(todo)} objects", "composite", subs)
        for sub, ans in zip(subs, answers, strict=True):
            obj, body = todo[int(sub["referenceId"][1:])], ans.get("body")
            if ans.get("httpStatusCode") != 200 or not isinstance(body, dict):
                continue  # describe() asks again, and answers as it does alone
            if sub["referenceId"][0] == "c":
                self._counts[obj] = int(body.get("totalSize", 0))
            elif isinstance(body.get("fields"), list):
                self._learn(obj, body)

    def ensure(self, fields: Mapping[str, Mapping[str, str]],
               keyed: Iterable[str]) -> dict[str, list[str]]:
        """Adds the custom fields the mappings need and ``Exporter_Source_Id__c`` (Text(255),
        External ID, Unique) where missing, all in one Tooling Composite call (25 fields
        per call): ``string`` as Text(255), ``text`` as a long text area (32,768). The
        created definitions are known, so no object is described again. The restoring user
        needs "Customize Application" and must see the new fields (field-level security);
        otherwise the restore stops with a message saying how to add them by hand. Objects
        that take no custom fields (Attachment) are left."""
        keyed = set(keyed)
        plan: list[tuple[str, str, dict[str, Any]]] = []
        for obj in dict.fromkeys([*fields, *keyed]):
            info = self.describe(obj)
            if info is None:
                continue
            for name, kind in (fields.get(obj) or {}).items():
                if name not in info.fields:
                    long = kind == "text"
                    plan.append((obj, name, {
                        "label": name.removesuffix("__c").replace("_", " "),
                        "type": "LongTextArea" if long else "Text",
                        "length": 32768 if long else 255, **({"visibleLines": 5} if long
                                                             else {})}))
            if obj in keyed and SOURCE_KEY not in info.fields:
                plan.append((obj, SOURCE_KEY, _SOURCE_META))
        if not plan:
            return {}
        base = f"/services/data/v{self.client.version}/tooling/sobjects/CustomField"
        # Task and Event share Activity's custom fields: one subrequest makes both.
        full = [f"{field_owner(obj)}.{name}" for obj, name, _ in plan]
        unique = list(dict.fromkeys(full))
        subs: list[Sub] = [{"method": "POST", "url": base, "referenceId": f"f{i}",
                            "body": {"FullName": name, "Metadata": plan[full.index(name)][2]}}
                           for i, name in enumerate(unique)]
        try:
            sent = send(self._call, f"add {len(unique)} fields", "tooling/composite", subs)
        except (RequestRefused, AuthError) as exc:
            raise SourceError(_by_hand(*plan[0][:2], plan[0][2]["type"])) from exc
        answers = [sent[unique.index(name)] for name in full]
        made: dict[str, list[str]] = {}
        for (obj, name, meta), ans in zip(plan, answers, strict=True):
            status = int(ans.get("httpStatusCode") or 500)
            if 200 <= status < 300:
                made.setdefault(obj, []).append(name)
                continue
            if status >= 500:  # no answer, or a server fault: not a refusal to fix by hand
                raise SourceError(f"Salesforce did not say whether it added the field {name} "
                                  f"to {obj} (it answered {status}); run the restore again "
                                  "later.")
            body = ans.get("body")
            code = body[0].get("errorCode") if isinstance(body, list) and body \
                and isinstance(body[0], dict) else None
            if name == SOURCE_KEY and code == "FIELD_INTEGRITY_EXCEPTION":
                continue  # takes no custom fields: found by its match fields
            if name == SOURCE_KEY and code == "DUPLICATE_DEVELOPER_NAME":
                self._infos.pop(obj, None)  # there already, yet not described: hidden?
                info = self.describe(obj)
                if info is None or SOURCE_KEY not in info.fields:
                    raise SourceError(hidden_key(obj))
                continue
            raise SourceError(_by_hand(obj, name, str(meta["type"])))
        for obj, names in made.items():
            kinds = {n: str(meta["type"]) for o, n, meta in plan if o == obj}
            self._known_fields(obj, {n: "textarea" if kinds[n] == "LongTextArea" else "string"
                                     for n in names})
        return made

    def _known_fields(self, obj: str, added: Mapping[str, str]) -> None:
        """The object's info with the fields just created (their definitions are known)."""
        info = self._infos.get(obj)
        if info is None:
            return
        keys = sorted(info.keys | ({SOURCE_KEY} if SOURCE_KEY in added else set()))
        self._infos[obj] = replace(info, fields={**info.fields, **added},
                                   upsert=self._upsert_key(obj, keys), keys=frozenset(keys))

    def add_options(self, obj: str, values: Mapping[str, list[str]]) -> dict[str, str]:
        """Adds values to custom picklists through the Tooling API, as documented: the
        field's ``CustomField`` (queried by object and developer name) updated with its
        whole ``Metadata``, the values appended to ``valueSet.valueSetDefinition`` (a
        restricted picklist takes them too). A standard picklist, or one that takes its
        values from a global value set, is not changed here: why is returned."""
        refused: dict[str, str] = {}
        for name, new in values.items():
            try:
                why = self._add_picklist_values(obj, name, new)
            except (RequestRefused, AuthError) as exc:
                why = (f"Salesforce did not let the restore add values to {obj}.{name} "
                       f"({exc}); add them by hand (Setup, Object Manager)")
            if why:
                refused[name] = why
                continue
            info = self._infos.get(obj)
            if info is not None:
                options = {**info.options, name: info.options.get(name, frozenset())
                           | frozenset(new)}
                self._infos[obj] = replace(info, options=options)
        return refused

    def _add_picklist_values(self, obj: str, name: str, new: list[str]) -> str:
        if not name.endswith("__c"):
            return (f"{obj}.{name} is a standard picklist; add the values in Setup "
                    "(Object Manager)")
        soql = ("SELECT Id, Metadata FROM CustomField WHERE EntityDefinition.QualifiedApiName"
                f" = '{obj}' AND DeveloperName = '{name.removesuffix('__c')}'")
        body = self._call(f"read the definition of {obj}.{name}",
                          "tooling/query/?q=" + quote(soql))
        rows = (body or {}).get("records") or []
        if not rows or not isinstance(rows[0].get("Metadata"), dict):
            return f"Salesforce did not show the definition of {obj}.{name}"
        meta = dict(rows[0]["Metadata"])
        vset = dict(meta.get("valueSet") or {})
        if vset.get("valueSetName"):
            return (f"{obj}.{name} takes its values from the global value set "
                    f"{vset['valueSetName']}; add them there (Setup, Picklist Value Sets)")
        definition = dict(vset.get("valueSetDefinition") or {})
        current = list(definition.get("value") or [])
        have = {str(v.get("fullName")) for v in current if isinstance(v, dict)}
        current += [{"fullName": v, "label": v, "default": False}
                    for v in new if v not in have]
        meta["valueSet"] = {**vset, "valueSetDefinition": {**definition, "value": current}}
        self._call(f"add values to {obj}.{name}", f"tooling/sobjects/CustomField/"
                   f"{rows[0]['Id']}", "PATCH", {"Metadata": meta})
        return ""

    def ensure_fields(self, obj: str, fields: Mapping[str, str]) -> list[str]:
        return self.ensure({obj: fields}, []).get(obj, [])

    def ensure_source_key(self, obj: str) -> bool:
        return SOURCE_KEY in self.ensure({}, [obj]).get(obj, [])


    def count(self, obj: str) -> int | None:
        if obj in self._counts:  # read ahead with the describes, before any write to it
            return self._counts.pop(obj)
        body = self._call(f"count {obj}", "query/?q=" + quote(f"SELECT COUNT() FROM {obj}"))
        return int(body.get("totalSize", 0))

