"""``restore --verify`` of a CSV target that is right says so (issue 14: the CSV target and
verify). A list or object written to a cell as JSON (a Google Calendar event's attendees, a
HubSpot owner's teams) is the same list read back; a date-time written for an import tool
at whole seconds ("2025-06-06T14:55:44Z", as Data Loader and HubSpot's import take it) is the
instant the archive holds to the second. Before, `exporter restore --to csv --mapping
any_to_csv --source google --verify` ended with exit 13 on a correct folder."""

from __future__ import annotations

from pathlib import Path

from exporter.archive import Archive
from exporter.restore import load_mapping, run_restore, verify_restore
from exporter.restore.csv_target import CsvWriter
from exporter.restore.transforms import same
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox

EVENT = {"id": "v1", "summary": "Visit", "status": "confirmed",
         "start": {"dateTime": "2026-11-24T08:00:00-05:00"},
         "attendees": [{"displayName": "Beatrice Owens", "responseStatus": "accepted",
                        "email": "beatrice.owens@example.org"}],
         "extendedProperties": {"private": {"client_number": "C-00001"}}}


def test_a_list_written_as_json_verifies_as_the_same_list(archive: Archive,
                                                          tmp_path: Path) -> None:
    run = archive.begin_run()
    archive.put_batch(run, "google", "calendar_events", [("v1", EVENT)])
    archive.finish_run(run, "ok")
    writer = CsvWriter("files", {"path": str(tmp_path / "csv")}, {})
    mapping = load_mapping("any_to_csv")
    assert run_restore(archive, writer, mapping, target="files").status == "ok"
    check = verify_restore(archive, writer, mapping, target="files")
    assert (check.record_rate, check.field_rate) == (100.0, 100.0), check.mismatches


def test_a_csv_for_salesforce_import_verifies_at_whole_seconds(tmp_path: Path) -> None:
    with Sandbox(clients=4, seed=9, vendors=["hubspot"]) as src:
        archive, _ = Archive.create(tmp_path / "a.db", key_file=tmp_path / "a.key")
        with archive:
            table = src.source_configs(tmp_path / "s1")["hubspot"]
            assert run_sync(archive, {"hubspot": build_connector(
                "hubspot", table, tmp_path / "c.toml")}).status == "ok"
            writer = CsvWriter("csv", {"path": str(tmp_path / "csv"),
                                       "import_for": "salesforce"}, {})
            mapping = load_mapping("hubspot_to_salesforce")
            assert run_restore(archive, writer, mapping, target="csv").status == "ok"
            check = verify_restore(archive, writer, mapping, target="csv")
        assert check.record_rate == 100.0, check.mismatches[:3]
        rows = (tmp_path / "csv" / "Event.csv").read_text(encoding="utf-8-sig")
        assert "Z," in rows and ".000Z" not in rows  # whole seconds, as written


def test_same_compares_json_text_and_whole_seconds_but_no_more() -> None:
    assert same([{"a": 1}], '[{"a": 1}]') and same({"b": [1, 2]}, '{"b": [1, 2]}')
    assert not same([{"a": 1}], '[{"a": 2}]') and not same([1], "not json")
    assert same("2025-06-06T14:55:44.571Z", "2025-06-06T14:55:44Z")
    assert not same("2025-06-06T14:55:44.571Z", "2025-06-06T14:55:45Z")
    assert not same("2025-06-06T14:55:44.571Z", "2025-06-06T14:55:44.500Z")
