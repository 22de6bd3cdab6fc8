"""File names built from data (a vendor's client number, an object or stream name, an
attachment's name): one function makes any of them a single, harmless file name, so that a
client number such as ``C-00001/../../elsewhere/x`` cannot put a file outside the folder asked
for, nor name a Windows device."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["NAME_LIMIT", "RESERVED", "is_device_name", "readable_file_name", "safe_file_name"]

#: Names Windows keeps for devices, whatever the extension ("nul.csv" is the null device).
RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                      *(f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789¹²³")})
#: Characters in one file name. ``files/<object>/<key>-<name>`` then stays near 190, so the
#: whole path keeps under Windows' MAX_PATH (260) with a restore folder of up to ~65.
NAME_LIMIT = 120


def is_device_name(name: str) -> bool:
    """Whether Windows takes ``name`` for a device (``nul.csv``, ``COM1 .txt``)."""
    return name.split(".")[0].rstrip(" ").upper() in RESERVED


def safe_file_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A file name any OS accepts: odd characters replaced, Windows device names (CON, NUL,
    COM1 ...) prefixed with "_", and a long name cut to ``limit`` with a hash of the whole
    name (distinct names stay distinct) and its extension kept."""
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .") or "file"
    if is_device_name(safe):
        safe = "_" + safe
    if len(safe) <= limit:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem, dot, ext = safe.rpartition(".")
    ext = f".{ext}" if dot and stem and len(ext) <= 10 else ""
    stem = stem if ext else safe
    return f"{stem[: limit - len(digest) - 1 - len(ext)].rstrip(' .')}-{digest}{ext}"


#: What a person's folder name keeps besides letters and digits of any script.
READABLE = frozenset(" ()-_.,'&")


def readable_file_name(name: str, limit: int = 80) -> str:
    """A folder or file name as the office reads it ("Renée Castellanos (C-00006)"): letters
    and digits of any script, spaces and ``( ) - _ . , ' &`` kept, anything else (path
    separators, control and direction marks, ``: * ? " < > |``) replaced by "_"; a
    Windows device name prefixed with "_". A name longer than ``limit`` characters (or
    200 bytes of UTF-8, under the 255 a file system allows) is made by
    :func:`safe_file_name` instead."""
    text = unicodedata.normalize("NFC", name)
    kept = "".join(ch if ch.isalnum() or ch in READABLE else "_" for ch in text)
    kept = re.sub(r"_{2,}", "_", kept).strip(" .") or "file"
    if is_device_name(kept):
        kept = "_" + kept
    if len(kept) > limit or len(kept.encode("utf-8")) > 200:
        return safe_file_name(name, limit)
    return kept
