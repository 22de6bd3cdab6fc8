"""An exporter connector: every ``*.csv`` file in a folder is a stream, each row a record.

    [sources.office_files]
    type = "csvfolder"
    folder = "C:/Office/lists"
    key = "id"               # the column that identifies a row

Each run reads every file in full; the archive keeps a new version only of rows that
changed, and rows gone from a file become deletions (the stream lists its ids).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exporter.plugin import (
    Batch,
    CheckResult,
    ConfigError,
    Connector,
    Record,
    Setting,
    SourceError,
    Stream,
)

__all__ = ["CsvFolderConnector"]


class CsvFileStream(Stream):
    """The rows of one CSV file."""

    reconcile = True  # ids() lists every row: rows removed from the file are deletions

    def __init__(self, path: Path, key: str) -> None:
        super().__init__(name=path.stem, primary_key=key, description=f"rows of {path.name}")
        self.path = path

    def _rows(self) -> list[dict[str, Any]]:
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise SourceError(f"The file {self.path} cannot be read ({exc.strerror}).") from exc
        if rows and self.primary_key not in rows[0]:
            raise SourceError(f"The file {self.path} has no column '{self.primary_key}'; set "
                              "key to the column that identifies a row.")
        return rows

    def read(self, cursor: Any, full: bool = False) -> Iterator[Batch]:
        records = [Record(row[self.primary_key], row) for row in self._rows()]
        yield Batch(records)

    def ids(self) -> Iterator[str]:
        return (row[self.primary_key] for row in self._rows())


class CsvFolderConnector(Connector):
    """Every CSV file in a folder, one stream per file."""

    name = "csvfolder"
    settings = (
        Setting("folder", "path", "The folder holding the CSV files", required=True),
        Setting("key", "string", "The column that identifies a row", default="id"),
    )

    def _folder(self) -> Path:
        folder = Path(self.config["folder"]).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"The folder {folder} (source {self.source}) does not exist.")
        return folder

    def discover(self) -> list[Stream]:
        return [CsvFileStream(p, self.config["key"]) for p in sorted(self._folder().glob("*.csv"))]

    def check(self) -> list[CheckResult]:
        what = f"Read the CSV files of {self.config['folder']}"
        try:
            found = len(self.discover())
        except ConfigError as exc:
            return [CheckResult(False, what, str(exc))]
        return [CheckResult(True, what, f"{found} file(s).")]
