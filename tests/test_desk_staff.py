"""``exporter staff``: accounts of the care-plan desk in a real archive (Argon2id hashes, the
password policy, the audit log), through the real CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.desk.staff import can, check_login, password_problem
from exporter.keys import KeyFile
from tests.conftest import Cli

GOOD = "lantern orchard violet"


def _audit(cli: Cli) -> list[dict]:
    with Archive.open(cli.archive, KeyFile(cli.key_file)) as arc:
        return arc.audit_entries("staff")


def test_add_list_passwd_remove_are_audited_and_never_show_the_password(
        run_cli: Cli, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    run_cli.init()
    caplog.set_level(logging.DEBUG)
    added = run_cli("staff", "add", "Maria", "--role", "print", input=f"{GOOD}\n{GOOD}\n")
    assert added.exit_code == 0, added.output
    assert "Added Maria (print)" in added.output
    listed = run_cli("staff", "list")
    assert listed.exit_code == 0 and "Maria  print" in listed.output
    changed = run_cli("staff", "passwd", "maria", "--role", "office",
                      env={"EXPORTER_STAFF_PASSWORD": "quiet river stone"})
    assert changed.exit_code == 0, changed.output
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert check_login(arc, "MARIA", "quiet river stone").role == "office"  # type: ignore[union-attr]
        assert check_login(arc, "maria", GOOD) is None
        (stored,) = arc._query("SELECT password_hash FROM staff")[0]
        assert stored.startswith("$argon2id$")
    removed = run_cli("staff", "remove", "Maria")
    assert removed.exit_code == 0
    assert "0 staff account(s)" in run_cli("staff", "list").output
    actions = [(e["action"], e["detail"]) for e in _audit(run_cli)]
    assert actions == [("staff.add", {"name": "Maria", "role": "print"}),
                       ("staff.passwd", {"name": "Maria"}),
                       ("staff.role", {"name": "Maria", "role": "office", "was": "print"}),
                       ("staff.remove", {"name": "Maria", "role": "office"})]
    everything = added.output + changed.output + caplog.text + str(actions)
    for secret in (GOOD, "quiet river stone", "argon2"):
        assert secret not in everything
    for log in tmp_path.rglob("*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert GOOD not in text and "$argon2" not in text


@pytest.mark.parametrize("password,why", [
    ("short1", "shorter than 10"),
    ("abababababab", "repeated"),
    ("maria-is-great", "contains the staff name"),
])
def test_a_weak_password_is_refused_with_the_policy(run_cli: Cli, password: str,
                                                    why: str) -> None:
    run_cli.init()
    result = run_cli("staff", "add", "maria", "--role", "admin",
                     env={"EXPORTER_STAFF_PASSWORD": password})
    assert result.exit_code == 19
    assert why in result.output and "at least 10 characters" in result.output
    assert password not in result.output
    assert "0 staff" in run_cli("staff", "list").output
    assert password_problem("maria", password) is not None


def test_mismatched_typing_and_a_taken_name(run_cli: Cli) -> None:
    run_cli.init()
    typo = run_cli("staff", "add", "ann", "--role", "print",
                   input=f"{GOOD}\n{GOOD}x\n{GOOD}\n{GOOD}\n")
    assert typo.exit_code == 0 and "do not match" in typo.output.lower()
    again = run_cli("staff", "add", "ANN", "--role", "office",
                    env={"EXPORTER_STAFF_PASSWORD": GOOD})
    assert again.exit_code == 19 and "already a staff account" in again.output
    missing = run_cli("staff", "remove", "bob")
    assert missing.exit_code == 9 and "no staff account 'bob'" in missing.output
    nobody = run_cli("staff", "add", "carl", "--role", "print", input="")
    assert nobody.exit_code == 2 and "EXPORTER_STAFF_PASSWORD" in nobody.output


def test_roles_each_allow_more_than_the_one_before() -> None:
    assert can("print", "print") and not can("print", "documents") and not can("print", "staff")
    assert can("office", "documents") and can("office", "history") and not can("office", "staff")
    assert can("admin", "staff")
    assert not can("nobody", "search")


def test_no_command_module_loads_the_web_framework_until_the_desk_runs() -> None:
    """The desk's framework, server and Argon2 load only inside 'exporter desk' and
    'exporter staff', when they run: importing every command module loads none of them."""
    import subprocess
    import sys

    from exporter.cli import COMMANDS

    modules = sorted({m for name, (m, _, _) in COMMANDS.items() if name != "sandbox"})
    code = ("import sys; " + "; ".join(f"import {m}" for m in modules)
            + "; print(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120).stdout.split()
    assert "exporter.cli_desk" in loaded and "exporter.cli_staff" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in ("starlette", "uvicorn", "argon2",
                                                       "selenium")
             or m.startswith("exporter.desk")]
    assert heavy == []


def test_a_writer_waits_for_the_desks_brief_hold_of_the_lock_but_not_for_a_sync(
        tmp_path: Path) -> None:
    """The desk takes the write lock for milliseconds to copy its audit entries, marked
    brief: the nightly sync starting then waits instead of being refused. A sync's own hold
    still refuses a second writer at once."""
    import threading
    import time

    from exporter.errors import ArchiveLocked
    from exporter.lock import ArchiveLock

    archive = tmp_path / "a.db"
    held = threading.Event()

    def desk_moment() -> None:
        with ArchiveLock(archive, brief=True):
            held.set()
            time.sleep(0.4)

    worker = threading.Thread(target=desk_moment)
    worker.start()
    held.wait(5)
    t0 = time.monotonic()
    with ArchiveLock(archive):  # the nightly sync
        waited = time.monotonic() - t0
    worker.join()
    assert waited >= 0.2
    with ArchiveLock(archive), pytest.raises(ArchiveLocked):
        ArchiveLock(archive, brief=True).acquire()


def test_the_desk_on_a_taken_port_says_so_and_exits_20(run_cli: Cli) -> None:
    import socket

    run_cli.init(passphrase=None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("desk", "--port", str(port))
    assert result.exit_code == 20, result.output
    assert f"Port {port} is already in use" in result.output
    assert "Traceback" not in result.output
