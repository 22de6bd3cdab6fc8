"""`exporter copy`: a second copy of the archive in another folder. Real files, real SQLCipher,
the real command line; a killed copy is a real SIGKILL in the middle of a big file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.archive import Archive, Record
from exporter.copies import list_copies, make_copy
from exporter.keys import KeyFile, Passphrase
from sandbox import Sandbox
from sandbox.cli import merge_sources_into_config
from tests.conftest import Cli

PASSPHRASE = "correct horse battery"
MARKERS = ["Zoë Plaintext-Marker", "Metformin-Plaintext-Dose", "allergic to penicillin xyz"]
WRITER = Path(__file__).with_name("crash_writer.py")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def _fill(cli: Cli, big_file: int = 0) -> None:
    with Archive.open(cli.archive, KeyFile(cli.key_file), write=True) as arc:
        run = arc.begin_run()
        arc.put_batch(run, "salesforce", "Contact", [
            Record(f"c{i:03}", {"Name": f"{MARKERS[0]} {i}", "Dose": MARKERS[1],
                                "Note": MARKERS[2]}) for i in range(200)])
        if big_file:
            chunk = os.urandom(1 << 20)
            arc.put_file(run, (hashlib.sha256(chunk + bytes([i % 256, i // 256])).digest() * 32768
                               for i in range(big_file)))
        arc.finish_run(run, "ok", stats={"sources": {"salesforce": {"status": "ok"}}})


def _add_copy(cli: Cli, folder: Path, **settings: object) -> None:
    lines = ["", "[[copies]]", f'path = "{folder.as_posix()}"']
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    cli.config.write_text(cli.config.read_text() + "\n".join(lines) + "\n")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copies(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture
def filled(run_cli: Cli) -> Cli:
    run_cli.init(passphrase=PASSPHRASE)
    _fill(run_cli)
    return run_cli


def test_a_copy_opens_with_the_same_keys_and_holds_the_same_records(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    _add_copy(filled, dest, name="usb")
    result = filled("copy")
    assert result.exit_code == 0, result.output
    [folder] = _copies(dest)
    assert folder.name.startswith("archive-20")
    assert "Copied the archive (" in result.output
    assert f"to {folder}; verified; 1 copy kept there." in result.output
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json", "archive.db", "archive.db.keys"]

    manifest = json.loads((folder / "MANIFEST.json").read_text())
    with Archive.open(filled.archive, KeyFile(filled.key_file)) as arc:
        assert manifest["archive_id"] == arc.archive_id
        assert manifest["newest_run"]["id"] == 1
        original = dict(arc.records("salesforce", "Contact"))
        [audit] = arc.audit_entries("copy")
    assert audit["detail"]["folder"] == folder.name and audit["detail"]["verified"] is True
    for entry in manifest["files"]:
        assert entry["sha256"] == _sha(folder / entry["name"])
        assert entry["size"] == (folder / entry["name"]).stat().st_size
    assert audit["detail"]["sha256"] == manifest["files"][0]["sha256"]

    # The same key file and the same passphrase open the copy; it holds the same records.
    for credential in (KeyFile(filled.key_file), Passphrase.of(PASSPHRASE)):
        with Archive.open(folder / "archive.db", credential) as copy:
            assert dict(copy.records("salesforce", "Contact")) == original
            assert [r.id for r in copy.runs()] == [1]
            assert copy.audit_entries("copy") == []  # the entry is written after the copy

    # `--check` agrees; `status` shows the copy.
    result = filled("copy", "--check")
    assert result.exit_code == 0, result.output
    assert "every file matches its manifest" in result.output
    result = filled("status")
    assert f"Last copy to {dest}: " in result.output and folder.name in result.output

    # A copy is a complete archive: a config pointing at it verifies and reads it.
    other = filled.tmp / "copy-config.toml"
    other.write_text(f'[archive]\npath = "{(folder / "archive.db").as_posix()}"\n')
    result = filled("--config", str(other), "verify", env={"EXPORTER_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    result = filled("--config", str(other), "--key-file", str(filled.key_file), "history",
                    "salesforce", "Contact", "c007")
    assert result.exit_code == 0 and f"{MARKERS[0]} 7" in result.output


def test_the_key_file_and_plaintext_never_reach_the_copy(filled: Cli) -> None:
    dest = filled.tmp / "nas"
    dest.mkdir()
    result = filled("copy", "--to", str(dest))
    assert result.exit_code == 0, result.output
    key_bytes = filled.key_file.read_bytes()
    key_text = key_bytes.decode().strip().split(":", 1)[1].encode()
    copied = [p for p in dest.rglob("*") if p.is_file()]
    assert len(copied) == 3
    for path in copied:
        data = path.read_bytes()
        assert data != key_bytes and key_text not in data, path
        for marker in MARKERS:
            assert marker.encode() not in data, (path, marker)
            assert marker.encode("utf-16-le") not in data, (path, marker)
    assert PASSPHRASE not in result.output


def test_keep_deletes_only_the_oldest_copies_of_this_archive(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    _add_copy(filled, dest, name="usb", keep=2)
    # Things that are not ours, and a copy of another archive, in the same folder.
    (dest / "notes.txt").write_text("the office's own file")
    (dest / "photos").mkdir()
    (dest / "photos" / "a.jpg").write_bytes(b"jpeg")
    (dest / "archive-20200101-000000").mkdir()
    (dest / "archive-20200101-000000" / "archive.db").write_bytes(b"someone else's")
    other, _ = Archive.create(filled.tmp / "other" / "archive.db",
                              key_file=filled.tmp / "other.key")
    with other:
        foreign = make_copy(other, KeyFile(filled.tmp / "other.key"), dest, keep=1)

    made = []
    for _ in range(4):
        result = filled("copy")
        assert result.exit_code == 0, result.output
        made.append(result.output.split(" to ", 1)[1].split(";")[0])
    assert "2 copies kept there." in result.output
    with Archive.open(filled.archive, KeyFile(filled.key_file)) as arc:
        ours = list_copies(dest, arc.archive_id)
    assert [str(c.path) for c in ours] == made[:1:-1]  # the two newest, newest first
    assert foreign.folder.exists() and (foreign.folder / "archive.db").exists()
    assert (dest / "notes.txt").read_text() == "the office's own file"
    assert (dest / "photos" / "a.jpg").read_bytes() == b"jpeg"
    assert (dest / "archive-20200101-000000" / "archive.db").read_bytes() == b"someone else's"
    assert len(_copies(dest)) == 2 + 1 + 2  # ours, the other archive's, photos + lookalike


@posix_only
def test_a_copy_killed_midway_leaves_no_copy_and_the_next_one_cleans_up(run_cli: Cli) -> None:
    run_cli.init(passphrase=None)
    _fill(run_cli, big_file=160)  # a 160 MB file: the copy takes a while
    dest = run_cli.tmp / "usb"
    dest.mkdir()
    _add_copy(run_cli, dest)
    full = run_cli.archive.stat().st_size
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(run_cli.config),
                             "copy"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = -1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        partial = next((p for p in dest.iterdir() if p.name.startswith(".partial-")), None)
        db = partial / "archive.db" if partial else None
        try:
            seen = db.stat().st_size if db else -1
        except FileNotFoundError:
            seen = -1
        if 0 < seen < full // 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.0005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the copy ended before it could be stopped"
    assert 0 < seen < full
    assert _copies(dest) == []  # nothing under a final name
    assert [p.name[:9] for p in dest.iterdir()] == [".partial-"]

    result = run_cli("copy")
    assert result.exit_code == 0, result.output
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []
    [folder] = _copies(dest)
    assert list_copies(dest, check=True)[0].problems == []
    with Archive.open(folder / "archive.db", KeyFile(run_cli.key_file)) as copy:
        assert len(dict(copy.records("salesforce", "Contact"))) == 200


def test_a_missing_destination_exits_14_and_leaves_the_archive_as_it_was(filled: Cli) -> None:
    _add_copy(filled, filled.tmp / "E-drive" / "exporter-copies", name="usb")
    before = [_sha(filled.archive), _sha(Path(f"{filled.archive}.keys"))]
    result = filled("copy")
    assert result.exit_code == 14, result.output
    assert "is not there: is the USB disk plugged in?" in result.output
    assert "Traceback" not in result.output
    assert [_sha(filled.archive), _sha(Path(f"{filled.archive}.keys"))] == before
    assert not (filled.tmp / "E-drive").exists()  # never created
    assert filled("copy", "--list").exit_code == 14

    a_file = filled.tmp / "not-a-folder"
    a_file.write_text("x")
    result = filled("copy", "--to", str(a_file))
    assert result.exit_code == 14 and "is a file, not a folder" in result.output
    result = filled("copy", "--to", str(a_file / "copies"))  # fails for root too
    assert result.exit_code == 14 and "is a file, not a folder" in result.output
    assert [_sha(filled.archive), _sha(Path(f"{filled.archive}.keys"))] == before
    assert a_file.read_text() == "x"


@posix_only
def test_a_read_only_destination_exits_14(filled: Cli) -> None:
    """chmod does not stop root, so as root the destination is /sys, where nobody may
    create a folder (EPERM)."""
    if os.geteuid() == 0:
        assert sys.platform.startswith("linux")
        result = filled("copy", "--to", "/sys")
        assert result.exit_code == 14 and "cannot be written to" in result.output, result.output
        return
    dest = filled.tmp / "readonly"
    dest.mkdir()
    dest.chmod(0o500)
    try:
        result = filled("copy", "--to", str(dest))
    finally:
        dest.chmod(0o700)
    assert result.exit_code == 14 and "cannot be written to" in result.output
    assert list(dest.iterdir()) == []


@posix_only
def test_another_writer_holding_the_lock_makes_copy_exit_5(filled: Cli) -> None:
    dest = filled.tmp / "usb"
    dest.mkdir()
    proc = subprocess.Popen([sys.executable, str(WRITER), str(filled.archive),
                             str(filled.key_file), "hold"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        result = filled("copy", "--to", str(dest))
        assert result.exit_code == 5, result.output
        assert f"in use by PID {proc.pid}" in result.output
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(dest.iterdir()) == []


def test_config_mistakes_are_plain_sentences(filled: Cli) -> None:
    base = filled.config.read_text()
    cases = [
        ('[[copies]]\npath = "x"\nkeep = 0\n', "keep must be a whole number of copies, 1 or more"),
        ('[[copies]]\nname = "usb"\n', "needs a path"),
        ('[[copies]]\npath = "x"\nkeeep = 3\n',
         "a setting 'keeep' that exporter does not know (did you mean keep?)"),
        ('[copies]\npath = "x"\n', "[[copies]] (two brackets)"),
        ('[[copies]]\npath = "x"\nafter_sync = "yes"\n', "after_sync must be true or false"),
    ]
    for extra, message in cases:
        filled.config.write_text(base + "\n" + extra)
        result = filled("copy")
        assert result.exit_code == 3, (extra, result.output)
        assert message in result.output, (extra, result.output)
    filled.config.write_text(base)
    result = filled("copy")
    assert result.exit_code == 3 and "No copies are configured" in result.output
    result = filled("copy", "--to", "usbb")
    assert result.exit_code == 3 and "There is no copy named 'usbb'" in result.output


def test_sync_makes_the_after_sync_copies_and_check_finds_a_flipped_byte(run_cli: Cli) -> None:
    with Sandbox(clients=2, seed=5, vendors=["hubspot"]) as sb:
        run_cli.init(passphrase=None)
        merge_sources_into_config(run_cli.config, sb.source_configs(run_cli.tmp / "secrets"))
        usb, nas = run_cli.tmp / "usb", run_cli.tmp / "nas"
        usb.mkdir()
        _add_copy(run_cli, usb, name="usb", after_sync=True)
        _add_copy(run_cli, nas, name="nas")  # not after_sync
        result = run_cli("sync")
        assert result.exit_code == 0, result.output
        assert "Sync run 1 finished." in result.output
        assert "Copied the archive (" in result.output and f"to {usb}" in result.output
        assert not nas.exists()

        # A configured copy that fails does not undo the sync: exit 14.
        _add_copy(run_cli, run_cli.tmp / "unplugged", name="usb2", after_sync=True)
        result = run_cli("sync")
        assert result.exit_code == 14, result.output
        assert "Sync run 2 finished." in result.output
        assert "is not there: is the USB disk plugged in?" in result.output
    [first, second] = sorted(_copies(usb))
    with Archive.open(run_cli.archive, KeyFile(run_cli.key_file)) as arc:
        counts = arc.counts()
    with Archive.open(second / "archive.db", KeyFile(run_cli.key_file)) as copy:
        assert [r.id for r in copy.runs()] == [2, 1]
        assert copy.counts() == counts and sum(c["current"] for c in counts) > 100

    result = run_cli("copy", "--to", "usb", "--check")
    assert result.exit_code == 0, result.output
    db = first / "archive.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0x01
    db.write_bytes(bytes(data))
    result = run_cli("copy", "--to", "usb", "--check")
    assert result.exit_code == 6, result.output
    assert f"{first.name}: made" in result.output and "DAMAGED" in result.output
    assert "archive.db does not match its SHA-256" in result.output
    assert result.output.count("DAMAGED") == 1  # the other copy is fine

    # status: the last copy per destination, and a warning once it is stale.
    text = run_cli.config.read_text().replace("stale_after_hours = 36",
                                              "stale_after_hours = 0.00001")
    run_cli.config.write_text(text)
    result = run_cli("status")
    assert f"Last copy to {usb}: " in result.output and second.name in result.output
    assert f"Warning: the last copy to {usb} is 0 hours old" in result.output
    assert "no copy has been made to" in result.output and "(nas) yet" in result.output
