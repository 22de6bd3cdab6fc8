"""Whose record is it: the client a restored record is about, for the error report's
``client`` column and the CSV target's folder per client.

The mapping's ``[client]`` table (or ``[clients.SOURCE]`` for a mapping of any source):

    stream = "Account"              # the client records
    name = "Name"                   # or a list of fields joined by spaces
    number = "Client_Number__c"
    refs = ["Client__c"]            # fields of other records holding their client's id
    where = { mimeType = "..." }    # only records with these values are clients
    require = ["..."]               # ... and with a value at each of these paths
    attached = { stream = "notes", field = "properties.hs_attachment_ids",
                 via = "associations" }  # a file's client: that of the record attaching it

A record is its own client when it is one (of the stream, matching ``where``); else the
parent its links or ``refs`` point at; else (``attached``) the client the archived
associations link the record attaching it to (a HubSpot file: the note whose
``hs_attachment_ids`` names it, associated with the client's contact). Google's client
folders are Drive folders carrying a client number (``refs = ["parents.0"]``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from exporter.archive import Archive
from exporter.careplan.model import NORMALISERS
from exporter.errors import AmbiguousClient, NoSuchClient, NotFound
from exporter.restore.mapping import Mapping_, ObjectRule
from exporter.restore.transforms import MISSING, get_path

__all__ = ["choose_clients", "client_label", "client_matches"]


def _is_client(ctx: Any, spec: Mapping[str, Any], record: Mapping[str, Any] | None) -> bool:
    return record is not None and _is_one(ctx.mapping.prefix, spec, record)


def _is_one(prefix: str, spec: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    for path, allowed in (spec.get("where") or {}).items():
        value = get_path(record, str(path), prefix)
        if not any(str(value) == str(a) for a in (allowed if isinstance(allowed, list)
                                                  else [allowed])):
            return False
    return all(get_path(record, str(p), prefix) not in (MISSING, None, "")
               for p in spec.get("require") or [])


def _attaching(ctx: Any, spec: Mapping[str, Any], rid: str) -> Mapping[str, Any] | None:
    """The client of the record attaching ``rid`` (through the archived associations)."""
    att = spec["attached"]
    key = ("attached", att["stream"], att["field"], att["via"], spec["stream"])
    if key not in ctx.found:
        by_file: dict[str, list[str]] = {}
        for nid, rec in ctx.archive.records(ctx.source, att["stream"], ctx.as_of):
            value = get_path(rec, str(att["field"]), ctx.mapping.prefix)
            for fid in str(value or "").split(";") if value is not MISSING else []:
                if fid.strip():
                    by_file.setdefault(fid.strip(), []).append(str(nid))
        edges: dict[str, list[str]] = {}
        for _eid, edge in ctx.archive.records(ctx.source, att["via"], ctx.as_of):
            if edge and edge.get("fromObjectType") == att["stream"] \
                    and edge.get("toObjectType") == spec["stream"]:
                edges.setdefault(str(edge["fromObjectId"]), []).append(str(edge["toObjectId"]))
        ctx.found[key] = {fid: sorted({c for n in notes for c in edges.get(n, [])})
                          for fid, notes in by_file.items()}
    for cid in ctx.found[key].get(str(rid), []):
        record = _known(ctx, spec["stream"], cid)
        if _is_client(ctx, spec, record):
            return record
    return None


def _known(ctx: Any, stream: str, record_id: str) -> Mapping[str, Any] | None:
    """The record as of the run restored, else its last archived version: a client deleted
    before that run (a mass delete) is still named in the error report and gets the folder
    of its name, instead of a blank."""
    record = ctx.parent(stream, record_id)
    if record is not None:
        return record
    key = ("last known", stream, record_id)
    if key not in ctx.found:
        try:
            versions = ctx.archive.history(ctx.source, stream, record_id)
        except NotFound:
            versions = []
        ctx.found[key] = next((v.data for v in reversed(versions) if v.data), None)
    found: Mapping[str, Any] | None = ctx.found[key]
    return found


def _client_record(ctx: Any, rule: ObjectRule, rid: str, data: Mapping[str, Any],
                   spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if rule.stream == spec["stream"] and _is_client(ctx, spec, data):
        return data
    for link in rule.links:
        if link.to_stream == spec["stream"]:
            pid = ctx.parent_id(link, data, rule.stream)
            record = _known(ctx, link.to_stream, pid) if pid else None
            if record is not None:
                return record
    for ref in spec.get("refs") or []:  # fields holding the client's id (Client__c)
        pid = get_path(data, str(ref), ctx.mapping.prefix)
        if isinstance(pid, str) and pid:
            record = _known(ctx, spec["stream"], pid)
            if _is_client(ctx, spec, record):
                return record
    return _attaching(ctx, spec, rid) if spec.get("attached") else None


def client_label(ctx: Any, rule: ObjectRule, rid: str, data: Mapping[str, Any]) -> str:
    """"Name (number)" of the client a record is about (see the module's docstring); ''
    when it is about none."""
    spec = ctx.mapping.client
    if not spec:
        return ""
    record = _client_record(ctx, rule, rid, data, spec)
    return "" if record is None else _label(ctx.mapping.prefix, spec, record)


def _label(prefix: str, spec: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    values = []
    for k in ("name", "number"):
        paths = spec.get(k) or []
        got = [get_path(record, str(p), prefix)
               for p in ([paths] if isinstance(paths, str) else paths)]
        values.append(" ".join(str(v) for v in got if v not in (MISSING, None, "")))
    parts = [v for v in values if v]
    return f"{parts[0]} ({parts[1]})" if len(parts) == 2 else "".join(parts)


def client_matches(query: str, label: str) -> bool:
    """``--client``: the client's "Name (number)" contains ``query``, whatever the case and
    accents ("helene" is Hélène), as ``exporter print`` finds a client."""
    fold = NORMALISERS["text"]
    return fold(query) in fold(label)


def choose_clients(archive: Archive, mapping: Mapping_, query: str, as_of: int | None, *,
                   one: bool) -> list[str]:
    """The clients ``--client query`` keeps ("Name (number)", sorted), checked before
    anything is written: none is an error (with the nearest names), and so are several
    when ``one`` (a roll-back into the archive's own source would overwrite the values of
    clients the office did not mean). A mapping without ``[client]`` keeps every record."""
    spec = mapping.client
    if not spec:
        return []
    labels = {_label(mapping.prefix, spec, data)
              for _rid, data in archive.records(mapping.source, spec["stream"], as_of)
              if data is not None and _is_one(mapping.prefix, spec, data)}
    hits = sorted(label for label in labels if label and client_matches(query, label))
    if not hits:
        raise NoSuchClient(f"No client's name or number contains '{query}' in the archive"
                           f"{_nearest(query, labels)}; nothing was restored ('exporter "
                           "clients' lists them).")
    if one and len(hits) > 1:
        more = f" and {len(hits) - 10} more" if len(hits) > 10 else ""
        raise AmbiguousClient(
            f"'{query}' matches {len(hits)} clients: {'; '.join(hits[:10])}{more}; nothing "
            "was restored: give one client's number (such as C-00001) to roll back that "
            "client, or add --dry-run to see every change first.", hits)
    return hits


def _nearest(query: str, labels: Iterable[str]) -> str:
    """' (did you mean: a; b?)': the clients whose name, or a word of it, is nearest to a
    query that matched nobody (a typo: "Nguyenn")."""
    fold = NORMALISERS["text"]
    q = fold(query)

    def score(label: str) -> float:
        text = fold(label)
        return max(difflib.SequenceMatcher(None, q, part).ratio()
                   for part in [text, *text.replace("(", " ").replace(")", " ").split()])

    scored = sorted((-score(label), label) for label in labels)
    near = [label for s, label in scored[:3] if -s >= 0.6]
    return f" (did you mean: {'; '.join(near)}?)" if near else ""
