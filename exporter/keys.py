"""Keys: the master key, the SQLCipher key derived from it, and the key-slot file.

The archive is encrypted under a random 256-bit *master key*, never derived from a passphrase.
HKDF-SHA256 derives from it the raw SQLCipher key and the key-slot file's MAC key. The master key
is stored only wrapped, in *slots* of a small JSON file beside the archive (``<archive>.keys``),
like restic's key files or a LUKS header:

- ``passphrase`` slots: Argon2id (m=64 MiB, t=3, p=4) or scrypt (n=2^17, r=8, p=1), parameters
  stored per slot;
- ``keyfile`` slots: a file of 32 random bytes (created 0600) for unattended nightly runs;
- one ``recovery`` slot: a 160-bit key printed once on paper at ``init``.

Each slot's secret (KDF output) gives two values by HKDF: a key-encryption key, which wraps the
master key with AES-256-GCM (associated data: the archive id, slot id, kind and KDF parameters),
and a 16-byte *check value*. A wrong passphrase fails the check (``WrongKey``); a right check with
a failing GCM tag, or a file MAC that does not verify, means the file was altered
(``KeySlotsDamaged``). The whole file carries an HMAC-SHA256 under a key derived from the master
key, so removing, adding or editing slots without the master key is detected at unlock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from exporter import winfs
from exporter.errors import KeySlotsDamaged, WeakPassphrase, WrongKey
from exporter.private_files import make_private, private_folder, read_private

__all__ = [
    "ARGON2ID_DEFAULT",
    "SCRYPT_DEFAULT",
    "Credential",
    "KeyFile",
    "KeySlots",
    "MasterKey",
    "Passphrase",
    "RecoveryKey",
    "Secret",
    "create_key_file",
    "generate_recovery_key",
    "require_strong_passphrase",
    "slots_path_for",
    "write_private_file",
]

FORMAT = "exporter-keyslots"
VERSION = 1
ARGON2ID_DEFAULT = {"name": "argon2id", "memory_kib": 65536, "iterations": 3, "lanes": 4}
SCRYPT_DEFAULT = {"name": "scrypt", "n": 2**17, "r": 8, "p": 1}
KEYFILE_PREFIX = "exporter-keyfile-v1:"
KEYFILE_LIMIT = 4096  # a key file holds 65 bytes; /dev/zero or a video is refused unread
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _hkdf(secret: bytes, info: str, length: int = 32, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=info.encode("ascii")).derive(secret)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Secret:
    """A passphrase or key held in memory; its repr and str never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    def reveal(self) -> str | bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True)
class Passphrase:
    secret: Secret
    kind = "passphrase"

    @classmethod
    def of(cls, text: str) -> Passphrase:
        return cls(Secret(text))


@dataclass(frozen=True)
class KeyFile:
    path: Path
    kind = "keyfile"


@dataclass(frozen=True)
class RecoveryKey:
    secret: Secret
    kind = "recovery"

    @classmethod
    def of(cls, text: str) -> RecoveryKey:
        return cls(Secret(text))


Credential = Passphrase | KeyFile | RecoveryKey


class MasterKey:
    """The archive's 256-bit master key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a master key is 32 bytes")
        self._key = key

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(32))

    def derive(self, purpose: str, salt: bytes) -> bytes:
        return _hkdf(self._key, f"exporter {purpose} v1", salt=salt)

    def sqlcipher_key(self, archive_id: str) -> str:
        """The raw SQLCipher key as the hex literal ``PRAGMA key`` takes (no PBKDF2 at open)."""
        return self.derive("sqlcipher key", archive_id.encode()).hex()

    def _bytes(self) -> bytes:
        return self._key

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MasterKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return id(self)


def slots_path_for(archive: Path) -> Path:
    return archive.with_name(archive.name + ".keys")


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False,
                       renamer: winfs.Renamer | None = None) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only (0600 on POSIX; on
    Windows a protected DACL that grants the owner alone, set before the data is written).
    The final rename rides out another process holding ``path`` for a moment (Windows:
    OneDrive, Defender, a second exporter reading the config or notify state), with
    ``renamer``'s policy (default: :class:`exporter.winfs.Renamer`)."""
    path = Path(path)
    if exclusive and path.exists():
        raise FileExistsError(str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        make_private(Path(tmp))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        winfs.replace(tmp, path, renamer)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def create_key_file(path: Path) -> bytes:
    """Create a new key file of 32 random bytes at ``path`` (0600); returns its key."""
    key = secrets.token_bytes(32)
    private_folder(path.parent, exist_ok=True)  # 0700: the key's own folder, as ~/.ssh
    write_private_file(path, (KEYFILE_PREFIX + _b64(key) + "\n").encode(), exclusive=True)
    return key


def read_key_file(path: Path) -> bytes:
    """The key in a key file. The file must be private to the user (like OpenSSH's
    StrictModes) and tiny: anything over :data:`KEYFILE_LIMIT` bytes is refused unread."""
    data = read_private(Path(path), "key file", KEYFILE_LIMIT, WrongKey,
                        missing="check the path, or unlock with the passphrase instead")
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    if text.startswith(KEYFILE_PREFIX):
        try:
            key = _unb64(text[len(KEYFILE_PREFIX):])
        except ValueError:
            key = b""
        if len(key) == 32:
            return key
    raise WrongKey(f"The file {path} is not an exporter key file; use the key file "
                   "that 'exporter init' or 'exporter keys add --key-file' created.")


def generate_recovery_key() -> str:
    """A new recovery key: 160 random bits as 32 base32 characters in groups of four."""
    raw = secrets.token_bytes(20)
    text = base64.b32encode(raw).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 32, 4))


