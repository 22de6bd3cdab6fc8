"""A CSV cell holds at most 32,767 characters in Excel, which cuts a longer one without a
word. The CSV target writes such a value (a long note) whole to a .txt file in the client's
folder and puts in the cell its beginning and a plain pointer to that file; verify and a
re-run read the whole value back. Read with the csv module only."""

from __future__ import annotations

import csv
from pathlib import Path

from exporter.archive import Archive, Record
from exporter.keys import KeyFile
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.target import build_writer
from sandbox import Sandbox
from tests.restore_support import synced_archive

EXCEL_CELL = 32_767  # characters (UTF-16 code units, as Excel counts them)


def _excel_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _long_note() -> str:
    line = "Mon: walked to the park with Ruth 🌳, ate well; mood bright. "
    return "".join(f"{n:05d} {line}\r\n" for n in range(1000))  # about 69,000 characters


def _restore(arc: Archive, folder: Path, tmp: Path) -> tuple:
    writer = build_writer("csv", {"type": "csv", "path": str(folder)}, tmp / "c.toml")
    args = {"target": "csv", "only": ["Care_Plan__c"], "source": "salesforce"}
    report = run_restore(arc, writer, load_mapping("any_to_csv"), **args)
    check = verify_restore(arc, writer, load_mapping("any_to_csv"), **args)
    return report, check


def test_a_note_longer_than_an_excel_cell_goes_whole_to_a_text_file(tmp_path: Path) -> None:
    note = _long_note()
    assert _excel_len(note) > 2 * EXCEL_CELL
    with Sandbox(clients=2, seed=81, vendors=("salesforce",)) as src:
        synced_archive(tmp_path, src, "salesforce").close()
    with Archive.open(tmp_path / "a.db", KeyFile(tmp_path / "a.key"), write=True) as arc:
        plan_id, plan = next((rid, d) for rid, d in arc.records("salesforce", "Care_Plan__c")
                             if d)
        client = next(d for rid, d in arc.records("salesforce", "Account")
                      if d and rid == plan["Client__c"])
        run = arc.begin_run("sync")
        arc.put_batch(run, "salesforce", "Care_Plan__c",
                      [Record(plan_id, {**plan, "Safety_Notes__c": note})])
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
        folder = tmp_path / "out"
        report, check = _restore(arc, folder, tmp_path)
        assert report.status == "ok", report.errors[:3]
        assert check.record_rate == 100.0 and not check.mismatches, check.mismatches[:3]

        with (folder / "Care_Plan__c.csv").open(encoding="utf-8-sig", newline="") as fh:
            rows = {r["id"]: r for r in csv.DictReader(fh)}
        cell = rows[plan_id]["Safety_Notes__c"]
        assert _excel_len(cell) <= EXCEL_CELL
        pointer = cell.rsplit("\n", 1)[-1]
        assert "files/" in pointer and ".txt" in pointer
        named = pointer[pointer.index("files/"):pointer.index(".txt") + 4]
        text_file = folder / named
        assert text_file.parent.name == f"{client['Name']} ({client['Client_Number__c']})"
        assert text_file.read_bytes().decode("utf-8-sig") == note  # whole, line ends kept
        head = cell[:-len(pointer)].rstrip().rstrip("…")  # the cell shows the beginning
        assert len(head) > 10_000 and note.startswith(head)
        assert (text_file.stat().st_mode & 0o777) == 0o600
        other = [r for rid, r in rows.items() if rid != plan_id]
        assert other and all(len(r["Safety_Notes__c"]) < 2000 for r in other)

        again, check = _restore(arc, folder, tmp_path)  # the file read back: nothing changed
        assert (again.total("created"), again.total("updated")) == (0, 0)
        assert check.record_rate == 100.0 and not check.mismatches
