"""Beyond accuracy: what a ranker's top-``k`` lists look like, whatever they hit (issue 30).

A re-ranker trained on HitRate drifts toward popular tracks; these numbers show whether it
does. From the top-``k`` recommendation lists of a set of queries (one list per query):

- ``coverage``: the share of the catalogue (the tracks that occur in the training view)
  recommended to at least one query (one value for the whole set; not a per-query mean);
- ``popularity``: per query, the mean ``log(1 + popularity)`` of its recommendations
  (popularity: training sequences holding the track); higher = more popular;
- ``artist_diversity``: per query, the number of distinct artists among its
  recommendations with a known artist, divided by how many those are (1: every track by
  another artist); NaN for a list without a known artist, left out of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from songspace.evaluation.results import MetricResult

__all__ = ["BEYOND_METRICS", "beyond_accuracy"]

#: The metric names, after the caller's prefix (``{prefix}_{name}``).
BEYOND_METRICS: tuple[str, ...] = ("coverage", "popularity", "artist_diversity")


def beyond_accuracy(
    lists: Sequence[np.ndarray],
    popularity: np.ndarray,
    artist: np.ndarray,
    *,
    prefix: str = "beyond",
) -> list[MetricResult]:
    """The beyond-accuracy metrics (module docstring) of ``lists`` (track indices, one
    array per query). ``popularity``: training sequences per track (catalogue: those
    above 0); ``artist``: an integer artist code per track, negative where unknown."""
    pop = np.asarray(popularity, dtype=np.float64)
    codes = np.asarray(artist, dtype=np.int64)
    catalogue = pop > 0
    seen = np.zeros(len(pop), dtype=bool)
    bias = np.full(len(lists), np.nan)
    diversity = np.full(len(lists), np.nan)
    for i, top in enumerate(lists):
        top = np.asarray(top, dtype=np.int64)
        if len(top) == 0:
            continue
        seen[top] = True
        bias[i] = float(np.log1p(pop[top]).mean())
        known = codes[top][codes[top] >= 0]
        if len(known):
            diversity[i] = len(np.unique(known)) / len(known)
    n_catalogue = int(catalogue.sum())
    coverage = float((seen & catalogue).sum() / n_catalogue) if n_catalogue else float("nan")
    info = {"n_queries": len(lists), "catalogue": n_catalogue}
    return [
        MetricResult(f"{prefix}_coverage", coverage, info=dict(info)),
        MetricResult.mean_of(f"{prefix}_popularity", bias[~np.isnan(bias)], info=dict(info)),
        MetricResult.mean_of(
            f"{prefix}_artist_diversity", diversity[~np.isnan(diversity)], info=dict(info)
        ),
    ]
