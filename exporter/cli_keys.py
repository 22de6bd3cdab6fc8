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
from exporter.keys import (
    Credential,
    KeyFile,
    KeySlots,
    MasterKey,
    Passphrase,
    RecoveryKey,
    create_key_file,
    generate_recovery_key,
    read_key_file,
    require_strong_passphrase,
)

#: Said after every change that leaves an old credential able to open older key-slot files.
ROTATE_OFFER = ("The archive's master key is unchanged: an older .keys file (in a backup or "
                "in any copy) with the old credential still opens it. Run 'exporter keys "
                "rotate' to re-encrypt the archive under a new key so that it no longer does.")

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
      exporter keys add --key-file "%LOCALAPPDATA%/exporter/nightly.key"
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
            require_strong_passphrase(text)
            slot_id = slots.add_passphrase(master, text, label or "passphrase")
        archive.save_slots()
        archive.audit("keys.add", {"slot": slot_id})
    out.print(f"Added key slot {slot_id}.")


@keys.command("remove")
@click.argument("slot_id")
@pass_state
@handle_errors
def keys_remove(state: State, slot_id: str) -> None:
    """Remove a key slot (the last passphrase or key file cannot be removed).

    The master key is unchanged: an older .keys file (a backup, a copy) still opens the
    archive with the removed credential; run 'exporter keys rotate' afterwards to stop that.

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
        archive.save_slots()
        archive.audit("keys.remove", {"slot": slot_id})
    out.print(f"Removed key slot {slot_id}.")
    out.print(ROTATE_OFFER)


@keys.command("passwd")
@click.argument("slot_id", required=False)
@click.option("--compromised", is_flag=True,
              help="The old passphrase may be known to someone: also say how to revoke it.")
@pass_state
@handle_errors
def keys_passwd(state: State, slot_id: str | None, compromised: bool) -> None:
    """Change a passphrase (re-wraps the key; the data is not re-encrypted, so an older
    .keys file still opens the archive with the old passphrase: if it may be known, give
    --compromised and run 'exporter keys rotate').

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
        require_strong_passphrase(text)
        label = candidates[0].get("label", "passphrase") if candidates else "passphrase"
        new_id = slots.add_passphrase(archive.master, text, label)
        if candidates:
            slots.slots = [s for s in slots.slots if s["id"] != candidates[0]["id"]]
        archive.save_slots()
        archive.audit("keys.passwd", {"slot": new_id,
                                      "replaced": candidates[0]["id"] if candidates else None})
    out.print("The passphrase was changed.")
    if compromised:
        out.print(ROTATE_OFFER)


@keys.command("recovery")
@click.option("--recovery-sheet", type=click.Path(path_type=Path),
              help="Also write the new recovery key as a printable page (.html or .pdf).")
@pass_state
@handle_errors
def keys_recovery(state: State, recovery_sheet: Path | None) -> None:
    """Replace the recovery key with a new one (the old one no longer opens this .keys file;
    run 'exporter keys rotate' afterwards so that older .keys files stop opening it too).

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
        archive.save_slots()
        archive.audit("keys.recovery", {})
    out.print("\nThe new recovery key is in place; the old one no longer opens the archive "
              "with this .keys file.")
    out.print(ROTATE_OFFER)


def _kept_key_files(state: State, slots: KeySlots, credential: Credential,
                    extra: tuple[Path, ...]) -> dict[str, Path]:
    """slot id -> key file, for each key file that is to open the rotated archive: the one
    unlocked with, the config's (the nightly run's) and those given with --keep-key-file."""
    paths = list(extra)
    if isinstance(credential, KeyFile):
        paths.append(credential.path)
    if state.config.key_file is not None and state.config.key_file.exists():
        paths.append(state.config.key_file)
    kept: dict[str, Path] = {}
    for path in paths:
        try:
            _, slot_id = slots.unlock(KeyFile(path))
        except errors.WrongKey as exc:
            raise errors.WrongKey(f"The key file {path} does not open this archive, so it "
                                  "cannot be kept; leave it out.") from exc
        kept[slot_id] = path
    return kept


def _rewrapped(old: KeySlots, master: MasterKey, credential: Credential, unlocked: str | None,
               key_files: dict[str, Path], recovery: str) -> tuple[KeySlots, list[str]]:
    """A new key-slot file wrapping ``master``: the slots whose secret is known here, and a
    recovery slot; returns it and the labels of the slots left out."""
    new = KeySlots(old.path, old.archive_id, [])
    dropped: list[str] = []
    for slot in old.slots:
        label = str(slot.get("label", slot["id"]))
        if slot["kind"] == "passphrase" and slot["id"] == unlocked:
            assert isinstance(credential, Passphrase)  # it opened this slot
            kdf = {k: v for k, v in slot["kdf"].items() if k != "salt"}
            new.add_passphrase(master, str(credential.secret.reveal()), label, kdf=kdf)
        elif slot["kind"] == "keyfile" and slot["id"] in key_files:
            new.add_key_file(master, read_key_file(key_files[slot["id"]]), label)
        elif slot["kind"] != "recovery":
            dropped.append(f"{label} ({slot['kind']}, {slot['id']})")
    new.set_recovery(master, recovery)
    return new, dropped


@keys.command("rotate")
@click.option("--keep-key-file", "keep", multiple=True, type=click.Path(path_type=Path),
              help="A key file that is to keep opening the archive (repeatable); the one "
                   "unlocked with and the config's key file are kept anyway.")
@click.option("--recovery-sheet", type=click.Path(path_type=Path),
              help="Also write the new recovery key as a printable page (.html or .pdf).")
@pass_state
@handle_errors
def keys_rotate(state: State, keep: tuple[Path, ...], recovery_sheet: Path | None) -> None:
    """Re-encrypt the archive under a new master key, so that removed passphrases and key
    files, an old recovery key and every older .keys file stop opening it.

    A key slot can only be re-wrapped by someone who holds its secret, so the new .keys file
    holds: the passphrase or key file you unlock with, the config's key file, the key files
    given with --keep-key-file, and a recovery key (a new one, shown first, unless you unlock
    with --recovery). Other passphrases are left out: add them again with 'exporter keys add'.
    Copies made before the rotation still open with the old credentials until they expire.

    \b
    Example:
      exporter keys rotate --recovery-sheet recovery.pdf
    """
    from exporter.archive import Archive

    credential = state.credential()
    with Archive.open(state.config.archive, credential, write=True,
                      pin=state.config.pin,
                      highwater_path=state.config.highwater_path) as archive:
        old = archive.slots
        key_files = _kept_key_files(state, old, credential, keep)
        if isinstance(credential, RecoveryKey):
            recovery = str(credential.secret.reveal())
        else:
            recovery = generate_recovery_key()
            present_recovery_key(recovery, recovery_sheet, archive.path,
                                 "nothing was changed: the archive keeps its old key.")
        master = MasterKey.generate()
        new, dropped = _rewrapped(old, master, credential, archive.unlocked_slot, key_files,
                                  recovery)
        archive.rekey(master, new)
        archive.audit("keys.rotate", {"generation": new.generation,
                                      "slots": [s["id"] for s in new.slots]})
    out.print(f"The archive was re-encrypted under a new key (key generation "
              f"{new.generation}); older .keys files and removed credentials no longer open it.")
    for label in dropped:
        out.print(f"Left out (add it again if still needed): {label}")
    out.print("Copies made before today still open with the old credentials until they "
              "expire; delete those you no longer need.")
