"""``exporter staff``: the accounts staff log in to the care-plan desk with."""

from __future__ import annotations

import os

import click

from exporter.cli_base import State, handle_errors, out, pass_state

__all__ = ["staff"]

_ROLES = click.Choice(["print", "office", "admin"])


def _new_password(name: str) -> str:
    """EXPORTER_STAFF_PASSWORD (a script), else typed twice."""
    text = os.environ.get("EXPORTER_STAFF_PASSWORD")
    if text:
        return text
    try:
        return str(click.prompt(f"New password for {name}", hide_input=True,
                                confirmation_prompt="Type it again"))
    except click.Abort:  # no one to type it (end of input)
        raise click.UsageError("Type the password twice at the prompt, or set "
                               "EXPORTER_STAFF_PASSWORD when no one is at the "
                               "terminal.") from None


@click.group()
def staff() -> None:
    """Staff accounts of the care-plan desk ('exporter desk'): add, list, remove, passwd.

    Roles: print (search, view and print care plans and visit schedules); office (also
    documents, record history and the plan as of a date); admin (also staff management).
    Passwords: at least 10 characters, at least 5 different ones, not containing the name;
    kept only as an Argon2id hash in the encrypted archive. Every change is in the audit log.

    \b
    Example:
      exporter staff add maria --role print
      exporter staff list
    """


@staff.command("add")
@click.argument("name")
@click.option("--role", type=_ROLES, required=True,
              help="print: search, view and print; office: also documents and history; "
              "admin: also staff management.")
@pass_state
@handle_errors
def add(state: State, name: str, role: str) -> None:
    """Add a staff account; the password is asked twice (or EXPORTER_STAFF_PASSWORD).

    \b
    Example:
      exporter staff add maria --role print
    """
    from exporter.desk.staff import add_staff

    password = _new_password(name)
    with state.open(write=True) as archive:
        account = add_staff(archive, name, role, password)
    out.print(f"Added {account.name} ({account.role}). They log in to the desk with that "
              "name and password.", markup=False)


@staff.command("list")
@pass_state
@handle_errors
def list_(state: State) -> None:
    """List the staff accounts: name, role, when added, when the password was set.

    \b
    Example:
      exporter staff list
    """
    from exporter.clock import local_time
    from exporter.desk.staff import list_staff

    with state.open() as archive:
        accounts = list_staff(archive)
    for a in accounts:
        out.print(f"{a.name}  {a.role}  added {local_time(a.created_at)}, password set "
                  f"{local_time(a.password_set_at)}", markup=False)
    out.print(f"{len(accounts)} staff account(s).")


@staff.command("remove")
@click.argument("name")
@pass_state
@handle_errors
def remove(state: State, name: str) -> None:
    """Remove a staff account; they can no longer log in (at their next page).

    \b
    Example:
      exporter staff remove maria
    """
    from exporter.desk.staff import remove_staff

    with state.open(write=True) as archive:
        remove_staff(archive, name)
    out.print(f"Removed {name}.", markup=False)


@staff.command("passwd")
@click.argument("name")
@click.option("--role", type=_ROLES, help="Also change the role.")
@pass_state
@handle_errors
def passwd(state: State, name: str, role: str | None) -> None:
    """Set a new password for a staff account (asked twice, or EXPORTER_STAFF_PASSWORD).

    \b
    Example:
      exporter staff passwd maria
    """
    from exporter.desk.staff import set_password, set_role

    password = _new_password(name)
    with state.open(write=True) as archive:
        set_password(archive, name, password)
        if role is not None:
            set_role(archive, name, role)
    out.print(f"The password of {name} was changed.", markup=False)
