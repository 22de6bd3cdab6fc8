"""Creating, unlocking and opening an archive, checking its format and migrating it; the
:class:`Archive` class that puts the parts together."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter import __version__, winfs
from exporter.archive.audit import verify_audit_anchor, verify_audit_chain
from exporter.archive.database import DB_ERRORS, connect, database, now, translated
from exporter.archive.files import Files, verify_files
from exporter.archive.format import (
    FORMAT_VERSION,
    migrations_from,
    reference_schema,
    schema_sql,
)
from exporter.archive.highwater import check_mark, mac_key, mark_of, read_mark, record_mark
from exporter.archive.idmap import IdMap
from exporter.archive.pin import fingerprint_of, new_pin_secret, refuse_other_archive
from exporter.archive.records import Records, verify_versions
from exporter.archive.rekey import (
    check_generation,
    db_salt,
    finish_rotation,
    rekey,
    save_slots,
    stored_generation,
)
from exporter.archive.runs import Runs
from exporter.archive.wal import wal_path_for, wal_problem, writer_active
from exporter.errors import (
    ArchiveDamaged,
    ArchiveNotFound,
    ArchiveRolledBack,
    ExporterError,
    KeySlotsDamaged,
    KeysRolledBack,
    NotWritable,
    UnsupportedFormat,
    WrongArchive,
)
from exporter.keys import (
    Credential,
    KeyFile,
    KeySlots,
    MasterKey,
    create_key_file,
    read_key_file,
    slots_path_for,
)
from exporter.lock import ArchiveLock
from exporter.private_files import make_private, private_folder

__all__ = ["Archive"]

_log = logging.getLogger(__name__)


def _new_slots(path: Path, passphrase: str | None, key_file: Path | None,
               passphrase_kdf: dict[str, Any] | None,
               recovery: str | None) -> tuple[MasterKey, KeySlots, str]:
    """A fresh master key, wrapped in a slot per credential given and a recovery slot."""
    slots_path = slots_path_for(path)
    if path.exists():
        raise ExporterError(f"There is already an archive at {path}; use it, or choose "
                            "another path with --archive.")
    # A .keys file beside a half-built database is what a create killed in _build leaves:
    # its master key encrypts nothing, so a new create may replace it.
    if slots_path.exists() and not _creating_path(path).exists():
        raise ExporterError(f"A key file {slots_path} exists without its archive; move it "
                            "away if it is not needed, then run init again.")
    if not passphrase and key_file is None:
        raise ValueError("a passphrase or a key file is needed")
    master = MasterKey.generate()
    slots = KeySlots.new(slots_path, str(uuid.uuid4()))
    if passphrase:
        slots.add_passphrase(master, passphrase, "passphrase", kdf=passphrase_kdf)
    if key_file is not None:
        key = read_key_file(key_file) if key_file.exists() else create_key_file(key_file)
        slots.add_key_file(master, key, f"key file {key_file.name}")
    return master, slots, slots.set_recovery(master, recovery)


def _creating_path(path: Path) -> Path:
    return path.with_name(path.name + ".creating")


def _build(path: Path, master: MasterKey, slots: KeySlots) -> None:
    """Write the database from archive_schema.sql under a temporary name and rename it into
    place last (after the key slots), so a crash leaves either nothing or a whole archive."""
    tmp = _creating_path(path)
    for leftover in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        leftover.unlink(missing_ok=True)
    with translated(path):
        conn = connect(tmp, master.sqlcipher_key(slots.archive_id))
        try:
            db = database(conn)
            db.executescript(schema_sql())
            conn.execute("PRAGMA journal_mode = WAL")
            slots.generation = 1
            db.table("archive_meta").insert_all([
                {"key": "archive_id", "value": slots.archive_id},
                {"key": "key_generation", "value": "1"},
                {"key": "pin_secret", "value": new_pin_secret()},
                {"key": "created_at", "value": now()},
                {"key": "created_by", "value": f"exporter {__version__}"}])
        finally:
            conn.close()
        make_private(Path(tmp))
        slots.db_salt = db_salt(tmp)
        slots.save(master)
        winfs.replace(tmp, path)


def _check_pair(path: Path, slots: KeySlots) -> None:
    """A key-slot file from another archive is named as such, not taken for a wrong key or a
    damaged archive (key-slot files written before ``db_salt`` existed cannot be told)."""
    if slots.db_salt is None:
        return
    found, expected = bytes.fromhex(db_salt(path)), bytes.fromhex(slots.db_salt)
    differing = sum(a != b for a, b in zip(found, expected, strict=False))
    if 0 < differing <= 2:  # a few changed bytes: this archive's own salt, damaged
        raise ArchiveDamaged(f"The archive {path} is damaged (its first bytes were changed); "
                             "restore it from your second copy.")
    if found != expected:
        raise KeySlotsDamaged(
            f"The key file {slots.path.name} beside the archive belongs to another archive, "
            f"not to {path.name}; put this archive's own .keys file beside it (from your "
            "backup, or from the copy the archive came from).")


def _read_header(path: Path, master: MasterKey, archive_id: str,
                 immutable: bool = False) -> tuple[Any, int, str | None, int]:
    """A keyed connection, the format version, the archive id stored inside and the key
    generation it records."""
    with translated(path):
        conn = connect(path, master.sqlcipher_key(archive_id), immutable=immutable)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            row = conn.execute(
                "SELECT value FROM archive_meta WHERE key = 'archive_id'").fetchone()
            generation = stored_generation(conn)
        except BaseException:
            conn.close()
            raise
    return conn, version, (row[0] if row else None), generation


def _write_lock(path: Path, read_only_media: bool) -> ArchiveLock:
    """The write lock; on read-only media (a write-protected copy) a plain refusal."""
    refusal = (f"The archive {path} is on read-only media or in a folder you may not write "
               "to, so it can be read (status, verify, print, export) but not changed; sync, "
               "copy and key changes need the original archive, or a copy in a writable "
               "folder.")
    if read_only_media:
        raise NotWritable(refusal)
    try:
        return ArchiveLock(path).acquire()
    except OSError as exc:
        raise NotWritable(refusal) from exc


def _refuse_pending_wal(path: Path) -> None:
    """Read-only media cannot take a -wal file's changes into the archive, and an immutable
    open would ignore them: refuse rather than show the archive without them."""
    wal = wal_path_for(path)
    if wal.exists() and wal.stat().st_size > 32:
        raise NotWritable(f"The archive {path} is on read-only media and its {wal.name} file "
                          "still holds changes from an interrupted run; copy the archive's "
                          "files to a writable folder and open it there.")


def _check_wal(path: Path, write: bool) -> None:
    """Refuse a WAL whose committed frames SQLite would silently drop (archive/wal.py), before
    any connection reads it. A reader skips the check while a writer is at work: the log is
    then that writer's own, and may be restarted under the reader's feet."""
    if not write and writer_active(path):
        return
    problem = wal_problem(path)
    if problem is not None and (write or not writer_active(path)):
        raise ArchiveDamaged(
            f"The archive's write-ahead log {wal_path_for(path).name} was altered or damaged "
            f"({problem}), so committed data in it would be lost; leave the files as they "
            "are and restore the archive from your second copy.")


def _format_problem(version: int, write: bool) -> UnsupportedFormat | None:
    """Why this archive cannot be opened so, if it cannot. Only a writer (holding the lock)
    upgrades an older archive: a reader may sit on read-only media or run beside a sync."""
    if version > FORMAT_VERSION:
        return UnsupportedFormat(
            f"This archive has format version {version}, written by a newer exporter; "
            f"this exporter ({__version__}) reads up to version {FORMAT_VERSION}. "
            "Update exporter.")
    if version < FORMAT_VERSION and not write:
        return UnsupportedFormat(
            f"This archive has format version {version}, from an older exporter, and is "
            "upgraded the first time it is opened for writing; run 'exporter sync' once "
            "(or wait for the nightly sync), then try again.")
    return None


class Archive(Runs, Records, Files, IdMap):
    """An open archive. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    @classmethod
    def create(cls, path: Path, *, passphrase: str | None = None, key_file: Path | None = None,
               passphrase_kdf: dict[str, Any] | None = None,
               recovery: str | None = None) -> tuple[Archive, str]:
        """Create a new archive with its key-slot file; returns it (open for writing) and the
        recovery key (``recovery`` if given: the CLI shows it before creating), to be shown
        once."""
        path = Path(path)
        key_file = Path(key_file) if key_file is not None else None
        master, slots, recovery = _new_slots(path, passphrase, key_file, passphrase_kdf,
                                             recovery)
        private_folder(path.parent, exist_ok=True)
        _build(path, master, slots)
        archive = cls.open(path, KeyFile(key_file) if key_file else None, write=True,
                           _unlocked=(master, slots))
        archive.audit("init", {"slots": [s["kind"] for s in slots.slots]})
        return archive, recovery

    @classmethod
    def open(cls, path: Path, credential: Credential | None, *, write: bool = False,
             pin: tuple[str, str | None] | None = None, highwater_path: Path | None = None,
             accept_rollback: bool = False,
             _unlocked: tuple[MasterKey, KeySlots] | None = None) -> Archive:
        """Unlock and open the archive at ``path``. With ``write=True`` the write lock is
        taken (ArchiveLocked if another process has it) and an older format is upgraded;
        a read-only open of an older format is refused (UnsupportedFormat), writing nothing.
        ``pin`` (the config's [archive] id and fingerprint) refuses any other archive
        (WrongArchive) before anything is read or written (archive/pin.py); so does
        ``highwater_path`` (beside the config) an archive older than this computer last saw
        (ArchiveRolledBack, archive/highwater.py), unless ``accept_rollback``: then the
        sentence is kept in :attr:`rollback_problem` for ``verify`` to report or accept."""
        path = Path(path)
        if not path.exists():
            raise ArchiveNotFound(f"There is no archive at {path}; run 'exporter init' first, "
                                  "or check the archive path in the config file.")
        slot_id: str | None = None
        if _unlocked is not None:
            master, slots = _unlocked
        else:
            if credential is None:
                raise ValueError("credential needed")
            finish_rotation(path)
            slots = KeySlots.load(slots_path_for(path))
            _check_pair(path, slots)
            master, slot_id = slots.unlock(credential)
        read_only_media = not os.access(path.parent, os.W_OK)
        lock = _write_lock(path, read_only_media) if write else None
        try:
            _check_wal(path, write)
            if read_only_media:
                _refuse_pending_wal(path)
            conn, version, stored_id, generation = _read_header(
                path, master, slots.archive_id, immutable=read_only_media)
            archive = cls(path, conn, slots.archive_id, slots, master, lock)
            archive.read_only_media = read_only_media
            archive.unlocked_slot = slot_id
            if stored_id != slots.archive_id:
                archive.close()
                raise KeySlotsDamaged(f"The key file {slots.path} belongs to another archive; "
                                      "put the right key file beside the archive.")
            try:
                refuse_other_archive(path, pin, slots.archive_id, archive.fingerprint)
                check_generation(path, slots, generation)
                archive._highwater = highwater_path
                if highwater_path is not None:
                    archive._check_highwater(generation, refuse=not accept_rollback)
            except (KeysRolledBack, WrongArchive, ArchiveRolledBack):
                archive.close()
                raise
            problem = _format_problem(version, write)
            if problem is not None:
                archive.close()
                raise problem
            if write and (slots.db_salt is None or slots.generation > generation):
                slots.db_salt = db_salt(path)  # written before db_salt or generations
                archive.save_slots()
            if write:
                archive._migrate(version)
                archive._interrupt_stale_runs()
            archive._opened = True
            return archive
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    #: The id of the key slot the credential opened (None right after create).
    unlocked_slot: str | None = None
    #: Set once open() accepted the archive: one it refuses is closed untouched.
    _opened = False
    #: The high-water mark beside the config (archive/highwater.py), if opened through one.
    _highwater: Path | None = None

    #: Why the archive is behind the high-water mark, when opened with accept_rollback.
    rollback_problem: str | None = None

    def _check_highwater(self, generation: int, *, refuse: bool) -> None:
        """Refuse an archive behind the mark (or note why, unless ``refuse``); raise the
        mark when the archive is ahead."""
        assert self._highwater is not None
        current = mark_of(self.conn, self.archive_id, generation)
        try:
            check_mark(self._highwater, self.conn, self._highwater_key(), current)
        except ArchiveRolledBack as exc:
            if refuse:
                raise
            self.rollback_problem = str(exc)
            return
        record_mark(self._highwater, self._highwater_key(), current)

    def _highwater_key(self) -> bytes:
        return mac_key(self.conn, self.master, self.archive_id)

    def record_highwater(self, *, force: bool = False) -> None:
        """Raise the mark to where the archive is now (``force``: set it there, after an
        accepted rollback)."""
        if self._highwater is not None:
            current = mark_of(self.conn, self.archive_id, stored_generation(self.conn))
            record_mark(self._highwater, self._highwater_key(), current, force=force)

    def accept_rollback(self) -> tuple[int | None, int]:
        """Accept this archive as it is although it is behind the high-water mark (an
        intended restore from an older copy): audited, then the mark is set to it. Returns
        the newest run the mark had (None: no readable mark) and the archive's."""
        assert self._highwater is not None, "open the archive through the config"
        try:
            old = read_mark(self._highwater, self._highwater_key(), self.archive_id)
        except ArchiveRolledBack:
            old = None
        current = mark_of(self.conn, self.archive_id, stored_generation(self.conn))
        was = old.newest_run if old else None
        self.audit("accept-rollback", {"mark_newest_run": was, "newest_run": current.newest_run,
                                       "mark_audit_entries": old.audit_entries if old else None,
                                       "audit_entries": current.audit_entries})
        self.record_highwater(force=True)
        return was, current.newest_run

    def close(self) -> None:
        """Close; a writer first records the audit log's head in the key-slot file (a
        failure there is logged: the data is safe, only the anchor is older)."""
        try:
            if self.writable and self._opened:
                with translated(self.path):
                    self.anchor_audit_head()
            if self._opened and not self.read_only_media:
                with translated(self.path):
                    self.record_highwater()
        except (ExporterError, OSError) as exc:
            _log.warning("the audit log's head could not be recorded: %s", exc)
        finally:
            super().close()

    @property
    def fingerprint(self) -> str | None:
        """What the config pins (archive/pin.py); None for an archive made before pinning."""
        with translated(self.path):
            return fingerprint_of(self.conn)

    def save_slots(self) -> None:
        """Save the key slots after a change, raising the key generation (archive/rekey.py)."""
        save_slots(self)

    def rekey(self, master: MasterKey, slots: KeySlots) -> None:
        """Re-encrypt the archive under a new master key with new key slots (archive/rekey.py);
        the high-water mark is set to the new key generation (and, for an archive made
        before pinning, whose mark is signed with a master-key subkey, signed again)."""
        rekey(self, master, slots)
        self.record_highwater(force=True)

    def _migrate(self, version: int) -> None:
        """Apply the pending migrations in one transaction (we hold the write lock), each
        recorded by name in the audit log."""
        steps = migrations_from(version)
        if not steps:
            return
        schema = reference_schema()
        with self.transaction():
            for step in steps:
                step.apply(self.db, schema)
                self.conn.execute(f"PRAGMA user_version = {int(step.to_version)}")
                self.audit("migrate", {"migration": step.name, "to_version": step.to_version})

    def verify(self, progress: Callable[[str], None] | None = None) -> list[str]:
        """Every check there is; returns the problems found, in plain words (empty = sound)."""
        say = progress or (lambda _msg: None)
        problems: list[str] = []
        try:
            say("checking page authentication (cipher_integrity_check)")
            for (row,) in self.conn.execute("PRAGMA cipher_integrity_check"):
                problems.append(f"encrypted page check: {row}")
            say("checking database structure (integrity_check)")
            rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
            if rows != ["ok"]:
                problems.extend(f"database structure: {r}" for r in rows[:20])
            say("checking every record version against its hash")
            problems.extend(verify_versions(self.conn))
            say("checking every file is complete")
            problems.extend(verify_files(self.conn))
            say("checking the audit log chain")
            problems.extend(verify_audit_chain(self.conn))
            problems.extend(verify_audit_anchor(self.conn, self.slots.audit_head,
                                                f"the key file {self.slots.path.name}"))
        except DB_ERRORS as exc:
            problems.append(f"reading the archive failed: {exc}")
        return problems
