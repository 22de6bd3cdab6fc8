"""Field transforms of restore mappings: one :class:`FieldRule` applied to one record."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from exporter.errors import TransformError
from exporter.record import printable
from exporter.restore.mapping import FieldRule

__all__ = ["TransformError", "apply", "flatten", "get_path", "parse_when", "same"]

MISSING: Any = object()



def get_path(data: Mapping[str, Any] | None, path: str, prefix: str = "") -> Any:
    """The value at a dotted path; ``@name`` reads the record's own keys when a prefix (such
    as ``properties.``) applies to plain names. MISSING when absent."""
    if data is None:
        return MISSING
    full = path[1:] if path.startswith("@") else prefix + path
    node: Any = data
    for part in full.split("."):
        if isinstance(node, list) and part.isdigit():  # "attendees.0.email": a list's item
            if int(part) >= len(node):
                return MISSING
            node = node[int(part)]
            continue
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def parse_when(value: Any) -> dt.date | dt.datetime:
    """A date or datetime from ISO text (Salesforce ``+0000``, HubSpot ``Z``) or epoch ms."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    text = str(value).strip()
    if text.isdigit() and len(text) > 10:
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    if len(text) == 10:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise TransformError(f"'{value}' is not a date") from None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TransformError(f"'{value}' is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _format_when(value: Any, fmt: str) -> str:
    when = parse_when(value)
    if isinstance(when, dt.datetime):
        when = when.astimezone(dt.UTC)
    if fmt == "iso-ms":  # HubSpot's datetime form
        if not isinstance(when, dt.datetime):
            when = dt.datetime.combine(when, dt.time(), dt.UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    if fmt == "salesforce":  # Salesforce's datetime form
        if not isinstance(when, dt.datetime):
            when = dt.datetime.combine(when, dt.time(), dt.UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    return when.strftime(fmt)


def _typed(value: Any, kind: str | None) -> Any:
    if value is None or kind is None:
        return value
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes")
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TransformError(f"'{value}' is not a number") from None
        return int(number) if number.is_integer() else number
    return value


def _split(value: str, sep: str, part: str | int | None) -> str | None:
    pieces = value.split(sep) if sep.strip() else value.split()
    if part in (None, "first"):
        return pieces[0] if pieces else None
    if part == "rest":
        return sep.join(pieces[1:]) or None
    if part == "last":
        return pieces[-1] if pieces else None
    assert isinstance(part, int)
    return pieces[part] if -len(pieces) <= part < len(pieces) else None


def apply(rule: FieldRule, data: Mapping[str, Any] | None, prefix: str = "",
          parent: Callable[[str, str], Mapping[str, Any] | None] | None = None) -> Any:
    """The target value of one field for one record (None: leave the field empty).
    ``parent(stream, id)`` returns an archived parent record for ``parent =`` rules."""
    if rule.parent is not None:
        pid = get_path(data, rule.parent, prefix)
        parent_data = (parent(rule.parent_stream or "", str(pid))
                       if parent is not None and pid not in (MISSING, None) else None)
        data = parent_data
    value: Any
    if rule.first:
        found = (get_path(data, p, prefix) for p in rule.paths)
        value = next((v for v in found if v not in (MISSING, None, "")), None)
    elif rule.paths and len(rule.paths) > 1:
        parts = [get_path(data, p, prefix) for p in rule.paths]
        texts = [str(p) for p in parts if p not in (MISSING, None, "")]
        value = rule.sep.join(texts) if texts else None
    elif rule.paths:
        value = get_path(data, rule.paths[0], prefix)
        value = None if value is MISSING else value
    else:
        value = rule.value
    if isinstance(value, str) and rule.split is not None:
        value = _split(value, rule.split, rule.part)
    if rule.map is not None and value is not None:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        value = rule.map.get(key, rule.default if rule.default is not None else value)
    elif value is None and rule.default is not None:
        value = rule.default
    if rule.date is not None and value not in (None, ""):
        value = _format_when(value, rule.date)
    value = _typed(value, rule.type)
    if rule.scale is not None and value not in (None, ""):
        number = _number(value)
        value = None if number is None else round(number * rule.scale)
    if isinstance(value, str) and rule.max_length is not None:
        value = value[: rule.max_length]
    if rule.prefix_text is not None and value not in (None, ""):
        value = f"{rule.prefix_text}{value}"
    return value


def flatten(data: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a record as ``a.b`` keys (lists kept as JSON-able values)."""
    out: dict[str, Any] = {}
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def same(expected: Any, found: Any) -> bool:
    """Equal as the target stores them: empty is empty (Salesforce keeps null for ""),
    numbers by value, booleans by truth, multi-selects as sets, a list or object as the
    JSON text a cell holds, dates as instants (to the second where one side has no
    fraction: an import file's "2026-11-30T14:05:00Z")."""
    if expected in (None, "") or found in (None, ""):
        return expected in (None, "") and found in (None, "")
    if isinstance(expected, bool) or isinstance(found, bool):
        return str(expected).lower() == str(found).lower()
    if isinstance(expected, list | dict) and isinstance(found, str):
        try:
            return bool(expected == json.loads(found))
        except ValueError:
            return False
    a, b = str(expected).strip(), str(found).strip()
    if a == b or printable(a) == b:  # half an emoji: U+FFFD is the most UTF-8 keeps
        return True
    na, nb = _number(expected), _number(found)
    if na is not None and nb is not None:
        return abs(na - nb) < 1e-9
    if ";" in a or ";" in b:
        return set(a.split(";")) == set(b.split(";"))
    try:
        wa, wb = parse_when(a), parse_when(b)
    except (TransformError, ValueError, TypeError):
        return False
    if isinstance(wa, dt.datetime) and isinstance(wb, dt.datetime) and \
            not (wa.microsecond and wb.microsecond):
        return wa.replace(microsecond=0) == wb.replace(microsecond=0)
    return wa == wb
