"""The nightly job and its rules, as a library: the sync, then the copies, then the alert.

``exporter sync`` (run by cron or Task Scheduler) calls :func:`run_nightly`; ``exporter copy``
calls :func:`run_copies`; ``status`` calls :func:`alert_stale`; ``check`` calls
:func:`readiness`. The CLI only parses, calls and prints: what happens along the way reaches
it through a :class:`Events` object, and nothing here prints.

The rules:

1. Every configured source is synced in one run (:func:`exporter.sync.run_sync`); one failing
   source, or one whose config is wrong (an unset variable, an unreadable keyring, a missing
   key file, a misspelt key), never stops the others: the run ends ``partial`` (exit 11), or
   ``failed`` (12) if every source failed.
   A wrong ``[[copies]]`` or ``[notify]`` table is reported and skipped the same way (the
   config is loaded with ``set_aside``); the run then ends ``partial`` too.
2. After an ``ok`` or ``partial`` run, and still under the archive's write lock, the care
   plans that changed are rendered and stored (:func:`prerender_plans`; a failure there is a
   warning, never a failed sync), then every ``[[copies]]`` with ``after_sync = true`` is
   made, so each copy holds exactly what this run archived, its care plans too. A failed
   copy keeps the sync; if the sync itself was ``ok``, the exit is 14.
3. The alert email goes after the lock is released (a slow mail server holds nothing), at
   most one for the run. An alert that cannot be sent is an event and a log line, never a
   changed exit code or lost work.
4. A run that stops before it can finish (the config, the key, a full disk) is alerted with
   exporter's plain message, then raised for the CLI to exit with its code. Not alerted as
   a failure: a run refused by the lock (the run holding it reports; only data gone stale
   is mailed) and a ``--source`` name that is not configured (a typing mistake at the
   keyboard, said on the screen).
5. With ``[notify] ping_url``, the run pings the monitor at its start, and at its end a
   success, or a failure with the summary line (:mod:`exporter.heartbeat`).
6. With ``[notify] digest_weekday``, the first run on that day that opens the archive also
   mails the weekly digest (:mod:`exporter.digest`), after the run's own alert; once a week.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from exporter import errors
from exporter.config import Config, CopyTarget
from exporter.errors import exit_code_for

if TYPE_CHECKING:
    from exporter.archive import Archive
    from exporter.careplan.stored import PrerenderResult
    from exporter.copies_base import CopyResult
    from exporter.keys import Credential
    from exporter.notify import Alert, Problem
    from exporter.sync import Progress, SyncReport

__all__ = [
    "EXIT_COPY_FAILED",
    "EXIT_SYNC_FAILED",
    "EXIT_SYNC_PARTIAL",
    "Events",
    "LogEvents",
    "NightlyResult",
    "alert_stale",
    "choose_copies",
    "copy_label",
    "make_copies",
    "open_destination",
    "prerender_plans",
    "readiness",
    "run_copies",
    "run_nightly",
    "send_alert",
]

log = logging.getLogger("exporter.nightly")

EXIT_SYNC_PARTIAL = 11
EXIT_SYNC_FAILED = 12
EXIT_COPY_FAILED = 14

#: (bytes done, bytes in all) while a copy is written.
CopyProgress = Callable[[int, int], None]
#: (care plans stored, care plans to render) while the plans that changed are rendered.
RenderProgress = Callable[[int, int], None]


class Events(Protocol):
    """What the nightly job tells its caller as it goes (the CLI prints it)."""

    def sync_finished(self, report: SyncReport) -> None: ...
    def copy_progress(self, label: str) -> contextlib.AbstractContextManager[
        CopyProgress | None]: ...
    def copy_made(self, target: CopyTarget, result: CopyResult) -> None: ...
    def copy_failed(self, target: CopyTarget, exc: errors.ExporterError) -> None: ...
    def alert_sent(self, alert: Alert, to: Sequence[str]) -> None: ...
    def alert_not_sent(self, alert: Alert, why: str) -> None: ...
    def setting_skipped(self, what: str, why: str) -> None: ...
    def render_progress(self) -> contextlib.AbstractContextManager[RenderProgress | None]: ...
    def plans_rendered(self, result: PrerenderResult) -> None: ...
    def plans_not_rendered(self, why: str) -> None: ...


class LogEvents:
    """Events written to the log only (for callers with no screen)."""

    def sync_finished(self, report: SyncReport) -> None:
        log.info("sync run %s ended %s", report.run_id, report.status)

    @contextlib.contextmanager
    def copy_progress(self, label: str) -> Iterator[CopyProgress | None]:
        yield None

    def copy_made(self, target: CopyTarget, result: CopyResult) -> None:
        log.info("copy to %s: %s", target.where, result.folder)

    def copy_failed(self, target: CopyTarget, exc: errors.ExporterError) -> None:
        log.warning("copy to %s failed: %s", target.where, exc)

    def alert_sent(self, alert: Alert, to: Sequence[str]) -> None:
        log.info("alert email %r sent", alert.kind)

    def alert_not_sent(self, alert: Alert, why: str) -> None:
        log.warning("alert email %r not sent: %s", alert.kind, why)

    def setting_skipped(self, what: str, why: str) -> None:
        log.warning("%s skipped: %s", what, why)

    @contextlib.contextmanager
    def render_progress(self) -> Iterator[RenderProgress | None]:
        yield None

    def plans_rendered(self, result: PrerenderResult) -> None:
        log.info("care plans rendered: %d (%d unchanged)", result.rendered, result.unchanged)

    def plans_not_rendered(self, why: str) -> None:
        log.warning("care plans not rendered ahead: %s", why)


@dataclass
class NightlyResult:
    """What a nightly job did: the sync's report, the exit codes of failed copies and how
    many [[copies]] or [notify] tables were skipped as wrong (the run then ends partial)."""

    report: SyncReport
    copy_failures: list[int] = field(default_factory=list)
    skipped_settings: int = 0
    digest: Alert | None = None  # the weekly digest, when it is due (sent after the lock)

    @property
    def exit_code(self) -> int:
        if self.report.status == "partial" or (self.skipped_settings
                                               and self.report.status == "ok"):
            return EXIT_SYNC_PARTIAL
        if self.report.status == "failed":
            return EXIT_SYNC_FAILED
        return EXIT_COPY_FAILED if self.copy_failures else 0


# -- alerts ---------------------------------------------------------------------------------


def copy_label(target: CopyTarget) -> str:
    """How an alert names a copy: its name, or the folder's last part for an ad-hoc folder."""
    if target.path is not None and target.name == str(target.path):
        return target.path.name or target.name
    return target.name


