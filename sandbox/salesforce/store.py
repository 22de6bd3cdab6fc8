"""The Salesforce emulator's record store: Salesforce ids, every record of the org, its
recycle bin, unique indexes and file bodies (generated lazily from a PRNG keyed by record
id), and the store's JSON state.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from dataclasses import replace
from typing import Any

from sandbox.salesforce.schema import OBJECT_LIST, PREFIXES, FieldDef, ObjectDef
from sandbox.salesforce.soql import format_datetime

__all__ = ["OrgStore", "make_id", "normalize_id"]

# -- ids ---------------------------------------------------------------------------------

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _id_suffix(body: str) -> str:
    """Salesforce's 3-character case-safe suffix: one bit per upper-case letter of each
    5-character chunk of the 15-character id."""
    out = []
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(body[chunk * 5: chunk * 5 + 5])
                   if "A" <= ch <= "Z")
        out.append(CHECKSUM_CHARS[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    """An 18-character id; zero-padded base62 keeps id order equal to creation order."""
    digits = []
    for _ in range(9):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    body = prefix + "Dn0" + "".join(reversed(digits))
    return body + _id_suffix(body)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if malformed."""
    if not value.isalnum() or len(value) not in (15, 18):
        return None
    body = value[:15]
    return body + _id_suffix(body)


# -- the store ---------------------------------------------------------------------------

FILE_NOTES = ["", "Use shower chair", "Prefers tea, no sugar", "Client asleep until 09:00",
              "Check the fridge for expired food", "Daughter present on Saturdays"]


def stamp(value: dt.datetime) -> str:
    return format_datetime(value)


