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

from exporter.archive import Archive
from exporter.errors import NotFound, NotWritable

__all__ = ["ExportResult", "export_archive"]


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
def _private_text(path: Path) -> Iterator[IO[str]]:
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".part")
    os.chmod(tmp, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def export_archive(archive: Archive, fmt: str, out: Path, streams: list[str] | None = None,
                   as_of: str | None = None) -> ExportResult:
    """Export current (or as-of) records as JSON Lines (one file) or CSV (a file per stream)."""
    run = archive.resolve_as_of(as_of)
    chosen = _select(archive, streams)
    result = ExportResult()
    if fmt == "jsonl":
        target = out / "export.jsonl" if out.is_dir() else out
        with _private_text(target) as fh:
            for source, stream in chosen:
                for rid, data in archive.records(source, stream, as_of=run):
                    fh.write(json.dumps({"source": source, "stream": stream, "id": rid,
                                         "data": data}, ensure_ascii=False, sort_keys=True))
                    fh.write("\n")
                    result.records += 1
        result.files.append(target)
    elif fmt == "csv":
        single = len(chosen) == 1 and out.suffix.lower() == ".csv"
        for source, stream in chosen:
            target = out if single else out / f"{source}.{stream}.csv"
            columns: dict[str, None] = {}
            for _rid, data in archive.records(source, stream, as_of=run):
                columns.update(dict.fromkeys(data or {}))
            with _private_text(target) as fh:
                writer = csv.writer(fh)
                writer.writerow(["_id", *columns])
                for rid, data in archive.records(source, stream, as_of=run):
                    row = data or {}
                    writer.writerow([rid, *(_cell(row.get(c)) for c in columns)])
                    result.records += 1
            result.files.append(target)
    else:
        raise ValueError(f"unknown format {fmt}")
    archive.audit("export", {"format": fmt, "streams": [f"{s}/{t}" for s, t in chosen],
                             "as_of_run": run, "records": result.records,
                             "files": [str(p) for p in result.files]})
    return result


