"""Reading a care-plan view definition (TOML) and checking its own structure: every mistake
is collected, with its place, into one DefinitionError."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from exporter.careplan.model import (
    FORMATS,
    NORMALISERS,
    SECTIONS,
    ClientSource,
    Column,
    Definition,
    Join,
    Section,
    Via,
    suggest,
)
from exporter.errors import DefinitionError

__all__ = ["built_in_definition", "default_definition_text", "load_definition", "parse_definition"]

_TOP = {"name", "organisation", "stale_after_hours", "client", "sections"}
_CLIENT = {"stream", "key", "normalise", "name", "birthdate", "where", "exclude", "binder",
           "match"}
_MATCH = {"stream", "key", "where", "exclude", "optional"}
_SECTION = {"stream", "join", "where", "exclude", "sort", "limit", "group_by", "group_order",
            "window_days", "date_field", "fields", "title", "note", "lines", "optional"}
_JOIN = {"field", "to", "normalise", "via"}
_VIA = {"stream", "from", "to", "where"}
_COLUMN = {"label", "field", "format", "sep", "emphasis", "below", "optional", "first"}
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

    def flag(self, table: Mapping[str, Any], key: str, place: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"{place}.{key} must be true or false")
            return False
        return value

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
                               bool(item.get("below")), p.flag(item, "optional", where),
                               p.flag(item, "first", where)))
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


@dataclass(frozen=True)
class _Client:
    """What [client] says about the anchor stream, once checked."""

    stream: str | None
    key: str | None
    normalise: Any
    name_field: tuple[str, ...]


def _client(p: _Parser, client: dict[str, Any]) -> _Client:
    cstream = p.stream(p.text(client, "stream", "[client]", required=True), "[client]")
    ckey = p.text(client, "key", "[client]", required=True)
    norm = client.get("normalise", "client_number")
    if norm not in NORMALISERS:
        p.fail(f"[client].normalise '{norm}' is not one of {', '.join(NORMALISERS)}"
               f"{suggest(str(norm), NORMALISERS)}")
    name_field = p.fields(client.get("name"), "[client].name") if client.get("name") else ()
    if not name_field:
        p.fail("[client] needs name = \"<the field with the client's name>\"")
    return _Client(cstream, ckey, norm, name_field)


def _matches(p: _Parser, client: dict[str, Any]) -> list[ClientSource]:
    matches = []
    for i, m in enumerate(client.get("match") or [], 1):
        m = p.keys(m, _MATCH, f"[[client.match]] {i}")
        mstream = p.stream(p.text(m, "stream", f"[[client.match]] {i}", required=True),
                           f"[[client.match]] {i}")
        mkey = p.text(m, "key", f"[[client.match]] {i}", required=True)
        if mstream and mkey:
            matches.append(ClientSource(mstream, mkey, p.filters(m.get("where"), "where"),
                                        p.filters(m.get("exclude"), "exclude"),
                                        p.flag(m, "optional", f"[[client.match]] {i}")))
    return matches


def _sections(p: _Parser, value: Any, cstream: str | None) -> list[Section]:
    """The sections given, in the printed order of SECTIONS."""
    sections_raw = value or {}
    if not isinstance(sections_raw, dict):
        p.fail("[sections] must hold tables like [sections.medications]")
        sections_raw = {}
    for sid in sections_raw:
        if sid not in SECTIONS:
            p.fail(f"there is no care-plan section '{sid}'{suggest(sid, SECTIONS)} "
                   f"(sections: {', '.join(SECTIONS)})")
    sections = []
    for sid, (title, layout) in SECTIONS.items():
        if sid not in sections_raw:
            continue
        place = f"[sections.{sid}]"
        s = p.keys(sections_raw[sid], _SECTION, place)
        if layout == "signoff":
            sections.append(_signoff(p, sid, title, s, place))
        else:
            sections.append(_section(p, sid, title, layout, s, place, cstream))
    return sections


def _signoff(p: _Parser, sid: str, title: str, s: dict[str, Any], place: str) -> Section:
    lines = s.get("lines", ["Care coordinator", "Nurse", "Client or representative"])
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        p.fail(f"{place}.lines must be a list of roles in quotes")
        lines = []
    return Section(sid, str(s.get("title", title)), "signoff", note=str(s.get("note", "")),
                   lines=tuple(lines))


def _section(p: _Parser, sid: str, title: str, layout: str, s: dict[str, Any], place: str,
             cstream: str | None) -> Section:
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
    return Section(
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
        optional=p.flag(s, "optional", place),
    )


def parse_definition(text: str, where: str = "<definition>") -> Definition:
    """Parse and check a definition's own structure (not yet against an archive)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"The care-plan definition {where} has a mistake: {exc}.") from None
    p = _Parser(where)
    p.keys(raw, _TOP, "the definition")
    client = p.keys(raw.get("client"), _CLIENT, "[client]")
    head = _client(p, client)
    matches = _matches(p, client)
    sections = _sections(p, raw.get("sections"), head.stream)
    stale = raw.get("stale_after_hours")
    if stale is not None and (not isinstance(stale, int | float) or stale <= 0):
        p.fail("stale_after_hours must be a positive number of hours")
    if p.problems:
        raise DefinitionError(_problem_text(where, p.problems))
    assert head.stream and head.key
    return Definition(
        name=str(raw.get("name", "care plan")),
        organisation=str(raw.get("organisation", "")),
        client=ClientSource(head.stream, head.key, p.filters(client.get("where"), "where"),
                            p.filters(client.get("exclude"), "exclude")),
        normalise=str(head.normalise), name_field=head.name_field,
        birthdate_field=client.get("birthdate") if isinstance(client.get("birthdate"), str)
        else None,
        binder_where=p.filters(client.get("binder"), "[client].binder"),
        matches=tuple(matches), sections=tuple(sections),
        stale_after_hours=float(stale) if stale is not None else None, path=where)


def _problem_text(where: str, problems: list[str]) -> str:
    head = f"The care-plan definition {where} has {len(problems)} problem(s): "
    return head + "; ".join(problems) + "."


# Built-in definitions by name: the sandbox agency as it is (Salesforce, with HubSpot and
# Google), and with its clients in HubSpot (after a move there).
BUILT_IN = {"default": "default.toml", "salesforce": "default.toml", "hubspot": "hubspot.toml"}


def default_definition_text(name: str = "default") -> str:
    return resources.files("exporter.careplan").joinpath(BUILT_IN[name]).read_text("utf-8")


def built_in_definition(name: str = "default") -> Definition:
    """A built-in definition by its name (``BUILT_IN``)."""
    return parse_definition(default_definition_text(name), f"built-in {BUILT_IN[name]}")


def load_definition(path: Path | None = None) -> Definition:
    """The definition at ``path``, or the built-in one for the sandbox agency; a path that
    is no file but the name of a built-in one (``hubspot``) is that one."""
    if path is None or (str(path) in BUILT_IN and not Path(path).exists()):
        return built_in_definition("default" if path is None else str(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"The care-plan definition {path} cannot be read "
                              f"({exc.strerror}).") from None
    return parse_definition(text, str(path))
