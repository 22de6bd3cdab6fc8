"""The configuration file: one TOML file in the platform's config directory, or ``--config``.

    [archive]
    path = "C:/Users/office/AppData/Local/exporter/archive.db"
    key_file = "C:/Users/office/AppData/Local/exporter/archive.key"   # optional
    stale_after_hours = 36

    [[copies]]                       # a second copy elsewhere (exporter copy); repeatable
    name = "usb"                     # optional; defaults to the folder's name
    path = "E:/exporter-copies"      # a folder: USB disk, NAS share, synced folder
    keep = 7                         # dated copies kept there (at least 1)
    after_sync = true                # `exporter sync` also makes this copy

Secrets are never required in this file: passphrases come from the environment, a prompt, the
OS keyring or a key file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from exporter.errors import ConfigError
from exporter.keys import write_private_file

__all__ = ["Config", "CopyTarget", "default_archive_path", "default_config_path", "load_config",
           "write_config"]

APP = "exporter"


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP, appauthor=False) / "config.toml"


def default_archive_path() -> Path:
    return platformdirs.user_data_path(APP, appauthor=False) / "archive.db"


def default_log_dir() -> Path:
    return platformdirs.user_log_path(APP, appauthor=False)


@dataclass(frozen=True)
class CopyTarget:
    """One ``[[copies]]`` table: a folder that receives dated copies of the archive."""

    name: str
    path: Path
    keep: int = 7
    after_sync: bool = False


@dataclass
class Config:
    path: Path
    archive: Path
    key_file: Path | None = None
    stale_after_hours: float = 36.0
    log_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    copies: list[CopyTarget] = field(default_factory=list)

    @property
    def sources(self) -> dict[str, Any]:
        value = self.raw.get("sources", {})
        return value if isinstance(value, dict) else {}


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base.parent / p).resolve()


_COPY_KEYS = ("name", "path", "keep", "after_sync")


def _copy_targets(path: Path, raw: dict[str, Any]) -> list[CopyTarget]:
    """The ``[[copies]]`` tables, checked: a plain sentence for each mistake."""
    tables = raw.get("copies", [])
    if isinstance(tables, dict):
        raise ConfigError(f"In {path}, write each copy as [[copies]] (two brackets) with a "
                          "path under it.")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"In {path}, copies must be [[copies]] tables, each with a path.")
    targets: list[CopyTarget] = []
    for n, table in enumerate(tables, 1):
        where = f"In {path}, copy number {n} ([[copies]])"
        unknown = sorted(set(table) - set(_COPY_KEYS))
        if unknown:
            raise ConfigError(f"{where} has a setting exporter does not know: "
                              f"{', '.join(unknown)}; the settings are name, path, keep and "
                              "after_sync.")
        folder = table.get("path")
        if not isinstance(folder, str) or not folder.strip():
            raise ConfigError(f'{where} needs a path: the folder to copy to, e.g. '
                              'path = "E:/exporter-copies".')
        keep = table.get("keep", 7)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(f"{where}: keep must be a whole number of copies, 1 or more.")
        after_sync = table.get("after_sync", False)
        if not isinstance(after_sync, bool):
            raise ConfigError(f"{where}: after_sync must be true or false.")
        resolved = _resolve(path, folder)
        name = table.get("name", resolved.name or folder)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: name must be a word in quotes, e.g. name = \"usb\".")
        if any(t.name == name for t in targets):
            raise ConfigError(f"In {path}, two copies are named '{name}'; give each its own "
                              "name.")
        targets.append(CopyTarget(name=name, path=resolved, keep=keep, after_sync=after_sync))
    return targets


def load_config(path: Path | None) -> Config:
    path = Path(path) if path else default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"There is no config file at {path}; run 'exporter init' first, or "
                          "give the right one with --config.") from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {path} is not text (UTF-8); restore it from a "
                          "copy or run 'exporter init' again.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} has a mistake: {exc}. Fix that line and "
                          "try again.") from None
    archive = raw.get("archive")
    if not isinstance(archive, dict) or not isinstance(archive.get("path"), str):
        raise ConfigError(f"The config file {path} has no [archive] path; add one, e.g. "
                          'path = "archive.db" under [archive].')
    key_file = archive.get("key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise ConfigError(f"In {path}, [archive] key_file must be a path in quotes.")
    stale = archive.get("stale_after_hours", 36)
    if not isinstance(stale, int | float) or stale <= 0:
        raise ConfigError(f"In {path}, [archive] stale_after_hours must be a positive number.")
    log_dir = raw.get("log", {}).get("dir") if isinstance(raw.get("log"), dict) else None
    return Config(
        path=path,
        archive=_resolve(path, archive["path"]),
        key_file=_resolve(path, key_file) if key_file else None,
        stale_after_hours=float(stale),
        log_dir=_resolve(path, log_dir) if isinstance(log_dir, str) else None,
        raw=raw,
        copies=_copy_targets(path, raw),
    )


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write a config file atomically (0600: it may name where the key file is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# exporter configuration. See README.md for every setting.\n\n"
    write_private_file(path, (header + tomli_w.dumps(data)).encode("utf-8"))
