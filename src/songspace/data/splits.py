"""Deterministic splits (SPEC §1).

- sequences 98/1/1 into train / validation / test (W2V paper §3);
- the playlist-completion test set: held-out playlists with at least 40 distinct
  tracks (MUSIG §4.1); we never train on them;
- a cold-start split: a random share of tracks whose every occurrence is hidden
  from training, so inductive models can be scored on tracks they never saw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.data.defaults import (
    DEFAULT_COLD_SHARE,
    DEFAULT_FRACTIONS,
    DEFAULT_MIN_TRACKS,
    DEFAULT_TEST_FRACTION,
    MAX_AUTO_TEST_FRACTION,
    MIN_TEST_SEQUENCES,
)
from songspace.data.features import with_global_popularity
from songspace.errors import ParameterError

logger = logging.getLogger(__name__)

Part = Literal["train", "validation", "test"]


@dataclass
class Split:
    """Sequence indices of each part, plus the cold-start tracks (maybe none)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    cold_tracks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seed: int | None = None

    def part(self, name: Part) -> np.ndarray:
        if name not in ("train", "validation", "test"):
            raise ParameterError("part", "`part in ('train', 'validation', 'test')`", name)
        return getattr(self, name)

    def train_dataset(self, dataset: Dataset) -> Dataset:
        """The training view: train sequences with every cold-start track removed."""
        return dataset.subset(self.train, drop_tracks=self.cold_tracks, name="train")

    def training_view(self, dataset: Dataset) -> Dataset:
        """What models train on under the evaluation protocol: the training view with
        the last entry of every sequence masked (kept for the in-set next-song task)."""
        return mask_last(dataset, self.train, drop_tracks=self.cold_tracks)[0]

    def heldout_dataset(self, dataset: Dataset, part: Part = "test") -> Dataset:
        """Validation or test sequences, complete (cold-start tracks included)."""
        return dataset.subset(self.part(part), name=part)


def default_test_fraction(n_sequences: int) -> float:
    """The held-out share per part for ``n_sequences``: 1%, or more so that about
    :data:`MIN_TEST_SEQUENCES` test sequences exist (at most 25%, i.e. all that can
    be held out while half the data trains). Rounded up to three decimals."""
    if n_sequences * DEFAULT_TEST_FRACTION >= MIN_TEST_SEQUENCES or n_sequences <= 0:
        return DEFAULT_TEST_FRACTION
    wanted = math.ceil(1000 * MIN_TEST_SEQUENCES / n_sequences) / 1000
    return min(max(wanted, DEFAULT_TEST_FRACTION), MAX_AUTO_TEST_FRACTION)


def resolve_test_fraction(n_sequences: int, test_fraction: float | None) -> float:
    """``test_fraction`` if given, else :func:`default_test_fraction`, saying so when the
    papers' 1% is raised."""
    if test_fraction is not None:
        return test_fraction
    f = default_test_fraction(n_sequences)
    if f != DEFAULT_TEST_FRACTION:
        logger.info(
            "held-out share %.3g per part (validation and test): %d test sequences of %d; "
            "the papers' %g would leave %d. Pass --test-fraction to choose",
            f,
            max(1, round(f * n_sequences)),
            n_sequences,
            DEFAULT_TEST_FRACTION,
            max(1, round(DEFAULT_TEST_FRACTION * n_sequences)),
        )
    return f


def split_sequences(
    dataset: Dataset,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    seed: int = 0,
    cold_start_share: float = 0.0,
) -> Split:
    """Randomly partition the sequences by ``fractions`` (train, validation, test).

    Validation and test get ``round(fraction * n)`` sequences each, at least one
    when their fraction is positive; train gets the rest. With
    ``cold_start_share > 0``, that share of the tracks occurring in training
    sequences is chosen as cold-start tracks (see :func:`cold_start_tracks`).
    """
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or any(f < 0 for f in fr) or not np.isclose(sum(fr), 1.0):
        raise ParameterError(
            "fractions",
            "three non-negative shares (train, validation, test) summing to 1",
            tuple(fractions),
        )
    n = dataset.n_sequences
    rng = check_seed(seed)
    order = rng.permutation(n)
    sizes = [0, 0]
    for k, f in enumerate(fr[1:]):
        sizes[k] = max(1, round(f * n)) if f > 0 else 0
    if n == 0:
        raise ParameterError(
            "dataset",
            "a dataset with at least one sequence",
            "no sequence",
            fix="prepare the dataset again from a non-empty source",
        )
    if sizes[0] + sizes[1] >= n:
        raise _nothing_left_to_train(fr, sizes, n)
    val = np.sort(order[: sizes[0]])
    test = np.sort(order[sizes[0] : sizes[0] + sizes[1]])
    train = np.sort(order[sizes[0] + sizes[1] :])
    split = Split(train=train, validation=val, test=test, seed=seed)
    if cold_start_share > 0:
        split.cold_tracks = cold_start_tracks(
            dataset, train, share=cold_start_share, seed=int(rng.integers(2**31))
        )
    return split


