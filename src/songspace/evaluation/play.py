"""Play prediction: does cosine(seed, next) predict that the next track is played? (W2V §4.6)

The paper correlates, over *song pairs*, the Play Rate ("the average number of
times one organic play is followed by a successful algorithmic play") with the
cosine similarity of the two songs (Table 5: 4.2M song pairs; "frequent pairs"
are those with >= 100 occurrences). songspace follows that by default
(``aggregate="pair"``): every consecutive (seed, next) entry pair within a
sequence is an occurrence; occurrences are grouped by distinct ordered pair
(seed, next); each pair's play rate is the share of its occurrences whose next
entry was played (not skipped, i.e. >= 30 s in MSSD); the metric is the Pearson
correlation, over distinct pairs, between cosine and play rate (unweighted).
``aggregate="occurrence"`` correlates cosine with the 0/1 outcome of every
occurrence instead.

Our logs do not flag organic vs. algorithmic plays, so every consecutive pair
counts; a track followed by itself (a repeat) is left out. Pairs where either
track has no embedding are left out (coverage in ``info``). The correlation is
not a mean over queries, so ``per_query`` is empty. The popularity baseline has
no cosine: NaN.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import numpy as np

from songspace.data.dataset import Dataset
from songspace.errors import InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.results import MetricResult
from songspace.params import POSITIVE_INT, check_param

if TYPE_CHECKING:
    from songspace.evaluation.families import FamilyInput
    from songspace.evaluation.protocol import Protocol

logger = logging.getLogger(__name__)

#: W2V §4.6: "most frequent pairs (>= 100 occurrences)".
DEFAULT_MIN_PAIR_COUNT = 100
#: Metric names the play family produces (W2V §4.6).
METRICS: tuple[str, ...] = ("play_corr", "play_corr_frequent")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc**2).sum() * (yc**2).sum())
    return float((xc * yc).sum() / denom) if denom > 0 else float("nan")


def play_prediction(
    emb: Embeddings,
    dataset: Dataset,
    *,
    min_pair_count: int = DEFAULT_MIN_PAIR_COUNT,
    aggregate: Literal["pair", "occurrence"] = "pair",
) -> list[MetricResult]:
    """``[play_corr, play_corr_frequent]``: Pearson correlation of cosine and play (rate).

    ``play_corr_frequent`` keeps only distinct pairs seen at least
    ``min_pair_count`` times. NaN (with a warning) where fewer than two values or
    no variance.
    """
    if dataset.skipped is None:
        raise InvalidValueError(
            "expected play/skip outcomes per entry (the `skipped` column), found none",
            record="play prediction",
            field="skipped",
            fix="use a session log with skip information (e.g. an MSSD log) or "
            "songspace.data.synthetic.generate(skips=True)",
        )
    min_pair_count = check_param("min_pair_count", min_pair_count, POSITIVE_INT)
    if aggregate not in ("pair", "occurrence"):
        raise ParameterError("aggregate", "`aggregate in ('pair', 'occurrence')`", aggregate)
    if emb.n_tracks != dataset.n_tracks:
        raise InvalidValueError(
            f"expected embeddings for {dataset.n_tracks} tracks, found {emb.n_tracks}",
            record="play prediction",
            fix="evaluate the embeddings on the dataset they belong to",
        )
    idx = np.asarray(dataset.indices, dtype=np.int64)
    skipped = np.asarray(dataset.skipped, dtype=bool)
    n = len(idx)
    valid = np.ones(max(n - 1, 0), dtype=bool)
    starts = dataset.indptr[1:-1]
    starts = starts[(starts >= 1) & (starts <= n - 1)]
    valid[starts - 1] = False  # no pair across a sequence boundary
    seed, nxt = idx[:-1], idx[1:]
    played = ~skipped[1:]
    valid &= seed != nxt
    n_occ = int(valid.sum())
    valid &= emb.available[seed] & emb.available[nxt]
    seed, nxt, played = seed[valid], nxt[valid], played[valid].astype(np.float64)
    info: dict = {
        "aggregate": aggregate,
        "n_occurrences": len(seed),
        "coverage": float(len(seed) / n_occ) if n_occ else float("nan"),
        "min_pair_count": int(min_pair_count),
    }
    names = METRICS
    if not emb.has_vectors or emb.dim == 0:
        info["reason"] = f"{emb.name} has no vectors, hence no cosine similarity"
        return [MetricResult(nm, float("nan"), np.zeros(0), True, dict(info)) for nm in names]
    key = seed * dataset.n_tracks + nxt
    uniq, inv, count = np.unique(key, return_inverse=True, return_counts=True)
    rate = np.bincount(inv, weights=played, minlength=len(uniq)) / np.maximum(count, 1)
    us, un = uniq // dataset.n_tracks, uniq % dataset.n_tracks
    cos_pair = np.einsum(
        "ij,ij->i", emb.vectors[us].astype(np.float64), emb.vectors[un].astype(np.float64)
    )
    frequent = count >= min_pair_count
    results = []
    for nm, mask in ((names[0], np.ones(len(uniq), bool)), (names[1], frequent)):
        if aggregate == "pair":
            x, y = cos_pair[mask], rate[mask]
        else:
            occ = mask[inv]
            x, y = cos_pair[inv][occ], played[occ]
        value = _pearson(x, y)
        if np.isnan(value):
            logger.warning("%s: undefined (NaN) on %d values (too few, or no variance)", nm, len(x))
        res_info = dict(info, n_pairs=int(mask.sum()), n_values=len(x))
        results.append(MetricResult(nm, value, np.zeros(0), True, res_info))
    return results


__all__ = ["DEFAULT_MIN_PAIR_COUNT", "play_prediction"]


# ------------------------------------------------------------ the metric family
#: Default report-table columns (W2V §4.6).
COLUMNS: tuple[str, ...] = METRICS


def unsupported(protocol: Protocol) -> str | None:
    """Why the protocol cannot support play prediction (None: it can)."""
    if protocol.dataset.skipped is None:
        return "no play/skip outcomes in this dataset"
    return None


def compute(run: FamilyInput) -> list[MetricResult] | None:
    """The ``play`` family of :func:`songspace.evaluation.suite.evaluate` (None for an
    embedding without vectors)."""
    emb = run.emb
    if not emb.has_vectors:
        logger.info("play prediction does not apply to %s (no vectors)", emb.name)
        return None
    return play_prediction(
        emb, run.protocol.dataset, min_pair_count=run.settings.play_min_pair_count
    )
