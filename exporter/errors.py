"""The errors exporter raises. Library code raises these; only the CLI prints them and picks
exit codes (see ``exporter.cli_base.EXIT_CODES`` and the README).

Every message is one plain sentence for an office manager: what happened and what to do.
No message ever contains a passphrase, key or token.

    ExporterError
    ├── ConfigError            the config file is missing, unreadable or wrong
    ├── KeyProblem
    │   ├── WrongKey           the passphrase, key file or recovery key does not open the archive
    │   ├── KeyNeeded          no way to unlock was given (non-interactive run)
    │   └── KeySlotsDamaged    the key-slot file is missing, unreadable or has been tampered with
    ├── ArchiveProblem
    │   ├── ArchiveNotFound    no archive at the configured path
    │   ├── ArchiveLocked      another exporter process is writing to the archive
    │   ├── ArchiveDamaged     the archive file is damaged (bytes changed on disk)
    │   ├── UnsupportedFormat  the archive was written by a newer exporter
    │   └── NotFound           a record, run or file asked for is not in the archive
    ├── DiskFull               the disk is full; nothing was written
    └── ObjectStoreError       an object store (S3-compatible copy destination) refused a
                               request or could not be reached; ``kind`` says which
                               (auth, bucket, missing, damaged, network, busy, refused). A full
                               store raises DiskFull instead, naming the store.

    NotifyError                the alert email could not be sent (mail server down, login
                               refused, secure connection failed); exit 15 for
                               ``notify --test`` only: a sync never changes its exit code for it
"""

from __future__ import annotations

__all__ = [
    "ArchiveDamaged",
    "ArchiveLocked",
    "ArchiveNotFound",
    "ArchiveProblem",
    "ConfigError",
    "DiskFull",
    "ExporterError",
    "KeyNeeded",
    "KeyProblem",
    "KeySlotsDamaged",
    "NotFound",
    "NotifyError",
    "ObjectStoreError",
    "UnsupportedFormat",
    "WrongKey",
]


class ExporterError(Exception):
    """Base class: a foreseeable problem with a plain-language message."""


class ConfigError(ExporterError):
    """The configuration is missing or wrong."""


class KeyProblem(ExporterError):
    """The archive could not be unlocked."""


class WrongKey(KeyProblem):
    """The passphrase, key file or recovery key given does not open this archive."""


class KeyNeeded(KeyProblem):
    """No passphrase, key file or recovery key was given, and none can be asked for."""


class KeySlotsDamaged(KeyProblem):
    """The key-slot file beside the archive is missing, unreadable or was altered."""


class ArchiveProblem(ExporterError):
    """A problem with the archive file itself."""


class ArchiveNotFound(ArchiveProblem):
    """There is no archive at the path given."""


class ArchiveLocked(ArchiveProblem):
    """Another exporter process holds the archive's write lock."""

    def __init__(self, message: str, pid: int | None = None, host: str | None = None):
        super().__init__(message)
        self.pid = pid
        self.host = host


class ArchiveDamaged(ArchiveProblem):
    """The archive's bytes on disk were changed or lost."""


class UnsupportedFormat(ArchiveProblem):
    """The archive's format version is newer than this exporter understands."""


class NotFound(ArchiveProblem):
    """The record, run or file asked for is not in the archive."""


class DiskFull(ExporterError):
    """There is no space left on the disk."""


class ObjectStoreError(ExporterError):
    """An object store refused a request or could not be reached."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.kind = kind


class NotifyError(ExporterError):
    """The alert email could not be sent: the mail server did not answer, refused the login
    or the message, or the secure connection failed. The message never holds the password."""
