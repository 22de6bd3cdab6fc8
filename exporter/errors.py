"""Every error exporter raises, in one tree. Library code and connectors raise these; only the
CLI prints them and turns them into exit codes (:data:`EXIT_CODES`, also in the README).

Every message is one plain sentence for an office manager: what happened and what to do.
No message ever contains a passphrase, key or token. A vendor's or library's own exception is
kept as the cause (``raise SourceError(...) from exc``): the log shows it, the screen does not.

    ExporterError                       exit
    ├── ConfigError                        3  the config file is missing, unreadable or wrong
    │   ├── DefinitionError                3  a care-plan view definition is wrong
    │   ├── MappingError                   3  a restore mapping is wrong
    │   ├── NoScheduler                    3  this computer has no usable scheduler
    │   ├── SecretInConfig                 3  a secret is written in the config in plain text
    │   │                                     (the whole sync is refused: the secret is exposed)
    │   └── NoPdfEngine                    3  WeasyPrint's system libraries (Pango) are missing
    ├── KeyProblem
    │   ├── KeyNeeded                      3  no way to unlock was given (non-interactive run)
    │   │   └── WeakPassphrase             3  a new passphrase is too short or too simple
    │   ├── WrongKey                       4  the passphrase, key file or recovery key is wrong
    │   └── KeySlotsDamaged                6  the key-slot file is missing, unreadable or altered
    │       └── KeysRolledBack             6  the key-slot file is older than the archive's record
    ├── ArchiveProblem
    │   ├── ArchiveLocked                  5  another exporter process is writing to the archive
    │   ├── ArchiveDamaged                 6  the archive file is damaged (bytes changed on disk)
    │   ├── UnsupportedFormat              7  a newer format, or an older one opened
    │   │                                     read-only (only a writer upgrades it)
    │   ├── ArchiveNotFound                8  no archive at the configured path
    │   ├── WrongArchive                  17  not the archive this config was set up with
    │   │                                     (swapped: another id or key fingerprint)
    │   ├── ArchiveRolledBack             23  older than this computer last saw it (fewer
    │   │                                     runs or audit entries, a lower key generation)
    │   └── NotFound                       9  a record, run or file asked for is not archived
    │       ├── NoSuchClient               9  no client is called that (nearest names: personal)
    │       └── AmbiguousClient            9  a name matches several clients (``candidates``;
    │                                         personal)
    ├── DiskFull                          10  the disk (or an object store) is full
    ├── NotWritable                       16  a file, folder or the output cannot be written
    │   │                                     (read-only disk or media, no permission, a
    │   │                                     file-size limit, a special file in the way)
    │   └── OutputClosed                  16  the pipe the output went into was closed
    │                                         (e.g. 'exporter status | head -1'): the log
    │                                         gets one line, the screen nothing
    ├── CopyDestinationProblem            14  a copy folder is missing or cannot be written
    ├── ObjectStoreError                  14  an object store refused or could not be reached
    ├── NotifyError                       15  the alert email could not be sent (notify --test
    │                                         only: a sync never changes its exit code for it)
    ├── StaffError                        19  a desk staff account already exists, or its new
    │                                         password is too weak (nothing was changed)
    ├── DeskError                         20  the care-plan desk could not start (port taken,
    │                                         certificate or key unreadable)
    ├── SignInFailed                      30  the browser sign-in (exporter setup) was refused,
    │                                         not finished, or gave no refresh token
    ├── ParentsNotInTarget                26  a restore links to records the target must
    │                                         already hold (Google's clients) and has none
    ├── TargetStopped                     12  a restore target refused the sign-in or did not
    │   │                                     answer: the restore stopped (a re-run goes on)
    │   └── TargetQuotaStopped            11  ... its API quota for the day is used up
    ├── TransformError                     -  a value cannot be restored (one record fails)
    └── SourceError                        -  a vendor account failed; the run goes on (a sync
        │                                     ends partial, 11, or failed, 12)
        ├── AuthError                         the vendor refused the credentials
        ├── QuotaExhausted                    the vendor's API quota for the day is used up
        ├── TransientError                    worth retrying: 429, 5xx, timeout, dropped link
        ├── SessionExpired                    the session expired and could not be renewed
        ├── CursorExpired                     the vendor no longer accepts the saved cursor
        │                                     (Calendar sync token): read everything again
        ├── RequestRefused                    the vendor refused a request as invalid or absent
        ├── ItemRefused                       one record's or file's content was refused (an
        │                                     export over the limit): that item fails alone
        ├── DeletionsHeld                     a run would mark more of a stream deleted than
        │                                     [sync] max_delete_share allows: held
        ├── BulkFailed                        a bulk job failed (the caller falls back)
        └── QueryTimeout                      the vendor gave up on a query as too long

Anything else (a bug) exits 1 with the traceback in the log, never on the screen.

An error marked ``personal`` names clients (health data): its message goes to the screen
only; the log file gets its kind (exporter/logs.py).
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = [
    "EXIT_CODES",
    "SHAPE_ERRORS",
    "AmbiguousClient",
    "ArchiveDamaged",
    "ArchiveLocked",
    "ArchiveNotFound",
    "ArchiveProblem",
    "ArchiveRolledBack",
    "AuthError",
    "BulkFailed",
    "ConfigError",
    "CopyDestinationProblem",
    "CursorExpired",
    "DefinitionError",
    "DeletionsHeld",
    "DeskError",
    "DiskFull",
    "ExporterError",
    "ItemRefused",
    "KeyNeeded",
    "KeyProblem",
    "KeySlotsDamaged",
    "KeysRolledBack",
    "MappingError",
    "NoPdfEngine",
    "NoScheduler",
    "NoSuchClient",
    "NotFound",
    "NotWritable",
    "NotifyError",
    "ObjectStoreError",
    "OutputClosed",
    "ParentsNotInTarget",
    "QueryTimeout",
    "QuotaExhausted",
    "RequestRefused",
    "SecretInConfig",
    "SessionExpired",
    "SignInFailed",
    "SourceError",
    "StaffError",
    "TargetQuotaStopped",
    "TargetStopped",
    "TransformError",
    "TransientError",
    "UnsupportedFormat",
    "WeakPassphrase",
    "WrongArchive",
    "WrongKey",
    "exit_code_for",
    "write_error",
]


class ExporterError(Exception):
    """Base class: a foreseeable problem with a plain-language message."""

    #: The message names clients (a name typed, the nearest names, the matches): shown on
    #: screen, never written to the log file.
    personal: bool = False


# -- configuration -----------------------------------------------------------------------


class ConfigError(ExporterError):
    """The configuration is missing or wrong."""


class DefinitionError(ConfigError):
    """A care-plan view definition is malformed or names streams or fields that do not exist."""


class MappingError(ConfigError):
    """The mapping file is wrong (unknown stream, field or target property, bad transform)."""


class NoScheduler(ConfigError):
    """This computer has no usable scheduler (no crontab program, or it refused)."""


class SecretInConfig(ConfigError):
    """A secret is pasted into the config file: refused for the whole run (not skipped like
    another source's config problem), since the secret is exposed until it is moved out."""


class NoPdfEngine(ConfigError):
    """WeasyPrint cannot load: its Pango/GTK libraries, which pip cannot install, are missing
    (on Windows an OSError at import). HTML output works without them."""


# -- keys --------------------------------------------------------------------------------


class KeyProblem(ExporterError):
    """The archive could not be unlocked."""


class WrongKey(KeyProblem):
    """The passphrase, key file or recovery key given does not open this archive."""


class KeyNeeded(KeyProblem):
    """No passphrase, key file or recovery key was given, and none can be asked for."""


class WeakPassphrase(KeyNeeded):
    """A new passphrase (init, keys add, keys passwd) does not meet the policy
    (exporter.keys.require_strong_passphrase); nothing was changed."""


class KeySlotsDamaged(KeyProblem):
    """The key-slot file beside the archive is missing, unreadable or was altered."""


class KeysRolledBack(KeySlotsDamaged):
    """The key-slot file is older (a lower key generation) than the archive records: it was
    put back from a backup or a copy, and may hold removed credentials."""


# -- the archive ---------------------------------------------------------------------------


class ArchiveProblem(ExporterError):
    """A problem with the archive file itself."""


class WrongArchive(ArchiveProblem):
    """The archive at the configured path is not the one ``init`` recorded in the config (its
    id or key fingerprint differ): someone may have swapped it."""


class ArchiveRolledBack(ArchiveProblem):
    """The archive is older than this computer last saw it (the high-water mark beside the
    config: exporter.archive.highwater): an older copy was put back, or runs were removed.
    ``exporter verify --accept-rollback`` accepts an intended restore."""


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


class NoSuchClient(NotFound):
    """No client has the name or number given; the message names the nearest ones."""

    personal = True


class AmbiguousClient(NotFound):
    """The name or id given matches more than one client; ``candidates`` lists them."""

    personal = True

    def __init__(self, message: str, candidates: list[Any]) -> None:
        super().__init__(message)
        self.candidates = candidates


class DiskFull(ExporterError):
    """There is no space left on the disk."""


class NotWritable(ExporterError):
    """A file, folder or the command's output cannot be written: read-only disk or media,
    no permission, a file-size limit, or a device or pipe where a file should go."""


class OutputClosed(NotWritable):
    """The program reading the command's output (through a pipe) closed it early, e.g.
    ``exporter status | head -1``. Said nowhere but the log: the reader chose to stop."""


# -- copies and alerts -----------------------------------------------------------------------


class CopyDestinationProblem(ExporterError):
    """The copy folder is missing, not a folder, or cannot be written to."""


class ObjectStoreError(ExporterError):
    """An object store refused a request or could not be reached. ``kind`` says which: auth,
    bucket, missing, damaged, network, busy, refused. A full store raises DiskFull instead."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        super().__init__(message)
        self.kind = kind


class NotifyError(ExporterError):
    """The alert email could not be sent: the mail server did not answer, refused the login
    or the message, or the secure connection failed. The message never holds the password."""


class StaffError(ExporterError):
    """A care-plan desk staff account cannot be added or changed as asked: the name is taken,
    or the new password does not meet the staff password policy; nothing was changed."""


class DeskError(ExporterError):
    """The care-plan desk could not start: its port is taken or not allowed, or the HTTPS
    certificate or key given cannot be read."""
class SignInFailed(ExporterError):
    """A browser sign-in (OAuth with PKCE, in ``exporter setup``) did not give a refresh
    token: refused, abandoned, timed out or answered by the wrong page."""


class ParentsNotInTarget(ExporterError):
    """A restore links to records the target must already hold (the clients a Google visit
    belongs to, restored there from Salesforce or HubSpot) and the target has none."""


class TargetStopped(ExporterError):
    """A restore stopped because its target refused the credentials or did not answer (a
    SourceError of the writer, kept as the cause): what was written stays, and the id map
    lets the same command, run again, go on without writing anything twice."""


class TargetQuotaStopped(TargetStopped):
    """A restore stopped because the target's API quota for the day (or exporter's share of
    it) is used up: resumable, like a partial sync."""


class TransformError(ExporterError, ValueError):
    """A value cannot be transformed for a restore (e.g. an unreadable date): that record
    fails validation; the others go on."""


# -- sources (connectors) and targets (writers) ----------------------------------------------


class SourceError(ExporterError):
    """A source (vendor account) or restore target failed; the run goes on with the others."""


class AuthError(SourceError):
    """The vendor refused the credentials (wrong, expired or revoked)."""


class QuotaExhausted(SourceError):
    """The vendor's API quota for the day is used up (or our share of it)."""


