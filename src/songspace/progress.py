"""The one progress protocol of songspace's library functions and models.

A progress callback is any callable ``progress(done, total, message)``: ``done`` out of
``total`` units of work (``done`` may be fractional, e.g. within an epoch), and a short
message naming the stage; ``total`` 0 means the amount of work is not known in advance
(e.g. a file read in chunks). Library functions and ``EmbeddingModel.fit`` take it as a keyword
argument, ``progress: ProgressCallback | None = None``; they never take a bool and never
read it from an attribute set from outside.

An exception raised by the callback stops the work and propagates to the caller: the tuning
time budget stops a trial that way. Only the CLI turns a callback into a rich progress bar.

Epoch hook
    A model that trains in epochs and can hand out its vectors between them looks the hook
    up with :func:`epoch_hook`: when the callback given to ``fit`` is an
    :class:`EpochProgressCallback`, i.e. it also has a method
    ``epoch_end(epoch, embeddings, available)``, the model calls it after each epoch with
    the vectors so far (multi-fidelity tuning scores them, ``songspace.tuning``). An
    exception it raises stops training and propagates from ``fit``, like one raised by the
    callback itself. Track2Vec calls it; other models ignore it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:  # numpy only for the hints: this module stays import-free
    import numpy as np

T = TypeVar("T")

#: ``epoch_end(epoch, embeddings, available)``: the epoch hook, as a plain callable.
EpochHook = Callable[[int, "np.ndarray", "np.ndarray"], None]


class ProgressCallback(Protocol):
    """``progress(done, total, message)``; see the module docstring."""

    def __call__(self, done: float, total: float, message: str, /) -> None: ...


@runtime_checkable
class EpochProgressCallback(ProgressCallback, Protocol):
    """A progress callback that also takes the vectors after each epoch (module docstring).

    ``epoch_end(epoch, embeddings, available)``: ``epoch`` counts from 1, ``embeddings``
    is the (n_tracks, dim) array so far, ``available`` the boolean mask of the rows that
    hold a vector. Models look it up with :func:`epoch_hook`.
    """

    def epoch_end(self, epoch: int, embeddings: np.ndarray, available: np.ndarray, /) -> None: ...


def epoch_hook(progress: ProgressCallback | None) -> EpochHook | None:
    """``progress.epoch_end`` when ``progress`` is an :class:`EpochProgressCallback`, else None."""
    if isinstance(progress, EpochProgressCallback):
        return progress.epoch_end
    return None


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


__all__ = [
    "EpochHook",
    "EpochProgressCallback",
    "ProgressCallback",
    "epoch_hook",
    "labelled",
    "report",
    "track",
]
