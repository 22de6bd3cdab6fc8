"""What a care-plan view definition is: its sections, the dataclasses a parsed definition is
made of, the normalisers of client keys, and the dotted field paths it reads records with."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLIENT_PREFIX",
    "FORMATS",
    "NORMALISERS",
    "SECTIONS",
    "ClientSource",
    "Column",
    "Definition",
    "Join",
    "Section",
    "Via",
    "field_paths",
    "get_path",
    "has_path",
    "normaliser",
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


@dataclass(frozen=True)
class Column:
    label: str
    fields: tuple[str, ...]  # several fields are joined with ``sep``
    format: str = "text"
    sep: str = ", "
    emphasis: bool = False  # printed large and bold (code status, allergy substance)
    below: bool = False  # tables: printed on a full-width line under the row, when present
    optional: bool = False  # the archive may lack these fields (added by another vendor's restore)
    first: bool = False  # several fields: the first with a value, not all joined


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
    optional: bool = False  # the archive may lack the stream: printed as "Not recorded"

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
    optional: bool = False  # the archive may lack the stream (a vendor no longer used)


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
