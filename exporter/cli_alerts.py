"""``exporter notify`` and the alert emails ([notify]) that ``sync``, ``copy`` and ``status``
send. A mail that cannot be sent is a warning line, never a changed exit code."""

from __future__ import annotations

import traceback
from typing import Any

import click

from exporter import errors
from exporter.cli_base import State, err, handle_errors, log, out, pass_state
from exporter.config import Config, CopyTarget

__all__ = ["notify_command"]


def _copy_label(target: CopyTarget) -> str:
    """How an alert names a copy: its name, or the folder's last part for an ad-hoc folder."""
    if target.path is not None and target.name == str(target.path):
        return target.path.name or target.name
    return target.name


def _send_alert(config: Config, alert: Any) -> bool:
    """Send ``alert`` if [notify] asks for it. A mail that cannot be sent is logged and one
    warning line on stderr: it never changes the command's exit code or loses its work."""
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or not alerts.wanted(settings, alert):
        return False
    try:
        alerts.send(settings, alert)
    except errors.ExporterError as exc:
        log.warning("alert email %r not sent: %s: %s", alert.kind, type(exc).__name__, exc)
        err.print(f"Warning: the alert email could not be sent: {exc}")
        return False
    except Exception as exc:  # never lose a sync for a mail
        log.error("alert email %r not sent\n%s", alert.kind, traceback.format_exc())
        err.print(f"Warning: the alert email could not be sent ({type(exc).__name__}); the "
                  "details are in the log file.")
        return False
    out.print(f"Alert email sent to {', '.join(settings.to)}: {alert.subject}")
    return True


def _alert_after_sync(config: Config, report: Any, problems: list[Any],
                      stale: list[tuple[str, str | None]], last_good: str | None) -> None:
    """One alert for the run (its outcome and the copies after it); a stale-data alert only
    when the run's own alert is not wanted, at most once a day."""
    import datetime as dt

    from exporter import notify as alerts

    settings = config.notify
    assert settings is not None
    state = alerts.NotifyState.for_archive(config.archive)
    if report.status == "ok":
        state.record_good_sync(last_good or dt.datetime.now(dt.UTC).isoformat())
    stale_hours = None
    if stale and report.status != "ok":
        ages = [h for h in (alerts.hours_since(when) for _, when in stale) if h is not None]
        stale_hours = max(ages) if ages else None
    alert = alerts.sync_alert(settings, report, problems, last_good, stale_hours)
    if alerts.wanted(settings, alert):
        if _send_alert(config, alert) and stale:
            state.mark_stale_sent()  # that mail said how old the data is: no second one today
    elif stale and report.status != "ok":
        _alert_stale(config, stale, last_good)


def _alert_stale(config: Config, stale: list[tuple[str, str | None]],
                 last_good: str | None) -> None:
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or "stale" not in settings.on:
        return
    state = alerts.NotifyState.for_archive(config.archive)
    if not state.stale_due():
        log.info("stale-data alert already sent today; not sending another")
        return
    if _send_alert(config, alerts.stale_alert(settings, stale, config.stale_after_hours,
                                              last_good or state.last_good_sync)):
        state.mark_stale_sent()


def _alert_sync_error(config: Config, message: str) -> None:
    """The alert for a sync that stopped before it could finish (the archive would not open,
    is locked, the disk is full ...): exporter's plain message."""
    from exporter import notify as alerts

    if config.notify is None:
        return
    last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
    _send_alert(config, alerts.error_alert(config.notify, message, last_good))


@click.command("notify")
@click.option("--test", "send_test", is_flag=True,
              help="Send a test message to the [notify] addresses and say whether it worked "
              "(exit 15 if it could not be sent).")
@pass_state
@handle_errors
def notify_command(state: State, send_test: bool) -> None:
    """Alert emails: who is told when the nightly job fails, and a test message.

    Configured in the config file's [notify] table (see README). Without --test, shows the
    settings; with --test, sends a test message through the mail server now. Exit 15 means
    the test message could not be sent (the message says why).

    \b
    Example:
      exporter notify --test
    """
    from exporter import notify as alerts

    config = state.config
    settings = config.notify
    if settings is None:
        raise errors.ConfigError(f"No alert emails are set up: add a [notify] table to "
                                 f"{config.path} with to, from, smtp_host, username and "
                                 "password (see README).")
    login = f", logging in as {settings.username}" if settings.username else ""
    trust = f", trusting the CA in {settings.ca_file}" if settings.ca_file else ""
    out.print(f"Alert emails go to {', '.join(settings.to)} from {settings.sender} through "
              f"{settings.smtp_host}:{settings.smtp_port} ({settings.security}{trust}{login}), on: "
              f"{', '.join(settings.on)}.")
    if not send_test:
        out.print("Run 'exporter notify --test' to send a test message.")
        return
    alert = alerts.test_alert(settings,
                              alerts.NotifyState.for_archive(config.archive).last_good_sync)
    try:
        alerts.send(settings, alert)
    except errors.NotifyError as exc:
        log.warning("test email not sent: %s", exc)
        raise errors.NotifyError(f"The test email could not be sent. {exc}") from None
    log.info("test email sent to %s", ", ".join(settings.to))
    out.print(f"Sent a test email to {', '.join(settings.to)} ('{alert.subject}'). It worked "
              "on this side: check that it arrived (look in the junk folder too).")