def send_alert(config: Config, alert: Alert, events: Events) -> bool:
    """Send ``alert`` if [notify] asks for it. A mail that cannot be sent is logged and
    reported as an event: it never changes the command's exit code or loses its work."""
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or not alerts.wanted(settings, alert):
        return False
    try:
        alerts.send(settings, alert)
    except errors.ExporterError as exc:
        log.warning("alert email %r not sent: %s: %s", alert.kind, type(exc).__name__, exc)
        events.alert_not_sent(alert, str(exc))
        return False
    except Exception as exc:  # never lose a sync for a mail
        log.error("alert email %r not sent\n%s", alert.kind, traceback.format_exc())
        events.alert_not_sent(alert, f"{type(exc).__name__}; the details are in the log file")
        return False
    events.alert_sent(alert, settings.to)
    return True


def _alert_after_sync(config: Config, report: SyncReport, problems: list[Problem],
                      stale: list[tuple[str, str | None]], last_good: str | None,
                      events: Events) -> None:
    """One alert for the run (its outcome and the copies after it); a stale-data alert only
    when the run's own alert is not wanted, at most once a day."""
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
        if send_alert(config, alert, events) and stale:
            state.mark_stale_sent()  # that mail said how old the data is: no second one today
    elif stale and report.status != "ok":
        alert_stale(config, stale, last_good, events)


def alert_stale(config: Config, stale: list[tuple[str, str | None]], last_good: str | None,
                events: Events) -> None:
    """The stale-data alert (no complete sync for ``stale_after_hours``), at most once a day."""
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or "stale" not in settings.on:
        return
    state = alerts.NotifyState.for_archive(config.archive)
    if not state.stale_due():
        log.info("stale-data alert already sent today; not sending another")
        return
    if send_alert(config, alerts.stale_alert(settings, stale, config.stale_after_hours,
                                             last_good or state.last_good_sync), events):
        state.mark_stale_sent()


