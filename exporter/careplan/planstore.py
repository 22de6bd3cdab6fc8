"""The ``rendered_plans`` table: each client's care-plan PDF rendered ahead of need (kept
encrypted like every page of the archive), with the inputs hash that says whether it is
still the plan. :mod:`exporter.careplan.stored` fills it and serves from it.

A stored PDF is "fresh" when its **inputs hash** equals the one of the plan built now. The
hash covers what the PDF is made of: the plan as built from the client's records (every
section's rows, so a changed record, a visit entering or leaving the 14-day window, or a
client now deleted upstream all change it), the view definition, the templates and CSS, the
paper, the banner, and exporter's version. It leaves out the moment of printing: a stored
plan's pages say "Printed from data as of <the sync that rendered it>", with no print time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from exporter import __version__
from exporter.archive.database import DB_ERRORS, now, translated
from exporter.careplan.build import CarePlan, Client
from exporter.careplan.definition import Definition
from exporter.careplan.render import PrintInfo
from exporter.errors import ExporterError
from exporter.record import utf8_text

__all__ = ["CHECKED_KEY", "STORED_PAPER", "StoredPlan", "all_checked", "can_store", "clear_checked",
           "client_key", "context_hash", "drop_plans", "fresh_pdf", "inputs_hash", "load_plan",
           "mark_checked", "newest_run", "store_plan", "stored_hashes", "stored_info",
           "try_store"]

log = logging.getLogger("exporter.careplan.planstore")

_STORE_ERRORS: tuple[type[BaseException], ...] = (ExporterError, *DB_ERRORS)

#: archive_meta's key for the last complete check of every stored plan (mark_checked).
CHECKED_KEY = "rendered_plans:checked"

#: The paper stored plans are laid out for (``exporter print``'s default).
STORED_PAPER = "letter"


@dataclass(frozen=True)
class StoredPlan:
    client_key: str
    inputs_hash: str
    run_id: int
    rendered_at: str
    pages: int
    pdf: bytes


def client_key(definition: Definition, client: Client) -> str:
    """The row's key: the client's record, e.g. ``salesforce/Account/001...``."""
    return f"{definition.client.stream}/{client.record_id}"


def stored_info(info: PrintInfo) -> PrintInfo:
    """What a stored plan's pages say: no print time (it is printed later, maybe often)."""
    return dataclasses.replace(info, printed_at="")


@functools.cache
def _templates_digest() -> str:
    folder = resources.files("exporter.careplan").joinpath("templates")
    digest = hashlib.sha256(__version__.encode())
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.is_file():
            digest.update(item.name.encode() + b"\0" + item.read_bytes() + b"\0")
    return digest.hexdigest()


def _definition_content(definition: Definition) -> Any:
    content = dataclasses.asdict(definition)
    content.pop("path", None)  # the same definition read from elsewhere is the same plan
    return content


def _plan_content(plan: CarePlan) -> Any:
    c = plan.client
    return {"client": [c.key, c.display_key, c.name, c.birthdate, c.record_id],
            "source": plan.source, "sections": [dataclasses.asdict(s) for s in plan.sections]}


def context_hash(definition: Definition, paper: str = STORED_PAPER) -> str:
    """SHA-256 (hex) of what every plan shares: the definition, templates, version, paper."""
    text = json.dumps({"definition": _definition_content(definition), "paper": paper,
                       "templates": _templates_digest()}, sort_keys=True, ensure_ascii=False,
                      default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_hash(definition: Definition, plan: CarePlan, info: PrintInfo,
                paper: str = STORED_PAPER) -> str:
    """SHA-256 (hex) of everything the plan's PDF is made of but the print's moment."""
    payload = {"plan": _plan_content(plan), "definition": _definition_content(definition),
               "templates": _templates_digest(), "paper": paper,
               "banner": [info.organisation, info.historical, info.stale]}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=repr)
    # utf8_text: a client key holding half an emoji is hashed (as its \u escape), not a crash
    return hashlib.sha256(utf8_text(text)[1]).hexdigest()


# -- the table ------------------------------------------------------------------------------


def can_store(archive: Any) -> bool:
    """Whether plans may be written (not on read-only media, e.g. a write-protected copy)."""
    return not getattr(archive, "read_only_media", False)


