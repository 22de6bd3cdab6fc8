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

    [[copies]]                       # or an S3-compatible object store (B2, Wasabi, MinIO, AWS)
    name = "b2"
    url = "s3://agency-copies/office"
    endpoint_url = "https://s3.eu-central-003.backblazeb2.com"   # leave out for AWS
    region = "eu-central-003"
    access_key_id = { env = "B2_KEY_ID" }              # secret references, as for sources
    secret_access_key = { file = "secrets/b2-key.txt" }

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
    """One ``[[copies]]`` table: a folder (``path``) or an object store (``url``) that
    receives dated copies of the archive. The store's secrets stay references here; they are
    resolved only when a copy there is made, listed, checked or fetched
    (:func:`exporter.copies.open_store`)."""

    name: str
    path: Path | None = None
    keep: int = 7
    after_sync: bool = False
    url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    secrets: dict[str, Any] = field(default_factory=dict, compare=False)  # references
    config_path: Path | None = None  # where relative { file = ... } references start

    @property
    def where(self) -> str:
        """The folder or the store URL: what messages, the audit log and status name."""
        return self.url if self.url else str(self.path)


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


_COPY_KEYS = ("name", "path", "url", "endpoint_url", "region", "access_key_id",
              "secret_access_key", "keep", "after_sync")
COPY_SECRET_FIELDS = ("access_key_id", "secret_access_key")
_STORE_ONLY = ("endpoint_url", "region", *COPY_SECRET_FIELDS)


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
                              f"{', '.join(unknown)}; the settings are name, path (a folder) or "
                              "url, endpoint_url, region, access_key_id and secret_access_key "
                              "(an object store), keep and after_sync.")
        folder, url = table.get("path"), table.get("url")
        if folder is not None and url is not None:
            raise ConfigError(f"{where} has both a path and a url; give one: path for a "
                              "folder, url for an object store (write two [[copies]] tables "
                              "for both).")
        if url is None and (not isinstance(folder, str) or not folder.strip()):
            raise ConfigError(f'{where} needs a path: the folder to copy to, e.g. '
                              'path = "E:/exporter-copies" (or url = "s3://bucket/prefix" '
                              'for an object store).')
        if url is not None:
            _check_store_table(where, url, table)
        elif any(k in table for k in _STORE_ONLY):
            extra = ", ".join(k for k in _STORE_ONLY if k in table)
            raise ConfigError(f"{where}: {extra} belong(s) to an object store (url = "
                              "\"s3://...\"), not to a folder copy.")
        keep = table.get("keep", 7)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(f"{where}: keep must be a whole number of copies, 1 or more.")
        after_sync = table.get("after_sync", False)
        if not isinstance(after_sync, bool):
            raise ConfigError(f"{where}: after_sync must be true or false.")
        resolved = _resolve(path, folder) if isinstance(folder, str) else None
        default = url if isinstance(url, str) else (resolved.name if resolved else "") or folder
        name = table.get("name", default)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: name must be a word in quotes, e.g. name = \"usb\".")
        if any(t.name == name for t in targets):
            raise ConfigError(f"In {path}, two copies are named '{name}'; give each its own "
                              "name.")
        targets.append(CopyTarget(
            name=name, path=resolved, keep=keep, after_sync=after_sync,
            url=url.rstrip("/") if isinstance(url, str) else None,
            endpoint_url=table.get("endpoint_url"), region=table.get("region"),
            secrets={k: table[k] for k in COPY_SECRET_FIELDS if k in table},
            config_path=path))
    return targets


def _check_store_table(where: str, url: Any, table: dict[str, Any]) -> None:
    """An object-store copy's settings, checked for shape only: the secret references are
    resolved when the copy is used, so a missing variable never breaks other commands."""
    if not isinstance(url, str) or not url.startswith("s3://") or \
            not url[len("s3://"):].split("/", 1)[0]:
        raise ConfigError(f'{where}: url must be an object store address, e.g. '
                          'url = "s3://agency-copies/office".')
    for key in ("endpoint_url", "region"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: {key} must be text in quotes.")
    endpoint = table.get("endpoint_url")
    if isinstance(endpoint, str) and not endpoint.startswith(("https://", "http://")):
        raise ConfigError(f'{where}: endpoint_url must start with https://, e.g. '
                          'endpoint_url = "https://s3.eu-central-003.backblazeb2.com".')
    missing = [k for k in COPY_SECRET_FIELDS if k not in table]
    if missing:
        raise ConfigError(f'{where} needs {" and ".join(missing)} for the object store, as '
                          'secret references, e.g. secret_access_key = { env = "B2_KEY" }.')


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
