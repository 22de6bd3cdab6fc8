"""Care-plan view definitions: TOML files that say where each section of a care plan lives
in the archived streams and how records of different vendors join on a client key.

    definition = load_definition(path)        # DefinitionError on a mistake, with the line's place
    problems = check_against(definition, archive)   # unknown streams/fields, nearest names

The sections a care plan can have, in the order they are printed, are :data:`SECTIONS`.
docs/careplan.md describes the format with a worked example.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from exporter.errors import DefinitionError

__all__ = [
    "CLIENT_PREFIX",
    "FORMATS",
    "NORMALISERS",
    "SECTIONS",
    "Column",
    "Definition",
    "DefinitionError",
    "Join",
    "Section",
    "Via",
    "check_against",
    "default_definition_text",
    "field_paths",
    "get_path",
    "has_path",
    "load_definition",
    "normaliser",
    "parse_definition",
    "suggest",
]



#: Section id -> (heading, layout). Printed in this order; "fields" shows one record as
#: label/value pairs, "table" one row per record.
SECTIONS: dict[str, tuple[str, str]] = {
    "identity": ("Client", "fields"),
    "address": ("Address and access", "fields"),
    "code_status": ("Code status and advance directives", "fields"),
    "allergies": ("Allergies", "table"),
    "emergency_contacts": ("Emergency contacts", "table"),
    "physician": ("Physician", "fields"),
    "pharmacy": ("Pharmacy", "fields"),
    "diagnoses": ("Diagnoses", "table"),
    "medications": ("Medications", "table"),
    "care_tasks": ("Daily care tasks", "table"),
    "visits": ("Visit schedule", "table"),
    "diet": ("Diet and nutrition", "fields"),
    "safety": ("Safety and fall risk", "fields"),
    "goals": ("Goals", "fields"),
    "notes": ("Latest notes", "table"),
    "signoff": ("Care-team sign-off", "signoff"),
}

#: A field path starting with this reads the client's own record (e.g. the address on the
#: Account, printed in a section whose stream is the care plan).
CLIENT_PREFIX = "@client."

FORMATS = ("text", "date", "day", "datetime", "time", "list", "html", "bool", "weekday",
           "multiline", "firstline")

_WS = re.compile(r"\s+")


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Zoë  Müller' -> 'zoe muller'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WS.sub(" ", bare.casefold()).strip()


NORMALISERS: dict[str, Callable[[str], str]] = {
    "exact": lambda s: s,
    "text": _fold,
    # 'c-00001', ' C 00001 ' and 'C00001' are the same client number.
    "client_number": lambda s: re.sub(r"[^0-9A-Za-z]", "", s).upper(),
    "email": lambda s: s.strip().casefold(),
    "phone": lambda s: re.sub(r"\D", "", s)[-10:],
}


def normaliser(name: str) -> Callable[[str], str]:
    return NORMALISERS[name]


def suggest(name: str, known: Iterable[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' with the nearest known names, or '' when none is near."""
    known = list(known)
    near = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    if not near:
        lower = {k.lower(): k for k in known}
        near = [lower[k] for k in difflib.get_close_matches(name.lower(), list(lower), n=n,
                                                            cutoff=0.5)]
    return f" (did you mean: {', '.join(near)}?)" if near else ""


def get_path(data: Any, path: str) -> list[Any]:
    """Every value at a dotted path; lists are walked into ('a.b' over [{'b': 1}, {'b': 2}]
    gives [1, 2]). Missing parts give []. Whole keys containing dots are found too (sheet
    headers, 'Client Number')."""
    if isinstance(data, Mapping) and path in data:
        value = data[path]
        return [] if value is None else (list(value) if isinstance(value, list) else [value])
    values = [data]
    for part in path.split("."):
        nxt: list[Any] = []
        for v in values:
            for item in v if isinstance(v, list) else [v]:
                if isinstance(item, Mapping) and item.get(part) is not None:
                    got = item[part]
                    nxt.extend(got if isinstance(got, list) else [got])
        values = nxt
        if not values:
            return []
    return values


