"""Two tamperings the reliability campaign found accepted or crashing: a key slot whose nonce
is empty (AES-GCM refused it with a ValueError: exit 1), and a WAL whose last commit frame's
header was overwritten (it looked like a leftover frame of an earlier log, so the last
transaction was dropped and verify said sound)."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.test_wal_tampering import _frames, _killed_writer


def test_an_empty_slot_nonce_is_a_damaged_keys_file(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    keys = run_cli.archive.with_name(run_cli.archive.name + ".keys")
    doc = json.loads(keys.read_text())
    for slot in doc["slots"]:
        slot["nonce"] = ""
    keys.write_text(json.dumps(doc))
    result = run_cli("verify")
    assert result.exit_code == 6, result.output
    assert "unexpected problem" not in result.output


def test_a_random_header_on_the_last_commit_frame_is_refused(run_cli: Cli) -> None:
    wal = _killed_writer(run_cli)
    frames = _frames(wal)
    last, commit = frames[-1]
    assert commit  # the writer's last batch ends the log
    data = bytearray(wal.read_bytes())
    data[last:last + 24] = bytes((i * 37 + 11) % 256 for i in range(24))
    wal.write_bytes(bytes(data))
    result = run_cli("verify")
    assert result.exit_code == 6, result.output
    assert "Traceback" not in result.output