def _alert_stale_if_due(config: Config, events: Events) -> None:
    """The stale-data alert when the last good sync (as recorded beside the archive) is
    older than ``stale_after_hours``; for a run that could not open the archive."""
    from exporter import notify as alerts

    if config.notify is None:
        return
    last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
    hours = alerts.hours_since(last_good)
    if last_good is None or hours is None or hours <= config.stale_after_hours:
        return  # fresh, or not known here (no false alarm): `status` tells
    alert_stale(config, [(name, last_good) for name in config.sources], last_good, events)


def _alert_sync_error(config: Config, message: str, events: Events) -> None:
    """The alert for a sync that stopped before it could finish: exporter's plain message."""
    from exporter import notify as alerts

    if config.notify is None:
        return
    last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
    send_alert(config, alerts.error_alert(config.notify, message, last_good), events)


# -- copies ---------------------------------------------------------------------------------


def open_destination(target: CopyTarget) -> Any:
    """The folder, or the object store with its secrets resolved now (not before: a missing
    variable for a store must not break other commands)."""
    if target.url:
        from exporter.copies import open_store

        return open_store(target)
    return target.path


def make_copies(archive: Archive, credential: Credential, targets: list[CopyTarget],
                events: Events, opened: dict[str, Any] | None = None,
                problems: list[Problem] | None = None) -> list[int]:
    """Make each copy of the open ``archive``; returns the exit codes of those that failed
    (and adds each failure to ``problems``, for the alert email)."""
    from exporter.copies import make_copy
    from exporter.notify import Problem

    failures = []
    for target in targets:
        try:
            dest = (opened or {}).get(target.name) or open_destination(target)
            with events.copy_progress(f"copying to {target.name}") as progress:
                result = make_copy(archive, credential, dest, keep=target.retention,
                                   progress=progress)
        except errors.ExporterError as exc:
            log.warning("copy to %s: %s: %s", target.where, type(exc).__name__, exc)
            events.copy_failed(target, exc)
            failures.append(exit_code_for(exc))
            if problems is not None:
                problems.append(Problem(f"the copy to {copy_label(target)}", str(exc)))
            continue
        events.copy_made(target, result)
    return failures


def choose_copies(config: Config, to: str | None) -> list[CopyTarget]:
    """The copies ``exporter copy --to TO`` means: every configured one (None), one by name or
    store url, or any folder (a configured folder given by its path keeps its settings)."""
    if to is None:
        if not config.copies:
            raise errors.ConfigError(
                f"No copies are configured in {config.path}: add a [[copies]] table with the "
                "folder to copy to (see README), or give a folder with --to.")
        return list(config.copies)
    for target in config.copies:
        if target.name == to:
            return [target]
    if to.startswith("s3://"):  # a store's keys live in the config: it must be configured
        for target in config.copies:
            if target.url == to.rstrip("/"):
                return [target]
        raise errors.ConfigError(
            f"{to} is not a configured copy in {config.path}: add a [[copies]] table with "
            "url, endpoint_url, access_key_id and secret_access_key for it (see README).")
    folder = Path(to).expanduser()
    if not folder.exists() and not any(sep in to for sep in ("/", "\\", ":")):
        names = ", ".join(t.name for t in config.copies) or "none"
        raise errors.ConfigError(f"There is no copy named '{to}' in {config.path} (configured: "
                                 f"{names}), and no folder '{to}' here.")
    folder = folder.resolve()
    for target in config.copies:  # a configured folder given by its path keeps its settings
        if target.path == folder:
            return [target]
    return [CopyTarget(name=str(folder), path=folder)]


def run_copies(config: Config, unlock: Callable[[], Credential], targets: list[CopyTarget],
               events: Events) -> list[int]:
    """``exporter copy``: each destination checked before the archive is unlocked (a missing
    disk touches nothing), the copies made under the write lock, one alert for the failures.
    Returns the exit codes of the copies that failed."""
    from exporter import notify as alerts
    from exporter.archive import Archive
    from exporter.copies import check_destination

    failures: list[int] = []
    problems: list[Problem] = []
    reachable = []
    opened: dict[str, Any] = {}
    for target in targets:
        try:
            dest = open_destination(target)
            check_destination(dest)
            opened[target.name] = dest
            reachable.append(target)
        except errors.ExporterError as exc:
            log.warning("copy to %s: %s", target.where, exc)
            events.copy_failed(target, exc)
            failures.append(exit_code_for(exc))
            problems.append(alerts.Problem(f"the copy to {copy_label(target)}", str(exc)))
    if reachable:
        credential = unlock()
        with Archive.open(config.archive, credential, write=True, pin=config.pin,
                      highwater_path=config.highwater_path) as archive:
            failures += make_copies(archive, credential, reachable, events, opened, problems)
    if problems and config.notify is not None:
        last_good = alerts.NotifyState.for_archive(config.archive).last_good_sync
        send_alert(config, alerts.copy_alert(config.notify, problems, last_good), events)
    return failures


