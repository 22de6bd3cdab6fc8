"""Restore writer for Salesforce (the write side of the Salesforce connector).

Records are written with sObject Collections (``composite/sobjects``, at most 200 records
per call, ``allOrNone: false`` so one bad record never sinks its batch). Every record
carries its source id in ``Exporter_Source_Id__c`` (External ID, Unique), which the restore
adds to each object through the Tooling API: records are upserted by the mapping's key
(``Account.Client_Number__c``) or by that field, known ones updated by Id; an object with a
field set on create only (a master-detail parent) is created and updated. References are
lookup fields set in the same write; a second pass (``link``) sets the ones that close a
cycle.

Creates are not idempotent, so the engine records them as pending first, and a create
retried after an answer that may have been applied (5xx, timeout) first looks the records
up, by their source id, then by the mapping's ``match`` fields. Every call goes through
the connector's own :class:`~connectors.salesforce.client.SalesforceClient`: the same
login flows, retries (429, 5xx, dropped connections), bounded re-login and quota guard as
a sync, so a restore into an org stops, resumable, by the same ``api_share_limit`` rule
on the org's one daily API counter (``Sforce-Limit-Info``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from connectors.salesforce.client import CLIENT_SETTINGS, SalesforceClient
from connectors.salesforce.composite import HEAVY_MAX, Sub, failed_records, packed, send
from connectors.salesforce.writer_setup import SOURCE_KEY, SalesforceSetup, hidden_key
from exporter.errors import AuthError, RequestRefused
from exporter.retry import RETRY, policy_from
from exporter.settings import Setting
from exporter.writer import BATCH_SIZE, ObjectInfo, WriteItem, WriteResult, chunks

__all__ = ["SalesforceWriter"]

COLLECTION_MAX = 200
FILE_BYTES = 4 << 20  # file bytes per create call (base64 makes them a third bigger)
READ_IDS = 200
SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
UNANSWERED = ("Salesforce's answer could not be matched to this record (results missing or "
              "of another shape), so whether it was written is not known; run the restore "
              "again later (it looks the record up first)")
GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"})  # deleted already
#: Refusals about a field's value alone: the record is written again without that field.
VALUE_ERRORS = frozenset({"STRING_TOO_LONG", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                          "INVALID_EMAIL_ADDRESS", "NUMBER_OUTSIDE_VALID_RANGE",
                          "INVALID_TYPE_ON_FIELD_IN_RECORD", "INVALID_FIELD_FOR_INSERT_UPDATE",
                          "MALFORMED_ID",
                          # an id copied as it was (an owner who has left, a Contact of
                          # another org as an activity's WhoId); a mapped link never is
                          "INVALID_CROSS_REFERENCE_KEY", "INACTIVE_OWNER_OR_USER",
                          "FIELD_INTEGRITY_EXCEPTION"})


def _quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


#: Salesforce's codes for a field the user cannot see ("No such column", "Provided external
#: ID field does not exist or is not accessible").
HIDDEN = frozenset({"INVALID_FIELD", "NOT_FOUND", "INVALID_FIELD_FOR_INSERT_UPDATE"})


def _hides_key(code: str, text: str) -> bool:
    """Whether a refusal says the source-id field is hidden (field-level security): by its
    code, not only by naming the field, which a refusal quoting the request back does."""
    return code in HIDDEN and SOURCE_KEY in text


def _errors(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One record's errors, each a dict whose ``fields`` is a list of names (whatever shape
    the answer gave them)."""
    given = answer.get("errors")
    errs = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
    return [{**e, "fields": [str(f) for f in e["fields"]] if isinstance(e.get("fields"), list)
             else []} for e in errs] or [{"fields": []}]


