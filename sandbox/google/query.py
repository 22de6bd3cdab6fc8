"""Request languages of the Google emulator, parsed honestly (no eval).

- Drive ``q``: ``'<id>' in parents``, ``name|mimeType = / != / contains``, time comparisons
  on ``modifiedTime``/``createdTime``, ``trashed|starred = true|false``, ``and``/``or``/``not``
  and parentheses (:func:`parse_q` gives a predicate over file records).
- Partial responses: ``fields=nextPageToken,files(id,name),owners/emailAddress,*``
  (:func:`parse_fields`, :func:`apply_mask`).
- Sheets A1 ranges: ``Tab``, ``'Tab'!A1:F``, ``Tab!A:C``, ``Tab!2:5``, ``A1:B2`` (first tab)
  (:class:`A1Range`), answering with the range and values the way Sheets does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.google.content import col_letters
from sandbox.google.store import parse_time

__all__ = ["A1Range", "apply_mask", "parse_fields", "parse_q"]


Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>)|(?P<lp>\()"
                    r"|(?P<rp>\))|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")
_Q_FIELDS = {"name": "str", "mimeType": "str", "modifiedTime": "time", "createdTime": "time",
             "trashed": "bool", "starred": "bool"}


def _tokens(q: str) -> list[tuple[str, str]]:
    out, pos, q = [], 0, q.rstrip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected text at {pos}: {q[pos:pos + 10]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = m.end()
    return out


class _QParser:
    """Recursive descent over Drive's query grammar: or < and < not < term/parentheses."""

    def __init__(self, q: str, root_id: str) -> None:
        self.toks = _tokens(q)
        self.i = 0
        self.root_id = root_id

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        return value is None or self.toks[self.i][1].lower() == value

    def take(self, kind: str | None = None) -> str:
        if self.i >= len(self.toks):
            raise ValueError("unexpected end of query")
        k, v = self.toks[self.i]
        if kind is not None and k != kind:
            raise ValueError(f"expected {kind}, got {v!r}")
        self.i += 1
        return v

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.i != len(self.toks):
            raise ValueError(f"unexpected {self.toks[self.i][1]!r}")
        return pred

    def expr(self) -> Predicate:
        terms = [self.conj()]
        while self.peek("or"):
            self.take()
            terms.append(self.conj())
        return terms[0] if len(terms) == 1 else lambda r: any(t(r) for t in terms)

    def conj(self) -> Predicate:
        terms = [self.neg()]
        while self.peek("and"):
            self.take()
            terms.append(self.neg())
        return terms[0] if len(terms) == 1 else lambda r: all(t(r) for t in terms)

    def neg(self) -> Predicate:
        if self.peek("not"):
            self.take()
            inner = self.neg()
            return lambda r: not inner(r)
        if self.peek("("):
            self.take("lp")
            inner = self.expr()
            self.take("rp")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, value = self.toks[self.i] if self.i < len(self.toks) else ("", "")
        if kind == "str":  # 'id' in parents
            self.take()
            if self.take("word").lower() != "in" or self.take("word") != "parents":
                raise ValueError("only '<id>' in parents is supported")
            parent = self.root_id if value == "root" else value
            return lambda r: parent in r["parents"]
        field = self.take("word")
        ftype = _Q_FIELDS.get(field)
        if ftype is None:
            raise ValueError(f"unsupported field {field!r}")
        if self.peek("contains"):
            self.take()
            needle = self.take("str").lower()
            return lambda r: needle in str(r[field]).lower()
        op = self.take("op")
        if ftype == "bool":
            literal = self.take("word").lower()
            if literal not in ("true", "false") or op not in ("=", "!="):
                raise ValueError(f"bad comparison for {field}")
            want = literal == "true"
            return lambda r: (bool(r.get(field, False)) == want) == (op == "=")
        text = self.take("str")
        if ftype == "time":
            at = parse_time(text)
            return lambda r: _compare(parse_time(r[field]), op, at)
        if op not in ("=", "!="):
            raise ValueError(f"operator {op} not supported for {field}")
        return lambda r: (r[field] == text) == (op == "=")


def _compare(a: Any, op: str, b: Any) -> bool:
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def parse_q(q: str, root_id: str) -> Predicate:
    """A predicate over file records for a Drive ``q``; ValueError if unsupported."""
    if not q.strip():
        return lambda r: True
    return _QParser(q, root_id).parse()


Mask = dict[str, "Mask | None"]


