"""Who may read a private file: one decision, two ways of reading permissions.

Key files, secret files and the Google service-account file must be owned by the user and
neither readable nor writable by other accounts (OpenSSH's StrictModes rule). On POSIX the
permissions are the mode bits; on Windows ``chmod`` does nothing on NTFS, so the file's DACL is
read and set through the Win32 security API (:mod:`exporter._win32acl`, imported on Windows
only). Both readers turn what they find into the same :class:`Permissions`, and
:meth:`AclReader.problem` decides from that alone, so the Windows rule is tested on any OS by a
reader that returns a given DACL. :mod:`exporter.private_files` picks the reader for this OS.
"""

from __future__ import annotations

import os
import stat
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Ace", "AclReader", "Permissions", "PosixAcl"]

# Windows access-mask bits (winnt.h) that let a trustee read or change a file's content.
FILE_READ_DATA = 0x0001
FILE_WRITE_DATA = 0x0002
FILE_APPEND_DATA = 0x0004
WRITE_DAC = 0x0004_0000
WRITE_OWNER = 0x0008_0000
GENERIC_ALL = 0x1000_0000
GENERIC_WRITE = 0x4000_0000
GENERIC_READ = 0x8000_0000
READ_MASK = FILE_READ_DATA | GENERIC_READ | GENERIC_ALL
WRITE_MASK = (FILE_WRITE_DATA | FILE_APPEND_DATA | WRITE_DAC | WRITE_OWNER | GENERIC_WRITE
              | GENERIC_ALL)
# Accounts that may always touch a user's files on Windows: SYSTEM, Administrators, and the
# file owner's own placeholder (OWNER RIGHTS). Like root on POSIX, they are not "other users".
WINDOWS_TRUSTED = frozenset({"S-1-5-18", "S-1-5-32-544", "S-1-3-4"})


@dataclass(frozen=True)
class Ace:
    """One access-allowed entry: a trustee (a SID, or ``group``/``others`` on POSIX) and its
    access mask. Deny entries are not listed: ignoring them can only refuse more, never less."""

    trustee: str
    mask: int

    @property
    def reads(self) -> bool:
        return bool(self.mask & READ_MASK)

    @property
    def writes(self) -> bool:
        return bool(self.mask & WRITE_MASK)


@dataclass(frozen=True)
class Permissions:
    """A file's owner and its allow entries, as one of the readers found them. ``aces`` is
    None when the file has no DACL at all (on Windows, everyone has full access)."""

    owner: str
    aces: tuple[Ace, ...] | None


class AclReader(ABC):
    """Reads and sets who may use a file; :meth:`problem` is the one decision."""

    trusted: frozenset[str] = frozenset()

    @abstractmethod
    def current_user(self) -> str:
        """The running account, as :attr:`Permissions.owner` names accounts."""

    @abstractmethod
    def permissions(self, path: Path) -> Permissions:
        """The file's owner and allow entries (OSError if they cannot be read)."""

    @abstractmethod
    def make_private(self, path: Path) -> None:
        """Leave ``path`` readable and writable by its owner only."""

    @abstractmethod
    def fix(self, path: Path) -> str:
        """The command that makes ``path`` private, for the message."""

    def problem(self, path: Path, what: str, label: str | None = None) -> str | None:
        """None when ``path`` is private to the running user, else the plain sentence that
        says why it is refused and how to fix it. ``label`` names the file in that sentence
        (default: ``what`` and the path)."""
        label = label or f"{what} {path}"
        perms = self.permissions(path)
        me = self.current_user()
        if perms.owner != me and perms.owner not in self.trusted:
            return (f"The {label} belongs to another user of this computer; make your "
                    f"own copy of it, run '{self.fix(path)}' and try again.")
        if perms.aces is None:
            others = True
        else:
            others = any(ace.reads or ace.writes for ace in perms.aces
                         if ace.trustee != me and ace.trustee not in self.trusted)
        if others:
            return (f"The {label} can be read or changed by other users of this "
                    f"computer; run '{self.fix(path)}' and try again.")
        return None


class PosixAcl(AclReader):
    """Mode bits: the group and others classes become two entries."""

    trusted = frozenset({"0"})  # root can read anything anyway

    def current_user(self) -> str:
        if sys.platform == "win32":  # Windows uses exporter._win32acl.WindowsAcl
            raise NotImplementedError
        return str(os.geteuid())

    def permissions(self, path: Path) -> Permissions:
        st = os.stat(path)
        mode = st.st_mode
        group = (FILE_READ_DATA if mode & stat.S_IRGRP else 0) | (
            FILE_WRITE_DATA if mode & stat.S_IWGRP else 0)
        others = (FILE_READ_DATA if mode & stat.S_IROTH else 0) | (
            FILE_WRITE_DATA if mode & stat.S_IWOTH else 0)
        return Permissions(str(st.st_uid), (Ace("group", group), Ace("others", others)))

    def make_private(self, path: Path) -> None:
        os.chmod(path, 0o600)

    def fix(self, path: Path) -> str:
        return f"chmod 600 {path}"
