"""Task Scheduler (issue 12 point 7): the task can run whether the user is logged on or not,
with the password typed into schtasks's own prompt, and its Last Run Result numbers are
explained in exporter's words. Pure planners: no Windows here."""

from __future__ import annotations

import pytest

from exporter.cli_base import EXIT_COPY_FAILED, EXIT_OK, EXIT_SYNC_FAILED, EXIT_SYNC_PARTIAL
from exporter.errors import (
    EXIT_CODES,
    ArchiveDamaged,
    ArchiveLocked,
    ArchiveNotFound,
    ConfigError,
    DiskFull,
    KeyNeeded,
    UnsupportedFormat,
    WrongKey,
)
from exporter.schedule import (
    LAST_RUN_RESULTS,
    Job,
    last_run_result,
    password_refused,
    plan_schtasks,
)

JOB = Job(program=(r"C:\Users\mary\pipx\venvs\exporter-homecare\Scripts\exporter.exe",),
          config=r"C:\Users\mary\AppData\Local\exporter\exporter\config.toml", hour=2,
          minute=30, log=r"C:\Users\mary\AppData\Local\exporter\exporter\Logs\n.log")


def test_the_password_is_asked_by_schtasks_never_passed_on_the_command_line() -> None:
    plan = plan_schtasks(JOB, r"C:\Temp\t.xml", r"OFFICE\mary")
    assert plan.store_password == ["schtasks", "/Change", "/TN", "exporter-nightly", "/RU",
                                   r"OFFICE\mary", "/RP"]  # /RP last, with no value: a prompt


def test_every_exit_code_of_a_nightly_run_has_a_meaning_in_last_run_result() -> None:
    nightly = {EXIT_OK, EXIT_SYNC_PARTIAL, EXIT_SYNC_FAILED, EXIT_COPY_FAILED, 1}
    nightly |= {code for cls, code in EXIT_CODES
                if cls in (ConfigError, KeyNeeded, WrongKey, ArchiveLocked, ArchiveDamaged,
                           UnsupportedFormat, ArchiveNotFound, DiskFull)}
    assert len(nightly) == 12
    explained = {code for code, _ in LAST_RUN_RESULTS}
    assert nightly <= explained
    assert last_run_result(11).startswith("0xB (11): partial")
    assert last_run_result(0) == "0x0 (0): the sync and the copies completed"
    assert last_run_result(14).startswith("0xE (14): the sync completed but a copy failed")


@pytest.mark.parametrize("code,words", [
    (0x8007052E, "password is wrong"), (-2147023570, "password is wrong"),  # int32 form
    (0x80070569, "Log on as a batch job"), (0x41301, "running now"),
    (0x1234, "not an exporter code"),
])
def test_task_schedulers_own_numbers_are_explained(code: int, words: str) -> None:
    text = last_run_result(code)
    assert words in text and text.startswith(f"0x{code & 0xFFFFFFFF:X}")


def test_a_refused_password_is_one_plain_sentence_with_the_way_out() -> None:
    right = password_refused(1, "ERROR: Logon failure: the user has not been granted the "
                                "requested logon type at this computer. (0x80070569)")
    assert "Log on as a batch job" in right and "only while you are logged on" in right
    wrong = password_refused(1, "ERROR: The user name or password is incorrect.")
    assert "password was not accepted" in wrong and "locked is fine" in wrong
