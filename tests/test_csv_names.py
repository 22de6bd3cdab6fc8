"""CSV restore file names that Windows accepts (issue 12 point 11): device names (CON, NUL,
COM1 ...) are never used as names, and names are cut to stay under MAX_PATH (260)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.filenames import NAME_LIMIT
from exporter.filenames import safe_file_name as _safe
from exporter.restore.csv_target import CsvWriter
from exporter.writer import FileItem, WriteItem


@pytest.mark.parametrize("name,expected", [
    ("CON", "_CON"), ("nul", "_nul"), ("nul.txt", "_nul.txt"), ("Com1.csv", "_Com1.csv"),
    ("LPT9", "_LPT9"), ("aux .tar.gz", "_aux .tar.gz"), ("PRN", "_PRN"),
    ("Console", "Console"), ("COM10", "COM10"), ("CONTACTS.csv", "CONTACTS.csv"),
    ("Account", "Account"), ("a/b:c", "a_b_c"),
])
def test_windows_device_names_are_never_file_names(name: str, expected: str) -> None:
    assert _safe(name) == expected


def test_long_names_are_cut_keep_their_extension_and_stay_distinct() -> None:
    first, second = "Care plan " + "x" * 300 + " v1.pdf", "Care plan " + "x" * 300 + " v2.pdf"
    a, b = _safe(first), _safe(second)
    assert len(a) == len(b) == NAME_LIMIT
    assert a.endswith(".pdf") and a.startswith("Care plan xxx") and a != b
    assert _safe(first) == a  # the same name always maps to the same file
    assert len(_safe("y" * 500)) == NAME_LIMIT


def test_a_restore_into_csv_files_uses_safe_short_names(tmp_path: Path) -> None:
    out = tmp_path / "restore"
    writer = CsvWriter("files", {"path": str(out)}, {})
    long_name = "Signed care agreement " + "é" * 200 + ".pdf"
    item = WriteItem(key="NUL", fields={"Name": "x"},
                     file=FileItem(name=long_name, size=3, open=lambda: [b"pdf"]))
    results = writer.write("CON", [item])
    assert [r.error for r in results] == [None]
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert Path("_CON.csv") in written
    (attachment,) = [p for p in written if p.parts[0] == "files"]
    assert attachment.parts[1] == "_CON" and attachment.name.endswith(".pdf")
    assert attachment.name.startswith("_NUL-Signed care agreement")
    assert all(len(part) <= NAME_LIMIT for part in attachment.parts)
    assert len(str(attachment)) <= 200
    assert (out / attachment).read_bytes() == b"pdf"
