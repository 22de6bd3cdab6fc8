"""The one public surface for third-party connectors and restore targets.

A plugin package imports everything it needs from here, and nothing else of exporter's::

    from exporter.plugin import Batch, Connector, Record, Setting, Stream

and declares its classes as entry points in its own ``pyproject.toml``::

    [project.entry-points."exporter.connectors"]
    acme = "exporter_acme:AcmeConnector"

    [project.entry-points."exporter.targets"]
    acme = "exporter_acme:AcmeWriter"

The built-in connectors (Salesforce, HubSpot, Google) and targets (those two and CSV files)
are registered the same way in exporter's own ``pyproject.toml`` and loaded by the same
:func:`plugin_class`. Nothing here imports SQLCipher, a vendor SDK or the sandbox.
docs/plugins.md shows a complete minimal connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from exporter.connector import (
    Batch,
    CheckResult,
    Connector,
    FileBody,
    Stream,
    UnavailableStream,
    order_streams,
)
from exporter.errors import (
    AuthError,
    ConfigError,
    CursorExpired,
    ExporterError,
    ItemRefused,
    QuotaExhausted,
    RequestRefused,
    SessionExpired,
    SourceError,
    TransientError,
)
from exporter.private_files import scratch_file
from exporter.record import Record
from exporter.settings import Setting, did_you_mean
from exporter.writer import (
    AnyFields,
    FileItem,
    Link,
    ObjectInfo,
    WriteItem,
    Writer,
    WriteResult,
    chunks,
)

__all__ = [
    "CONNECTORS",
    "TARGETS",
    "AnyFields",
    "AuthError",
    "Batch",
    "CheckResult",
    "ConfigError",
    "Connector",
    "CursorExpired",
    "ExporterError",
    "FileBody",
    "FileItem",
    "ItemRefused",
    "Link",
    "Loaded",
    "ObjectInfo",
    "QuotaExhausted",
    "Record",
    "RequestRefused",
    "SessionExpired",
    "Setting",
    "SourceError",
    "Stream",
    "TransientError",
    "UnavailableStream",
    "WriteItem",
    "WriteResult",
    "Writer",
    "chunks",
    "load_plugins",
    "order_streams",
    "plugin_class",
    "scratch_file",
]

Group = Literal["exporter.connectors", "exporter.targets"]
CONNECTORS: Group = "exporter.connectors"
TARGETS: Group = "exporter.targets"
_BASES: dict[str, type] = {CONNECTORS: Connector, TARGETS: Writer}
_WHAT = {CONNECTORS: ("connector", "source"), TARGETS: ("restore target", "target")}


@dataclass
class Loaded:
    """The installed plugins of one group: classes by type name, the entry point each came
    from (type name -> "module:Class", the address people install and configure), and those
    that failed to load (type name -> why)."""

    classes: dict[str, type[Any]]
    problems: dict[str, str]
    addresses: dict[str, str]


_cache: dict[str, Loaded] = {}


def load_plugins(group: Group) -> Loaded:
    """Every installed plugin class of ``group`` by type name. Loaded once per process; a
    plugin that fails to import is reported, never raised, so it cannot stop the others."""
    if group in _cache:
        return _cache[group]
    base = _BASES[group]
    classes: dict[str, type[Any]] = {}
    problems: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for ep in metadata.entry_points(group=group):
        addresses[ep.name] = ep.value
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            problems[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not (isinstance(cls, type) and issubclass(cls, base)):
            problems[ep.name] = f"is not an exporter {base.__name__}"
            continue
        classes[ep.name] = cls
    _cache[group] = Loaded(classes, problems, addresses)
    return _cache[group]


def _load_one(group: Group, type_name: str) -> type[Any] | None:
    """Just the plugin named ``type_name`` (the last registered, as :func:`load_plugins`
    keeps), or None when it is missing or broken. A night that syncs one source imports
    only that connector: importing every installed one cost a HubSpot-only sync a third of
    a second of CPU (the Google client's modules alone 0.3 s)."""
    found = list(metadata.entry_points(group=group, name=type_name))
    if not found:
        return None
    try:
        cls = found[-1].load()
    except Exception:  # load_plugins reports it, with the others
        return None
    return cls if isinstance(cls, type) and issubclass(cls, _BASES[group]) else None


def plugin_class(group: Group, type_name: str) -> type[Any]:
    """The class registered as ``type_name`` in ``group``; ConfigError saying what is
    installed (with "did you mean") or why it failed to load."""
    if group not in _cache:
        cls = _load_one(group, type_name)
        if cls is not None:
            return cls
    loaded = load_plugins(group)  # to say what is wrong, every plugin is looked at
    if type_name in loaded.classes:
        return loaded.classes[type_name]
    what, _ = _WHAT[group]
    if type_name in loaded.problems:
        raise ConfigError(f"The {what} '{type_name}' is installed but failed to load "
                          f"({loaded.problems[type_name]}); reinstall it.")
    known = ", ".join(sorted(loaded.classes)) or "none"
    raise ConfigError(f"There is no {what} of type '{type_name}' (installed: {known})"
                      f"{did_you_mean(type_name, loaded.classes)}.")
