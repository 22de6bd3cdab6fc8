"""Showing a new recovery key so that it cannot be lost: the key is written to the sheet (if
asked), shown and flushed, and at a terminal confirmed by typing its last group, all BEFORE
it is put in a key slot. If any of that fails, the caller changes nothing: the old recovery
key (``keys recovery``) keeps working, or nothing is created (``init``)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from exporter import errors
from exporter.cli_base import out
from exporter.recovery_sheet import recovery_lines, write_recovery_sheet

__all__ = ["present_recovery_key"]


def _flush_stdout() -> None:
    """Push the key out of our buffers; a regular file is also synced to disk."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test runner's buffer)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.fsync(fd)


def _drop_unwritable_stdout() -> None:
    """Send what is left in the stdout buffer, and any later output, to the null device: the
    output is broken, and Python would otherwise fail again flushing it at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _confirm(key: str, then: str) -> None:
    """At a terminal, ask for the key's last group (three tries)."""
    last = key.split("-")[-1]
    for _ in range(3):
        typed = click.prompt("To confirm that you wrote it down, type the last group of four "
                             "of the new recovery key", default="", show_default=False)
        if "".join(typed.split()).upper() == last:
            return
        out.print("That is not the last group; look at what you wrote down.")
    raise errors.KeyNeeded(f"The new recovery key was not confirmed; {then}")


def present_recovery_key(key: str, sheet: Path | None, archive: Path, then: str) -> None:
    """Write ``key`` to ``sheet``, show it, and confirm it at a terminal; ``then`` says what a
    failure leaves (e.g. "the old recovery key still works ...")."""
    if sheet is not None:
        try:
            write_recovery_sheet(sheet, key, archive)
        except OSError as exc:
            raise errors.write_error(exc, f"the recovery sheet {sheet}", then) from exc
    try:
        out.print("\nNew recovery key (write it down now and keep it somewhere safe; it is "
                  "shown only once):\n")
        for line in recovery_lines(key):
            out.print(f"    {line}")
        if sheet is not None:
            out.print(f"\nThe recovery key was also written to {sheet}: print it, then "
                      "delete the file.")
        _flush_stdout()
    except errors.OutputClosed as exc:  # a closed pipe: said on screen, the key matters
        raise errors.NotWritable("The output (where the new recovery key is shown) was closed "
                                 f"before it was all written; {then}") from exc
    except OSError as exc:
        _drop_unwritable_stdout()
        raise errors.write_error(exc, "the output (where the new recovery key is shown)",
                                 then) from exc
    if sys.stdin.isatty() and sys.stdout.isatty():
        _confirm(key, then)
