"""The office manager's bad day, through the CLI: what `exporter restore` tells her and what it
refuses when she types something foreseeably wrong (a client that matches nobody or several,
a target whose token is refused or that does not answer), whose record each line of the
error report is, and what the audit log keeps of a restore.

The org is read and changed only through simple-salesforce (tests/restore_support.py)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from exporter.archive import Archive
from exporter.cli import cli
from exporter.filenames import readable_file_name
from exporter.keys import KeyFile
from exporter.sources import build_connector
from exporter.sync import run_sync
from sandbox import Sandbox
from tests.restore_support import salesforce

FAST_RETRY = {"attempts": 2, "base_delay": 0.01, "max_delay": 0.05}


def _office(tmp: Path, sb: Sandbox, **targets: dict[str, Any]) -> Path:
    """A synced archive of the sandbox's Salesforce org and a config whose target ``org`` is
    that same org (plus ``targets``); returns the config file."""
    archive, _ = Archive.create(tmp / "a.db", key_file=tmp / "a.key")
    archive.close()
    _sync(tmp, sb)
    config = tmp / "config.toml"
    org = {**sb.source_configs(tmp / "s2")["salesforce"], "retry": FAST_RETRY}
    config.write_text(tomli_w.dumps({
        "archive": {"path": str(tmp / "a.db"), "key_file": str(tmp / "a.key")},
        "targets": {"org": org, **targets}}), encoding="utf-8")
    config.chmod(0o600)
    return config


def _sync(tmp: Path, sb: Sandbox) -> None:
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key"), write=True) as archive:
        table = sb.source_configs(tmp / "s1")["salesforce"]
        assert run_sync(archive, {"salesforce": build_connector(
            "salesforce", table, tmp / "c.toml")}).status == "ok"


def _restore(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["restore", *args], env={"EXPORTER_CONFIG": str(config)})


def _audit(tmp: Path, action: str) -> list[dict[str, Any]]:
    with Archive.open(tmp / "a.db", KeyFile(tmp / "a.key")) as archive:
        return [e["detail"] for e in archive.audit_entries(action) if e["action"] == action]


def test_client_matching_nobody_or_several_is_said_before_anything_is_written(
        tmp_path: Path) -> None:
    with Sandbox(clients=6, seed=31) as sb:
        config = _office(tmp_path, sb)
        sf = salesforce(sb)
        accounts = sf.query("SELECT Id, Name, Phone, Client_Number__c FROM Account "
                            "ORDER BY Client_Number__c")["records"]
        first, second = accounts[0], accounts[1]
        for a in (first, second):  # a bad import
            sf.Account.update(a["Id"], {"Phone": "000-000-0000"})
        same = ["--to", "org", "--mapping", "salesforce_to_salesforce", "--fields", "Phone"]

        typo = first["Name"].split()[-1] + "zq"
        nobody = _restore(config, *same, "--client", typo)
        assert nobody.exit_code == 9, nobody.output
        assert f"No client's name or number contains '{typo}'" in nobody.output
        assert first["Name"] in nobody.output  # the nearest name is offered
        assert "Traceback" not in nobody.output

        several = _restore(config, *same, "--client", "C-0000")
        assert several.exit_code == 9, several.output
        assert f"{first['Name']} ({first['Client_Number__c']})" in several.output
        assert f"{second['Name']} ({second['Client_Number__c']})" in several.output
        assert [sf.Account.get(a["Id"])["Phone"] for a in (first, second)] == \
            ["000-000-0000"] * 2  # nothing rolled back for clients she did not mean
        assert _audit(tmp_path, "restore") == []  # refused before any restore began

        plan = _restore(config, *same, "--client", "C-0000", "--dry-run")
        assert plan.exit_code == 0, plan.output
        assert plan.output.startswith(f"Planning only the records of {len(accounts)} clients")

        one = _restore(config, *same, "--client", first["Client_Number__c"])
        assert one.exit_code == 0, one.output
        assert f"Restoring only the records of {first['Name']} " \
               f"({first['Client_Number__c']})." in one.output
        assert sf.Account.get(first["Id"])["Phone"] == first["Phone"]
        assert sf.Account.get(second["Id"])["Phone"] == "000-000-0000"
        # The audit log says whose records were restored and which fields rolled back.
        planned, rolled = _audit(tmp_path, "restore")
        assert (planned["dry_run"], planned["client"], planned["fields"]) == \
            (True, "C-0000", ["Phone"])
        assert (rolled["dry_run"], rolled["client"], rolled["fields"], rolled["updated"]) == \
            (False, first["Client_Number__c"], ["Phone"], 1)


def test_client_is_found_whatever_the_accents(tmp_path: Path) -> None:
    """'exporter print helene' finds Hélène; so does restore --client."""
    import unicodedata

    with Sandbox(clients=40, seed=1) as sb:
        config = _office(tmp_path, sb)
        accounts = salesforce(sb).query("SELECT Name, Client_Number__c FROM Account "
                                        "ORDER BY Client_Number__c")["records"]
        accented = next(a for a in accounts if not a["Name"].isascii())
        plain = "".join(c for c in unicodedata.normalize("NFKD", accented["Name"])
                        if not unicodedata.combining(c)).lower()
        plan = _restore(config, "--to", "org", "--mapping", "salesforce_to_salesforce",
                        "--client", plain, "--dry-run")
        assert plan.exit_code == 0, plan.output
        assert f"{accented['Name']} ({accented['Client_Number__c']})" in plan.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_target_that_refuses_or_does_not_answer_stops_with_its_own_exit_code(
        tmp_path: Path) -> None:
    """Not exit 1 ('an unexpected problem'): the README's 12 (the restore failed), or 11
    (resumable) when the target's daily quota is used up, with one plain sentence and none
    of the SDK's own output."""
    with Sandbox(clients=3, seed=32, vendors=["salesforce"]) as sb, \
            Sandbox(clients=0, seed=33, vendors=["hubspot"]) as portal:
        good = {**portal.source_configs(tmp_path / "s3")["hubspot"], "retry": FAST_RETRY}
        token = tmp_path / "revoked-token.txt"
        token.write_text("pat-na1-revoked", encoding="utf-8")
        token.chmod(0o600)
        config = _office(tmp_path, sb, revoked={**good, "access_token": {"file": str(token)}},
                         gone={**good, "base_url": f"http://127.0.0.1:{_closed_port()}"},
                         spent={**good, "daily_reserve": 10**12},
                         org_pw={**sb.source_configs(tmp_path / "s4")["salesforce"],
                                 "password": {"file": str(token)}, "retry": FAST_RETRY})
        to_hubspot = ["--mapping", "salesforce_to_hubspot"]
        for target, code, words in [
                ("revoked", 12, "HubSpot refused the access token"),
                ("gone", 12, "HubSpot could not be reached"),
                ("spent", 11, "HubSpot API calls are left for today"),
                ("org_pw", 12, "Salesforce refused the login")]:
            mapping = ["--mapping", "salesforce_to_salesforce"] if target == "org_pw" \
                else to_hubspot
            done = _restore(config, "--to", target, *mapping)
            assert done.exit_code == code, (target, done.output)
            assert done.output.startswith(f"Error: The restore into {target} stopped ("), \
                done.output
            assert words in done.output and "goes on where it stopped" in done.output
            assert "HTTP error occurred" not in done.output  # the SDK's own print
            assert "unexpected" not in done.output and len(done.output.splitlines()) == 1
        again = _restore(config, "--to", "spent", *to_hubspot)
        assert again.exit_code == 11
        assert _restore(config, "--to", "revoked", *to_hubspot, "--dry-run").exit_code == 12


