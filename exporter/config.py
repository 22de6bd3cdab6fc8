"""The configuration file: one TOML file in the platform's config directory, or ``--config``.

    [archive]
    path = "C:/Users/office/AppData/Local/exporter/archive.db"
    key_file = "C:/Users/office/AppData/Local/exporter/archive.key"   # optional
    stale_after_hours = 36

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

__all__ = ["Config", "default_archive_path", "default_config_path", "load_config", "write_config"]

APP = "exporter"


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP, appauthor=False) / "config.toml"


def default_archive_path() -> Path:
    return platformdirs.user_data_path(APP, appauthor=False) / "archive.db"


def default_log_dir() -> Path:
    return platformdirs.user_log_path(APP, appauthor=False)


@dataclass
class Config:
    path: Path
    archive: Path
    key_file: Path | None = None
    stale_after_hours: float = 36.0
    log_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def sources(self) -> dict[str, Any]:
        value = self.raw.get("sources", {})
        return value if isinstance(value, dict) else {}


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base.parent / p).resolve()


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
    )


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write a config file atomically (0600: it may name where the key file is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# exporter configuration. See README.md for every setting.\n\n"
    write_private_file(path, (header + tomli_w.dumps(data)).encode("utf-8"))
