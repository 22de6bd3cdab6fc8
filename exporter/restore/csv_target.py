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

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from exporter import winfs
from exporter.csvcells import formula_safe, unquote_formula
from exporter.errors import ConfigError, write_error
from exporter.filenames import NAME_LIMIT, readable_file_name
from exporter.filenames import safe_file_name as _safe
from exporter.keys import write_private_file
from exporter.private_files import make_private, private_folder
from exporter.record import printable
from exporter.restore.csv_long import cut, pointer, too_long, whole
from exporter.settings import Setting
from exporter.writer import (
    BATCH_SIZE,
    AnyFields,
    FileItem,
    ObjectInfo,
    WriteItem,
    Writer,
    WriteResult,
)

__all__ = ["CsvWriter"]




IMPORT_FOR = ("hubspot", "salesforce")
#: The column headers HubSpot's import tool matches to its default properties (it also
#: matches a property's internal name, which the other columns keep).
HUBSPOT_LABELS = {"firstname": "First Name", "lastname": "Last Name", "email": "Email",
                  "phone": "Phone Number", "mobilephone": "Mobile Phone Number",
                  "address": "Street Address", "city": "City", "state": "State/Region",
                  "zip": "Postal Code", "country": "Country/Region", "jobtitle": "Job Title",
                  "hs_language": "Preferred language", "domain": "Company Domain Name",
                  "hs_timestamp": "Activity date", "hs_note_body": "Note body",
                  "hs_task_subject": "Task Title", "hs_task_body": "Task notes",
                  "hs_task_status": "Task Status", "hs_task_priority": "Priority"}
#: The id column, named so that no import tool takes it for a field of its own.
ARCHIVED_ID = "Archived record ID"
DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?"
                      r"(Z|[+-]\d{2}:?\d{2})?$")


