"""Issue 11: copies kept by age as well as by count (grandfather-father-son: keep_daily,
keep_weekly, keep_monthly per [[copies]]), so that several manual runs in one day never push
out last week's copy. Real copies in a folder and in the S3 emulator; their dates are crafted
by rewriting the ``created_at`` of each copy's manifest (what listing and keeping read)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.copies import list_copies, make_copy
from exporter.copies_base import MANIFEST, CopyInfo
from exporter.keys import KeyFile
from exporter.objectstore import ObjectStore
from exporter.retention import Retention, kept_names
from sandbox.s3 import s3_sandbox
from tests.conftest import Cli
from tests.test_copies import PASSPHRASE, _add_copy, _fill
from tests.test_copies_s3 import ENV, _add_s3_copy, _store


def _info(name: str, when: dt.datetime) -> CopyInfo:
    return CopyInfo(name=name, path=name, archive_id="a", created_at=when.isoformat(), size=1,
                    newest_run=None)


def _ago(days: float, hour: int = 12) -> dt.datetime:
    local = dt.datetime.now().astimezone().replace(hour=hour, minute=0, second=0,
                                                   microsecond=0)
    return (local - dt.timedelta(days=days)).astimezone(dt.UTC)


def test_each_rule_keeps_the_newest_copy_of_its_last_periods() -> None:
    copies = [_info(f"d{n}", _ago(n)) for n in range(0, 400, 3)]  # one copy every 3 days
    assert kept_names(copies, Retention(keep=2)) == {"d0", "d3"}
    daily = kept_names(copies, Retention(keep=1, daily=3))
    assert daily == {"d0", "d3", "d6"}  # the last 3 days *that have a copy*
    monthly = kept_names(copies, Retention(keep=1, monthly=13))
    months = {(_ago(int(n[1:])).astimezone().year, _ago(int(n[1:])).astimezone().month)
              for n in monthly}
    assert len(monthly) == len(months) == 13
    for name in monthly - {"d0"}:  # the newest of its month: none newer in the same month
        when = _ago(int(name[1:])).astimezone()
        assert not any(_ago(n).astimezone().month == when.month and
                       _ago(n).astimezone().year == when.year and n < int(name[1:])
                       for n in range(0, 400, 3)), name
    same_day = [_info(f"t{n}", _ago(0, hour=9 + n)) for n in range(4)] + [_info("w", _ago(8))]
    assert kept_names(same_day, Retention(keep=2)) == {"t3", "t2"}
    assert kept_names(same_day, Retention(keep=2, weekly=2)) == {"t3", "t2", "w"}


def _craft(made: list[str], dates: list[dt.datetime], rewrite: Callable[[str, bytes], None],
           read: Callable[[str], bytes]) -> None:
    for name, when in zip(made, dates, strict=True):
        manifest = json.loads(read(name))
        manifest["created_at"] = when.isoformat()
        rewrite(name, json.dumps(manifest).encode())


def _scenario(arc: Archive, key: KeyFile, dest: Path | ObjectStore,
              rewrite: Callable[[str, bytes], None], read: Callable[[str], bytes]
              ) -> dict[str, str]:
    """Copies dated 20 days ago, 8 days ago and three earlier today; returns name -> label."""
    made = [Path(str(make_copy(arc, key, dest, keep=100).folder)).name for _ in range(5)]
    _craft(made, [_ago(20), _ago(8), _ago(0, 0), _ago(0, 0) + dt.timedelta(minutes=1),
                  _ago(0, 0) + dt.timedelta(minutes=2)], rewrite, read)
    return dict(zip(made, ["3 weeks ago", "last week", "today 1", "today 2", "today 3"],
                    strict=True))


@pytest.fixture
def filled(run_cli: Cli) -> Cli:
    run_cli.init(passphrase=PASSPHRASE)
    _fill(run_cli)
    return run_cli


def test_manual_runs_in_a_folder_never_push_out_last_weeks_copy(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    key = KeyFile(filled.key_file)
    with Archive.open(filled.archive, key, write=True) as arc:
        labels = _scenario(arc, key, dest,
                           lambda n, b: (dest / n / MANIFEST).write_bytes(b),
                           lambda n: (dest / n / MANIFEST).read_bytes())
    _add_copy(filled, dest, name="usb", keep=2, keep_weekly=2)
    result = filled("copy")
    assert result.exit_code == 0, result.output
    with Archive.open(filled.archive, key) as arc:
        left = [labels.get(c.name, "new") for c in list_copies(dest, arc.archive_id)]
    assert left == ["new", "today 3", "last week"]


def test_manual_runs_in_a_store_never_push_out_last_weeks_copy(filled: Cli,
                                                                tmp_path: Path) -> None:
    with s3_sandbox(tmp_path / "s3", buckets=("copies",)) as served:
        endpoint = served[0]
        store = _store(endpoint)
        key = KeyFile(filled.key_file)
        with Archive.open(filled.archive, key, write=True) as arc:
            labels = _scenario(arc, key, store,
                               lambda n, b: store.put_bytes(f"{n}/{MANIFEST}", b),
                               lambda n: store.get_bytes(f"{n}/{MANIFEST}"))
        _add_s3_copy(filled, endpoint, keep=1, keep_daily=1, keep_weekly=3)
        result = filled("copy", env=ENV)
        assert result.exit_code == 0, result.output
        with Archive.open(filled.archive, key) as arc:
            left = [labels.get(c.name, "new") for c in list_copies(store, arc.archive_id)]
    # keep 1: the new one; daily 1: today's newest (the new one); weekly 3: this week's,
    # last week's and the one three weeks ago (the last three weeks that have a copy).
    assert left == ["new", "last week", "3 weeks ago"]


def test_keep_by_age_settings_are_checked(filled: Cli) -> None:
    _add_copy(filled, filled.tmp, name="usb", keep_weekly=-1)
    result = filled("copy")
    assert result.exit_code == 3
    assert "keep_weekly must be a whole number, 0 or more" in " ".join(result.output.split())
