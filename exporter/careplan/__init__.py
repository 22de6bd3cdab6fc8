"""Printable care plans from the archive, with no network.

    definition.py  view definitions (TOML): where each section lives, how vendors join;
                   the names below, in one place
    model.py       sections, the parsed definition's dataclasses, field paths
    parse.py       reading a definition and checking its structure
    check.py       checking a definition against an archive's streams and fields
    build.py       the archive's records joined into CarePlan objects; finding a client
    render.py      Jinja2 HTML + print CSS, WeasyPrint PDF (no URL is ever fetched)
    printing.py    the print job: choose clients, render, write 0600 atomically, audit
    planstore.py   the rendered_plans table: stored PDFs and their inputs hash
    stored.py      plans rendered ahead of need (after each sync), client_pdf for the desk
"""
