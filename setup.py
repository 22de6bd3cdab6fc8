"""Build hook: ship the top-level archive_schema.sql (the archive format, kept at the repository's
top where the layout mandates it) inside the ``exporter`` package, so a wheel install finds it
with importlib.resources. Everything else about the build is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCHEMA = Path(__file__).resolve().with_name("archive_schema.sql")


class BuildPyWithSchema(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "exporter" / "archive_schema.sql"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(SCHEMA.read_bytes())


setup(cmdclass={"build_py": BuildPyWithSchema})
