"""The reliability campaign's short version (``python -m reliability --short``) as part of
``make test``: every family runs a few cases against the real CLI and the sandbox cloud
(kills, tamperings, malformed responses, resource faults, a race, canaries). The long
version is ``make reliability`` (docs/reliability.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, mounts")


def test_the_short_campaign_finds_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reliability", "--short", "--seed", "2026", "--clients", "4",
         "--failures", str(tmp_path / "failures")],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    output = proc.stdout + proc.stderr[-3000:]
    assert proc.returncode == 0, output
    assert "No failure." in proc.stdout
    for family in ("kills", "tamper", "malformed", "resources", "concurrency", "canaries"):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(family + " "))
        tried, failed = (int(n) for n in line.split()[1:3])
        assert tried > 0 and failed == 0, line
    kills = next(x for x in proc.stdout.splitlines() if x.startswith("kills "))
    assert "prerender:" in kills and "desk: killed" in kills, kills
    races = next(x for x in proc.stdout.splitlines() if x.startswith("concurrency "))
    assert "desk beside a sync 1" in races, races
    assert not (tmp_path / "failures").exists()
