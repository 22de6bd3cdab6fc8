"""The README's Windows walkthrough stays true to the code (issue 12, Must show): every
`exporter ...` command in it exists with the options it gives, the pipx name is the
distribution's, the Pango fix matches the one `print` gives, and the config folder is where
platformdirs puts it on Windows for the arguments exporter passes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import platformdirs.windows
from click.testing import CliRunner

from exporter.cli import cli
from exporter.config import APP
from exporter.pdf_engine import FIX

ROOT = Path(__file__).resolve().parent.parent


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### A fresh PC, step by step")
    return text[start:text.index("### Details", start)]


def _commands(section: str) -> list[list[str]]:
    found = re.findall(r"`(exporter [^`]+)`", section)  # inline
    found += [line.strip() for line in section.splitlines()
              if line.strip().startswith("exporter ")]  # in code blocks
    return [cmd.split() for cmd in found]


def test_every_command_of_the_walkthrough_exists_with_its_options() -> None:
    commands = _commands(_walkthrough())
    assert len(commands) >= 8
    runner = CliRunner()
    for words in commands:
        path = [w for w in words[1:3] if not w.startswith("-") and w[0].islower()
                and w in _subcommand_names(words[1])]
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (words, result.output)
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            if option != "--help":
                assert option in result.output, (words, option)


def _subcommand_names(first: str) -> set[str]:
    """``first`` and, for a group such as ``keys``, its subcommands."""
    import click

    command = cli.get_command(click.Context(cli), first)
    names = {first}
    if isinstance(command, click.Group):
        names |= set(command.list_commands(click.Context(command)))
    return names


def test_the_install_name_pango_fix_and_folders_match_the_code() -> None:
    section = _walkthrough()
    name = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    assert f"pipx install {name}" in section and f"pipx upgrade {name}" in section
    assert "WEASYPRINT_DLL_DIRECTORIES" in FIX and "WEASYPRINT_DLL_DIRECTORIES" in section
    assert "pacman -S mingw-w64-x86_64-pango" in FIX and \
        "pacman -S mingw-w64-x86_64-pango" in section
    # exporter.config asks platformdirs for (APP, appauthor=False): on Windows that is
    # %LOCALAPPDATA%\exporter (no author folder), logs in its Logs folder.
    tail = platformdirs.windows.Windows(appname=APP, appauthor=False)._append_parts("LOCAL")
    folder = "%LOCALAPPDATA%" + tail.removeprefix("LOCAL").replace("/", "\\")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{folder}\\config.toml" in section
    assert f"`{folder}\\config.toml`, the log in `{folder}\\Logs`" in readme
    assert "%LOCALAPPDATA%\\exporter\\exporter" not in readme
