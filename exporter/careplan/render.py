"""Rendering care plans: Jinja2 HTML with print CSS, and PDF with WeasyPrint.

Nothing here touches the network: WeasyPrint gets a URL fetcher that refuses every URL
except embedded ``data:`` ones, fonts are the system's (fontconfig), and the templates are
package data read with importlib.resources.

A binder (``--all``) is one PDF: a table of contents, then each client's plan rendered as its
own document (so "page X of Y" counts that client's pages, and clients can be laid out in
parallel processes), joined with pypdf; each client is a PDF bookmark.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup, escape

from exporter.careplan.build import REF_COLUMN, CarePlan, Client
from exporter.pdf_engine import load_weasyprint

__all__ = ["PrintInfo", "Progress", "assemble_binder", "iter_pdfs", "pdf_of_html",
           "render_binder", "render_html", "render_pdf", "render_pdfs"]

PAPER = {"letter": "letter", "a4": "A4"}

#: How a binder's worker processes start: "spawn" on every OS, the only method Windows has
#: (a fresh interpreter that imports this module and gets each client's HTML pickled), so
#: the path tested on Linux is the one the office PC runs; fork also copies a threaded
#: parent unsafely (deprecated since Python 3.12).
POOL_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class PrintInfo:
    """What every page says about the print itself."""

    printed_at: str
    data_as_of: str
    organisation: str = ""
    stale: str = ""  # the stale-data warning, "" when the data is fresh
    historical: str = ""  # set for --as-of prints

    def footer(self) -> str:
        # A plan stored ahead of need has no print time: it is printed later, maybe often.
        when = f" {self.printed_at}" if self.printed_at else ""
        text = f"Printed{when} from data as of {self.data_as_of}"
        warning = self.historical or self.stale
        return f"⚠ {warning}\n{text}" if warning else text


def css_str(value: Any) -> str:
    """A CSS string literal (for @page margin boxes): quotes, backslashes, newlines escaped."""
    text = str(value)
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\A ")
        elif ch in "<>&":  # the CSS sits in a <style> element: never let data close it
            out.append(f"\\{ord(ch):X} ")
        elif ord(ch) < 32:
            out.append(" ")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _breakable(value: Any) -> Markup:
    """Escaped text that may wrap after '/' and '@' (long record ids in a narrow column)."""
    text = str(escape(str(value)))  # escaped first: only zero-width spaces are added
    return Markup(text.replace("/", "/\u200b").replace("@", "@\u200b"))  # noqa: S704


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template_source),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["css_str"] = css_str
    env.filters["breakable"] = _breakable
    return env


def _template_source(name: str) -> str:
    folder = resources.files("exporter.careplan").joinpath("templates")
    return folder.joinpath(name).read_text("utf-8")


def render_html(plans: Sequence[CarePlan], info: PrintInfo, paper: str = "letter",
                toc: Sequence[dict[str, Any]] | None = None) -> str:
    """One HTML document holding the plans (and a table of contents when given)."""
    env = _env()
    css = env.get_template("careplan.css").render(
        paper=PAPER[paper], plans=plans, footer=info.footer(), stale=info.stale or info.historical,
        organisation=info.organisation or "Care plans", ref_column=REF_COLUMN)
    return env.get_template("careplan.html").render(
        plans=plans, info=info, css=css, toc=toc or [],
        organisation=info.organisation or "Care plans")


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class _NoNetwork(URLFetcher):
        """Only data: URLs; everything else (http, https, file, ftp) is refused."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"care plans never load {url.split(':', 1)[0]}: resources")
            return super().fetch(url, headers)

    return _NoNetwork(allowed_protocols={"data"})


