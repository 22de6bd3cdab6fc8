"""The wheel carries everything the program reads at run time: the archive format
(archive_schema.sql, kept at the repository's top), care-plan templates and the default
definition, restore mappings, and the connector and target entry points. Built from the
tracked files with the venv's setuptools, then imported from the unpacked wheel alone."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.wheel_support import build_wheel

ROOT = Path(__file__).resolve().parent.parent
#: Modules imported directly that arrive with a declared dependency (jinja2 requires
#: markupsafe; google-api-python-client google-auth-httplib2 and httplib2; boto3 botocore and
#: s3transfer; requests urllib3).
INDIRECT = frozenset({"markupsafe", "google_auth_httplib2", "httplib2", "botocore",
                      "s3transfer", "urllib3"})


def test_a_wheel_install_finds_the_schema_templates_and_mappings(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
        names = set(zf.namelist())
    assert (site / "exporter" / "archive_schema.sql").read_bytes() == \
        (ROOT / "archive_schema.sql").read_bytes()
    for needed in ("exporter/careplan/default.toml", "exporter/careplan/hubspot.toml",
                   "exporter/careplan/templates/careplan.css",
                   "exporter/careplan/templates/careplan.html",
                   "exporter/restore/mappings/salesforce_to_hubspot.toml"):
        assert needed in names, needed
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Name: exporter-homecare\n" in (site / metadata).read_text(encoding="utf-8")
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = (site / entry_points).read_text()
    assert "[exporter.connectors]" in text and "[exporter.targets]" in text
    assert "exporter = exporter.cli:main" in text  # the command keeps its name
    # Import from the unpacked wheel only (not the repository) and read each resource.
    probe = ("import exporter, exporter.archive as a, exporter.careplan.definition as d\n"
             "from exporter.careplan.render import _template_source\n"
             "print(exporter.__file__)\n"
             "assert 'CREATE TABLE' in a.schema_sql()\n"
             "d.load_definition(); _template_source('careplan.html')\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().startswith(str(site)), run.stdout


def _third_party_imports(package: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"exporter", "connectors", "sandbox"}


#: Modules of pywin32 (exporter/_win32acl.py, exporter/winfs.py), installed on Windows only.
WINDOWS_ONLY = {m: "pywin32" for m in ("win32security", "win32api", "pywintypes",
                                      "ntsecuritycon")}


def test_every_library_the_program_imports_is_a_runtime_dependency() -> None:
    """A normal install (no [test] extra) has what `print --all` and every other command
    import: pypdf was a test dependency only, and the binder failed after `pip install`."""
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
                for dep in project["dependencies"]}
    dists = packages_distributions()
    imported = _third_party_imports(ROOT / "exporter") | _third_party_imports(ROOT / "connectors")
    missing = {}
    for module in sorted(imported):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if module in WINDOWS_ONLY:  # not installed here: pywin32 is for Windows only
            names = {WINDOWS_ONLY[module]}
        if not names & declared and module not in INDIRECT:
            missing[module] = sorted(names)
    assert "pypdf" in imported
    assert missing == {}


#: The first release past each package's published advisories (named in pyproject.toml and
#: docs/design.md, "Dependency floors"); the declared minimum must not allow anything older.
ADVISORY_FLOORS = {"cryptography": "50.0.0", "requests": "2.33.0", "urllib3": "2.7.0",
                   "jinja2": "3.1.6", "weasyprint": "70.0"}


def test_dependency_minimums_are_past_published_advisories() -> None:
    import re
    import tomllib
    from importlib.metadata import version as installed

    from packaging.version import Version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = {}
    for dep in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep.replace(" ", ""))
        if match:
            floors[match.group(1).lower()] = Version(match.group(2))
    for name, fixed in ADVISORY_FLOORS.items():
        assert name in floors, f"{name} has no minimum version"
        assert floors[name] >= Version(fixed), f"{name}>={floors[name]} allows a vulnerable one"
        assert Version(installed(name)) >= Version(fixed)
