"""The fire drill (``exporter drill``): prove that the archive can be recovered from a copy.

A HIPAA contingency plan must be tested, and the test written down. The drill does what the
office would do if this computer were gone, and times it:

1. the newest copy of this archive (across the configured ``[[copies]]``, folder or object
   store, or the one named) is fetched into a private temporary folder, each file checked
   against the copy's manifest (:func:`exporter.copies.fetch_copy`);
2. it is opened with the configured key (the key file, or the passphrase);
3. it is verified in full (every page, record version, file and the audit chain);
4. one client's care plan is printed from it as a PDF, and the PDF's text is read back and
   checked for that client's name and number.

The report (HTML and PDF, dated) says what was checked, with what result, how long recovery
took and by whom; the CLI records it in the live archive's audit log (action ``drill``). The
fetched copy and the printed plan are deleted afterwards: the report holds a client number,
never a name or health data. Nothing here prints; a failed step is a failed check in the
result, not an exception.
"""

from __future__ import annotations

import datetime as dt
import getpass
import html
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter import errors
from exporter.config import Config, CopyTarget

__all__ = ["Check", "DrillResult", "run_drill", "write_report"]


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


@dataclass
class DrillResult:
    """What a drill did: when, by whom, from which copy, each check, and how long it took."""

    started: dt.datetime
    by: str
    computer: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    where: str = ""  # the destination the copy came from
    copy: str = ""  # the copy's name
    copy_made: str = ""  # when the copy was made (ISO, UTC)
    client: str = ""  # the client number printed

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def _newest_copy(config: Config, targets: list[CopyTarget]) -> tuple[CopyTarget, Any, Any]:
    """(target, opened destination, copy info) of the newest copy of this archive."""
    from exporter.copies import list_copies
    from exporter.nightly import open_destination

    archive_id = config.pin[0] if config.pin else None
    found: list[tuple[CopyTarget, Any, Any]] = []
    unreachable: list[str] = []
    for target in targets:
        try:
            dest = open_destination(target)
            found += [(target, dest, info) for info in list_copies(dest, archive_id)]
        except errors.ExporterError as exc:
            unreachable.append(f"{target.name}: {exc}")
    if not found:
        why = f" ({'; '.join(unreachable)})" if unreachable else ""
        raise errors.NotFound(f"There is no copy of this archive to drill with{why}; run "
                              "'exporter copy' first.")
    return max(found, key=lambda f: (f[2].created_at, f[2].name))


def _printed_plan(archive: Any, definition: Any, query: str | None, folder: Path
                  ) -> tuple[str, str]:
    """Print one care plan as a PDF from ``archive`` and read its text back; returns (client
    number, what the check saw)."""
    from pypdf import PdfReader

    from exporter.careplan.build import ArchiveView, binder_clients
    from exporter.careplan.printing import print_care_plans

    if query is None:
        clients = binder_clients(ArchiveView(archive, None, bulk=True), definition)
        if not clients:
            raise errors.NotFound("The copy holds no client to print a care plan for.")
        query = clients[0].display_key
    result = print_care_plans(archive, definition, query=query, fmt="pdf",
                              out=folder / "care-plan.pdf")
    client = result.clients[0]
    reader = PdfReader(result.files[0])
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    missing = [w for w in (client.name, client.display_key) if w not in text]
    if missing:
        raise errors.ArchiveDamaged(f"The care plan printed from the copy does not show the "
                                    f"client's {'name' if client.name in missing else 'number'}"
                                    "; the copy or the care-plan definition is wrong.")
    return client.display_key, (f"the care plan of client {client.display_key} was printed "
                                f"({len(reader.pages)} page(s)) and its text read back")


