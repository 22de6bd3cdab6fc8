"""Alert emails: tell a person, in plain words, when the nightly job fails.

The job runs unattended; nobody reads cron mail or Task Scheduler's history. When a sync fails
or ends partially, a copy fails, or the data has gone stale (no complete sync for longer than
``[archive] stale_after_hours``), the ``[notify]`` recipients get one short email: what
happened, which source, stream or copy and its message, what to do next, when the last good
sync was, the computer's name and the command to see more (``exporter status``).

An alert never holds health data (no client names, no record contents: only source, stream
and copy names, run numbers, times and exporter's own one-sentence messages) and never a
secret. Sending uses the standard library (``smtplib``, ``email.message``) with a 15-second
timeout; with ``starttls``/``tls`` nothing, the login included, is sent before the connection
is encrypted and the certificate and host name are verified (against ``[notify] ca_file`` if
set, else the system's trust store: :func:`tls_context`). A failure raises
:class:`~exporter.errors.NotifyError` with a plain sentence and the caller (the CLI) logs it
and goes on: a mail that cannot be sent never changes a sync's exit code.

The "stale" alert is sent at most once per calendar day, the weekly digest
(:mod:`exporter.digest`) once on its weekday; when each was last sent, and when the
last complete sync finished, are kept in a small JSON file beside the archive
(``archive.db.notify.json``, 0600, no secrets), because the very runs that need an alert may
be the ones that cannot open the archive.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from exporter.config import NotifySettings
from exporter.errors import NotifyError

__all__ = [
    "TIMEOUT",
    "Alert",
    "NotifyState",
    "Problem",
    "copy_alert",
    "digest_alert",
    "error_alert",
    "hours_since",
    "last_good_sync",
    "send",
    "stale_alert",
    "stale_sources",
    "state_path",
    "sync_alert",
    "test_alert",
    "tls_context",
    "wanted",
]

log = logging.getLogger("exporter.notify")

#: Seconds to wait for the mail server at each step: a hung server must not hold the job.
TIMEOUT = 15.0
#: A message in an alert is cut here: exporter's messages are one sentence.
_MAX_MESSAGE = 400
#: Failed streams listed per source; the rest are counted.
_MAX_STREAMS = 8

_FOOTER = ("This message was sent by exporter. It never contains client data or passwords; "
           "the details are on the computer named above.")


@dataclass(frozen=True)
class Problem:
    """Something that went wrong, as an alert names it: ``what`` ("salesforce", "hubspot,
    stream contacts", "the copy to usb") and exporter's plain message."""

    what: str
    message: str


@dataclass(frozen=True)
class Alert:
    kind: str  # failure | partial | copy_failed | stale | success | test | digest
    events: tuple[str, ...]  # the [notify] on events this alert covers
    subject: str
    body: str


def wanted(settings: NotifySettings, alert: Alert) -> bool:
    """Whether ``[notify] on`` asks for this alert (a test message always goes; the weekly
    digest goes when ``digest_weekday`` is set)."""
    if alert.kind == "digest":
        return settings.digest_weekday is not None
    return alert.kind == "test" or any(e in settings.on for e in alert.events)


def machine_name() -> str:
    return socket.gethostname() or "this computer"


def _label(settings: NotifySettings) -> str:
    return settings.agency or machine_name()


def _time(value: str | dt.datetime | None) -> str:
    """A time for the office to read: this computer's local time, its zone named."""
    from exporter.clock import local_time

    return local_time(value)


def _age_hours(value: str | None, now: dt.datetime) -> float | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (now - when).total_seconds() / 3600


def hours_since(value: str | None) -> float | None:
    """Hours from the ISO time ``value`` until now (None for None or a bad value)."""
    return _age_hours(value, dt.datetime.now(dt.UTC))


def _age(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 2:
        return f"{hours:.0f} hours"
    minutes = max(1, round(hours * 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _clip(message: str | None) -> str:
    text = " ".join((message or "no message").split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def _last_good_line(last_good: str | None, now: dt.datetime) -> str:
    if last_good is None:
        return "Last good sync: none recorded yet (no sync has finished completely)."
    hours = _age_hours(last_good, now)
    ago = f" ({_age(hours)} ago)" if hours is not None else ""
    return f"Last good sync: {_time(last_good)}{ago}."


def _body(lead: str, problems: Sequence[Problem], todo: str, last_good: str | None,
          extra: Iterable[str] = ()) -> str:
    now = dt.datetime.now(dt.UTC)
    machine = machine_name()
    lines = [lead, ""]
    if problems:
        lines.append("What went wrong:")
        lines += [f"  - {p.what}: {_clip(p.message)}" for p in problems]
        lines.append("")
    lines += list(extra)
    lines += [f"What to do next: {todo}", "",
              _last_good_line(last_good, now),
              f"Computer: {machine}",
              f"To see more, run this on {machine}: exporter status",
              "(the log files on that computer, exporter-DATE.log, have the details).", "",
              _FOOTER]
    return "\n".join(lines) + "\n"


def _subject(settings: NotifySettings, what: str) -> str:
    return f"exporter: {what} ({_label(settings)})"


_SYNC_TODO = ("run 'exporter check' on that computer: it tests each source and says what to "
              "fix (a changed password or a revoked token is the usual cause). Then run "
              "'exporter sync', or wait for tonight's run.")
_COPY_TODO = ("check that the disk is plugged in (or the network share or object store "
              "reachable) and has room, then run 'exporter copy' on that computer.")
_STALE_TODO = ("check that the nightly task still runs (cron, or Task Scheduler on Windows) "
               "and that the computer is on at night; then run 'exporter sync' on it and "
               "'exporter status' to see how it went.")


def _copy_lines(copies: Sequence[Problem], after_sync: bool = True) -> list[str]:
    if not copies:
        return []
    lines = ["The second copies:"]
    lines += [f"  - {p.what} failed: {_clip(p.message)}" for p in copies]
    if after_sync:
        lines.append("  (The sync itself was kept: a failed copy never undoes it.)")
    return [*lines, ""]


def sync_alert(settings: NotifySettings, report: Any, copies: Sequence[Problem] = (),
               last_good: str | None = None, stale_hours: float | None = None) -> Alert:
    """The alert for a finished sync (a :class:`exporter.sync.SyncReport`) and the copies
    made after it. ``stale_hours``: how old the data was before this run, when it was stale."""
    problems: list[Problem] = []
    for src in report.sources:
        if src.status == "ok":
            continue
        failed = [s for s in src.streams if s.status != "ok"]
        if src.error:
            problems.append(Problem(src.name, src.error))
        # A stream whose message the source's already says adds nothing but length.
        failed = [s for s in failed if not (src.error and (s.error or "") in src.error)]
        for stream in failed[:_MAX_STREAMS]:
            problems.append(Problem(f"{src.name}, stream {stream.stream}", stream.error or ""))
        if len(failed) > _MAX_STREAMS:
            problems.append(Problem(src.name, f"{len(failed) - _MAX_STREAMS} more streams "
                                    "failed too ('exporter status' and the log list them)."))
    names = ", ".join(s.name for s in report.sources if s.status != "ok")
    copy_events = ("copy_failed",) if copies else ()
    stale = ([f"The archive's newest complete data was already {_age(stale_hours)} old before "
              "this run.", ""] if stale_hours is not None else [])
    if report.status == "failed":
        lead = (f"The nightly sync (run {report.run_id}) on {machine_name()} FAILED: no source "
                f"could be read ({names}), so nothing new was archived. Everything archived "
                "before is still there.")
        return Alert("failure", ("failure", *copy_events),
                     _subject(settings, "last night's sync FAILED"),
                     _body(lead, problems, _SYNC_TODO, last_good, stale + _copy_lines(copies)))
    if report.status == "partial":
        lead = (f"The nightly sync (run {report.run_id}) on {machine_name()} finished "
                f"partially: {names} could not be read completely; everything else was "
                "archived.")
        return Alert("partial", ("partial", *copy_events),
                     _subject(settings, "last night's sync finished partially"),
                     _body(lead, problems, _SYNC_TODO, last_good, stale + _copy_lines(copies)))
    if copies:
        alert = copy_alert(settings, copies, last_good)
        lead = (f"The nightly sync (run {report.run_id}) on {machine_name()} finished and "
                "was archived, but a second copy failed.")
        return Alert(alert.kind, alert.events, alert.subject,
                     _body(lead, [], _COPY_TODO, last_good, _copy_lines(copies)))
    sources = ", ".join(s.name for s in report.sources) or "no sources"
    lead = (f"The nightly sync (run {report.run_id}) on {machine_name()} finished: every "
            f"source was archived ({sources}).")
    return Alert("success", ("success",), _subject(settings, "last night's sync finished"),
                 _body(lead, [], "nothing; this is the nightly all-is-well message.",
                       last_good))


def error_alert(settings: NotifySettings, message: str, last_good: str | None = None) -> Alert:
    """The alert for a sync that could not run at all (the archive would not open, is locked
    by a hung run, the disk is full, the config is wrong): exporter's plain message."""
    lead = (f"The nightly sync on {machine_name()} FAILED before it could read anything: "
            "nothing new was archived. Everything archived before is still there.")
    todo = ("the message above says what to fix; then run 'exporter sync' on that computer "
            "(or wait for tonight's run).")
    return Alert("failure", ("failure",), _subject(settings, "last night's sync FAILED"),
                 _body(lead, [Problem("exporter", message)], todo, last_good))


def copy_alert(settings: NotifySettings, copies: Sequence[Problem],
               last_good: str | None = None) -> Alert:
    """The alert for copies (``exporter copy``) that failed."""
    names = " and ".join(p.what.removeprefix("the copy to ") for p in copies)
    what = f"copy to {names} failed" if len(copies) == 1 else f"copies to {names} failed"
    lead = (f"A second copy of the archive on {machine_name()} could not be made. The archive "
            "itself is fine; only the copy elsewhere is missing or old.")
    return Alert("copy_failed", ("copy_failed",), _subject(settings, what),
                 _body(lead, [], _COPY_TODO, last_good, _copy_lines(copies, after_sync=False)))


def stale_alert(settings: NotifySettings, stale: Sequence[tuple[str, str | None]],
                threshold_hours: float, last_good: str | None = None) -> Alert:
    """The alert for data that has gone stale: ``stale`` is (source, its last good sync)."""
    now = dt.datetime.now(dt.UTC)
    ages = [_age_hours(when, now) for _, when in stale]
    known = [a for a in ages if a is not None]
    what = (f"data is {_age(max(known))} old" if known
            else "the data has never been synced completely")
    lead = (f"No sync on {machine_name()} has finished completely for longer than "
            f"{threshold_hours:g} hours ([archive] stale_after_hours), so the archive is "
            "getting out of date: a cloud outage now would leave the paper care plans behind.")
    problems = [Problem(source, f"last good sync {_time(when)}" + (
        f" ({_age(a)} ago)" if a is not None else "")) for (source, when), a in zip(
            stale, ages, strict=True)]
    return Alert("stale", ("stale",), _subject(settings, what),
                 _body(lead, problems, _STALE_TODO, last_good))


def digest_alert(settings: NotifySettings, what: str, lead: str, lines: Sequence[str],
                 last_good: str | None = None) -> Alert:
    """The weekly digest (its words come from :mod:`exporter.digest`): ``what`` for the
    subject, a lead sentence and the week's lines."""
    todo = ("nothing, if every night was backed up; otherwise run 'exporter status' on that "
            "computer and check that it is on at night.")
    return Alert("digest", ("digest",), _subject(settings, f"weekly summary: {what}"),
                 _body(lead, [], todo, last_good, [*lines, ""]))


def test_alert(settings: NotifySettings, last_good: str | None = None) -> Alert:
    lead = (f"This is a test message from exporter on {machine_name()}. If you can read it, "
            "alert emails work: you will be told here when the nightly sync fails or ends "
            "partially, a copy fails, or the data goes stale.")
    return Alert("test", ("test",), _subject(settings, "test message"),
                 _body(lead, [], "nothing; keep this address watched.", last_good))


# -- the state file (throttle) --------------------------------------------------------------


def state_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".notify.json")


class NotifyState:
    """``archive.db.notify.json``: when the last "stale" alert went out and when the last
    complete sync finished. No secrets and no health data; written 0600 like every file
    beside the archive. A missing or unreadable file counts as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}

    @classmethod
    def for_archive(cls, archive: Path) -> NotifyState:
        return cls(state_path(archive))

    @property
    def last_good_sync(self) -> str | None:
        value = self.data.get("last_good_sync")
        return value if isinstance(value, str) else None

    def stale_due(self, now: dt.datetime | None = None) -> bool:
        """At most one stale alert per calendar day (this computer's)."""
        sent = self.data.get("stale_sent_at")
        if not isinstance(sent, str):
            return True
        try:
            last = dt.datetime.fromisoformat(sent)
        except ValueError:
            return True
        now = now or dt.datetime.now(dt.UTC)
        return now.astimezone().date() != last.astimezone().date()

    def mark_stale_sent(self, now: dt.datetime | None = None) -> None:
        self.data["stale_sent_at"] = (now or dt.datetime.now(dt.UTC)).isoformat()
        self.save()

    def digest_due(self, weekday: int | None, now: dt.datetime | None = None) -> bool:
        """The weekly digest: on ``weekday`` (0 = Monday, this computer's calendar), once per
        week however many runs that day."""
        today = (now or dt.datetime.now(dt.UTC)).astimezone().date()
        if weekday is None or today.weekday() != weekday:
            return False
        return self.data.get("digest_sent_for") != today.isoformat()

    def mark_digest_sent(self, now: dt.datetime | None = None) -> None:
        self.data["digest_sent_for"] = (now or dt.datetime.now(dt.UTC)).astimezone(
            ).date().isoformat()
        self.save()

    def record_good_sync(self, when: str) -> None:
        if self.data.get("last_good_sync") != when:
            self.data["last_good_sync"] = when
            self.save()

    def save(self) -> None:
        from exporter.keys import write_private_file

        try:
            write_private_file(self.path, json.dumps(self.data, indent=1).encode("utf-8"))
        except OSError as exc:  # a full disk must not turn a sent alert into an error
            log.warning("could not write %s: %s", self.path, exc)


# -- staleness ------------------------------------------------------------------------------


def _finished(run: Any) -> str:
    return str(run.finished_at or run.started_at)


def last_good_sync(runs: Sequence[Any]) -> str | None:
    """When the newest sync in which every source synced fully finished (runs newest first)."""
    for run in runs:
        if run.kind == "sync" and run.status == "ok":
            return _finished(run)
    return None


def stale_sources(runs: Sequence[Any], sources: Iterable[str], threshold_hours: float,
                  now: dt.datetime | None = None) -> list[tuple[str, str | None]]:
    """The configured sources with no complete sync for longer than ``threshold_hours``, with
    their last good sync (None: never; counted from the first sync). No runs: nothing yet."""
    syncs = [r for r in runs if r.kind == "sync"]
    if not syncs:
        return []
    now = now or dt.datetime.now(dt.UTC)
    good: dict[str, str] = {}
    for run in syncs:  # newest first
        for source, info in (run.stats.get("sources") or {}).items():
            if source not in good and isinstance(info, dict) and info.get("status") == "ok":
                good[source] = _finished(run)
    first = syncs[-1].started_at
    stale: list[tuple[str, str | None]] = []
    for source in sources:
        when = good.get(source)
        age = _age_hours(when if when is not None else first, now)
        if age is not None and age > threshold_hours:
            stale.append((source, when))
    return stale


# -- sending --------------------------------------------------------------------------------


def build_message(settings: NotifySettings, alert: Alert) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Exporter-Alert"] = alert.kind
    msg.set_content(alert.body)
    return msg


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    text = " ".join(text.split())
    return f"{exc.smtp_code} {text[:200]}"


def resolve_password(settings: NotifySettings) -> str | None:
    if settings.password is None:
        return None
    from exporter.secrets import resolve_secrets

    base = settings.config_path or Path("config.toml")
    return resolve_secrets(base, "notify", {"password": settings.password},
                           ["password"], table="[notify]")["password"]


def tls_context(settings: NotifySettings) -> ssl.SSLContext:
    """How the mail server's certificate is checked: against ``[notify] ca_file`` if set,
    else the system's trust store; the host name is always checked (smtp_host must be a name
    or address the certificate is for). Raises NotifyError if ca_file cannot be used."""
    if settings.ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    except FileNotFoundError:
        raise NotifyError(f"The ca_file {settings.ca_file} in [notify] does not exist; give "
                          "the path of the mail server's CA certificate (a .pem file), or "
                          "leave ca_file out to use the system's trusted certificates.") \
            from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) \
            or type(exc).__name__
        raise NotifyError(f"The ca_file {settings.ca_file} in [notify] is not a CA "
                          f"certificate in PEM form ({reason}); give the mail server's CA "
                          "certificate (a .pem file, text starting with -----BEGIN "
                          "CERTIFICATE-----).") from exc


def _certificate_message(settings: NotifySettings, server: str,
                         exc: ssl.SSLCertVerificationError) -> str:
    reason = f"{server}: {(exc.verify_message or exc.reason or 'not trusted').rstrip('.')}"
    if settings.ca_file is None:
        return (f"The mail server's certificate could not be verified ({reason}): check "
                "smtp_host, or set ca_file for an internal mail server.")
    return (f"The mail server's certificate could not be verified ({reason}): check "
            f"smtp_host, and that ca_file ({settings.ca_file}) is the CA that signed the mail "
            "server's certificate.")


def send(settings: NotifySettings, alert: Alert, timeout: float = TIMEOUT) -> None:
    """Send ``alert`` to the ``[notify]`` recipients. Raises NotifyError (a plain sentence,
    never the password) if the mail server cannot be reached or refuses; ConfigError if the
    password reference cannot be resolved."""
    password = resolve_password(settings)
    msg = build_message(settings, alert)
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    context = tls_context(settings) if settings.security != "none" else None
    try:
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                # Raises SMTPNotSupportedError if STARTTLS is not offered: nothing, and
                # certainly not the password, goes over an unencrypted connection.
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username is not None and password is not None:
                smtp.login(settings.username, password)
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(
            f"The mail server {server} refused the login of {settings.username} ({_reply(exc)}); "
            "check username and password in [notify] (Microsoft 365 needs SMTP AUTH turned on "
            "for that mailbox; Gmail needs an app password).") from exc
    except smtplib.SMTPNotSupportedError as exc:
        if "STARTTLS" in str(exc).upper():
            raise NotifyError(f"The mail server {server} does not offer STARTTLS (a secure "
                              "connection), so nothing was sent, not even the login; check "
                              'smtp_host, smtp_port and security in [notify] (587 goes with '
                              '"starttls", 465 with "tls").') from exc
        raise NotifyError(f"The mail server {server} does not offer a login (AUTH); check "
                          "smtp_host, smtp_port and security in [notify].") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise NotifyError(f"The mail server {server} refused the address(es) {refused}; check "
                          "to in [notify].") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise NotifyError(f"The mail server {server} refused the sender {settings.sender} "
                          f"({_reply(exc)}); the from address in [notify] must be one the "
                          "login may send as.") from exc
    except smtplib.SMTPServerDisconnected:
        raise NotifyError(f"The mail server {server} closed the connection before the alert "
                          "was sent; check smtp_port and security in [notify] (587 goes with "
                          '"starttls", 465 with "tls").') from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(f"The mail server {server} refused the alert ({_reply(exc)}).") \
            from exc
    except smtplib.SMTPException as exc:
        raise NotifyError(f"The mail server {server} could not take the alert "
                          f"({type(exc).__name__}).") from exc
    except ssl.SSLCertVerificationError as exc:
        raise NotifyError(_certificate_message(settings, server, exc)) from exc
    except ssl.SSLError as exc:
        raise NotifyError(f"The secure connection to the mail server {server} failed "
                          f"({exc.reason or type(exc).__name__}); check smtp_port and security "
                          'in [notify]: 587 goes with "starttls", 465 with "tls".') from exc
    except TimeoutError:
        raise NotifyError(f"The mail server {server} did not answer within {timeout:g} "
                          "seconds; check smtp_host and smtp_port in [notify] and that this "
                          "computer may reach it (a firewall may block the port).") from None
    except socket.gaierror:
        raise NotifyError(f"The mail server name {settings.smtp_host} is not known; check "
                          "smtp_host in [notify] and the computer's internet connection.") \
            from None
    except OSError as exc:
        raise NotifyError(f"The mail server {server} could not be reached "
                          f"({exc.strerror or type(exc).__name__}); check smtp_host and "
                          "smtp_port in [notify] and the internet connection.") from exc
    log.info("alert email %r sent to %s through %s", alert.kind, ", ".join(settings.to), server)
