"""Windows file DACLs through the documented Win32 security API (advapi32), with ctypes.

Imported on Windows only, by :func:`exporter.private_files.reader`. ``chmod`` does nothing on
NTFS, so a key file in ``D:/exporter`` would otherwise inherit "Users: read" from the drive.
Reading:
``GetNamedSecurityInfoW`` (owner and DACL), ``GetAce``, ``ConvertSidToStringSidW``. Setting:
a new protected DACL (no inherited entries) granting the current user full control only,
built with ``InitializeAcl`` and ``AddAccessAllowedAce`` and applied with
``SetNamedSecurityInfoW``. The decision what counts as private is :meth:`AclReader.problem`,
shared with POSIX and tested on any OS.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32"  # the rest of this module only means something on Windows

import ctypes  # noqa: E402
from ctypes import wintypes  # noqa: E402
from pathlib import Path  # noqa: E402

from exporter.acl import WINDOWS_TRUSTED, Ace, AclReader, Permissions  # noqa: E402

SE_FILE_OBJECT = 1
OWNER_SECURITY_INFORMATION = 0x0000_0001
DACL_SECURITY_INFORMATION = 0x0000_0004
PROTECTED_DACL_SECURITY_INFORMATION = 0x8000_0000
ACL_REVISION = 2
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1
FILE_ALL_ACCESS = 0x001F_01FF
INHERIT_ONLY_ACE = 0x08
ACCESS_ALLOWED_ACE_TYPE = 0
DENY_TYPES = frozenset({1, 6, 10, 12})  # ACCESS_DENIED[_OBJECT|_CALLBACK|_CALLBACK_OBJECT]

_advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

# Declared signatures: without them ctypes passes Python ints as 32-bit C ints, which cuts
# 64-bit pointers and handles.
_PVOID = ctypes.POINTER(ctypes.c_void_p)
_SIGNATURES = {
    (_advapi32, "GetNamedSecurityInfoW"): (
        [wintypes.LPCWSTR, ctypes.c_int, wintypes.DWORD, _PVOID, _PVOID, _PVOID, _PVOID,
         _PVOID], wintypes.DWORD),
    (_advapi32, "SetNamedSecurityInfoW"): (
        [wintypes.LPWSTR, ctypes.c_int, wintypes.DWORD, ctypes.c_void_p, ctypes.c_void_p,
         ctypes.c_void_p, ctypes.c_void_p], wintypes.DWORD),
    (_advapi32, "ConvertSidToStringSidW"): (
        [ctypes.c_void_p, ctypes.POINTER(wintypes.LPWSTR)], wintypes.BOOL),
    (_advapi32, "GetAce"): ([ctypes.c_void_p, wintypes.DWORD, _PVOID], wintypes.BOOL),
    (_advapi32, "OpenProcessToken"): (
        [wintypes.HANDLE, wintypes.DWORD, ctypes.POINTER(wintypes.HANDLE)], wintypes.BOOL),
    (_advapi32, "GetTokenInformation"): (
        [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD,
         ctypes.POINTER(wintypes.DWORD)], wintypes.BOOL),
    (_advapi32, "GetLengthSid"): ([ctypes.c_void_p], wintypes.DWORD),
    (_advapi32, "InitializeAcl"): ([ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD],
                                   wintypes.BOOL),
    (_advapi32, "AddAccessAllowedAce"): (
        [ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD, ctypes.c_void_p], wintypes.BOOL),
    (_kernel32, "GetCurrentProcess"): ([], wintypes.HANDLE),
    (_kernel32, "CloseHandle"): ([wintypes.HANDLE], wintypes.BOOL),
    (_kernel32, "LocalFree"): ([ctypes.c_void_p], ctypes.c_void_p),
}
for (_dll, _name), (_args, _result) in _SIGNATURES.items():
    _function = getattr(_dll, _name)
    _function.argtypes = _args
    _function.restype = _result


class _AceHeader(ctypes.Structure):
    _fields_ = [("AceType", ctypes.c_ubyte), ("AceFlags", ctypes.c_ubyte),
                ("AceSize", wintypes.WORD)]


class _AccessAllowedAce(ctypes.Structure):
    _fields_ = [("Header", _AceHeader), ("Mask", wintypes.DWORD), ("SidStart", wintypes.DWORD)]


class _Acl(ctypes.Structure):
    _fields_ = [("AclRevision", ctypes.c_ubyte), ("Sbz1", ctypes.c_ubyte),
                ("AclSize", wintypes.WORD), ("AceCount", wintypes.WORD), ("Sbz2", wintypes.WORD)]


class _SidAndAttributes(ctypes.Structure):
    _fields_ = [("Sid", ctypes.c_void_p), ("Attributes", wintypes.DWORD)]


def _check(ok: int) -> None:
    if not ok:
        raise ctypes.WinError(ctypes.get_last_error())


def _sid_text(sid: int | None) -> str:
    text = wintypes.LPWSTR()
    _check(_advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid), ctypes.byref(text)))
    try:
        return str(text.value)
    finally:
        _kernel32.LocalFree(text)


def _user_sid() -> tuple[ctypes.Array[ctypes.c_char], str]:
    """The current user's SID (a buffer that keeps it alive, and its text)."""
    token = wintypes.HANDLE()
    _check(_advapi32.OpenProcessToken(_kernel32.GetCurrentProcess(), TOKEN_QUERY,
                                      ctypes.byref(token)))
    try:
        size = wintypes.DWORD()
        _advapi32.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        _check(_advapi32.GetTokenInformation(token, TOKEN_USER_CLASS, buf, size,
                                             ctypes.byref(size)))
    finally:
        _kernel32.CloseHandle(token)
    user = _SidAndAttributes.from_buffer(buf)
    return buf, _sid_text(user.Sid)