def stored_hashes(archive: Any) -> dict[str, tuple[str, str]]:
    """client key -> (inputs hash, rendered at) for every stored plan (no PDFs read)."""
    with translated(archive.path):
        rows = archive.conn.execute(
            "SELECT client_key, inputs_hash, rendered_at FROM rendered_plans").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def load_plan(archive: Any, key: str) -> StoredPlan | None:
    with translated(archive.path):
        row = archive.conn.execute(
            "SELECT client_key, inputs_hash, run_id, rendered_at, pages, pdf "
            "FROM rendered_plans WHERE client_key = ?", (key,)).fetchone()
    if row is None:
        return None
    return StoredPlan(row[0], row[1], int(row[2]), row[3], int(row[4]), bytes(row[5]))


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def store_plan(archive: Any, key: str, digest: str, run_id: int, pdf: bytes) -> None:
    """One client's plan, in a transaction of its own: a kill leaves the old PDF or the new
    one, never half of one, and no lock is held while plans are laid out."""
    pages = _pages(pdf)
    with archive.transaction():
        archive.conn.execute(
            "INSERT OR REPLACE INTO rendered_plans (client_key, inputs_hash, run_id, "
            "rendered_at, pages, pdf) VALUES (?, ?, ?, ?, ?, ?)",
            (key, digest, run_id, now(), pages, pdf))


def drop_plans(archive: Any, keys: Iterable[str]) -> None:
    with archive.transaction():
        archive.conn.executemany("DELETE FROM rendered_plans WHERE client_key = ?",
                                 [(k,) for k in keys])


def clear_checked(archive: Any, unless_context: str | None = None) -> None:
    """Forget that every stored plan is current (before plans of another definition, or
    of data not yet checked, are stored), unless the mark is for ``unless_context``."""
    with archive.transaction():
        if unless_context is None:
            archive.conn.execute("DELETE FROM archive_meta WHERE key = ?", (CHECKED_KEY,))
        else:
            archive.conn.execute("DELETE FROM archive_meta WHERE key = ? AND value NOT LIKE ?",
                                 (CHECKED_KEY, f'%"context": "{unless_context}"%'))


def try_store(archive: Any, key: str, digest: str, run_id: int, pdf: bytes,
              context: str) -> bool:
    """Store a plan rendered for a print (``context``: its definition's context_hash), if
    the archive can be written now; a busy or read-only archive only means the next print
    renders it again."""
    if not can_store(archive):
        return False
    try:
        with archive.transaction():  # a plan of another definition voids the mark
            clear_checked(archive, unless_context=context)
            store_plan(archive, key, digest, run_id, pdf)
    except _STORE_ERRORS as exc:
        log.info("care plan %s not stored for next time: %s", key, exc)
        return False
    return True


# -- serving ---------------------------------------------------------------------------------


def newest_run(archive: Any) -> list[Any] | None:
    """[id, finished_at] of the archive's newest run (finished_at None while it runs)."""
    with translated(archive.path):
        row = archive.conn.execute(
            "SELECT id, finished_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return [int(row[0]), row[1]] if row else None


def _checked(run: list[Any], day: str, context: str) -> str:
    return json.dumps({"run": run, "day": day, "context": context}, sort_keys=True)


def mark_checked(archive: Any, run: list[Any], day: str, context: str) -> None:
    """Record that every stored plan was checked against the data of the finished ``run``
    on ``day`` (the visits window's start) with this ``context``: until a run starts or
    the day turns, a print may serve the stored PDFs without building the plans."""
    with archive.transaction():
        archive.conn.execute("INSERT OR REPLACE INTO archive_meta (key, value) VALUES (?, ?)",
                             (CHECKED_KEY, _checked(run, day, context)))


def all_checked(archive: Any, definition: Definition, day: str,
                paper: str = STORED_PAPER) -> bool:
    """Whether every stored plan is known to be current (see :func:`mark_checked`)."""
    run = newest_run(archive)
    if run is None or run[1] is None:  # a run at work may be changing the data
        return False
    with translated(archive.path):
        row = archive.conn.execute("SELECT value FROM archive_meta WHERE key = ?",
                                   (CHECKED_KEY,)).fetchone()
    return row is not None and row[0] == _checked(run, day, context_hash(definition, paper))


def fresh_pdf(archive: Any, key: str, digest: str) -> bytes | None:
    """The stored PDF when it is still the plan (its inputs hash is ``digest``)."""
    stored = load_plan(archive, key)
    return stored.pdf if stored is not None and stored.inputs_hash == digest else None

