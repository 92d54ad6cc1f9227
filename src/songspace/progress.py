"""The one progress protocol of songspace's library functions and models.

A progress callback is any callable ``progress(done, total, message)``: ``done`` out of
``total`` units of work (``done`` may be fractional, e.g. within an epoch), and a short
message naming the stage; ``total`` 0 means the amount of work is not known in advance
(e.g. a file read in chunks). Library functions and ``EmbeddingModel.fit`` take it as a keyword
argument, ``progress: ProgressCallback | None = None``; they never take a bool and never
read it from an attribute set from outside.

An exception raised by the callback stops the work and propagates to the caller: the tuning
time budget stops a trial that way. Only the CLI turns a callback into a rich progress bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Protocol, TypeVar

T = TypeVar("T")


class ProgressCallback(Protocol):
    """``progress(done, total, message)``; see the module docstring."""

    def __call__(self, done: float, total: float, message: str, /) -> None: ...


def report(progress: ProgressCallback | None, done: float, total: float, message: str) -> None:
    """Call ``progress(done, total, message)`` when a callback is given."""
    if progress is not None:
        progress(done, total, message)


def track(
    items: Iterable[T],
    progress: ProgressCallback | None,
    message: str,
    *,
    total: int | None = None,
) -> Iterator[T]:
    """Yield ``items``, reporting ``(i, total, message)`` after each (and ``0`` before the first).

    ``total`` defaults to ``len(items)`` for a sized iterable, else 0 (unknown). Without a
    callback the items pass through untouched.
    """
    if progress is None:
        yield from items
        return
    if total is None:
        total = len(items) if isinstance(items, Sized) else 0
    progress(0, total, message)
    for i, item in enumerate(items, 1):
        yield item
        progress(i, total, message)


def labelled(progress: ProgressCallback | None, label: str) -> ProgressCallback | None:
    """``progress`` with every message prefixed by ``label: `` (None stays None)."""
    if progress is None:
        return None
    inner = progress

    def prefixed(done: float, total: float, message: str, /) -> None:
        inner(done, total, f"{label}: {message}" if message else label)

    return prefixed


__all__ = ["ProgressCallback", "labelled", "report", "track"]
