"""``exporter diff``: created, changed (field by field) and deleted records between two
runs or dates, for every client or one, as lines or JSON."""

from __future__ import annotations

import json
from typing import Any

from exporter.archive import Archive
from exporter.keys import KeyFile


def _fill(cli: Any) -> tuple[int, int]:
    with Archive.open(cli.archive, KeyFile(cli.key_file), write=True) as archive:
        first = archive.begin_run()
        archive.put_batch(first, "salesforce", "Account", [
            ("001A", {"Id": "001A", "Name": "Alice Moss", "Client_Number__c": "C-001",
                      "Phone": "555-0101", "SystemModstamp": "2026-11-01T00:00:00Z"}),
            ("001B", {"Id": "001B", "Name": "Bob Reyes", "Client_Number__c": "C-002",
                      "Phone": "555-0202", "SystemModstamp": "2026-11-01T00:00:00Z"})])
        archive.put_batch(first, "salesforce", "Medication__c", [
            ("a02X", {"Id": "a02X", "Name": "Metformin", "Client__c": "001A",
                      "Dose__c": "500 mg"}),
            ("a02Y", {"Id": "a02Y", "Name": "Aspirin", "Client__c": "001B",
                      "Dose__c": "75 mg"})])
        archive.finish_run(first, "ok")
        second = archive.begin_run()
        archive.put_batch(second, "salesforce", "Account", [
            ("001A", {"Id": "001A", "Name": "Alice Moss", "Client_Number__c": "C-001",
                      "Phone": "555-9999", "SystemModstamp": "2026-11-02T00:00:00Z"}),
            ("001B", None)])
        archive.put_batch(second, "salesforce", "Medication__c", [
            ("a02X", {"Id": "a02X", "Name": "Metformin", "Client__c": "001A",
                      "Dose__c": "850 mg"}),
            ("a02Z", {"Id": "a02Z", "Name": "Lisinopril", "Client__c": "001A",
                      "Dose__c": "10 mg"})])
        archive.finish_run(second, "ok")
    return first, second


def test_diff_lists_created_changed_field_by_field_and_deleted(run_cli: Any) -> None:
    run_cli.init()
    first, second = _fill(run_cli)
    result = run_cli("diff", "--from", str(first), "--to", str(second))
    assert result.exit_code == 0, result.output
    assert f"Between run {first} and run {second}: 1 created, 2 changed, 1 deleted." \
        in result.output
    assert "changed 001A (Alice Moss): Phone: '555-0101' -> '555-9999'" in result.output
    assert "SystemModstamp" not in result.output  # a stamp, not a change
    assert "deleted 001B (Bob Reyes)" in result.output
    assert "created a02Z (Lisinopril)" in result.output
    assert "changed a02X (Metformin): Dose__c: '500 mg' -> '850 mg'" in result.output


def test_diff_for_one_client_and_as_json(run_cli: Any) -> None:
    run_cli.init()
    first, second = _fill(run_cli)
    result = run_cli("diff", "--from", str(first), "--to", str(second), "--client", "C-002")
    assert result.exit_code == 0, result.output
    assert "0 created, 0 changed, 1 deleted" in result.output  # Bob, nothing of Alice's
    assert "Alice" not in result.output and "Metformin" not in result.output
    result = run_cli("diff", "--from", str(first), "--client", "alice", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["totals"] == {"changed": 2, "created": 1}
    change = next(c for c in body["changes"] if c["record_id"] == "a02X")
    assert change["fields"] == [{"field": "Dose__c", "before": "500 mg", "after": "850 mg"}]


def test_diff_refuses_a_bad_point_plainly(run_cli: Any) -> None:
    run_cli.init()
    result = run_cli("diff", "--from", "yesterday")
    assert result.exit_code == 2 and "neither a run number nor a date" in result.output


def test_diff_for_a_client_finds_her_whatever_the_accents_and_refuses_a_typo(
        run_cli: Any) -> None:
    """`--client helene` is Hélène (as print and restore --client find her); a name no
    record has is said (exit 9), never "0 created, 0 changed, 0 deleted", which told the
    office manager nothing had changed for a client she had only misspelt."""
    run_cli.init()
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as archive:
        first = archive.begin_run()
        archive.put_batch(first, "salesforce", "Account", [
            ("001H", {"Id": "001H", "Name": "Hélène Nguyen", "Client_Number__c": "C-006",
                      "Phone": "555-0606"})])
        archive.finish_run(first, "ok")
        second = archive.begin_run()
        archive.put_batch(second, "salesforce", "Account", [
            ("001H", {"Id": "001H", "Name": "Hélène Nguyen", "Client_Number__c": "C-006",
                      "Phone": "000"})])
        archive.finish_run(second, "ok")
    found = run_cli("diff", "--from", str(first), "--client", "helene")
    assert found.exit_code == 0, found.output
    assert "changed 001H (Hélène Nguyen): Phone: '555-0606' -> '000'" in found.output
    typo = run_cli("diff", "--from", str(first), "--client", "Nguyem")
    assert typo.exit_code == 9, typo.output
    assert "Nguyem" in typo.output and "0 changed" not in typo.output
