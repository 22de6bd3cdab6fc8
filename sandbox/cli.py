"""``exporter sandbox``: run the sandbox cloud for demos, training and restore drills."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import tomllib
from pathlib import Path
from types import FrameType
from typing import Any

import click

from exporter.cli_base import handle_errors

__all__ = ["sandbox"]


def merge_sources_into_config(config_path: Path, tables: dict[str, Any],
                              section: str = "sources") -> None:
    """Put ``tables`` into the config file's [sources] (or [targets]), keeping the rest."""
    from exporter.config import write_config

    data: dict[str, Any] = {}
    if config_path.exists():
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    data[section] = tables
    write_config(config_path, data)


#: The [[copies]] entry `sandbox serve` and the demo write for the sandbox object store.
SANDBOX_COPY_NAME = "sandbox-s3"
SANDBOX_COPY_URL = "s3://copies/agency"


def sandbox_copy_table(endpoint_url: str, secret_dir: Path, *, name: str = SANDBOX_COPY_NAME,
                       url: str = SANDBOX_COPY_URL, keep: int = 3) -> dict[str, Any]:
    """A ``[[copies]]`` table pointing at the sandbox S3 emulator; its (public) credentials
    go into 0600 files under ``secret_dir``, referenced with ``{ file = ... }``."""
    from exporter.keys import write_private_file
    from sandbox.s3 import CREDENTIALS

    secret_dir.mkdir(parents=True, exist_ok=True)
    refs = {}
    for field, cred in (("access_key_id", "aws_access_key_id"),
                        ("secret_access_key", "aws_secret_access_key")):
        path = secret_dir / f"s3_{field}"
        write_private_file(path, CREDENTIALS[cred].encode())
        refs[field] = {"file": str(path)}
    return {"name": name, "url": url, "endpoint_url": endpoint_url, "region": "us-east-1",
            **refs, "keep": keep}


def merge_copy_into_config(config_path: Path, table: dict[str, Any]) -> None:
    """Add ``table`` to the config's [[copies]], replacing one of the same name; the other
    copies and the rest of the file stay."""
    from exporter.config import write_config

    data: dict[str, Any] = {}
    if config_path.exists():
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    copies = [t for t in data.get("copies", []) if isinstance(t, dict)
              and t.get("name") != table["name"]]
    data["copies"] = [*copies, table]
    write_config(config_path, data)


#: Where the sandbox's alert emails go ([notify] to).
SANDBOX_ALERTS_TO = "office@sunrise-homecare.example"


def sandbox_notify_table(host: str, port: int, secret_dir: Path) -> dict[str, Any]:
    """A ``[notify]`` table pointing at the sandbox mail server (loopback, so security
    "none"); its (public) password goes into a 0600 file under ``secret_dir``, referenced
    with ``{ file = ... }``."""
    from exporter.keys import write_private_file
    from sandbox.smtp import CREDENTIALS as SMTP_CREDENTIALS

    secret_dir.mkdir(parents=True, exist_ok=True)
    path = secret_dir / "smtp_password"
    write_private_file(path, SMTP_CREDENTIALS["password"].encode())
    return {"to": [SANDBOX_ALERTS_TO], "from": SMTP_CREDENTIALS["username"],
            "smtp_host": host, "smtp_port": port, "security": "none",
            "username": SMTP_CREDENTIALS["username"], "password": {"file": str(path)},
            "agency": "Sunrise Home Care (sandbox)"}


def merge_notify_into_config(config_path: Path, table: dict[str, Any]) -> None:
    """Put ``table`` into the config's [notify], keeping the rest of the file."""
    from exporter.config import write_config

    data: dict[str, Any] = {}
    if config_path.exists():
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    data["notify"] = table
    write_config(config_path, data)


#: The first line of a config file that `sandbox serve` wrote; it rewrites only such files.
SANDBOX_CONFIG_MARK = "# Written by 'exporter sandbox serve'"


def sandbox_config_path() -> Path:
    """The sandbox's own config file, beside (never instead of) the real one."""
    from exporter.config import default_config_path

    return default_config_path().parent / "sandbox" / "config.toml"


def claim_config(config_path: Path) -> None:
    """Refuse a config file the sandbox did not create: the office's real config (sources,
    [notify], [targets], comments) must never be rewritten to point at the sandbox."""
    from exporter.errors import ConfigError

    if not config_path.exists():
        return
    try:
        first = config_path.read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path} cannot be read; give the sandbox a new file with "
                          "--config.") from exc
    if not first.startswith(SANDBOX_CONFIG_MARK):
        raise ConfigError(
            f"{config_path} was not written by the sandbox, so it is left alone: give "
            "'exporter --config NEW-FILE sandbox serve' a file that does not exist yet, "
            "or leave out --config to use the sandbox's own.")


def _stamp_config(config_path: Path) -> None:
    """Mark the file as the sandbox's, so that the next `serve` may rewrite it."""
    from exporter.keys import write_private_file

    text = config_path.read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("#") else text
    write_private_file(config_path, f"{SANDBOX_CONFIG_MARK}: a sandbox config, not the "
                       f"office's.\n{body}".encode())


@click.group()
def sandbox() -> None:
    """The sandbox cloud: local Salesforce, HubSpot and Google emulators holding a made-up
    home-care agency, an S3-compatible object store for copies and a mail server for alert
    emails, for demos, staff training and restore drills.

    \b
    Example:
      exporter sandbox serve --clients 100 --state sandbox.json
    """


