"""The recovery key on paper: a printable page (HTML, or PDF through WeasyPrint), and the key
split into two lines for reading aloud or typing."""

from __future__ import annotations

from pathlib import Path

from exporter.keys import write_private_file

__all__ = ["recovery_lines", "write_recovery_sheet"]


def recovery_lines(key: str) -> list[str]:
    """The recovery key in two lines of four groups (as printed and shown once)."""
    groups = key.split("-")
    return ["-".join(groups[:4]), "-".join(groups[4:])]


def write_recovery_sheet(path: Path, key: str, archive: Path) -> None:
    """A printable page with the recovery key (HTML, or PDF when the name ends in .pdf)."""
    lines = "<br>".join(recovery_lines(key))
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Recovery key</title>
<style>body{{font-family:sans-serif;margin:2cm;font-size:14pt}}
.key{{font-family:monospace;font-size:24pt;letter-spacing:2px;border:2px solid #000;
padding:1cm;margin:1cm 0}}</style></head><body>
<h1>exporter recovery key</h1>
<p>This key opens the encrypted archive <b>{archive.name}</b> when nobody knows the
passphrase. Keep this page locked away, apart from the computer. Anyone holding it and a copy
of the archive can read every client's records.</p>
<div class="key">{lines}</div>
<p>To use it: <code>exporter --recovery status</code>, then type the key.
Then set a new passphrase with <code>exporter --recovery keys passwd</code>.</p>
</body></html>"""
    if path.suffix.lower() == ".pdf":
        from exporter.pdf_engine import load_weasyprint

        data = load_weasyprint().HTML(string=html).write_pdf()
        write_private_file(path, data or b"")
    else:
        write_private_file(path, html.encode("utf-8"))
