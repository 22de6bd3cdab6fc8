"""A small, honest SOQL parser for the Salesforce emulator.

Supported: ``SELECT`` field list (plain and compound field names, or ``COUNT()``), ``FROM``
one object, ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN``, ``AND``/``OR``/``NOT`` and
parentheses, ``ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...``, ``LIMIT`` and ``OFFSET``.
Literals: quoted strings (backslash escapes), numbers, ``true``/``false``, ``null``,
unquoted dates (``2024-01-01``) and datetimes (``2024-01-01T00:00:00Z``, with optional
fraction and ``+hh:mm``/``+hhmm`` offset).

Field names may be one-level parent paths (``Client__r.Client_Number__c``); the emulator
resolves them. Not supported (MALFORMED_QUERY): deeper paths, sub-queries (child
relationships), aggregate functions other than ``COUNT()``,
``GROUP BY``, date literals such as ``LAST_N_DAYS:7``, ``INCLUDES``/``EXCLUDES``,
``FIELDS(...)``.

The module knows no schema: :func:`compile_where` binds field names through a resolver the
emulator passes in, and coerces literals to the field's type.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "And",
    "Cmp",
    "InList",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "SoqlError",
    "compile_where",
    "parse",
    "sf_datetime",
]

KEYWORDS = frozenset({
    "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc",
    "desc", "nulls", "first", "last", "limit", "offset", "true", "false", "null",
})
OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
DATETIME_CHARS = frozenset("0123456789-:.TZ+")


class SoqlError(Exception):
    """A query the emulator rejects; ``code`` is Salesforce's errorCode."""

    def __init__(self, code: str, message: str, text: str = "", pos: int | None = None):
        self.code = code
        self.detail = message
        self.text = text
        self.pos = pos
        super().__init__(self.render())

    def render(self) -> str:
        """Salesforce's message shape: the query, a caret under the column, then the text."""
        if self.pos is None or not self.text:
            return self.detail
        caret = " " * self.pos + "^"
        return (f"\n{self.text}\n{caret}\nERROR at Row:1:Column:{self.pos + 1}\n"
                f"{self.detail}")


@dataclass
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, end
    value: str
    pos: int


@dataclass
class Literal:
    kind: str  # string, number, bool, null, date, datetime
    value: Any
    pos: int


@dataclass
class Cmp:
    field: str
    pos: int
    op: str
    value: Literal


@dataclass
class InList:
    field: str
    pos: int
    values: list[Literal]
    negate: bool = False


@dataclass
class And:
    items: list[Any]


@dataclass
class Or:
    items: list[Any]


@dataclass
class Not:
    item: Any


@dataclass
class OrderItem:
    field: str
    pos: int
    desc: bool = False
    nulls_last: bool = False


@dataclass
class Query:
    text: str
    sobject: str
    sobject_pos: int
    fields: list[tuple[str, int]] = field(default_factory=list)  # (name, position)
    count: bool = False
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


# -- tokenizer ---------------------------------------------------------------------------

def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            i = _read_string(text, i, tokens)
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and text[j] in DATETIME_CHARS:
                j += 1
            tokens.append(Token(_classify_literal(text, i, j), text[i:j], i))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            tokens.append(Token("ident", text[i:j], i))
            i = j
        elif ch in "(),":
            tokens.append(Token("punct", ch, i))
            i += 1
        else:
            op = next((o for o in OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected character {ch!r}", text, i)
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("end", "", n))
    return tokens


def _read_string(text: str, start: int, tokens: list[Token]) -> int:
    out: list[str] = []
    i = start + 1
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(escapes.get(nxt, nxt))
            i += 2
        elif ch == "'":
            tokens.append(Token("string", "".join(out), start))
            return i + 1
        else:
            out.append(ch)
            i += 1
    raise SoqlError("MALFORMED_QUERY", "unterminated string literal", text, start)


def _classify_literal(text: str, i: int, j: int) -> str:
    raw = text[i:j]
    if "T" in raw:
        if sf_datetime(raw) is None:
            raise SoqlError("MALFORMED_QUERY", f"invalid datetime literal: {raw}", text, i)
        return "datetime"
    if raw.count("-") == 2 and not raw.startswith("-"):
        try:
            dt.date.fromisoformat(raw)
        except ValueError:
            raise SoqlError("MALFORMED_QUERY", f"invalid date literal: {raw}", text, i) from None
        return "date"
    try:
        float(raw)
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {raw}", text, i) from None
    return "number"


def sf_datetime(raw: str) -> str | None:
    """An ISO-8601 datetime (``Z``, ``+hh:mm`` or ``+hhmm`` offsets, optional fraction) in
    Salesforce's canonical form ``2024-01-01T00:00:00.000+0000`` (UTC), or None."""
    value = raw.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]  # +0000 -> +00:00 for fromisoformat
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return format_datetime(parsed)


