"""Key generations and rotation: a new master key, the archive re-encrypted under it, and a
fresh key-slot file, so that a removed passphrase or key file, or a replaced recovery key,
stops opening the archive (with any older ``.keys`` file too).

Every change to the key slots raises a *generation* counter, kept both in the authenticated
key-slot file and inside the archive (``archive_meta.key_generation``); an open with a key-slot
file older than the archive's record is refused (:class:`~exporter.errors.KeysRolledBack`).

Rotation, under the write lock: the database is exported with ``sqlcipher_export`` into
``<archive>.rotating`` under the new key; the new key-slot file is written as
``<archive>.keys.rotating``; the new database is renamed over the old one, the old one's
``-wal``/``-shm`` are removed, and the new key-slot file is renamed into place. A crash between
the two renames leaves the new database and ``.keys.rotating`` beside it, whose ``db_salt``
matches: :func:`finish_rotation` (run at every open) completes the step. A crash before the
first rename leaves the old pair whole; the leftovers are removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter import winfs
from exporter.archive.database import connect, database, translated
from exporter.errors import KeySlotsDamaged, KeysRolledBack
from exporter.keys import KeySlots, MasterKey, slots_path_for
from exporter.private_files import make_private

if TYPE_CHECKING:
    from exporter.archive.base import ArchiveBase

__all__ = ["check_generation", "db_salt", "finish_rotation", "rekey", "save_slots",
           "stored_generation"]


def db_salt(path: Path) -> str:
    """SQLCipher's salt: the database file's first 16 bytes, stored in plaintext."""
    with path.open("rb") as fh:
        return fh.read(16).hex()


def _rotating(path: Path) -> tuple[Path, Path]:
    return (path.with_name(path.name + ".rotating"),
            slots_path_for(path).with_name(slots_path_for(path).name + ".rotating"))


def finish_rotation(path: Path) -> None:
    """Complete or undo a rotation a crash interrupted (see the module's docstring)."""
    new_db, new_keys = _rotating(path)
    if not (new_db.exists() or new_keys.exists()) or not os.access(path.parent, os.W_OK):
        return  # the common case; and read-only media cannot hold a rotation's leftovers
    if not new_keys.exists():
        new_db.unlink(missing_ok=True)
        return
    try:
        matches = KeySlots.load(new_keys).db_salt == db_salt(path)
    except (KeySlotsDamaged, OSError):  # a half-written leftover is simply dropped
        matches = False
    if matches:
        for suffix in ("-wal", "-shm"):  # the old database's, never opened under the new key
            Path(str(path) + suffix).unlink(missing_ok=True)
        winfs.replace(new_keys, slots_path_for(path))
    else:
        new_keys.unlink(missing_ok=True)
    new_db.unlink(missing_ok=True)


def stored_generation(conn: Any) -> int:
    row = conn.execute("SELECT value FROM archive_meta WHERE key = 'key_generation'").fetchone()
    return int(row[0]) if row else 0


def check_generation(path: Path, slots: KeySlots, stored: int) -> None:
    if slots.generation < stored:
        raise KeysRolledBack(
            f"The key file {slots.path.name} beside the archive is older than the archive "
            f"(key generation {slots.generation}, the archive expects {stored}): it was put "
            "back from a backup or an older copy, and may still hold removed passphrases; put "
            "the current .keys file back beside the archive.")


def _record_generation(conn: Any, generation: int) -> None:
    conn.execute("INSERT INTO archive_meta (key, value) VALUES ('key_generation', ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(generation),))


def save_slots(archive: ArchiveBase) -> None:
    """Save the archive's key slots with a raised generation; the key-slot file first, then
    the archive's record (a crash between leaves the file newer, which is accepted)."""
    archive._require_write()
    slots = archive.slots
    slots.generation = max(slots.generation, stored_generation(archive.conn)) + 1
    slots.save(archive.master)
    with archive.transaction():
        _record_generation(archive.conn, slots.generation)


def _export(archive: ArchiveBase, target: Path, master: MasterKey, generation: int) -> None:
    conn = archive.conn
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    key = master.sqlcipher_key(archive.archive_id)
    conn.execute("ATTACH DATABASE ? AS rotated KEY ?", (str(target), f"x'{key}'"))
    try:
        conn.execute("SELECT sqlcipher_export('rotated')")
        conn.execute(f"PRAGMA rotated.user_version = {version}")
        conn.execute("INSERT INTO rotated.archive_meta (key, value) VALUES "
                     "('key_generation', ?) ON CONFLICT (key) DO UPDATE SET "
                     "value = excluded.value", (str(generation),))
    finally:
        conn.execute("DETACH DATABASE rotated")


def rekey(archive: ArchiveBase, master: MasterKey, slots: KeySlots) -> None:
    """Re-encrypt the open (writable) archive under ``master`` with the key slots ``slots``
    (already wrapping ``master``), and go on with the archive open under the new key."""
    archive._require_write()
    path = archive.path
    new_db, new_keys = _rotating(path)
    for leftover in (new_db, new_keys, Path(str(new_db) + "-wal"), Path(str(new_db) + "-shm")):
        leftover.unlink(missing_ok=True)
    generation = max(archive.slots.generation, stored_generation(archive.conn)) + 1
    with translated(path):
        _export(archive, new_db, master, generation)
    make_private(new_db)
    final_keys = slots.path
    slots.generation, slots.db_salt, slots.path = generation, db_salt(new_db), new_keys
    slots.save(master)
    slots.path = final_keys
    with contextlib.suppress(Exception):
        archive.conn.close()
    winfs.replace(new_db, path)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    winfs.replace(new_keys, final_keys)
    with translated(path):
        conn = connect(path, master.sqlcipher_key(archive.archive_id))
        conn.execute("PRAGMA journal_mode = WAL")
    archive.conn, archive.db = conn, database(conn)
    archive.master, archive.slots = master, slots
