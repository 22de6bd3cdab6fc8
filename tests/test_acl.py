"""Key files, secret files and Google key files: private to the user and small (issue 12
point 6, issue 17 point 5). The Windows rule is the same decision fed a DACL: a reader that
returns given DACLs stands in for ``GetNamedSecurityInfoW`` (no Windows machine here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.acl import WINDOWS_TRUSTED, Ace, AclReader, Permissions
from exporter.errors import ConfigError, WrongKey
from exporter.keys import create_key_file, read_key_file
from exporter.private_files import read_private
from tests.conftest import Cli

ME = "S-1-5-21-1004336348-1177238915-682003330-1001"
OTHER = "S-1-5-21-1004336348-1177238915-682003330-1002"
USERS = "S-1-5-32-545"
AUTHENTICATED = "S-1-5-11"
SYSTEM, ADMINS = "S-1-5-18", "S-1-5-32-544"
FULL = 0x001F01FF
READ = 0x00120089  # FILE_GENERIC_READ
MODIFY = 0x001301BF
ATTRIBUTES_ONLY = 0x00100080  # SYNCHRONIZE | FILE_READ_ATTRIBUTES: cannot read the content


def _bytes_read() -> float:
    """Bytes this process has read through read() calls (Linux's /proc/self/io ``rchar``);
    elsewhere CPU seconds scaled up, a coarser witness of the same thing."""
    io = Path("/proc/self/io")
    if io.exists():
        fields = dict(line.split(": ") for line in io.read_text().splitlines())
        return float(fields["rchar"])
    return time.process_time() * 1024 * 1024


class GivenDacl(AclReader):
    """The Windows rule (trusted SIDs, icacls fix) over a DACL given by the test instead of
    one read from NTFS."""

    trusted = WINDOWS_TRUSTED

    def __init__(self, owner: str, aces: tuple[Ace, ...] | None) -> None:
        self.given = Permissions(owner, aces)
        self.made_private: list[Path] = []

    def current_user(self) -> str:
        return ME

    def permissions(self, path: Path) -> Permissions:
        return self.given

    def make_private(self, path: Path) -> None:
        self.made_private.append(path)

    def fix(self, path: Path) -> str:
        return f'icacls "{path}" /inheritance:r /grant:r "%USERNAME%:F"'


OWNER_ONLY = (Ace(ME, FULL), Ace(SYSTEM, FULL), Ace(ADMINS, FULL))


@pytest.mark.parametrize("owner,aces,refused", [
    (ME, OWNER_ONLY, None),
    (ME, (*OWNER_ONLY, Ace(USERS, ATTRIBUTES_ONLY)), None),
    (ADMINS, OWNER_ONLY, None),                           # created by an elevated prompt
    (ME, (*OWNER_ONLY, Ace(USERS, READ)), "can be read or changed by other users"),
    (ME, (*OWNER_ONLY, Ace(AUTHENTICATED, MODIFY)), "can be read or changed by other users"),
    (ME, (Ace(ME, FULL), Ace(OTHER, 0x80000000)), "can be read or changed"),  # GENERIC_READ
    (ME, (Ace(ME, FULL), Ace("unknown", FULL)), "can be read or changed"),
    (ME, None, "can be read or changed"),                 # a NULL DACL: everyone, everything
    (OTHER, OWNER_ONLY, "belongs to another user"),
])
def test_the_windows_rule_through_the_acl_interface(tmp_path: Path, owner: str,
                                                    aces: tuple[Ace, ...] | None,
                                                    refused: str | None) -> None:
    path = tmp_path / "nightly.key"
    create_key_file(path)
    acl = GivenDacl(owner, aces)
    if refused is None:
        assert acl.problem(path, "key file") is None
        assert read_private(path, "key file", 4096, WrongKey, acl=acl).startswith(b"exporter")
        return
    with pytest.raises(WrongKey, match=refused) as caught:
        read_private(path, "key file", 4096, WrongKey, acl=acl)
    assert f'icacls "{path}" /inheritance:r /grant:r "%USERNAME%:F"' in str(caught.value)


def test_a_key_file_others_can_read_or_change_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "nightly.key"
    key = create_key_file(path)
    assert read_key_file(path) == key
    for mode in (0o666, 0o640, 0o602):
        path.chmod(mode)
        with pytest.raises(WrongKey) as caught:
            read_key_file(path)
        assert str(caught.value) == (
            f"The key file {path} can be read or changed by other users of this computer; "
            f"run 'chmod 600 {path}' and try again.")
    path.chmod(0o600)
    assert read_key_file(path) == key


def test_a_huge_key_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "video.key"
    with open(path, "wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: 2 GiB of zeros that take no disk
    path.chmod(0o600)
    before = _bytes_read()
    with pytest.raises(WrongKey, match="far larger than a key file"):
        read_key_file(path)
    assert _bytes_read() - before < 1024 * 1024  # refused unread, not read then refused


@pytest.mark.parametrize("code,message", [
    ("from exporter.keys import read_key_file, KeyFile\n"
     "read_key_file('/dev/zero')", "The key file /dev/zero is not a plain file"),
    ("from exporter.secrets import resolve_secrets\nfrom pathlib import Path\n"
     "resolve_secrets(Path('c.toml'), 'src', {'t': {'file': '/dev/zero'}}, ['t'])",
     "The secret file /dev/zero for src t is not a plain file"),
])
def test_devices_are_refused_and_do_not_hang(code: str, message: str) -> None:
    """`--key-file /dev/zero` grew to 23 GB before (issue 17); now it is one refusal."""
    script = f"{code}\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and message in done.stderr


def test_a_secret_file_must_be_small_and_private(tmp_path: Path) -> None:
    from exporter.secrets import resolve_secrets

    path = tmp_path / "token.txt"
    path.write_bytes(b"x" * (200 * 1024))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="far larger than"):
        resolve_secrets(tmp_path / "c.toml", "src", {"token": {"file": str(path)}}, ["token"])
    path.write_text("token\n")
    path.chmod(0o620)  # group may write: someone could swap the token for theirs
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secrets(tmp_path / "c.toml", "src", {"token": {"file": str(path)}}, ["token"])


def test_the_google_service_account_file_must_be_small_and_private(tmp_path: Path) -> None:
    from connectors.google.client import credentials

    key = tmp_path / "sa.json"
    key.write_text('{"type": "service_account", "private_key": "' + "A" * 200_000 + '"}')
    key.chmod(0o600)
    with pytest.raises(ConfigError, match="far larger than"):
        credentials({"service_account_file": str(key)}, {})
    key.write_text("{}")
    key.chmod(0o660)
    with pytest.raises(ConfigError, match="chmod 600"):
        credentials({"service_account_file": str(key)}, {})


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_key_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nightly.key"
    create_key_file(path)
    os.chown(path, 65534, 65534)
    with pytest.raises(WrongKey, match="belongs to another user of this computer"):
        read_key_file(path)


def test_the_cli_refuses_key_file_dev_zero_at_once(run_cli: Cli) -> None:
    """`exporter --key-file /dev/zero status` grew to 23 GB before (issue 17 point 5)."""
    run_cli.init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    done = subprocess.run([sys.executable, "-m", "exporter", "--config", str(run_cli.config),
                           "--key-file", "/dev/zero", "status"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert "The key file /dev/zero is not a plain file" in done.stderr
    run_cli.key_file.chmod(0o644)
    result = run_cli("--key-file", str(run_cli.key_file), "status")
    assert result.exit_code == 4
    assert f"run 'chmod 600 {run_cli.key_file}' and try again" in result.output


def test_the_windows_reader_type_checks_against_pywin32(tmp_path: Path) -> None:
    """The Windows reader cannot run here, so mypy checks it as if on Windows, against
    pywin32's own type stubs (types-pywin32), with missing imports NOT ignored: a misspelt
    win32security call, a wrong argument count or an absent stub package fails this test."""
    root = Path(__file__).resolve().parents[1]
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\npython_version = 3.11\ncheck_untyped_defs = True\n"
                      "follow_imports = silent\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--platform", "win32", "--no-incremental",
         "--config-file", str(config), "exporter/_win32acl.py", "exporter/winfs.py"],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues found in 2 source files" in done.stdout


def test_pywin32_is_a_dependency_on_windows_only() -> None:
    """win32security comes from pywin32, installed with exporter on Windows and nowhere else."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pywin32 = [d for d in project["dependencies"] if d.replace(" ", "").startswith("pywin32")]
    assert pywin32 and all("sys_platform=='win32'" in d.replace(" ", "").replace('"', "'")
                           for d in pywin32)
    assert any(d.startswith("types-pywin32") for d in project["optional-dependencies"]["test"])
