"""`make demo` and `make test` for computers without make (Windows): the same steps.

    python tasks.py demo     # set everything up and run the demo on the built-in sandbox
    python tasks.py test     # set everything up and run ruff, mypy and the test suite

(`py tasks.py demo` on Windows.) The virtual environment is `.venv`, whose programs are in
`.venv/bin` on Linux and macOS and in `.venv\\Scripts` on Windows. Only the standard library
is used here, so this runs before anything is installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LINT_PATHS = ["exporter", "connectors", "sandbox", "tests", "bench", "reliability"]


def venv_python(platform: str = sys.platform, venv: Path = VENV) -> Path:
    """The venv's interpreter: ``Scripts/python.exe`` on Windows, ``bin/python`` elsewhere."""
    if platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def commands(task: str, platform: str = sys.platform, venv: Path = VENV) -> list[list[str]]:
    """The commands a task runs once the venv is set up (as the Makefile's targets)."""
    py = str(venv_python(platform, venv))
    if task == "demo":
        return [[py, "-m", "sandbox.demo", "demo-output"]]
    if task == "test":
        return [[py, "-m", "ruff", "check", *LINT_PATHS], [py, "-m", "mypy"],
                [py, "-m", "pytest", "-n", "2", "-q"]]
    raise ValueError(f"unknown task {task!r}: use demo or test")


def setup(venv: Path = VENV) -> None:
    """Create the venv and install exporter with its test tools, when pyproject.toml is newer
    than the last install."""
    stamp = venv / ".installed-stamp"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv_python(venv=venv))
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", ".[test]"], check=True, cwd=ROOT)
    stamp.touch()


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 (run by whatever python is at hand)
        print(f"Python 3.11 or newer is needed (found {sys.version.split()[0]}).")
        return 1
    if len(argv) != 1 or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    setup()
    for command in commands(argv[0]):
        code = subprocess.run(command, cwd=ROOT).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