def _codes(answer: Any) -> set[str]:
    """The status codes of one record's answer (none when it is of another shape)."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return {str(e.get("statusCode")) for e in errors if isinstance(e, dict)} \
        if isinstance(errors, list) else set()


def _by_size(items: list[WriteItem]) -> list[list[WriteItem]]:
    """Batches of at most 200 records whose file bodies add up to at most FILE_BYTES (a
    bigger file goes alone): REST request bodies are limited in size."""
    return packed(items, COLLECTION_MAX, FILE_BYTES,
                  lambda item: item.file.size if item.file is not None else 0)


#: The keys of a Salesforce target's ``retry`` table (the shared retry policy's knobs).
#: Every key of a ``[targets.NAME]`` table of type salesforce.
SETTINGS: tuple[Setting, ...] = (
    *CLIENT_SETTINGS,
    RETRY,
    BATCH_SIZE,
)


class SalesforceWriter(SalesforceSetup):
    """Restores into a Salesforce org (sObject Collections, lookups)."""

    name = "salesforce"
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS
    #: Records per engine batch: five collections of 200, sent in one Composite call.
    batch_size: int = COLLECTION_MAX * HEAVY_MAX
    source_key = SOURCE_KEY

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: Any = None) -> None:
        super().__init__(target, config, secrets, log)
        policy = policy_from(f"The retry table of [targets.{target}]", config.get("retry"))
        self.client = SalesforceClient(config, secrets, policy, self.log,
                                       resume="run it again tomorrow (it resumes)")
        self._infos: dict[str, ObjectInfo] = {}
        self._fixed: dict[str, frozenset[str]] = {}  # set on create only (e.g. master-detail)
        #: Counts read ahead with the describes (prepare), each used once: a write to the
        #: object drops its count (see count()).
        self._counts: dict[str, int] = {}

    # -- writes ----------------------------------------------------------------------------

    def _record(self, obj: str, item: WriteItem, with_id: bool) -> dict[str, Any]:
        rec: dict[str, Any] = {"attributes": {"type": obj}}
        fixed = self._fixed.get(obj, frozenset()) if with_id else frozenset()
        for name, value in item.fields.items():
            if (value is None and not with_id) or name in fixed:
                continue
            rec[name] = value
        for link in item.links:
            if link.name not in fixed:
                rec[link.name] = link.to_id
        if item.file is not None and not with_id:
            data = b"".join(item.file.open())
            rec["VersionData" if obj == "ContentVersion" else "Body"] = \
                base64.b64encode(data).decode()
        if with_id:
            rec["Id"] = item.target_id
        return rec

    @staticmethod
    def _results(items: list[WriteItem], answers: Any,
                 upsert: bool = False) -> list[WriteResult]:
        """One result per record (sObject Collections answer in input order). A refusal
        that is only about some fields' values names them in ``refused``. An answer that
        is not one object per record sent, or a success without a Salesforce id, cannot be
        matched to its records by position: each of them fails, ``unsure`` (see
        :mod:`exporter.restore.answers`), never given another record's id."""
        if not isinstance(answers, list) or len(answers) != len(items):
            return [WriteResult(item.key, error=UNANSWERED, unsure=True) for item in items]
        out = []
        for item, ans in zip(items, answers, strict=True):
            if not isinstance(ans, dict) or (ans.get("success") and not (
                    isinstance(ans.get("id"), str) and SF_ID.fullmatch(ans["id"]))):
                out.append(WriteResult(item.key, error=UNANSWERED, unsure=True))
            elif ans.get("success"):
                created = bool(ans.get("created")) if upsert else item.target_id is None
                out.append(WriteResult(item.key, str(ans["id"]), created))
            else:
                errs = _errors(ans)
                message = "; ".join(f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}"
                                    + (f" ({', '.join(e['fields'])})" if e["fields"] else "")
                                    for e in errs)
                refused = {f: f"Salesforce: {e.get('statusCode')}: {e.get('message', '')}"
                           for e in errs for f in e["fields"]}
                if not all(e.get("statusCode") in VALUE_ERRORS and e["fields"]
                           for e in errs):
                    refused = {}
                out.append(WriteResult(item.key, error=f"Salesforce: {message}",
                                       refused=refused))
        return out

    def _moved(self, obj: str, items: list[WriteItem]) -> list[WriteItem]:
        """Updates whose lookup that cannot be updated (a master-detail without reparenting:
        a family contact's client) now points elsewhere: such a record is moved by creating
        it under its new parent and deleting the old one, never left where it was."""
        fixed = self._fixed.get(obj, frozenset())
        cands = [i for i in items if i.target_id and any(ln.name in fixed for ln in i.links)]
        if not cands:
            return []
        names = sorted({ln.name for i in cands for ln in i.links if ln.name in fixed})
        rows = {}
        for batch in chunks([str(i.target_id) for i in cands], READ_IDS):
            rows.update({r["Id"]: r for r in self._query(
                f"SELECT Id, {', '.join(names)} FROM {obj} WHERE Id IN "
                f"({', '.join(_quote(t) for t in batch)})")})
        # A record first written without its parent (a document whose client was not in
        # the target yet) is moved too once the parent is there.
        return [i for i in cands if str(i.target_id) in rows and any(
            ln.name in fixed and rows[str(i.target_id)].get(ln.name) != ln.to_id
            for ln in i.links)]

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        """Writes the batch; records refused only for some fields' values (too long, not
        in a restricted picklist) are written again without those fields: partial records,
        never dropped ones, the refused fields and Salesforce's messages reported."""
        info = self.describe(obj)
        moved = {i.key: str(i.target_id) for i in self._moved(obj, items)}
        items = [replace(i, target_id=None) if i.key in moved else i for i in items]
        if moved and info is not None and SOURCE_KEY in info.fields:
            # The old record gives up the source id (unique) to the one that replaces it.
            self._call(f"free the source id of {len(moved)} {obj}", "composite/sobjects",
                       "PATCH", {"allOrNone": False, "records": [
                           {"attributes": {"type": obj}, "Id": t, SOURCE_KEY: None}
                           for t in moved.values()]})
        results = self._write_partial(obj, items, match)
        done = [(r.key, moved[r.key]) for r in results if r.key in moved and not r.error]
        if done:
            self.remove(obj, [t for _k, t in done], [k for k, _t in done])
        return results

    def _write_partial(self, obj: str, items: list[WriteItem],
                       match: list[str] | None = None) -> list[WriteResult]:
        results = self._write(obj, items, match)
        info = self.describe(obj)
        keep = {info.upsert} if info is not None and info.upsert else set()
        by_key = {i.key: i for i in items}
        again: dict[str, tuple[WriteItem, dict[str, str]]] = {}
        for r in results:
            item = by_key.get(r.key)
            links = {ln.name for ln in item.links} if item is not None else set()
            if item is not None and r.error and r.refused and not (set(r.refused)
                                                                   & (keep | links)) \
                    and set(r.refused) <= set(item.fields):
                again[r.key] = (replace(item, fields={k: v for k, v in item.fields.items()
                                                      if k not in r.refused}), r.refused)
        if not again:
            return results
        retried = self._write(obj, [i for i, _r in again.values()], match)
        for r in retried:
            r.refused = again[r.key][1] if not r.error else {}
        return [r for r in results if r.key not in again] + retried

    def _write(self, obj: str, items: list[WriteItem],
               match: list[str] | None = None) -> list[WriteResult]:
        info = self.describe(obj)
        if info is not None and info.upsert is not None:
            return self._upsert(obj, info.upsert, items)
        results: list[WriteResult] = []
        updates = [i for i in items if i.target_id is not None]
        creates = [i for i in items if i.target_id is None]
        for batch, answers in self._send(obj, "update", "composite/sobjects", "PATCH",
                                         list(chunks(updates, COLLECTION_MAX)))[0]:
            results += self._results(batch, answers)
        plain = [i for i in creates if i.file is None]
        # Records with a file go one size-bounded collection per call (request bodies are
        # limited); the others up to five collections per Composite call.
        for group in [list(chunks(plain, COLLECTION_MAX)),
                      *([b] for b in _by_size([i for i in creates if i.file is not None]))]:
            results += self._create(obj, group, match or [])
        return results

    def _upsert(self, obj: str, default: str, items: list[WriteItem]) -> list[WriteResult]:
        """Records restored before (their target id known) are updated by Id, which also
        gives one restored before the source-id field its value; the others, and a known
        one deleted in the org since, are upserted by their key (the mapping's, else the
        source id): never created twice, whatever the id map holds."""
        results: list[WriteResult] = []
        fresh = [i for i in items if i.target_id is None]
        known = list(chunks([i for i in items if i.target_id is not None], COLLECTION_MAX))
        for batch, answers in self._send(obj, "update", "composite/sobjects", "PATCH",
                                         known)[0]:
            for n, (item, result) in enumerate(zip(batch, self._results(batch, answers),
                                                   strict=True)):
                codes = set() if result.unsure else _codes(answers[n])
                if result.error and codes and codes <= GONE:
                    fresh.append(replace(item, target_id=None))
                else:
                    results.append(result)
        by_key: dict[str, list[WriteItem]] = {}
        for item in fresh:
            by_key.setdefault(item.key_field or default, []).append(item)
        for key, keyed in by_key.items():
            for batch, answers in self._send(obj, "upsert", f"composite/sobjects/{obj}/{key}",
                                             "PATCH", list(chunks(keyed, COLLECTION_MAX)))[0]:
                results += self._results(batch, answers, upsert=True)
        return results

    def _create(self, obj: str, batches: list[list[WriteItem]],
                match: list[str]) -> list[WriteResult]:
        pairs, found = self._send(obj, "create", "composite/sobjects", "POST", batches, match)
        results = [r for batch, answers in pairs for r in self._results(batch, answers)]
        return results + [WriteResult(k, tid, True) for k, tid in found.items()]

    def _send(self, obj: str, verb: str, path: str, method: str,
              batches: list[list[WriteItem]], match: list[str] | None = None,
              ) -> tuple[list[tuple[list[WriteItem], list[dict[str, Any]]]], dict[str, str]]:
        """Collections of records (200 each): one alone as a call of its own, several
        five to a Composite call (one API call). Returns each batch with its answers, and
        with ``match`` (creates), the records a call that may have been applied before
        its retry had made (looked up, then left out of the retry)."""
        batches = [b for b in batches if b]
        with_id = method == "PATCH" and path == "composite/sobjects"
        items_of = {f"r{n}": list(b) for n, b in enumerate(batches)}
        bodies: dict[str, dict[str, Any]] = {ref: {"allOrNone": False,
                        "records": [self._record(obj, i, with_id) for i in items]}
                  for ref, items in items_of.items()}
        found: dict[str, str] = {}

        def recover(refs: list[str]) -> None:
            # The failed call may have created some: find them before sending again.
            pending = [i for ref in refs for i in items_of[ref] if i.key not in found]
            found.update(self.find(obj, pending, match or [], exclude=set(found.values())))
            for ref in refs:
                keep = [(i, rec) for i, rec in zip(items_of[ref], bodies[ref]["records"],
                                                   strict=True) if i.key not in found]
                if keep:  # (a collection found whole is sent again: refused as a duplicate)
                    items_of[ref][:] = [i for i, _rec in keep]
                    bodies[ref]["records"][:] = [rec for _i, rec in keep]

        self._counts.pop(obj, None)
        total = sum(len(b) for b in batches)
        answers: dict[str, list[dict[str, Any]]] = {}
        if len(batches) == 1:
            try:
                answers["r0"] = self._call(f"{verb} {total} {obj}", path, method,
                                           bodies["r0"], maybe_applied=(
                                               lambda: recover(["r0"])) if match else None)
            except RequestRefused as exc:
                if _hides_key(exc.reason, str(exc)):  # made, but field-level security hides it
                    raise AuthError(hidden_key(obj)) from exc
                raise
        elif batches:
            subs: list[Sub] = [{"method": method, "referenceId": ref, "body": bodies[ref],
                                "url": f"/services/data/v{self.client.version}/{path}"}
                               for ref in items_of]
            for sub, ans in zip(subs, send(
                    self._call, f"{verb} {total} {obj}", "composite", subs,
                    (lambda group: recover([str(g["referenceId"]) for g in group]))
                    if match else None), strict=True):
                ref = str(sub["referenceId"])
                ok = ans.get("httpStatusCode") == 200 and isinstance(ans.get("body"), list)
                body = ans.get("body")
                first = body[0] if isinstance(body, list) and body else {}
                if not ok and isinstance(first, dict) and _hides_key(
                        str(first.get("errorCode") or ""), str(body)):
                    raise AuthError(hidden_key(obj))
                answers[ref] = ans["body"] if ok else failed_records(ans, len(items_of[ref]))
        pairs = [(items_of[ref], answers[ref]) for ref in items_of]
        if found:  # a collection found whole and sent again: its answers are the look-up's
            kept = [[(i, a) for i, a in zip(items, ans, strict=False) if i.key not in found]
                    for items, ans in pairs]
            pairs = [([i for i, _a in k], [a for _i, a in k]) for k in kept]
        return pairs, found

    def carried(self, obj: str) -> dict[str, str] | None:
        info = self.describe(obj)
        if info is None or SOURCE_KEY not in info.fields:
            return None
        return {str(r["Id"]): str(r.get(SOURCE_KEY) or "")
                for r in self._query(f"SELECT Id, {SOURCE_KEY} FROM {obj}")}

    def lookup(self, obj: str, field: str, where: Mapping[str, Any]
               ) -> dict[str, list[str]] | None:
        conditions = [f"{field} != null", *(f"{k} = {_quote(v)}" for k, v in where.items())]
        out: dict[str, list[str]] = {}
        for row in self._query(f"SELECT Id, {field} FROM {obj} WHERE "
                               + " AND ".join(conditions)):
            out.setdefault(str(row[field]), []).append(str(row["Id"]))
        return out

    def adopt(self, obj: str, carried: Mapping[str, str]) -> None:
        self._counts.pop(obj, None)
        info = self.describe(obj)
        if info is None or SOURCE_KEY not in info.fields:
            return
        for batch in chunks(sorted(carried.items()), COLLECTION_MAX):
            self._call(f"give {len(batch)} {obj} their source id", "composite/sobjects",
                       "PATCH", {"allOrNone": False, "records": [
                           {"attributes": {"type": obj}, "Id": tid, SOURCE_KEY: sid}
                           for tid, sid in batch]})

    def remove(self, obj: str, target_ids: list[str], keys: list[str]) -> list[WriteResult]:
        """Deletes the records (into the org's recycle bin, Salesforce's archived state:
        restorable there for 15 days); one already deleted counts as removed."""
        self._counts.pop(obj, None)
        results: list[WriteResult] = []
        pairs = list(zip(keys, target_ids, strict=True))
        for batch in chunks(pairs, COLLECTION_MAX):
            ids = ",".join(t for _k, t in batch)
            answers = self._call(f"delete {len(batch)} {obj}",
                                 f"composite/sobjects?ids={ids}&allOrNone=false", "DELETE")
            answers = answers if isinstance(answers, list) else []
            for (key, tid), ans in zip(batch, answers, strict=False):
                codes = _codes(ans)
                if (isinstance(ans, dict) and ans.get("success")) or codes & GONE:
                    results.append(WriteResult(key, tid))
                else:
                    results.append(self._results([WriteItem(key, {})], [ans])[0])
        return results

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        self._counts.pop(obj, None)
        results: list[WriteResult] = []
        for batch in chunks(items, COLLECTION_MAX):
            records = [{"attributes": {"type": obj}, "Id": i.target_id,
                        **{ln.name: ln.to_id for ln in i.links}} for i in batch]
            answers = self._call(f"link {len(batch)} {obj}", "composite/sobjects", "PATCH",
                                 {"allOrNone": False, "records": records})
            results += self._results(batch, answers)
        return results

    def find(self, obj: str, items: list[WriteItem], match: list[str],
             exclude: set[str] | None = None) -> dict[str, str]:
        """By the source id each record carries first; records restored before that field
        existed, by the ``match`` fields."""
        taken = set(exclude or ())
        found: dict[str, str] = {}
        info = self.describe(obj)
        if info is not None and SOURCE_KEY in info.fields:
            found = self._find_by_source(obj, items, taken)
            items = [i for i in items if i.key not in found]
        if not match or not items:
            return found
        return found | self._find_by_match(obj, items, match, taken,
                                           info is not None and SOURCE_KEY in info.fields)

    def _find_by_source(self, obj: str, items: list[WriteItem],
                        taken: set[str]) -> dict[str, str]:
        wanted = {str(i.fields[SOURCE_KEY]): i.key for i in items if i.fields.get(SOURCE_KEY)}
        found: dict[str, str] = {}
        for batch in chunks(sorted(wanted), 100):
            for row in self._query(f"SELECT Id, {SOURCE_KEY} FROM {obj} WHERE {SOURCE_KEY} IN "
                                   f"({', '.join(_quote(v) for v in batch)})"):
                key = wanted.get(str(row.get(SOURCE_KEY)))
                if key is not None and row["Id"] not in taken:
                    found[key] = row["Id"]
                    taken.add(row["Id"])
        return found

    def _find_by_match(self, obj: str, items: list[WriteItem], match: list[str],
                       taken: set[str], carried: bool) -> dict[str, str]:
        """Records equal on every match field; with ``carried``, only those that carry no
        source id (restored before the field existed): one that does is another record."""
        from exporter.restore.transforms import same

        def value(item: WriteItem, name: str) -> Any:
            for link in item.links:
                if link.name == name:
                    return link.to_id
            return item.fields.get(name)

        first = match[0]
        values = sorted({str(value(i, first)) for i in items if value(i, first) is not None})
        rows: list[dict[str, Any]] = []
        for batch in chunks(values, 100):
            columns = ", ".join([*match, *([SOURCE_KEY] if carried else [])])
            soql = (f"SELECT Id, {columns} FROM {obj} WHERE {first} IN "
                    f"({', '.join(_quote(v) for v in batch)}) ORDER BY Id")
            rows += [r for r in self._query(soql) if not (carried and r.get(SOURCE_KEY))]
        found: dict[str, str] = {}
        for item in items:
            for row in rows:
                if row["Id"] in taken:
                    continue
                if all(same(value(item, n), row.get(n)) for n in match):
                    found[item.key] = row["Id"]
                    taken.add(row["Id"])
                    break
        return found

    def _query(self, soql: str) -> list[dict[str, Any]]:
        return self.client.query_all(soql)

    # -- reading back ----------------------------------------------------------------------

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        size = {"ContentVersion": "ContentSize", "Attachment": "BodyLength"}.get(obj)
        columns = sorted({"Id", *fields, *links, *([size] if size else [])}
                         - {"VersionData", "Body"})
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(ids, READ_IDS):
            soql = (f"SELECT {', '.join(columns)} FROM {obj} WHERE Id IN "
                    f"({', '.join(_quote(i) for i in batch)})")
            for row in self._query(soql):
                row.pop("attributes", None)
                row["@links"] = {name: [row[name]] if row.get(name) else [] for name in links}
                if size:
                    row["@file_size"] = row.get(size)
                out[str(row["Id"])] = row
        return out

    def file_digests(self, obj: str, ids: list[str]) -> dict[str, list[str]] | None:
        """ContentVersion: Salesforce's own MD5 (``Checksum``), read with the records;
        Attachment (no checksum): its body, downloaded and hashed."""
        if obj not in ("ContentVersion", "Attachment"):
            return None
        out: dict[str, list[str]] = {i: [] for i in ids}
        for batch in chunks(ids, READ_IDS):
            column = "Checksum" if obj == "ContentVersion" else "BodyLength"
            soql = (f"SELECT Id, {column} FROM {obj} WHERE Id IN "
                    f"({', '.join(_quote(i) for i in batch)})")
            for row in self._query(soql):
                rid = str(row["Id"])
                if obj == "ContentVersion" and row.get("Checksum"):
                    out[rid] = [f"md5:{str(row['Checksum']).lower()}"]
                elif obj == "Attachment":
                    digest = hashlib.sha256()
                    size = row.get("BodyLength")
                    for chunk in self.client.download(f"sobjects/Attachment/{rid}/Body",
                                                      size if isinstance(size, int) else None):
                        digest.update(chunk)
                    out[rid] = [f"sha256:{digest.hexdigest()}"]
        return out

    def calls(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()
