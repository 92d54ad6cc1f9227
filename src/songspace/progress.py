"""The one progress protocol of songspace's library functions and models.

A progress callback is any callable ``progress(done, total, message)``: ``done`` out of
``total`` units of work (``done`` may be fractional, e.g. within an epoch), and a short
message naming the stage. Library functions and ``EmbeddingModel.fit`` take it as a keyword
argument, ``progress: ProgressCallback | None = None``; they never take a bool and never
read it from an attribute set from outside.

An exception raised by the callback stops the work and propagates to the caller: the tuning
time budget stops a trial that way. Only the CLI turns a callback into a rich progress bar.
"""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    """``progress(done, total, message)``; see the module docstring."""

    def __call__(self, done: float, total: float, message: str, /) -> None: ...


def report(progress: ProgressCallback | None, done: float, total: float, message: str) -> None:
    """Call ``progress(done, total, message)`` when a callback is given."""
    if progress is not None:
        progress(done, total, message)


__all__ = ["ProgressCallback", "report"]
