"""The CSV target's folder per client is named as the office knows the client (issue 14:
"one folder per client"; docs/restore.md: "Name (number)", as in Drive "Ruth Alvarez
(C-00001)"): accents and parentheses kept, never a path outside files/ nor a device name."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.filenames import readable_file_name
from exporter.restore.csv_target import CsvWriter
from exporter.writer import FileItem, WriteItem


@pytest.mark.parametrize("client,folder", [
    ("Renée Castellanos (C-00006)", "Renée Castellanos (C-00006)"),
    ("Zoë O'Brien-Müller (C-00012)", "Zoë O'Brien-Müller (C-00012)"),
    ("José Nuñez (C-1)/../../elsewhere", "José Nuñez (C-1)_.._.._elsewhere"),
    ("..", "file"), ("CON", "_CON"), ("nul.txt", "_nul.txt"),
    ("A\u202etxt.exe (C-2)", "A_txt.exe (C-2)"),  # a right-to-left override is not kept
    ("Tab\there: * ? < > |", "Tab_here_ _ _ _ _ _"),
])
def test_a_clients_folder_keeps_the_name_the_office_reads(client: str, folder: str) -> None:
    assert readable_file_name(client) == folder


def test_a_long_name_stays_short_enough_for_every_file_system() -> None:
    name = readable_file_name("名" * 100 + " (C-00001)")
    assert len(name) <= 80 and len(name.encode("utf-8")) <= 200


def test_the_csv_target_writes_each_clients_files_under_her_own_name(tmp_path: Path) -> None:
    out = tmp_path / "restore"
    writer = CsvWriter("files", {"path": str(out)}, {})
    item = WriteItem(key="068A", fields={"Title": "Plan"}, client="Renée Castellanos (C-00006)",
                     file=FileItem(name="Signed care plan.pdf", size=3, open=lambda: [b"pdf"]))
    assert [r.error for r in writer.write("ContentVersion", [item])] == [None]
    (written,) = [p.relative_to(out) for p in (out / "files").rglob("*") if p.is_file()]
    assert written.parts[:2] == ("files", "Renée Castellanos (C-00006)")
    assert written.name == "068A-Signed care plan.pdf"
