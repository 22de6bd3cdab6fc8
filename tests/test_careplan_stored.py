"""Care plans rendered ahead of need: the nightly sync stores the PDFs of the clients whose
plan changed, print and the binder serve them. Real sandbox, real connectors, real
SQLCipher archive and WeasyPrint; the CLI as cron and the office run it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from exporter.archive import Archive, Record
from exporter.careplan.build import ArchiveView, binder_clients
from exporter.careplan.definition import default_definition_text, load_definition
from exporter.careplan.planstore import CHECKED_KEY, all_checked
from exporter.careplan.printing import day_start, print_care_plans
from exporter.careplan.stored import client_pdf
from exporter.keys import KeyFile
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli
from tests.test_careplan_offline import _offline

CLIENTS = 6


@dataclasses.dataclass
class Night:
    sb: Sandbox
    output: str  # what the first sync printed


@pytest.fixture
def agency(run_cli: Cli) -> Iterator[Night]:
    """A synced agency: init, the sandbox's sources, and one nightly sync."""
    with Sandbox(clients=CLIENTS, seed=5) as sb:
        run_cli.init()
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        first = run_cli("sync")
        assert first.exit_code == 0, first.output
        yield Night(sb, first.output)


def _open(run_cli: Cli) -> Archive:
    return Archive.open(run_cli.archive, KeyFile(run_cli.key_file))


def _rows(run_cli: Cli) -> dict[str, tuple[str, str, int]]:
    """client key -> (inputs hash, rendered at, run id)."""
    with _open(run_cli) as archive:
        rows = archive.conn.execute(
            "SELECT client_key, inputs_hash, rendered_at, run_id FROM rendered_plans")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _blob(run_cli: Cli, key: str) -> bytes:
    with _open(run_cli) as archive:
        return bytes(archive.conn.execute(
            "SELECT pdf FROM rendered_plans WHERE client_key = ?", (key,)).fetchone()[0])


def _account_key(run_cli: Cli, number: str) -> str:
    with _open(run_cli) as archive:
        for rid, data in archive.records("salesforce", "Account"):
            if data and data.get("Client_Number__c") == number:
                return f"salesforce/Account/{rid}"
    raise AssertionError(number)


def _edit_phone(sb: Sandbox, number: str, phone: str) -> None:
    store = sb.salesforce.store
    with sb.salesforce.lock:
        aid = store.unique[("Account", "Client_Number__c")][number.lower()]
        store.update("Account", store.records["Account"][aid], {"Phone": phone},
                     store.write_stamp())


