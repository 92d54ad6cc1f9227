"""Slices of a dataset in an order: a base and the days that follow it (``songspace slice``).

An update (``songspace update``, docs/updates.md) takes a day's new sequences as a
dataset of its own. This module cuts one dataset into such parts: it orders the
sequences (:func:`sequence_order`), and :func:`slice_dataset` keeps those at the
positions ``[start, stop)`` of that order, as shares of the sequence count, on the
vocabulary of the tracks they hold (:func:`songspace.data.vocabulary.occurring_only`),
as a dataset prepared from those sequences alone would hold them. Consecutive slices
of one order (``[0, 0.8)``, ``[0.8, 0.85)``, ...) partition the sequences: position
``p`` of ``n`` sequences is in ``[start, stop)`` when ``floor(start * n) <= p <
floor(stop * n)``.

Orders (:data:`SEQUENCE_ORDERS`):

- ``stored``: the order the dataset stores its sequences in;
- ``time``: by each sequence's newest entry timestamp, oldest first (ties keep the
  stored order); the dataset must have timestamps (Melon's ``updt_date``, session
  logs);
- ``seeded``: a seeded random permutation (for data without time: not temporal).

A caller with its own notion of time (e.g. each user's line rank) passes a key per
sequence instead of a name.
"""

from __future__ import annotations

import math

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.data.defaults import SEQUENCE_ORDERS
from songspace.data.vocabulary import occurring_only
from songspace.errors import ParameterError

__all__ = ["SEQUENCE_ORDERS", "sequence_order", "slice_dataset", "slice_positions"]


def sequence_order(ds: Dataset, by: str | np.ndarray = "stored", *, seed: int = 0) -> np.ndarray:
    """Sequence indices of ``ds``, first to last in the order ``by``: a name of
    :data:`SEQUENCE_ORDERS`, or one sortable key per sequence (stable: ties keep the
    stored order). ``seed`` draws the ``seeded`` order."""
    n = ds.n_sequences
    if not isinstance(by, str):
        key = np.asarray(by)
        if key.shape != (n,):
            raise ParameterError("by", f"one key per sequence ({n})", f"shape {key.shape}")
        return np.argsort(key, kind="stable").astype(np.int64)
    if by == "stored":
        return np.arange(n, dtype=np.int64)
    if by == "seeded":
        return check_seed(seed).permutation(n).astype(np.int64)
    if by == "time":
        return np.argsort(_newest_timestamps(ds), kind="stable").astype(np.int64)
    raise ParameterError("by", f"one of {list(SEQUENCE_ORDERS)} or a key per sequence", by)


def _newest_timestamps(ds: Dataset) -> np.ndarray:
    """Each sequence's newest entry timestamp (an error when the dataset has none)."""
    if ds.timestamps is None:
        raise ParameterError(
            "by",
            "an order the dataset supports ('time' needs entry timestamps)",
            "time",
            fix="order by 'seeded' (not temporal) or 'stored', or prepare the dataset from a "
            "source with timestamps",
        )
    lengths = ds.lengths
    starts = np.asarray(ds.indptr[:-1])[lengths > 0]
    newest = np.full(ds.n_sequences, np.iinfo(np.int64).min, dtype=np.int64)
    newest[lengths > 0] = np.maximum.reduceat(np.asarray(ds.timestamps, np.int64), starts)
    return newest


def slice_positions(n: int, start: float, stop: float) -> slice:
    """The positions ``[floor(start * n), floor(stop * n))`` of an order of ``n``
    sequences; shares in ``[0, 1]`` with ``start < stop``."""
    for name, v in (("start", start), ("stop", stop)):
        if not (isinstance(v, int | float) and 0 <= v <= 1):
            raise ParameterError(name, "a share of the sequences in [0, 1]", v)
    if start >= stop:
        raise ParameterError("stop", f"`stop > start` ({start})", stop)
    return slice(math.floor(start * n), math.floor(stop * n))


def slice_dataset(
    ds: Dataset,
    start: float,
    stop: float,
    *,
    by: str | np.ndarray = "stored",
    seed: int = 0,
) -> Dataset:
    """The sequences at positions ``[start, stop)`` (shares) of ``ds``'s order ``by``,
    in that order, on the vocabulary of the tracks they hold (in ``ds``'s track order;
    the popularity feature counts these sequences only). An empty slice is an error."""
    order = sequence_order(ds, by, seed=seed)
    chosen = order[slice_positions(len(order), start, stop)]
    if not len(chosen):
        raise ParameterError(
            "stop",
            f"a slice holding at least one of the {len(order)} sequences",
            f"[{start}, {stop})",
            fix="widen the slice",
        )
    label = by if isinstance(by, str) else "key"
    sub = ds.subset(chosen, name=f"{label}[{start:g}:{stop:g}]")
    sub.source = {**sub.source, "slice": {"by": label, "start": start, "stop": stop}}
    if label == "seeded":
        sub.source["slice"]["seed"] = seed
    return occurring_only(sub)
