"""Windows file DACLs through pywin32's ``win32security`` (the Win32 security API).

Imported on Windows only, by :func:`exporter.private_files.reader`; pywin32 is a dependency on
Windows only (``pywin32; sys_platform == "win32"`` in pyproject.toml). ``chmod`` does nothing
on NTFS, so a key file in ``D:/exporter`` would otherwise inherit "Users: read" from the drive.

Reading: ``GetNamedSecurityInfo`` (owner and DACL), each ACE's type, flags, mask and SID.
Setting: a new protected DACL (no inherited entries) granting the current user full control
only, applied with ``SetNamedSecurityInfo``. The decision of what counts as private is
:meth:`AclReader.problem`, shared with POSIX and tested on any OS; mypy checks this module
against pywin32's type stubs with ``--platform win32`` (tests/test_acl.py).
"""

from __future__ import annotations

import sys

assert sys.platform == "win32"  # the rest of this module only means something on Windows

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import ntsecuritycon  # noqa: E402
import pywintypes  # noqa: E402
import win32api  # noqa: E402
import win32security  # noqa: E402

from exporter.acl import WINDOWS_TRUSTED, Ace, AclReader, Permissions  # noqa: E402

INHERIT_ONLY_ACE = 0x08
ACCESS_ALLOWED_ACE_TYPE = 0
DENY_TYPES = frozenset({1, 6, 10, 12})  # ACCESS_DENIED[_OBJECT|_CALLBACK|_CALLBACK_OBJECT]


def _os_error(exc: pywintypes.error, path: Path | None = None) -> OSError:
    """pywin32 raises its own error type; callers of AclReader expect OSError."""
    return OSError(exc.winerror, f"{exc.funcname}: {exc.strerror}",
                   str(path) if path else None)


def _user_sid() -> Any:
    """The running account's SID (a PySID)."""
    try:
        token = win32security.OpenProcessToken(win32api.GetCurrentProcess(),
                                               ntsecuritycon.TOKEN_QUERY)
        try:
            sid, _attributes = win32security.GetTokenInformation(token, win32security.TokenUser)
        finally:
            win32api.CloseHandle(token)
    except pywintypes.error as exc:
        raise _os_error(exc) from exc
    return sid


class WindowsAcl(AclReader):
    """Owner and DACL of a file, as SID strings and access masks."""

    trusted = WINDOWS_TRUSTED

    def current_user(self) -> str:
        return str(win32security.ConvertSidToStringSid(_user_sid()))

    def permissions(self, path: Path) -> Permissions:
        try:
            sd = win32security.GetNamedSecurityInfo(
                str(path), win32security.SE_FILE_OBJECT,
                win32security.OWNER_SECURITY_INFORMATION
                | win32security.DACL_SECURITY_INFORMATION)
            owner = win32security.ConvertSidToStringSid(sd.GetSecurityDescriptorOwner())
            dacl = sd.GetSecurityDescriptorDacl()
            if dacl is None:  # a NULL DACL grants everyone everything
                return Permissions(owner, None)
            aces: list[Ace] = []
            for index in range(dacl.GetAceCount()):
                entry: tuple[Any, ...] = dacl.GetAce(index)
                (ace_type, flags), mask = entry[0], entry[1]
                if flags & INHERIT_ONLY_ACE or ace_type in DENY_TYPES:
                    continue  # ignoring a deny entry can only refuse more, never less
                if ace_type != ACCESS_ALLOWED_ACE_TYPE:  # object/callback allow: unknown
                    aces.append(Ace("unknown", ntsecuritycon.FILE_ALL_ACCESS))
                    continue
                aces.append(Ace(win32security.ConvertSidToStringSid(entry[-1]),
                                int(mask) & 0xFFFF_FFFF))
        except pywintypes.error as exc:
            raise _os_error(exc, path) from exc
        return Permissions(owner, tuple(aces))

    def make_private(self, path: Path) -> None:
        dacl = win32security.ACL()
        dacl.AddAccessAllowedAce(win32security.ACL_REVISION, ntsecuritycon.FILE_ALL_ACCESS,
                                 _user_sid())
        try:
            win32security.SetNamedSecurityInfo(
                str(path), win32security.SE_FILE_OBJECT,
                win32security.DACL_SECURITY_INFORMATION
                | win32security.PROTECTED_DACL_SECURITY_INFORMATION, None, None, dacl, None)
        except pywintypes.error as exc:
            raise _os_error(exc, path) from exc

    def fix(self, path: Path) -> str:
        return f'icacls "{path}" /inheritance:r /grant:r "%USERNAME%:F"'
