"""The office's install path, end to end (issue 12, "Must show"): the wheel is built from the
tracked files, installed WITHOUT extras into a fresh venv (``python -m venv``, no
``--system-site-packages``), and that venv's own ``exporter`` command runs ``init``, a sync
from the sandbox cloud (``exporter sandbox serve``, shipped in the wheel) and
``print --all``. A runtime dependency missing from pyproject.toml (pypdf was a test extra
once) fails here.

What it proves and what it does not: pip resolves every dependency from the wheel's own
metadata, from whatever index this machine's pip is configured with (here a local mirror
and the warm pip cache, no network needed); nothing comes from the test venv. It does not
prove that the index a user reaches (pypi.org) has wheels for their OS (sqlcipher3 and
WeasyPrint's system libraries are platform matters, see the README's Windows section).
About 25 s here, most of it pip.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from tests.wheel_support import build_wheel

ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if sys.platform == "win32" else "bin"




def _clean_env(home: Path) -> dict[str, str]:
    """No trace of the test venv: no PYTHONPATH, no VIRTUAL_ENV, no EXPORTER_* settings; a
    home of its own so that nothing reads or writes the real user's config."""
    keep = ("PIP_", "SSL_", "REQUESTS_CA_BUNDLE", "LANG", "LC_", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env |= {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local/state"), "PYTHONNOUSERSITE": "1"}
    # pip's cache stays the machine's own (warm), not the fresh home's.
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    return env


@contextlib.contextmanager
def _sandbox(exporter: Path, config: Path, env: dict[str, str]) -> Iterator[None]:
    """``exporter sandbox serve`` in the background until its config points at it."""
    proc = subprocess.Popen([str(exporter), "--config", str(config), "sandbox", "serve",
                             "--clients", "5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Sources in"):
                break
        else:
            raise AssertionError(proc.stderr.read() if proc.stderr else "sandbox did not start")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths in the clean environment")
def test_the_wheel_without_extras_runs_init_sync_and_print_all(tmp_path: Path) -> None:
    started = time.monotonic()
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    python = venv / BIN / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    # Nothing of the test extra came along (pypdf, the binder, must come as a runtime one).
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, env=env, check=True).stdout.lower()
    assert "pytest" not in listed and "hypothesis" not in listed
    exporter = venv / BIN / "exporter"
    work = tmp_path / "office"
    work.mkdir()
    config = work / "config.toml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(exporter), "--config", str(config), *args], cwd=work,
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, f"exporter {args[0]}: {done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
        return done

    # The sandbox writes the config it is given (a new file: it never rewrites one it did not
    # create), then init adds the archive to it.
    with _sandbox(exporter, config, env):
        run("init", "--archive", str(work / "archive.db"), "--key-file",
            str(work / "archive.key"))
        run("sync")
    binder = work / "binder.pdf"
    run("print", "--all", "--out", str(binder))
    pages = pypdf.PdfReader(binder).pages
    assert len(pages) >= 5  # every one of the five clients has at least a page
    text = "".join(page.extract_text() for page in pages)
    assert "C-00001" in text and "C-00005" in text
    # The package ran from the fresh venv, not from this repository.
    where = subprocess.run([str(python), "-c", "import exporter; print(exporter.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    print(f"wheel install, init, sync and print --all: {time.monotonic() - started:.0f} s")
