"""The evaluation protocol: one seeded split shared by every model compared (SPEC §1, §4).

A :class:`Protocol` fixes, for a dataset and a seed, the training view models
are trained on (train sequences, cold-start tracks removed, the last entry of
every training sequence masked for the in-set next-song task), the in-set and
out-of-set next-song pairs, and the playlist-completion test playlists. Two
embeddings evaluated under the same protocol are scored on the same queries, so
their per-query values can be compared with paired tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from songspace.data.dataset import Dataset
from songspace.data.splits import (
    DEFAULT_FRACTIONS,
    DEFAULT_MIN_TRACKS,
    Split,
    completion_playlists,
    mask_last,
    split_sequences,
)
from songspace.evaluation.next_song import next_song_pairs_heldout


@dataclass
class Protocol:
    """Everything an evaluation needs that does not depend on the embeddings."""

    dataset: Dataset
    split: Split
    train: Dataset
    in_set: tuple[np.ndarray, np.ndarray]
    out_of_set: tuple[np.ndarray, np.ndarray]
    completion: np.ndarray
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def hard_negatives(self, min_count: int, threshold: float | None) -> sp.csr_matrix:
        """Hard negatives from the training view's adjacent pairs (cached)."""
        from songspace.evaluation.hardneg import hard_negatives

        key = f"hardneg:{min_count}:{threshold}"
        if key not in self._cache:
            self._cache[key] = hard_negatives(self.train, min_count=min_count, threshold=threshold)
        return self._cache[key]

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            **self.settings,
            "train_sequences": self.train.n_sequences,
            "in_set_pairs": len(self.in_set[0]),
            "out_of_set_pairs": len(self.out_of_set[0]),
            "completion_playlists": len(self.completion),
            "cold_start_tracks": len(self.split.cold_tracks),
        }


def make_protocol(
    dataset: Dataset,
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    cold_start_share: float = 0.0,
    min_tracks: int = DEFAULT_MIN_TRACKS,
) -> Protocol:
    """Split ``dataset`` by ``seed`` and derive the training view and the query sets."""
    split = split_sequences(dataset, fractions, seed=seed, cold_start_share=cold_start_share)
    train, q_in, t_in = mask_last(dataset, split.train, drop_tracks=split.cold_tracks)
    q_out, t_out = next_song_pairs_heldout(dataset, split.test)
    return Protocol(
        dataset=dataset,
        split=split,
        train=train,
        in_set=(q_in, t_in),
        out_of_set=(q_out, t_out),
        completion=completion_playlists(dataset, split, part="test", min_tracks=min_tracks),
        seed=seed,
        settings={
            "fractions": [float(f) for f in fractions],
            "cold_start_share": cold_start_share,
            "min_tracks": min_tracks,
        },
    )
