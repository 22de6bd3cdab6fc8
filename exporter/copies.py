"""Second copies of the archive in another folder (a USB disk, a NAS share, a synced folder).

    with Archive.open(path, credential, write=True) as archive:
        result = make_copy(archive, credential, Path("E:/exporter-copies"), keep=7)
    for info in list_copies(Path("E:/exporter-copies"), archive_id, check=True): ...

A copy is a folder ``<archive stem>-<UTC YYYYmmdd-HHMMSS>`` holding the archive file, its
``.keys`` file (both ciphertext only) and ``MANIFEST.json`` (sizes and SHA-256 of the two, the
archive id, the newest run; no secrets). The key file that unlocks the archive unattended is
never copied. A copy is a complete archive: point a config's ``[archive] path`` at its file.

How one copy is made, so that it is consistent and never half there under its final name:

1. the caller holds the archive's write lock (no sync writes meanwhile);
2. a read transaction is held on the archive's connection, and SQLite's online backup API
   writes the archive as that transaction sees it into a hidden folder
   ``.partial-<archive id>-<stamp>-<pid>`` in the destination, encrypted with the archive's
   own key (SQLite reads the pages: the live file is never read as a file, which Windows
   refuses past 1 GiB while a connection is open); the ``.keys`` file is streamed beside
   it, both fsynced with the folder;
4. the copy is verified: the files are read back and hashed again, the copy's ``.keys`` file
   is unlocked with the same credential and the copy's database is opened read-only and
   ``PRAGMA quick_check``-ed;
5. the folder is renamed into place; older copies of the same archive (matched by the
   archive id in their manifest) that ``keep`` does not keep (by count, and by age with
   keep_daily/weekly/monthly: :mod:`exporter.retention`) are deleted, nothing else ever is.

A run killed at any moment leaves at most a ``.partial-*`` folder, which the next copy of that
archive removes. No click here: the CLI prints and picks exit codes.

The destination is either a folder (a :class:`~pathlib.Path`) or an S3-compatible object
store (an :class:`~exporter.objectstore.ObjectStore`, see :func:`open_store`);
:func:`make_copy`, :func:`list_copies`, :func:`check_destination` and :func:`fetch_copy` take
either and hand a store to :mod:`exporter.copies_store`, which does the same steps with
objects (docs/design.md). What both kinds share (:class:`CopyResult`, :class:`CopyInfo`,
:class:`CopyDestinationProblem`, the manifest format, the backup snapshot) is in
:mod:`exporter.copies_base`; every name is importable from here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlcipher3

from exporter import __version__, winfs
from exporter.archive import Archive
from exporter.archive.audit import audit_head
from exporter.archive.database import sqlite_uri
from exporter.copies_base import (
    _DB_ERRORS,
    MANIFEST,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    PARTIAL_PREFIX,
    CopyDestinationProblem,
    CopyInfo,
    CopyResult,
    Progress,
    _newest_run,
    _parse_manifest,
    _read_transaction,
    _stamp,
    check_manifest_mac,
    sign_manifest,
)
from exporter.copies_files import (
    _drop_cache,
    _fsync_dir,
    _sha256_of,
    _stream_copy,
    _write_error,
    _write_snapshot,
)
from exporter.copies_store import (
    _list_store_copies,
    _make_store_copy,
    _store_errors,
    open_store,
)
from exporter.errors import ArchiveDamaged, NotFound
from exporter.keys import Credential, KeySlots, slots_path_for
from exporter.private_files import create_private, private_folder
from exporter.retention import Retention, kept_names

__all__ = [
    "MANIFEST",
    "CopyDestinationProblem",
    "CopyInfo",
    "CopyResult",
    "Destination",
    "FetchResult",
    "check_destination",
    "fetch_copy",
    "list_copies",
    "make_copy",
    "open_store",
]

if TYPE_CHECKING:
    from exporter.objectstore import ObjectStore  # boto3: imported only when used

log = logging.getLogger("exporter.copies")


#: Where copies go: a folder or an object store (bucket and prefix).
Destination: TypeAlias = "Path | ObjectStore"


# -- the destination -----------------------------------------------------------------------


def check_destination(dest: Destination) -> None:
    """Raise CopyDestinationProblem unless ``dest`` is an existing folder (or a store whose
    bucket answers to its keys). The folder is never created: a missing USB disk must not
    turn into a copy on the computer's own disk."""
    if not isinstance(dest, Path):
        with _store_errors():
            dest.probe()
        return
    dest = Path(dest)
    try:
        if dest.is_dir():
            return
        if dest.exists():
            raise CopyDestinationProblem(
                f"The copy destination {dest} is a file, not a folder; give the folder to copy "
                "into.")
    except OSError as exc:  # e.g. a NAS that does not answer
        raise CopyDestinationProblem(f"The copy folder {dest} cannot be reached "
                                     f"({exc.strerror or exc}); is the disk or the network share "
                                     "there?") from exc
    for parent in dest.parents:
        if parent.exists() and not parent.is_dir():
            raise CopyDestinationProblem(
                f"The copy folder {dest} cannot be used: {parent} is a file, not a folder.")
    raise CopyDestinationProblem(
        f"The copy folder {dest} is not there: is the USB disk plugged in? (A network share: "
        "is it reachable? A first copy there: create the folder first.)")


