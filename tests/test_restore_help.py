"""``exporter restore --help`` names every bundled mapping and target type, so that the
office manager finds the Google ones (issue 14: visits, the roster and Drive documents
have vendor mappings) without reading the docs."""

from __future__ import annotations

from click.testing import CliRunner

from exporter.cli import cli
from exporter.restore.mapping import bundled_mappings


def test_restore_help_names_every_bundled_mapping_and_target_type() -> None:
    shown = CliRunner().invoke(cli, ["restore", "--help"], terminal_width=400)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    missing = [name for name in bundled_mappings() if name not in text]
    assert not missing, missing
    assert "google_sheets" in text