# -- the nightly job ----------------------------------------------------------------------------


def run_nightly(config: Config, unlock: Callable[[], Credential], *,
                sources: Sequence[str] = (), full: bool = False,
                progress: Progress | None = None, events: Events | None = None
                ) -> NightlyResult:
    """The nightly job: sync, copies, alert (the rules in this module's docstring). ``unlock``
    gives the credential (it may prompt); ``sources`` limits the sync to those sources. An
    error that stops the job is alerted, then raised."""
    from exporter.heartbeat import ping
    from exporter.sources import selected_sources

    events = events or LogEvents()
    selected_sources(config, sources)  # a mistyped --source is the typist's: no alert
    beat = config.notify.ping_url if config.notify else None
    ping(beat, "start")
    try:
        result, after = _sync_and_copy(config, unlock, sources, full, progress, events)
    except errors.ArchiveLocked:
        # Another run is writing: that run reports. Only data gone stale (a hung run
        # holding the lock for days) is worth a mail.
        _alert_stale_if_due(config, events)
        ping(beat, "fail", "Refused: another exporter run is writing to the archive.")
        raise
    except errors.ExporterError as exc:
        _alert_sync_error(config, str(exc), events)
        ping(beat, "fail", f"The sync FAILED before it could read anything: {exc}")
        raise
    except Exception as exc:  # a bug: say so in the mail too (the details stay in the log)
        _alert_sync_error(config, f"exporter hit an unexpected problem "
                          f"({type(exc).__name__}); the details are in its log file.", events)
        ping(beat, "fail", f"exporter hit an unexpected problem ({type(exc).__name__}).")
        raise
    if config.notify is not None:  # after the lock is released: a slow mail server holds nothing
        _alert_after_sync(config, result.report, *after, events)
        if result.digest is not None and send_alert(config, result.digest, events):
            from exporter.notify import NotifyState

            NotifyState.for_archive(config.archive).mark_digest_sent()
    ping(beat, "fail" if result.exit_code else "", result.report.summary())
    return result


def _sync_and_copy(config: Config, unlock: Callable[[], Credential], sources: Sequence[str],
                   full: bool, progress: Progress | None, events: Events
                   ) -> tuple[NightlyResult, tuple[Any, Any, Any]]:
    """The sync and the copies after it, under the write lock; also what the alert needs
    (the copies' problems, the sources stale before the run, the last good sync)."""
    from exporter import notify as alerts
    from exporter.archive import Archive
    from exporter.sources import build_each
    from exporter.sync import run_sync

    connectors, unusable = build_each(config, sources)
    every = float(config.raw.get("sync", {}).get("reconcile_every_days", 7))
    every_runs = int(config.raw.get("sync", {}).get("reconcile_every_runs", 7))
    share = float(config.raw.get("sync", {}).get("max_delete_share", 0.5))
    workers = str(config.raw.get("sync", {}).get("workers", "processes"))
    credential = unlock()
    problems = [alerts.Problem(what, why) for what, why in config.set_aside]
    for what, why in config.set_aside:
        events.setting_skipped(what, why)
    with Archive.open(config.archive, credential, write=True, pin=config.pin,
                      highwater_path=config.highwater_path) as archive:
        # Checked before the run: if this run fails too, its alert says how old the data is.
        stale = alerts.stale_sources(archive.runs(), list(config.sources),
                                     config.stale_after_hours) if config.notify else []
        report = run_sync(archive, connectors, full=full, reconcile_every_days=every,
                          reconcile_every_runs=every_runs,
                          max_delete_share=share, progress=progress, unusable=unusable,
                          workers=workers)
        events.sync_finished(report)
        result = NightlyResult(report, skipped_settings=len(config.set_aside))
        if report.status in ("ok", "partial"):
            prerender_plans(config, archive, events)
            # Still under the write lock: the copies hold exactly what this sync archived.
            result.copy_failures = make_copies(
                archive, credential, [t for t in config.copies if t.after_sync], events,
                problems=problems)
        last_good = alerts.last_good_sync(archive.runs())
        result.digest = _digest_if_due(config, archive, last_good)
    if last_good is not None:
        # Kept beside the archive whether or not [notify] is set: a later alert from a run
        # that cannot open the archive must still know it (not "none recorded yet").
        alerts.NotifyState.for_archive(config.archive).record_good_sync(last_good)
    return result, (problems, stale, last_good)


