"""Issue 15: each copy's MANIFEST.json is authenticated (HMAC-SHA256 under a key derived from
the master key with its own HKDF label). Whoever holds the copy disk or the bucket but no key
cannot make an old copy pass for the newest, or change the audit head it records: a fetch that
is given a key refuses the altered manifest. Real files, the real command line, the S3
emulator over loopback."""

from __future__ import annotations

import json
from pathlib import Path

from exporter.archive import Archive
from exporter.copies_base import check_manifest_mac, sign_manifest
from exporter.keys import KeyFile
from tests.conftest import Cli
from tests.test_copies import PASSPHRASE, _fill
from tests.test_copies_s3 import ENV, S3, _add_s3_copy, s3  # noqa: F401 (the fixture)


def _copy(cli: Cli) -> Path:
    cli.init(passphrase=PASSPHRASE)
    _fill(cli)
    dest = cli.tmp / "usb"
    dest.mkdir()
    assert cli("copy", "--to", str(dest)).exit_code == 0
    [folder] = [p for p in dest.iterdir() if p.is_dir()]
    return folder


def _edit(manifest: Path, **changes: object) -> None:
    data = json.loads(manifest.read_text())
    data.update(changes)
    manifest.write_text(json.dumps(data))


def test_a_copy_manifest_is_signed_with_a_key_of_its_own(run_cli: Cli) -> None:
    folder = _copy(run_cli)
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert len(manifest["mac"]) == 64
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        assert check_manifest_mac(manifest, arc.master, folder.name) is True
        # Derived with its own label: not the .keys file's MAC key, not the database key.
        assert manifest["mac"] != sign_manifest(dict(manifest, archive_id="x"),
                                                arc.master)["mac"]
    result = run_cli("copy", "--fetch", "latest", "--to", str(folder.parent), "--into",
                     str(run_cli.tmp / "back"))
    assert result.exit_code == 0, result.output
    assert "its signed manifest checked out with your key" in result.output


def test_a_tampered_manifest_is_refused_by_fetch(run_cli: Cli) -> None:
    folder = _copy(run_cli)
    # An old copy made to look like the newest: a later run and time, another audit head.
    _edit(folder / "MANIFEST.json", newest_run={"id": 57, "kind": "sync", "status": "ok"},
          created_at="2099-01-01T00:00:00+00:00")
    into = run_cli.tmp / "back"
    result = run_cli("copy", "--fetch", "latest", "--to", str(folder.parent), "--into",
                     str(into))
    assert result.exit_code == 6, result.output
    assert "was altered" in result.output and "Traceback" not in result.output
    assert [p.name for p in into.iterdir()] == []  # nothing kept, no staging left


def test_a_tampered_manifest_in_an_object_store_is_refused_by_fetch(
        run_cli: Cli, s3: S3) -> None:  # noqa: F811
    endpoint, _creds, emulator = s3
    run_cli.init(passphrase=PASSPHRASE)
    _fill(run_cli)
    _add_s3_copy(run_cli, endpoint)
    assert run_cli("copy", env=ENV).exit_code == 0
    [key] = [k for k in emulator.objects["copies"] if k.endswith("/MANIFEST.json")]
    path = emulator.objects["copies"][key].path
    raw = path.read_bytes()  # the same length: the emulator keeps the object's size
    assert b'"created_at": "20' in raw
    path.write_bytes(raw.replace(b'"created_at": "20', b'"created_at": "29'))
    result = run_cli("copy", "--fetch", "latest", "--to", "b2", "--into",
                     str(run_cli.tmp / "back"), env=ENV)
    assert result.exit_code == 6, result.output
    assert "was altered" in result.output


def test_without_a_key_the_fetch_says_the_signature_was_not_checked(run_cli: Cli) -> None:
    folder = _copy(run_cli)
    result = run_cli("--config", str(run_cli.tmp / "no-such-config.toml"), "copy", "--fetch",
                     "latest", "--to", str(folder.parent), "--into", str(run_cli.tmp / "b"))
    assert result.exit_code == 0, result.output
    assert "give --key-file, --recovery or EXPORTER_PASSPHRASE" in result.output
    result = run_cli("--config", str(run_cli.tmp / "no-such-config.toml"), "--key-file",
                     str(run_cli.key_file), "copy", "--fetch", "latest", "--to",
                     str(folder.parent), "--into", str(run_cli.tmp / "c"))
    assert result.exit_code == 0, result.output
    assert "checked out with your key" in result.output
