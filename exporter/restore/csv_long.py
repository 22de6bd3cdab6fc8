"""Text longer than a spreadsheet cell, for the CSV target. Excel keeps at most 32,767
characters in a cell (UTF-16 code units: an emoji counts two) and cuts a longer one
without a word, so a long note or document text would be lost in the file the office opens.
Such a value is written whole to a ``.txt`` file in the record's client folder, and the
cell holds its beginning and a plain pointer to that file; reading the CSV back (verify,
a re-run) puts the whole text back in its place."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["EXCEL_CELL", "cut", "pointer", "too_long", "whole"]

EXCEL_CELL = 32_767
#: UTF-16 code units of the text kept in the cell, leaving room for the pointer and for the
#: quote a formula-safe cell may gain
HEAD = 30_000
_POINTER = re.compile(r"…\n\n\[The whole text is in the file (files/[^\n]+\.txt)\]\Z")


def _units(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def too_long(text: str) -> bool:
    """Whether Excel would cut ``text`` (with a formula-safe quote) short."""
    return len(text) > EXCEL_CELL // 2 - 1 and _units(text) + 1 > EXCEL_CELL


def cut(text: str, rel: str) -> str:
    """The cell for a long ``text`` written whole to ``rel`` (a path under the folder)."""
    units = 0
    end = len(text)
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > HEAD:
            end = i
            break
    return f"{text[:end]}…\n\n[The whole text is in the file {rel}]"


def pointer(cell: str) -> str | None:
    """The file a cell made by :func:`cut` names, else None."""
    if len(cell) < HEAD // 2:
        return None
    found = _POINTER.search(cell)
    return found.group(1) if found else None


def whole(folder: Path, cell: str) -> str:
    """The value a cell stands for: the whole text of the file it points to (inside
    ``folder``'s ``files``, beginning as the cell does), else the cell itself."""
    rel = pointer(cell)
    if rel is None or ".." in Path(rel).parts:
        return cell
    path = folder / rel
    try:
        if not path.resolve().is_relative_to(folder.resolve()):
            return cell  # a link planted in the folder: never read through it
        text = path.read_bytes().decode("utf-8-sig")  # bytes: line ends kept as written
    except (OSError, UnicodeDecodeError):
        return cell
    head = cell[: cell.rindex("…\n\n[")]
    return text if text.startswith(head) else cell