class TransientError(SourceError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionExpired(SourceError):
    """The vendor's session expired and could not be renewed."""


class CursorExpired(SourceError):
    """The vendor no longer accepts the saved cursor (e.g. Calendar answered 410 to a sync
    token): the stream must be read in full."""


class RequestRefused(SourceError):
    """The vendor refused a request as invalid or not found (400, 404)."""

    def __init__(self, message: str, status: int = 400, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ItemRefused(SourceError):
    """The vendor refused one record's or file's content (a Drive export over its size limit):
    the sync keeps the record, reports the item and tries it again on later runs."""


class DeletionsHeld(SourceError):
    """One run would mark more of a stream deleted than ``[sync] max_delete_share`` allows:
    the deletions are held (the stream fails, the run ends partial) until someone checks."""


class BulkFailed(SourceError):
    """A bulk job failed (the caller falls back to the plain API)."""


class QueryTimeout(SourceError):
    """The vendor gave up on a query as too long-running."""


#: Exit codes of the CLI, most specific first (README, "Exit codes"). A sync's own codes
#: (11 partial, 12 failed), 2 (usage), 13 (verify mismatch), 21 (a drill check failed) and
#: 130 (interrupted) are chosen by the commands, not by an error class.
#: What reading a vendor's answer of an unexpected shape raises, though the answer is
#: readable (a list where an id should be, text where a count should be, a number too
#: large): the sync fails that stream, the restore that record or run, with a plain message.
SHAPE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)

EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (ConfigError, 3),
    (KeyNeeded, 3),
    (WrongKey, 4),
    (ArchiveLocked, 5),
    (KeySlotsDamaged, 6),
    (ArchiveDamaged, 6),
    (UnsupportedFormat, 7),
    (ArchiveNotFound, 8),
    (WrongArchive, 17),
    (ArchiveRolledBack, 23),
    (NotFound, 9),
    (DiskFull, 10),
    (NotWritable, 16),
    (CopyDestinationProblem, 14),
    (ObjectStoreError, 14),
    (NotifyError, 15),
    (StaffError, 19),
    (DeskError, 20),
    (SignInFailed, 30),
    (ParentsNotInTarget, 26),
    (TargetQuotaStopped, 11),
    (TargetStopped, 12),
    (ExporterError, 1),
]


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error that ends a command (1 for anything unforeseen)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def write_error(exc: OSError, what: str, then: str) -> ExporterError:
    """The error for an OSError met while writing ``what`` (a file name, or "the output"),
    with ``then`` saying what that means and what to do; the caller keeps ``exc`` as cause."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _NO_SPACE:
        return DiskFull(f"There is no space left to write {what}; {then}")
    if exc.errno == errno.EFBIG:
        reason = "a file-size limit was reached"
    elif exc.errno == errno.EROFS:
        reason = "the disk is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    return NotWritable(f"{what[:1].upper()}{what[1:]} could not be written ({reason}); {then}")
