"""The CSV folder target: one import-ready CSV file per target object, files beside them.

    [targets.csv]
    type = "csv"
    path = "D:/exporter/restore-csv"

Each file is UTF-8 with a BOM (so that Excel reads accents right), its cells safe from
formula injection (a cell starting with =, +, - or @ that is not a number gets a leading
quote). Each file has an ``id`` column (the archived record's id, which is also the record's id
in the id map), the mapped fields, one column per reference (the parent's id) and, for
records with a file, ``file`` (its path under ``files/``). Files are rewritten whole
(to a temporary name, then renamed) after each batch, so a killed restore leaves every
CSV whole and matching the id map.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exporter import winfs
from exporter.csvcells import formula_safe, unquote_formula
from exporter.errors import ConfigError
from exporter.filenames import safe_file_name as _safe
from exporter.keys import write_private_file
from exporter.private_files import make_private, private_folder
from exporter.settings import Setting
from exporter.writer import BATCH_SIZE, AnyFields, ObjectInfo, WriteItem, Writer, WriteResult

__all__ = ["CsvWriter"]




def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return formula_safe(text)  # Excel and Sheets run "=...": shown as text (csvcells)


def _uncell(text: str | None) -> str | None:
    """A cell's value as restored (the leading quote of a formula-safe cell taken off)."""
    return unquote_formula(text)


def _write_file(dest: Path, chunks: Iterable[bytes]) -> None:
    """A restored attachment (health data): written to a new, randomly named ``.part`` file
    beside ``dest`` (mkstemp: O_EXCL, 0600, never through a symlink someone planted, an
    owner-only DACL on Windows), then renamed over ``dest`` (which replaces a link there
    rather than writing through it)."""
    private_folder(dest.parent, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            make_private(tmp)
            for chunk in chunks:
                fh.write(chunk)
        winfs.replace(tmp, dest)  # the CSV may be open in Excel a moment
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class CsvWriter(Writer):
    """A folder of CSV files, one per target object."""

    name = "csv"
    batch_size: int = 1000
    settings = (Setting("path", "path", "The folder the CSV files are written to (made if "
                        "missing)", required=True), BATCH_SIZE)

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: Any = None) -> None:
        super().__init__(target, config, secrets, log)
        if not isinstance(config.get("path"), str):
            raise ConfigError(f"[targets.{target}] of type csv needs path = \"FOLDER\".")
        self.folder = Path(str(config["path"])).expanduser()
        self._tables: dict[str, tuple[list[str], dict[str, dict[str, str]]]] = {}
        self._calls = 0

    def describe(self, obj: str) -> ObjectInfo | None:
        return ObjectInfo(obj, AnyFields(), upsert="id")

    def _path(self, obj: str) -> Path:
        return self.folder / f"{_safe(obj, 60)}.csv"

    def _table(self, obj: str) -> tuple[list[str], dict[str, dict[str, str]]]:
        if obj not in self._tables:
            columns: list[str] = ["id"]
            rows: dict[str, dict[str, str]] = {}
            path = self._path(obj)
            if path.exists():
                with path.open(encoding="utf-8-sig", newline="") as fh:
                    reader = csv.DictReader(fh)
                    columns = list(reader.fieldnames or ["id"])
                    rows = {r["id"]: dict(r) for r in reader}
            self._tables[obj] = (columns, rows)
        return self._tables[obj]

    def _save(self, obj: str) -> None:
        columns, rows = self._table(obj)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows.values())
        private_folder(self.folder, exist_ok=True)
        # UTF-8 with a BOM: Excel then reads accents right (without one it assumes the
        # machine's code page); import tools for HubSpot and Salesforce accept it.
        write_private_file(self._path(obj), buf.getvalue().encode("utf-8-sig"))
        self._calls += 1

    def _put(self, obj: str, item: WriteItem) -> WriteResult:
        columns, rows = self._table(obj)
        row = rows.get(item.key)
        created = row is None
        row = row or {"id": item.key}
        values = {k: _cell(v) for k, v in item.fields.items()}
        values.update({ln.name: ln.to_id for ln in item.links})
        if item.file is not None:
            name = _safe(f"{_safe(item.key)}-{_safe(item.file.name)}")
            rel = Path("files") / _safe(obj, 60) / name
            dest = self.folder / rel
            _write_file(dest, item.file.open())
            values["file"] = rel.as_posix()
        for name in values:
            if name not in columns:
                columns.append(name)
        row.update(values)
        rows[item.key] = row
        return WriteResult(item.key, item.key, created)

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        results = [self._put(obj, item) for item in items]
        self._save(obj)
        return results

    def count(self, obj: str) -> int | None:
        return len(self._table(obj)[1])

    def remove(self, obj: str, target_ids: list[str], keys: list[str]) -> list[WriteResult]:
        """Takes the rows out of the file (a folder of CSVs has no archived state)."""
        rows = self._table(obj)[1]
        for tid in target_ids:
            rows.pop(tid, None)
        self._save(obj)
        return [WriteResult(k, t) for k, t in zip(keys, target_ids, strict=True)]

    def link(self, obj: str, items: list[WriteItem]) -> list[WriteResult]:
        return self.write(obj, items)

    def find(self, obj: str, items: list[WriteItem], match: list[str]) -> dict[str, str]:
        rows = self._table(obj)[1]
        return {i.key: i.key for i in items if i.key in rows}

    def read(self, obj: str, ids: list[str], fields: list[str],
             links: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        rows = self._table(obj)[1]
        out: dict[str, dict[str, Any]] = {}
        for rid in ids:
            row = rows.get(rid)
            if row is None:
                continue
            got: dict[str, Any] = {f: _uncell(row.get(f)) for f in fields}
            got["@links"] = {ln: [row[ln]] if row.get(ln) else [] for ln in links}
            if row.get("file"):
                path = self.folder / row["file"]
                got["@file_size"] = path.stat().st_size if path.exists() else None
            out[rid] = got
        return out

    def calls(self) -> int:
        return self._calls
