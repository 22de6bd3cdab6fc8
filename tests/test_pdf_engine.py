"""Printing on a PC without Pango (issue 12 point 3). On Windows ``import weasyprint`` raises
OSError when the GTK/Pango DLLs are missing; here a real ``weasyprint`` package that does
exactly that is put first on PYTHONPATH of a real ``exporter`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exporter.archive import Archive
from tests.test_careplan import Agency, account, agency, copy  # noqa: F401 (fixtures)

WINDOWS_IMPORT_FAILURE = (
    'raise OSError("cannot load library \'libgobject-2.0-0\': error 0x7e.  Additionally, '
    'ctypes.util.find_library() did not manage to locate a library called '
    '\'libgobject-2.0-0\'")\n')


def _without_pango(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "no-pango" / "weasyprint"
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "__init__.py").write_text(WINDOWS_IMPORT_FAILURE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    env |= {"PYTHONPATH": str(fake.parent), "EXPORTER_CONFIG": str(config),
            "EXPORTER_PASSPHRASE": "correct horse battery"}
    return subprocess.run([sys.executable, "-m", "exporter", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _says_what_to_install(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 3, done.stderr
    assert "WeasyPrint's system libraries are missing" in done.stderr
    assert "GTK3 runtime" in done.stderr and "WEASYPRINT_DLL_DIRECTORIES" in done.stderr
    assert "--format html" in done.stderr
    assert "unexpected problem" not in done.stderr and "Traceback" not in done.stderr


def test_print_without_pango_says_what_to_install_and_html_still_works(
        copy: Archive, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\npath = "{copy.path}"\n'
                      f'key_file = "{copy.path.with_name("a.key")}"\n', encoding="utf-8")
    name = account(copy, "C-00001")["Name"]
    pdf = tmp_path / "plan.pdf"
    _says_what_to_install(_without_pango(tmp_path, config, "print", "C-00001", "--out",
                                         str(pdf)))
    assert not pdf.exists()
    _says_what_to_install(_without_pango(tmp_path, config, "print", "--all", "--out",
                                         str(tmp_path / "binder.pdf")))
    html = tmp_path / "plan.html"
    done = _without_pango(tmp_path, config, "print", "C-00001", "--format", "html", "--out",
                          str(html))
    assert done.returncode == 0, done.stderr
    assert name in html.read_text(encoding="utf-8")


def test_init_with_a_pdf_recovery_sheet_refuses_before_creating_anything(
        tmp_path: Path) -> None:
    config, archive = tmp_path / "config.toml", tmp_path / "archive.db"
    done = _without_pango(tmp_path, config, "init", "--archive", str(archive),
                          "--recovery-sheet", str(tmp_path / "recovery.pdf"))
    _says_what_to_install(done)
    assert not archive.exists() and not config.exists()
    sheet = tmp_path / "recovery.html"
    done = _without_pango(tmp_path, config, "init", "--archive", str(archive),
                          "--recovery-sheet", str(sheet))
    assert done.returncode == 0, done.stderr
    assert "exporter recovery key" in sheet.read_text(encoding="utf-8")