class OrgStore:
    """Every record of the emulated org, its recycle bin and file bodies.

    Records are plain dicts holding wire values (datetimes in Salesforce's format, dates
    ``YYYY-MM-DD``, booleans, floats, strings, None), keyed by object then by Id in
    insertion (= Id) order. The caller holds the emulator's lock.
    """

    def __init__(self, seed: int, now: dt.datetime) -> None:
        self.seed = seed
        self._reset(now)

    def _reset(self, now: dt.datetime) -> None:
        self.start = now
        self.clock = now  # the agency clock this store has caught up with
        self.last_write = now
        # The org's own copy of the schema: custom fields added through the Tooling API
        # (CustomField) belong to this org only.
        self.objects: dict[str, ObjectDef] = {o.name: replace(o, fields=list(o.fields))
                                              for o in OBJECT_LIST}
        self.objects_lower = {name.lower(): o for name, o in self.objects.items()}
        self.custom_fields: list[dict[str, Any]] = []  # added ones, for dump/load
        self.records: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.objects}
        self.counters: dict[str, int] = {}
        self.bin: dict[str, tuple[str, str]] = {}  # id -> (object, deletedDate)
        self.blobs: dict[str, dict[str, Any]] = {}  # id -> {"kind","size"} | {"data": b64}
        self.unique: dict[tuple[str, str], dict[str, str]] = {
            (o.name, f.name): {} for o in OBJECT_LIST for f in o.fields if f.unique}
        self.physicians: dict[str, str] = {}  # "name|practice" -> Physician__c id
        self.big_files = 0
        self._checksums: dict[str, str] = {}

    def add_field(self, obj: str, f: FieldDef) -> None:
        """A custom field added to one of this org's objects (Tooling API CustomField);
        a unique one gets its index, filled from the records that already have a value."""
        od = self.objects[obj]
        od.fields.append(f)
        od.by_lower[f.name.lower()] = f
        self.custom_fields.append({"object": obj, "name": f.name, "type": f.type,
                                   "length": f.length, "external_id": f.external_id,
                                   "unique": f.unique, "label": f.label})
        if f.unique:
            self.unique[(obj, f.name)] = {
                str(r[f.name]).lower(): rid for rid, r in self.records[obj].items()
                if r.get(f.name) is not None and not r["IsDeleted"]}

    # -- primitives -----------------------------------------------------------------

    def new_id(self, obj: str) -> str:
        prefix = self.objects[obj].key_prefix
        self.counters[prefix] = n = self.counters.get(prefix, 0) + 1
        return make_id(prefix, n)

    def write_stamp(self) -> str:
        """"Now" for an API write: the agency clock plus a growing offset, so write stamps
        are unique, ordered, and later than anything time travel stamped."""
        self.last_write = max(self.last_write, self.clock) + dt.timedelta(milliseconds=1)
        return stamp(self.last_write)

    def insert(self, obj: str, values: dict[str, Any], when: str,
               created: str | None = None) -> dict[str, Any]:
        rec: dict[str, Any] = {"Id": self.new_id(obj), "IsDeleted": False,
                               "CreatedDate": created or when, "LastModifiedDate": when,
                               "SystemModstamp": when}
        for f in self.objects[obj].fields:
            if f.default is not None:
                rec[f.name] = f.default
            elif f.type == "boolean" and f.name not in rec:
                rec[f.name] = False  # a checkbox is never null
        rec.update(values)
        self.put(obj, rec)
        return rec

    def put(self, obj: str, rec: dict[str, Any]) -> None:
        old = self.records[obj].get(rec["Id"])
        if old is not None:
            self._unindex(obj, old)
        self.records[obj][rec["Id"]] = rec
        if not rec["IsDeleted"]:
            for (o, fname), index in self.unique.items():
                if o == obj and rec.get(fname) is not None:
                    index[str(rec[fname]).lower()] = rec["Id"]

    def _unindex(self, obj: str, rec: dict[str, Any]) -> None:
        for (o, fname), index in self.unique.items():
            value = rec.get(fname)
            if o == obj and value is not None and index.get(str(value).lower()) == rec["Id"]:
                del index[str(value).lower()]

    def remove(self, obj: str, record_id: str) -> None:
        """Forget a record entirely (a rolled-back create)."""
        rec = self.records[obj].pop(record_id, None)
        if rec is not None:
            self._unindex(obj, rec)
        self.blobs.pop(record_id, None)
        self.bin.pop(record_id, None)
        self._checksums.pop(record_id, None)

    def restore_extras(self, record_id: str, blob: dict[str, Any] | None,
                       binned: tuple[str, str] | None) -> None:
        """Put back a record's file body and recycle-bin entry (a rolled-back write)."""
        self.blobs.pop(record_id, None)
        self.bin.pop(record_id, None)
        if blob is not None:
            self.blobs[record_id] = blob
        if binned is not None:
            self.bin[record_id] = binned
        self._checksums.pop(record_id, None)

    def update(self, obj: str, rec: dict[str, Any], values: dict[str, Any], when: str) -> None:
        new = dict(rec)
        new.update(values)
        new["LastModifiedDate"] = new["SystemModstamp"] = when
        self.put(obj, new)

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """(object, record) for an id of any object, deleted or not."""
        full = normalize_id(record_id)
        obj = PREFIXES.get(record_id[:3])
        if full is None or obj is None:
            return None
        rec = self.records[obj].get(full)
        return None if rec is None else (obj, rec)

    def by_unique(self, obj: str, fname: str, value: str) -> dict[str, Any] | None:
        rid = self.unique[(obj, fname)].get(value.lower())
        return None if rid is None else self.records[obj][rid]

    def rows(self, obj: str, include_deleted: bool) -> list[dict[str, Any]]:
        values = self.records[obj].values()
        if include_deleted:
            return list(values)
        return [r for r in values if not r["IsDeleted"]]

    def children(self, account_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(o.name, r) for o in self.objects.values() if o.field("Client__c") is not None
                for r in self.records[o.name].values() if r.get("Client__c") == account_id]

    def soft_delete(self, obj: str, rec: dict[str, Any], when: str) -> None:
        """Into the recycle bin: visible to queryAll and /deleted, not to query."""
        self.update(obj, rec, {"IsDeleted": True}, when)
        self.bin[rec["Id"]] = (obj, when)

    def purge(self, before: str) -> list[str]:
        """Empty the recycle bin of rows deleted before ``before``: they vanish entirely."""
        gone = [rid for rid, (_, when) in self.bin.items() if when < before]
        for rid in gone:
            obj, _ = self.bin.pop(rid)
            self.records[obj].pop(rid, None)
            self.blobs.pop(rid, None)
        return gone

    # -- file bodies ----------------------------------------------------------------

    def body(self, record_id: str) -> bytes:
        """A file's bytes: uploaded ones as stored, generated ones rebuilt from a PRNG
        keyed by the id (so start-up never materialises megabytes)."""
        blob = self.blobs[record_id]
        if "data" in blob:
            return base64.b64decode(blob["data"])
        size = int(blob["size"])
        rng = random.Random(f"{self.seed}:salesforce-file:{record_id}")
        if blob["kind"] == "pdf":
            head, tail = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
            return head + rng.randbytes(size - len(head) - len(tail)) + tail
        out = bytearray()
        i = 0
        while len(out) < size:  # BodyLength is the body's exact length, as in Salesforce
            out += f"{i:05d} Intake note: {rng.choice(FILE_NOTES) or 'no remarks'}\n".encode()
            i += 1
        return bytes(out[:size])

    def checksum(self, record_id: str) -> str | None:
        if record_id not in self.blobs:
            return None
        if record_id not in self._checksums:
            self._checksums[record_id] = hashlib.md5(  # noqa: S324 - Salesforce's checksum
                self.body(record_id)).hexdigest()
        return self._checksums[record_id]

    def set_body(self, record_id: str, data: bytes) -> None:
        self.blobs[record_id] = {"data": base64.b64encode(data).decode("ascii")}
        self._checksums.pop(record_id, None)

    # -- state ----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {"records": {o: list(r.values()) for o, r in self.records.items()},
                "counters": self.counters, "bin": {k: list(v) for k, v in self.bin.items()},
                "blobs": self.blobs,
                "physicians": self.physicians, "big_files": self.big_files,
                "custom_fields": self.custom_fields,
                "start": self.start.isoformat(), "clock": self.clock.isoformat(),
                "last_write": self.last_write.isoformat()}

    def load(self, state: dict[str, Any]) -> None:
        self._reset(dt.datetime.fromisoformat(state["start"]))
        self.clock = dt.datetime.fromisoformat(state["clock"])
        self.last_write = dt.datetime.fromisoformat(state["last_write"])
        self.counters = dict(state["counters"])
        self.bin = {k: (v[0], v[1]) for k, v in state["bin"].items()}
        self.blobs = dict(state["blobs"])
        self.physicians = dict(state["physicians"])
        self.big_files = int(state["big_files"])
        for spec in state.get("custom_fields", []):
            self.add_field(spec.pop("object"), FieldDef(**spec))
        for obj, rows in state["records"].items():
            for rec in rows:
                self.put(obj, dict(rec))