def field_paths(data: Any, prefix: str = "", depth: int = 0) -> set[str]:
    """The dotted paths a record has (lists walked into), for validation and suggestions."""
    paths: set[str] = set()
    if depth > 6:
        return paths
    if isinstance(data, list):
        for item in data[:20]:
            paths |= field_paths(item, prefix, depth + 1)
        return paths
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{prefix}.{key}" if prefix else str(key)
            paths.add(here)
            paths |= field_paths(value, here, depth + 1)
    return paths


@dataclass(frozen=True)
class Column:
    label: str
    fields: tuple[str, ...]  # several fields are joined with ``sep``
    format: str = "text"
    sep: str = ", "
    emphasis: bool = False  # printed large and bold (code status, allergy substance)
    below: bool = False  # tables: printed on a full-width line under the row, when present


@dataclass(frozen=True)
class Via:
    """A link stream between a section's records and the client's (HubSpot associations):
    link records whose ``to`` value is the client's value give, at ``from``, the values the
    section's ``field`` must have."""

    stream: str
    from_field: str
    to_field: str
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Join:
    """How a section's records belong to a client: the value(s) at ``field`` equal, after
    ``normalise``, the client key (``to = "key"``) or the values at a path of the client's
    own records (``to = "salesforce/Account.Id"``)."""

    field: str
    to: str = "key"
    normalise: str | None = None  # default: the client's normaliser for "key", else exact
    via: Via | None = None

    @property
    def target(self) -> tuple[str, str] | None:
        """(stream, path) for a join to a client record's field, None for the key."""
        if self.to == "key":
            return None
        source, _, rest = self.to.partition("/")
        stream, _, path = rest.partition(".")  # stream names hold no dots; paths may
        return f"{source}/{stream}", path


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    layout: str
    stream: str | None = None
    join: Join | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    exclude: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[tuple[str, bool, str], ...] = ()  # (path, descending, order)
    limit: int = 0
    group_by: str | None = None
    group_order: str = "text"
    window_days: int = 0  # visits: only records whose ``date_field`` is in the next N days
    date_field: str | None = None
    columns: tuple[Column, ...] = ()
    note: str = ""
    lines: tuple[str, ...] = ()  # sign-off roles

    @property
    def mapped(self) -> bool:
        return self.stream is not None or self.layout == "signoff"


@dataclass(frozen=True)
class ClientSource:
    """A stream whose records stand for the client (the anchor, or the same client in another
    system, matched on the key)."""

    stream: str
    key: str
    where: Mapping[str, Any] = field(default_factory=dict)
    exclude: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    name: str
    organisation: str
    client: ClientSource
    normalise: str
    name_field: tuple[str, ...]
    birthdate_field: str | None
    binder_where: Mapping[str, Any]
    matches: tuple[ClientSource, ...]
    sections: tuple[Section, ...]
    stale_after_hours: float | None = None
    path: str = "<default>"

    def section(self, sid: str) -> Section | None:
        return next((s for s in self.sections if s.id == sid), None)

    def streams(self) -> list[str]:
        names = [self.client.stream, *(m.stream for m in self.matches)]
        names += [s.stream for s in self.sections if s.stream]
        return list(dict.fromkeys(names))


# -- parsing ---------------------------------------------------------------------------------

_TOP = {"name", "organisation", "stale_after_hours", "client", "sections"}
_CLIENT = {"stream", "key", "normalise", "name", "birthdate", "where", "exclude", "binder",
           "match"}
_MATCH = {"stream", "key", "where", "exclude"}
_SECTION = {"stream", "join", "where", "exclude", "sort", "limit", "group_by", "group_order",
            "window_days", "date_field", "fields", "title", "note", "lines"}
_JOIN = {"field", "to", "normalise", "via"}
_VIA = {"stream", "from", "to", "where"}
_COLUMN = {"label", "field", "format", "sep", "emphasis", "below"}
_ORDERS = ("text", "weekday", "number")


