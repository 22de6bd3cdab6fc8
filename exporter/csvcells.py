"""Cells of CSV files exporter writes for people to open in a spreadsheet (``export`` and the
CSV restore target): a text a spreadsheet would run as a formula (CSV injection, OWASP's rule:
it starts with ``=``, ``+``, ``-``, ``@``, a TAB or a CR, and is not a plain number) gets a
leading quote, so ``=HYPERLINK(...)`` from a vendor's field is shown, never run."""

from __future__ import annotations

import re

__all__ = ["FORMULA", "NUMBER", "formula_safe", "unquote_formula"]

FORMULA = re.compile(r"^[=+\-@\t\r]")
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def formula_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it (a plain number such as -5 is
    left as it is)."""
    if FORMULA.match(text) and not NUMBER.match(text):
        return "'" + text
    return text


def unquote_formula(text: str | None) -> str | None:
    """The value :func:`formula_safe` quoted, as it was."""
    if text and text.startswith("'") and FORMULA.match(text[1:]) and not NUMBER.match(text[1:]):
        return text[1:]
    return text
