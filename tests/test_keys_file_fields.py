"""A `.keys` file whose fields were altered is reported as a damaged key-slot file (exit 6),
never as a wrong or missing credential and never as an unexpected problem (found by the
reliability campaign's tamperings: an empty slot list said "This archive has no key file",
a numeric db_salt ended in a TypeError)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cli


@pytest.mark.parametrize(("field", "value"), [
    ("slots", []), ("db_salt", 12345), ("db_salt", 0), ("db_salt", ["x"]), ("db_salt", "zz"),
])
def test_an_altered_keys_field_is_a_damaged_keys_file(run_cli: Cli, field: str,
                                                      value: Any) -> None:
    run_cli.init(passphrase=None)
    keys = run_cli.archive.with_name(run_cli.archive.name + ".keys")
    doc = json.loads(keys.read_text())
    doc[field] = value
    keys.write_text(json.dumps(doc))
    for command in (["verify"], ["status"]):
        result = run_cli(*command)
        assert result.exit_code == 6, result.output
        assert "damaged" in result.output
        assert "unexpected problem" not in result.output
