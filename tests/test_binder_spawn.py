"""`print --all` lays clients out in parallel processes started with "spawn", the only start
method Windows has (issue 12, Must show): each worker is a fresh interpreter that imports
exporter.careplan.render and gets its client's HTML pickled, with none of the parent's state.
Used on every OS, so these tests run the office PC's path here."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.careplan import render
from exporter.careplan.printing import print_care_plans
from tests.test_careplan import (  # noqa: F401 (fixtures)
    Agency,
    _three_client_definition,
    account,
    agency,
    copy,
    pdf_pages,
)


def _undated(pages: list[str]) -> list[str]:
    """The pages without their "printed <time>" stamps: the two binders are printed moments
    apart, maybe across a minute (every page carries the stamp)."""
    return [re.sub(r"(?i)printed [^\n]*? from data as of", "printed from data as of", page)
            for page in pages]


def test_the_binder_pool_spawns_and_lays_out_what_one_process_does(
        copy: Archive, tmp_path: Path) -> None:  # noqa: F811
    assert render.POOL_CONTEXT.get_start_method() == "spawn"
    definition = _three_client_definition()
    parallel = print_care_plans(copy, definition, everyone=True, out=tmp_path / "two.pdf",
                                workers=2)
    alone = print_care_plans(copy, definition, everyone=True, out=tmp_path / "one.pdf",
                             workers=1)
    assert [c.display_key for c in parallel.clients] == [c.display_key for c in alone.clients]
    assert len(parallel.clients) == 3
    two, one = (_undated(pdf_pages(tmp_path / name)) for name in ("two.pdf", "one.pdf"))
    assert all("printed from data as of" in page.lower() for page in two[1:])  # stamps gone
    assert len(two) == len(one) and two == one
    for client in parallel.clients:
        assert any(client.name in page for page in two[1:])


def test_exporter_print_all_runs_once_with_spawned_workers(
        copy: Archive, tmp_path: Path) -> None:  # noqa: F811
    """The real command (python -m exporter, whose __main__ must not run again in a spawned
    worker) with its default workers (one per CPU, at least two here)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\npath = "{copy.path}"\n'
                      f'key_file = "{copy.path.with_name("a.key")}"\n', encoding="utf-8")
    before = len(copy.audit_entries("print"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    env |= {"EXPORTER_CONFIG": str(config)}
    binder = tmp_path / "binder.pdf"
    done = subprocess.run([sys.executable, "-m", "exporter", "print", "--all", "--out",
                           str(binder)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    pages = pdf_pages(binder)
    assert "Care plan binder" in pages[0]
    assert account(copy, "C-00001")["Name"] in " ".join(pages)
    assert len(copy.audit_entries("print")) == before + 1  # printed once, not per worker


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_layout_workers_end_when_the_printing_process_is_killed(tmp_path: Path) -> None:
    """A job killed while its binder is laid out must not leave its spawned workers waiting
    for work for ever (they held the job's output pipes: the reliability campaign's kills
    then hung)."""
    script = tmp_path / "binder.py"
    script.write_text(
        "import os, sys\n"
        "from exporter.careplan.render import iter_pdfs\n"
        "if __name__ == '__main__':\n"
        "    print(os.getpid(), flush=True)\n"
        "    html = '<p>' + 'care plan ' * 4000 + '</p>'\n"
        "    for _ in iter_pdfs([html] * 400, workers=2):\n"
        "        pass\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    parent = int(proc.stdout.readline())

    def workers() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cmdline = (stat.parent / "cmdline").read_bytes() if fields[1] == str(parent) \
                else b""
            if b"multiprocessing" in cmdline and b"spawn_main" in cmdline:
                found.append(int(stat.parent.name))
        return found

    deadline = time.monotonic() + 120
    while len(started := workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(started) == 2, "the layout workers never started"
    os.kill(parent, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() and "Z" not in
              (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0:1] or [""])
              for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in started if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    for pid in alive:  # leave nothing behind, whatever the verdict
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"layout workers {alive} outlived the killed process"
