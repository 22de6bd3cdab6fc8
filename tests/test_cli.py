"""The command line: every command documented with an example; plain errors with their exit
codes; exports are deliberate and audited."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import click
import pytest

from exporter.archive import Archive, Record
from exporter.cli import COMMANDS, EXIT_CODES, cli
from exporter.keys import KeyFile
from tests.conftest import Cli

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        full = f"{prefix}{name}"
        found.append((full, cmd))
        if isinstance(cmd, click.Group):
            found.extend(_commands(cmd, full + " "))
    return found


@pytest.mark.parametrize("name,cmd", _commands(cli), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_with_an_example_and_is_in_the_readme(
        name: str, cmd: click.Command) -> None:
    assert cmd.help and "Example:" in cmd.help, f"'{name}' needs help with an example"
    assert f"exporter {name}" in README.read_text(encoding="utf-8"), f"README lacks '{name}'"


def test_the_command_list_says_what_each_command_says_of_itself() -> None:
    """`exporter --help` lists the commands without importing them; each line is the start
    of the command's own help, so the two cannot drift apart."""
    for name, (_, _, short) in COMMANDS.items():
        cmd = cli.get_command(click.Context(cli), name)
        assert cmd is not None and cmd.help, name
        assert " ".join(cmd.help.split()).startswith(short.rstrip(".")), (name, short)


def test_a_mistyped_command_gets_a_suggestion(run_cli: Cli) -> None:
    result = run_cli("stauts")
    assert result.exit_code == 2
    assert "There is no command 'stauts' (did you mean status?)" in result.output


def test_readme_lists_every_exit_code() -> None:
    text = README.read_text(encoding="utf-8")
    for exc, code in EXIT_CODES:
        assert re.search(rf"^\|\s*{code}\s*\|", text, re.M), f"exit code {code} ({exc.__name__})"