def test_the_error_report_names_a_client_deleted_in_the_mass_delete(tmp_path: Path) -> None:
    """A document whose client was deleted (a mass delete the nightly sync saw) is written
    without its client; its line in the error report still says whose it is."""
    with Sandbox(clients=8, seed=34, vendors=["salesforce"]) as sb:
        folder = tmp_path / "csv"
        config = _office(tmp_path, sb, csv={"type": "csv", "path": str(folder),
                                           "import_for": "hubspot"})
        sf = salesforce(sb)
        owner = sf.query("SELECT FirstPublishLocationId FROM ContentVersion WHERE "
                         "FirstPublishLocationId != null LIMIT 1")["records"][0]
        gone = sf.Account.get(owner["FirstPublishLocationId"])
        sf.Account.delete(gone["Id"])
        _sync(tmp_path, sb)

        done = _restore(config, "--to", "csv", "--mapping", "salesforce_to_hubspot")
        assert done.exit_code == 11, done.output  # written without their client: partial
        # Written in part is not failed: the summary tells the two apart.
        assert " 0 failed, " in done.output and "written without a field" in done.output
        with (tmp_path / "restore-csv-errors.csv").open(encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all(r["client"] for r in rows), rows
        who = f"{gone['Name']} ({gone['Client_Number__c']})"
        assert any(r["client"] == who and gone["Id"] in r["message"] for r in rows), rows
        kept = folder / "files" / readable_file_name(who)  # the client's folder, not "notes"
        assert any(kept.iterdir())


def test_a_csv_folder_that_cannot_be_written_is_said_in_one_sentence(tmp_path: Path) -> None:
    """Not 'an unexpected problem' (exit 1): exit 16, naming the folder and the setting."""
    with Sandbox(clients=2, seed=35, vendors=["salesforce"]) as sb:
        in_the_way = tmp_path / "a-file"
        in_the_way.write_text("not a folder", encoding="utf-8")
        taken = tmp_path / "taken"
        (taken / "Account.csv").mkdir(parents=True)  # a folder where the file should go
        config = _office(tmp_path, sb, usb={"type": "csv", "path": str(in_the_way / "csv")},
                         taken={"type": "csv", "path": str(taken)})
        for target, folder in [("usb", in_the_way / "csv"), ("taken", taken)]:
            done = _restore(config, "--to", target, "--mapping", "any_to_csv")
            assert done.exit_code == 16, (target, done.output)
            assert done.output.startswith(f"Error: The CSV folder {folder} could not be "
                                          "written ("), done.output
            assert f"path in [targets.{target}]" in done.output
            assert "unexpected" not in done.output and len(done.output.splitlines()) == 1
        assert [d["status"] for d in _audit(tmp_path, "restore")] == ["failed", "failed"]


def test_a_long_restore_shows_its_progress_at_a_terminal() -> None:
    """The restore's bar (one per target object: records written of those to write) is
    drawn at a terminal while the object is written, then gives way to its summary line;
    the cursor is given back at the end, also after Ctrl-C (the CLI's ``with``)."""
    import io

    from rich.console import Console

    from exporter.cli_restore import _RestoreLines

    screen = io.StringIO()
    lines = _RestoreLines(Console(file=screen, force_terminal=True, width=100))
    assert lines.bar is not None
    lines.started("Medication__c -> medications", 226)
    lines.advanced("Medication__c -> medications", 100)
    lines.bar.refresh()
    assert "100/226" in screen.getvalue()  # drawn while the object is written
    lines.finished("Medication__c -> medications", "Medication__c -> medications: 226 "
                   "created, 0 updated, 0 unchanged, 0 failed")
    assert "226 created" in screen.getvalue()
    lines.__exit__(None, None, None)
    assert not lines.bar.live.is_started


def test_a_verify_with_one_mismatch_never_reads_100_percent() -> None:
    from exporter.restore.verify import VerifyReport

    near = VerifyReport(records=915, records_matching=914, fields=7000, fields_matching=6999,
                        links=823, links_matching=823).summary()
    assert near.startswith("914 of 915 records match (99.8%); 7822 of 7823 fields and "
                           "references match (99.9%)"), near
    whole = VerifyReport(records=3, records_matching=3, fields=9, fields_matching=9).summary()
    assert whole == "3 of 3 records match (100.0%); 9 of 9 fields and references match (100.0%)"
