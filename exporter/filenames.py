"""File names built from data (a vendor's client number, an object or stream name, an
attachment's name): one function makes any of them a single, harmless file name, so that a
client number such as ``C-00001/../../elsewhere/x`` cannot put a file outside the folder asked
for, nor name a Windows device."""

from __future__ import annotations

import hashlib
import re

__all__ = ["NAME_LIMIT", "RESERVED", "safe_file_name"]

#: Names Windows keeps for devices, whatever the extension ("nul.csv" is the null device).
RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                      *(f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789¹²³")})
#: Characters in one file name. ``files/<object>/<key>-<name>`` then stays near 190, so the
#: whole path keeps under Windows' MAX_PATH (260) with a restore folder of up to ~65.
NAME_LIMIT = 120


def safe_file_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A file name any OS accepts: odd characters replaced, Windows device names (CON, NUL,
    COM1 ...) prefixed with "_", and a long name cut to ``limit`` with a hash of the whole
    name (distinct names stay distinct) and its extension kept."""
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .") or "file"
    if safe.split(".")[0].rstrip(" ").upper() in RESERVED:
        safe = "_" + safe
    if len(safe) <= limit:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem, dot, ext = safe.rpartition(".")
    ext = f".{ext}" if dot and stem and len(ext) <= 10 else ""
    stem = stem if ext else safe
    return f"{stem[: limit - len(digest) - 1 - len(ext)].rstrip(' .')}-{digest}{ext}"
