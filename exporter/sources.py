"""Building connectors from the config file's ``[sources.NAME]`` tables.

    [sources.salesforce]
    type = "salesforce"                      # the connector (entry point name)
    username = "office@agency.example"
    password = { env = "SALESFORCE_PASSWORD" }
    reconcile_every_days = 7                 # hard-delete check (every connector)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exporter.config import Config
from exporter.connector import Connector, connector_class
from exporter.errors import ConfigError
from exporter.secrets import split_settings

__all__ = ["build_connector", "build_connectors"]


def build_connector(name: str, table: Mapping[str, Any], config_path: Path) -> Connector:
    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str):
        raise ConfigError(f"In {config_path}, [sources.{name}] needs a type, e.g. "
                          'type = "salesforce".')
    cls = connector_class(table["type"])
    settings, secrets = split_settings(config_path, name, table, cls.secret_fields)
    return cls(name, settings, secrets)


def build_connectors(config: Config, only: Iterable[str] | None = None) -> dict[str, Connector]:
    sources = config.sources
    wanted = list(only or [])
    unknown = [n for n in wanted if n not in sources]
    if unknown:
        known = ", ".join(sources) or "none"
        raise ConfigError(f"There is no source named {', '.join(unknown)} in {config.path} "
                          f"(configured: {known}).")
    if not sources:
        raise ConfigError(f"No sources are configured in {config.path}; add a [sources.NAME] "
                          "table (see README), or try 'exporter sandbox serve'.")
    return {name: build_connector(name, table, config.path)
            for name, table in sources.items() if not wanted or name in wanted}
