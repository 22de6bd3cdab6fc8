"""``exporter audit`` reads the audit log back for the office (who printed or exported which
client's data, and when), filters it by date, kind and client, records that it was read,
and says so when the hash chain was broken. The real command line on an archive synced from
the sandbox over loopback."""

from __future__ import annotations

import json

from exporter.archive import Archive
from exporter.keys import KeyFile
from sandbox import Sandbox
from tests.conftest import Cli
from tests.test_drill import synced  # noqa: F401 (the fixture: 3 clients, synced)


def test_the_audit_log_shows_who_printed_which_client_and_is_itself_audited(
        synced: tuple[Cli, Sandbox]) -> None:  # noqa: F811
    cli_, sb = synced
    clients = sorted(sb.agency.clients.values(), key=lambda c: c.full_name)
    first, other = clients[0], clients[1]
    out_dir = cli_.tmp / "plans"
    printed = cli_("print", first.full_name, "--out", str(out_dir / "plan.pdf"))
    assert printed.exit_code == 0, printed.output
    assert cli_("clients").exit_code == 0

    shown = cli_("audit")
    assert shown.exit_code == 0, shown.output
    assert "printed care plans" in shown.output and "listed the clients" in shown.output
    assert first.number in shown.output  # the print entry names its client by number
    assert first.full_name not in shown.output  # never by name (health data)

    only = cli_("audit", "--client", first.full_name.upper())
    assert only.exit_code == 0 and "printed care plans" in only.output
    assert "listed the clients" not in only.output  # that entry names nobody
    assert "1 entry." in only.output
    nobody = cli_("audit", "--client", other.full_name, "--action", "print")
    assert nobody.exit_code == 0 and "0 entries." in nobody.output
    later = cli_("audit", "--since", "2999-01-01")
    assert "0 entries." in later.output
    as_json = cli_("audit", "--action", "print", "--json")
    entries = json.loads(as_json.output)
    assert [e["action"] for e in entries] == ["print"]
    assert cli_("audit", "--since", "30/11/2026").exit_code == 2

    with Archive.open(cli_.archive, KeyFile(cli_.key_file)) as arc:
        reads = [e for e in arc.audit_entries("audit") if e["action"] == "audit"]
    assert len(reads) == 5  # every reading of the log, filters and count recorded
    assert reads[1]["detail"] == {"since": None, "action": None,
                                  "client": first.full_name.upper(), "entries": 1}


def test_a_broken_chain_is_said_and_exits_as_a_damaged_archive(
        synced: tuple[Cli, Sandbox]) -> None:  # noqa: F811
    cli_, _sb = synced
    assert cli_("clients").exit_code == 0
    with Archive.open(cli_.archive, KeyFile(cli_.key_file), write=True) as arc:
        triggers = [r[0] for r in arc.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")]
        arc.conn.execute("BEGIN IMMEDIATE")
        arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        arc.conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        arc.conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE action = 'clients'")
        for sql in triggers:
            arc.conn.execute(sql)
        arc.conn.execute("COMMIT")
        arc._lock.release()  # leave without anchoring: the attacker's tool is not exporter
        arc._lock = None
    shown = cli_("audit")
    assert shown.exit_code == 6, shown.output
    assert "altered" in shown.output and "exporter verify" in shown.output


def test_entries_show_local_time_with_the_zone_and_json_keeps_utc(
        synced: tuple[Cli, Sandbox]) -> None:  # noqa: F811
    """As every other command shows a time: this computer's clock, the zone named (TZ set
    in the process's environment here); --json stays UTC ISO for machines."""
    import datetime as dt
    import os
    import subprocess
    import sys

    cli_, _sb = synced
    assert cli_("clients").exit_code == 0
    env = {**os.environ, "EXPORTER_CONFIG": str(cli_.config), "TZ": "EST+5"}
    for name in ("EXPORTER_PASSPHRASE", "EXPORTER_KEY_FILE"):
        env.pop(name, None)

    def audit(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "exporter", "audit", "--action",
                               "clients", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    entries = json.loads(audit("--json"))
    assert len(entries) == 1
    at = dt.datetime.fromisoformat(entries[0]["at"])
    assert at.utcoffset() == dt.timedelta(0)  # machine-readable: UTC ISO, as stored
    local = at.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    line = next(ln for ln in audit().splitlines() if "listed the clients" in ln)
    assert line.startswith(f"{local:%Y-%m-%d %H:%M:%S} EST  "), line
    # --since is a day of this computer's calendar, the one the line shows: a zone where
    # the entry's local day is not its UTC day (east of UTC late in the UTC day, west early)
    hours = 13 if at.hour >= 12 else -12
    env["TZ"] = f"XYZ{-hours:+d}"  # POSIX: XYZ-13 is 13 hours east of UTC
    day = (at + dt.timedelta(hours=hours)).date()
    assert day != at.date()
    assert "listed the clients" in audit("--since", day.isoformat())
    after = (day + dt.timedelta(days=1)).isoformat()
    assert "listed the clients" not in audit("--since", after)
