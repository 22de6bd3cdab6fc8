"""The ``exporter`` command line: the ``cli`` group, its global options, and ``main``.

Commands are thin: they parse, call library code, and print. Only the CLI prints and chooses
exit codes (:data:`exporter.errors.EXIT_CODES`, listed in the README too). The commands live
in one module per family and are imported only when they run, so ``exporter --help`` and
every command load only what they need (``bench/startup.py`` measures it):

- :mod:`exporter.cli_base`: what they share: the ``out``/``err`` consoles, :class:`State`,
  ``pass_state``, ``handle_errors`` and the ``EXIT_*`` codes
- :mod:`exporter.cli_archive`: ``init``, ``status``, ``verify``, ``history``
- :mod:`exporter.cli_print`: ``export`` and ``print`` (records and care plans out as files)
- :mod:`exporter.cli_keys`: the ``keys`` group
- :mod:`exporter.cli_sync`: ``sync``, ``check``, ``connectors``
- :mod:`exporter.cli_alerts`: ``notify``
- :mod:`exporter.cli_copies`: ``copy`` (and ``copy --fetch``)
- :mod:`exporter.cli_restore`: ``restore``
- :mod:`exporter.cli_schedule`: ``schedule``
- :mod:`exporter.cli_desk`: ``desk`` (the care-plan desk's web server)
- :mod:`exporter.cli_staff`: ``staff`` (accounts of the care-plan desk)
- :mod:`sandbox.cli`: ``sandbox``, the only command that loads the emulators

Names other code used to import from here (``State``, ``out``, ``handle_errors`` ...) are
still found here, loaded on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from exporter import __version__
from exporter.settings import did_you_mean

__all__ = ["COMMANDS", "cli", "main"]

#: Command name -> (module, attribute, the one line ``exporter --help`` shows). A test checks
#: each line against the command's own help, so the two never drift apart.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("exporter.cli_archive", "init",
             "Create the config file, the encrypted archive and its keys."),
    "setup": ("exporter.cli_setup", "setup",
              "Set up the nightly backup by answering questions: which accounts to back up "
              "(sign in to Salesforce and Google with your browser), where to put copies, who "
              "gets the alert emails."),
    "sync": ("exporter.cli_sync", "sync",
             "Copy every configured source into the archive (the nightly job)."),
    "clients": ("exporter.cli_print", "clients",
                "List the clients in the archive: number, name, and whether they are active, "
                "discharged or deleted upstream (with the date)."),
    "status": ("exporter.cli_archive", "status",
               "Say whether the archive is backed up, what it holds and how the last runs "
               "went."),
    "check": ("exporter.cli_sync", "check",
              "Test everything tonight's job needs, and say what to fix."),
    "print": ("exporter.cli_print", "print_",
              "Print a client's care plan from the archive, with no network."),
    "copy": ("exporter.cli_copies", "copy",
             "Put a second copy of the archive elsewhere."),
    "restore": ("exporter.cli_restore", "restore",
                "Restore the archive into a new vendor (HubSpot, Salesforce or CSV files)."),
    "drill": ("exporter.cli_drill", "drill",
              "Test that the archive can be recovered."),
    "verify": ("exporter.cli_archive", "verify",
               "Check the whole archive: encryption, structure, every record and file."),
    "history": ("exporter.cli_archive", "history",
                "Show every archived version of one record."),
    "diff": ("exporter.cli_diff", "diff",
             "Show what was created, changed and deleted between two runs or dates."),
    "audit": ("exporter.cli_audit", "audit",
              "Show the audit log: every print, export, restore, copy, key change and desk "
              "look-up."),
    "export": ("exporter.cli_print", "export",
               "Write archived records out as plain files, on purpose."),
    "keys": ("exporter.cli_keys", "keys",
             "Manage the passphrases, key files and recovery key that open the archive."),
    "notify": ("exporter.cli_alerts", "notify_command",
               "Alert emails: who is told when the nightly job fails, and a test message."),
    "schedule": ("exporter.cli_schedule", "schedule",
                 "Run 'exporter sync' every night: cron on Linux and macOS, Task Scheduler "
                 "on Windows."),
    "connectors": ("exporter.cli_sync", "connectors",
                   "List the installed connectors and restore targets, and their settings."),
    "desk": ("exporter.cli_desk", "desk",
             "Serve the care-plan desk: staff find a client and print, in their browser."),
    "staff": ("exporter.cli_staff", "staff",
              "Staff accounts of the care-plan desk ('exporter desk'): add, list, remove, "
              "passwd."),
    "sandbox": ("sandbox.cli", "sandbox",
                "The sandbox cloud: local Salesforce, HubSpot and Google emulators."),
}

#: Names that moved to exporter.cli_base, still importable from here.
_FROM_BASE = {"EXIT_CODES", "EXIT_COPY_FAILED", "EXIT_DAMAGED", "EXIT_INTERNAL",
              "EXIT_INTERRUPTED", "EXIT_NOTIFY_FAILED", "EXIT_NOT_MATCHING", "EXIT_OK",
              "EXIT_SYNC_FAILED", "EXIT_SYNC_PARTIAL", "EXIT_USAGE", "State", "err",
              "exit_code_for", "handle_errors", "out", "pass_state"}


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        return getattr(importlib.import_module("exporter.cli_base"), name)
    raise AttributeError(f"module 'exporter.cli' has no attribute {name!r}")


#: The options of ``exporter`` itself, given before the command.
GLOBAL_OPTIONS = ("--config", "--key-file", "--recovery")


class LazyGroup(click.Group):
    """A group whose commands are imported when they run (or when their own help is asked
    for), never to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            # 'exporter status --config x.toml': say where the global option goes.
            if exc.option_name in GLOBAL_OPTIONS and ctx.invoked_subcommand:
                name, command = exc.option_name, ctx.invoked_subcommand
                raise click.NoSuchOption(name, message=(
                    f"{exc.message.rstrip('.')}. {name} is a global option: it goes before "
                    f"the command, e.g. 'exporter {name} ... {command}'"), ctx=exc.ctx) from exc
            raise

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            ctx.fail(f"There is no command '{name}'{did_you_mean(name, COMMANDS)}; "
                     "'exporter --help' lists them.")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from exporter.cli_base import State

    ctx.obj = State(config_path, key_file, recovery)


def main() -> None:
    from exporter.terminal import encodable_output

    encodable_output()  # a cp1252 console or file must not crash on a check mark
    cli(prog_name="exporter")
