"""The configuration file: one TOML file in the platform's config directory, or ``--config``.

    [archive]
    path = "C:/Users/office/AppData/Local/exporter/archive.db"
    key_file = "C:/Users/office/AppData/Local/exporter/archive.key"   # optional
    stale_after_hours = 36

    [[copies]]                       # a second copy elsewhere (exporter copy); repeatable
    name = "usb"                     # optional; defaults to the folder's name
    path = "E:/exporter-copies"      # a folder: USB disk, NAS share, synced folder
    keep = 7                         # dated copies kept there (at least 1)
    keep_weekly = 4                  # optional: and the newest of each of the last 4 weeks
    after_sync = true                # `exporter sync` also makes this copy

    [[copies]]                       # or an S3-compatible object store (B2, Wasabi, MinIO, AWS)
    name = "b2"
    url = "s3://agency-copies/office"
    endpoint_url = "https://s3.eu-central-003.backblazeb2.com"   # leave out for AWS
    region = "eu-central-003"
    access_key_id = { env = "B2_KEY_ID" }              # secret references, as for sources
    secret_access_key = { file = "secrets/b2-key.txt" }

    [notify]                         # alert emails when the nightly job fails (exporter/notify.py)
    to = ["office@sunrise-homecare.example"]
    from = "exporter@sunrise-homecare.example"
    smtp_host = "smtp.office365.com"
    smtp_port = 587                  # default: 587 starttls, 465 tls, 25 none
    security = "starttls"            # starttls | tls | none (none only to a loopback host)
    # ca_file = "mail-ca.pem"        # optional: an internal mail server's CA (default: system's)
    username = "exporter@sunrise-homecare.example"
    password = { env = "EXPORTER_SMTP_PASSWORD" }      # a secret reference
    on = ["failure", "partial", "copy_failed", "stale"] # the default; "success" too for an OK mail
    agency = "Sunrise Home Care"     # optional: the name in the subject (default: this computer's)
    on_success = true                # optional: also a mail when the night went well
    digest_weekday = "monday"        # optional: a weekly summary that day (exporter/digest.py)

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

from exporter.config_schema import check_tables
from exporter.errors import ConfigError
from exporter.keys import write_private_file
from exporter.private_files import private_folder
from exporter.retention import Retention
from exporter.settings import is_loopback, url_problem

__all__ = ["Config", "CopyTarget", "NotifySettings", "default_archive_path",
           "default_config_path", "is_loopback", "load_config", "write_config"]

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
    keep_daily: int = 0  # by age too (grandfather-father-son): exporter.retention
    keep_weekly: int = 0
    keep_monthly: int = 0
    endpoint_url: str | None = None
    region: str | None = None
    secrets: dict[str, Any] = field(default_factory=dict, compare=False)  # references
    config_path: Path | None = None  # where relative { file = ... } references start

    @property
    def retention(self) -> Retention:
        """Which copies this destination keeps, by count and by age."""
        return Retention(self.keep, self.keep_daily, self.keep_weekly, self.keep_monthly)

    @property
    def where(self) -> str:
        """The folder or the store URL: what messages, the audit log and status name."""
        return self.url if self.url else str(self.path)


#: What [notify] on may name; the default leaves out "success".
NOTIFY_EVENTS = ("failure", "partial", "copy_failed", "stale", "success")
NOTIFY_DEFAULT_ON = ("failure", "partial", "copy_failed", "stale")
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class NotifySettings:
    """The ``[notify]`` table: who gets the alert emails and through which mail server. The
    password stays a secret reference here; it is resolved only when a mail is sent
    (:func:`exporter.notify.send`)."""

    to: tuple[str, ...]
    sender: str
    smtp_host: str
    smtp_port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    on: tuple[str, ...] = NOTIFY_DEFAULT_ON
    agency: str | None = None
    config_path: Path | None = None  # where relative { file = ... } references start
    ca_file: Path | None = None  # trust this CA (PEM) instead of the system's trust store
    ping_url: str | None = field(default=None, repr=False)  # heartbeats; it is a capability
    digest_weekday: int | None = None  # 0 = Monday: the weekly summary goes out that day


def _address(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or "@" not in value.strip(" @") or any(
            c in value for c in " ,;<>\r\n"):
        raise ConfigError(f'{where} {key} must be an email address in quotes, e.g. '
                          f'{key} = "office@sunrise-homecare.example".')
    return value.strip()


def _ping_url(where: str, value: Any) -> str | None:
    """``[notify] ping_url``: a heartbeat address (http or https only)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ConfigError(f'{where} ping_url must be a web address, e.g. '
                          'ping_url = "https://hc-ping.com/your-check-uuid".')
    return value.rstrip("/")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _success_and_digest(where: str, table: dict[str, Any], on: list[str]
                        ) -> tuple[tuple[str, ...], int | None]:
    """``on`` with ``on_success`` applied, and ``digest_weekday`` as a number (0 = Monday)."""
    on_success = table.get("on_success")
    if on_success is not None and not isinstance(on_success, bool):
        raise ConfigError(f"{where} on_success must be true or false.")
    events = [o for o in on if not (on_success is False and o == "success")]
    if on_success and "success" not in events:
        events.append("success")
    day = table.get("digest_weekday")
    if day is None:
        return tuple(dict.fromkeys(events)), None
    if not isinstance(day, str) or day.strip().lower() not in WEEKDAYS:
        raise ConfigError(f'{where} digest_weekday must be a day of the week in quotes, e.g. '
                          'digest_weekday = "monday".')
    return tuple(dict.fromkeys(events)), WEEKDAYS.index(day.strip().lower())


