"""Building connectors from the config file's ``[sources.NAME]`` tables.

    [sources.salesforce]
    type = "salesforce"                      # the connector (entry point name)
    username = "office@agency.example"
    password = { env = "SALESFORCE_PASSWORD" }

Every key is checked against the connector's declared settings (:mod:`exporter.settings`):
an unknown one is reported with "did you mean". ``sync`` then skips that source only (a typo
in one vendor's table must not cost the other vendors their night); ``check`` refuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from exporter.config import Config
from exporter.connector import Connector
from exporter.errors import ConfigError, ExporterError, SecretInConfig
from exporter.plugin import CONNECTORS, plugin_class
from exporter.secrets import split_settings
from exporter.settings import check_table, did_you_mean, unknown_keys
from exporter.writer import Writer

__all__ = ["build_connector", "build_connectors", "build_each", "checked_settings",
           "connector_class", "selected_sources", "unknown_key_problem"]

log = logging.getLogger("exporter.sources")


def connector_class(type_name: str) -> type[Connector]:
    """The connector registered as ``type_name`` in the ``exporter.connectors`` group."""
    cls: type[Connector] = plugin_class(CONNECTORS, type_name)
    return cls


def checked_settings(config_path: Path, kind: Literal["sources", "targets"], name: str,
                     table: Mapping[str, Any], cls: type[Connector] | type[Writer]
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``[sources.NAME]`` or ``[targets.NAME]`` table checked against ``cls.settings``
    (defaults filled in) and split into (settings, resolved secrets)."""
    where = f"[{kind}.{name}] in {config_path}"
    checked = check_table(where, table, cls.settings, extra=("type",))
    return split_settings(config_path, name, checked, cls.secret_fields(), kind=kind)


def build_connector(name: str, table: Mapping[str, Any], config_path: Path) -> Connector:
    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str):
        raise ConfigError(f"In {config_path}, [sources.{name}] needs a type, e.g. "
                          'type = "salesforce".')
    cls = connector_class(table["type"])
    settings, secrets = checked_settings(config_path, "sources", name, table, cls)
    return cls(name, settings, secrets)


def build_connectors(config: Config, only: Iterable[str] | None = None) -> dict[str, Connector]:
    return {name: build_connector(name, table, config.path)
            for name, table in selected_sources(config, only).items()}


def build_each(config: Config, only: Iterable[str] | None = None
               ) -> tuple[dict[str, Connector], dict[str, str]]:
    """The connectors that can be built, and for each source that cannot (an unset variable,
    an unreadable keyring, a missing key file, a misspelt key) its plain message: one
    source's config problem never stops the others. A secret pasted into the config or a
    source name that is not configured still stops the run."""
    built: dict[str, Connector] = {}
    broken: dict[str, str] = {}
    for name, table in selected_sources(config, only).items():
        try:
            built[name] = build_connector(name, table, config.path)
        except SecretInConfig:
            raise
        except ExporterError as exc:
            log.warning("source %s skipped: %s: %s", name, type(exc).__name__, exc,
                        exc_info=exc if exc.__cause__ is not None else None)
            broken[name] = str(exc)
    return built, broken


def unknown_key_problem(config_path: Path, name: str, table: Any) -> str | None:
    """The "did you mean" sentence for the first key of ``[sources.NAME]`` that its connector
    does not declare, or None (also None when the type itself is missing or unknown: building
    the source says that)."""
    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str):
        return None
    try:
        cls = connector_class(table["type"])
    except ExporterError:
        return None
    allowed = [*(s.name for s in cls.settings), "type"]
    for key, hint in unknown_keys(table, allowed):
        return (f"[sources.{name}] in {config_path} has a setting '{key}' that exporter does "
                f"not know{hint}; fix or remove it ('exporter connectors --settings' lists "
                "them).")
    return None


def selected_sources(config: Config, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The ``[sources.NAME]`` tables a run syncs: all, or those named in ``only``."""
    sources = config.sources
    wanted = list(only or [])
    unknown = [n for n in wanted if n not in sources]
    if unknown:
        known = ", ".join(sources) or "none"
        raise ConfigError(f"There is no source named {', '.join(unknown)} in {config.path} "
                          f"(configured: {known}){did_you_mean(unknown[0], sources)}.")
    if not sources:
        raise ConfigError(f"No sources are configured in {config.path}; add a [sources.NAME] "
                          "table (see README), or try 'exporter sandbox serve'.")
    return {name: table for name, table in sources.items() if not wanted or name in wanted}
