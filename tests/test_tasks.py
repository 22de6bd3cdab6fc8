"""`make demo` and `make test` without make (issue 12 point 4): `python tasks.py demo|test`
runs the Makefile's steps with the venv's own interpreter, in `.venv\\Scripts` on Windows."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tasks_use_the_venv_of_each_platform_and_no_make() -> None:
    tasks = _tasks()
    venv = Path("C:/work/exporter/.venv")
    win = tasks.commands("demo", "win32", venv)
    assert win == [[str(venv / "Scripts" / "python.exe"), "-m", "sandbox.demo", "demo-output"]]
    linux = tasks.commands("test", "linux", Path(".venv"))
    assert [c[:3] for c in linux] == [[".venv/bin/python", "-m", "ruff"],
                                      [".venv/bin/python", "-m", "mypy"],
                                      [".venv/bin/python", "-m", "pytest"]]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(PY) -m sandbox.demo demo-output" in makefile  # the same demo as make's
    for paths in (" ".join(tasks.LINT_PATHS),):
        assert f"ruff check {paths}" in makefile  # and the same lint


def test_tasks_without_a_task_explain_themselves() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tasks.py")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "python tasks.py demo" in done.stdout


def test_the_demo_tells_the_command_of_this_platform() -> None:
    from sandbox.demo import exporter_command

    command = exporter_command()
    assert command == "exporter" or Path(command.strip('"')).name == (
        "exporter.exe" if sys.platform == "win32" else "exporter")
    assert "bin" not in command or sys.platform != "win32"
