"""The order of the tracks outside stage 1: the two-stage recommender's back-off.

A protocol that ranks the whole catalogue reads the tracks stage 1 did not retrieve:
playlist completion ranks each hidden track against random catalogue tracks, the Challenge
asks for 500 recommendations. :class:`~songspace.recommender.TwoStageRanker` ranks them
below every candidate, in the order of a back-off ranker's scores, ties by training
popularity then track index (the order of :func:`~songspace.evaluation.rankers.top_k`).

Which back-off is a choice made on validation queries, never on the test split:
:func:`choose_backoff` keeps the one under which the queries' targets that stage 1 missed
rank highest among the tracks stage 1 missed (:func:`tail_auc`). On the MPD subset an
item-kNN over every seed orders that tail far better than popularity (it knows every track
that co-occurred with any seed, where stage 1 keeps each generator's top few hundred); on
data where popularity explains most of a playlist the order can be the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from songspace.progress import ProgressCallback, track

if TYPE_CHECKING:
    from songspace.evaluation.candidates import CandidateUnion
    from songspace.evaluation.rankers import Ranker
    from songspace.recommender.training import TrainingQueries

__all__ = ["backoff_scores", "choose_backoff", "tail_auc"]


def backoff_scores(ranker: Ranker | None, seeds: np.ndarray, n_tracks: int) -> np.ndarray:
    """The back-off's score per track: ``ranker.scores(seeds)`` with non-finite scores set
    to its lowest finite one; zeros for None (popularity: the tie-break does it all)."""
    if ranker is None:
        return np.zeros(n_tracks)
    b = np.asarray(ranker.scores(seeds), dtype=np.float64)
    finite = np.isfinite(b)
    if not finite.any():
        return np.zeros(n_tracks)
    return np.where(finite, b, b[finite].min())


def tail_auc(
    scores: np.ndarray, popularity: np.ndarray, outside: np.ndarray, targets: np.ndarray
) -> float | None:
    """The share of (target, other track) pairs among the tracks ``outside`` (a boolean
    mask) in which the target ranks first, by decreasing ``scores``, then decreasing
    ``popularity``, then increasing index; the expected completion HitRate of the tail
    when the negatives are uniform draws. None when ``outside`` holds no target or no
    other track."""
    idx = np.flatnonzero(outside)
    ranked = idx[np.lexsort((idx, -popularity[idx], -scores[idx]))]
    is_target = np.isin(ranked, targets)
    n_targets = int(is_target.sum())
    n_other = len(ranked) - n_targets
    if n_targets == 0 or n_other == 0:
        return None
    others_above = np.cumsum(~is_target)[is_target]
    return float(np.mean(n_other - others_above) / n_other)


def choose_backoff(
    stage1: CandidateUnion,
    rankers: Mapping[str, Ranker | None],
    queries: TrainingQueries,
    depth: int,
    popularity: np.ndarray,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """The back-off among ``rankers`` (name -> ranker, None for popularity) with the
    highest mean :func:`tail_auc` over the early-stopping ``queries`` (every query when
    there are none) whose targets stage 1 misses, at stage 1's ``depth``; ties and no
    evidence: the first. Returns ``{"chosen", "tail_auc": {name: mean}, "queries"}``."""
    names = list(rankers)
    if len(names) == 1:
        return {"chosen": names[0], "tail_auc": {}, "queries": 0}
    es = np.flatnonzero(queries.early_stopping)
    items = (es if len(es) else np.arange(len(queries))).tolist()
    n = len(popularity)
    found: dict[str, list[float]] = {name: [] for name in names}
    for i in track(items, progress, "choosing the back-off"):
        seeds = queries.seeds[i]
        cand = stage1.candidates(seeds, depth).tracks
        targets = np.setdiff1d(queries.targets[i], np.concatenate([cand, seeds]))
        if not len(targets):
            continue
        outside = np.ones(n, dtype=bool)
        outside[cand] = False
        outside[seeds] = False
        for name in names:
            auc = tail_auc(backoff_scores(rankers[name], seeds, n), popularity, outside, targets)
            if auc is not None:
                found[name].append(auc)
    means = {name: float(np.mean(v)) if v else float("nan") for name, v in found.items()}
    usable = [name for name in names if found[name]]
    chosen = max(usable, key=lambda k: means[k]) if usable else names[0]
    return {"chosen": chosen, "tail_auc": means, "queries": len(found[names[0]])}