def _final_name(dest: Path, stem: str, now: dt.datetime) -> Path:
    base = f"{stem}-{_stamp(now)}"
    candidate, n = dest / base, 2
    while candidate.exists():
        candidate, n = dest / f"{base}-{n}", n + 1
    return candidate


def _remove_stale_partials(dest: Path, archive_id: str) -> None:
    prefix = f"{PARTIAL_PREFIX}{archive_id}-"
    for entry in dest.iterdir():
        if entry.name.startswith(prefix) and entry.is_dir():
            log.info("removing an unfinished copy left by a stopped run: %s", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _remove_quietly(folder: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


# -- copying -------------------------------------------------------------------------------


def _write_manifest(folder: Path, manifest: dict[str, Any], dest: Path) -> None:
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        with create_private(folder / MANIFEST) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            _drop_cache(fh)
    except OSError as exc:
        raise _write_error(exc, dest) from exc


def _check_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Re-hash a copy's files against its manifest; the problems in plain words."""
    problems = []
    for entry in manifest.get("files", []):
        name = str(entry.get("name", ""))
        path = folder / name
        if not name or Path(name).name != name:
            problems.append(f"the manifest names a file oddly ({name!r})")
            continue
        try:
            size, digest = _sha256_of(path)
        except FileNotFoundError:
            problems.append(f"{name} is missing")
            continue
        except OSError as exc:
            problems.append(f"{name} cannot be read ({exc.strerror or exc})")
            continue
        if size != entry.get("size"):
            problems.append(f"{name} has {size} bytes instead of {entry.get('size')}")
        elif digest != entry.get("sha256"):
            problems.append(f"{name} does not match its SHA-256 (some bytes changed)")
    return problems



def _open_copy_readonly(db: Path, key_hex: str) -> Any:
    """The copy's database, opened so that nothing is written beside it (no -wal, -shm)."""
    conn = sqlcipher3.connect(sqlite_uri(db) + "?immutable=1", uri=True,
                              isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def _verify_copy(folder: Path, manifest: dict[str, Any], archive: Archive,
                 credential: Credential, dest: Path) -> None:
    """Read the copy back and open it as an archive; raise if it is not right."""
    try:
        written = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        written = None
    problems = ["MANIFEST.json does not read back"] if written != manifest else []
    problems += _check_files(folder, manifest)
    if problems:
        raise CopyDestinationProblem(
            f"The copy written to {dest} did not read back the same ({'; '.join(problems)}); "
            "the disk there may be failing. The copy was removed; try another disk.")
    db = folder / archive.path.name
    slots = KeySlots.load(slots_path_for(db))
    master, _slot = slots.unlock(credential)
    if slots.archive_id != archive.archive_id or master != archive.master:
        raise ArchiveDamaged("The copy's key file does not belong to this archive; the copy "
                             "was removed. Run 'exporter verify'.")
    try:
        conn = _open_copy_readonly(db, master.sqlcipher_key(slots.archive_id))
        try:
            meta = dict(conn.execute("SELECT key, value FROM archive_meta").fetchall())
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except _DB_ERRORS as exc:
        raise ArchiveDamaged(f"The copy does not open as an archive ({exc}); it was removed. "
                             "Run 'exporter verify' on the archive.") from exc
    if meta.get("archive_id") != archive.archive_id or rows != ["ok"]:
        raise ArchiveDamaged("The copy failed its database check (" + "; ".join(rows[:3]) +
                             "); it was removed. Run 'exporter verify' on the archive.")


def make_copy(archive: Archive, credential: Credential, dest: Destination, *,
              keep: int | Retention = 7, progress: Progress | None = None) -> CopyResult:
    """Make one verified, dated copy of ``archive`` in the folder ``dest`` and apply ``keep``
    (a count, or a :class:`~exporter.retention.Retention` that also keeps copies by age).

    ``archive`` must be open for writing (its write lock held); ``credential`` is the one that
    opened it, used to prove the copy opens too. Then an audit entry ``copy`` is appended to
    the archive (so the copy itself does not hold its own entry)."""
    if not archive.writable:
        raise RuntimeError("make_copy needs the archive open for writing (its lock held)")
    if not isinstance(keep, Retention):
        keep = Retention(keep)
    if keep.keep < 1:
        raise ValueError("keep must be at least 1")
    if not isinstance(dest, Path):
        return _make_store_copy(archive, dest, keep=keep, progress=progress)
    dest = Path(dest)
    check_destination(dest)
    try:
        _remove_stale_partials(dest, archive.archive_id)
    except OSError as exc:
        raise CopyDestinationProblem(f"The copy folder {dest} cannot be read "
                                     f"({exc.strerror or exc}).") from exc
    now = dt.datetime.now(dt.UTC)
    partial = dest / f"{PARTIAL_PREFIX}{archive.archive_id}-{_stamp(now)}-{os.getpid()}"
    try:
        private_folder(partial)  # 0700: a copy holds the archive, readable by its owner only
        winfs.hide(partial)
    except OSError as exc:
        raise _write_error(exc, dest) from exc
    keys = slots_path_for(archive.path)
    try:
        with _read_transaction(archive):
            files = _write_snapshot(archive, keys, partial, dest, progress)
            newest = _newest_run(archive)
            version = int(archive.conn.execute("PRAGMA user_version").fetchone()[0])
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "archive_id": archive.archive_id, "archive_format_version": version,
            "archive_file": archive.path.name, "newest_run": newest, "files": files,
            "audit_head": audit_head(archive.conn),  # the log's head, kept off the PC too
            "created_at": now.isoformat(), "exporter_version": __version__,
        }
        manifest = sign_manifest(manifest, archive.master)
        _write_manifest(partial, manifest, dest)
        try:
            _fsync_dir(partial)
        except OSError as exc:
            raise _write_error(exc, dest) from exc
        _verify_copy(partial, manifest, archive, credential, dest)
        final = _final_name(dest, archive.path.stem, now)
        try:
            winfs.replace(partial, final)  # retried: OneDrive, Defender
            _fsync_dir(dest)
        except OSError as exc:
            raise _write_error(exc, dest) from exc
    except BaseException:
        _remove_quietly(partial)
        raise
    removed, problems = _apply_keep(dest, archive.archive_id, keep, final)
    kept = len(list_copies(dest, archive.archive_id))
    size = sum(int(f["size"]) for f in files)
    archive.audit("copy", {"destination": str(dest), "folder": final.name, "size": size,
                           "sha256": files[0]["sha256"], "verified": True, "kept": kept,
                           "removed": removed})
    return CopyResult(dest, final, size, str(files[0]["sha256"]), kept, removed, problems)


# -- listing and keep ----------------------------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        raw = (folder / MANIFEST).read_bytes()
    except OSError:
        return None
    return _parse_manifest(raw)


def list_copies(dest: Destination, archive_id: str | None = None, *,
                check: bool = False) -> list[CopyInfo]:
    """The complete copies in ``dest`` (of one archive, if given), newest first. With
    ``check`` every file is read again (in a store: downloaded) and compared with the
    manifest."""
    if not isinstance(dest, Path):
        return _list_store_copies(dest, archive_id, check=check)
    dest = Path(dest)
    check_destination(dest)
    found = []
    for entry in dest.iterdir():
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        manifest = _read_manifest(entry)
        if manifest is None:
            continue
        if archive_id is not None and manifest.get("archive_id") != archive_id:
            continue
        listed = manifest.get("files")
        files: list[Any] = listed if isinstance(listed, list) else []
        found.append(CopyInfo(
            name=entry.name, path=entry, archive_id=str(manifest.get("archive_id")),
            created_at=str(manifest.get("created_at", "")),
            size=sum(_size(f) for f in files),
            newest_run=manifest.get("newest_run"),
            problems=_check_files(entry, manifest) if check else None))
    found.sort(key=lambda c: (c.created_at, c.name), reverse=True)
    return found


def _size(entry: Any) -> int:
    """A manifest entry's size; 0 for one that is no whole number (the check reports it)."""
    size = entry.get("size") if isinstance(entry, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else 0


def _remove_copy(info: CopyInfo) -> None:
    """Delete a copy's own files only (its manifest last); the folder goes if it is then
    empty. Anything else someone put in it stays."""
    folder = Path(info.path)
    manifest = _read_manifest(folder) or {}
    names = [str(f.get("name")) for f in manifest.get("files", []) if isinstance(f, dict)]
    db = str(manifest.get("archive_file") or "")
    if db:  # left if someone opened the copy in place
        names += [f"{db}-wal", f"{db}-shm", f"{db}-journal", f"{db}.lock"]
    for name in names:
        if name and Path(name).name == name:
            (folder / name).unlink(missing_ok=True)
    (folder / MANIFEST).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _apply_keep(dest: Path, archive_id: str, keep: Retention,
                new: Path) -> tuple[list[str], list[str]]:
    """Delete the copies of this archive that ``keep`` does not keep (never the new one)."""
    copies = list_copies(dest, archive_id)
    kept = kept_names(copies, keep)
    removed, problems = [], []
    for info in copies:
        if info.name in kept or info.path == new:
            continue
        try:
            _remove_copy(info)
            removed.append(info.name)
        except OSError as exc:
            problems.append(f"the old copy {info.path} could not be deleted "
                            f"({exc.strerror or exc})")
            log.warning("keep: %s", problems[-1])
    return removed, problems


# -- fetching a copy back ------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    copy: CopyInfo
    folder: Path  # where the files now are
    archive: Path  # the archive file in it
    size: int
    #: The manifest's signature: True checked, False absent (an older exporter's copy), None
    #: not checked (no credential given).
    signed: bool | None = None


def _label(source: Destination) -> str:
    return str(source) if isinstance(source, Path) else source.url


def _pick_copy(source: Destination, name: str) -> CopyInfo:
    copies = list_copies(source)
    where = _label(source)
    if name == "latest":
        if not copies:
            raise NotFound(f"There is no copy in {where}.")
        ids = {c.archive_id for c in copies}
        if len(ids) > 1:
            raise NotFound(f"{where} holds copies of {len(ids)} different archives; name the "
                           "copy to fetch ('exporter copy --list --to ...' lists them).")
        return copies[0]
    for info in copies:
        if info.name == name:
            return info
    newest = f" (the newest is {copies[0].name})" if copies else ""
    raise NotFound(f"There is no copy named '{name}' in {where}{newest}; 'exporter copy "
                   "--list --to ...' lists them, or use latest.")


def _check_signature(manifest: dict[str, Any], folder: Path, db_name: str,
                     credential: Credential, name: str) -> bool:
    """Unlock the fetched ``.keys`` file with ``credential`` and check the manifest's MAC
    with the master key (exporter.copies_base.check_manifest_mac)."""
    slots = KeySlots.load(slots_path_for(folder / db_name))
    master, _slot = slots.unlock(credential)
    if slots.archive_id != manifest.get("archive_id"):
        raise ArchiveDamaged(f"The manifest of the copy {name} names another archive than "
                             "its .keys file; nothing was kept. Fetch another copy.")
    return check_manifest_mac(manifest, master, name)


def _fetch_files(source: Destination, info: CopyInfo, manifest: dict[str, Any],
                 into: Path, progress: Progress | None,
                 credential: Credential | None) -> tuple[int, bool | None]:
    """Bring each file into a private hidden folder in ``into``, check it against the
    manifest (and the manifest's signature, given a credential), then move them into
    ``into`` (the archive last); bytes fetched, and whether the manifest was signed."""
    entries = [f for f in manifest["files"] if isinstance(f, dict)]
    names = [str(f.get("name", "")) for f in entries]
    staging = into / f".fetching-{os.getpid()}"
    total = sum(int(f.get("size", 0)) for f in entries)
    done = 0
    try:
        shutil.rmtree(staging, ignore_errors=True)
        private_folder(staging)  # 0700, and every file in it 0600: ciphertext, still private
        for entry, fname in zip(entries, names, strict=True):
            tmp = staging / fname

            def step(d: int, t: int, before: int = done) -> None:
                if progress is not None:
                    progress(before + d, total)

            if not isinstance(source, Path):
                with _store_errors():
                    size, digest = source.download(f"{info.name}/{fname}", tmp,
                                                   step if progress else None)
            else:
                size, digest = _stream_copy(Path(info.path) / fname, tmp, into, 0, total,
                                            step if progress else None)
            done += size
            if size != entry.get("size") or digest != entry.get("sha256"):
                raise ArchiveDamaged(
                    f"{fname} of the copy {info.name} does not match its manifest: that copy "
                    "is damaged. Nothing was kept; fetch another copy ('exporter copy --list "
                    "--check' shows which are good).")
        signed = None if credential is None else _check_signature(
            manifest, staging, str(manifest["archive_file"]), credential, info.name)
        for fname in reversed(names):  # the archive last
            winfs.replace(staging / fname, into / fname)
    except OSError as exc:
        raise _write_error(exc, into) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return done, signed


def fetch_copy(source: Destination, name: str, into: Path, *,
               progress: Progress | None = None,
               credential: Credential | None = None) -> FetchResult:
    """Bring the copy ``name`` (or ``"latest"``) from ``source`` into the folder ``into``,
    each file checked against the manifest. Needs no archive and no key: what comes back is
    ciphertext, unlocked later with the passphrase, key file or recovery key. Refuses to
    overwrite an archive already in ``into``; writes nothing anywhere else (no audit entry:
    there is no archive yet). The files come back owner-only (0600; ``into``, when this
    creates it, 0700). With ``credential`` the fetched ``.keys`` file is unlocked and the
    manifest's signature checked: an altered manifest is refused (ArchiveDamaged)."""
    info = _pick_copy(source, name)
    if not isinstance(source, Path):
        with _store_errors():
            manifest = _parse_manifest(source.get_bytes(f"{info.name}/{MANIFEST}"))
    else:
        manifest = _read_manifest(Path(info.path))
    entries = [f for f in (manifest or {}).get("files", []) if isinstance(f, dict)]
    names = [str(f.get("name", "")) for f in entries]
    db_name = str((manifest or {}).get("archive_file", ""))
    odd = any(not n or Path(n).name != n or n.startswith(".") for n in [*names, db_name])
    if manifest is None or not entries or not db_name or odd:
        raise ArchiveDamaged(f"The manifest of the copy {info.path} is damaged; fetch another "
                             "copy.")
    into = Path(into)
    try:
        private_folder(into, exist_ok=True)
        there = [n for n in [*names, f"{db_name}-wal", f"{db_name}-shm"]
                 if (into / n).exists()]
    except OSError as exc:
        raise _write_error(exc, into) from exc
    if there:
        raise CopyDestinationProblem(
            f"There is already an archive in {into} ({there[0]}); nothing was overwritten. "
            "Fetch into an empty folder.")
    done, signed = _fetch_files(source, info, manifest, into, progress, credential)
    return FetchResult(info, into, into / db_name, done, signed)