def _import_date(text: str, vendor: str) -> str:
    """A date-time in the form the vendor's import tool takes: HubSpot "2026-11-30
    14:05:00" (choose Year-Month-Day in the import), Salesforce "2026-11-30T14:05:00Z"
    (Data Loader and the Data Import Wizard); in UTC. A plain date stays YYYY-MM-DD."""
    import datetime as dt

    m = DATETIME.match(text)
    if m is None:
        return text
    try:
        when = dt.datetime.fromisoformat(f"{m[1]}T{m[2]}{m[4] or ''}".replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # typed as a date, but none (month 13, year 9999+)
        return text
    return when.strftime("%Y-%m-%d %H:%M:%S" if vendor == "hubspot" else "%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    """A cell's text (half an emoji, which no UTF-8 file holds, as the replacement
    character)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return printable(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return printable(str(value))


def _uncell(text: str | None) -> str:
    """A cell's value as restored (the leading quote of a formula-safe cell taken off)."""
    return unquote_formula(text) or ""


#: A Salesforce 18-character id ends in three letters that spell the case of the first
#: fifteen, so two of them never differ by case alone.
SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _plain_id(key: str) -> bool:
    """Whether ``key`` stays distinct as a file name on every OS, as it is: ASCII letters
    and digits, and either digits, a Salesforce 18-character id, or no lower-case letter
    (two keys that differ only by case are never both plain)."""
    if not (key.isascii() and key.isalnum()):
        return False
    if key.isdigit():
        return True
    if len(key) == 18:
        bits = [sum(1 << i for i, c in enumerate(key[n:n + 5]) if c.isupper())
                for n in (0, 5, 10)]
        return key[15:] == "".join(SF_SUFFIX[b] for b in bits)
    return key == key.upper()


def _file_name(obj: str, key: str, name: str, earlier: list[str]) -> str:
    """A restored file's name in its folder: ``<record id>-<file name>`` where both are
    plain (the id as :func:`_plain_id` says, the name unchanged by :func:`safe_file_name`, not
    the name of an earlier file of the record but for case); else the same made safe, with
    ``~`` and a hash of the object, record id, position and name, so that two records'
    files, or two files of one record, never share a name: ``a/b`` and ``a_b``, ``Plan.pdf``
    and ``plan.pdf`` on a disk that ignores case. A plain name never holds ``~``."""
    if _plain_id(key) and _safe(name) == name and \
            name.casefold() not in {n.casefold() for n in earlier}:
        return _safe(f"{_safe(key)}-{name}")
    whole = json.dumps([obj, key, len(earlier), name], ensure_ascii=False)
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    safe = _safe(name)
    stem, dot, ext = safe.rpartition(".")
    ext = f".{ext}" if dot and stem and len(ext) <= 10 else ""
    stem = stem if ext else safe
    head = _safe(key, 40)
    room = NAME_LIMIT - len(head) - len(digest) - len(ext) - 2
    return f"{head}-{stem[:room].rstrip(' .')}~{digest}{ext}"


def _sha256(path: Path) -> str:
    """The file's SHA-256 ('' when it is not there)."""
    if not path.is_file():
        return ""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    keeps_every_file = True
    settings = (Setting("path", "path", "The folder the CSV files are written to (made if "
                        "missing)", required=True), BATCH_SIZE,
                Setting("import_for", "string", "Files ready for this vendor's import tool "
                        "(hubspot or salesforce): its column names and date format, and "
                        "the mappings written for it", choices=IMPORT_FOR))

    def __init__(self, target: str, config: Mapping[str, Any], secrets: Mapping[str, str],
                 log: Any = None) -> None:
        super().__init__(target, config, secrets, log)
        if not isinstance(config.get("path"), str):
            raise ConfigError(f"[targets.{target}] of type csv needs path = \"FOLDER\".")
        self.folder = Path(str(config["path"])).expanduser()
        self.import_for: str | None = config.get("import_for")
        labels = {"id": ARCHIVED_ID, **(HUBSPOT_LABELS if self.import_for == "hubspot"
                                        else {})} if self.import_for else {}
        self._labels: dict[str, str] = labels
        self._names = {v: k for k, v in labels.items()}
        self._tables: dict[str, tuple[list[str], dict[str, dict[str, str]]]] = {}
        #: object -> (record id, column) -> the file holding a value too long for a cell
        self._long: dict[str, dict[tuple[str, str], str]] = {}
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
                # Held as the values they stand for; every cell and header is written
                # formula-safe (csvcells) and read back without its quote.
                with path.open(encoding="utf-8-sig", newline="") as fh:
                    reader = csv.reader(fh)
                    header = [self._names.get(_uncell(c), _uncell(c))
                              for c in next(reader, None) or ["id"]]
                    columns = header
                    for cells in reader:
                        row = {k: _uncell(v) for k, v in zip(header, cells, strict=False)}
                        rows[row.get("id", "")] = row
                        self._read_long(obj, row)
            self._tables[obj] = (columns, rows)
        return self._tables[obj]

    def _save(self, obj: str) -> None:
        columns, rows = self._table(obj)
        buf = io.StringIO()
        writer = csv.writer(buf)
        # Every cell, ids, references and headers included (a sheet's header is typed by
        # someone, a record id may hold a typed key), is shown by a spreadsheet, never run.
        writer.writerow([formula_safe(self._labels.get(c, c)) for c in columns])
        long = self._long.get(obj, {})
        writer.writerows([formula_safe(self._cell(long, row, c)) for c in columns]
                         for row in rows.values())
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
        values = {k: _text(v) for k, v in item.fields.items()}
        if self.import_for:
            values = {k: _import_date(v, self.import_for) for k, v in values.items()}
        values.update({ln.name: ln.to_id for ln in item.links})
        if item.file is not None:
            files = [item.file, *item.more_files]
            paths = [self._put_file(obj, item, f, [g.name for g in files[:n]])
                     for n, f in enumerate(files)]
            values["file"] = paths[0]
            if len(paths) > 1:
                values["other_files"] = "; ".join(paths[1:])
        for name in values:
            if name not in columns:
                columns.append(name)
        self._write_long(obj, item, values)
        row.update(values)
        rows[item.key] = row
        return WriteResult(item.key, item.key, created)

    @staticmethod
    def _cell(long: Mapping[tuple[str, str], str], row: Mapping[str, str], column: str) -> str:
        value = row.get(column, "")
        rel = long.get((row.get("id", ""), column))
        return cut(value, rel) if rel is not None and too_long(value) else value

    def _write_long(self, obj: str, item: WriteItem, values: Mapping[str, str]) -> None:
        """Values longer than a spreadsheet cell: each written whole to a .txt file in the
        record's client folder (:mod:`exporter.restore.csv_long`)."""
        long = self._long.setdefault(obj, {})
        for name, value in values.items():
            if not too_long(value):
                long.pop((item.key, name), None)
                continue
            folder = Path("files") / readable_file_name(item.client or obj, 80)
            rel = folder / _file_name(obj, item.key, f"{name} (whole text).txt", [])
            _write_file(self.folder / rel, [value.encode("utf-8-sig")])
            long[(item.key, name)] = rel.as_posix()

    def _read_long(self, obj: str, row: dict[str, str]) -> None:
        """Cells pointing to the .txt file of their whole text, read back whole."""
        for name, cell in row.items():
            rel = pointer(cell)
            if rel is not None:
                row[name] = whole(self.folder, cell)
                if row[name] is not cell:
                    self._long.setdefault(obj, {})[(row.get("id", ""), name)] = rel

    def _put_file(self, obj: str, item: WriteItem, file: FileItem, earlier: list[str]) -> str:
        """Writes one file under ``files/<client>/`` (the client's own folder) or, for a
        record of no client, ``files/<object>/``, named after its record (id first, so
        two records' files never collide) with its extension (``earlier``: the names of
        the record's files written before this one)."""
        folder = Path("files") / readable_file_name(item.client or obj, 80)
        rel = folder / _file_name(obj, item.key, file.name, earlier)
        dest = self.folder / rel
        _write_file(dest, file.open())
        return rel.as_posix()

    def write(self, obj: str, items: list[WriteItem],
              match: list[str] | None = None) -> list[WriteResult]:
        with self._writing():
            results = [self._put(obj, item) for item in items]
            self._save(obj)
        return results

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A folder that cannot be written (read-only media, no permission, a file in the
        way, a full disk) stops the restore with one sentence (exit 16, or 10 when full),
        never as an unexpected problem: nothing after it could be written either."""
        try:
            yield
        except OSError as exc:
            raise write_error(exc, f"the CSV folder {self.folder}", "choose a folder you can "
                              f"write to as path in [targets.{self.target}] and run the "
                              "restore again.") from exc

    def count(self, obj: str) -> int | None:
        return len(self._table(obj)[1])

    def remove(self, obj: str, target_ids: list[str], keys: list[str]) -> list[WriteResult]:
        """Takes the rows out of the file (a folder of CSVs has no archived state)."""
        rows = self._table(obj)[1]
        for tid in target_ids:
            rows.pop(tid, None)
        with self._writing():
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
            got: dict[str, Any] = {f: row.get(f) for f in fields}
            got["@links"] = {ln: [row[ln]] if row.get(ln) else [] for ln in links}
            if row.get("file"):
                path = self.folder / row["file"]
                got["@file_size"] = path.stat().st_size if path.exists() else None
            out[rid] = got
        return out

    def file_digests(self, obj: str, ids: list[str]) -> dict[str, list[str]] | None:
        rows = self._table(obj)[1]
        out: dict[str, list[str]] = {}
        for rid in ids:
            row = rows.get(rid) or {}
            paths = [row.get("file") or "", *(row.get("other_files") or "").split("; ")]
            out[rid] = [f"sha256:{_sha256(self.folder / p)}" for p in paths if p]
        return out

    def calls(self) -> int:
        return self._calls