def _notify_settings(path: Path, raw: dict[str, Any]) -> NotifySettings | None:
    """The ``[notify]`` table, checked: a plain sentence for each mistake."""
    table = raw.get("notify")
    if table is None:
        return None
    where = f"In {path}, [notify]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table: a line [notify] with the settings under "
                          "it (see README).")
    to = table.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to:
        raise ConfigError(f'{where} needs to: who gets the alerts, e.g. '
                          'to = ["office@sunrise-homecare.example"].')
    recipients = tuple(_address(where, "to", t) for t in to)
    if "from" not in table:
        raise ConfigError(f'{where} needs from: the address the alerts come from, e.g. '
                          'from = "exporter@sunrise-homecare.example".')
    sender = _address(where, "from", table["from"])
    host = table.get("smtp_host")
    if not isinstance(host, str) or not host.strip() or " " in host.strip():
        raise ConfigError(f'{where} needs smtp_host: the mail server, e.g. '
                          'smtp_host = "smtp.office365.com".')
    host = host.strip()
    security = table.get("security", "starttls")
    if security not in _DEFAULT_PORTS:
        raise ConfigError(f'{where} security must be "starttls" (port 587), "tls" (port 465) '
                          'or "none" (only to a mail server on this computer).')
    if security == "none" and not is_loopback(host):
        raise ConfigError(f'{where} security = "none" would send the password and the alert '
                          f"unencrypted to {host}; use \"starttls\" (port 587) or \"tls\" "
                          '(port 465). "none" is allowed only for a mail server on this '
                          "computer (localhost).")
    port = table.get("smtp_port", _DEFAULT_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where} smtp_port must be a port number, e.g. 587.")
    ca_file = table.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file.strip()):
        raise ConfigError(f'{where} ca_file must be a path in quotes, e.g. '
                          'ca_file = "C:/exporter/mail-ca.pem".')
    if ca_file is not None and security == "none":
        raise ConfigError(f'{where} ca_file goes with security = "starttls" or "tls": with '
                          '"none" no certificate is checked.')
    username = table.get("username")
    if username is not None and (not isinstance(username, str) or not username.strip()):
        raise ConfigError(f"{where} username must be text in quotes (often the from address).")
    password = table.get("password")
    if isinstance(password, str):
        raise ConfigError(f'{where} password is written in plain text; keep secrets out of the '
                          'config: password = { env = "EXPORTER_SMTP_PASSWORD" }, '
                          '{ keyring = "service/user" } or { file = "path" }.')
    if password is not None and (not isinstance(password, dict) or len(password) != 1
                                 or next(iter(password)) not in ("env", "keyring", "file")):
        raise ConfigError(f"{where} password must be one of {{ env = ... }}, "
                          "{ keyring = ... } or { file = ... }.")
    if (username is None) != (password is None):
        raise ConfigError(f"{where} needs both username and password to log in to the mail "
                          "server, or neither (a server that takes mail without a login).")
    on = table.get("on", list(NOTIFY_DEFAULT_ON))
    if isinstance(on, str):
        on = [on]
    if not isinstance(on, list) or not all(isinstance(o, str) for o in on):
        raise ConfigError(f'{where} on must be a list, e.g. on = ["failure", "partial", '
                          '"copy_failed", "stale"].')
    wrong = [o for o in on if o not in NOTIFY_EVENTS]
    if wrong:
        raise ConfigError(f"{where} on names {', '.join(wrong)}, which exporter does not know; "
                          f"choose from {', '.join(NOTIFY_EVENTS)}.")
    agency = table.get("agency")
    if agency is not None and (not isinstance(agency, str) or not agency.strip()):
        raise ConfigError(f'{where} agency must be a name in quotes, e.g. '
                          'agency = "Sunrise Home Care".')
    events, digest_weekday = _success_and_digest(where, table, on)
    return NotifySettings(to=recipients, sender=sender, smtp_host=host, smtp_port=port,
                          security=security, username=username, password=password,
                          on=events, agency=agency, config_path=path,
                          ca_file=_resolve(path, ca_file.strip()) if ca_file else None,
                          ping_url=_ping_url(where, table.get("ping_url")),
                          digest_weekday=digest_weekday)


