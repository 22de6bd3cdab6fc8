"""Checking a care-plan view definition against an archive: streams it does not hold and
fields that neither their archived schema nor their records have, with the nearest names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.careplan.model import (
    CLIENT_PREFIX,
    Definition,
    Section,
    field_paths,
    has_path,
    suggest,
)

__all__ = ["check_against"]

_SAMPLE = 300  # records read per stream to learn its field paths


def _uses(definition: Definition) -> list[tuple[str, str, str, str]]:
    """(stream, field path, where it is used, leniency) for every field the definition
    reads. Leniency "stream": the archive may lack the stream (an ``optional`` section or
    match: a vendor the agency no longer uses); "field": it may lack the field too (an
    ``optional`` column: a property only another vendor's restore adds)."""
    uses: list[tuple[str, str, str, str]] = []
    c = definition.client
    uses.append((c.stream, c.key, "[client].key", ""))
    uses += [(c.stream, f, "[client].name", "") for f in definition.name_field]
    if definition.birthdate_field:
        uses.append((c.stream, definition.birthdate_field, "[client].birthdate", ""))
    for f in (*c.where, *c.exclude, *definition.binder_where):
        uses.append((c.stream, f, "[client]", ""))
    for m in definition.matches:
        lenient = "stream" if m.optional else ""
        uses.append((m.stream, m.key, "[[client.match]].key", lenient))
        uses += [(m.stream, f, "[[client.match]]", lenient) for f in (*m.where, *m.exclude)]
    for s in definition.sections:
        if s.stream:
            uses += _section_uses(s, c.stream)
    return uses


def _section_uses(s: Section, client_stream: str) -> list[tuple[str, str, str, str]]:
    place = f"[sections.{s.id}]"
    own = "stream" if s.optional else ""
    found: list[tuple[str, str]] = []  # fields of the section's own stream
    uses: list[tuple[str, str, str, str]] = []  # fields of other streams
    if s.join is not None:
        found.append((s.join.field, f"{place}.join.field"))
        if s.join.via is not None:
            v = s.join.via
            uses += [(v.stream, f, f"{place}.join.via", own)
                     for f in (v.from_field, v.to_field, *v.where)]
        target = s.join.target
        if target is not None:
            uses.append((target[0], target[1], f"{place}.join.to", own))
    found += [(f, f"{place} where/exclude") for f in (*s.where, *s.exclude)]
    found += [(f[0], f"{place}.sort") for f in s.sort]
    if s.group_by:
        found.append((s.group_by, f"{place}.group_by"))
    if s.date_field:
        found.append((s.date_field, f"{place}.date_field"))
    assert s.stream is not None
    uses += [(s.stream, f, where, own) for f, where in found]
    for col in s.columns:
        lenient = "field" if col.optional else own
        for f in col.fields:
            if f.startswith(CLIENT_PREFIX):
                uses.append((client_stream, f[len(CLIENT_PREFIX):],
                             f"{place} field '{col.label}'", lenient))
            else:
                uses.append((s.stream, f, f"{place} field '{col.label}'", lenient))
    return uses


def check_against(definition: Definition, archive: Any) -> list[str]:
    """Problems with a definition for this archive: streams it does not hold and fields that
    neither its archived schema nor its records have, each with the nearest existing names.
    Empty when all is well."""
    present = {f"{src}/{stream}" for src, stream in archive.streams()}
    problems: list[str] = []
    samples: dict[str, tuple[list[Any], set[str]]] = {}
    join_targets = {definition.client.stream, *(m.stream for m in definition.matches)}
    for stream, fld, place, lenient in _uses(definition):
        if stream not in present:
            if lenient:
                continue
            msg = f"{place}: there is no stream '{stream}' in the archive{suggest(stream, present)}"
            if msg not in problems:
                problems.append(msg)
            continue
        if place.endswith(".join.to") and stream not in join_targets:
            problems.append(f"{place}: '{stream}' is not the client stream or a [[client.match]]"
                            f" stream ({', '.join(sorted(join_targets))})")
            continue
        if stream not in samples:
            samples[stream] = _sample(archive, stream)
        records, schema = samples[stream]
        if fld in schema or any(has_path(r, fld) for r in records) or not records:
            continue
        if lenient == "field":
            continue
        known = schema.union(*(field_paths(r) for r in records))
        problems.append(f"{place}: {stream} has no field '{fld}'{suggest(fld, known)}")
    return problems


def _sample(archive: Any, stream: str) -> tuple[list[Any], set[str]]:
    """Some of the stream's records, and the field paths its archived schema names."""
    source, name = stream.split("/", 1)
    records = []
    for i, (_rid, data) in enumerate(archive.records(source, name)):
        if i >= _SAMPLE:
            break
        if data is not None:
            records.append(data)
    return records, _schema_fields(archive.get_schema(source, name))


def _schema_fields(schema: Any) -> set[str]:
    """Field paths from a JSON schema (also under "json_schema"), or the names of a
    Salesforce describe's fields."""
    if not isinstance(schema, Mapping):
        return set()
    found: set[str] = set()
    for candidate in (schema, schema.get("json_schema")):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("properties"), Mapping):
            found |= _schema_paths(candidate)
    fields = schema.get("fields")
    if isinstance(fields, list):
        found |= {f["name"] for f in fields if isinstance(f, Mapping)
                  and isinstance(f.get("name"), str)}
    return found


def _schema_paths(schema: Mapping[str, Any], prefix: str = "", depth: int = 0) -> set[str]:
    out: set[str] = set()
    props = schema.get("properties")
    if depth > 4 or not isinstance(props, Mapping):
        return out
    for key, sub in props.items():
        here = f"{prefix}.{key}" if prefix else str(key)
        out.add(here)
        if isinstance(sub, Mapping):
            out |= _schema_paths(sub, here, depth + 1)
            if isinstance(sub.get("items"), Mapping):
                out |= _schema_paths(sub["items"], here, depth + 1)
    return out
