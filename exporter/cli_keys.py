"""``exporter keys``: list, add, remove and change the passphrases, key files and recovery key
that open the archive."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from exporter import errors
from exporter.cli_base import State, handle_errors, out, pass_state
from exporter.cli_recovery import present_recovery_key
from exporter.keys import create_key_file, generate_recovery_key

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Manage the passphrases, key files and recovery key that open the archive.

    \b
    Example:
      exporter keys list
    """


@keys.command("list")
@pass_state
@handle_errors
def keys_list(state: State) -> None:
    """List the key slots (never the keys themselves).

    \b
    Example:
      exporter keys list
    """
    with state.open() as archive:
        table = Table()
        for col in ("id", "kind", "label", "created", "protection"):
            table.add_column(col)
        for slot in archive.slots.slots:
            kdf = slot["kdf"]
            prot = {"argon2id": f"Argon2id m={kdf.get('memory_kib')} KiB t={kdf.get('iterations')}",
                    "scrypt": f"scrypt n={kdf.get('n')} r={kdf.get('r')}"}.get(
                        kdf.get("name"), "random key (high entropy)")
            table.add_row(slot["id"], slot["kind"], slot.get("label", ""),
                          slot.get("created", "")[:10], prot)
        out.print(table)


@keys.command("add")
@click.option("--passphrase", "add_passphrase", is_flag=True,
              help="Add a passphrase (asked twice, or EXPORTER_NEW_PASSPHRASE).")
@click.option("--key-file", "add_key_file", type=click.Path(path_type=Path),
              help="Create a new key file here and add it.")
@click.option("--label", default=None, help="A name for the slot, e.g. a person's name.")
@pass_state
@handle_errors
def keys_add(state: State, add_passphrase: bool, add_key_file: Path | None,
             label: str | None) -> None:
    """Add a passphrase or a key file that also opens the archive.

    \b
    Example:
      exporter keys add --passphrase --label "finance officer"
      exporter keys add --key-file D:/exporter/nightly.key
    """
    if add_passphrase == (add_key_file is not None):
        raise click.UsageError("Give exactly one of --passphrase or --key-file.")
    with state.open(write=True) as archive:
        master, slots = archive.master, archive.slots
        if add_key_file is not None:
            target = add_key_file.expanduser().resolve()
            if target.exists() or target.is_symlink():
                raise errors.NotWritable(f"{target} already exists: exporter never writes a "
                                         "new key file over a file; choose a new name.")
            try:
                key = create_key_file(target)
            except OSError as exc:
                raise errors.write_error(exc, f"the key file {target}", "no key was added; "
                                         "choose a folder you may write to.") from exc
            slot_id = slots.add_key_file(master, key, label or f"key file {add_key_file.name}")
        else:
            text = os.environ.get("EXPORTER_NEW_PASSPHRASE") or (
                click.prompt("New passphrase", hide_input=True, confirmation_prompt=True)
                if sys.stdin.isatty() else None)
            if not text:
                raise errors.KeyNeeded("Set EXPORTER_NEW_PASSPHRASE or run at a terminal to "
                                       "add a passphrase.")
            slot_id = slots.add_passphrase(master, text, label or "passphrase")
        slots.save(master)
        archive.audit("keys.add", {"slot": slot_id})
    out.print(f"Added key slot {slot_id}.")


@keys.command("remove")
@click.argument("slot_id")
@pass_state
@handle_errors
def keys_remove(state: State, slot_id: str) -> None:
    """Remove a key slot (the last passphrase or key file cannot be removed).

    \b
    Example:
      exporter keys remove 3f9a0c1b2d4e
    """
    with state.open(write=True) as archive:
        try:
            archive.slots.remove(slot_id)
        except ValueError as exc:
            if "no key slot" in str(exc):  # asked for, not in the archive: exit 9
                raise errors.NotFound(f"There is no key slot {slot_id}; 'exporter keys list' "
                                      "shows them.") from exc
            raise errors.ConfigError("That is the last passphrase or key file; add another "
                                     "before removing it.") from exc
        archive.slots.save(archive.master)
        archive.audit("keys.remove", {"slot": slot_id})
    out.print(f"Removed key slot {slot_id}.")


@keys.command("passwd")
@click.argument("slot_id", required=False)
@pass_state
@handle_errors
def keys_passwd(state: State, slot_id: str | None) -> None:
    """Change a passphrase (re-wraps the key; the data is not re-encrypted).

    Unlock as usual (the current passphrase, a key file or --recovery); the new passphrase is
    asked twice, or read from EXPORTER_NEW_PASSPHRASE.

    \b
    Example:
      exporter keys passwd
    """
    with state.open(write=True) as archive:
        slots = archive.slots
        candidates = [s for s in slots.slots if s["kind"] == "passphrase"
                      and (slot_id is None or s["id"] == slot_id)]
        if slot_id is not None and not candidates:
            raise errors.ConfigError(f"There is no passphrase slot {slot_id}; 'exporter keys "
                                     "list' shows them.")
        if len(candidates) > 1:
            raise errors.ConfigError("There are several passphrases; name the slot to change "
                                     "('exporter keys list' shows them).")
        text = os.environ.get("EXPORTER_NEW_PASSPHRASE") or (
            click.prompt("New passphrase", hide_input=True, confirmation_prompt=True)
            if sys.stdin.isatty() else None)
        if not text:
            raise errors.KeyNeeded("Set EXPORTER_NEW_PASSPHRASE or run at a terminal to change "
                                   "the passphrase.")
        label = candidates[0].get("label", "passphrase") if candidates else "passphrase"
        new_id = slots.add_passphrase(archive.master, text, label)
        if candidates:
            slots.slots = [s for s in slots.slots if s["id"] != candidates[0]["id"]]
        slots.save(archive.master)
        archive.audit("keys.passwd", {"slot": new_id,
                                      "replaced": candidates[0]["id"] if candidates else None})
    out.print("The passphrase was changed.")


@keys.command("recovery")
@click.option("--recovery-sheet", type=click.Path(path_type=Path),
              help="Also write the new recovery key as a printable page (.html or .pdf).")
@pass_state
@handle_errors
def keys_recovery(state: State, recovery_sheet: Path | None) -> None:
    """Replace the recovery key with a new one (the old one stops working).

    The new key is shown (and written to the sheet, if asked) and, at a terminal, confirmed
    by typing its last group, before it replaces the old one: if it cannot be shown, the old
    key keeps working.

    \b
    Example:
      exporter keys recovery --recovery-sheet recovery.pdf
    """
    with state.open(write=True) as archive:
        key = generate_recovery_key()
        present_recovery_key(key, recovery_sheet, archive.path,
                             "the old recovery key still works (nothing was changed); run "
                             "'exporter keys recovery' again where its output can be seen.")
        archive.slots.set_recovery(archive.master, key)
        archive.slots.save(archive.master)
        archive.audit("keys.recovery", {})
    out.print("\nThe new recovery key is in place; the old one no longer opens the archive.")