class WindowsAcl(AclReader):
    """Owner and DACL of a file, as SID strings and access masks."""

    trusted = WINDOWS_TRUSTED

    def current_user(self) -> str:
        return _user_sid()[1]

    def permissions(self, path: Path) -> Permissions:
        owner, dacl, sd = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        err = _advapi32.GetNamedSecurityInfoW(
            str(path), SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, ctypes.byref(owner), None,
            ctypes.byref(dacl), None, ctypes.byref(sd))
        if err:
            raise ctypes.WinError(err)
        try:
            if not dacl.value:  # a NULL DACL grants everyone everything
                return Permissions(_sid_text(owner.value), None)
            acl = _Acl.from_address(dacl.value)
            aces = []
            for index in range(acl.AceCount):
                ptr = ctypes.c_void_p()
                _check(_advapi32.GetAce(dacl, index, ctypes.byref(ptr)))
                header = _AceHeader.from_address(ptr.value or 0)
                if header.AceFlags & INHERIT_ONLY_ACE or header.AceType in DENY_TYPES:
                    continue
                if header.AceType != ACCESS_ALLOWED_ACE_TYPE:  # object/callback allow: unknown
                    aces.append(Ace("unknown", FILE_ALL_ACCESS))
                    continue
                ace = _AccessAllowedAce.from_address(ptr.value or 0)
                sid = (ptr.value or 0) + _AccessAllowedAce.SidStart.offset
                aces.append(Ace(_sid_text(sid), int(ace.Mask)))
            return Permissions(_sid_text(owner.value), tuple(aces))
        finally:
            _kernel32.LocalFree(sd)

    def make_private(self, path: Path) -> None:
        buf, _ = _user_sid()
        sid = _SidAndAttributes.from_buffer(buf).Sid
        size = ctypes.sizeof(_Acl) + ctypes.sizeof(_AccessAllowedAce) + int(
            _advapi32.GetLengthSid(ctypes.c_void_p(sid)))
        acl = ctypes.create_string_buffer((size + 3) & ~3)
        _check(_advapi32.InitializeAcl(acl, len(acl), ACL_REVISION))
        _check(_advapi32.AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS,
                                             ctypes.c_void_p(sid)))
        err = _advapi32.SetNamedSecurityInfoW(
            str(path), SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, None, None, acl,
            None)
        if err:
            raise ctypes.WinError(err)

    def fix(self, path: Path) -> str:
        return f'icacls "{path}" /inheritance:r /grant:r "%USERNAME%:F"'