class _Parser:
    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def fail(self, msg: str) -> None:
        self.problems.append(msg)

    def keys(self, table: Any, allowed: set[str], place: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.fail(f"{place} must be a table")
            return {}
        for key in table:
            if key not in allowed:
                self.fail(f"{place} has an unknown key '{key}'{suggest(key, sorted(allowed))}")
        return table

    def text(self, table: Mapping[str, Any], key: str, place: str, required: bool = False,
             default: str | None = None) -> str | None:
        value = table.get(key, default)
        if value is None:
            if required:
                self.fail(f"{place} needs {key} = \"...\"")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{place}.{key} must be a non-empty text in quotes")
            return None
        return value

    def fields(self, value: Any, place: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(
                isinstance(i, str) and i for i in items):
            self.fail(f"{place} must be a field path or a list of field paths")
            return ()
        return tuple(items)

    def filters(self, value: Any, place: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"{place} must be a table like {{ Active__c = true }}")
            return {}
        return dict(value)

    def stream(self, value: str | None, place: str) -> str | None:
        if value is not None and "/" not in value:
            self.fail(f"{place} stream '{value}' must be written source/stream, e.g. "
                      "\"salesforce/Account\"")
            return None
        return value


def _sort(p: _Parser, value: Any, place: str) -> tuple[tuple[str, bool, str], ...]:
    if value is None:
        return ()
    out: list[tuple[str, bool, str]] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item:
            out.append((item.lstrip("-"), item.startswith("-"), "text"))
        elif isinstance(item, dict):
            p.keys(item, {"field", "descending", "order"}, f"{place}.sort")
            order = item.get("order", "text")
            if order not in _ORDERS:
                p.fail(f"{place}.sort order '{order}' is not one of {', '.join(_ORDERS)}")
            if not isinstance(item.get("field"), str):
                p.fail(f"{place}.sort entries need a field")
                continue
            out.append((item["field"], bool(item.get("descending", False)), str(order)))
        else:
            p.fail(f"{place}.sort must list field paths (\"-field\" for newest first)")
    return tuple(out)


def _columns(p: _Parser, value: Any, place: str) -> tuple[Column, ...]:
    if not isinstance(value, list) or not value:
        p.fail(f"{place} needs fields = [{{ label = \"...\", field = \"...\" }}, ...]")
        return ()
    cols = []
    for i, item in enumerate(value, 1):
        where = f"{place}.fields[{i}]"
        item = p.keys(item, _COLUMN, where)
        if not item:
            continue
        label = p.text(item, "label", where, required=True)
        fields = p.fields(item.get("field"), f"{where}.field")
        fmt = item.get("format", "text")
        if fmt not in FORMATS:
            p.fail(f"{where}.format '{fmt}' is not one of {', '.join(FORMATS)}"
                   f"{suggest(str(fmt), FORMATS)}")
        sep = item.get("sep", ", ")
        if label and fields:
            cols.append(Column(label, fields, str(fmt), str(sep), bool(item.get("emphasis")),
                               bool(item.get("below"))))
    return tuple(cols)


def _join(p: _Parser, value: Any, place: str) -> Join | None:
    if value is None:
        return None
    table = p.keys(value, _JOIN, f"{place}.join")
    fld = p.text(table, "field", f"{place}.join", required=True)
    to = p.text(table, "to", f"{place}.join", default="key") or "key"
    norm = table.get("normalise")
    if norm is not None and norm not in NORMALISERS:
        p.fail(f"{place}.join.normalise '{norm}' is not one of {', '.join(NORMALISERS)}"
               f"{suggest(str(norm), NORMALISERS)}")
    if to != "key" and ("/" not in to or "." not in to.split("/", 1)[1]):
        p.fail(f"{place}.join.to must be \"key\" or source/stream.field, e.g. "
               "\"salesforce/Account.Id\"")
    via = None
    if table.get("via") is not None:
        v = p.keys(table["via"], _VIA, f"{place}.join.via")
        vstream = p.stream(p.text(v, "stream", f"{place}.join.via", required=True),
                           f"{place}.join.via")
        vfrom = p.text(v, "from", f"{place}.join.via", required=True)
        vto = p.text(v, "to", f"{place}.join.via", required=True)
        if to == "key" or not (vstream and vfrom and vto):
            if to == "key":
                p.fail(f"{place}.join.via goes with to = \"source/stream.field\"")
        else:
            via = Via(vstream, vfrom, vto, p.filters(v.get("where"), f"{place}.join.via.where"))
    return Join(fld, to, norm, via) if fld else None


def parse_definition(text: str, where: str = "<definition>") -> Definition:
    """Parse and check a definition's own structure (not yet against an archive)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"The care-plan definition {where} has a mistake: {exc}.") from None
    p = _Parser(where)
    p.keys(raw, _TOP, "the definition")
    client = p.keys(raw.get("client"), _CLIENT, "[client]")
    cstream = p.stream(p.text(client, "stream", "[client]", required=True), "[client]")
    ckey = p.text(client, "key", "[client]", required=True)
    norm = client.get("normalise", "client_number")
    if norm not in NORMALISERS:
        p.fail(f"[client].normalise '{norm}' is not one of {', '.join(NORMALISERS)}"
               f"{suggest(str(norm), NORMALISERS)}")
    name_field = p.fields(client.get("name"), "[client].name") if client.get("name") else ()
    if not name_field:
        p.fail("[client] needs name = \"<the field with the client's name>\"")
    matches = []
    for i, m in enumerate(client.get("match") or [], 1):
        m = p.keys(m, _MATCH, f"[[client.match]] {i}")
        mstream = p.stream(p.text(m, "stream", f"[[client.match]] {i}", required=True),
                           f"[[client.match]] {i}")
        mkey = p.text(m, "key", f"[[client.match]] {i}", required=True)
        if mstream and mkey:
            matches.append(ClientSource(mstream, mkey, p.filters(m.get("where"), "where"),
                                        p.filters(m.get("exclude"), "exclude")))
    sections_raw = raw.get("sections") or {}
    if not isinstance(sections_raw, dict):
        p.fail("[sections] must hold tables like [sections.medications]")
        sections_raw = {}
    sections = []
    for sid in sections_raw:
        if sid not in SECTIONS:
            p.fail(f"there is no care-plan section '{sid}'{suggest(sid, SECTIONS)} "
                   f"(sections: {', '.join(SECTIONS)})")
    for sid, (title, layout) in SECTIONS.items():
        if sid not in sections_raw:
            continue
        place = f"[sections.{sid}]"
        s = p.keys(sections_raw[sid], _SECTION, place)
        if layout == "signoff":
            lines = s.get("lines", ["Care coordinator", "Nurse", "Client or representative"])
            if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
                p.fail(f"{place}.lines must be a list of roles in quotes")
                lines = []
            sections.append(Section(sid, str(s.get("title", title)), layout,
                                    note=str(s.get("note", "")), lines=tuple(lines)))
            continue
        stream = p.stream(p.text(s, "stream", place, required=True), place)
        join = _join(p, s.get("join"), place)
        if join is None and stream is not None and stream != cstream:
            p.fail(f"{place} reads {stream}, which is not the client stream: it needs "
                   "join = { field = \"...\", to = \"key\" }")
        limit = s.get("limit", 0)
        window = s.get("window_days", 0)
        for key, val in (("limit", limit), ("window_days", window)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                p.fail(f"{place}.{key} must be a whole number, 0 or more")
        if window and not s.get("date_field"):
            p.fail(f"{place} has window_days but no date_field")
        group_order = s.get("group_order", "text")
        if group_order not in _ORDERS:
            p.fail(f"{place}.group_order '{group_order}' is not one of {', '.join(_ORDERS)}")
        sections.append(Section(
            id=sid, title=str(s.get("title", title)), layout=layout, stream=stream, join=join,
            where=p.filters(s.get("where"), f"{place}.where"),
            exclude=p.filters(s.get("exclude"), f"{place}.exclude"),
            sort=_sort(p, s.get("sort"), place),
            limit=limit if isinstance(limit, int) else 0,
            group_by=s.get("group_by") if isinstance(s.get("group_by"), str) else None,
            group_order=str(group_order),
            window_days=window if isinstance(window, int) else 0,
            date_field=s.get("date_field") if isinstance(s.get("date_field"), str) else None,
            columns=_columns(p, s.get("fields"), place),
            note=str(s.get("note", "")),
        ))
    stale = raw.get("stale_after_hours")
    if stale is not None and (not isinstance(stale, int | float) or stale <= 0):
        p.fail("stale_after_hours must be a positive number of hours")
    if p.problems:
        raise DefinitionError(_problem_text(where, p.problems))
    assert cstream and ckey
    return Definition(
        name=str(raw.get("name", "care plan")),
        organisation=str(raw.get("organisation", "")),
        client=ClientSource(cstream, ckey, p.filters(client.get("where"), "where"),
                            p.filters(client.get("exclude"), "exclude")),
        normalise=str(norm), name_field=name_field,
        birthdate_field=client.get("birthdate") if isinstance(client.get("birthdate"), str)
        else None,
        binder_where=p.filters(client.get("binder"), "[client].binder"),
        matches=tuple(matches), sections=tuple(sections),
        stale_after_hours=float(stale) if stale is not None else None, path=where)


def _problem_text(where: str, problems: list[str]) -> str:
    head = f"The care-plan definition {where} has {len(problems)} problem(s): "
    return head + "; ".join(problems) + "."


def default_definition_text() -> str:
    return resources.files("exporter.careplan").joinpath("default.toml").read_text("utf-8")


def load_definition(path: Path | None = None) -> Definition:
    """The definition at ``path``, or the built-in one for the sandbox agency."""
    if path is None:
        return parse_definition(default_definition_text(), "built-in default.toml")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"The care-plan definition {path} cannot be read "
                              f"({exc.strerror}).") from None
    return parse_definition(text, str(path))


# -- checking against an archive ----------------------------------------------------------------

_SAMPLE = 300  # records read per stream to learn its field paths


def _uses(definition: Definition) -> list[tuple[str, str, str]]:
    """(stream, field path, where it is used) for every field the definition reads."""
    uses: list[tuple[str, str, str]] = []
    c = definition.client
    uses.append((c.stream, c.key, "[client].key"))
    uses += [(c.stream, f, "[client].name") for f in definition.name_field]
    if definition.birthdate_field:
        uses.append((c.stream, definition.birthdate_field, "[client].birthdate"))
    for f in (*c.where, *c.exclude, *definition.binder_where):
        uses.append((c.stream, f, "[client]"))
    for m in definition.matches:
        uses.append((m.stream, m.key, "[[client.match]].key"))
        uses += [(m.stream, f, "[[client.match]]") for f in (*m.where, *m.exclude)]
    for s in definition.sections:
        if not s.stream:
            continue
        place = f"[sections.{s.id}]"
        if s.join is not None:
            uses.append((s.stream, s.join.field, f"{place}.join.field"))
            if s.join.via is not None:
                v = s.join.via
                uses += [(v.stream, f, f"{place}.join.via")
                         for f in (v.from_field, v.to_field, *v.where)]
            target = s.join.target
            if target is not None:
                uses.append((target[0], target[1], f"{place}.join.to"))
        for f in (*s.where, *s.exclude):
            uses.append((s.stream, f, f"{place} where/exclude"))
        uses += [(s.stream, f[0], f"{place}.sort") for f in s.sort]
        if s.group_by:
            uses.append((s.stream, s.group_by, f"{place}.group_by"))
        if s.date_field:
            uses.append((s.stream, s.date_field, f"{place}.date_field"))
        for col in s.columns:
            for f in col.fields:
                if f.startswith(CLIENT_PREFIX):
                    uses.append((c.stream, f[len(CLIENT_PREFIX):], f"{place} field '{col.label}'"))
                else:
                    uses.append((s.stream, f, f"{place} field '{col.label}'"))
    return uses


def check_against(definition: Definition, archive: Any) -> list[str]:
    """Problems with a definition for this archive: streams it does not hold and fields that
    neither its archived schema nor its records have, each with the nearest existing names.
    Empty when all is well."""
    present = {f"{src}/{stream}" for src, stream in archive.streams()}
    problems: list[str] = []
    samples: dict[str, tuple[list[Any], set[str]]] = {}
    join_targets = {definition.client.stream, *(m.stream for m in definition.matches)}
    for stream, fld, place in _uses(definition):
        if stream not in present:
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
        known = schema.union(*(field_paths(r) for r in records))
        problems.append(f"{place}: {stream} has no field '{fld}'{suggest(fld, known)}")
    return problems


def has_path(data: Any, path: str) -> bool:
    """Whether a record has the field at ``path`` at all (its value may be null)."""
    if isinstance(data, Mapping) and path in data:
        return True
    head, _, rest = path.partition(".")
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, Mapping) and head in item and (
                not rest or has_path(item[head], rest)):
            return True
    return False


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
