"""Staff accounts of the care-plan desk, kept in the archive's ``staff`` table.

A password is stored only as an Argon2id hash (argon2-cffi's PHC string: its own random salt
and the parameters, RFC 9106's second recommendation, m=64 MiB t=3 p=4). Every change is
written to the audit log (``staff.add``, ``staff.passwd``, ``staff.role``, ``staff.remove``)
with the name and role, never the password or its hash.

    add_staff(archive, "Maria", "print", password)
    account = check_login(archive, "maria", password)   # None when wrong
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from exporter.errors import NotFound, StaffError

__all__ = ["MIN_PASSWORD_CHARS", "ROLES", "StaffAccount", "add_staff", "can", "check_login",
           "list_staff", "password_problem", "remove_staff", "set_password", "set_role"]

#: Roles, each allowed what the one before it is, and more.
ROLES = ("print", "office", "admin")
#: What each role may do (pages of the desk check it with :func:`can`).
_ALLOWED = {
    "print": {"search", "view", "print", "visits"},
    "office": {"search", "view", "print", "visits", "documents", "history"},
    "admin": {"search", "view", "print", "visits", "documents", "history", "staff"},
}
MIN_PASSWORD_CHARS = 10
MIN_DISTINCT_CHARS = 5
#: The password policy in words (``staff add --help`` and the refusal say it).
POLICY = (f"at least {MIN_PASSWORD_CHARS} characters, at least {MIN_DISTINCT_CHARS} different "
          "ones, and not containing the staff name")

_hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
# Checked when the name is unknown, so that a wrong name costs as long as a wrong password
# and the answer's timing does not say which names exist.
_DUMMY = _hasher.hash("no such account: timing equaliser")


@dataclass(frozen=True)
class StaffAccount:
    name: str
    role: str
    created_at: str
    password_set_at: str


def can(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (search, view, print, visits, documents, history,
    staff)."""
    return action in _ALLOWED.get(role, set())


def password_problem(name: str, password: str) -> str | None:
    """Why ``password`` does not meet the staff policy, in words, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"it is shorter than {MIN_PASSWORD_CHARS} characters"
    if len(set(password.casefold())) < MIN_DISTINCT_CHARS:
        return "it is one character or a short pattern repeated"
    if name.strip() and name.strip().casefold() in password.casefold():
        return "it contains the staff name"
    return None


def _require_strong(name: str, password: str) -> None:
    problem = password_problem(name, password)
    if problem is not None:
        raise StaffError(f"That password is too weak ({problem}): use {POLICY}, for example "
                         "three unrelated words; nothing was changed.")


def _check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 60 or not cleaned.isprintable():
        raise StaffError("A staff name is 1 to 60 letters, digits or spaces (e.g. 'maria' or "
                         "'Maria Lopez'); nothing was changed.")
    return cleaned


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _row(archive: Any, name: str) -> StaffAccount | None:
    rows = archive._query("SELECT name, role, created_at, password_set_at FROM staff "
                          "WHERE name = ?", (name,))
    return StaffAccount(*rows[0]) if rows else None


def _require(archive: Any, name: str) -> StaffAccount:
    account = _row(archive, name)
    if account is None:
        raise NotFound(f"There is no staff account '{name}'; 'exporter staff list' shows "
                       "them.")
    return account


def list_staff(archive: Any) -> list[StaffAccount]:
    """Every account, by name."""
    rows = archive._query("SELECT name, role, created_at, password_set_at FROM staff "
                          "ORDER BY name")
    return [StaffAccount(*r) for r in rows]


def add_staff(archive: Any, name: str, role: str, password: str,
              actor: str | None = None) -> StaffAccount:
    """A new account (StaffError if the name is taken or the password is weak)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}")
    name = _check_name(name)
    _require_strong(name, password)
    if _row(archive, name) is not None:
        raise StaffError(f"There is already a staff account '{name}'; choose another name, "
                         "or change its password with 'exporter staff passwd'.")
    when = _now()
    digest = _hasher.hash(password)
    with archive.transaction():
        archive.conn.execute("INSERT INTO staff (name, role, password_hash, created_at, "
                             "password_set_at) VALUES (?, ?, ?, ?, ?)",
                             (name, role, digest, when, when))
        archive.audit("staff.add", {"name": name, "role": role}, actor=actor)
    return StaffAccount(name, role, when, when)


def set_password(archive: Any, name: str, password: str, actor: str | None = None) -> None:
    account = _require(archive, name)
    _require_strong(account.name, password)
    digest = _hasher.hash(password)
    with archive.transaction():
        archive.conn.execute("UPDATE staff SET password_hash = ?, password_set_at = ? "
                             "WHERE name = ?", (digest, _now(), account.name))
        archive.audit("staff.passwd", {"name": account.name}, actor=actor)


def set_role(archive: Any, name: str, role: str, actor: str | None = None) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r}")
    account = _require(archive, name)
    with archive.transaction():
        archive.conn.execute("UPDATE staff SET role = ? WHERE name = ?", (role, account.name))
        archive.audit("staff.role", {"name": account.name, "role": role,
                                     "was": account.role}, actor=actor)


def remove_staff(archive: Any, name: str, actor: str | None = None) -> None:
    account = _require(archive, name)
    with archive.transaction():
        archive.conn.execute("DELETE FROM staff WHERE name = ?", (account.name,))
        archive.audit("staff.remove", {"name": account.name, "role": account.role},
                      actor=actor)


def check_login(archive: Any, name: str, password: str) -> StaffAccount | None:
    """The account when ``password`` is its password, else None (an unknown name takes as
    long to refuse as a wrong password)."""
    rows = archive._query("SELECT name, role, created_at, password_set_at, password_hash "
                          "FROM staff WHERE name = ?", (" ".join(name.split()),))
    digest = rows[0][4] if rows else _DUMMY
    try:
        _hasher.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return StaffAccount(*rows[0][:4]) if rows else None
