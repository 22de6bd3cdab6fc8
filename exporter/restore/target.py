"""The restore target named by a ``[targets.NAME]`` table: found, checked against its
declared settings, built. The writer contract itself is :mod:`exporter.writer` (and, for
plugins, :mod:`exporter.plugin`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exporter.errors import ConfigError
from exporter.plugin import TARGETS, plugin_class
from exporter.settings import did_you_mean
from exporter.writer import Writer

__all__ = ["build_writer", "target_table", "writer_class"]


def writer_class(type_name: str) -> type[Writer]:
    """The writer registered for a target type in the ``exporter.targets`` entry-point group
    (built-in writers are registered there too, in pyproject.toml)."""
    cls: type[Writer] = plugin_class(TARGETS, type_name)
    return cls


def target_table(config_raw: Mapping[str, Any], name: str, config_path: Path) -> Any:
    """The config's ``[targets.NAME]`` table (ConfigError naming the known ones)."""
    targets = config_raw.get("targets")
    targets = targets if isinstance(targets, Mapping) else {}
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none"
        raise ConfigError(f"There is no restore target named '{name}' in {config_path} "
                          f"(targets: {known}){did_you_mean(name, targets)}; add a "
                          f'[targets.{name}] table, e.g. type = "csv" and path = "restore-csv".')
    return targets[name]


def build_writer(name: str, table: Mapping[str, Any], config_path: Path) -> Writer:
    """A writer for the config's ``[targets.NAME]`` table (settings checked, secrets
    resolved)."""
    from exporter.sources import checked_settings

    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str):
        raise ConfigError(f"In {config_path}, [targets.{name}] needs a type, e.g. "
                          'type = "hubspot" or type = "csv".')
    cls = writer_class(table["type"])
    settings, secrets = checked_settings(config_path, "targets", name, table, cls)
    return cls(name, settings, secrets)
