"""Pinning: the config remembers which archive ``init`` made, so that someone who can only
write to the archive's folder cannot swap in an archive of their own (with its ``.keys`` file
and key file) and have the nightly sync write every client's data into it.

``init`` writes the archive's id and *fingerprint* under ``[archive]`` in the config. The
fingerprint is a hash of ``pin_secret``, 32 random bytes kept inside the encrypted archive
(``archive_meta``): the swapped archive's maker can copy the id (it is in the plaintext
``.keys`` file) but cannot read our secret, nor find another with the same hash. The secret
is data inside the archive, so it survives ``keys rotate`` and travels with every copy (a
copy fetched back is the same archive). An archive made before pinning has no secret: a
config that expects a fingerprint refuses it.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

from exporter.errors import WrongArchive

__all__ = ["fingerprint_of", "new_pin_secret", "refuse_other_archive"]


def new_pin_secret() -> str:
    return secrets.token_hex(32)


def fingerprint_of(conn: Any) -> str | None:
    """The archive's fingerprint (None for an archive made before pinning)."""
    row = conn.execute("SELECT value FROM archive_meta WHERE key = 'pin_secret'").fetchone()
    if row is None:
        return None
    digest = hashlib.sha256(b"exporter archive fingerprint v1\0" + str(row[0]).encode())
    return digest.hexdigest()[:32]


def refuse_other_archive(path: Path, pin: tuple[str, str | None] | None, archive_id: str,
                         fingerprint: str | None) -> None:
    """WrongArchive unless the archive is the one the config's ``pin`` names."""
    if pin is None:
        return
    want_id, want_fingerprint = pin
    if archive_id == want_id and (want_fingerprint is None or fingerprint == want_fingerprint):
        return
    raise WrongArchive(
        f"The archive at {path} is not the one this computer was set up with (its id or "
        "fingerprint differ from [archive] in the config file), so someone may have replaced "
        "it together with its .keys and key file: nothing was read or written; put the "
        "original archive back from your second copy and tell whoever looks after this "
        "computer.")
