"""Progress for long work: bars at a terminal; otherwise nothing until the end, when the
summary line and one line per changed stream are printed (so the mail cron sends, or Task
Scheduler's history, stays short and readable)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from exporter.sync import NullProgress, StreamReport

__all__ = ["LineProgress", "RichProgress", "progress_for"]


class LineProgress(NullProgress):
    """Not at a terminal (cron, Task Scheduler): nothing while the sync runs; the summary
    line, then one line per stream that changed, come at the end (``ConsoleEvents``)."""

    def __init__(self, console: Console) -> None:
        self.console = console


class RichProgress(LineProgress):
    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed:,} records"), TimeElapsedColumn(),
                            console=console, transient=False)
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def stream_started(self, source: str, stream: str) -> None:
        self.tasks[(source, stream)] = self.bar.add_task(f"{source} {stream}", total=None)

    def advanced(self, source: str, stream: str, records: int) -> None:
        self.bar.advance(self.tasks[(source, stream)], records)

    def stream_finished(self, report: StreamReport) -> None:
        task = self.tasks.get((report.source, report.stream))
        if task is not None:
            self.bar.update(task, total=self.bar.tasks[task].completed or 1,
                            completed=self.bar.tasks[task].completed or 1)
        if report.status != "ok":
            self.bar.console.print(report.summary(), markup=False)


@contextmanager
def progress_for(console: Console) -> Iterator[NullProgress]:
    if console.is_terminal:
        rich = RichProgress(console)
        with rich.bar:
            yield rich
    else:
        yield LineProgress(console)
