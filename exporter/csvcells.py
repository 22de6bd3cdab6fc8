"""Cells of CSV files exporter writes for people to open in a spreadsheet (``export`` and the
CSV restore target): a text a spreadsheet would run as a formula (CSV injection, OWASP's rule:
it starts with ``=``, ``+``, ``-``, ``@``, a TAB or a CR, and is not a plain number) gets a
leading quote, so ``=HYPERLINK(...)`` from a vendor's field is shown, never run."""

from __future__ import annotations

import re

__all__ = ["FORMULA", "NUMBER", "formula_safe", "unquote_formula"]

FORMULA = re.compile(r"^[=+\-@\t\r]")
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
#: What a spreadsheet may skip before it reads a formula: spaces, line breaks (a "trim spaces"
#: import) and quotes. TAB and CR are formula starts themselves, never skipped.
LEAD = re.compile(r"^[^\S\t\r]*(?:'[^\S\t\r]*)*")


def _runs(text: str) -> bool:
    """Whether a spreadsheet could run ``text``: it starts with a formula character, after
    any spaces, line breaks and quotes, and is not a plain number."""
    core = text[LEAD.match(text).end():]  # type: ignore[union-attr]
    return bool(FORMULA.match(core)) and not NUMBER.match(core)


def formula_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it (a plain number such as -5 is
    left as it is). ``" =cmd"`` and ``"'=cmd"`` are quoted too: a spreadsheet that trims
    spaces runs the first, and the second would read back as ``=cmd`` (its quote taken for
    ours) if it were left as it is."""
    return "'" + text if _runs(text) else text


def unquote_formula(text: str | None) -> str | None:
    """The value :func:`formula_safe` quoted, as it was."""
    if text and text.startswith("'") and _runs(text[1:]):
        return text[1:]
    return text
