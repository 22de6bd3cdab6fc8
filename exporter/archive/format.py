"""The archive format: ``archive_schema.sql`` (the one source of truth, ``PRAGMA user_version``)
and the named migrations that take an older archive to it.

A migration never repeats the schema's DDL: it creates tables, indexes and triggers from
``archive_schema.sql`` itself (:meth:`Schema.create`), or changes a table's columns with
sqlite-utils' ``table.transform()`` (:meth:`Schema.transform`). Migrations are applied in
order, in one transaction under the write lock, each recorded in the audit log by name
(``migrate``: ``{"migration": name, "to_version": n}``); ``user_version`` says which ran.
sqlite-utils' own ``Migrations`` class is not used as is: it keeps its record in a table of
its own (``_sqlite_migrations``, which archive_schema.sql does not have) and opens deferred
transactions, where the archive takes ``BEGIN IMMEDIATE`` under its OS lock.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import sqlite_utils

from exporter.errors import UnsupportedFormat

__all__ = ["FORMAT_VERSION", "MIGRATIONS", "Migration", "Schema", "layout", "migrations_from",
           "reference_schema", "schema_sql"]

FORMAT_VERSION = 4


def schema_sql() -> str:
    """The text of archive_schema.sql (shipped in the package, or at the repository's top)."""
    packaged = resources.files("exporter").joinpath("archive_schema.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "archive_schema.sql").read_text(
        encoding="utf-8")


def layout(conn: Any) -> dict[str, str]:
    """name -> DDL (whitespace folded) of every table, index and trigger of a database:
    equal layouts, equal formats."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return {name: re.sub(r"\s+", " ", sql).replace('"', "").strip() for name, sql in rows}


@dataclass(frozen=True)
class _Object:
    type: str  # table, index, trigger
    name: str
    table: str
    sql: str


class Schema:
    """archive_schema.sql loaded into an in-memory database (plain sqlite3: it holds only
    DDL, no data and no key), so that migrations read their DDL from the format itself."""

    def __init__(self, sql: str) -> None:
        conn = sqlite3.connect(":memory:")
        try:
            conn.executescript(sql)
            self.objects = [_Object(*row) for row in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                "ORDER BY rowid")]
            self.layout = layout(conn)
        finally:
            conn.close()

    def of_table(self, table: str, kinds: tuple[str, ...] = ("table", "index", "trigger"),
                 ) -> list[_Object]:
        found = [o for o in self.objects if o.table == table and o.type in kinds]
        if not any(o.type == "table" for o in self.objects if o.table == table):
            raise ValueError(f"archive_schema.sql has no table {table}")
        return found

    def create(self, db: sqlite_utils.Database, table: str) -> None:
        """Create a table with its indexes and triggers, as archive_schema.sql declares them."""
        for obj in self.of_table(table):
            db.execute(obj.sql)

    def transform(self, db: sqlite_utils.Database, table: str, **changes: Any) -> None:
        """``db[table].transform(**changes)``, made safe for this format: transform() rebuilds
        the table as a rowid table and drops its triggers, so a WITHOUT ROWID table is refused
        (rebuild it from :meth:`create` instead) and the triggers are made again."""
        (definition,) = self.of_table(table, ("table",))
        if re.search(r"\)\s*WITHOUT\s+ROWID\s*$", definition.sql, re.IGNORECASE):
            raise ValueError(f"{table} is WITHOUT ROWID; transform() would change that")
        db.table(table).transform(**changes)
        existing = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table])}
        for trigger in self.of_table(table, ("trigger",)):
            if trigger.name not in existing:
                db.execute(trigger.sql)


@cache
def reference_schema() -> Schema:
    return Schema(schema_sql())


@dataclass(frozen=True)
class Migration:
    """One named step that takes an archive to format version ``to_version``."""

    name: str
    to_version: int
    apply: Callable[[sqlite_utils.Database, Schema], None]


def _restore_id_map(db: sqlite_utils.Database, schema: Schema) -> None:
    schema.create(db, "id_map")


def _id_map_target_identity(db: sqlite_utils.Database, schema: Schema) -> None:
    """id_map keyed by the target's own identity too: rebuilt from archive_schema.sql (it
    is WITHOUT ROWID), its rows kept with identity '' (adopted by the next restore once the
    target is seen to hold them)."""
    db.execute("DROP INDEX id_map_by_target_id")
    db.execute("ALTER TABLE id_map RENAME TO id_map_v2")
    schema.create(db, "id_map")
    columns = ("target, source, stream, source_id, target_object, target_id, hash, run_id, "
               "updated_at")
    db.execute(f"INSERT INTO id_map ({columns}, target_identity) "
               f"SELECT {columns}, '' FROM id_map_v2")
    db.execute("DROP TABLE id_map_v2")


def _desk_tables(db: sqlite_utils.Database, schema: Schema) -> None:
    schema.create(db, "staff")
    schema.create(db, "rendered_plans")


#: Every step, oldest first; the last one's ``to_version`` is FORMAT_VERSION.
MIGRATIONS: tuple[Migration, ...] = (
    Migration("restore_id_map", 2, _restore_id_map),
    Migration("id_map_target_identity", 3, _id_map_target_identity),
    Migration("desk_tables", 4, _desk_tables),
)


def migrations_from(version: int) -> list[Migration]:
    """The steps that take an archive of ``version`` to FORMAT_VERSION, in order."""
    steps = [m for m in MIGRATIONS if m.to_version > version]
    if [m.to_version for m in steps] != list(range(version + 1, FORMAT_VERSION + 1)):
        raise UnsupportedFormat(f"This archive has format version {version}, which this "
                                "exporter cannot upgrade; restore it from a newer copy or "
                                "ask for help.")
    return steps
