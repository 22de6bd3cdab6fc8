"""What a restore reports: per target object the counts, the records that failed (each with
the vendor's message and the client it is about), and the error report file (CSV, 0600, in
a folder only its owner opens; every cell formula-safe and without a secret, since client
names, ids and vendor messages come from people typing and a vendor may quote the request
back)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exporter.csvcells import formula_safe
from exporter.keys import write_private_file
from exporter.private_files import private_folder
from exporter.redact import redact

__all__ = ["ErrorRow", "NullRestoreProgress", "ObjectReport", "RestoreProgress",
           "RestoreReport", "write_errors"]


@dataclass
class ErrorRow:
    target_object: str
    stream: str
    source_id: str
    message: str
    client: str = ""  # "name (number)" of the client the record is about


@dataclass
class ObjectReport:
    stream: str
    object: str
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    recovered: int = 0  # pending writes of a killed run found in the target
    linked: int = 0  # second-pass updates for references in a cycle
    failed: int = 0
    partial: int = 0  # written without a field the target refused, or without a parent
    deleted: int = 0  # deleted from the source: archived, made inactive or removed
    files: int = 0

    def summary(self, dry_run: bool = False) -> str:
        if dry_run:
            return (f"{self.stream} -> {self.object}: {self.records} records: {self.created} "
                    f"to create, {self.updated} to update, {self.unchanged} unchanged, "
                    f"{self.failed} failing validation"
                    + (f", {self.deleted} deleted since" if self.deleted else ""))
        extra = f", {self.recovered} recovered" if self.recovered else ""
        extra += f", {self.linked} relinked" if self.linked else ""
        extra += f", {self.files} files" if self.files else ""
        extra += f", {self.partial} partial" if self.partial else ""
        extra += f", {self.deleted} deleted since" if self.deleted else ""
        return (f"{self.stream} -> {self.object}: {self.created} created, {self.updated} "
                f"updated, {self.unchanged} unchanged, {self.failed} failed{extra}")


@dataclass
class RestoreReport:
    target: str
    mapping: str
    run_id: int | None = None
    status: str = "ok"  # ok | partial | failed
    dry_run: bool = False
    #: which archived data is restored, in words: "the newest data", or "run 3 (date)"
    as_of: str = "the newest data"
    objects: list[ObjectReport] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    unmapped_streams: list[str] = field(default_factory=list)
    created_fields: dict[str, list[str]] = field(default_factory=dict)
    #: "Object.field" -> the values added to its options (``unlisted_values = "add"``)
    added_options: dict[str, list[str]] = field(default_factory=dict)
    created_objects: list[str] = field(default_factory=list)  # custom objects made
    calls: int = 0
    seconds: float = 0.0
    errors_file: Path | None = None
    parents_added: list[str] = field(default_factory=list)  # restored for --only's links
    #: same-vendor: what differs on records the target still holds, and is (to be) sent
    diff: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(o, name)) for o in self.objects)

    def stats(self) -> dict[str, Any]:
        return {"target": self.target, "mapping": self.mapping, "dry_run": self.dry_run,
                "objects": [asdict(o) for o in self.objects], "errors": len(self.errors),
                "calls": self.calls, "seconds": round(self.seconds, 3),
                "created_fields": self.created_fields, "added_options": self.added_options,
                "created_objects": self.created_objects}


class RestoreProgress(Protocol):
    def started(self, label: str, total: int | None) -> None: ...
    def advanced(self, label: str, records: int) -> None: ...
    def finished(self, label: str, summary: str) -> None: ...


class NullRestoreProgress:
    def started(self, label: str, total: int | None) -> None:
        pass

    def advanced(self, label: str, records: int) -> None:
        pass

    def finished(self, label: str, summary: str) -> None:
        pass


def write_errors(path: Path, errors: list[ErrorRow]) -> None:
    """The error report: 0600, written whole (vendor messages can quote values); opened in
    Excel, so UTF-8 with a BOM and every cell formula-safe (a client's name, a record id,
    a vendor's message quoting a value all come from people typing)."""
    lines: list[list[str]] = [["target_object", "source_stream", "source_id", "message",
                               "client"]]
    lines += [[formula_safe(redact(str(c))) for c in (e.target_object, e.stream,
                                                      e.source_id, e.message, e.client)]
              for e in errors]
    buf = io.StringIO()
    csv.writer(buf).writerows(lines)
    private_folder(path.parent, exist_ok=True)  # a folder it makes is the user's alone
    # With a BOM, as Excel needs to read the accents in clients' names right.
    write_private_file(path, buf.getvalue().encode("utf-8-sig"))
