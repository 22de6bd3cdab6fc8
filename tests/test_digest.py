"""Issue 11: the optional success mail (``[notify] on_success``) and the weekly digest
(``[notify] digest_weekday``): "backed up every night this week; archive 412 MB; 3 copies",
nights missed named, sent by the nightly job once a week. Real smtplib to the sandbox mail
server."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.archive.runs import Run
from exporter.config import WEEKDAYS, NotifySettings, write_config
from exporter.digest import week_digest, week_of
from exporter.notify import state_path
from sandbox import Sandbox
from sandbox.cli import merge_notify_into_config, merge_sources_into_config, sandbox_notify_table
from sandbox.smtp import SMTPEmulator
from tests.conftest import Cli

SETTINGS = NotifySettings(to=("office@example.com",), sender="exporter@example.com",
                          smtp_host="127.0.0.1", agency="Sunrise", digest_weekday=0)
TODAY = dt.date(2026, 12, 7)  # a Monday


def _night(n: int, day: dt.date, status: str) -> Run:
    start = dt.datetime.combine(day, dt.time(2, 30)).astimezone().astimezone(dt.UTC)
    return Run(n, "sync", start.isoformat(), (start + dt.timedelta(minutes=4)).isoformat(),
               status)


def _copy(day: dt.date, where: str) -> dict[str, Any]:
    at = dt.datetime.combine(day, dt.time(2, 40)).astimezone().astimezone(dt.UTC)
    return {"at": at.isoformat(), "action": "copy", "detail": {"destination": where}}


def test_a_week_backed_up_every_night_says_so_in_one_line() -> None:
    days = [TODAY - dt.timedelta(days=n) for n in range(7)]
    runs = [_night(i, day, "ok") for i, day in enumerate(days, 1)]
    runs.append(_night(99, TODAY - dt.timedelta(days=9), "failed"))  # last week: not counted
    copies = [_copy(TODAY, "E:/usb"), _copy(days[1], "//nas/backup"), _copy(days[2], "s3://b"),
              _copy(days[3], "E:/usb")]
    alert = week_digest(SETTINGS, week_of(runs, 412 * 1024 ** 2, copies, TODAY), None)
    assert alert.kind == "digest"
    assert alert.subject == "exporter: weekly summary: backed up every night (Sunrise)"
    assert alert.body.startswith("Backed up every night this week; archive 412 MB; 3 copies.")
    assert "Tue 01 Dec to Mon 07 Dec" in alert.body
    assert "Copies made this week: E:/usb, //nas/backup, s3://b." in alert.body
    assert "missed" not in alert.body


def test_missed_and_partial_nights_are_named() -> None:
    runs = [_night(1, TODAY, "ok"), _night(2, TODAY - dt.timedelta(days=1), "partial"),
            _night(3, TODAY - dt.timedelta(days=2), "failed"),
            _night(4, TODAY - dt.timedelta(days=2), "interrupted"),
            _night(5, TODAY - dt.timedelta(days=4), "failed"),
            _night(6, TODAY - dt.timedelta(days=4), "ok"),  # the second run that day did it
            _night(7, TODAY - dt.timedelta(days=5), "ok"),
            _night(8, TODAY - dt.timedelta(days=6), "ok")]
    alert = week_digest(SETTINGS, week_of(runs, 3 * 1024 ** 3, [], TODAY), None)
    assert alert.subject == "exporter: weekly summary: 2 night(s) missed (Sunrise)"
    assert alert.body.startswith("Backed up 4 of 7 nights this week; archive 3.0 GB; 0 copies.")
    assert "Nights missed (no complete backup): Fri 04 Dec, Sat 05 Dec." in alert.body
    assert "Nights only partly backed up (a source failed): Sun 06 Dec." in alert.body
    assert "none (add [[copies]] to the config)" in alert.body


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SMTPEmulator]:
    with SMTPEmulator(folder=tmp_path / "mail") as server:
        yield server


@pytest.fixture
def agency(run_cli: Cli, mail: SMTPEmulator) -> Iterator[Sandbox]:
    with Sandbox(clients=3, seed=7, vendors=("hubspot",)) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        merge_notify_into_config(run_cli.config, sandbox_notify_table(
            mail.host, mail.port, run_cli.tmp / "notify-secrets"))
        yield sb


def _notify(run_cli: Cli, **values: Any) -> None:
    data = tomllib.loads(run_cli.config.read_text(encoding="utf-8"))
    data["notify"].update(values)
    data["copies"] = [{"name": "usb", "path": str(run_cli.tmp / "usb"), "after_sync": True}]
    (run_cli.tmp / "usb").mkdir(exist_ok=True)
    write_config(run_cli.config, data)


def test_the_nightly_job_mails_the_digest_once_on_its_weekday(
        run_cli: Cli, agency: Sandbox, mail: SMTPEmulator) -> None:
    today = dt.datetime.now().astimezone().date()
    _notify(run_cli, digest_weekday=WEEKDAYS[(today.weekday() + 1) % 7].capitalize())
    assert run_cli("sync").exit_code == 0
    assert mail.messages == []  # not its day; and no success mail unless asked

    _notify(run_cli, digest_weekday=WEEKDAYS[today.weekday()])
    first = run_cli("sync")
    assert first.exit_code == 0, first.output
    [digest] = mail.messages
    assert " ".join(digest.subject.split()).startswith(
        "exporter: weekly summary: 6 night(s) missed")
    assert digest.text.startswith("Backed up 1 of 7 nights this week; archive ")
    assert "; 1 copy." in digest.text and "Copies made this week: " in digest.text
    assert today.strftime("%a %d %b") not in digest.text.split("Nights missed")[1].split("\n")[0]
    assert run_cli("sync").exit_code == 0
    assert len(mail.messages) == 1  # once a week, however many runs that day

    state = json.loads(state_path(run_cli.archive).read_text(encoding="utf-8"))
    assert state["digest_sent_for"] == today.isoformat()
    last_week = (today - dt.timedelta(days=7)).isoformat()
    state_path(run_cli.archive).write_text(json.dumps(state | {"digest_sent_for": last_week}))
    assert run_cli("sync").exit_code == 0
    assert len(mail.messages) == 2  # a new week


def test_on_success_mails_a_good_night(run_cli: Cli, agency: Sandbox,
                                       mail: SMTPEmulator) -> None:
    _notify(run_cli, on_success=True)
    assert run_cli("sync").exit_code == 0
    [sent] = mail.messages
    assert sent.subject.startswith("exporter: last night's sync finished (")
    assert "every source was archived (hubspot)" in sent.text
    _notify(run_cli, on_success="yes")
    refused = run_cli("check")
    assert refused.exit_code == 3 and "on_success must be true or false" in refused.output
    _notify(run_cli, on_success=True, digest_weekday="someday")
    refused = run_cli("check")
    assert refused.exit_code == 3 and 'digest_weekday = "monday"' in refused.output