def _pages(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def test_a_sync_renders_every_plan_once_then_only_the_changed_client(
        run_cli: Cli, agency: Night) -> None:
    before = _rows(run_cli)
    with _open(run_cli) as archive:
        clients = [r for r in archive.records("salesforce", "Account") if r[1]]
    assert len(before) == len(clients) >= CLIENTS  # every client of the roster, once
    # not at a terminal (cron): progress lines, the last one with every plan
    lines = re.findall(r"^Rendering the care plans that changed: (\d+) of (\d+) clients",
                       agency.output, re.M)
    assert lines and lines[-1] == (str(len(before)), str(len(before))), agency.output
    assert f"Care plans rendered: {len(before)} (0 unchanged)" in agency.output
    changed = _account_key(run_cli, "C-00002")
    _edit_phone(agency.sb, "C-00002", "(555) 010-9999")
    again = run_cli("sync")
    assert again.exit_code == 0, again.output
    assert f"Care plans rendered: 1 ({len(before) - 1} unchanged)" in again.output
    after = _rows(run_cli)
    assert set(after) == set(before)
    assert after[changed][0] != before[changed][0] and after[changed][1] > before[changed][1]
    assert after[changed][2] > before[changed][2]  # it shows the newer run
    for key in set(before) - {changed}:  # untouched: same hash, same time, same run
        assert after[key] == before[key], key
    assert "(555) 010-9999" in " ".join(_pages(_blob(run_cli, changed)))


def test_a_changed_definition_renders_every_plan_and_is_audited(
        run_cli: Cli, agency: Night) -> None:
    before = _rows(run_cli)
    mine = run_cli.tmp / "mine.toml"
    mine.write_text(default_definition_text().replace(
        'organisation = "Sunrise Home Care"', 'organisation = "Sunset Home Care"'),
        encoding="utf-8")
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write('\n[careplan]\ndefinition = "mine.toml"\n')
    done = run_cli("print", "--prerender")
    assert done.exit_code == 0, done.output
    assert f"Care plans rendered: {len(before)} (0 unchanged)" in done.output
    after = _rows(run_cli)
    assert all(after[k][0] != before[k][0] for k in before)
    assert "SUNSET HOME CARE" in " ".join(_pages(_blob(run_cli, next(iter(after))))).upper()
    with _open(run_cli) as archive:
        entry = archive.audit_entries("prerender")[-1]["detail"]
    assert entry["rendered"] == len(before) and entry["definition"].endswith("mine.toml")
    assert "Care plans rendered: 0" in run_cli("print", "--prerender").output


def test_print_serves_the_stored_pdf_while_it_is_still_the_plan(
        run_cli: Cli, agency: Night) -> None:
    key = _account_key(run_cli, "C-00001")
    out = run_cli.tmp / "one.pdf"
    done = run_cli("print", "C-00001", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == _blob(run_cli, key)
    # The stored blob is what is served: put another client's PDF under this hash...
    other = _blob(run_cli, _account_key(run_cli, "C-00003"))
    with _open(run_cli) as archive, archive.transaction():
        archive.conn.execute("UPDATE rendered_plans SET pdf = ? WHERE client_key = ?",
                             (other, key))
    run_cli("print", "C-00001", "--out", str(out))
    assert out.read_bytes() == other
    # ...and a stale hash is laid out live, and stored again (once the plans are no longer
    # known to be all current: the mark a complete pre-render leaves is gone, as when a run
    # starts or the day turns).
    with _open(run_cli) as archive, archive.transaction():
        archive.conn.execute("UPDATE rendered_plans SET inputs_hash = 'x' WHERE client_key = ?",
                             (key,))
        archive.conn.execute("DELETE FROM archive_meta WHERE key = ?", (CHECKED_KEY,))
    run_cli("print", "C-00001", "--out", str(out))
    assert out.read_bytes() != other and out.read_bytes() == _blob(run_cli, key)
    assert _rows(run_cli)[key][0] != "x"
    with _open(run_cli) as archive:  # the desk's call gives the same PDF; audits unchanged
        assert client_pdf(archive, load_definition(), "C-00001") == out.read_bytes()
        prints = archive.audit_entries("print")
    assert len(prints) == 3 and prints[-1]["detail"]["format"] == "pdf"


def test_the_binder_is_assembled_from_the_stored_pdfs(run_cli: Cli, agency: Night,
                                                      tmp_path: Path) -> None:
    definition = load_definition()
    with _open(run_cli) as archive:
        binder = binder_clients(ArchiveView(archive), definition)
        plans = list(archive.records("salesforce", "Care_Plan__c"))
        allergies = list(archive.records("salesforce", "Allergy__c"))
        laid_out: list[tuple[int, int]] = []
        result = print_care_plans(archive, definition, everyone=True,
                                  out=tmp_path / "binder.pdf", workers=2,
                                  progress=lambda done, total: laid_out.append((done, total)))
        parts = [bytes(archive.conn.execute(
            "SELECT pdf FROM rendered_plans WHERE client_key = ?",
            (f"salesforce/Account/{c.record_id}",)).fetchone()[0]) for c in binder]
    assert laid_out == []  # nothing laid out: every client's PDF was stored
    assert [c.record_id for c in result.clients] == [c.record_id for c in binder]
    reader = PdfReader(tmp_path / "binder.pdf")
    part_pages = [len(PdfReader(io.BytesIO(p)).pages) for p in parts]
    toc_pages = len(reader.pages) - sum(part_pages)
    assert toc_pages >= 1
    text = [" ".join((p.extract_text() or "").split()) for p in reader.pages]
    assert "Care plan binder" in text[0]
    start = toc_pages
    for client, n in zip(binder, part_pages, strict=True):
        own = " ".join(text[start:start + n])
        assert client.name in text[start] and f"Page 1 of {n}" in text[start]
        plan = next(d for _, d in plans if d and d["Client__c"] == client.record_id
                    and not d["IsDeleted"])
        assert plan["Code_Status__c"] in own
        for _, allergy in allergies:
            if allergy and allergy["Client__c"] == client.record_id and not allergy["IsDeleted"]:
                assert allergy["Name"] in own
        start += n
    assert start == len(reader.pages)


KILLED = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from exporter.archive import Archive, Record
    from exporter.careplan.definition import load_definition
    from exporter.careplan.stored import prerender
    from exporter.keys import KeyFile

    def stored(done, total):
        print(f"stored {done} of {total}", flush=True)
        time.sleep(60)  # killed here, with more plans to go

    with Archive.open(Path(sys.argv[1]), KeyFile(Path(sys.argv[2])), write=True) as archive:
        with archive.transaction():
            archive.conn.execute("DELETE FROM rendered_plans")
        prerender(archive, load_definition(), progress=stored)
''')


def test_a_killed_prerender_leaves_a_sound_archive_and_the_next_sync_finishes(
        run_cli: Cli, agency: Night) -> None:
    every = _rows(run_cli)
    script = run_cli.tmp / "killed.py"
    script.write_text(KILLED, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(run_cli.archive),
                             str(run_cli.key_file)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "EXPORTER_CONFIG": ""})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("stored 1 of"), "no plan was stored"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with _open(run_cli) as archive:
        assert archive.verify() == []
    half = _rows(run_cli)
    assert 1 <= len(half) < len(every)
    for key, (digest, _, _) in half.items():  # what is there is whole and current
        assert digest == every[key][0]
        assert PdfReader(io.BytesIO(_blob(run_cli, key))).pages
    done = run_cli("sync")
    assert done.exit_code == 0, done.output
    assert (f"Care plans rendered: {len(every) - len(half)} ({len(half)} unchanged)"
            in done.output)
    assert {k: v[0] for k, v in _rows(run_cli).items()} == {k: v[0] for k, v in every.items()}


def test_print_and_binder_work_offline_from_the_stored_plans(run_cli: Cli,
                                                             agency: Night) -> None:
    agency.sb.stop()  # the cloud is gone
    prefix, env, log = _offline(run_cli.tmp)
    env["EXPORTER_CONFIG"] = str(run_cli.config)
    one, binder = run_cli.tmp / "one.pdf", run_cli.tmp / "binder.pdf"
    for args in (["print", "C-00001", "--out", str(one)], ["print", "--all", "--out",
                                                            str(binder)]):
        done = subprocess.run([*prefix, sys.executable, "-m", "exporter", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Laying out" not in done.stderr  # nothing laid out: stored PDFs
    assert not log.exists() or log.read_text() == ""  # nothing even tried to connect
    assert one.read_bytes() == _blob(run_cli, _account_key(run_cli, "C-00001"))
    assert "Care plan binder" in " ".join(_pages(binder.read_bytes())[:1])


def test_deleted_clients_keep_their_last_plan_and_clients_off_the_roster_lose_their_row(
        run_cli: Cli, agency: Night) -> None:
    before = _rows(run_cli)
    gone = _account_key(run_cli, "C-00004")
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as arc:
        rid = gone.rsplit("/", 1)[1]
        data = next(d for r, d in arc.records("salesforce", "Account") if r == rid)
        run = arc.begin_run("sync")  # the night the sync finds it deleted in Salesforce
        arc.put_batch(run, "salesforce", "Account",
                      [Record(rid, {**data, "IsDeleted": True}, deleted=True)])
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})
    done = run_cli("print", "--prerender")
    assert f"Care plans rendered: 1 ({len(before) - 1} unchanged)" in done.output, done.output
    text = " ".join(_pages(_blob(run_cli, gone)))
    assert re.search(r"DELETED in Salesforce on \d+ \w+ \d{4}", text), text[:500]
    out = run_cli.tmp / "gone.pdf"
    assert run_cli("print", "C-00004", "--out", str(out)).exit_code == 0
    assert out.read_bytes() == _blob(run_cli, gone)
    # A definition that leaves C-00005 out: its row goes (and every other plan is new).
    mine = run_cli.tmp / "mine.toml"
    mine.write_text(default_definition_text().replace(
        "exclude = { IsDeleted = true }\nbinder",
        'exclude = { IsDeleted = true, Client_Number__c = "C-00005" }\nbinder'),
        encoding="utf-8")
    left_out = _account_key(run_cli, "C-00005")
    done = run_cli("print", "--prerender", "--definition", str(mine))
    assert f"({0} unchanged, 1 removed)" in done.output, done.output
    assert set(_rows(run_cli)) == set(before) - {left_out}


def test_a_failed_prerender_never_fails_the_sync(run_cli: Cli, agency: Night) -> None:
    before = _rows(run_cli)
    bad = run_cli.tmp / "bad.toml"
    bad.write_text(default_definition_text().replace('field = "Reaction__c"',
                                                     'field = "Reaktion__c"'), encoding="utf-8")
    with run_cli.config.open("a", encoding="utf-8") as fh:
        fh.write('\n[careplan]\ndefinition = "bad.toml"\n')
    _edit_phone(agency.sb, "C-00002", "(555) 010-7777")
    done = run_cli("sync")
    assert done.exit_code == 0, done.output
    assert "Warning: the care plans were not rendered ahead" in done.output
    assert "Reaktion__c" in done.output and "Traceback" not in done.output
    assert _rows(run_cli) == before  # the old plans are kept; print lays out live


def test_the_plans_are_known_current_until_a_run_starts_or_the_day_turns(
        run_cli: Cli, agency: Night) -> None:
    definition = load_definition()
    today = day_start(dt.datetime.now(dt.UTC))
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file), write=True) as archive:
        assert all_checked(archive, definition, today.isoformat())
        assert not all_checked(archive, definition, (today + dt.timedelta(days=1)).isoformat())
        other = dataclasses.replace(definition, organisation="Sunset Home Care")
        assert not all_checked(archive, other, today.isoformat())
        archive.begin_run("sync")  # a run at work may be changing the data
        assert not all_checked(archive, definition, today.isoformat())
    with _open(run_cli) as archive:  # a plan of another definition stored: the mark goes
        mine = run_cli.tmp / "mine.toml"
        mine.write_text(default_definition_text().replace(
            'organisation = "Sunrise Home Care"', 'organisation = "Sunset Home Care"'),
            encoding="utf-8")
        assert archive.conn.execute("SELECT count(*) FROM archive_meta WHERE key = ?",
                                    (CHECKED_KEY,)).fetchone()[0] == 1
        print_care_plans(archive, load_definition(mine), query="C-00001",
                         out=run_cli.tmp / "sunset.pdf")
        assert archive.conn.execute("SELECT count(*) FROM archive_meta WHERE key = ?",
                                    (CHECKED_KEY,)).fetchone()[0] == 0
