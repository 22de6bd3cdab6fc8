"""``exporter setup``: the guided interview that writes the ``[sources.*]``, ``[[copies]]`` and
``[notify]`` tables, checks each answer live, and ends by offering ``schedule``.

Re-runnable: every question starts from what the config says now, Enter keeps it, and
everything else in the file (comments included) stays as it was
(:class:`exporter.setup_config.ConfigDocument`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from exporter import errors
from exporter.cli_base import State, handle_errors, out, pass_state
from exporter.config import default_config_path
from exporter.setup_config import ConfigDocument, SecretHome, secret_home
from exporter.setup_sources import SourceInterview

__all__ = ["setup"]

VENDORS = (("salesforce", "Salesforce"), ("hubspot", "HubSpot"), ("google", "Google"))


def _base_urls(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
               ) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        vendor, _, url = value.partition("=")
        if vendor not in dict(VENDORS) or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"'{value}': write VENDOR=URL, e.g. "
                                     "salesforce=http://127.0.0.1:8001", ctx, param)
        urls[vendor] = url.rstrip("/")
    return urls


@click.command("setup")
@click.option("--secrets", "home", type=click.Choice(["keyring", "file"]), default=None,
              help="Where to keep passwords and tokens: the OS keyring, or files only you "
              "can read. Default: what the nightly job can read on this computer (the "
              "keyring on Windows, files elsewhere).")
@click.option("--base-url", "base_urls", multiple=True, metavar="VENDOR=URL",
              callback=_base_urls,
              help="Send a vendor's requests to this address instead (exporter's sandbox, "
              "for training), e.g. salesforce=http://127.0.0.1:8001. Repeatable.")
@click.pass_context
@pass_state
@handle_errors
def setup(state: State, ctx: click.Context, home: SecretHome | None,
          base_urls: dict[str, str]) -> None:
    """Set up the nightly backup by answering questions: which accounts to back up (sign in
    to Salesforce and Google with your browser), where to put copies, who gets the alert
    emails. Each answer is tried at once (a real login, a test file in the copy folder, a
    test email); run it again to change anything (Enter keeps the current answer). It ends
    by offering to schedule the nightly job.

    Run 'exporter init' first: it creates the archive and its keys.

    \b
    Example:
      exporter setup
    """
    doc = ConfigDocument(state.config_path or default_config_path())
    _check_archive(doc)
    home = home or secret_home()
    out.print(f"Setting up {doc.path}. Passwords and tokens go "
              f"{'into the OS keyring' if home == 'keyring' else 'into files only you can read'}"
              "; press Enter to keep an answer shown in [brackets].")
    interview = SourceInterview(doc, home, base_urls, say=out.print)
    for name, label in VENDORS:
        click.echo()
        interview.run(name, getattr(interview, name), label)
    click.echo()
    _copies(doc)
    click.echo()
    _notify(doc, interview)
    click.echo()
    if not doc.plain().get("sources"):
        out.print("No account is set up yet, so nothing would be backed up: run "
                  "'exporter setup' again when you have the sign-in details.")
        return
    out.print("Done. 'exporter check' tests everything again at any time.")
    _offer_schedule(ctx)


def _check_archive(doc: ConfigDocument) -> None:
    archive = doc.plain().get("archive")
    if not isinstance(archive, dict) or not archive.get("path"):
        raise errors.ConfigError(f"{doc.path} has no [archive] yet; run 'exporter init' "
                                 "first (it creates the archive and its keys).")


# -- copies -------------------------------------------------------------------------------

def _copies(doc: ConfigDocument) -> None:
    """Keep or drop each copy there is, then add folders until an empty answer."""
    kept: list[dict[str, Any]] = []
    for table in doc.copies():
        where = table.get("url") or table.get("path")
        if click.confirm(f"Keep making copies to {where}?", default=True):
            kept.append(table)
    if not kept:
        out.print("A copy elsewhere (a USB disk, a network folder) saves the archive when "
                  "this computer is lost or broken.")
    while True:
        folder = click.prompt("Folder for a copy of the archive (Enter when done)",
                              default="", show_default=False).strip()
        if not folder:
            break
        table = {"name": _copy_name(folder, kept), "path": folder,
                 "keep": click.prompt("How many dated copies to keep there", default=7,
                                      type=click.IntRange(1, 365)),
                 "after_sync": click.confirm("Make this copy after every nightly backup?",
                                             default=True)}
        if _copy_works(doc, kept, table) or click.confirm(
                "Keep it all the same (e.g. a USB disk plugged in later)?", default=False):
            kept.append(table)
    doc.set_copies(kept)
    doc.save()


def _copy_name(folder: str, kept: list[dict[str, Any]]) -> str:
    base = Path(folder).name or "copy"
    names = {t.get("name") for t in kept}
    name, n = base, 2
    while name in names:
        name, n = f"{base}-{n}", n + 1
    return name


def _copy_works(doc: ConfigDocument, kept: list[dict[str, Any]],
                table: dict[str, Any]) -> bool:
    """Write a test file to the folder (and remove it), as 'exporter check' does: what the
    nightly copy needs. The config is saved with the new copy to read it back checked."""
    from exporter.config import load_config
    from exporter.nightly import readiness

    doc.set_copies([*kept, table])
    doc.save()
    try:
        config = load_config(doc.path)
    except errors.ConfigError as exc:
        out.print(f"  ✗ {exc}")
        return False
    only = replace(config, copies=[t for t in config.copies if t.name == table["name"]],
                   key_file=None, notify=None)
    ok = True
    for _, fine, text in readiness(only):
        out.print(f"  {'✓' if fine else '✗'} {text}")
        ok = ok and fine
    return ok


# -- alert emails ---------------------------------------------------------------------------

_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _notify(doc: ConfigDocument, interview: SourceInterview) -> None:
    current = doc.notify()
    if not click.confirm("Send an email when the nightly backup fails or stops?",
                         default=True):
        if current and click.confirm("Turn the alert emails off?", default=False):
            doc.set_notify(None)
            doc.save()
        return
    while True:
        table = _ask_notify(current, interview)
        doc.set_notify(table)
        doc.save()
        if _mail_works(doc.path):
            return
        if not click.confirm("Try the email settings again?", default=True):
            if not click.confirm("Keep them all the same?", default=False):
                doc.set_notify(current or None)
                doc.save()
            return
        current = doc.notify()


def _ask_notify(current: dict[str, Any], interview: SourceInterview) -> dict[str, Any]:
    table = {k: v for k, v in current.items()
             if k not in ("to", "from", "smtp_host", "smtp_port", "security", "username",
                          "password")}
    to = current.get("to") or []
    answer = click.prompt("Who gets the alerts (addresses, comma-separated)",
                          default=(", ".join(to) if isinstance(to, list) else str(to)) or None)
    table["to"] = [a.strip() for a in answer.split(",") if a.strip()]
    table["from"] = click.prompt("The address the alerts come from",
                                 default=current.get("from") or table["to"][0])
    table["smtp_host"] = click.prompt("The mail server (e.g. smtp.office365.com)",
                                      default=current.get("smtp_host"))
    table["security"] = click.prompt("Encryption", type=click.Choice(list(_PORTS)),
                                     default=current.get("security", "starttls"))
    default_port = current.get("smtp_port") if current.get("security") == table["security"] \
        else None
    table["smtp_port"] = click.prompt("Port", type=click.IntRange(1, 65535),
                                      default=default_port or _PORTS[table["security"]])
    if click.confirm("Does the mail server need a user name and password?",
                     default="username" in current or not current):
        table["username"] = click.prompt("User name on the mail server",
                                         default=current.get("username") or table["from"])
        table["password"] = interview.secret("notify", "password", "Its password", current)
    return table


def _mail_works(config_path: Path) -> bool:
    """Send a test email with the settings just written."""
    from exporter import notify
    from exporter.config import load_config

    try:
        settings = load_config(config_path).notify
        assert settings is not None
        notify.send(settings, notify.test_alert(settings))
    except errors.ExporterError as exc:
        out.print(f"  ✗ {exc}")
        return False
    out.print(f"  ✓ Sent a test email to {', '.join(settings.to)}: check that it arrived "
              "(look in the junk folder too).")
    return True


def _offer_schedule(ctx: click.Context) -> None:
    from exporter.cli_schedule import DEFAULT_TASK, schedule

    if not click.confirm("Run the backup every night now (exporter schedule)?", default=True):
        out.print("Later: run 'exporter schedule' to install the nightly job.")
        return
    while True:
        at = click.prompt("At what time (HH:MM, 24-hour)", default="02:30")
        hour, _, minute = at.strip().partition(":")
        if hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60:
            break
        out.print("Write the time as HH:MM, e.g. 02:30.")
    ctx.invoke(schedule, at=(int(hour), int(minute)), show=False, remove=False,
               task_name=DEFAULT_TASK, logged_off=False)
