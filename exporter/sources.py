"""Building connectors from the config file's ``[sources.NAME]`` tables.

    [sources.salesforce]
    type = "salesforce"                      # the connector (entry point name)
    username = "office@agency.example"
    password = { env = "SALESFORCE_PASSWORD" }

Every key is checked against the connector's declared settings (:mod:`exporter.settings`):
an unknown one is refused with "did you mean".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from exporter.config import Config
from exporter.connector import Connector
from exporter.errors import ConfigError
from exporter.plugin import CONNECTORS, plugin_class
from exporter.secrets import split_settings
from exporter.settings import check_table, did_you_mean
from exporter.writer import Writer

__all__ = ["build_connector", "build_connectors", "checked_settings", "connector_class"]


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
    return {name: build_connector(name, table, config.path)
            for name, table in sources.items() if not wanted or name in wanted}
