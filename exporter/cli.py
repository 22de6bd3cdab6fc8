"""The ``exporter`` command line: the ``cli`` group, its global options, and ``main``.

Commands are thin: they unlock, call library code, and print. Only the CLI prints and chooses
exit codes (EXIT_CODES, listed in the README too). The commands live in one module per
family, each registered here on ``cli``:

- :mod:`exporter.cli_base`: what they share: the ``out``/``err`` consoles, :class:`State`,
  ``pass_state``, ``handle_errors``, ``exit_code_for``, ``EXIT_CODES`` and the ``EXIT_*`` codes
- :mod:`exporter.cli_archive`: ``init``, ``status``, ``verify``, ``history``
- :mod:`exporter.cli_print`: ``export`` and ``print`` (records and care plans out as files)
- :mod:`exporter.cli_keys`: the ``keys`` group
- :mod:`exporter.cli_sync`: ``sync``, ``check``, ``connectors``
- :mod:`exporter.cli_alerts`: ``notify`` and the alert emails the other commands send
- :mod:`exporter.cli_copies`: ``copy`` (and ``copy --fetch``)
- :mod:`exporter.cli_restore`: ``restore``
- :mod:`sandbox.cli` and :mod:`exporter.schedule`: ``sandbox`` and ``schedule``

The names other code imports from here (``cli``, ``main``, ``EXIT_CODES``, ``State``,
``out``, ``err``, ``handle_errors``, ``exit_code_for`` ...) are re-exported.
"""

from __future__ import annotations

from pathlib import Path

import click

from exporter import __version__
from exporter.cli_alerts import notify_command
from exporter.cli_archive import history, init, last_success, status, verify, write_recovery_sheet
from exporter.cli_base import (
    EXIT_CODES,
    EXIT_COPY_FAILED,
    EXIT_DAMAGED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NOT_MATCHING,
    EXIT_NOTIFY_FAILED,
    EXIT_OK,
    EXIT_SYNC_FAILED,
    EXIT_SYNC_PARTIAL,
    EXIT_USAGE,
    State,
    err,
    exit_code_for,
    handle_errors,
    out,
    pass_state,
)
from exporter.cli_copies import copy
from exporter.cli_keys import keys
from exporter.cli_print import export, print_
from exporter.cli_restore import restore
from exporter.cli_sync import check, connectors, sync
from exporter.schedule import schedule
from sandbox.cli import sandbox

__all__ = [
    "EXIT_CODES",
    "EXIT_COPY_FAILED",
    "EXIT_DAMAGED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOTIFY_FAILED",
    "EXIT_NOT_MATCHING",
    "EXIT_OK",
    "EXIT_SYNC_FAILED",
    "EXIT_SYNC_PARTIAL",
    "EXIT_USAGE",
    "State",
    "cli",
    "err",
    "exit_code_for",
    "handle_errors",
    "last_success",
    "main",
    "out",
    "pass_state",
    "write_recovery_sheet",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exporter")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              envvar="EXPORTER_CONFIG", help="Config file (default: the platform's config "
              "directory, see 'exporter init').")
@click.option("--key-file", type=click.Path(path_type=Path), envvar="EXPORTER_KEY_FILE",
              help="Unlock the archive with this key file instead of a passphrase.")
@click.option("--recovery", is_flag=True,
              help="Unlock with the recovery key (prompted, or EXPORTER_RECOVERY_KEY).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, key_file: Path | None,
        recovery: bool) -> None:
    """Keep an encrypted copy of the agency's cloud data on this computer.

    \b
    Example:
      exporter init --archive D:/exporter/archive.db
      exporter status
    """
    ctx.obj = State(config_path, key_file, recovery)


cli.add_command(init)
cli.add_command(status)
cli.add_command(verify)
cli.add_command(history)
cli.add_command(export)
cli.add_command(keys)
cli.add_command(sync)
cli.add_command(check)
cli.add_command(connectors)
cli.add_command(notify_command)
cli.add_command(copy)
cli.add_command(print_)
cli.add_command(restore)
cli.add_command(sandbox)
cli.add_command(schedule)


def main() -> None:
    cli(prog_name="exporter")
