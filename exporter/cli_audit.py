"""``exporter audit``: the archive's audit log, read back: who printed, exported, restored or
looked up which client's data, and when (an accounting of disclosures), with the log's hash
chain checked on the way."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from exporter.cli_base import EXIT_DAMAGED, State, echo_out, err, handle_errors, out, pass_state
from exporter.clock import local_time, parse_utc

__all__ = ["audit"]

#: What each action is, in the office's words (an action not listed shows its own name).
WHAT = {"print": "printed care plans", "prerender": "stored care plans for the desk",
        "export": "exported records as plain files", "restore": "restored into a vendor",
        "restore.verify": "checked a restore", "copy": "made a copy of the archive",
        "drill": "ran a recovery drill", "clients": "listed the clients",
        "history": "looked at a record's history", "diff": "compared two points in time",
        "sync": "synced", "verify": "checked the archive", "audit": "read this audit log"}


def _folded(text: str) -> str:
    """Case and accents aside, as ``print`` matches a client's name (careplan's "text"
    normaliser, imported only when a client is asked for: not at start-up)."""
    from exporter.careplan.model import NORMALISERS

    return NORMALISERS["text"](text)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date like 2026-11-30.") from None
    return value


def _local_day(at: Any) -> str:
    """The day an entry was made on this computer's calendar, as its time is shown: an
    entry at 03:10 UTC is on the evening before in New York."""
    when = parse_utc(str(at))
    return when.astimezone().date().isoformat() if when else str(at)[:10]


def _client_keys(state: State, archive: Any, text: str) -> set[str]:
    """What entries about the client ``text`` names hold: the text itself, and the number of
    every client whose name or number contains it (entries record numbers, not names)."""
    from exporter.careplan.roster import roster
    from exporter.cli_print import _definition

    want = _folded(text)
    keys = {want}
    for found, _kind, _deleted in roster(archive, _definition(state, None), None):
        if want in _folded(f"{found.display_key} {found.name}"):
            keys.add(_folded(found.display_key))
    return keys


def _line(entry: dict[str, Any]) -> str:
    detail = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                       for k, v in entry["detail"].items() if v not in (None, [], {}, ""))
    what = WHAT.get(entry["action"], entry["action"])
    # this computer's time with its zone named, as every command shows a time (--json: UTC)
    return (f"{local_time(entry['at'], seconds=True)}  {entry['actor']}  {what}"
            + (f" ({detail})" if detail else ""))


@click.command()
@click.option("--since", callback=_since,
              help="Only entries from this date on (2026-11-30, this computer's calendar).")
@click.option("--action", default=None,
              help="Only this kind of act: print, export, restore, copy, desk, keys, ...")
@click.option("--client", default=None,
              help="Only entries that name this client (part of the name or number).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@pass_state
@handle_errors
def audit(state: State, since: str | None, action: str | None, client: str | None,
          as_json: bool) -> None:
    """Show the audit log: every print, export, restore, copy, key change and desk look-up.

    The log is append-only and hash-chained: an entry changed or removed since is reported.
    Reading it is itself recorded.

    \b
    Example:
      exporter audit --since 2026-11-01 --action print
      exporter audit --client "C-00012"
    """
    from exporter.archive.audit import verify_audit_chain

    with state.open() as archive:
        entries = archive.audit_entries(action)
        broken = verify_audit_chain(archive.conn)
        if since:
            entries = [e for e in entries if _local_day(e["at"]) >= since]
        if client:
            wanted = _client_keys(state, archive, client)
            entries = [e for e in entries if any(w in _folded(
                json.dumps(e["detail"], ensure_ascii=False, default=str)) for w in wanted)]
        archive.audit("audit", {"since": since, "action": action, "client": client,
                                "entries": len(entries)})
    if as_json:
        echo_out(json.dumps(entries, ensure_ascii=False, indent=2, default=str))
    else:
        for entry in entries:
            out.print(_line(entry), markup=False)
        out.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}.")
    if broken:
        err.print(f"Warning: {broken[0]}; run 'exporter verify' and keep this archive as it "
                  "is for whoever looks into it.", markup=False)
        raise SystemExit(EXIT_DAMAGED)
