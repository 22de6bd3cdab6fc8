"""`exporter copy` into an S3-compatible object store: the real command line, the real boto3
client over loopback to the S3 emulator (sandbox.s3), real SQLCipher files; a killed
copy is a real SIGKILL in the middle of a multipart upload. No mocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.archive import Archive
from exporter.copies import list_copies, make_copy
from exporter.keys import KeyFile, write_private_file
from exporter.objectstore import ObjectStore
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from sandbox.s3 import CREDENTIALS, S3Emulator, s3_sandbox
from tests.conftest import Cli
from tests.test_copies import MARKERS, PASSPHRASE, _fill

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
S3 = tuple[str, dict[str, str], S3Emulator]
KEY_ID = CREDENTIALS["aws_access_key_id"]
SECRET = CREDENTIALS["aws_secret_access_key"]


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3]:
    with s3_sandbox(tmp_path / "s3", buckets=("copies",)) as served:
        yield served


def _add_s3_copy(cli: Cli, endpoint: str, *, name: str = "b2", url: str = "s3://copies/agency",
                 secret: str = SECRET, secret_ref: str | None = None, **settings: object,
                 ) -> None:
    """A [[copies]] table for the emulator; the secret in a 0600 file unless told."""
    secret_file = cli.tmp / f"{name}-secret.txt"
    write_private_file(secret_file, secret.encode())
    ref = secret_ref or f'{{ file = "{secret_file.as_posix()}" }}'
    lines = ["", "[[copies]]", f'name = "{name}"', f'url = "{url}"',
             f'endpoint_url = "{endpoint}"', 'access_key_id = { env = "TEST_S3_KEY_ID" }',
             f"secret_access_key = {ref}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    cli.config.write_text(cli.config.read_text() + "\n".join(lines) + "\n")


def _store(endpoint: str, url: str = "s3://copies/agency") -> ObjectStore:
    return ObjectStore(url, endpoint_url=endpoint, access_key_id=KEY_ID,
                       secret_access_key=SECRET)


def _keys(emulator: S3Emulator) -> list[str]:
    return sorted(emulator.objects["copies"])


ENV = {"TEST_S3_KEY_ID": KEY_ID}


@pytest.fixture
def filled(run_cli: Cli) -> Cli:
    run_cli.init(passphrase=PASSPHRASE)
    _fill(run_cli)
    return run_cli


def test_a_copy_in_the_store_comes_back_and_opens_with_the_same_key_file(
        filled: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    _add_s3_copy(filled, endpoint)
    result = filled("copy", env=ENV)
    assert result.exit_code == 0, result.output
    [name] = {k.split("/")[1] for k in _keys(emulator)}
    assert name.startswith("archive-20")
    assert f"to s3://copies/agency/{name}; verified; 1 copy kept there." in result.output
    assert _keys(emulator) == [f"agency/{name}/{f}" for f in
                               ("MANIFEST.json", "archive.db", "archive.db.keys")]
    # Only ciphertext went out: never the key file, no plaintext.
    key_text = filled.key_file.read_text().strip().split(":", 1)[1].encode()
    for obj in emulator.objects["copies"].values():
        data = obj.path.read_bytes()
        assert key_text not in data and not any(m.encode() in data for m in MARKERS)
    assert SECRET not in result.output

    with Archive.open(filled.archive, KeyFile(filled.key_file)) as arc:
        original = dict(arc.records("salesforce", "Contact"))
        [audit] = arc.audit_entries("copy")
        manifest = json.loads(emulator.objects["copies"][f"agency/{name}/MANIFEST.json"]
                              .path.read_bytes())
        assert manifest["archive_id"] == arc.archive_id
    assert audit["detail"]["destination"] == "s3://copies/agency"
    assert audit["detail"]["folder"] == name and audit["detail"]["verified"] is True

    result = filled("copy", "--check", env=ENV)
    assert result.exit_code == 0, result.output
    assert "s3://copies/agency (b2): 1 copy of this archive." in result.output
    assert "every file matches its manifest" in result.output
    result = filled("status")
    assert "Last copy to s3://copies/agency: " in result.output and name in result.output

    # The office PC is gone: fetch the copy into a new folder and open it.
    into = filled.tmp / "new-pc" / "exporter"
    result = filled("copy", "--fetch", "latest", "--to", "b2", "--into", str(into), env=ENV)
    assert result.exit_code == 0, result.output
    assert f"Fetched the copy {name} (" in result.output
    assert f"Next: point [archive] path at {into / 'archive.db'}" in result.output
    assert sorted(p.name for p in into.iterdir()) == ["archive.db", "archive.db.keys"]
    with Archive.open(into / "archive.db", KeyFile(filled.key_file)) as copy:
        assert dict(copy.records("salesforce", "Contact")) == original
        assert copy.audit_entries("copy") == []
    # ... by its URL too; an archive already there is never overwritten.
    before = (into / "archive.db").read_bytes()
    result = filled("copy", "--fetch", name, "--to", "s3://copies/agency", "--into", str(into),
                    env=ENV)
    assert result.exit_code == 14 and "already an archive" in result.output, result.output
    assert (into / "archive.db").read_bytes() == before
    result = filled("copy", "--fetch", "archive-19990101-000000", "--to", "b2", "--into",
                    str(filled.tmp / "x"), env=ENV)
    assert result.exit_code == 9 and "no copy named 'archive-19990101-000000'" in result.output


def test_fetch_from_a_folder_needs_no_config(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    assert filled("copy", "--to", str(dest)).exit_code == 0
    into = filled.tmp / "restored"
    result = filled("--config", str(filled.tmp / "no-such-config.toml"), "copy", "--fetch",
                    "latest", "--to", str(dest), "--into", str(into))
    assert result.exit_code == 0, result.output
    with Archive.open(into / "archive.db", KeyFile(filled.key_file)) as copy:
        assert len(dict(copy.records("salesforce", "Contact"))) == 200


def test_keep_in_the_store_deletes_only_the_oldest_copies_of_this_archive(
        filled: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    _add_s3_copy(filled, endpoint, keep=2)
    store = _store(endpoint)
    foreign = {  # not ours: other files, a lookalike without manifest, another prefix
        "agency/notes.txt": b"the office's own file",
        "agency/archive-20200101-000000/archive.db": b"someone else's",
        "elsewhere/archive-20200101-000000/MANIFEST.json": b"{}",
    }
    for key, data in foreign.items():
        store.client.put_object(Bucket="copies", Key=key, Body=data)
    other, _ = Archive.create(filled.tmp / "other" / "archive.db",
                              key_file=filled.tmp / "other.key")
    with other:
        theirs = make_copy(other, KeyFile(filled.tmp / "other.key"), store, keep=1)
    made = []
    for _ in range(3):
        result = filled("copy", env=ENV)
        assert result.exit_code == 0, result.output
        made.append(result.output.split(" to ", 1)[1].split(";")[0])
    assert "2 copies kept there." in result.output
    with Archive.open(filled.archive, KeyFile(filled.key_file)) as arc:
        ours = list_copies(store, arc.archive_id)
    assert [c.path for c in ours] == made[:0:-1]
    for key, data in foreign.items():
        assert emulator.objects["copies"][key].path.read_bytes() == data
    assert len(list_copies(store)) == 3 and str(theirs.folder) in [
        c.path for c in list_copies(store)]
    assert len(_keys(emulator)) == 3 + 2 * 3 + 3
    store.close()


@posix_only
def test_a_copy_killed_mid_upload_leaves_no_manifest_and_the_next_copy_cleans_up(
        run_cli: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    run_cli.init(passphrase=None)
    _fill(run_cli, big_file=100)  # a 100 MB archive: a multipart upload in 16 MiB parts
    _add_s3_copy(run_cli, endpoint)
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(run_cli.config),
                             "copy"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **ENV})
    parts = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        uploads = emulator.open_uploads()
        parts = sum(len(u.parts) for u in uploads)
        if parts:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.0005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the copy ended before it could be stopped"
    left = _keys(emulator)
    assert not any(k.endswith("MANIFEST.json") for k in left)
    assert any("/.partial-" in k for k in left)  # the marker that ties them to the archive
    assert emulator.open_uploads()  # unfinished parts, still counted by the store

    result = run_cli("copy", env=ENV)
    assert result.exit_code == 0, result.output
    [name] = {k.split("/")[1] for k in _keys(emulator)}
    assert _keys(emulator) == [f"agency/{name}/{f}" for f in
                               ("MANIFEST.json", "archive.db", "archive.db.keys")]
    assert emulator.open_uploads() == []
    [info] = list_copies(_store(endpoint), check=True)
    assert info.problems == []


def test_check_finds_a_tampered_object_and_fetch_refuses_it(filled: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    _add_s3_copy(filled, endpoint)
    assert filled("copy", env=ENV).exit_code == 0
    assert filled("copy", env=ENV).exit_code == 0
    first = sorted(k for k in _keys(emulator) if k.endswith("/archive.db"))[0]
    body = emulator.objects["copies"][first].path
    data = bytearray(body.read_bytes())
    data[len(data) // 2] ^= 0x01
    body.write_bytes(bytes(data))
    result = filled("copy", "--to", "b2", "--check", env=ENV)
    assert result.exit_code == 6, result.output
    assert "archive.db does not match its SHA-256" in result.output
    assert result.output.count("DAMAGED") == 1
    into = filled.tmp / "fetched"
    result = filled("copy", "--fetch", first.split("/")[1], "--to", "b2", "--into", str(into),
                    env=ENV)
    assert result.exit_code == 6 and "damaged" in result.output, result.output
    assert not into.exists() or list(into.iterdir()) == []


def test_wrong_keys_missing_bucket_or_no_answer_exit_14_without_the_secret(
        filled: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    before = filled.archive.read_bytes()
    base = filled.config.read_text()
    _add_s3_copy(filled, endpoint, secret="wrong-secret-zzz-123")
    result = filled("copy", env=ENV)
    assert result.exit_code == 14, result.output
    assert "refused the access key" in result.output
    assert "wrong-secret-zzz-123" not in result.output and "Traceback" not in result.output
    assert filled("copy", "--list", env=ENV).exit_code == 14

    filled.config.write_text(base)
    _add_s3_copy(filled, endpoint, url="s3://no-such-bucket/agency")
    result = filled("copy", env=ENV)
    assert result.exit_code == 14 and "'no-such-bucket' does not exist" in result.output

    filled.config.write_text(base)
    _add_s3_copy(filled, "http://127.0.0.1:9")  # nothing listens there
    result = filled("copy", env=ENV)
    assert result.exit_code == 14 and "Could not reach http://127.0.0.1:9" in result.output
    assert emulator.objects["copies"] == {}
    assert filled.archive.read_bytes() == before


def test_a_full_store_exits_10_and_leaves_no_copy(filled: Cli, s3: S3) -> None:
    endpoint, _creds, emulator = s3
    _add_s3_copy(filled, endpoint)
    emulator.quota_bytes = filled.archive.stat().st_size // 2
    result = filled("copy", env=ENV)
    assert result.exit_code == 10, result.output
    assert "The object store s3://copies/agency is full" in result.output
    assert "unfinished copy there was removed" in result.output
    assert emulator.objects["copies"] == {} and emulator.open_uploads() == []
    with Archive.open(filled.archive, KeyFile(filled.key_file)) as arc:
        assert arc.audit_entries("copy") == []


def test_secret_mistakes_are_plain_sentences_and_never_break_other_commands(
        filled: Cli, s3: S3) -> None:
    endpoint = s3[0]
    base = filled.config.read_text()
    _add_s3_copy(filled, endpoint)
    result = filled("copy")  # TEST_S3_KEY_ID is not set
    assert result.exit_code == 3, result.output
    assert "The environment variable TEST_S3_KEY_ID (for copy 'b2' access_key_id) is not " \
        "set." in result.output
    result = filled("status")  # nothing resolves the store's secrets
    assert result.exit_code == 0, result.output
    assert "no copy has been made to s3://copies/agency (b2) yet" in result.output

    filled.config.write_text(base)
    _add_s3_copy(filled, endpoint, secret_ref=f'"{SECRET}"')
    result = filled("copy", env=ENV)
    assert result.exit_code == 3 and "secret_access_key is written in plain text" in \
        result.output
    assert SECRET not in result.output
    cases = [
        ('[[copies]]\npath = "x"\nurl = "s3://copies/a"\n', "has both a path and a url"),
        ('[[copies]]\nurl = "copies/a"\n', "url must be an object store address"),
        ('[[copies]]\nurl = "s3://copies/a"\n', "needs access_key_id and secret_access_key"),
        ('[[copies]]\npath = "x"\nregion = "eu"\n', "belong(s) to an object store"),
    ]
    for extra, message in cases:
        filled.config.write_text(base + "\n" + extra)
        result = filled("copy", env=ENV)
        assert result.exit_code == 3, (extra, result.output)
        assert message in result.output, (extra, result.output)


def test_sync_makes_an_after_sync_copy_in_the_store(run_cli: Cli, s3: S3) -> None:
    endpoint, _creds, _emulator = s3
    with Sandbox(clients=2, seed=5, vendors=["hubspot"]) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        _add_s3_copy(run_cli, endpoint, after_sync=True)
        result = run_cli("sync", env=ENV)
        assert result.exit_code == 0, result.output
        assert "Sync run 1 finished." in result.output
        assert "Copied the archive (" in result.output
        assert "to s3://copies/agency/archive-20" in result.output
        result = run_cli("sync")  # the key id's variable is gone: the sync stays, exit 14
        assert result.exit_code == 14, result.output
        assert "Sync run 2 finished." in result.output
        assert "TEST_S3_KEY_ID" in result.output
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        [info] = list_copies(_store(endpoint), arc.archive_id, check=True)
    assert info.problems == [] and info.newest_run and info.newest_run["id"] == 1