def format_datetime(value: dt.datetime) -> str:
    """Salesforce's wire format; lexicographic order equals time order."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


# -- parser ------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return SoqlError("MALFORMED_QUERY", message, self.text, tok.pos)

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.value.lower() in words

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            found = self.tok.value or "end of query"
            raise self.error(f"unexpected token: '{found}'; expected {word.upper()}")
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
        if not (self.tok.kind == "punct" and self.tok.value == ch):
            raise self.error(f"expected '{ch}'")
        return self.advance()

    def advance(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def field_name(self) -> Token:
        tok = self.tok
        if tok.kind != "ident" or tok.value.lower() in KEYWORDS:
            raise self.error(f"unexpected token: '{tok.value or 'end of query'}'")
        return self.advance()

    def parse(self) -> Query:
        self.expect_kw("select")
        fields: list[tuple[str, int]] = []
        count = False
        if self.is_kw("count") and self.tokens[self.i + 1].value == "(":
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            while True:
                tok = self.field_name()
                if self.tok.kind == "punct" and self.tok.value == "(":
                    raise self.error("functions other than COUNT() are not supported", tok)
                fields.append((tok.value, tok.pos))
                if not (self.tok.kind == "punct" and self.tok.value == ","):
                    break
                self.advance()
        self.expect_kw("from")
        obj = self.field_name()
        query = Query(self.text, obj.value, obj.pos, fields, count)
        if self.is_kw("where"):
            self.advance()
            query.where = self.or_expr()
        if self.is_kw("order"):
            self.advance()
            self.expect_kw("by")
            query.order = self.order_list()
        if self.is_kw("limit"):
            self.advance()
            query.limit = self.integer()
        if self.is_kw("offset"):
            self.advance()
            query.offset = self.integer()
        if self.tok.kind != "end":
            raise self.error(f"unexpected token: '{self.tok.value}'")
        return query

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.value.isdigit():
            raise self.error("expected a non-negative integer")
        self.advance()
        return int(tok.value)

    def order_list(self) -> list[OrderItem]:
        items: list[OrderItem] = []
        while True:
            tok = self.field_name()
            item = OrderItem(tok.value, tok.pos)
            if self.is_kw("asc", "desc"):
                item.desc = self.advance().value.lower() == "desc"
            item.nulls_last = item.desc  # Salesforce's default: nulls first ascending
            if self.is_kw("nulls"):
                self.advance()
                if not self.is_kw("first", "last"):
                    raise self.error("expected FIRST or LAST")
                item.nulls_last = self.advance().value.lower() == "last"
            items.append(item)
            if not (self.tok.kind == "punct" and self.tok.value == ","):
                return items
            self.advance()

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.is_kw("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(items)

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.is_kw("and"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(items)

    def unary(self) -> Any:
        if self.is_kw("not"):
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.advance()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> Any:
        name = self.field_name()
        negate = False
        if self.is_kw("not"):
            self.advance()
            negate = True
            if not self.is_kw("in"):
                raise self.error("expected IN after NOT")
        if self.is_kw("in"):
            self.advance()
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return InList(name.value, name.pos, values, negate)
        if self.is_kw("like"):
            self.advance()
            return Cmp(name.value, name.pos, "like", self.literal())
        if self.tok.kind != "op":
            raise self.error(f"unexpected token: '{self.tok.value or 'end of query'}'")
        op = self.advance().value
        return Cmp(name.value, name.pos, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return Literal("string", tok.value, tok.pos)
        if tok.kind == "number":
            self.advance()
            return Literal("number", float(tok.value), tok.pos)
        if tok.kind == "date":
            self.advance()
            return Literal("date", tok.value, tok.pos)
        if tok.kind == "datetime":
            self.advance()
            return Literal("datetime", sf_datetime(tok.value), tok.pos)
        if self.is_kw("true", "false"):
            self.advance()
            return Literal("bool", tok.value.lower() == "true", tok.pos)
        if self.is_kw("null"):
            self.advance()
            return Literal("null", None, tok.pos)
        raise self.error(f"unexpected token: '{tok.value or 'end of query'}'; expected a value")


def parse(text: str) -> Query:
    """Parse one SOQL statement; raises :class:`SoqlError` (MALFORMED_QUERY)."""
    return _Parser(text).parse()


# -- evaluation --------------------------------------------------------------------------

#: Field types grouped by how their values compare.
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone",
                        "url", "encryptedstring", "combobox"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

Getter = Callable[[dict[str, Any]], Any]
#: resolver(field name, position) -> (getter, field type); raises SoqlError for unknown fields
Resolver = Callable[[str, int], tuple[Getter, str]]
Predicate = Callable[[dict[str, Any]], bool]


def compile_where(expr: Any, resolve: Resolver, text: str,
                  normalize_id: Callable[[str], str]) -> Predicate:
    """A predicate over stored records for a parsed WHERE expression."""
    if isinstance(expr, And):
        parts = [compile_where(e, resolve, text, normalize_id) for e in expr.items]
        return lambda rec: all(p(rec) for p in parts)
    if isinstance(expr, Or):
        parts = [compile_where(e, resolve, text, normalize_id) for e in expr.items]
        return lambda rec: any(p(rec) for p in parts)
    if isinstance(expr, Not):
        inner = compile_where(expr.item, resolve, text, normalize_id)
        return lambda rec: not inner(rec)
    if isinstance(expr, InList):
        getter, ftype = resolve(expr.field, expr.pos)
        values = {_coerce(v, ftype, expr.field, text, normalize_id) for v in expr.values}
        fold = _folder(ftype)
        if expr.negate:
            return lambda rec: fold(getter(rec)) not in values
        return lambda rec: fold(getter(rec)) in values
    assert isinstance(expr, Cmp)
    return _compile_cmp(expr, resolve, text, normalize_id)


def _folder(ftype: str) -> Callable[[Any], Any]:
    """How a stored value is normalised before comparing (text compares case-insensitively)."""
    if ftype in TEXT_TYPES:
        return lambda v: v.lower() if isinstance(v, str) else v
    if ftype in NUMBER_TYPES:
        return lambda v: float(v) if v is not None else None
    return lambda v: v


def _compile_cmp(expr: Cmp, resolve: Resolver, text: str,
                 normalize_id: Callable[[str], str]) -> Predicate:
    getter, ftype = resolve(expr.field, expr.pos)
    want = _coerce(expr.value, ftype, expr.field, text, normalize_id)
    fold = _folder(ftype)
    op = expr.op
    if op == "like":
        if ftype not in TEXT_TYPES | ID_TYPES or not isinstance(want, str):
            raise SoqlError("INVALID_FIELD", f"invalid operator on field: {expr.field}",
                            text, expr.pos)
        rx = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                                for c in want), re.IGNORECASE | re.DOTALL)
        return lambda rec: isinstance(v := getter(rec), str) and rx.fullmatch(v) is not None
    if op == "=":
        return lambda rec: fold(getter(rec)) == want
    if op == "!=":
        return lambda rec: fold(getter(rec)) != want
    if want is None:
        raise SoqlError("MALFORMED_QUERY", "null can only be compared with = or !=",
                        text, expr.value.pos)
    compare: dict[str, Callable[[Any], bool]] = {
        "<": lambda v: v < want, "<=": lambda v: v <= want,
        ">": lambda v: v > want, ">=": lambda v: v >= want,
    }
    test = compare[op]

    def pred(rec: dict[str, Any]) -> bool:
        value = fold(getter(rec))
        return value is not None and test(value)

    return pred


def _coerce(lit: Literal, ftype: str, name: str, text: str,
            normalize_id: Callable[[str], str]) -> Any:
    """A literal as a value comparable with the folded stored value, or a SoqlError in
    Salesforce's words when the literal's type does not fit the field."""
    if lit.kind == "null":
        return None
    expected = {"datetime": "dateTime", "date": "date", "boolean": "boolean"}.get(ftype)
    if ftype == "datetime" and lit.kind == "datetime":
        return lit.value
    if ftype == "date" and lit.kind == "date":
        return lit.value
    if ftype == "boolean" and lit.kind == "bool":
        return lit.value
    if ftype in NUMBER_TYPES and lit.kind == "number":
        return float(lit.value)
    if ftype in TEXT_TYPES and lit.kind == "string":
        return lit.value.lower()
    if ftype in ID_TYPES and lit.kind == "string":
        return normalize_id(lit.value)
    if expected is not None:
        quoted = " and should not be enclosed in quotes" if lit.kind == "string" else ""
        raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must "
                        f"be of type {expected}{quoted}", text, lit.pos)
    raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be "
                    f"of type {ftype} and should be enclosed in quotes"
                    if ftype in TEXT_TYPES | ID_TYPES else
                    f"value of filter criterion for field '{name}' must be of type {ftype}",
                    text, lit.pos)