@dataclass
class Config:
    path: Path
    archive: Path
    key_file: Path | None = None
    stale_after_hours: float = 36.0
    log_dir: Path | None = None
    log_keep_days: int = 30
    raw: dict[str, Any] = field(default_factory=dict)
    copies: list[CopyTarget] = field(default_factory=list)
    notify: NotifySettings | None = None
    #: [archive] id and fingerprint as init recorded them (None in older configs): the archive
    #: opened must be that one (exporter.archive.pin).
    pin: tuple[str, str | None] | None = None
    #: (what, why) for each [[copies]] or [notify] table left out because it is wrong
    #: (only with ``load_config(..., set_aside=True)``, as the nightly job loads it).
    set_aside: list[tuple[str, str]] = field(default_factory=list)

    @property
    def highwater_path(self) -> Path:
        """The archive's high-water mark (exporter.archive.highwater), beside this file: in
        the user's private config folder, not beside the archive."""
        return self.path.with_name(self.path.name + ".highwater.json")

    @property
    def sources(self) -> dict[str, Any]:
        value = self.raw.get("sources", {})
        return value if isinstance(value, dict) else {}


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base.parent / p).resolve()


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
        by_age = _keep_by_age(where, table)
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
            name=name, path=resolved, keep=keep, after_sync=after_sync, **by_age,
            url=url.rstrip("/") if isinstance(url, str) else None,
            endpoint_url=table.get("endpoint_url"), region=table.get("region"),
            secrets={k: table[k] for k in COPY_SECRET_FIELDS if k in table},
            config_path=path))
    return targets


def _keep_by_age(where: str, table: dict[str, Any]) -> dict[str, int]:
    """keep_daily, keep_weekly and keep_monthly: whole numbers, 0 (the default) or more."""
    counts = {}
    for key in ("keep_daily", "keep_weekly", "keep_monthly"):
        value = table.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: {key} must be a whole number, 0 or more (e.g. "
                              "keep_daily = 7, keep_weekly = 4, keep_monthly = 12).")
        counts[key] = value
    return counts


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
    if isinstance(endpoint, str) and url_problem(endpoint) is not None:
        raise ConfigError(f'{where}: endpoint_url {url_problem(endpoint)}, e.g. '
                          'endpoint_url = "https://s3.eu-central-003.backblazeb2.com".')
    missing = [k for k in COPY_SECRET_FIELDS if k not in table]
    if missing:
        raise ConfigError(f'{where} needs {" and ".join(missing)} for the object store, as '
                          'secret references, e.g. secret_access_key = { env = "B2_KEY" }.')


