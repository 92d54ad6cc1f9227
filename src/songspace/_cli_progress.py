"""The CLI's one adapter from :class:`songspace.progress.ProgressCallback` to rich progress bars.

Library functions and models report ``progress(done, total, message)``; only the command
line turns that into a bar (description, bar, done/total, elapsed time and an estimate of
the time remaining) on stderr. Nothing in the library imports this module.

One callback keeps one bar. When the work it reports starts over (``done`` goes down or
``total`` changes: the next model, the next study, the next stage), the bar is started
afresh, so the time estimate is always that of the current piece of work. ``total`` 0
shows a bar without an end (work of unknown size). An exception raised by the callback
(there are none here) would propagate to the library call, as the protocol says.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichBar:
    """A ProgressCallback that drives one task (one bar) of a rich Progress."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self._label = label
        self._task: TaskID | None = None
        self._done = 0.0
        self._total: float | None = None

    def relabel(self, label: str) -> None:
        """Prefix the following messages with ``label`` (e.g. the next model's name)."""
        self._label = label

    def _description(self, message: str) -> str:
        if self._label and message:
            return escape(f"{self._label}: {message}")
        return escape(self._label or message)

    def __call__(self, done: float, total: float, message: str, /) -> None:
        size = float(total) if total and total > 0 else None
        description = self._description(message)
        if self._task is None or done < self._done or size != self._total:
            # New (or restarted) work: a fresh task, so that speed and ETA are its own.
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(description, total=size)
        self._progress.update(self._task, completed=done, description=description)
        self._done, self._total = float(done), size


class RichProgress:
    """Context manager showing progress bars on ``console`` while the block runs.

    ``callback(label)`` returns a :class:`~songspace.progress.ProgressCallback` feeding one
    bar (messages prefixed by ``label``), or None when disabled, so that the library does no
    reporting work at all.
    Bars are transient: they disappear when the block ends.
    """

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self) -> RichProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def callback(self, label: str = "") -> RichBar | None:
        """A callback for one bar, or None when progress display is off."""
        if self._progress is None:
            return None
        return RichBar(self._progress, label)


__all__ = ["RichBar", "RichProgress"]
