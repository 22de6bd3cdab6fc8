"""What every ``exporter`` command shares: the ``out`` and ``err`` consoles, :class:`State`
(the global options; the config and an open archive), ``pass_state``, ``handle_errors`` (our
errors become one plain sentence and an exit code), ``exit_code_for``, ``EXIT_CODES`` and the
``EXIT_*`` codes, and small helpers several commands use (``_size``).

Only the CLI prints and chooses exit codes (EXIT_CODES, listed in the README too). This module
imports no other ``exporter.cli*`` module, so every command module can import it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from exporter import errors
from exporter.config import Config, default_log_dir, load_config
from exporter.errors import EXIT_CODES, exit_code_for
from exporter.keys import Credential, KeyFile, Passphrase, RecoveryKey
from exporter.logs import setup_logging
from exporter.redact import redact

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
    "check_as_of",
    "drop_stdout",
    "echo_out",
    "err",
    "exit_code_for",
    "handle_errors",
    "log",
    "out",
    "pass_state",
]


log = logging.getLogger("exporter.cli")
# Before the config names a log folder (init, a config error) nothing is logged: without this
# handler Python's last resort would print the warning, with its traceback, on the screen.
logging.getLogger("exporter").addHandler(logging.NullHandler())
# A log file that cannot take a line (disk full, a file-size limit) must not print logging's
# own traceback on the screen: the command's plain message says what went wrong.
logging.raiseExceptions = False

#: Exit codes chosen by commands rather than by an error class (errors.EXIT_CODES has those).
EXIT_OK = 0
EXIT_SYNC_PARTIAL = 11
EXIT_SYNC_FAILED = 12
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_DAMAGED = 6
EXIT_COPY_FAILED = 14
EXIT_NOTIFY_FAILED = 15
EXIT_NOT_MATCHING = 13
EXIT_INTERRUPTED = 130

if TYPE_CHECKING:
    from exporter.archive import Archive

F = TypeVar("F", bound=Callable[..., Any])

_CLOSED = ("The command's output was closed before it was all written (the program reading it "
           "stopped early).")


def drop_stdout() -> None:
    """Send stdout's unwritten buffer and any later output to the null device: once the pipe
    is closed, Python's final flush at exit would otherwise fail (and say so) again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test runner's buffer)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


class _Output(Console):
    """stdout's console: a closed pipe ('exporter status | head -1') is :class:`OutputClosed`
    (exit 16, as the README says), not rich's silent exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        drop_stdout()
        raise errors.OutputClosed(_CLOSED)


def echo_out(text: str, nl: bool = True) -> None:
    """``click.echo`` to stdout, a closed pipe being :class:`OutputClosed` as for ``out``."""
    try:
        click.echo(text, nl=nl)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        drop_stdout()
        raise errors.OutputClosed(_CLOSED) from exc


# markup only where asked; never emoji codes: a fingerprint "…:CD:…" printed as a CD icon
out = _Output(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


class State:
    """What the global options say; commands ask it for the config and for an open archive."""

    def __init__(self, config_path: Path | None, key_file: Path | None, recovery: bool) -> None:
        self.config_path = config_path
        self.key_file = key_file
        self.recovery = recovery
        #: The nightly job sets this: a wrong [[copies]] or [notify] table is skipped.
        self.set_aside = False
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, set_aside=self.set_aside)
            log_dir = self._config.log_dir or default_log_dir()
            try:
                setup_logging(log_dir, self._config.log_keep_days)
            except OSError as exc:
                raise errors.ConfigError(
                    f"The log folder {log_dir} cannot be used ({exc.strerror or exc}); set "
                    "[log] dir in the config file to a folder you may write to.") from exc
        return self._config

    def credential(self) -> Credential:
        """--key-file, else the config's key file, else a recovery key if asked for, else
        EXPORTER_PASSPHRASE, else a prompt on a terminal."""
        if self.key_file is not None:
            return KeyFile(self.key_file)
        if self.recovery:
            text = os.environ.get("EXPORTER_RECOVERY_KEY")
            if not text:
                if not sys.stdin.isatty():
                    raise errors.KeyNeeded("Set EXPORTER_RECOVERY_KEY to use the recovery key "
                                           "when not running at a terminal.")
                text = click.prompt("Recovery key", hide_input=True)
            return RecoveryKey.of(text)
        key_file = self.config.key_file
        if key_file is not None and (key_file.exists() or not self._can_ask_passphrase()):
            if not key_file.exists():
                raise errors.KeyNeeded(
                    f"The key file {key_file} is missing (deleted, or on a disk that is not "
                    "plugged in). Unlock with the passphrase instead: set EXPORTER_PASSPHRASE "
                    "or run the command at a terminal (it asks), or use --recovery; then "
                    f"make a new key file with 'exporter keys add --key-file {key_file}'.")
            return KeyFile(key_file)
        if key_file is not None:  # missing, but the passphrase opens the archive too
            log.warning("key file %s is missing; unlocking with the passphrase", key_file)
        text = os.environ.get("EXPORTER_PASSPHRASE")
        if text:
            return Passphrase.of(text)
        if sys.stdin.isatty():
            return Passphrase.of(click.prompt("Passphrase", hide_input=True))
        raise errors.KeyNeeded(
            "The archive is locked and no passphrase was given: set EXPORTER_PASSPHRASE, "
            "give --key-file, or set key_file in the config file.")

    @staticmethod
    def _can_ask_passphrase() -> bool:
        return bool(os.environ.get("EXPORTER_PASSPHRASE")) or sys.stdin.isatty()

    def open(self, write: bool = False, accept_rollback: bool = False) -> Archive:
        from exporter.archive import Archive

        return Archive.open(self.config.archive, self.credential(), write=write,
                            pin=self.config.pin, accept_rollback=accept_rollback,
                            highwater_path=self.config.highwater_path)


def handle_errors(fn: F) -> F:
    """Turn our errors into one plain sentence and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.OutputClosed as exc:
            # The reader chose to stop (| head): nothing on screen, where it may be that pipe.
            log.warning("the command's output was closed before it was all written (a pipe "
                        "whose reader stopped early); stopped with exit %d", exit_code_for(exc))
            raise SystemExit(exit_code_for(exc)) from None
        except errors.ExporterError as exc:
            # The vendor's or library's own error, when there is one, goes to the log only;
            # a message that names clients goes to the screen only.
            if exc.personal:
                log.warning("%s (its message names clients: shown on screen only)",
                            type(exc).__name__)
            else:
                log.warning("%s: %s", type(exc).__name__, exc,
                            exc_info=exc if exc.__cause__ is not None else None)
            err.print(f"[bold red]Error:[/] {escape(redact(str(exc)))}", markup=True)
            raise SystemExit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err.print("Stopped. Anything not yet committed was rolled back; run the command "
                      "again to continue.")
            raise SystemExit(EXIT_INTERRUPTED) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            log.error("unexpected error\n%s", traceback.format_exc())
            from exporter.logs import log_file

            where = log_file() or "the log file"
            err.print(f"Error: exporter hit an unexpected problem ({type(exc).__name__}). "
                      f"Nothing was lost; the details are in {where}. Please send that file to "
                      "whoever supports exporter.")
            raise SystemExit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


pass_state = click.make_pass_decorator(State)




def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def check_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--as-of``: a run number, a date or an ISO time, else a command-line mistake (exit 2,
    as the README says), found before the archive is unlocked."""
    if value is None or value.strip().isdigit():
        return value
    text = value.strip()
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{value}' is neither a run number nor a date like "
                                 "2026-11-30 ('exporter status' lists the runs).") from None
    return value
