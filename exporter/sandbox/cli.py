"""``exporter sandbox``: run the sandbox cloud for demos, training and restore drills."""

from __future__ import annotations

import signal
import threading
import tomllib
from pathlib import Path
from types import FrameType
from typing import Any

import click

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


@click.group()
def sandbox() -> None:
    """The sandbox cloud: local Salesforce, HubSpot and Google emulators holding a made-up
    home-care agency, for demos, staff training and restore drills.

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
@click.pass_context
def serve(ctx: click.Context, clients: int, seed: int, state: Path | None, port: int,
          empty: bool, vendors: tuple[str, ...]) -> None:
    """Serve the three emulators on 127.0.0.1 until Ctrl-C, and point the config file's
    sources at them (with --empty: its restore targets), secrets in 0600 files beside it.

    \b
    Example:
      exporter --config demo/config.toml sandbox serve --clients 100
    """
    from exporter.config import default_config_path
    from exporter.sandbox import Sandbox

    config_path = ctx.find_root().params.get("config_path") or default_config_path()
    sb = Sandbox(clients=0 if empty else clients, seed=seed, state=state,
                 vendors=vendors or ("salesforce", "hubspot", "google"))
    ports = {"salesforce": port, "hubspot": port + 1, "google": port + 2} if port else None
    sb.start(ports)
    try:
        # An empty sandbox is a restore target; a full one is something to sync from.
        section = "targets" if empty else "sources"
        merge_sources_into_config(
            config_path, sb.source_configs(config_path.parent / f"sandbox-{section}-secrets"),
            section)
        click.echo("The sandbox cloud is running:")
        for name, url in sb.urls.items():
            click.echo(f"  {name:<11} {url}")
        click.echo(f"{section.capitalize()} in {config_path} now point at it. Press Ctrl-C "
                   "to stop.")
        done = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGTERM, stop)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        sb.stop()
        click.echo("Sandbox stopped." + (f" Its data is saved in {state}." if state else ""))


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
    from exporter.sandbox import Sandbox

    sb = Sandbox(state=state)
    changes = sb.advance(days)
    sb.save(state)
    click.echo(f"{days} day(s) passed in the sandbox (now {changes.now:%Y-%m-%d}): "
               f"{len(changes.new_clients)} new clients, {len(changes.discharged)} discharged, "
               f"{len(changes.edited_clients)} edited, "
               f"{len(changes.edited_medications) + len(changes.new_medications)} medication "
               "changes.")
