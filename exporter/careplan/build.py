"""Building care plans: the archive's records, joined on the client key as a view definition
says, into :class:`CarePlan` objects that the templates print.

    view = ArchiveView(archive, as_of=run_id)
    clients = find_clients(view, definition, "zoe muller")     # by name or id
    plan = build_care_plan(view, definition, clients[0], now)
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from exporter.careplan.definition import (
    CLIENT_PREFIX,
    NORMALISERS,
    Column,
    Definition,
    Section,
    get_path,
    suggest,
)
from exporter.errors import AmbiguousClient, NoSuchClient
from exporter.record import printable

__all__ = [
    "AmbiguousClient",
    "ArchiveView",
    "CarePlan",
    "Client",
    "Row",
    "SectionView",
    "binder_clients",
    "build_care_plan",
    "find_clients",
]

Rec = tuple[str, Mapping[str, Any]]
SHORT = 14  # values up to this long are never wrapped
# A records table's width in characters of 11.5pt body text (about 2.43 mm each: the 180 mm
# between A4 margins, less the record column), the record column's share (an 18-20 character
# record id in 5.5pt on one line) and a cell's padding.
TABLE_CHARS = 63.5
REF_COLUMN = 14.5
CELL_PAD = 1.3
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
             "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}




class ArchiveView:
    """The archive's records as of one run, read once per stream and indexed on demand.

    With ``bulk=False`` (one client) exact-value joins read only the records whose JSON text
    contains the value, instead of whole streams: a few rows of a large associations or
    medications stream rather than all of them."""

    def __init__(self, archive: Any, as_of: int | None = None, bulk: bool = True) -> None:
        self.archive = archive
        self.as_of = as_of
        self.bulk = bulk
        self._records: dict[str, list[Rec]] = {}
        self._indexes: dict[tuple[str, str, str], dict[str, list[Rec]]] = {}

    def records(self, stream: str) -> list[Rec]:
        if stream not in self._records:
            source, name = stream.split("/", 1)
            self._records[stream] = [(rid, data) for rid, data in
                                     self.archive.records(source, name, as_of=self.as_of)
                                     if isinstance(data, Mapping)]
        return self._records[stream]

    def index(self, stream: str, path: str, norm: str) -> dict[str, list[Rec]]:
        key = (stream, path, norm)
        if key not in self._indexes:
            fn = NORMALISERS[norm]
            idx: dict[str, list[Rec]] = {}
            for rec in self.records(stream):
                for value in get_path(rec[1], path):
                    if isinstance(value, str | int | float) and not isinstance(value, bool):
                        idx.setdefault(fn(str(value)), []).append(rec)
            self._indexes[key] = idx
        return self._indexes[key]

    def lookup(self, stream: str, path: str, norm: str, values: Iterable[Any]) -> list[Rec]:
        """The records whose value at ``path`` normalises to one of ``values`` (normalised
        the same way), in record-id order."""
        fn = NORMALISERS[norm]
        wanted = {fn(str(v)) for v in values if isinstance(v, str | int | float)}
        found: dict[str, Rec] = {}
        if self.bulk or norm != "exact" or stream in self._records:
            idx = self.index(stream, path, norm)
            for w in wanted:
                found.update((r[0], r) for r in idx.get(w, []))
        else:
            for w in wanted:
                for rec in self._containing(stream, w):
                    if any(fn(str(v)) == w for v in get_path(rec[1], path)
                           if isinstance(v, str | int | float) and not isinstance(v, bool)):
                        found[rec[0]] = rec
        return [found[k] for k in sorted(found)]

    def _containing(self, stream: str, text: str) -> Iterator[Rec]:
        """Records whose canonical JSON contains ``text`` as written in a JSON string: a
        superset of those holding the value exactly."""
        source, name = stream.split("/", 1)
        needle = json.dumps(text, ensure_ascii=False)[1:-1]
        for rid, value in self.archive.records(source, name, as_of=self.as_of,
                                               containing=needle):
            if isinstance(value, Mapping):
                yield rid, value


@dataclass(frozen=True)
class Client:
    key: str  # normalised client key
    display_key: str
    name: str
    birthdate: str  # formatted, "" when unknown
    record_id: str
    data: Mapping[str, Any] = field(compare=False, repr=False)


@dataclass
class Row:
    cells: list[str]
    ref: str  # the record id, printed small so the record can be found again
    group: str = ""


@dataclass
class SectionView:
    id: str
    title: str
    layout: str
    stream: str | None
    labels: list[str] = field(default_factory=list)
    emphasis: list[bool] = field(default_factory=list)
    multiline: list[bool] = field(default_factory=list)
    below: list[bool] = field(default_factory=list)
    nowrap: list[bool] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.layout != "signoff" and not any(any(c for c in r.cells) for r in self.rows)

    def inline(self) -> list[int]:
        """Indexes of the columns printed as table cells (the others go below the row)."""
        return [i for i, b in enumerate(self.below) if not b] if self.below else \
            list(range(len(self.labels)))

    def field_rows(self) -> list[list[int]]:
        """A fields section's label/value pairs, two to a line; long or emphasised values
        get a line of their own."""
        rows: list[list[int]] = []
        cells = self.rows[0].cells if self.rows else []
        for i in range(len(self.labels)):
            wide = self.multiline[i] or self.emphasis[i] or len(cells[i] if i < len(cells)
                                                                else "") > 24
            if wide:
                rows.append([i])
            elif rows and len(rows[-1]) == 1 and rows[-1][-1] not in self._wide(cells):
                rows[-1].append(i)
            else:
                rows.append([i])
        return rows

    def _wide(self, cells: list[str]) -> set[int]:
        return {i for i in range(len(self.labels)) if self.multiline[i] or self.emphasis[i]
                or len(cells[i] if i < len(cells) else "") > 24}

    def unwrapped(self, i: int) -> bool:
        """Column ``i`` is printed without wrapping (dates, times, short values: phones)."""
        return self.nowrap[i] or max((len(r.cells[i]) for r in self.rows), default=0) <= SHORT

    def columns(self) -> list[tuple[int, float, bool]]:
        """(column index, width in % of the table, printed unwrapped) for each inline column.

        Records tables are laid out with ``table-layout: fixed`` (automatic table layout is a
        fifth of WeasyPrint's time for a binder), so the widths are worked out here. Every
        column first gets its longest word (never split: "Acetaminophen" must stay whole), or
        its whole value when it is printed unwrapped (dates, times, phone numbers); then the
        room left goes to the columns that need least to fit most of their values on one
        line (then all of them), so short values (a dose, a name) stay whole and long text
        wraps. Widths are counted in
        characters of body text; the record column keeps REF_COLUMN % of the table.
        """
        room = TABLE_CHARS
        cols = []
        for i in self.inline():
            scale = 1.3 if self.emphasis[i] else 1.0  # bold and larger
            texts = [r.cells[i] or "—" for r in self.rows] or [""]
            lengths = sorted(len(line) for t in texts for line in (t.splitlines() or [""]))
            longest, typical = lengths[-1], lengths[(len(lengths) * 3) // 4]
            words = [w for t in texts for w in t.split()]
            # an address (email, web) may break anywhere; a word (a drug's name) may not
            word = max((min(len(w), 16) if any(c in w for c in "@/.") else min(len(w), 30)
                        for w in words), default=0)
            # headings are bold capitals: wider per character, and never split inside a word
            label = max((len(w) for w in self.labels[i].split()), default=0) * 1.2
            unwrapped = self.unwrapped(i)
            word_low = max(word * scale, label) + CELL_PAD
            low = max(longest * scale + CELL_PAD, word_low) if unwrapped else word_low
            high = max(longest * scale, label) + CELL_PAD
            usual = min(max(typical * scale, label) + CELL_PAD, high)
            cols.append([i, low, high, unwrapped, usual, word_low])
        # too wide: let unwrapped columns wrap between words, the one that saves most first
        for c in sorted(cols, key=lambda c: c[5] - c[1]):
            if sum(c[1] for c in cols) <= room:
                break
            c[1], c[3] = c[5], False
        widths = [c[1] for c in cols]
        spare = room - sum(widths)
        if spare < 0:  # even single words do not fit: squeeze every column alike
            widths = [w * room / sum(widths) for w in widths]
        else:
            for want in (4, 2):  # most values on one line first, then the longest ones
                for n in sorted(range(len(cols)), key=lambda n: cols[n][want] - widths[n]):
                    grant = max(0.0, min(cols[n][want] - widths[n], spare))
                    widths[n] += grant
                    spare -= grant
            if spare > 0:  # everything fits on one line: share out the rest by width
                total = sum(widths)
                widths = [w + spare * w / total for w in widths]
        scale_pct = (100.0 - REF_COLUMN) / room
        return [(int(c[0]), round(w * scale_pct, 2), bool(c[3]))
                for c, w in zip(cols, widths, strict=True)]

    def below_cells(self, row: Row) -> list[tuple[str, str, bool]]:
        """(label, text, multiline) of the row's below-the-row columns that have a value."""
        return [(self.labels[i], row.cells[i], self.multiline[i])
                for i, b in enumerate(self.below) if b and row.cells[i]]

    @property
    def long(self) -> bool:
        """Too long to keep on one page (may break inside)."""
        return sum(len(c) for r in self.rows for c in r.cells) > 1500

    @property
    def source_label(self) -> str:
        return self.stream.replace("/", " · ") if self.stream else ""

    def groups(self) -> list[tuple[str, list[Row]]]:
        out: list[tuple[str, list[Row]]] = []
        for row in self.rows:
            if not out or out[-1][0] != row.group:
                out.append((row.group, []))
            out[-1][1].append(row)
        return out


@dataclass
class CarePlan:
    client: Client
    sections: list[SectionView]
    source: str  # "salesforce · Account"

    def section(self, sid: str) -> SectionView | None:
        return next((s for s in self.sections if s.id == sid), None)


# -- filters, formats and sorting -------------------------------------------------------------


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected or (isinstance(value, str) and
                                     value.lower() == str(expected).lower())
    if isinstance(expected, str) and isinstance(value, str):
        return value.strip().casefold() == expected.strip().casefold()
    return bool(value == expected)


def _matches(data: Mapping[str, Any], where: Mapping[str, Any],
             exclude: Mapping[str, Any]) -> bool:
    for path, expected in where.items():
        wanted = expected if isinstance(expected, list) else [expected]
        if not any(_same(v, w) for v in get_path(data, path) for w in wanted):
            return False
    for path, expected in exclude.items():
        wanted = expected if isinstance(expected, list) else [expected]
        if any(_same(v, w) for v in get_path(data, path) for w in wanted):
            return False
    return True


class _Text(HTMLParser):
    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4"}

    HIDDEN = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(text: str) -> str:
    """Text of an HTML fragment (note bodies): tags dropped, entities decoded, never markup."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in "".join(parser.parts).splitlines()]
    return "\n".join(ln for ln in lines if ln)


def _parse_moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)  # Salesforce's +0000
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def format_value(value: Any, fmt: str) -> str:
    """The value as the plan shows it (half an emoji as the replacement character)."""
    return printable(_formatted(value, fmt))


def _formatted(value: Any, fmt: str) -> str:
    if value is None or value == "":
        return ""
    if fmt == "bool" or isinstance(value, bool):
        return "Yes" if value in (True, "true", "True", "yes") else "No"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if fmt in ("date", "day", "datetime", "time"):
        moment = _parse_moment(text)
        if moment is None:
            return text
        if moment.utcoffset() == dt.timedelta(0):
            # UTC (Salesforce sends every DateTime so): shown as this computer's clock says
            # it. A value with its own offset (a calendar event) is already wall-clock time.
            moment = moment.astimezone()
        if fmt == "date":
            return f"{moment.day} {moment:%b %Y}"
        if fmt == "day":
            return f"{moment:%a} {moment.day} {moment:%b %Y}"
        if fmt == "time":
            return f"{moment:%H:%M}"
        return f"{moment:%a} {moment.day} {moment:%b %Y}, {moment:%H:%M}"
    if fmt == "list":
        return ", ".join(p.strip() for p in text.split(";") if p.strip())
    if fmt == "html":
        return html_to_text(text)
    if fmt == "firstline":
        return text.strip().splitlines()[0] if text.strip() else ""
    if fmt == "weekday":
        return DAY_NAMES.get(text[:3].lower(), text)
    return text


def cell(data: Mapping[str, Any], col: Column, client: Mapping[str, Any] | None = None) -> str:
    parts: list[str] = []
    for path in col.fields:
        source = data
        if path.startswith(CLIENT_PREFIX):
            source, path = client or {}, path[len(CLIENT_PREFIX):]
        values = [format_value(v, col.format) for v in get_path(source, path)
                  if not isinstance(v, dict | list)]
        joined = ", ".join(v for v in values if v)
        if joined:
            parts.append(joined)
    return parts[0] if col.first and parts else col.sep.join(parts)


def _sort_key(order: str) -> Callable[[Any], tuple[int, Any]]:
    def key(value: Any) -> tuple[int, Any]:
        if value is None or value == "":
            return (1, "")
        if order == "weekday":
            day = str(value)[:3].lower()
            return (0, WEEKDAYS.index(day) if day in WEEKDAYS else 99)
        if order == "number":
            try:
                return (0, float(value))
            except (TypeError, ValueError):
                return (1, "")
        moment = _parse_moment(value) if isinstance(value, str) and len(value) >= 10 else None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return (0, moment.timestamp())
        return (0, str(value).casefold())
    return key


def _sorted(recs: list[Rec], section: Section) -> list[Rec]:
    out = list(recs)
    for path, descending, order in reversed(section.sort):
        key = _sort_key(order)

        def first(rec: Rec, path: str = path) -> Any:
            values = get_path(rec[1], path)
            return values[0] if values else None

        present = [r for r in out if first(r) not in (None, "")]
        missing = [r for r in out if first(r) in (None, "")]
        present.sort(key=lambda r: key(first(r)), reverse=descending)
        out = present + missing  # records without the value go last either way
    return out


# -- clients ------------------------------------------------------------------------------------


def _client(definition: Definition, rid: str, data: Mapping[str, Any]) -> Client | None:
    norm = NORMALISERS[definition.normalise]
    keys = [str(v) for v in get_path(data, definition.client.key) if v not in (None, "")]
    if not keys:
        return None
    name = " ".join(str(v) for f in definition.name_field for v in get_path(data, f)).strip()
    birth = ""
    if definition.birthdate_field:
        values = get_path(data, definition.birthdate_field)
        birth = format_value(values[0], "date") if values else ""
    shown = printable(keys[0])  # the key itself stays as archived: joins compare it
    return Client(norm(keys[0]), shown, printable(name) or shown, birth, rid, data)


def all_clients(view: ArchiveView, definition: Definition) -> list[Client]:
    c = definition.client
    out = []
    for rid, data in view.records(c.stream):
        if _matches(data, c.where, c.exclude):
            client = _client(definition, rid, data)
            if client is not None:
                out.append(client)
    return out


def binder_clients(view: ArchiveView, definition: Definition) -> list[Client]:
    """The clients that go into the --all binder, by name."""
    chosen = [c for c in all_clients(view, definition)
              if _matches(c.data, definition.binder_where, {})]
    return sorted(chosen, key=lambda c: (NORMALISERS["text"](c.name), c.key))


def find_clients(view: ArchiveView, definition: Definition, query: str) -> Client:
    """The one client a name or id means, tolerant of case and accents.

    Raises NoSuchClient (a NotFound, with the nearest names) or AmbiguousClient (with the
    candidates)."""
    return pick_client(all_clients(view, definition), definition, query)


def pick_client(clients: list[Client], definition: Definition, query: str) -> Client:
    """The one of ``clients`` that ``query`` means (see :func:`find_clients`)."""
    fold = NORMALISERS["text"]
    q = query.strip()
    qkey = NORMALISERS[definition.normalise](q)
    qfold = fold(q)
    tiers: list[list[Client]] = [
        [c for c in clients if qkey and c.key == qkey],
        [c for c in clients if c.record_id == q or c.record_id.lower() == q.lower()],
        [c for c in clients if fold(c.name) == qfold],
        [c for c in clients if qfold and all(t in fold(c.name) for t in qfold.split())],
    ]
    for hits in tiers:
        unique = list({c.record_id: c for c in hits}.values())
        if len(unique) == 1:
            return unique[0]
        if len(unique) > 1:
            unique.sort(key=lambda c: (fold(c.name), c.key))
            names = "; ".join(f"{c.name} ({c.display_key})" for c in unique[:10])
            more = f" and {len(unique) - 10} more" if len(unique) > 10 else ""
            raise AmbiguousClient(f"'{query}' matches {len(unique)} clients: {names}{more}. "
                                  "Give the client number to choose one.", unique)
    hint = suggest(qfold, {fold(c.name) for c in clients})
    raise NoSuchClient(f"There is no client '{query}' in the archive{hint}; give a name or a "
                       "client number like C-00001.")


# -- sections -----------------------------------------------------------------------------------


def _identity(view: ArchiveView, definition: Definition, client: Client) -> dict[str, list[Rec]]:
    ident: dict[str, list[Rec]] = {definition.client.stream: [(client.record_id, client.data)]}
    for m in definition.matches:
        found = view.lookup(m.stream, m.key, definition.normalise, [client.key])
        ident.setdefault(m.stream, []).extend(
            r for r in found if _matches(r[1], m.where, m.exclude))
    return ident


def _unique(recs: Iterable[Rec]) -> list[Rec]:
    return list({rid: (rid, data) for rid, data in recs}.values())


def section_records(view: ArchiveView, definition: Definition, section: Section, client: Client,
                    ident: dict[str, list[Rec]], now: dt.datetime) -> list[Rec]:
    assert section.stream is not None
    join = section.join
    if join is None:
        recs = list(ident.get(section.stream, []))
    elif join.target is None:
        norm = join.normalise or definition.normalise
        recs = view.lookup(section.stream, join.field, norm, [client.key])
    else:
        tstream, tpath = join.target
        norm = join.normalise or "exact"
        values = [v for _rid, data in ident.get(tstream, []) for v in get_path(data, tpath)]
        if join.via is not None:
            via = join.via
            links = view.lookup(via.stream, via.to_field, norm, values)
            values = [v for link in links if _matches(link[1], via.where, {})
                      for v in get_path(link[1], via.from_field)]
        recs = view.lookup(section.stream, join.field, norm, values)
    recs = [r for r in _unique(recs) if _matches(r[1], section.where, section.exclude)]
    if section.window_days and section.date_field:
        end = now + dt.timedelta(days=section.window_days)
        kept = []
        for rec in recs:
            values = get_path(rec[1], section.date_field)
            moment = _parse_moment(values[0]) if values else None
            if moment is None:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            if now <= moment < end:
                kept.append(rec)
        recs = kept
    recs = _sorted(recs, section)
    return recs[: section.limit] if section.limit else recs


def build_care_plan(view: ArchiveView, definition: Definition, client: Client,
                    now: dt.datetime) -> CarePlan:
    """One client's care plan; ``now`` (aware) anchors the visit window."""
    ident = _identity(view, definition, client)
    sections = []
    for s in definition.sections:
        sv = SectionView(s.id, s.title, s.layout, s.stream, note=s.note, lines=list(s.lines))
        if s.layout != "signoff":
            sv.labels = [c.label for c in s.columns]
            sv.emphasis = [c.emphasis for c in s.columns]
            sv.multiline = [c.format in ("multiline", "html") for c in s.columns]
            sv.below = [c.below and s.layout == "table" for c in s.columns]
            sv.nowrap = [c.format in ("date", "day", "time", "datetime") for c in s.columns]
            recs = section_records(view, definition, s, client, ident, now)
            if s.layout == "fields":
                recs = recs[:1]
            for rid, data in recs:
                group = ""
                if s.group_by:
                    first = (get_path(data, s.group_by) or [""])[0]
                    group = format_value(first, "weekday" if s.group_order == "weekday"
                                         else "text")
                sv.rows.append(Row([cell(data, c, client.data) for c in s.columns],
                                   printable(rid), group))
        sections.append(sv)
    return CarePlan(client, sections, definition.client.stream.replace("/", " · "))