def _nothing_left_to_train(fr: list[float], sizes: list[int], n: int) -> ParameterError:
    """The error of a split that holds out every sequence, in the user's terms.

    Equal validation and test shares are the protocol's ``(1 - 2f, f, f)``, which every
    command builds from ``--test-fraction`` (``test_fraction`` in a config): the message
    names that share, says what it holds out of how many, and the largest share that
    leaves one sequence to train on. Other fractions are named as given.
    """
    n_val, n_test = sizes
    noun = "sequence" if n_test == 1 else "sequences"
    held = f"{n_val} validation and {n_test} test {noun} of the dataset's {n}, leaving 0"
    if n < 3:
        advice = "use a dataset of at least 3 sequences (one each to train, validate and test)"
    else:
        most = math.floor(1000 * ((n - 1) // 2) / n) / 1000
        advice = f"pass at most {most:g} for this dataset, or use a larger dataset"
    if fr[1] == fr[2]:
        share = fr[2]
        return ParameterError(
            "test_fraction",
            "a held-out share that leaves at least one sequence to train on",
            share,
            fix=f"--test-fraction {share:g} holds out {held} to train on; {advice}",
        )
    return ParameterError(
        "fractions",
        "validation and test shares that leave at least one sequence to train on",
        tuple(fr),
        fix=f"these fractions hold out {held} to train on; use smaller held-out fractions "
        "or a larger dataset",
    )


def cold_start_tracks(
    dataset: Dataset,
    sequences: np.ndarray | None = None,
    *,
    share: float = DEFAULT_COLD_SHARE,
    seed: int = 0,
) -> np.ndarray:
    """A random ``share`` of the tracks occurring in ``sequences`` (default: all), sorted."""
    if not 0 < share < 1:
        raise ParameterError("share", "`0 < share < 1`", share)
    if sequences is None:
        present = np.flatnonzero(dataset.play_counts())
    else:
        present = np.flatnonzero(dataset.subset(sequences).play_counts())
    k = round(share * len(present))
    rng = check_seed(seed)
    return np.sort(rng.choice(present, size=k, replace=False)) if k else np.zeros(0, np.int64)


def completion_playlists(
    dataset: Dataset, split: Split, *, part: Part = "test", min_tracks: int = DEFAULT_MIN_TRACKS
) -> np.ndarray:
    """Held-out sequences with at least ``min_tracks`` distinct tracks (MUSIG §4.1).

    Only ``validation`` or ``test`` may be asked for: completion playlists are
    never training playlists.
    """
    if part == "train":
        raise ParameterError(
            "part",
            "`part in ('validation', 'test')`",
            part,
            fix="completion playlists come from held-out sequences only",
        )
    if min_tracks < 2:
        raise ParameterError("min_tracks", "`min_tracks >= 2`", min_tracks)
    seqs = split.part(part)
    distinct = np.diff(dataset.incidence().indptr)[seqs]
    return seqs[distinct >= min_tracks]


#: Shortest sequence whose last entry the in-set protocol masks (it keeps >= 2 entries).
MIN_MASKED_LENGTH = 3


def _warn_unmasked(n_unmasked: int, n: int) -> None:
    if n_unmasked:
        logger.warning(
            "%d of %d training sequences have fewer than %d entries: their last entry is "
            "not masked (masking would leave them no context to learn from), and they give "
            "no in-set next-song query",
            n_unmasked,
            n,
            MIN_MASKED_LENGTH,
        )


def mask_last(
    dataset: Dataset,
    sequences: np.ndarray | Sequence[int],
    *,
    drop_tracks: np.ndarray | Sequence[int] | None = None,
    name: str = "train",
) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """In-set protocol: ``(train_view, queries, targets)``.

    ``train_view`` holds ``sequences`` (after removing ``drop_tracks``, e.g. the
    cold-start tracks, as :meth:`Split.train_dataset` does) with the last entry
    of each sequence of at least :data:`MIN_MASKED_LENGTH` entries removed;
    shorter sequences are kept whole (masking would leave them no context; a
    warning says how many) and sequences left empty are dropped. The vocabulary
    (tracks table) is unchanged, and the popularity feature is recomputed from the
    view. ``(queries[i], targets[i])`` is (second-to-last, last) of each masked
    sequence, except pairs with ``query == target``.
    """
    seqs = np.asarray(sequences, dtype=np.int64)
    sub = dataset.subset(seqs, drop_tracks=drop_tracks, name=name)
    lengths = sub.lengths
    last = sub.indptr[1:] - 1
    # Masking a sequence of two entries or fewer would leave it no context (a list of
    # pairs would train on nothing): such sequences are kept whole and give no query.
    masked = lengths >= MIN_MASKED_LENGTH
    _warn_unmasked(int(np.count_nonzero(~masked & (lengths > 0))), len(lengths))
    queries = sub.indices[last[masked] - 1].astype(np.int64)
    targets = sub.indices[last[masked]].astype(np.int64)
    keep_pair = queries != targets
    keep = np.ones(sub.n_entries, dtype=bool)
    keep[last[masked]] = False
    new_len = lengths - masked
    nonempty = new_len > 0
    view = Dataset(
        tracks=sub.tracks,
        indptr=np.concatenate([[0], np.cumsum(new_len[nonempty])]).astype(np.int64),
        indices=sub.indices[keep],
        sequence_ids=sub.sequence_ids[nonempty],
        sequence_names=None if sub.sequence_names is None else sub.sequence_names[nonempty],
        timestamps=None if sub.timestamps is None else sub.timestamps[keep],
        skipped=None if sub.skipped is None else sub.skipped[keep],
        features=dict(sub.features),
        source={**sub.source, "masked_last": True},
    )
    if "popularity" in dataset.features:
        view.features["popularity"] = with_global_popularity(
            dataset.features["popularity"], view.occurrences(), view.n_sequences
        )
    return view, queries[keep_pair], targets[keep_pair]
