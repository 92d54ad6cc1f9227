"""Cold-start evaluation: tracks that arrive after training (MUSIG §3.2, SPEC §3).

A seeded share of the tracks occurring in training sequences is made *cold*:
removed from every training sequence, so no model sees them. After training,

- a transductive model (Track2Vec, Node2Vec, WARP) has no vector for them: they are
  unrankable (placed last) and lower its coverage;
- an inductive model embeds them with its trained aggregators once their edges are
  added back (the training sequences with the cold tracks restored, the graph has
  grown): ``model.embed(grown)``, no retraining. Its training-time vectors (cold
  tracks isolated, features only) are reported too, as ``<name> (no edges)``.

Scored on the test playlists (>= ``min_tracks``) that contain a cold track
(playlist completion, MUSIG §4.1) and on the test's consecutive pairs with a cold
query or target (out-of-set next-song, W2V §2.1), with the random and popularity
baselines. This module holds the protocol and the scoring; the runner that fits
the models and writes the report is :mod:`songspace.reports.cold_start`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songspace._checks import HELDOUT_SHARE
from songspace.data.dataset import Dataset
from songspace.data.defaults import DEFAULT_COLD_SHARE
from songspace.data.splits import mask_last
from songspace.errors import ParameterError
from songspace.evaluation.completion import playlist_completion
from songspace.evaluation.defaults import DEFAULT_COLD_TEST_FRACTION
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.next_song import next_song
from songspace.evaluation.protocol import Protocol, make_protocol
from songspace.evaluation.results import Comparison, EvaluationResult
from songspace.evaluation.suite import DEFAULT_MIN_TRACKS, DEFAULT_SUITE
from songspace.params import POSITIVE_INT, Constraint, Interval, validate_params

logger = logging.getLogger(__name__)

#: The cold-start settings' constraints: one table for the protocol, the evaluation and
#: the runner (``songspace cold-start``), which checks them before loading anything.
SETTINGS: dict[str, Constraint] = {
    "test_fraction": HELDOUT_SHARE,
    "cold_share": Interval(
        float, 0, 1, closed="neither", what="a share in (0, 1) (of the training tracks)"
    ),
    "min_tracks": Interval(int, 2, None, what="an integer >= 2 (tracks of a test playlist)"),
}
#: The fixes of :data:`SETTINGS`' errors.
FIXES = {"test_fraction": "pass e.g. test_fraction=0.1", "cold_share": "pass e.g. cold_share=0.05"}


@dataclass
class ColdStart:
    """The cold-start protocol: the split, the grown training view and the queries."""

    protocol: Protocol
    cold: np.ndarray
    grown: Dataset
    playlists: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray]

    def summary(self) -> dict[str, Any]:
        return {
            **self.protocol.summary(),
            "cold_tracks": len(self.cold),
            "cold_playlists": len(self.playlists),
            "cold_pairs": len(self.pairs[0]),
        }


@dataclass
class ColdStartReport:
    """The scored rows of a cold-start comparison and the paired tests against
    ``reference`` (a row name)."""

    setup: ColdStart
    results: list[EvaluationResult]
    tests: dict[str, dict[str, Comparison]] = field(default_factory=dict)
    training_time: dict[str, float] = field(default_factory=dict)
    reference: str = ""


@validate_params(SETTINGS, fixes=FIXES)
def cold_start_protocol(
    dataset: Dataset,
    *,
    seed: int = 0,
    test_fraction: float = DEFAULT_COLD_TEST_FRACTION,
    cold_share: float = DEFAULT_COLD_SHARE,
    min_tracks: int = DEFAULT_MIN_TRACKS,
) -> ColdStart:
    """Split with ``cold_share`` cold tracks and collect the cold queries."""
    protocol = make_protocol(
        dataset,
        seed=seed,
        fractions=(1 - 2 * test_fraction, test_fraction, test_fraction),
        cold_start_share=cold_share,
        min_tracks=min_tracks,
    )
    cold = protocol.split.cold_tracks
    is_cold = np.zeros(dataset.n_tracks, dtype=bool)
    is_cold[cold] = True
    playlists = np.array(
        [p for p in protocol.completion if is_cold[dataset.sequence(p)].any()], dtype=np.int64
    )
    q, t = protocol.out_of_set
    keep = is_cold[q] | is_cold[t]
    grown = mask_last(dataset, protocol.split.train)[0]
    setup = ColdStart(protocol, cold, grown, playlists, (q[keep], t[keep]))
    if len(playlists) == 0 and not keep.any():
        raise ParameterError(
            "cold_share",
            "a split whose test sequences contain cold tracks",
            f"cold_share={cold_share}, test_fraction={test_fraction}: none",
            fix="raise cold_share or test_fraction",
        )
    logger.info("cold start: %s", setup.summary())
    return setup


@validate_params({"k": POSITIVE_INT})
def score_cold_start(
    setup: ColdStart, emb: Embeddings, k: int = DEFAULT_SUITE.k
) -> EvaluationResult:
    """``emb`` on the cold queries: completion of the cold playlists, next-song on the
    cold pairs (``next_song_cold_*``), and the share of cold tracks embedded
    (``info["cold_coverage"]``)."""
    ds = setup.protocol.dataset
    res = EvaluationResult(emb.name, info={"coverage": emb.coverage})
    if len(setup.playlists):
        res.add(*playlist_completion(ds, emb, setup.playlists, seed=setup.protocol.seed))
    if len(setup.pairs[0]):
        res.add(*next_song(emb, *setup.pairs, k=k, prefix="next_song_cold"))
    cold_cov = float(emb.available[setup.cold].mean()) if len(setup.cold) else float("nan")
    res.info["cold_coverage"] = cold_cov
    return res