def _fill(cli_: Cli) -> None:
    with Archive.open(cli_.archive, KeyFile(cli_.key_file), write=True) as arc:
        r1 = arc.begin_run()
        arc.put_batch(r1, "salesforce", "Medication__c", [
            Record("a01", {"Name": "Metformin", "Dose__c": "500 mg", "Client": "Zoë"}),
            Record("a02", {"Name": "Lisinopril", "Dose__c": "10 mg", "Tags": ["x", "y"]}),
        ])
        arc.finish_run(r1, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
        r2 = arc.begin_run()
        arc.put_batch(r2, "salesforce", "Medication__c", [
            Record("a01", {"Name": "Metformin", "Dose__c": "1000 mg", "Client": "Zoë"}),
            Record("a02", {"Name": "Lisinopril"}, deleted=True),
        ])
        arc.finish_run(r2, "partial", stats={"sources": {"salesforce": {"status": "failed"}}})


def test_status_history_and_exports(run_cli: Cli, tmp_path: Path) -> None:
    run_cli.init()
    _fill(run_cli)
    result = run_cli("status")
    assert result.exit_code == 0, result.output
    assert "Runs: 2" in result.output and "ended partial" in result.output
    assert "Last successful sync of salesforce: run 1" in result.output
    assert "Medication__c" in result.output

    result = run_cli("history", "salesforce", "Medication__c", "a01")
    assert result.exit_code == 0
    assert "500 mg" in result.output and "1000 mg" in result.output
    assert run_cli("history", "salesforce", "Medication__c", "nope").exit_code == 9

    out = tmp_path / "export.jsonl"
    result = run_cli("export", "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["data"]["Dose__c"]) for r in lines] == [("a01", "1000 mg")]
    assert out.stat().st_mode & 0o077 == 0

    out_csv = tmp_path / "meds.csv"
    result = run_cli("export", "--format", "csv", "--stream", "Medication__c", "--as-of", "1",
                     "--out", str(out_csv))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [(r["_id"], r["Dose__c"]) for r in rows] == [("a01", "500 mg"), ("a02", "10 mg")]
    assert rows[1]["Tags"] == '["x", "y"]' and rows[0]["Client"] == "Zoë"

    assert run_cli("export", "--format", "csv", "--stream", "Nope",
                   "--out", str(tmp_path)).exit_code == 9
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        exports = arc.audit_entries("export")
    assert len(exports) == 2
    assert exports[1]["detail"]["as_of_run"] == 1 and exports[1]["detail"]["records"] == 2


def test_keys_add_remove_passwd_and_recovery(run_cli: Cli) -> None:
    run_cli.init(passphrase="first passphrase")
    second = run_cli.tmp / "second.key"
    assert run_cli("keys", "add", "--key-file", str(second)).exit_code == 0
    assert second.stat().st_mode & 0o077 == 0
    result = run_cli("--key-file", str(second), "keys", "passwd",
                     env={"EXPORTER_NEW_PASSPHRASE": "second passphrase"})
    assert result.exit_code == 0, result.output
    # The old passphrase no longer opens; the new one does (no key file in the way).
    run_cli.config.write_text(run_cli.config.read_text().replace("key_file", "# key_file"))
    assert run_cli("status", env={"EXPORTER_PASSPHRASE": "first passphrase"}).exit_code == 4
    assert run_cli("status", env={"EXPORTER_PASSPHRASE": "second passphrase"}).exit_code == 0
    listing = run_cli("keys", "list", env={"EXPORTER_PASSPHRASE": "second passphrase"}).output
    assert "second passphrase" not in listing and "passphrase" in listing
    slots = json.loads(Path(f"{run_cli.archive}.keys").read_text())["slots"]
    slot_id = next(s["id"] for s in slots if s["label"] == "key file second.key")
    assert slot_id in listing
    assert run_cli("keys", "remove", slot_id,
                   env={"EXPORTER_PASSPHRASE": "second passphrase"}).exit_code == 0
    assert run_cli("--key-file", str(second), "status").exit_code == 4
    result = run_cli("keys", "recovery", env={"EXPORTER_PASSPHRASE": "second passphrase"})
    key = re.findall(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})$", result.output, re.M)
    assert len(key) == 2
    result = run_cli("--recovery", "status", env={"EXPORTER_RECOVERY_KEY": "-".join(key)})
    assert result.exit_code == 0, result.output
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        actions = [e["action"] for e in arc.audit_entries()]
    assert {"keys.add", "keys.passwd", "keys.remove", "keys.recovery"} <= set(actions)


def test_config_and_unlock_problems_are_plain_sentences(run_cli: Cli) -> None:
    result = run_cli("status")
    assert result.exit_code == 3 and "run 'exporter init' first" in result.output
    run_cli.config.write_text("[archive\npath = 1\n")
    result = run_cli("status")
    assert result.exit_code == 3 and "has a mistake" in result.output
    run_cli.config.write_text('[archive]\npath = "nowhere.db"\n')
    result = run_cli("status", env={"EXPORTER_PASSPHRASE": "x"})
    assert result.exit_code == 8 and "There is no archive" in result.output
    run_cli.config.unlink()
    run_cli.init(key_file=False)
    result = run_cli("status")  # no passphrase, not a terminal
    assert result.exit_code == 3 and "EXPORTER_PASSPHRASE" in result.output
    assert "Traceback" not in result.output
    again = run_cli("init", env={"EXPORTER_PASSPHRASE": "x"})
    assert again.exit_code == 3 and "already set up" in again.output


def test_init_writes_a_recovery_sheet(run_cli: Cli) -> None:
    sheet = run_cli.tmp / "recovery.html"
    result = run_cli("init", "--archive", str(run_cli.archive), "--recovery-sheet", str(sheet),
                     env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    assert result.exit_code == 0, result.output
    printed = re.findall(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})$", result.output, re.M)
    html = sheet.read_text(encoding="utf-8")
    assert all(line in html for line in printed) and len(printed) == 2
    assert sheet.stat().st_mode & 0o077 == 0


def test_messages_keep_their_square_brackets(run_cli: Cli) -> None:
    run_cli.config.write_text('[log]\ndir = "logs"\n')
    result = run_cli("status")
    assert result.exit_code == 3
    assert "has no [archive] path" in result.output and "under [archive]." in result.output


def test_connectors_lists_the_installed_connectors(run_cli: Cli) -> None:
    run_cli.init()
    result = run_cli("connectors")
    assert result.exit_code == 0, result.output
    for name, stream in (("salesforce", "Account"), ("hubspot", "contacts"),
                         ("google", "calendar_events")):
        assert f"{name} connector (connectors.{name}" in result.output
        assert stream in result.output
    assert "failed to load" not in result.output


def test_export_include_deleted_says_when_and_how_each_deletion_was_found(
        run_cli: Cli, tmp_path: Path) -> None:
    from exporter.sync import run_sync
    from tests.test_sync_engine import TombstoningConnector, _data

    run_cli.init()
    data = _data(6)
    conn = TombstoningConnector("mem", data)
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        assert run_sync(arc, {"mem": conn}).status == "ok"
        conn.gone = ("2",)  # the vendor says 2 is deleted
        del data["things"]["3"]  # 3 is no longer listed: the id check finds it
        assert run_sync(arc, {"mem": conn}, full=True).status == "ok"
        second = arc.runs()[0]
    out = tmp_path / "all.jsonl"
    result = run_cli("export", "--format", "jsonl", "--stream", "things", "--include-deleted",
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert sorted(lines) == ["1", "2", "3", "4", "5", "6"]
    assert {i: (r["deleted"], r.get("deleted_by")) for i, r in lines.items()} == {
        "1": (False, None), "2": (True, "vendor"), "3": (True, "id check"),
        "4": (False, None), "5": (False, None), "6": (False, None)}
    assert lines["3"]["deleted_at"] == second.started_at and lines["3"]["deleted_run"] == 2
    out_csv = tmp_path / "things.csv"
    assert run_cli("export", "--format", "csv", "--stream", "things", "--include-deleted",
                   "--out", str(out_csv)).exit_code == 0
    rows = {r["_id"]: r for r in csv.DictReader(out_csv.open(encoding="utf-8"))}
    assert (rows["2"]["_deleted"], rows["2"]["_deleted_by"]) == ("true", "vendor")
    assert (rows["3"]["_deleted"], rows["3"]["_deleted_by"]) == ("true", "id check")
    assert rows["1"]["_deleted"] == "false" and rows["1"]["_deleted_at"] == ""
    # without the flag: live records only, as before
    assert run_cli("export", "--format", "jsonl", "--stream", "things",
                   "--out", str(out)).exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4


def test_exit_codes_match_the_readme_for_as_of_and_key_slots(run_cli: Cli) -> None:
    """A date that is not one is a command-line mistake (2, before anything is unlocked); a
    key slot that is not there is not in the archive (9)."""
    run_cli.init()
    _fill(run_cli)
    result = run_cli("print", "C-00001", "--as-of", "yesterday")
    assert result.exit_code == 2, result.output
    assert "'yesterday' is neither a run number nor a date like 2026-11-30" in result.output
    result = run_cli("export", "--format", "jsonl", "--out", str(run_cli.tmp / "x.jsonl"),
                     "--as-of", "2026-13-45")
    assert result.exit_code == 2, result.output
    result = run_cli("keys", "remove", "000000000000")
    assert result.exit_code == 9, result.output
    assert "There is no key slot 000000000000" in result.output


def test_a_global_option_after_the_command_gets_a_hint(run_cli: Cli) -> None:
    run_cli.init()
    result = run_cli("status", "--config", str(run_cli.config))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "No such option" in text and "--config'.." not in text
    assert "--config is a global option: it goes before the command, e.g. 'exporter " \
           "--config ... status'" in text


def test_a_lost_key_file_falls_back_to_the_passphrase(run_cli: Cli, tmp_path: Path) -> None:
    """Issue 11 point 6: key_file is configured but the file is gone. The passphrase still
    opens the archive (printing included); without one, the message says what to do."""
    run_cli.init()
    _fill(run_cli)
    run_cli.key_file.unlink()
    result = run_cli("status")
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "is missing" in text and "EXPORTER_PASSPHRASE" in text
    assert f"exporter keys add --key-file {run_cli.key_file}" in text
    result = run_cli("status", env={"EXPORTER_PASSPHRASE": "correct horse battery"})
    assert result.exit_code == 0, result.output
    assert run_cli("status", env={"EXPORTER_PASSPHRASE": "wrong one"}).exit_code == 4
