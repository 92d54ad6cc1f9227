"""The stage-2 training queries: from the protocol's **validation** sequences only.

Two kinds of query, as the protocols score them:

- next-song: each consecutive pair ``(s[i], s[i + 1])`` of a validation sequence (the seed
  is the query track, the target the next one; pairs with ``s[i] == s[i + 1]`` left out),
  a uniform seeded sample of at most ``next_song`` pairs;
- completion: each validation sequence with at least ``min_tracks`` distinct tracks, cut
  as the completion protocol cuts it (the first ``seed_fraction`` of its distinct tracks
  are the seeds, the rest the targets), at most ``completion`` of them.

The queries are then split **by sequence** into a fitting part and an early-stopping part
(``early_stopping_share`` of the validation sequences, seeded), so no sequence gives
queries to both. Nothing here reads a training or a test sequence: the training view
feeds the generators and the features, the test split only the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.evaluation.completion import split_seed_hidden
from songspace.evaluation.next_song import next_song_pairs_heldout

__all__ = ["TrainingQueries", "training_queries"]


@dataclass
class TrainingQueries:
    """Queries for stage 2: ``seeds[i]``, ``targets[i]``, the validation sequence each
    comes from (``sequence[i]``), its kind (``"next_song"`` / ``"completion"``) and whether
    it belongs to the early-stopping part (``early_stopping[i]``)."""

    seeds: list[np.ndarray]
    targets: list[np.ndarray]
    sequence: np.ndarray
    kind: np.ndarray
    early_stopping: np.ndarray

    def __len__(self) -> int:
        return len(self.seeds)

    def summary(self) -> dict[str, int]:
        es = self.early_stopping
        return {
            "queries": len(self),
            "next_song": int(np.sum(self.kind == "next_song")),
            "completion": int(np.sum(self.kind == "completion")),
            "fitting_queries": int(np.sum(~es)),
            "early_stopping_queries": int(np.sum(es)),
            "sequences": len(np.unique(self.sequence)),
        }


def training_queries(
    dataset: Dataset,
    validation: np.ndarray,
    *,
    next_song: int | None,
    completion: int | None,
    min_tracks: int,
    seed_fraction: float,
    early_stopping_share: float,
    seed: int,
) -> TrainingQueries:
    """The stage-2 queries of the ``validation`` sequences of ``dataset`` (module
    docstring). ``next_song`` / ``completion``: the most queries of each kind (None: all;
    0: none)."""
    rng = check_seed(seed)
    validation = np.sort(np.asarray(validation, dtype=np.int64))
    seeds: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    sequence: list[int] = []
    kind: list[str] = []
    if next_song is None or next_song > 0:
        q_parts, t_parts, s_parts = [], [], []
        for s in validation.tolist():
            q, t = next_song_pairs_heldout(dataset, [s])
            q_parts.append(q)
            t_parts.append(t)
            s_parts.append(np.full(len(q), s, dtype=np.int64))
        q = np.concatenate(q_parts or [np.zeros(0, np.int64)])
        t = np.concatenate(t_parts or [np.zeros(0, np.int64)])
        s_of = np.concatenate(s_parts or [np.zeros(0, np.int64)])
        pick = np.arange(len(q))
        if next_song is not None and len(q) > next_song:
            pick = np.sort(rng.choice(len(q), size=next_song, replace=False))
        for i in pick.tolist():
            seeds.append(q[i : i + 1])
            targets.append(t[i : i + 1])
            sequence.append(int(s_of[i]))
            kind.append("next_song")
    if completion is None or completion > 0:
        distinct = np.diff(dataset.incidence().indptr)[validation]
        playlists = validation[distinct >= min_tracks]
        if completion is not None and len(playlists) > completion:
            playlists = np.sort(rng.choice(playlists, size=completion, replace=False))
        for p in playlists.tolist():
            s, h = split_seed_hidden(dataset.sequence(p), seed_fraction)
            seeds.append(s)
            targets.append(h)
            sequence.append(p)
            kind.append("completion")
    seq = np.asarray(sequence, dtype=np.int64)
    order = rng.permutation(validation)
    n_es = round(early_stopping_share * len(order))
    es_sequences = order[:n_es]
    return TrainingQueries(
        seeds,
        targets,
        seq,
        np.asarray(kind, dtype=object),
        np.isin(seq, es_sequences),
    )