@functools.cache
def _font_config() -> Any:
    """One font configuration per process: a binder's worker reuses it for every client."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def pdf_of_html(html: str) -> bytes:
    """WeasyPrint, with the no-network URL fetcher (a top-level function: worker processes
    call it)."""
    html_class = load_weasyprint().HTML  # a plain sentence when Pango is missing
    doc = html_class(string=html, url_fetcher=_fetcher(), base_url="data:,")
    return bytes(doc.write_pdf(font_config=_font_config()))


def render_pdf(plans: Sequence[CarePlan], info: PrintInfo, paper: str = "letter") -> bytes:
    """One PDF holding the plans (one client, or several sharing one page count)."""
    return pdf_of_html(render_html(plans, info, paper))


#: Called with (clients laid out, clients in all) as a binder's clients are laid out.
Progress = Callable[[int, int], None]


def die_with_parent() -> None:
    """In a layout worker: end when the process that started it ends. A nightly job killed
    mid-render (a task time limit, a kill) would otherwise leave its workers waiting for work
    for ever, holding memory and the job's output pipes (found by the reliability campaign,
    whose kills then waited on those pipes). ``parent_process()`` watches the parent's
    sentinel: a pipe on POSIX, the process handle on Windows."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def iter_pdfs(htmls: Sequence[str], workers: int = 1) -> Iterator[bytes]:
    """Each HTML document's PDF, in order, each as soon as it (and those before it) is laid
    out; ``workers`` > 1 lays them out in that many processes."""
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(htmls) > 1:
            load_weasyprint()  # a plain sentence here, before any worker starts, if no Pango

            # One client per task: a client takes ~0.5 s, so bigger chunks only leave one
            # worker finishing a long last chunk while the other waits.
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=min(workers, len(htmls)), mp_context=POOL_CONTEXT,
                initializer=die_with_parent))
            done: Iterable[bytes] = pool.map(pdf_of_html, htmls)
        else:
            done = map(pdf_of_html, htmls)
        yield from done


def render_pdfs(plans: Sequence[CarePlan], info: PrintInfo, paper: str = "letter",
                workers: int = 1, progress: Progress | None = None) -> list[bytes]:
    """One PDF per client; ``workers`` > 1 lays clients out in that many processes."""
    htmls = [render_html([p], info, paper) for p in plans]
    parts: list[bytes] = []
    for part in iter_pdfs(htmls, workers):
        parts.append(part)
        if progress is not None:
            progress(len(parts), len(htmls))
    return parts


def render_binder(plans: Sequence[CarePlan], info: PrintInfo, paper: str = "letter",
                  workers: int = 1, progress: Progress | None = None) -> bytes:
    """A binder: a table of contents, then each client's plan rendered on its own (so "page
    X of Y" counts that client's pages), joined with pypdf; each client is a bookmark.
    ``workers`` > 1 lays clients out in that many processes."""
    return assemble_binder([p.client for p in plans],
                           render_pdfs(plans, info, paper, workers, progress), info, paper)


def assemble_binder(clients: Sequence[Client], parts: Sequence[bytes], info: PrintInfo,
                    paper: str = "letter") -> bytes:
    """The binder of the clients whose PDFs are ``parts`` (laid out now, or stored ahead of
    need): a table of contents laid out now, then each part; each client is a bookmark."""
    from pypdf import PdfReader, PdfWriter

    readers = [PdfReader(io.BytesIO(part)) for part in parts]
    # A first guess at the contents' length (about 27 clients a page on letter, less on the
    # first), so that it is usually laid out once; the loop below corrects a wrong guess.
    toc_pages = max(1, math.ceil((len(clients) + 5) / 27))
    while True:  # the contents' own length shifts every start page
        entries, page = [], toc_pages + 1
        for client, reader in zip(clients, readers, strict=True):
            entries.append({"name": client.name, "key": client.display_key,
                            "birthdate": client.birthdate, "page": page,
                            "pages": len(reader.pages)})
            page += len(reader.pages)
        toc = PdfReader(io.BytesIO(pdf_of_html(render_html([], info, paper, toc=entries))))
        if len(toc.pages) == toc_pages:
            break
        toc_pages = len(toc.pages)
    writer = PdfWriter()
    writer.append(toc)
    writer.add_outline_item(title="Contents", page_number=0)
    for entry, reader in zip(entries, readers, strict=True):
        start = len(writer.pages)
        writer.append(reader, import_outline=False)
        writer.add_outline_item(title=f"{entry['name']} ({entry['key']})", page_number=start)
    writer.add_metadata({"/Title": f"Care plan binder ({len(clients)} clients)",
                         "/Creator": "exporter"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()
