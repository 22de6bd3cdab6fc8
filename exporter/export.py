"""Deliberate plaintext exports of the archive (``exporter export``).

Files are written under a temporary name and renamed when complete (never half written),
readable by the owner only, and every export is written to the audit log.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from exporter import winfs
from exporter.archive import Archive
from exporter.csvcells import formula_safe
from exporter.errors import NotFound, NotWritable
from exporter.filenames import safe_file_name
from exporter.private_files import make_private, private_folder
from exporter.record import printable, utf8_text

__all__ = ["BY_ID_CHECK", "BY_VENDOR", "ExportResult", "export_archive"]


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    records: int = 0


def _refuse_special(path: Path) -> None:
    """Never put plaintext in place of a device, pipe or socket (a symlink is followed to see
    what it points at): only a new name or an ordinary file is replaced."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise NotWritable(f"{path} cannot be checked ({exc.strerror}); choose another name "
                          "for the export.") from exc
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or other special file"
        raise NotWritable(f"{path} is {what}, not a file: exporter does not write an export "
                          "over it; choose a new file name.")


@contextmanager
def _private_text(path: Path, staged: list[tuple[Path, Path]]) -> Iterator[IO[str]]:
    """A 0600 ``.part`` file beside ``path``; once written it is added to ``staged`` (part,
    final), renamed into place only after the export's audit entry is written."""
    _refuse_special(path)
    private_folder(path.parent, exist_ok=True)  # 0700: plaintext health data goes in it
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".part")
    make_private(Path(tmp))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        staged.append((Path(tmp), path))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _select(archive: Archive, wanted: list[str] | None) -> list[tuple[str, str]]:
    streams = archive.streams()
    if not wanted:
        return streams
    chosen: list[tuple[str, str]] = []
    for name in wanted:
        hits = [s for s in streams if name in (s[1], f"{s[0]}/{s[1]}", f"{s[0]}.{s[1]}")]
        if not hits:
            known = ", ".join(f"{s}/{t}" for s, t in streams) or "none yet"
            raise NotFound(f"There is no stream '{name}' in the archive (streams: {known}).")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _cell(value: Any) -> str:
    """A CSV cell as a spreadsheet shows it (half an emoji: the replacement character)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return formula_safe(printable(json.dumps(value, ensure_ascii=False, sort_keys=True)))
    if isinstance(value, bool):
        return "true" if value else "false"
    return formula_safe(printable(str(value)))  # "=HYPERLINK(...)" is shown, never run


#: How a deletion was found, as ``export --include-deleted`` writes it.
BY_VENDOR, BY_ID_CHECK = "vendor", "id check"


def _deleted(archive: Archive, source: str, stream: str, run: int | None
             ) -> dict[str, dict[str, Any]]:
    """{record id: when and how it was found deleted} of the stream's deleted records: by
    the vendor (a tombstone it sent: Salesforce IsDeleted, a Drive removal, a HubSpot
    archived record) or by exporter's id check (the id was no longer listed)."""
    stats: dict[int, set[str]] = {}
    out: dict[str, dict[str, Any]] = {}
    for rid, (run_id, at, kept_data) in archive.deletions(source, stream, run).items():
        if run_id not in stats:
            info = (archive.run(run_id).stats.get("streams") or {}).get(f"{source}/{stream}")
            stats[run_id] = set((info or {}).get("id_check_deleted") or ())
        how = BY_ID_CHECK if not kept_data and rid in stats[run_id] else BY_VENDOR
        out[rid] = {"deleted_at": at, "deleted_run": run_id, "deleted_by": how}
    return out


def _jsonl(archive: Archive, chosen: list[tuple[str, str]], target: Path, run: int | None,
           include_deleted: bool, staged: list[tuple[Path, Path]]) -> int:
    count = 0
    with _private_text(target, staged) as fh:
        for source, stream in chosen:
            gone = _deleted(archive, source, stream, run) if include_deleted else {}
            for rid, data in archive.records(source, stream, as_of=run,
                                             include_deleted=include_deleted):
                line: dict[str, Any] = {"source": source, "stream": stream, "id": rid,
                                        "data": data}
                if include_deleted:
                    line["deleted"] = rid in gone
                    line.update(gone.get(rid, {}))
                # half an emoji keeps its \u escape: the line reads back to equal data
                fh.write(utf8_text(json.dumps(line, ensure_ascii=False, sort_keys=True))[0])
                fh.write("\n")
                count += 1
    return count


def _csv(archive: Archive, source: str, stream: str, target: Path, run: int | None,
         include_deleted: bool, staged: list[tuple[Path, Path]]) -> int:
    count = 0
    gone = _deleted(archive, source, stream, run) if include_deleted else {}
    extra = ["_deleted", "_deleted_at", "_deleted_run", "_deleted_by"] if include_deleted else []
    columns: dict[str, None] = {}
    for _rid, data in archive.records(source, stream, as_of=run,
                                      include_deleted=include_deleted):
        columns.update(dict.fromkeys(data or {}))
    with _private_text(target, staged) as fh:
        writer = csv.writer(fh)
        writer.writerow(["_id", *extra, *(formula_safe(printable(c)) for c in columns)])
        for rid, data in archive.records(source, stream, as_of=run,
                                         include_deleted=include_deleted):
            row = data or {}
            how = gone.get(rid, {})
            marks = ([_cell(rid in gone), _cell(how.get("deleted_at")),
                      _cell(how.get("deleted_run")), _cell(how.get("deleted_by"))]
                     if include_deleted else [])
            writer.writerow([_cell(rid), *marks, *(_cell(row.get(c)) for c in columns)])
            count += 1
    return count


def export_archive(archive: Archive, fmt: str, out: Path, streams: list[str] | None = None,
                   as_of: str | None = None, include_deleted: bool = False) -> ExportResult:
    """Export current (or as-of) records as JSON Lines (one file) or CSV (a file per stream);
    with ``include_deleted``, deleted records too, each with when and how it was found
    deleted."""
    run = archive.resolve_as_of(as_of)
    chosen = _select(archive, streams)
    result = ExportResult()
    staged: list[tuple[Path, Path]] = []
    try:
        if fmt == "jsonl":
            target = out / "export.jsonl" if out.is_dir() else out
            result.records += _jsonl(archive, chosen, target, run, include_deleted, staged)
            result.files.append(target)
        elif fmt == "csv":
            single = len(chosen) == 1 and out.suffix.lower() == ".csv"
            for source, stream in chosen:
                target = out if single else out / safe_file_name(f"{source}.{stream}.csv")
                result.records += _csv(archive, source, stream, target, run, include_deleted,
                                       staged)
                result.files.append(target)
        else:
            raise ValueError(f"unknown format {fmt}")
        # The audit entry first: plaintext never reaches its name without its trace.
        archive.audit("export", {"format": fmt, "streams": [f"{s}/{t}" for s, t in chosen],
                                 "as_of_run": run, "records": result.records,
                                 "include_deleted": include_deleted,
                                 "files": [str(p) for p in result.files]})
    except BaseException:
        for part, _ in staged:
            part.unlink(missing_ok=True)
        raise
    for part, final in staged:
        winfs.replace(part, final)
    return result
