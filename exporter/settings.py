"""Declared settings: what a config table may hold, checked in one place.

Every connector, restore target and core table declares its settings as :class:`Setting`
rows (name, type, required or not, secret or not, default, one line of help). From those:

- :func:`check_table` refuses unknown keys with "did you mean", wrong types and missing
  required settings, and fills in defaults;
- ``exporter connectors --settings`` prints them, and ``docs/settings.md`` is generated from
  them (:func:`settings_markdown`; a test fails when the file is stale).

Secret settings hold a reference (``{ env = ... }``, ``{ keyring = ... }``, ``{ file = ... }``);
:mod:`exporter.secrets` resolves them. This module never reads a secret's value.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.errors import ConfigError

__all__ = ["Setting", "check_table", "did_you_mean", "is_loopback", "settings_markdown",
           "unknown_keys", "url_problem"]

#: Type names a Setting may have, and the TOML values they accept.
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "table": (dict,),
    "path": (str,),
    "url": (str,),  # https://, or http:// to this computer only (url_problem)
    "secret": (str, dict),  # a reference table; a plain string is refused by exporter.secrets
    "string or list": (str, list),
}


@dataclass(frozen=True)
class Setting:
    """One key of a config table."""

    name: str
    type: str  # a key of TYPES
    help: str  # one line, for `exporter connectors --settings` and docs/settings.md
    required: bool = False
    secret: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown setting type {self.type!r}")
        if self.secret and self.type != "secret":
            object.__setattr__(self, "type", "secret")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, in words, or None."""
        kinds = TYPES[self.type]
        if isinstance(value, bool) and bool not in kinds:
            return f"must be {_article(self.type)}, not true or false"
        if not isinstance(value, kinds):
            return f"must be {_article(self.type)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {_number(self.minimum)}"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {_number(self.maximum)}"
        if self.choices and isinstance(value, str) and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.type == "url" and isinstance(value, str):
            return url_problem(value)
        return None


def is_loopback(host: str) -> bool:
    """True for localhost and 127.x / ::1 addresses: the only hosts that may be spoken to
    unencrypted (mail with security = "none", http:// URLs)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be used, in words, or None: only https://, or plain http:// to
    this computer (the sandbox, a test double). Plain http to any other host would send
    passwords and client data in clear (issue 15: a Salesforce password was captured so)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "must be a web address such as https://example.com"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host:
        if is_loopback(host):
            return None
        return (f"must start with https:// (plain http:// to {host} would send passwords and "
                "client data unencrypted; it is allowed only to this computer)")
    return "must be a web address starting with https://"


def _article(type_name: str) -> str:
    words = {"integer": "a whole number", "number": "a number", "boolean": "true or false",
             "list": "a list", "table": "a table", "path": "a path (text)", "string": "text",
             "url": "a web address (https://)",
             "secret": 'a secret reference such as { env = "NAME" }',
             "string or list": "text or a list"}
    return words[type_name]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` naming the closest known names, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def unknown_keys(table: Mapping[str, Any], known: Iterable[str]) -> list[tuple[str, str]]:
    """(key, suggestion) for each key of ``table`` not in ``known``."""
    names = list(known)
    return [(key, did_you_mean(key, names)) for key in table if key not in names]


def check_table(where: str, table: Mapping[str, Any], settings: Sequence[Setting],
                extra: Iterable[str] = ()) -> dict[str, Any]:
    """``table`` checked against ``settings`` (``where`` names it in messages, e.g.
    ``[sources.hubspot] in C:/.../config.toml``), defaults filled in. Keys in ``extra`` are
    allowed and passed through unchecked (handled by someone else, such as ``type``)."""
    known = {s.name: s for s in settings}
    allowed = [*known, *extra]
    for key, hint in unknown_keys(table, allowed):
        raise ConfigError(f"{where} has a setting '{key}' that exporter does not know{hint}; "
                          "fix or remove it ('exporter connectors --settings' lists them).")
    out: dict[str, Any] = {}
    for s in settings:
        if s.name not in table:
            if s.required:
                raise ConfigError(f"{where} needs the setting '{s.name}' ({s.help}).")
            if s.default is not None:
                out[s.name] = s.default
            continue
        why = s.problem(table[s.name])
        if why:
            raise ConfigError(f"In {where}, {s.name} {why}.")
        out[s.name] = table[s.name]
    for key in extra:
        if key in table:
            out[key] = table[key]
    return out


def settings_markdown(title: str, intro: str, settings: Sequence[Setting]) -> str:
    """A Markdown table of ``settings`` (for docs/settings.md)."""
    lines = [f"## {title}", "", intro, "", "| setting | type | required | default | what |",
             "|---|---|---|---|---|"]
    for s in settings:
        default = "" if s.default is None else f"`{_toml(s.default)}`"
        kind = "secret reference" if s.secret else s.type
        limits = _limits(s)
        lines.append(f"| `{s.name}` | {kind} | {'yes' if s.required else 'no'} | {default} | "
                     f"{s.help}{limits} |")
    return "\n".join(lines) + "\n"


def _limits(s: Setting) -> str:
    parts = []
    if s.minimum is not None:
        parts.append(f"at least {_number(s.minimum)}")
    if s.maximum is not None:
        parts.append(f"at most {_number(s.maximum)}")
    if s.choices:
        parts.append("one of " + ", ".join(f"`{c}`" for c in s.choices))
    return f" ({'; '.join(parts)})" if parts else ""


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