def _digest_if_due(config: Config, archive: Archive, last_good: str | None) -> Alert | None:
    """The weekly digest, if today is its day and it has not gone out yet."""
    from exporter import notify as alerts

    settings = config.notify
    if settings is None or not alerts.NotifyState.for_archive(config.archive).digest_due(
            settings.digest_weekday):
        return None
    from exporter.digest import week_digest, week_of

    today = dt.datetime.now().astimezone().date()
    week = week_of(archive.runs(), archive.size_bytes(), archive.audit_entries("copy"), today)
    digest: Alert = week_digest(settings, week, last_good)
    return digest


# -- care plans rendered ahead of need ---------------------------------------------------------


def prerender_plans(config: Config, archive: Archive, events: Events) -> None:
    """After a successful sync, before the copies (so they hold the plans too): the care
    plans that changed, rendered and stored (:mod:`exporter.careplan.stored`). Never fails
    the sync: a problem is a warning and a log line, and print then lays plans out live."""
    import os

    try:
        from exporter.careplan.stored import configured_definition, prerender

        definition = configured_definition(config)
        client_stream = tuple(definition.client.stream.split("/", 1))
        if client_stream not in archive.streams():
            log.info("no care-plan clients in this archive (%s): nothing to render",
                     definition.client.stream)
            return
        with events.render_progress() as progress:
            result = prerender(archive, definition, workers=os.cpu_count() or 1,
                               progress=progress)
    except errors.ExporterError as exc:
        log.warning("care plans not rendered ahead: %s: %s", type(exc).__name__, exc)
        events.plans_not_rendered(str(exc))
        return
    except Exception as exc:  # never lose a sync for a care plan
        log.error("care plans not rendered ahead\n%s", traceback.format_exc())
        events.plans_not_rendered(f"exporter hit an unexpected problem ({type(exc).__name__}); "
                                  "the details are in its log file")
        return
    log.info("care plans rendered: %d, unchanged: %d, removed: %d, in %.1f s",
             result.rendered, result.unchanged, result.removed, result.seconds)
    events.plans_rendered(result)


# -- is tonight's job ready? -------------------------------------------------------------------


def readiness(config: Config) -> Iterator[tuple[str, bool, str]]:
    """(what, ok, one sentence) for the parts of the nightly job beyond the sources: the key
    file, each copy destination, the alert-email settings. Writes and sends nothing."""
    from exporter.keys import KeyFile, KeySlots, slots_path_for

    if config.key_file is not None:
        try:
            KeySlots.load(slots_path_for(config.archive)).unlock(KeyFile(config.key_file))
            yield "key file", True, f"{config.key_file} unlocks the archive"
        except errors.ExporterError as exc:
            yield "key file", False, str(exc)
    for target in config.copies:
        yield _copy_ready(target)
    if config.notify is not None:
        from exporter.notify import resolve_password, tls_context

        try:
            resolve_password(config.notify)
            if config.notify.ca_file is not None:
                tls_context(config.notify)  # a ca_file that cannot be used is found now
            yield "alert email", True, (f"settings complete, to {', '.join(config.notify.to)} "
                                        "(run 'exporter notify --test' to send a test message)")
        except errors.ExporterError as exc:
            yield "alert email", False, str(exc)


def _copy_ready(target: CopyTarget) -> tuple[str, bool, str]:
    from exporter.copies import check_destination

    what = f"copy {target.name}"
    try:
        dest = open_destination(target)
        check_destination(dest)
        if isinstance(dest, Path):
            with tempfile.NamedTemporaryFile(dir=dest, prefix=".exporter-check-"):
                pass
            return what, True, f"the folder {dest} is there and can be written to"
        return what, True, f"{dest.url} answers to its keys"
    except errors.ExporterError as exc:
        return what, False, str(exc)
    except OSError as exc:
        return what, False, (f"the folder {target.path} cannot be written to "
                             f"({exc.strerror or exc}).")
