"""Validation and test protocols for tuning (SPEC §5; W2V §3: 98/1/1 sequence split).

Tuning scores trials on the *validation* sequences and the final report compares
configurations on the *test* sequences, so the numbers reported were never used
to choose a configuration. Both protocols share one seeded split
(:func:`songspace.data.splits.split_sequences`) and one training view (every
training sequence with its last entry masked). The in-set next-song pairs (the
masked last entries) are divided between them: a seeded half of the training
sequences gives its pair to validation, the other half to test.

With ``sample_rate < 1`` (scale study, W2V §4.7) the validation protocol trains
on a seeded share of the training sequences and its in-set pairs are those of
the sampled sequences; the validation out-of-set pairs and completion playlists
(from the validation sequences) and the whole test protocol do not change, so
configurations tuned at every rate are compared on the same test queries after
retraining on the full training view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songspace._checks import check_heldout_share
from songspace.data.dataset import Dataset
from songspace.data.splits import (
    DEFAULT_MIN_TRACKS,
    DEFAULT_TEST_FRACTION,
    completion_playlists,
    mask_last,
    split_sequences,
)
from songspace.evaluation.next_song import next_song_pairs_heldout
from songspace.evaluation.protocol import Protocol
from songspace.params import Interval, check_param


@dataclass
class TuningProtocols:
    """``validation`` scores trials; ``test`` (full training view) scores the report."""

    validation: Protocol
    test: Protocol
    sample_rate: float


#: The share of the training sequences a study tunes on.
SAMPLE_RATE = Interval(float, 0, 1, closed="right", what="`0 < sample_rate <= 1`")


def check_fractions(heldout_fraction: float, sample_rate: float) -> None:
    check_heldout_share(heldout_fraction, "heldout_fraction")
    check_param(
        "sample_rate",
        sample_rate,
        SAMPLE_RATE,
        fix="give the share of training sequences to tune on, e.g. 0.05 for 5%",
    )


def tuning_protocols(
    dataset: Dataset,
    *,
    seed: int = 0,
    heldout_fraction: float = DEFAULT_TEST_FRACTION,
    sample_rate: float = 1.0,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    replicate: int = 0,
) -> TuningProtocols:
    """Split ``dataset`` (train / validation / test = 1 - 2h, h, h) into the two protocols.

    ``replicate`` picks which seeded sample of the training sequences the validation
    protocol trains on when ``sample_rate < 1`` (0: the first); the split, the test
    protocol and the out-of-set validation queries are the same for every replicate."""
    check_fractions(heldout_fraction, sample_rate)
    h = float(heldout_fraction)
    split = split_sequences(dataset, (1.0 - 2 * h, h, h), seed=seed)
    rng = np.random.default_rng([int(seed), 0x7E57])
    train = split.train
    to_validation = rng.random(len(train)) < 0.5
    drop = split.cold_tracks
    full_view, _, _ = mask_last(dataset, train, drop_tracks=drop)
    _, q_test, t_test = mask_last(dataset, train[~to_validation], drop_tracks=drop)
    if sample_rate < 1.0:
        size = max(1, round(sample_rate * len(train)))
        keep = np.zeros(len(train), dtype=bool)
        draw = rng if replicate == 0 else np.random.default_rng([int(seed), 0x7E57, replicate])
        keep[draw.choice(len(train), size=size, replace=False)] = True
        view, _, _ = mask_last(dataset, train[keep], drop_tracks=drop)
    else:
        keep = np.ones(len(train), dtype=bool)
        view = full_view
    _, q_val, t_val = mask_last(dataset, train[keep & to_validation], drop_tracks=drop)
    settings = {
        "fractions": [1.0 - 2 * h, h, h],
        "cold_start_share": 0.0,
        "min_tracks": min_tracks,
        "in_set": "half of the training sequences (the other half: the other protocol)",
    }
    test = Protocol(
        dataset=dataset,
        split=split,
        train=full_view,
        in_set=(q_test, t_test),
        out_of_set=next_song_pairs_heldout(dataset, split.test),
        completion=completion_playlists(dataset, split, part="test", min_tracks=min_tracks),
        seed=seed,
        settings={**settings, "part": "test", "sample_rate": 1.0},
    )
    validation = Protocol(
        dataset=dataset,
        split=split,
        train=view,
        in_set=(q_val, t_val),
        out_of_set=next_song_pairs_heldout(dataset, split.validation),
        completion=completion_playlists(dataset, split, part="validation", min_tracks=min_tracks),
        seed=seed,
        settings={**settings, "part": "validation", "sample_rate": float(sample_rate)},
    )
    return TuningProtocols(validation=validation, test=test, sample_rate=float(sample_rate))