def parse_fields(text: str) -> Mask:
    """``nextPageToken,files(id,name),a/b`` -> {"nextPageToken": None, "files": {...}, ...}."""
    pos = 0

    def group() -> Mask:
        nonlocal pos
        out: Mask = {}
        while pos < len(text):
            m = re.compile(r"\s*([A-Za-z0-9_*/.]+)\s*").match(text, pos)
            if not m:
                raise ValueError(f"bad field selection at {pos}")
            pos = m.end()
            path = m.group(1).split("/")
            sub: Mask | None = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = group()
                if pos >= len(text) or text[pos] != ")":
                    raise ValueError("unbalanced parentheses")
                pos += 1
            node = out
            for part in path[:-1]:
                nxt = node.get(part)
                if nxt is None:
                    nxt = node[part] = {}
                node = nxt
            node[path[-1]] = sub
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return out

    mask = group()
    if pos != len(text):
        raise ValueError(f"unexpected {text[pos:]!r}")
    return mask


def apply_mask(obj: Any, mask: Mask | None) -> Any:
    """Google partial response: keep only the selected keys (lists map over items)."""
    if mask is None or "*" in mask:
        return obj
    if isinstance(obj, list):
        return [apply_mask(x, mask) for x in obj]
    if isinstance(obj, dict):
        return {k: apply_mask(v, mask[k]) for k, v in obj.items() if k in mask}
    return obj


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


class A1Range:
    """A parsed A1 range: tab title and 1-based bounds (None = open to the grid's edge)."""

    _CELL = re.compile(r"([A-Za-z]{0,3})(\d*)")

    def __init__(self, tab: str, r1: int, c1: int, r2: int | None, c2: int | None) -> None:
        self.tab, self.r1, self.c1, self.r2, self.c2 = tab, r1, c1, r2, c2

    @staticmethod
    def grid(rows: list[list[str]]) -> tuple[int, int]:
        """(rowCount, columnCount) of a tab: at least 1000 x 26, like a new sheet."""
        return max(1000, len(rows)), max([26, *(len(r) for r in rows[:1])])

    @classmethod
    def parse(cls, text: str, tabs: list[str]) -> A1Range:
        def unquote_name(name: str) -> str:
            if len(name) >= 2 and name[0] == name[-1] == "'":
                return name[1:-1].replace("''", "'")
            return name

        if "!" in text:
            name, cells = text.rsplit("!", 1)
            name = unquote_name(name)
        elif unquote_name(text) in tabs:
            name, cells = unquote_name(text), ""
        else:
            name, cells = tabs[0] if tabs else "", text
        if name not in tabs:
            raise ValueError(text)
        if not cells:
            return cls(name, 1, 1, None, None)
        ends = []
        for part in cells.split(":"):
            m = cls._CELL.fullmatch(part.strip())
            if not m or not (m.group(1) or m.group(2)):
                raise ValueError(text)
            ends.append((_col_number(m.group(1)) if m.group(1) else None,
                         int(m.group(2)) if m.group(2) else None))
        if len(ends) > 2:
            raise ValueError(text)
        (ca, ra), (cb, rb) = ends[0], ends[-1]
        return cls(name, ra or 1, ca or 1, rb, cb)

    def bounds(self, rows: list[list[str]]) -> tuple[int, int]:
        nrows, ncols = self.grid(rows)
        return min(self.r2 or nrows, nrows), min(self.c2 or ncols, ncols)

    def render(self, rows: list[list[str]]) -> str:
        r2, c2 = self.bounds(rows)
        name = self.tab if re.fullmatch(r"[A-Za-z0-9_]+", self.tab) else \
            "'" + self.tab.replace("'", "''") + "'"
        start = f"{col_letters(self.c1)}{self.r1}"
        if (self.r1, self.c1) == (r2, c2):
            return f"{name}!{start}"
        return f"{name}!{start}:{col_letters(c2)}{r2}"

    def values(self, rows: list[list[str]], columns: bool = False) -> list[list[str]]:
        """The cells in range; trailing empty cells and rows omitted, as the API does."""
        r2, c2 = self.bounds(rows)
        block = [row[self.c1 - 1:c2] for row in rows[self.r1 - 1:r2]]
        if columns:
            width = max((len(r) for r in block), default=0)
            block = [[r[c] if c < len(r) else "" for r in block] for c in range(width)]
        out = []
        for row in block:
            while row and row[-1] == "":
                row = row[:-1]
            out.append(list(row))
        while out and not out[-1]:
            out.pop()
        return out
