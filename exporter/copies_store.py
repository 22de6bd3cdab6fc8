"""Copies of the archive in an S3-compatible object store (an
:class:`~exporter.objectstore.ObjectStore`, see :func:`open_store`).

:func:`exporter.copies.make_copy`, :func:`~exporter.copies.list_copies`,
:func:`~exporter.copies.check_destination` and :func:`~exporter.copies.fetch_copy` take a
folder or a store and hand a store to this module. In a store, a copy is made with the same
steps as in a folder (:mod:`exporter.copies`), done with objects (docs/design.md):

1. ``<stem>-<stamp>/.partial-<archive id>`` (empty) is written first: it ties everything
   under that copy name to this archive until the copy is complete;
2. under the write lock, the archive is written through SQLite's backup API into a hidden
   scratch folder beside it (``.copy-snapshot-<archive id>-<pid>``, encrypted as the
   archive is), and that snapshot and the ``.keys`` file are uploaded (streamed, SHA-256
   in the object's metadata) to ``<stem>-<stamp>/<name>``;
3. verified without a download: each object's size (listing) and stored SHA-256 (HEAD)
   must equal what was read locally;
4. ``MANIFEST.json`` is uploaded LAST (a copy exists only once its manifest does), then the
   marker is deleted; ``keep`` deletes the copies of this archive it does not keep
   (:mod:`exporter.retention`).

A killed run leaves objects under a copy name with the marker and no manifest: the next
copy of that archive deletes them (and aborts that name's unfinished multipart uploads).

boto3 is imported only when a store is opened (:func:`open_store`); importing this module
does not import it. No click here: the CLI prints and picks exit codes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter import __version__, winfs
from exporter.archive import Archive, translate_db_error
from exporter.archive.audit import audit_head
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
    _backup_snapshot,
    _newest_run,
    _parse_manifest,
    _read_transaction,
    _stamp,
    sign_manifest,
)
from exporter.errors import (
    ArchiveDamaged,
    ConfigError,
    DiskFull,
    ExporterError,
    ObjectStoreError,
)
from exporter.keys import slots_path_for
from exporter.private_files import private_folder
from exporter.retention import Retention, kept_names

__all__ = ["open_store"]

if TYPE_CHECKING:
    from exporter.config import CopyTarget
    from exporter.objectstore import ObjectStore  # boto3: imported only when used

log = logging.getLogger("exporter.copies")

#: The scratch folder beside the archive that holds its snapshot while it is uploaded.
SNAPSHOT_PREFIX = ".copy-snapshot-"

#: A copy's name in a store: ``<archive stem>-<UTC YYYYmmdd-HHMMSS>[-N]``.
_COPY_NAME = re.compile(r"^.+-\d{8}-\d{6}(?:-\d+)?$")


def open_store(target: CopyTarget) -> ObjectStore:
    """The object store of a ``[[copies]]`` table with a ``url``; its secret references are
    resolved now (environment, keyring or a 0600 file), never earlier."""
    from exporter.config import COPY_SECRET_FIELDS
    from exporter.secrets import resolve_secrets

    if not target.url:
        raise ValueError("not an object-store copy")
    where = target.config_path or Path("the config file")
    table = f"[[copies]] '{target.name}'"
    keys = resolve_secrets(where, f"copy '{target.name}'", target.secrets, COPY_SECRET_FIELDS,
                           table=table)
    for name in COPY_SECRET_FIELDS:
        if name not in keys:
            raise ConfigError(f"In {where}, {table} {name} must be one of "
                              '{ env = ... }, { keyring = ... } or { file = ... }.')
    from exporter.objectstore import ObjectStore

    return ObjectStore(target.url, access_key_id=keys["access_key_id"],
                       secret_access_key=keys["secret_access_key"],
                       endpoint_url=target.endpoint_url, region=target.region)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """An object store that refuses or cannot be reached is a destination problem (exit 14);
    a body that does not match its stored SHA-256 is damage (exit 6). DiskFull and
    ConfigError pass as they are."""
    try:
        yield
    except ObjectStoreError as exc:
        if exc.kind == "damaged":
            raise ArchiveDamaged(str(exc)) from exc
        raise CopyDestinationProblem(str(exc)) from exc


def _store_url(store: ObjectStore, name: str) -> str:
    return f"{store.url.rstrip('/')}/{name}"


def _groups(keys: list[str]) -> dict[str, set[str]]:
    """Object keys grouped by copy name: {copy name: {file names}}."""
    out: dict[str, set[str]] = {}
    for key in keys:
        top, _, rest = key.partition("/")
        if rest:
            out.setdefault(top, set()).add(rest)
    return out


def _remove_store_partials(store: ObjectStore, archive_id: str,
                           groups: dict[str, set[str]]) -> None:
    """Delete what a killed copy of this archive left: a copy name holding our marker and no
    manifest. Names without our marker (other archives, anything else) are never touched."""
    marker = f"{PARTIAL_PREFIX}{archive_id}"
    for top, names in groups.items():
        if marker not in names or not _COPY_NAME.match(top):
            continue
        if MANIFEST not in names:
            log.info("removing an unfinished copy left by a stopped run: %s",
                     _store_url(store, top))
            store.delete([f"{top}/{n}" for n in sorted(names) if n != marker])
            store.abort_uploads(f"{top}/")
        store.delete([f"{top}/{marker}"])  # the marker last: a failure here is retried


def _discard_store_copy(store: ObjectStore, name: str, keys: list[str], marker: str) -> None:
    with contextlib.suppress(ExporterError):
        store.delete(keys)
        store.abort_uploads(f"{name}/")
        store.delete([marker])


def _verify_store_copy(store: ObjectStore, name: str, files: list[dict[str, Any]]) -> None:
    """Each object's size (from a listing) and stored SHA-256 (HEAD) must equal what was
    read locally; no download (``copy --check`` downloads and re-hashes)."""
    listed = {o.key: o.size for o in store.list(f"{name}/")}
    problems = []
    for entry in files:
        key = f"{name}/{entry['name']}"
        if key not in listed:
            problems.append(f"{entry['name']} is missing")
        elif listed[key] != entry["size"]:
            problems.append(f"{entry['name']} has {listed[key]} bytes instead of "
                            f"{entry['size']}")
        elif store.stored_sha256(key) != entry["sha256"]:
            problems.append(f"{entry['name']} does not carry the SHA-256 that was sent")
    if problems:
        raise CopyDestinationProblem(
            f"The copy written to {store.url} did not read back the same "
            f"({'; '.join(problems)}); the copy was removed. Try again, or check the store.")


@contextlib.contextmanager
def _snapshot_folder(archive: Archive) -> Iterator[Path]:
    """A hidden scratch folder beside the archive (the same disk, which has room for a
    second archive-sized file more surely than the system's temporary folder), removed
    afterwards; a killed run's folder is removed by the next copy."""
    for stale in archive.path.parent.glob(f"{SNAPSHOT_PREFIX}{archive.archive_id}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # the write lock is ours: none is in use
    folder = archive.path.parent / f"{SNAPSHOT_PREFIX}{archive.archive_id}-{os.getpid()}"
    try:
        private_folder(folder)
        winfs.hide(folder)
    except OSError as exc:
        raise ExporterError(f"No snapshot of the archive could be made beside it in "
                            f"{folder.parent} ({exc.strerror or exc}); no copy was made.") from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _take_snapshot(archive: Archive, path: Path) -> None:
    try:
        _backup_snapshot(archive, path)
    except _DB_ERRORS as exc:
        raise translate_db_error(exc, path.parent) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull(f"The disk holding the archive is full: no snapshot of it could "
                           f"be made in {path.parent} for the copy; free some space there.") \
                from exc
        raise


def _make_store_copy(archive: Archive, store: ObjectStore, *, keep: Retention,
                     progress: Progress | None) -> CopyResult:
    with _store_errors():
        store.probe()
    with _store_errors():
        groups = _groups([o.key for o in store.list()])
        _remove_store_partials(store, archive.archive_id, groups)
    now = dt.datetime.now(dt.UTC)
    base = f"{archive.path.stem}-{_stamp(now)}"
    name, n = base, 2
    while name in groups:
        name, n = f"{base}-{n}", n + 1
    marker = f"{name}/{PARTIAL_PREFIX}{archive.archive_id}"
    uploaded: list[str] = []
    files: list[dict[str, Any]] = []
    try:
        with _store_errors():
            store.put_bytes(marker, b"")
            with _read_transaction(archive), _snapshot_folder(archive) as scratch:
                snapshot = scratch / archive.path.name
                _take_snapshot(archive, snapshot)
                sources = [snapshot, slots_path_for(archive.path)]
                total = sum(p.stat().st_size for p in sources)
                done = 0
                for src in sources:
                    key = f"{name}/{src.name}"
                    uploaded.append(key)

                    def step(d: int, t: int, before: int = done) -> None:
                        if progress is not None:
                            progress(before + d, total)

                    size, digest = store.upload(src, key, step if progress else None)
                    done += size
                    files.append({"name": src.name, "size": size, "sha256": digest})
                newest = _newest_run(archive)
                version = int(archive.conn.execute("PRAGMA user_version").fetchone()[0])
            _verify_store_copy(store, name, files)
            manifest = {
                "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                "archive_id": archive.archive_id, "archive_format_version": version,
                "archive_file": archive.path.name, "newest_run": newest, "files": files,
                "audit_head": audit_head(archive.conn),  # the log's head, kept off the PC
                "created_at": now.isoformat(), "exporter_version": __version__,
            }
            manifest = sign_manifest(manifest, archive.master)
            data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
            uploaded.append(f"{name}/{MANIFEST}")
            store.put_bytes(f"{name}/{MANIFEST}", data)  # last: now the copy exists
            if store.get_bytes(f"{name}/{MANIFEST}") != data:
                raise CopyDestinationProblem(f"The manifest written to {store.url} did not "
                                             "read back the same; the copy was removed.")
    except DiskFull as exc:
        _discard_store_copy(store, name, uploaded, marker)
        raise DiskFull(f"{exc} The unfinished copy there was removed; the archive is "
                       "unchanged.") from exc
    except BaseException:
        _discard_store_copy(store, name, uploaded, marker)
        raise
    with contextlib.suppress(ExporterError):  # if it stays, the next copy removes it
        store.delete([marker])
    removed, problems = _apply_store_keep(store, archive.archive_id, keep, name)
    with _store_errors():
        kept = len(_list_store_copies(store, archive.archive_id, check=False))
    size = sum(int(f["size"]) for f in files)
    archive.audit("copy", {"destination": store.url, "folder": name, "size": size,
                           "sha256": files[0]["sha256"], "verified": True, "kept": kept,
                           "removed": removed})
    return CopyResult(store.url, _store_url(store, name), size, str(files[0]["sha256"]), kept,
                      removed, problems)


def _check_store_files(store: ObjectStore, name: str, manifest: dict[str, Any],
                       sizes: dict[str, int]) -> list[str]:
    """Download and re-hash a copy's objects against its manifest; the problems in words."""
    problems = []
    for entry in manifest.get("files", []):
        fname = str(entry.get("name", ""))
        if not fname or "/" in fname:
            problems.append(f"the manifest names a file oddly ({fname!r})")
            continue
        key = f"{name}/{fname}"
        if key not in sizes:
            problems.append(f"{fname} is missing")
        elif sizes[key] != entry.get("size"):
            problems.append(f"{fname} has {sizes[key]} bytes instead of {entry.get('size')}")
        elif store.sha256_of(key) != entry.get("sha256"):
            problems.append(f"{fname} does not match its SHA-256 (some bytes changed)")
    return problems


def _list_store_copies(store: ObjectStore, archive_id: str | None, *,
                       check: bool) -> list[CopyInfo]:
    found = []
    with _store_errors():
        sizes = {o.key: o.size for o in store.list()}
        for top in sorted(_groups(list(sizes))):
            if f"{top}/{MANIFEST}" not in sizes:
                continue
            manifest = _parse_manifest(store.get_bytes(f"{top}/{MANIFEST}"))
            if manifest is None:
                continue
            if archive_id is not None and manifest.get("archive_id") != archive_id:
                continue
            listed = manifest.get("files")
            files: list[Any] = listed if isinstance(listed, list) else []
            found.append(CopyInfo(
                name=top, path=_store_url(store, top),
                archive_id=str(manifest.get("archive_id")),
                created_at=str(manifest.get("created_at", "")),
                size=sum(int(f.get("size", 0)) for f in files if isinstance(f, dict)),
                newest_run=manifest.get("newest_run"),
                problems=_check_store_files(store, top, manifest, sizes) if check else None))
    found.sort(key=lambda c: (c.created_at, c.name), reverse=True)
    return found


def _apply_store_keep(store: ObjectStore, archive_id: str, keep: Retention,
                      new: str) -> tuple[list[str], list[str]]:
    """Delete the copies of this archive that ``keep`` does not keep (never the new one):
    the objects their manifest names, then the manifest. Other objects are never touched."""
    removed, problems = [], []
    try:
        with _store_errors():
            copies = _list_store_copies(store, archive_id, check=False)
    except ExporterError as exc:
        return [], [f"the old copies in {store.url} could not be listed ({exc})"]
    kept = kept_names(copies, keep) | {new}
    for info in (c for c in copies if c.name not in kept):
        try:
            with _store_errors():
                manifest = _parse_manifest(store.get_bytes(f"{info.name}/{MANIFEST}")) or {}
                names = [str(f.get("name")) for f in manifest.get("files", [])
                         if isinstance(f, dict) and "/" not in str(f.get("name"))]
                store.delete([f"{info.name}/{n}" for n in names if n])
                store.delete([f"{info.name}/{MANIFEST}"])
            removed.append(info.name)
        except ExporterError as exc:
            problems.append(f"the old copy {info.path} could not be deleted ({exc})")
            log.warning("keep: %s", problems[-1])
    return removed, problems
