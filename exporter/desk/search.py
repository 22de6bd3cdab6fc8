"""Finding a client on the desk: by name (any case, with or without accents, a word or its
start, a typo or two), by client number, or by date of birth.

The index is built from the roster (exporter.careplan.roster: active, discharged and deleted
upstream clients) once per sync run and kept in memory; each client gets an opaque random
token that addresses its pages, so no name or number ever appears in a URL.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.careplan.build import Client
from exporter.careplan.model import NORMALISERS, Definition, get_path

__all__ = ["Entry", "SearchIndex", "parse_dates"]

MAX_RESULTS = 50
_fold = NORMALISERS["text"]


@dataclass(frozen=True)
class Entry:
    token: str
    client: Client
    status: str  # active, discharged, deleted
    deleted_at: str | None
    birth_iso: str
    folded: str = ""  # the name without case or accents, for matching and sorting


def parse_dates(text: str) -> set[str]:
    """The ISO dates ``text`` may mean: 1942-03-15, 15/03/1942 or 03/15/1942 (both when
    ambiguous), 15.03.1942, 15 Mar 1942, March 15 1942."""
    t = text.strip().rstrip(".")
    found: set[str] = set()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", t)
    candidates = [(m.group(1), m.group(2), m.group(3))] if m else []
    m = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", t)
    if m:
        candidates += [(m.group(3), m.group(2), m.group(1)), (m.group(3), m.group(1),
                                                               m.group(2))]
    for y, mo, d in candidates:
        try:
            found.add(dt.date(int(y), int(mo), int(d)).isoformat())
        except ValueError:
            pass
    for fmt in ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y"):
        try:
            found.add(dt.datetime.strptime(t.replace(",", ""), fmt).date().isoformat())
        except ValueError:
            pass
    return found


class SearchIndex:
    """The clients of one sync run, searchable; tokens stay the same across rebuilds."""

    def __init__(self, definition: Definition, tokens: dict[str, str] | None = None) -> None:
        self.definition = definition
        self._tokens = tokens if tokens is not None else {}
        self.entries: list[Entry] = []
        self.by_token: dict[str, Entry] = {}
        self._by_key: dict[str, list[int]] = {}
        self._by_birth: dict[str, list[int]] = {}
        self._by_word: dict[str, set[int]] = {}
        self._words_by_len: dict[int, list[str]] = {}

    def _token(self, record_id: str) -> str:
        if record_id not in self._tokens:
            self._tokens[record_id] = secrets.token_urlsafe(16)
        return self._tokens[record_id]

    def build(self, rows: Iterable[tuple[Client, str, str | None]]) -> SearchIndex:
        """A new index over ``rows`` (client, status, deleted-at), keeping the tokens."""
        index = SearchIndex(self.definition, self._tokens)
        birth_path = self.definition.birthdate_field
        for client, status, deleted_at in rows:
            births = get_path(client.data, birth_path) if birth_path else []
            entry = Entry(index._token(client.record_id), client, status, deleted_at,
                          str(births[0])[:10] if births else "", _fold(client.name))
            i = len(index.entries)
            index.entries.append(entry)
            index.by_token[entry.token] = entry
            index._by_key.setdefault(client.key, []).append(i)
            if entry.birth_iso:
                index._by_birth.setdefault(entry.birth_iso, []).append(i)
            for word in entry.folded.split():
                index._by_word.setdefault(word, set()).add(i)
        for word in index._by_word:
            index._words_by_len.setdefault(len(word), []).append(word)
        return index

    def _word_hits(self, word: str) -> set[int]:
        """Clients with a name word that starts with ``word``, contains it (3 letters or
        more), or is a near miss of it (a typo: one or two letters wrong)."""
        hits: set[int] = set()
        for name_word, ids in self._by_word.items():
            if name_word.startswith(word) or (len(word) >= 3 and word in name_word):
                hits |= ids
        if len(word) >= 4:
            near = [w for n in range(len(word) - 2, len(word) + 3)
                    for w in self._words_by_len.get(n, [])]
            for w in difflib.get_close_matches(word, near, n=8, cutoff=0.75):
                hits |= self._by_word[w]
        return hits

    def search(self, query: str) -> list[Entry]:
        """The clients ``query`` means, best first (at most MAX_RESULTS)."""
        q = query.strip()
        if not q:
            return []
        key = NORMALISERS[self.definition.normalise](q)
        exact = self._by_key.get(key, [])
        if exact:
            return [self.entries[i] for i in exact]
        dates = parse_dates(q)
        if dates:
            return self._sorted({i for d in dates for i in self._by_birth.get(d, [])})
        words = _fold(q).split()
        if not words:
            return []
        found = self._word_hits(words[0])
        for word in words[1:]:
            found &= self._word_hits(word)
        whole = _fold(q)
        return self._sorted(found, first=lambda e: not e.folded.startswith(whole))

    def _sorted(self, ids: set[int], first: object = None) -> list[Entry]:
        entries = [self.entries[i] for i in ids]
        order = {"active": 0, "discharged": 1, "deleted": 2}

        def rank(e: Entry) -> tuple[object, ...]:
            lead = first(e) if callable(first) else False
            return (lead, order.get(e.status, 3), e.folded, e.client.key)

        return sorted(entries, key=rank)[:MAX_RESULTS]