def _recovery_bytes(text: str) -> bytes:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    cleaned = cleaned.translate(str.maketrans("018", "OIB"))
    if len(cleaned) != 32 or any(ch not in _B32 for ch in cleaned):
        raise WrongKey("That is not a recovery key: it has 32 letters and digits in eight "
                       "groups of four, as printed when the archive was created.")
    return base64.b32decode(cleaned)


#: The passphrase policy: an offline guess costs about 0.2 s of one core (docs/design.md,
#: "Key slots"), so length is what protects the archive's copies. No dictionary check: a
#: dependency for it (zxcvbn) is unmaintained; twelve characters, not one repeated, is plain.
MIN_PASSPHRASE_CHARS = 12
MIN_DISTINCT_CHARS = 5


def require_strong_passphrase(text: str) -> None:
    """Refuse a new passphrase that is too short or too simple (WeakPassphrase)."""
    if len(text) < MIN_PASSPHRASE_CHARS or len(set(text.casefold())) < MIN_DISTINCT_CHARS:
        raise WeakPassphrase(
            f"That passphrase is too weak: use at least {MIN_PASSPHRASE_CHARS} characters "
            "that are not one repeated pattern (three or four unrelated words work well); "
            "nothing was changed.")


def _passphrase_bytes(text: str) -> bytes:
    """A passphrase as UTF-8; one that is not text (bytes from a terminal or environment in
    another encoding) is refused rather than guessed at."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise WrongKey("That passphrase is not valid text (UTF-8): check the encoding of the "
                       "terminal or of EXPORTER_PASSPHRASE, and type it again.") from None


#: The largest KDF settings accepted: what exporter writes (ARGON2ID_DEFAULT, SCRYPT_DEFAULT)
#: with headroom (4x memory, about 3x time). A tampered .keys file asking for more (up to
#: 4 GiB and minutes per slot) is refused before any key derivation runs.
ARGON2ID_MAX = {"memory_kib": 4 * 65536, "iterations": 10, "lanes": 8}
SCRYPT_MAX = {"n": 2**19, "r": 8, "p": 2}


def _kdf_numbers(kdf: dict[str, Any]) -> tuple[int, int, int]:
    """The checked cost settings of a slot's KDF (0, 0, 0 for HKDF); KeySlotsDamaged for
    settings exporter never writes."""
    name = kdf.get("name")
    if name == "hkdf-sha256":  # key files and recovery keys carry >= 160 bits of entropy
        return 0, 0, 0
    try:
        if name == "argon2id":
            m, t, p = (int(kdf[k]) for k in ("memory_kib", "iterations", "lanes"))
            if 8 * p <= m <= ARGON2ID_MAX["memory_kib"] and 1 <= t <= ARGON2ID_MAX[
                    "iterations"] and 1 <= p <= ARGON2ID_MAX["lanes"]:
                return m, t, p
        elif name == "scrypt":
            n, r, p = (int(kdf[k]) for k in ("n", "r", "p"))
            if 2 <= n <= SCRYPT_MAX["n"] and n & (n - 1) == 0 and 1 <= r <= SCRYPT_MAX[
                    "r"] and 1 <= p <= SCRYPT_MAX["p"]:
                return n, r, p
        else:
            raise KeySlotsDamaged("A key slot uses an unknown key derivation; the key file "
                                  "beside the archive was altered or written by a newer "
                                  "exporter.")
    except (KeyError, TypeError, ValueError):
        pass
    raise KeySlotsDamaged(f"A key slot has {name} settings exporter never writes (too costly "
                          "or impossible); the key file beside the archive was altered: copy "
                          "it back from your backup.")


def _slot_secret(kdf: dict[str, Any], material: bytes) -> bytes:
    salt = _unb64(kdf["salt"])
    a, b, c = _kdf_numbers(kdf)
    if kdf.get("name") == "argon2id":
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        return Argon2id(salt=salt, length=32, iterations=b, lanes=c, memory_cost=a).derive(material)
    if kdf.get("name") == "scrypt":
        return Scrypt(salt=salt, length=32, n=a, r=b, p=c).derive(material)
    return _hkdf(material, "exporter slot secret v1", salt=salt)


def _check_slot_fields(slot: Any) -> None:
    """TypeError or KeyError unless ``slot`` has every field, each of the right kind."""
    if not isinstance(slot, dict):
        raise TypeError("slot")
    for field in ("id", "kind", "check", "nonce", "wrapped"):
        if not isinstance(slot[field], str):
            raise TypeError(field)
    kdf = slot["kdf"]
    if not isinstance(kdf, dict) or not isinstance(kdf.get("salt", ""), str):
        raise TypeError("kdf")
    _kdf_numbers(kdf)  # every slot's cost is bounded before any slot's KDF runs


class KeySlots:
    """The key-slot file of one archive. ``db_salt`` (hex of the database file's first 16
    bytes, SQLCipher's plaintext salt; absent in files written before it was added) tells a
    key-slot file of another archive from a damaged database."""

    db_salt: str | None = None
    #: Raised by every change to the slots, and recorded inside the archive (archive_meta
    #: ``key_generation``): a key-slot file older than the archive's record is refused, so a
    #: rolled-back file (one that still holds a removed passphrase) does not open it. 0 in
    #: files written before the counter existed (then left out of the file and its MAC).
    generation: int = 0
    #: The audit log's head when a writer last closed the archive: ``{"entries": n,
    #: "hash": hex of entry n's chain hash}`` (archive/audit.py). Outside the archive and
    #: under the file's MAC, so that removing audit entries, or putting back an older
    #: archive, is found by ``verify``. None in files written before it existed.
    audit_head: dict[str, Any] | None = None

    def __init__(self, path: Path, archive_id: str, slots: list[dict[str, Any]],
                 mac: str | None = None) -> None:
        self.path = Path(path)
        self.archive_id = archive_id
        self.slots = slots
        self.mac = mac

    # -- file ---------------------------------------------------------------------------

    @classmethod
    def new(cls, path: Path, archive_id: str) -> KeySlots:
        return cls(path, archive_id, [])

    @classmethod
    def load(cls, path: Path) -> KeySlots:
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeySlotsDamaged(
                f"The key file {path} that belongs beside the archive is missing; copy it back "
                "from your backup (without it the archive cannot be opened).") from None
        except (OSError, ValueError):
            raise KeySlotsDamaged(
                f"The key file {path} is damaged (not readable JSON); copy it back from your "
                "backup.") from None
        try:
            if doc["format"] != FORMAT:
                raise KeyError("format")
            if doc["version"] != VERSION:
                raise KeySlotsDamaged(
                    f"The key file {path} was written by a newer exporter (version "
                    f"{doc['version']}); update exporter.")
            slots = doc["slots"]
            if not isinstance(slots, list) or not slots:  # init always writes one or more
                raise TypeError("slots")
            for slot in slots:
                _check_slot_fields(slot)
            found = cls(path, str(doc["archive_id"]), list(slots), str(doc["mac"]))
            salt = doc.get("db_salt")
            if salt is not None and not (isinstance(salt, str) and len(salt) == 32
                                         and all(c in "0123456789abcdef" for c in salt)):
                raise TypeError("db_salt")  # 16 bytes in lowercase hex, as db_salt() writes
            found.db_salt = salt
            generation = doc.get("generation", 0)
            if not isinstance(generation, int) or generation < 0:
                raise TypeError("generation")
            found.generation = generation
            head = doc.get("audit_head")
            if head is not None and not (isinstance(head, dict)
                                         and isinstance(head.get("entries"), int)
                                         and isinstance(head.get("hash"), str)):
                raise TypeError("audit_head")
            found.audit_head = head
            return found
        except (KeyError, TypeError):
            raise KeySlotsDamaged(f"The key file {path} is damaged (fields are missing or of "
                                  "the wrong kind); copy it back from your backup.") from None

    def _document(self) -> dict[str, Any]:
        doc = {"format": FORMAT, "version": VERSION, "archive_id": self.archive_id,
               "cipher": "AES-256-GCM", "slots": self.slots}
        doc |= {"db_salt": self.db_salt} if self.db_salt is not None else {}
        doc |= {"audit_head": self.audit_head} if self.audit_head is not None else {}
        return doc | ({"generation": self.generation} if self.generation else {})

    def _compute_mac(self, master: MasterKey) -> str:
        key = master.derive("keyslots mac", self.archive_id.encode())
        return _b64(hmac.new(key, _canonical(self._document()), hashlib.sha256).digest())

    def save(self, master: MasterKey) -> None:
        """Write the file atomically, 0600, with a fresh MAC."""
        self.mac = self._compute_mac(master)
        doc = self._document() | {"mac": self.mac}
        data = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
        write_private_file(self.path, data)

    # -- slots --------------------------------------------------------------------------

    def _ad(self, slot: dict[str, Any]) -> bytes:
        return _canonical({"archive_id": self.archive_id, "id": slot["id"],
                           "kind": slot["kind"], "kdf": slot["kdf"]})

    def _add(self, master: MasterKey, kind: str, kdf: dict[str, Any], material: bytes,
             label: str) -> str:
        kdf = dict(kdf, salt=_b64(secrets.token_bytes(16)))
        slot: dict[str, Any] = {
            "id": uuid.uuid4().hex[:12], "kind": kind, "label": label,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "kdf": kdf,
        }
        secret = _slot_secret(kdf, material)
        nonce = secrets.token_bytes(12)
        kek = _hkdf(secret, "exporter slot wrap v1")
        slot["check"] = _b64(_hkdf(secret, "exporter slot check v1", 16))
        slot["nonce"] = _b64(nonce)
        slot["wrapped"] = _b64(AESGCM(kek).encrypt(nonce, master._bytes(), self._ad(slot)))
        self.slots.append(slot)
        return str(slot["id"])

    def add_passphrase(self, master: MasterKey, passphrase: str, label: str = "passphrase",
                       kdf: dict[str, Any] | None = None) -> str:
        if not passphrase:
            raise ValueError("empty passphrase")
        return self._add(master, "passphrase", kdf or ARGON2ID_DEFAULT,
                         _passphrase_bytes(passphrase), label)

    def add_key_file(self, master: MasterKey, key: bytes, label: str = "key file") -> str:
        return self._add(master, "keyfile", {"name": "hkdf-sha256"}, key, label)

    def set_recovery(self, master: MasterKey, text: str | None = None) -> str:
        """Replace the recovery slot with ``text`` (a new key if None); returns the key. The
        CLI generates and shows the key first, and calls this only once it was seen."""
        text = text or generate_recovery_key()
        material = _recovery_bytes(text)
        self.slots = [s for s in self.slots if s["kind"] != "recovery"]
        self._add(master, "recovery", {"name": "hkdf-sha256"}, material, "recovery key")
        return text

    def remove(self, slot_id: str) -> dict[str, Any]:
        matches = [s for s in self.slots if s["id"] == slot_id]
        if not matches:
            raise ValueError(f"no key slot {slot_id}")
        remaining = [s for s in self.slots if s["id"] != slot_id]
        if not any(s["kind"] in ("passphrase", "keyfile") for s in remaining):
            raise ValueError("last passphrase or key file")
        self.slots = remaining
        return matches[0]

    # -- unlocking ----------------------------------------------------------------------

    def unlock(self, credential: Credential) -> tuple[MasterKey, str]:
        """The master key and the id of the slot that opened it."""
        if isinstance(credential, Passphrase):
            raw = credential.secret.reveal()
            material = _passphrase_bytes(raw) if isinstance(raw, str) else raw
            what = "passphrase"
        elif isinstance(credential, KeyFile):
            material = read_key_file(credential.path)
            what = "key file"
        else:
            raw = credential.secret.reveal()
            material = _recovery_bytes(raw if isinstance(raw, str) else raw.decode())
            what = "recovery key"
        candidates = [s for s in self.slots if s["kind"] == credential.kind]
        for slot in candidates:
            try:
                secret = _slot_secret(slot["kdf"], material)
                check = _unb64(slot["check"])
                nonce, wrapped = _unb64(slot["nonce"]), _unb64(slot["wrapped"])
            except (KeyError, TypeError, ValueError):
                raise KeySlotsDamaged(f"A key slot in {self.path} is damaged; copy the key "
                                      "file back from your backup.") from None
            if not hmac.compare_digest(_hkdf(secret, "exporter slot check v1", 16), check):
                continue
            try:
                key = AESGCM(_hkdf(secret, "exporter slot wrap v1")).decrypt(
                    nonce, wrapped, self._ad(slot))
            except (InvalidTag, ValueError):  # ValueError: a nonce of the wrong length
                raise KeySlotsDamaged(f"The key slot '{slot.get('label', slot['id'])}' in "
                                      f"{self.path} was altered; copy the key file back from "
                                      "your backup.") from None
            master = MasterKey(key)
            if self.mac is None or not hmac.compare_digest(self._compute_mac(master), self.mac):
                raise KeySlotsDamaged(f"The key file {self.path} was altered (its checksum does "
                                      "not match); copy it back from your backup.")
            return master, str(slot["id"])
        if not candidates:
            raise WrongKey(f"This archive has no {what}; unlock it another way.")
        raise WrongKey(f"That {what} does not open this archive; check it and try again.")
