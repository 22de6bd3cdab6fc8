"""``exporter notify``: the alert-email settings, and a test message. The alerts themselves are
sent by :mod:`exporter.nightly`."""

from __future__ import annotations

import click

from exporter import errors
from exporter.cli_base import State, handle_errors, log, out, pass_state

__all__ = ["notify_command"]


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
        raise errors.NotifyError(f"The test email could not be sent. {exc}") from exc
    log.info("test email sent to %s", ", ".join(settings.to))
    out.print(f"Sent a test email to {', '.join(settings.to)} ('{alert.subject}'). It worked "
              "on this side: check that it arrived (look in the junk folder too).")