def _set_aside_wrong_tables(path: Path, raw: dict[str, Any]
                            ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``raw`` without the [[copies]] and [notify] tables that are wrong, and what is wrong
    with each: the nightly job skips a wrong copy or mail setting instead of the whole run."""
    kept = dict(raw)
    wrong: list[tuple[str, str]] = []
    if "notify" in raw:
        try:
            check_tables(path, {"notify": raw["notify"]})
            _notify_settings(path, {"notify": raw["notify"]})
        except ConfigError as exc:
            del kept["notify"]
            wrong.append(("the alert email settings ([notify])", str(exc)))
    copies = raw.get("copies")
    if isinstance(copies, list):
        good = []
        for n, table in enumerate(copies, 1):
            try:
                check_tables(path, {"copies": [table]})
                _copy_targets(path, {"copies": [table]})
            except ConfigError as exc:
                name = table.get("name") if isinstance(table, dict) else None
                what = f"copy {name}" if isinstance(name, str) else f"copy number {n}"
                wrong.append((f"the {what} ([[copies]])", str(exc)))
            else:
                good.append(table)
        kept["copies"] = good
    return kept, wrong


def load_config(path: Path | None, *, set_aside: bool = False) -> Config:
    """The config file, checked. ``set_aside``: a wrong [[copies]] or [notify] table is left
    out and listed in :attr:`Config.set_aside` instead of refusing the whole file."""
    path = Path(path) if path else default_config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"There is no config file at {path}; run 'exporter init' first, or "
                          "give the right one with --config.") from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {path} is not text (UTF-8); restore it from a "
                          "copy or run 'exporter init' again.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} has a mistake: {exc}. Fix that line and "
                          "try again.") from exc
    wrong: list[tuple[str, str]] = []
    if set_aside:
        raw, wrong = _set_aside_wrong_tables(path, raw)
    check_tables(path, raw)
    archive = raw.get("archive")
    if not isinstance(archive, dict) or not isinstance(archive.get("path"), str):
        # A newcomer whose config 'exporter sandbox serve' wrote has no archive yet: init
        # makes one and adds its path (--config goes before the command).
        typed = f'"{path}"' if " " in str(path) else str(path)  # C:\Users\Jo Ann
        raise ConfigError(f"The config file {path} has no [archive] path; run 'exporter "
                          f"--config {typed} init' to create the archive (it adds the path), "
                          'or add one yourself, e.g. path = "archive.db" under [archive].')
    key_file = archive.get("key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise ConfigError(f"In {path}, [archive] key_file must be a path in quotes.")
    stale = archive.get("stale_after_hours", 36)
    if not isinstance(stale, int | float) or stale <= 0:
        raise ConfigError(f"In {path}, [archive] stale_after_hours must be a positive number.")
    log_dir = raw.get("log", {}).get("dir") if isinstance(raw.get("log"), dict) else None
    pin_id, fingerprint = archive.get("id"), archive.get("fingerprint")
    if not isinstance(pin_id, str | None) or not isinstance(fingerprint, str | None):
        raise ConfigError(f"In {path}, [archive] id and fingerprint must be text in quotes, as "
                          "'exporter init' wrote them.")
    return Config(
        path=path,
        archive=_resolve(path, archive["path"]),
        key_file=_resolve(path, key_file) if key_file else None,
        stale_after_hours=float(stale),
        log_dir=_resolve(path, log_dir) if isinstance(log_dir, str) else None,
        log_keep_days=int(raw.get("log", {}).get("keep_days", 30)),
        raw=raw,
        copies=_copy_targets(path, raw),
        notify=_notify_settings(path, raw),
        pin=(pin_id, fingerprint) if pin_id else None,
        set_aside=wrong,
    )


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write a config file atomically (0600: it may name where the key file is)."""
    private_folder(path.parent, exist_ok=True)  # 0700: the key file is often kept beside it
    header = "# exporter configuration. See README.md for every setting.\n\n"
    write_private_file(path, (_first_comment(path, header) + header
                              + tomli_w.dumps(data)).encode("utf-8"))


def _first_comment(path: Path, header: str) -> str:
    """The file's own first line, kept when it is a comment other than our header (a note
    the office wrote there, or the sandbox's mark that lets 'sandbox serve' reuse the file):
    rewriting the settings does not drop it. Comments further down are not kept."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return ""
    if first.startswith("#") and first.strip() != header.strip():
        return first if first.endswith("\n") else first + "\n"
    return ""
