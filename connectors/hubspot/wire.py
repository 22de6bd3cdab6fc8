"""HubSpot's wire forms: its standard object types, its ISO timestamps and epoch millis, SDK
models turned back into the JSON HubSpot sent (what the archive keeps), and its paging
token."""

from __future__ import annotations

import datetime as dt
from typing import Any

from exporter.errors import SourceError

__all__ = ["STANDARD", "iso", "ms_iso", "next_after", "next_after_json", "parse_ms", "to_json"]

#: The CRM object types every portal has (custom objects come from its schemas).
STANDARD = ("contacts", "companies", "deals", "tickets", "products", "line_items", "notes",
            "tasks", "calls", "meetings", "emails")


def iso(value: dt.datetime) -> str:
    """A datetime as HubSpot writes it: ``2024-01-01T00:00:00.000Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def parse_ms(text: str) -> int:
    """Epoch millis of a HubSpot ISO timestamp (or of a millis string)."""
    if text.isdigit():
        return int(text)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def ms_iso(ms: int) -> str:
    """Epoch millis as HubSpot's ISO form."""
    return iso(dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms))


def to_json(value: Any) -> Any:
    """An SDK model as the JSON HubSpot sent: wire names (``createdAt``), datetimes in
    HubSpot's ISO form, optional fields the response left out stay out (None at the top of
    a model); values inside ``properties`` are kept as sent, nulls included."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    names = getattr(value, "attribute_map", None)
    if names is None:
        return str(value)
    out = {}
    for attr, wire in names.items():
        item = getattr(value, attr)
        if item is not None:
            out[wire] = to_json(item)
    return out


def next_after(page: Any, previous: str | None, what: str) -> str | None:
    """The next page token of a listing (``paging.next.after``), refusing a repeated one
    instead of looping forever."""
    paging = getattr(page, "paging", None)
    nxt = getattr(paging, "next", None) if paging is not None else None
    after = getattr(nxt, "after", None) if nxt is not None else None
    if not after:
        return None
    if after == previous:
        raise SourceError(f"{what}: HubSpot returned the same page twice; try again later.")
    return str(after)


def next_after_json(page: Any, previous: str | None, what: str) -> str | None:
    """:func:`next_after` for a page read as raw JSON (``{"paging": {"next": {"after"}}}``)."""
    paging = page.get("paging") if isinstance(page, dict) else None
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    if not after:
        return None
    if str(after) == previous:
        raise SourceError(f"{what}: HubSpot returned the same page twice; try again later.")
    return str(after)