def run_drill(config: Config, unlock: Callable[[], Any], definition: Any, *,
              source: str | None = None, client: str | None = None, by: str | None = None
              ) -> DrillResult:
    """Fetch, open, verify and print from the newest copy (of ``source``, a configured copy's
    name, or of all); every step is a :class:`Check`, and the first that fails ends it."""
    from exporter.archive import Archive
    from exporter.copies import fetch_copy
    from exporter.nightly import choose_copies

    result = DrillResult(dt.datetime.now(dt.UTC), by or getpass.getuser(),
                         socket.gethostname() or "this computer")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="exporter-drill-"))  # 0700: the plan is health data
    try:
        target, dest, info = _newest_copy(config, choose_copies(config, source))
        result.where, result.copy, result.copy_made = target.where, info.name, info.created_at
        steps = ["fetched", "opened", "verified", "printed"]
        try:
            fetched = fetch_copy(dest, info.name, work / "fetched")
            result.checks.append(Check(steps.pop(0), True, (
                f"the copy {info.name} ({fetched.size:,} bytes) was fetched from "
                f"{target.where}; every file matches its manifest")))
            with Archive.open(fetched.archive, unlock()) as archive:
                result.checks.append(Check(steps.pop(0), True,
                                           "the copy opened with the configured key"))
                problems = archive.verify()
                if problems:
                    raise errors.ArchiveDamaged(f"verify found {len(problems)} problem(s) in "
                                                f"the copy: {problems[0]}")
                result.checks.append(Check(steps.pop(0), True, (
                    "every page, record version and file of the copy checked out")))
                result.client, detail = _printed_plan(archive, definition, client, work)
                result.checks.append(Check(steps.pop(0), True, detail))
        except errors.ExporterError as exc:
            result.checks.append(Check(steps[0], False, str(exc)))
    finally:
        result.seconds = time.monotonic() - started
        shutil.rmtree(work, ignore_errors=True)
    return result


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
          ".ok{color:#060}.bad{color:#a00;font-weight:bold}")


def report_html(result: DrillResult) -> str:
    """The drill report as one HTML page (no external resources)."""
    from exporter.clock import local_time

    e = html.escape
    verdict = "PASSED" if result.ok else "FAILED"
    rows = "".join(
        f"<tr><td class=\"{'ok' if c.ok else 'bad'}\">{'✓' if c.ok else '✗'} {e(c.what)}</td>"
        f"<td>{e(c.detail)}</td></tr>" for c in result.checks)
    facts = [("Date", local_time(result.started)), ("Performed by", result.by),
             ("Computer", result.computer), ("Copy used", f"{result.copy} in {result.where}"),
             ("Copy made", local_time(result.copy_made or None, missing="unknown")),
             ("Recovery took", f"{result.seconds:.1f} seconds (fetch, open, verify, print)"),
             ("Result", verdict)]
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Fire drill "
            f"{e(local_time(result.started))}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Backup recovery drill: {verdict}</h1>"
            "<p>A test of the contingency plan: the newest copy of the encrypted archive was "
            "recovered as if this computer were lost, and a care plan printed from it.</p>"
            f"<table>{table}</table><h2>What was checked</h2><table>{rows}</table>"
            "<p>This report is kept in the archive's audit log (action <code>drill</code>). "
            "It holds no client data beyond a client number.</p></body></html>")


def write_report(result: DrillResult, folder: Path) -> list[Path]:
    """Write the dated report (HTML, then PDF when WeasyPrint can run) into ``folder``;
    returns the files written. The PDF's absence is said in the HTML's place, not raised."""
    from exporter.keys import write_private_file
    from exporter.private_files import private_folder

    page = report_html(result)
    stamp = result.started.astimezone().strftime("%Y-%m-%d-%H%M")
    private_folder(folder, exist_ok=True)  # 0700: the report names a client
    html_path = folder / f"drill-{stamp}.html"
    try:
        write_private_file(html_path, page.encode("utf-8"))
        written = [html_path]
        from exporter.careplan.render import pdf_of_html

        pdf = pdf_of_html(page)
        write_private_file(html_path.with_suffix(".pdf"), pdf)
        written.append(html_path.with_suffix(".pdf"))
    except errors.NoPdfEngine:
        return written
    except OSError as exc:
        raise errors.write_error(exc, f"the drill report in {folder}", "choose another "
                                 "folder with --report-dir.") from exc
    return written