@sandbox.command()
@click.option("--clients", default=100, show_default=True, help="How many clients the agency has.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same agency.")
@click.option("--state", type=click.Path(path_type=Path),
              help="Keep the data in this file across restarts (restore targets).")
@click.option("--port", default=0, show_default=True,
              help="First of three ports (Salesforce, HubSpot, Google); 0 picks free ones.")
@click.option("--empty", is_flag=True, help="Start with no data (a fresh restore target).")
@click.option("--only", "vendors", multiple=True,
              type=click.Choice(["salesforce", "hubspot", "google"]),
              help="Serve only this vendor (repeatable); default: all three.")
@click.option("--latency", type=click.FloatRange(0, 10), default=0.0, show_default=True,
              help="Seconds each answer waits (e.g. 0.1), as a vendor across the internet does.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, clients: int, seed: int, state: Path | None, port: int,
          empty: bool, vendors: tuple[str, ...], latency: float) -> None:
    """Serve the three emulators on 127.0.0.1 until Ctrl-C, and point a config file of the
    sandbox's own at them: its sources (with --empty: its restore targets), secrets in 0600
    files beside it. Without --config that file is 'sandbox/config.toml' in the platform's
    config folder; --config must name a new file or one the sandbox wrote (the office's real
    config is never changed).
    An S3 object store with a bucket 'copies' is served too, and a [[copies]] entry named
    'sandbox-s3' points at it (try 'exporter copy --to sandbox-s3'; its objects last only
    while the sandbox runs). A mail server takes the alert emails: [notify] points at it,
    and what it receives is saved as .eml files in sandbox-mail/ beside the config (try
    'exporter notify --test').

    \b
    Example:
      exporter --config demo/config.toml sandbox serve --clients 100
    """
    from sandbox import Sandbox

    config_path = ctx.find_root().params.get("config_path") or sandbox_config_path()
    claim_config(config_path)
    sb = Sandbox(clients=0 if empty else clients, seed=seed, state=state,
                 vendors=vendors or ("salesforce", "hubspot", "google"), latency=latency)
    ports = {"salesforce": port, "hubspot": port + 1, "google": port + 2} if port else None
    from sandbox.s3 import s3_sandbox
    from sandbox.smtp import SMTPEmulator

    with contextlib.ExitStack() as stack:
        sb.start(ports)
        stack.callback(sb.stop)
        s3_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="exporter-sandbox-s3-"))
        s3_url, _creds, _emulator = stack.enter_context(s3_sandbox(s3_dir, buckets=("copies",)))
        smtp = stack.enter_context(SMTPEmulator(folder=config_path.parent / "sandbox-mail"))
        _point_config_and_wait(sb, config_path, empty, s3_url, smtp)
    click.echo("Sandbox stopped." + (f" Its data is saved in {state}." if state else ""))


def _point_config_and_wait(sb: Any, config_path: Path, empty: bool, s3_url: str,
                           smtp: Any) -> None:
    # An empty sandbox is a restore target; a full one is something to sync from.
    section = "targets" if empty else "sources"
    merge_sources_into_config(
        config_path, sb.source_configs(config_path.parent / f"sandbox-{section}-secrets"),
        section)
    merge_copy_into_config(config_path, sandbox_copy_table(
        s3_url, config_path.parent / "sandbox-copies-secrets"))
    merge_notify_into_config(config_path, sandbox_notify_table(
        smtp.host, smtp.port, config_path.parent / "sandbox-notify-secrets"))
    _stamp_config(config_path)
    click.echo("The sandbox cloud is running:")
    for name, url in sb.urls.items():
        click.echo(f"  {name:<11} {url}")
    click.echo(f"  {'s3':<11} {s3_url} (bucket copies)")
    click.echo(f"  {'smtp':<11} {smtp.host}:{smtp.port} (alert emails, saved in {smtp.folder})")
    click.echo(f"The copy '{SANDBOX_COPY_NAME}' in {config_path} goes to {SANDBOX_COPY_URL} "
               "there (its objects last while the sandbox runs).")
    click.echo(f"[notify] in {config_path} sends alert emails to {SANDBOX_ALERTS_TO} through "
               "the sandbox mail server (try 'exporter notify --test').")
    click.echo(f"{section.capitalize()} in {config_path} now point at it (use it with "
               f"'exporter --config {config_path} ...'). Press Ctrl-C to stop.")
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


@sandbox.command()
@click.argument("days", type=click.IntRange(1, 3650))
@click.option("--state", type=click.Path(path_type=Path, exists=True), required=True,
              help="The state file of a sandbox (not running).")
def advance(days: int, state: Path) -> None:
    """Let DAYS days pass in a saved sandbox: edits, new clients, discharges, deletes.

    \b
    Example:
      exporter sandbox advance 3 --state sandbox.json
    """
    from sandbox import Sandbox

    sb = Sandbox(state=state)
    changes = sb.advance(days)
    sb.save(state)
    click.echo(f"{days} day(s) passed in the sandbox (now {changes.now:%Y-%m-%d}): "
               f"{len(changes.new_clients)} new clients, {len(changes.discharged)} discharged, "
               f"{len(changes.edited_clients)} edited, "
               f"{len(changes.edited_medications) + len(changes.new_medications)} medication "
               "changes.")
